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
