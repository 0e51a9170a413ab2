"""/v1/completions: text and token-id prompts, echo, logprobs, several prompts."""
import httpx

from serve_harness import http


def post(server, **body):
    r = http.post(server.v1 + "/completions", json={"max_tokens": 4, "temperature": 0, **body}, timeout=60)
    assert r.status_code == 200, r.text
    return r.json()


def test_text_and_ids_agree(server):
    ids = http.post(server.base + "/tokenize", json={"prompt": "Hello berth"}).json()["tokens"]
    a = post(server, prompt="Hello berth")
    b = post(server, prompt=ids)
    assert a["choices"][0]["text"] == b["choices"][0]["text"]
    assert a["usage"]["prompt_tokens"] == len(ids)


def test_echo(server):
    r = post(server, prompt="Hello berth", echo=True)
    plain = post(server, prompt="Hello berth")
    assert r["choices"][0]["text"] == "Hello berth" + plain["choices"][0]["text"]


def test_several_prompts(server):
    r = post(server, prompt=["one", "two three"], n=2)
    assert sorted(c["index"] for c in r["choices"]) == [0, 1, 2, 3]


def test_logprobs(server):
    r = post(server, prompt="Hello", logprobs=2)
    lp = r["choices"][0]["logprobs"]
    assert len(lp["tokens"]) == 4 and len(lp["token_logprobs"]) == 4
    assert all(len(t) == 2 for t in lp["top_logprobs"])
