"""SIGHUP reloads the key store of a running `berth serve`: revoked identities stop working, new ones
start, requests in flight finish, and a broken file keeps the old store while the server keeps
serving. Also: no token or secret ever reaches the server's log."""
import threading

import httpx

from auth_harness import (ALICE, BOB, CALL, CHAT, DAVE, MARKER, TEMP, Identity, allow, assert_envelope,
                          bearer, endpoint_arn, http, write_key_store)

PROD = "/endpoints/prod/openai/v1/chat/completions"


def test_sighup_reload(start_server, tmp_path):
    store = tmp_path / "store.json"
    write_key_store(store, [ALICE, BOB])
    s = start_server("--auth-key-store", store, "--auth-region", "us-east-1")
    alice, bob, dave = ALICE.token(), BOB.token(), DAVE.token()
    assert http.post(s.v1 + "/chat/completions", json=CHAT, headers=bearer(alice)).status_code == 200
    assert_envelope(http.post(s.v1 + "/chat/completions", json=CHAT, headers=bearer(dave)), 401)

    # bob streams requests through every reload below; none may fail or be cut short
    results, stop = [], threading.Event()

    def traffic():
        with httpx.Client(timeout=120) as c:
            while not stop.is_set():
                with c.stream("POST", s.base + PROD, json={**CHAT, "max_tokens": 8, "stream": True},
                              headers=bearer(bob)) as r:
                    results.append((r.status_code, r.read().decode().rstrip().endswith("data: [DONE]")))

    t = threading.Thread(target=traffic)
    t.start()
    try:
        # revoke alice, add dave, while one of alice's streams is half way: it finishes
        with httpx.Client(timeout=120) as c, \
                c.stream("POST", s.v1 + "/chat/completions", headers=bearer(alice),
                         json={**CHAT, "max_tokens": 64, "stream": True}) as inflight:
            assert inflight.status_code == 200
            lines = inflight.iter_lines()
            assert next(line for line in lines if line.startswith("data: "))
            write_key_store(store, [BOB, DAVE])
            s.sighup_and_wait("key store %s reloaded" % store)
            assert [line for line in lines if line.startswith("data: ")][-1] == "data: [DONE]"
        assert_envelope(http.post(s.v1 + "/chat/completions", json=CHAT, headers=bearer(alice)), 401)
        assert http.post(s.v1 + "/chat/completions", json=CHAT, headers=bearer(dave)).status_code == 200

        # take dave's permission away: the same token is now a 403
        dave_no_invoke = Identity("dave", [CALL, allow("sagemaker:InvokeEndpoint", endpoint_arn("other"))])
        write_key_store(store, [BOB, dave_no_invoke])
        s.sighup_and_wait("key store %s reloaded" % store)
        assert_envelope(http.post(s.v1 + "/chat/completions", json=CHAT, headers=bearer(dave)), 403)

        # a broken file: the old store stays, the server keeps serving
        write_key_store(store, [BOB, DAVE])
        s.sighup_and_wait("key store %s reloaded" % store)
        store.write_text('{"identities": [{"access_key_id": "AKIANEW", ')
        line = s.sighup_and_wait("key store not reloaded, the previous one stays in force")
        assert str(store) in line
        assert http.post(s.v1 + "/chat/completions", json=CHAT, headers=bearer(dave)).status_code == 200
        assert_envelope(http.post(s.v1 + "/chat/completions", json=CHAT, headers=bearer(alice)), 401)
        assert http.get(s.base + "/health").status_code == 200
        store.unlink()
        s.sighup_and_wait("key store not reloaded, the previous one stays in force")
        assert http.post(s.base + PROD, json=CHAT, headers=bearer(dave)).status_code == 200
    finally:
        stop.set()
        t.join(120)
    assert results and all(r == (200, True) for r in results), results


def test_sighup_without_key_store_is_logged_and_harmless(start_server):
    s = start_server("--api-key", "sk-static")
    s.sighup_and_wait("no --auth-key-store to reload")
    assert http.get(s.v1 + "/models", headers=bearer("sk-static")).status_code == 200


def test_no_token_or_secret_in_the_log(start_server, tmp_path):
    store = tmp_path / "store.json"
    write_key_store(store, [ALICE, TEMP])
    api_key = f"sk-{MARKER}-static"
    s = start_server("--auth-key-store", store, "--auth-region", "us-east-1", "--api-key", api_key)
    sent = [ALICE.token(), TEMP.token(), TEMP.token(session="wrong"), ALICE.token(region="eu-west-1"),
            DAVE.token(), ALICE.token()[:-8], api_key, api_key + "x", f"sk-{MARKER}-unknown"]
    for cred in sent:
        http.post(s.v1 + "/chat/completions", json=CHAT, headers=bearer(cred))
        http.post(s.base + "/endpoints/secret/openai/v1/chat/completions", json=CHAT, headers=bearer(cred))
    # a reload that fails on a file full of secrets
    store.write_text('{"identities": [{"access_key_id": "AKIAX", "secret_access_key": "s-%s", '
                     '"session_token": "t-%s", "principal_arn": "arn:aws:iam::1:user/x"}]}' % (MARKER, MARKER))
    s.sighup_and_wait("key store not reloaded")
    s.stop()
    log = s.text()
    assert "authentication on" in log
    assert MARKER not in log
    assert "api-key-" not in log
    for cred in sent:
        assert cred not in log
    for ident in (ALICE, TEMP):
        assert ident.secret not in log
