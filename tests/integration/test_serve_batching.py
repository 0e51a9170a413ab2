"""Continuous batching does not change results: greedy output of a request is identical alone and
inside 16 concurrent requests of different lengths."""
from concurrent.futures import ThreadPoolExecutor

import httpx

from serve_harness import http

PROMPTS = [("Count: " + "one two three " * (i + 1)).strip() for i in range(16)]


def complete(server, prompt, max_tokens):
    r = http.post(server.v1 + "/completions", timeout=120,
                   json={"prompt": prompt, "max_tokens": max_tokens, "temperature": 0, "ignore_eos": True})
    assert r.status_code == 200, r.text
    return r.json()["choices"][0]["text"]


def test_greedy_alone_equals_batched(server):
    lengths = [4 + (i * 5) % 23 for i in range(16)]
    alone = [complete(server, p, n) for p, n in zip(PROMPTS, lengths)]
    with ThreadPoolExecutor(16) as pool:
        batched = list(pool.map(lambda a: complete(server, *a), zip(PROMPTS, lengths)))
    assert batched == alone


def test_seeded_sampling_alone_equals_batched(server):
    body = {"prompt": PROMPTS[3], "max_tokens": 12, "temperature": 0.9, "top_p": 0.9, "seed": 5,
            "ignore_eos": True}
    alone = http.post(server.v1 + "/completions", json=body, timeout=60).json()["choices"][0]["text"]
    with ThreadPoolExecutor(8) as pool:
        others = [pool.submit(complete, server, p, 20) for p in PROMPTS[:7]]
        mine = pool.submit(lambda: http.post(server.v1 + "/completions", json=body, timeout=60).json())
        [o.result() for o in others]
    assert mine.result()["choices"][0]["text"] == alone
