"""SageMaker bearer tokens at `berth serve`: SDK-made tokens are accepted on the plain /v1 paths and on
both SageMaker endpoint paths; every way a token can be wrong is a 401 and every missing permission a
403, both in the OpenAI envelope; /ping and /health need nothing, every other route needs a token."""
import datetime

import pytest

from auth_harness import (ALICE, BOB, CAROL, CHAT, DAVE, TEMP, BerthServer, assert_envelope, bearer,
                          decode, encode, http, utcnow, write_key_store)

PATHS = {
    "v1": "/v1/chat/completions",
    "endpoint": "/endpoints/{e}/openai/v1/chat/completions",
    "component": "/endpoints/{e}/inference-components/comp-1/openai/v1/chat/completions",
}


@pytest.fixture(scope="module")
def server(demo_model, tmp_path_factory):
    keys = tmp_path_factory.mktemp("keys") / "keys.json"
    write_key_store(keys, [ALICE, BOB, CAROL, TEMP])
    s = BerthServer(demo_model, "--auth-key-store", keys, "--auth-region", "us-east-1",
                    "--auth-region", "us-west-2")
    yield s
    s.stop()


def chat(server, path, headers):
    return http.post(server.base + path, json=CHAT, headers=headers)


@pytest.mark.parametrize("where", ["v1", "endpoint", "component"])
@pytest.mark.parametrize("who", ["alice", "temp"])
def test_sdk_token_is_accepted(server, where, who):
    ident = {"alice": ALICE, "temp": TEMP}[who]
    r = chat(server, PATHS[where].format(e="prod"), bearer(ident.token()))
    assert r.status_code == 200, r.text
    assert r.json()["object"] == "chat.completion"


def test_token_for_the_second_region_and_max_expiry_is_accepted(server):
    r = chat(server, PATHS["v1"], bearer(ALICE.token(region="us-west-2", expires=43200)))
    assert r.status_code == 200, r.text


def test_streaming_with_token(server):
    with http.stream("POST", server.v1 + "/chat/completions", json={**CHAT, "stream": True},
                     headers=bearer(ALICE.token())) as r:
        assert r.status_code == 200
        body = r.read().decode()
    assert body.rstrip().endswith("data: [DONE]")


def tampered_signature(token):
    url = decode(token)
    i = url.index("X-Amz-Signature=") + len("X-Amz-Signature=")
    return encode(url[:i] + ("0" if url[i] != "0" else "1") + url[i + 1:])


def tampered_expiry(token):
    """A longer life claimed for a signed token: the signature no longer matches."""
    return encode(decode(token).replace("X-Amz-Expires=60", "X-Amz-Expires=43200"))


def bad_headers():
    good = ALICE.token(expires=60)
    past = utcnow() - datetime.timedelta(hours=2)
    future = utcnow() + datetime.timedelta(hours=1)
    return {
        "missing": {},
        "empty bearer": {"Authorization": "Bearer"},
        "basic scheme": {"Authorization": "Basic YWxpY2U6cGFzcw=="},
        "token without Bearer": {"Authorization": good},
        "bad base64": bearer("sagemaker-api-key-!!!not-base64!!!"),
        "truncated": bearer(good[:-20]),
        "tampered signature": bearer(tampered_signature(good)),
        "tampered expiry": bearer(tampered_expiry(good)),
        "expired": bearer(ALICE.token(now=past, expires=3600)),
        "future dated": bearer(ALICE.token(now=future)),
        "wrong region": bearer(ALICE.token(region="eu-west-1")),
        "wrong service": bearer(ALICE.token(service="bedrock")),
        "unknown key": bearer(DAVE.token()),
        "wrong secret": bearer(encode(decode(BOB.token()).replace(BOB.akid, ALICE.akid))),
        "session token missing": bearer(TEMP.token(session=None)),
        "session token wrong": bearer(TEMP.token(session="another-session-token")),
        "plain api key": bearer("sk-not-configured"),
    }


@pytest.mark.parametrize("case", list(bad_headers()))
@pytest.mark.parametrize("where", ["v1", "component"])
def test_bad_credentials_are_401(server, case, where):
    r = chat(server, PATHS[where].format(e="prod"), bad_headers()[case])
    assert_envelope(r, 401)


