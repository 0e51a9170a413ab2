"""--auth-token-host: tokens signed for another host (berth-token --endpoint-url) are accepted by a
server told that host, and only by it; the flag's bad values are clear startup errors."""
import subprocess

from auth_harness import ALICE, BERTH, CHAT, BerthServer, bearer, http, server_env, write_key_store

HOST = "llm.internal.example:8443"


def chat(server, token):
    return http.post(server.v1 + "/chat/completions", json=CHAT, headers=bearer(token))


def test_token_for_the_configured_host(demo_model, tmp_path):
    keys = tmp_path / "keys.json"
    write_key_store(keys, [ALICE])
    s = BerthServer(demo_model, "--auth-key-store", keys, "--auth-region", "us-east-1",
                    "--auth-token-host", HOST)
    try:
        r = chat(s, ALICE.token(host=HOST))
        assert r.status_code == 200, r.text
        # a token for the SageMaker host, or for a third host, is not one for this server
        for other in (None, "other.example"):
            r = chat(s, ALICE.token(host=other))
            assert r.status_code == 401, r.text
            assert r.json()["error"]["type"] == "authentication_error"
    finally:
        s.stop()


def test_default_host_refuses_a_token_for_another_host(demo_model, tmp_path):
    keys = tmp_path / "keys.json"
    write_key_store(keys, [ALICE])
    s = BerthServer(demo_model, "--auth-key-store", keys, "--auth-region", "us-east-1")
    try:
        assert chat(s, ALICE.token(host=HOST)).status_code == 401
        assert chat(s, ALICE.token()).status_code == 200
    finally:
        s.stop()


def test_bad_values_are_startup_errors(demo_model, tmp_path):
    keys = tmp_path / "keys.json"
    write_key_store(keys, [ALICE])
    cases = [
        (["--auth-key-store", keys, "--auth-region", "us-east-1", "--auth-token-host",
          "https://llm.example/"], "no scheme or path"),
        (["--auth-token-host", "llm.example"], "give --auth-key-store too"),
    ]
    for args, message in cases:
        p = subprocess.run([str(BERTH), "serve", "--model", str(demo_model), "--port", "0",
                            *map(str, args)], capture_output=True, text=True, timeout=60,
                           env=server_env())
        assert p.returncode != 0
        assert "--auth-token-host" in p.stderr and message in p.stderr, p.stderr
