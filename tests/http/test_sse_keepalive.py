"""SSE keep-alive: while the producer is silent longer than --keepalive-ms, the stream carries
': keep-alive' comment events, and clients (the SDK) ignore them."""
import httpx
import openai


def test_keepalive_comments_during_silence(start_server):
    s = start_server("--delay-ms", "400", "--keepalive-ms", "100")
    with httpx.stream("POST", s.base + "/v1/chat/completions", timeout=30,
                      json={"messages": [{"role": "user", "content": "slow words"}], "stream": True}) as r:
        assert r.headers["content-type"] == "text/event-stream"
        assert r.headers["cache-control"] == "no-cache"
        body = r.read().decode()
    assert body.count(": keep-alive\n\n") >= 3
    assert body.endswith("data: [DONE]\n\n")


def test_no_keepalive_when_output_flows(start_server):
    s = start_server("--delay-ms", "5", "--keepalive-ms", "2000")
    r = httpx.post(s.base + "/v1/chat/completions",
                   json={"messages": [{"role": "user", "content": "a b c"}], "stream": True})
    assert ": keep-alive" not in r.text


def test_sdk_ignores_keepalive(start_server):
    s = start_server("--delay-ms", "300", "--keepalive-ms", "100")
    c = openai.OpenAI(base_url=s.base + "/v1", api_key="unused", max_retries=0)
    chunks = list(c.chat.completions.create(model="", messages=[{"role": "user", "content": "p q"}],
                                            stream=True))
    assert "".join(ch.choices[0].delta.content or "" for ch in chunks) == "p q"
