"""Past the waiting queue the server answers 429 with Retry-After, and keeps serving."""
from concurrent.futures import ThreadPoolExecutor

import httpx

from serve_harness import http


def test_overload_returns_429_and_recovers(start_server):
    server = start_server("--max-num-seqs", "1", "--max-waiting", "1")
    body = {"prompt": "Busy", "max_tokens": 120, "ignore_eos": True}

    def post(_):
        return http.post(server.v1 + "/completions", json=body, timeout=120)

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(post, range(8)))
    codes = [r.status_code for r in results]
    assert 429 in codes and 200 in codes, codes
    refused = next(r for r in results if r.status_code == 429)
    assert refused.headers.get("retry-after")
    assert refused.json()["error"]["type"]
    assert http.post(server.v1 + "/completions", json={"prompt": "x", "max_tokens": 2}).status_code == 200
