"""Static API keys at `berth serve` (--api-key, BERTH_API_KEY, --api-keys-file), alone and next to a
key store; and the start-up refusals of a bad configuration."""
import subprocess

import openai
import pytest

from auth_harness import (ALICE, BERTH, CHAT, MARKER, assert_envelope, bearer, http, server_env,
                          write_key_store)

KEY1 = f"sk-{MARKER}-one"
KEY2 = f"sk-{MARKER}-two"


def test_api_key_option(start_server):
    s = start_server("--api-key", KEY1, "--api-key", KEY2)
    for key in (KEY1, KEY2):
        r = http.post(s.v1 + "/chat/completions", json=CHAT, headers=bearer(key))
        assert r.status_code == 200, r.text
    for bad in ({}, bearer(KEY1 + "x"), bearer(KEY1[:-1]), bearer("sk-unknown"), {"Authorization": KEY1},
                bearer(ALICE.token())):
        assert_envelope(http.post(s.v1 + "/chat/completions", json=CHAT, headers=bad), 401)
    assert http.get(s.base + "/ping").status_code == 200
    assert_envelope(http.get(s.base + "/metrics"), 401)
    client = openai.OpenAI(base_url=s.v1, api_key=KEY2)
    assert client.chat.completions.create(**CHAT).choices[0].finish_reason == "length"
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=s.v1, api_key="sk-wrong", max_retries=0).models.list()


def test_api_key_environment_and_file(start_server, tmp_path):
    keys = tmp_path / "keys.txt"
    keys.write_text(f"# team keys\n\n  {KEY2}  \n")
    s = start_server("--api-keys-file", keys, env=server_env(BERTH_API_KEY=KEY1))
    for key in (KEY1, KEY2):
        assert http.get(s.v1 + "/models", headers=bearer(key)).status_code == 200
    assert_envelope(http.get(s.v1 + "/models", headers=bearer("# team keys")), 401)


def test_api_keys_next_to_a_key_store(start_server, tmp_path):
    store = tmp_path / "store.json"
    write_key_store(store, [ALICE])
    s = start_server("--auth-key-store", store, "--api-key", KEY1, env=server_env(AWS_REGION="us-west-2"))
    assert http.get(s.v1 + "/models", headers=bearer(KEY1)).status_code == 200
    assert http.get(s.v1 + "/models", headers=bearer(ALICE.token(region="us-west-2"))).status_code == 200
    # AWS_REGION was the only region configured
    assert_envelope(http.get(s.v1 + "/models", headers=bearer(ALICE.token(region="us-east-1"))), 401)


def refuse(tmp_path, *args, env=None):
    p = subprocess.run([str(BERTH), "serve", "--model", str(tmp_path), "--port", "0", *map(str, args)],
                       capture_output=True, text=True, timeout=30, env=env or server_env())
    assert p.returncode != 0
    assert "listening" not in p.stderr
    assert MARKER not in p.stderr
    return p.stderr


def test_bad_key_store_refuses_to_start(tmp_path):
    store = tmp_path / "store.json"
    store.write_text('{"identities": [{"access_key_id": "AKIAX", "secret_access_key": "s-%s", '
                     '"principal_arn": "arn:aws:iam::111122223333:user/x", '
                     '"policy": {"Statement": {"Effect": "Maybe", "Action": "*", "Resource": "*"}}}]}'
                     % MARKER)
    err = refuse(tmp_path, "--auth-key-store", store, "--auth-region", "us-east-1")
    assert f"{store}: identities[0].policy.Statement[0].Effect" in err
    err = refuse(tmp_path, "--auth-key-store", tmp_path / "missing.json", "--auth-region", "us-east-1")
    assert "missing.json" in err


def test_key_store_needs_a_region(tmp_path):
    store = tmp_path / "store.json"
    write_key_store(store, [ALICE])
    assert "--auth-region" in refuse(tmp_path, "--auth-key-store", store)


def test_missing_keys_file_refuses_to_start(tmp_path):
    assert "nokeys.txt" in refuse(tmp_path, "--api-keys-file", tmp_path / "nokeys.txt")


def test_help_documents_every_auth_option():
    out = subprocess.run([str(BERTH), "serve", "--help"], capture_output=True, text=True, timeout=30).stdout
    for flag in ("--auth-key-store", "BERTH_AUTH_KEY_STORE", "--auth-region", "AWS_REGION",
                 "--auth-accept-bedrock", "--auth-clock-skew", "--api-key", "BERTH_API_KEY",
                 "--api-keys-file", "BERTH_API_KEYS_FILE", "SIGHUP"):
        assert flag in out