@pytest.mark.parametrize("who,path", [
    ("alice", PATHS["endpoint"].format(e="secret")),    # explicit Deny wins over the Allow
    ("alice", PATHS["component"].format(e="secret")),   # a component is authorized as its endpoint
    ("bob", PATHS["v1"]),                               # plain /v1 is endpoint "berth": no Allow
    ("bob", PATHS["endpoint"].format(e="berth")),
    ("carol", PATHS["endpoint"].format(e="prod")),      # no sagemaker:CallWithBearerToken
])
def test_known_identity_without_permission_is_403(server, who, path):
    ident = {"alice": ALICE, "bob": BOB, "carol": CAROL}[who]
    assert_envelope(chat(server, path, bearer(ident.token())), 403)


def test_policy_allows_only_what_it_names(server):
    assert chat(server, PATHS["endpoint"].format(e="prod"), bearer(BOB.token())).status_code == 200
    assert chat(server, PATHS["component"].format(e="prod"), bearer(BOB.token())).status_code == 200
    # bob's Allow names us-east-1 only
    assert_envelope(chat(server, PATHS["endpoint"].format(e="prod"),
                         bearer(BOB.token(region="us-west-2"))), 403)


def test_ping_and_health_need_no_token(server):
    for path in ("/ping", "/health"):
        assert http.get(server.base + path).status_code == 200
        assert http.get(server.base + path, headers={"Authorization": "Bearer junk"}).status_code == 200


@pytest.mark.parametrize("method,path", [
    ("GET", "/metrics"), ("GET", "/version"), ("GET", "/v1/models"), ("POST", "/v1/completions"),
    ("GET", "/endpoints/prod/openai/v1/models"), ("POST", "/invocations"), ("POST", "/tokenize"),
    ("POST", "/detokenize")])
def test_every_other_route_needs_a_token(server, method, path):
    body = ({"tokens": [1, 2]} if path == "/detokenize" else {"prompt": "hi", "max_tokens": 1}) \
        if method == "POST" else None
    assert_envelope(http.request(method, server.base + path, json=body), 401)
    r = http.request(method, server.base + path, json=body, headers=bearer(ALICE.token()))
    assert r.status_code == 200, (path, r.text)


def test_refusals_are_counted_in_metrics(server):
    def count(status):
        text = http.get(server.base + "/metrics", headers=bearer(ALICE.token())).text
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith("berth_requests_total{") and f'status="{status}"' in line)

    before401, before403 = count(401), count(403)
    chat(server, PATHS["v1"], {})
    chat(server, PATHS["v1"], bearer(DAVE.token()))
    chat(server, PATHS["v1"], bearer(BOB.token()))
    assert count(401) == before401 + 2
    assert count(403) == before403 + 1



TOKEN_FIELDS = ["Action", "X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires",
                "X-Amz-SignedHeaders", "X-Amz-Security-Token", "X-Amz-Signature", "Version"]


def append_to_field(token, field, text):
    url = decode(token)
    start = url.index(field + "=")
    end = url.find("&", start)
    end = len(url) if end < 0 else end
    return encode(url[:end] + text + url[end:])


@pytest.mark.parametrize("suffix", ["%00junk", "%00", "%01", "%0A", "%0D%0AX:1", "%1F", "%7F", "%FF"])
@pytest.mark.parametrize("field", TOKEN_FIELDS)
def test_nul_and_control_bytes_in_every_token_field_are_401(server, field, suffix):
    # A valid session-token credential, so every field (X-Amz-Security-Token too) is present; the
    # unmodified token is accepted, so the 401 is the appended bytes' doing.
    good = TEMP.token()
    assert chat(server, PATHS["v1"], bearer(good)).status_code == 200
    assert_envelope(chat(server, PATHS["v1"], bearer(append_to_field(good, field, suffix))), 401)


@pytest.mark.parametrize("field,value", [("Action", "%43allWithBearerToken"), ("Version", "%31"),
                                         ("X-Amz-SignedHeaders", "hos%74")])
def test_a_second_spelling_of_a_signed_value_is_401(server, field, value):
    url = decode(ALICE.token())
    start = url.index(field + "=") + len(field) + 1
    end = url.find("&", start)
    end = len(url) if end < 0 else end
    assert_envelope(chat(server, PATHS["v1"], bearer(encode(url[:start] + value + url[end:]))), 401)
