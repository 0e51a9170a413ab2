"""Overload: past the fake server's --max-active running generations a request gets 429 in the OpenAI
envelope with Retry-After; the SDK raises RateLimitError; the server keeps serving afterwards."""
import threading

import httpx
import openai

from http_fake_server import wait_for


def test_429_with_retry_after_then_recovery(start_server):
    s = start_server("--max-active", "1", "--delay-ms", "100")
    body = {"messages": [{"role": "user", "content": "a b c d e"}]}
    t = threading.Thread(target=lambda: httpx.post(s.base + "/v1/chat/completions", json=body, timeout=30))
    t.start()
    assert wait_for(lambda: s.debug()["active"] == 1)
    r = httpx.post(s.base + "/v1/chat/completions", json=body)
    assert r.status_code == 429
    assert r.headers["retry-after"] == "2"
    err = r.json()["error"]
    assert err["type"] == "rate_limit_error" and err["code"] == "server_overloaded"
    c = openai.OpenAI(base_url=s.base + "/v1", api_key="unused", max_retries=0)
    try:
        c.chat.completions.create(model="", messages=body["messages"])
        raise AssertionError("expected RateLimitError")
    except openai.RateLimitError:
        pass
    t.join(30)
    assert wait_for(lambda: s.debug()["active"] == 0)
    r = httpx.post(s.base + "/v1/chat/completions", json=body, timeout=30)
    assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"] == "a b c d e"
