"""`berth serve` over HTTPS: the default profile (TLS 1.2/1.3, ECDHE + AEAD) is logged at start and
enforced (TLS 1.0/1.1 and static-RSA or CBC suites refused), a request with a key is served, and
SIGHUP swaps in a rotated certificate while a stream in flight finishes on its connection."""
import os
import shutil
import ssl
import sys
import threading
import time

import httpx

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "http"))
from test_tls import GOOD, OLD_OR_WEAK, der_of, handshake, make_ca_and_cert, served_cert  # noqa: E402

from auth_harness import CHAT, bearer  # noqa: E402


def test_https_profile_and_certificate_rotation(start_server, tmp_path):
    ca, cert, key = make_ca_and_cert(str(tmp_path))
    s = start_server("--api-key", "sk-tls", "--tls-cert", cert, "--tls-key", key)
    assert s.scheme == "https"
    assert "TLS priorities SECURE128:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2" in s.text()
    for name, opts in OLD_OR_WEAK.items():
        assert handshake(s.port, *opts) is None, f"{name} was accepted"
    for name, opts in GOOD.items():
        assert handshake(s.port, *opts), f"{name} was refused"
    verify = ssl.create_default_context(cafile=ca)
    with httpx.Client(verify=verify, timeout=120) as c:
        assert c.post(s.v1 + "/chat/completions", json=CHAT, headers=bearer("sk-tls")).status_code == 200
        assert c.post(s.v1 + "/chat/completions", json=CHAT).status_code == 401

    # A stream runs across the rotation on its own connection and must finish.
    done = []

    def stream():
        with httpx.Client(verify=verify, timeout=120) as c, \
                c.stream("POST", s.v1 + "/chat/completions", headers=bearer("sk-tls"),
                         json={**CHAT, "max_tokens": 48, "stream": True}) as r:
            done.append((r.status_code, r.read().decode().rstrip().endswith("data: [DONE]")))

    t = threading.Thread(target=stream)
    t.start()
    newdir = tmp_path / "new"
    newdir.mkdir()
    _, new_cert, new_key = make_ca_and_cert(str(newdir))
    shutil.copy(new_cert, cert)
    shutil.copy(new_key, key)
    line = s.sighup_and_wait("TLS certificate")
    assert "reloaded" in line and "not reloaded" not in line, line
    end = time.time() + 10
    while served_cert(s.port) != der_of(new_cert):
        assert time.time() < end, "the rotated certificate was not served after SIGHUP"
        time.sleep(0.1)
    t.join(120)
    assert done == [(200, True)]
    # A broken key on the next SIGHUP: logged, and the current pair stays in force.
    with open(key, "w") as f:
        f.write("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    line = s.sighup_and_wait("TLS certificate")
    assert "not reloaded" in line
    assert served_cert(s.port) == der_of(new_cert)
