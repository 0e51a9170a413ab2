"""Stop strings are matched on the detokenized text, across token boundaries, and cut from the
output unless include_stop_str_in_output; stop_token_ids end the sequence."""
import httpx

from serve_harness import http


def greedy(server, **extra):
    body = {"prompt": "The berth was", "max_tokens": 24, "temperature": 0, "ignore_eos": True, **extra}
    r = http.post(server.v1 + "/completions", json=body, timeout=60)
    assert r.status_code == 200, r.text
    return r.json()["choices"][0]


def tokens_of(server, text):
    return http.post(server.base + "/tokenize", json={"prompt": text}).json()["tokens"]


def test_stop_string_across_token_boundaries(server):
    full = greedy(server)["text"]
    ids = http.post(server.v1 + "/completions", timeout=60, json={
        "prompt": "The berth was", "max_tokens": 24, "temperature": 0, "ignore_eos": True,
        "logprobs": 0}).json()["choices"][0]["logprobs"]["tokens"]
    # A stop string made of the end of token 3 and the start of token 4 spans a token boundary.
    left, right = ids[3], ids[4]
    assert left and right
    stop = left[-1:] + right[:1]
    at = full.find(stop)
    assert at >= 0
    cut = greedy(server, stop=[stop])
    assert cut["finish_reason"] == "stop"
    assert cut["text"] == full[:at]
    kept = greedy(server, stop=[stop], include_stop_str_in_output=True)
    assert kept["text"] == full[:at + len(stop)]


def test_stop_token_ids(server):
    body = {"prompt": "The berth was", "max_tokens": 24, "temperature": 0, "ignore_eos": True}
    full = http.post(server.v1 + "/completions", json={**body, "logprobs": 0}, timeout=60).json()
    tokens = full["choices"][0]["logprobs"]["tokens"]
    ids = [http.post(server.base + "/tokenize", json={"prompt": t}).json()["tokens"] for t in tokens]
    # the third generated token, when it is a token of its own text, ends the sequence
    k = next(i for i in range(2, len(ids)) if len(ids[i]) == 1)
    r = http.post(server.v1 + "/completions", json={**body, "stop_token_ids": ids[k]}, timeout=60).json()
    assert r["choices"][0]["finish_reason"] == "stop"
    assert r["usage"]["completion_tokens"] <= k + 1


def test_streamed_stop_string_matches(server):
    full = greedy(server)["text"]
    stop = full[5:9]
    with httpx.stream("POST", server.v1 + "/completions", timeout=60, json={
            "prompt": "The berth was", "max_tokens": 24, "temperature": 0, "ignore_eos": True,
            "stop": stop, "stream": True}) as r:
        text = ""
        finish = None
        import json
        for line in r.iter_lines():
            if line.startswith("data: ") and line != "data: [DONE]":
                ch = json.loads(line[6:])["choices"]
                if ch:
                    text += ch[0]["text"]
                    finish = ch[0]["finish_reason"] or finish
    assert text == full[:full.find(stop)]
    assert finish == "stop"
