"""HTTPS: a CA and a server certificate made here with openssl; the OpenAI SDK (sync, streaming)
trusts the CA; a client without the CA is refused; a bad certificate path stops startup."""
import os
import shutil
import ssl
import subprocess

import httpx
import openai
import pytest

from http_fake_server import BINARY


def make_ca_and_cert(d):
    openssl = shutil.which("openssl")
    if not openssl:
        pytest.fail("openssl is needed for the TLS tests (tools/setup.sh installs it)")

    def run(*args):
        subprocess.run([openssl, *args], check=True, capture_output=True, cwd=d)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
        "-days", "2", "-subj", "/CN=berth test CA")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
        "-subj", "/CN=localhost")
    with open(os.path.join(d, "ext.cnf"), "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "server.pem", "-days", "2", "-extfile", "ext.cnf")
    return [os.path.join(d, n) for n in ("ca.pem", "server.pem", "server.key")]


@pytest.fixture
def tls_server(start_server, tmp_path):
    ca, cert, key = make_ca_and_cert(str(tmp_path))
    s = start_server("--tls-cert", cert, "--tls-key", key, "--endpoint", "ep", scheme="https")
    return s, ca


def test_sdk_over_https_with_test_ca(tls_server):
    s, ca = tls_server
    c = openai.OpenAI(base_url=s.base + "/endpoints/ep/openai/v1", api_key="unused", max_retries=0,
                      http_client=httpx.Client(verify=ssl.create_default_context(cafile=ca)))
    r = c.chat.completions.create(model="", messages=[{"role": "user", "content": "secure hello"}])
    assert r.choices[0].message.content == "secure hello"
    chunks = list(c.chat.completions.create(model="", messages=[{"role": "user", "content": "a b"}],
                                            stream=True, stream_options={"include_usage": True}))
    assert "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices) == "a b"
    assert chunks[-1].usage.completion_tokens == 2


def test_untrusted_client_is_refused(tls_server):
    s, _ = tls_server
    with pytest.raises(httpx.ConnectError):
        httpx.get(s.base + "/ping")  # system CAs do not know the test CA


def test_plain_http_to_tls_port_gets_no_answer(tls_server):
    s, ca = tls_server
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{s.port}/ping", timeout=3)
    assert httpx.get(s.base + "/ping", verify=ssl.create_default_context(cafile=ca)).status_code == 200


def test_missing_key_file_fails_startup(tmp_path):
    if not os.path.exists(BINARY):
        pytest.fail(f"{BINARY} is missing")
    p = subprocess.run([BINARY, "--tls-cert", str(tmp_path / "no.pem"), "--tls-key", str(tmp_path / "no.key")],
                       capture_output=True, text=True, timeout=10)
    assert p.returncode == 1
    assert "no.pem" in p.stderr


def handshake(port, *opts):
    """The cipher openssl s_client agreed on, or None when the server refused the handshake."""
    r = subprocess.run([shutil.which("openssl"), "s_client", "-connect", f"127.0.0.1:{port}", *opts],
                       input=b"", capture_output=True, timeout=20)
    out = r.stdout.decode(errors="replace")
    for line in out.splitlines():
        if "Cipher is " in line:
            cipher = line.split("Cipher is ", 1)[1].strip()
            return None if cipher == "(NONE)" else cipher
    return None


OLD_OR_WEAK = {
    "TLS 1.0": ["-tls1", "-cipher", "DEFAULT@SECLEVEL=0"],
    "TLS 1.1": ["-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"],
    "static RSA (no forward secrecy)": ["-tls1_2", "-cipher", "AES128-SHA"],
    "static RSA with GCM": ["-tls1_2", "-cipher", "AES128-GCM-SHA256"],
    "ECDHE with CBC": ["-tls1_2", "-cipher", "ECDHE-RSA-AES128-SHA"],
    "ECDHE with CBC and SHA-384": ["-tls1_2", "-cipher", "ECDHE-RSA-AES256-SHA384"],
}
GOOD = {
    "TLS 1.3": ["-tls1_3"],
    "TLS 1.2 ECDHE AES-128-GCM": ["-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256"],
    "TLS 1.2 ECDHE AES-256-GCM": ["-tls1_2", "-cipher", "ECDHE-RSA-AES256-GCM-SHA384"],
    "TLS 1.2 ECDHE ChaCha20": ["-tls1_2", "-cipher", "ECDHE-RSA-CHACHA20-POLY1305"],
}


def test_default_profile_refuses_old_versions_and_suites_without_forward_secrecy(tls_server):
    s, _ = tls_server
    for name, opts in OLD_OR_WEAK.items():
        assert handshake(s.port, *opts) is None, f"{name} was accepted"
    for name, opts in GOOD.items():
        assert handshake(s.port, *opts), f"{name} was refused"


def test_tls_priorities_option_is_used(start_server, tmp_path):
    # The same client options succeed when the operator asks for GnuTLS's permissive NORMAL: the
    # refusals above are the server's profile, not the client's own limits.
    _, cert, key = make_ca_and_cert(str(tmp_path))
    s = start_server("--tls-cert", cert, "--tls-key", key, "--tls-priorities", "NORMAL:+VERS-TLS1.0:+VERS-TLS1.1:+RSA",
                     scheme="https")
    assert handshake(s.port, *OLD_OR_WEAK["TLS 1.0"]) is not None
    assert handshake(s.port, *OLD_OR_WEAK["static RSA (no forward secrecy)"]) == "AES128-SHA"


def test_bad_tls_priorities_stop_startup(tmp_path):
    _, cert, key = make_ca_and_cert(str(tmp_path))
    r = subprocess.run([BINARY, "--tls-cert", cert, "--tls-key", key, "--tls-priorities", "SECURE128:+NOPE"],
                       capture_output=True, text=True, timeout=20)
    assert r.returncode != 0 and "priority" in r.stderr and "NOPE" in r.stderr, r.stderr


def served_cert(port):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    import socket
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as t:
            return t.getpeercert(binary_form=True)


def der_of(pem_path):
    with open(pem_path) as f:
        return ssl.PEM_cert_to_DER_cert(f.read())


def test_sighup_rotates_the_certificate_without_dropping_connections(tls_server, tmp_path):
    s, ca = tls_server
    cert = os.path.join(str(tmp_path), "server.pem")
    key = os.path.join(str(tmp_path), "server.key")
    old = der_of(cert)
    assert served_cert(s.port) == old
    client = httpx.Client(verify=ssl.create_default_context(cafile=ca))
    assert client.get(s.base + "/ping").status_code == 200  # a kept-alive connection, open across the reload
    newdir = tmp_path / "new"
    newdir.mkdir()
    _, new_cert, new_key = make_ca_and_cert(str(newdir))
    shutil.copy(new_cert, cert)
    shutil.copy(new_key, key)
    import signal
    import time
    s.proc.send_signal(signal.SIGHUP)
    end = time.time() + 10
    while served_cert(s.port) != der_of(new_cert):
        assert time.time() < end, "the new certificate was not served after SIGHUP"
        time.sleep(0.1)
    # The client opened before the rotation (its pooled connection) still answers.
    assert client.get(s.base + "/ping").status_code == 200
    assert client.get(s.base + "/ping").status_code == 200
    client.close()
    # A broken pair on the next SIGHUP keeps the current one in force.
    with open(key, "w") as f:
        f.write("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    s.proc.send_signal(signal.SIGHUP)
    time.sleep(0.5)
    assert served_cert(s.port) == der_of(new_cert)
