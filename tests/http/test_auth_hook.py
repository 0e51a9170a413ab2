"""The authorize hook runs before every handler except /ping and /health; its error is answered in
the OpenAI envelope with the status it chose."""
import httpx
import openai
import pytest


@pytest.fixture
def secured(start_server):
    return start_server("--api-key", "sekret", "--endpoint", "ep")


def test_missing_and_wrong_keys_are_401(secured):
    r = httpx.get(secured.base + "/v1/models")
    assert r.status_code == 401
    assert r.json()["error"]["type"] == "authentication_error"
    r = httpx.get(secured.base + "/v1/models", headers={"Authorization": "Bearer wrong"})
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"
    r = httpx.post(secured.base + "/endpoints/ep/openai/v1/chat/completions", json={})
    assert r.status_code == 401


def test_health_routes_skip_auth(secured):
    assert httpx.get(secured.base + "/ping").status_code == 200
    assert httpx.get(secured.base + "/health").status_code == 200


def test_sdk_with_the_key(secured):
    c = openai.OpenAI(base_url=secured.base + "/v1", api_key="sekret", max_retries=0)
    r = c.chat.completions.create(model="", messages=[{"role": "user", "content": "ok"}])
    assert r.choices[0].message.content == "ok"
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=secured.base + "/v1", api_key="nope", max_retries=0).models.list()
