"""One request cannot take the queue: a per-request cap on sequences (prompts x n) answered 400
naming the field, a request that could never be queued answered 400 (not 429 forever), 429 with
Retry-After only while waiting could help, --max-num-seqs 4 --max-waiting 16 admitting the 20
sequences --help promises, and a small request served while a large one is still waiting."""
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from serve_harness import http


def post(server, body):
    return http.post(server.v1 + "/completions", json=body)


def test_sequences_past_the_per_request_cap_are_400(start_server):
    server = start_server("--max-seqs-per-request", "12", "--max-num-seqs", "4")
    r = post(server, {"prompt": ["a", "b", "c"], "n": 5, "max_tokens": 1})
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["param"] == "n" and "15 sequences" in err["message"], err
    assert "--max-seqs-per-request" in err["message"]
    r = post(server, {"prompt": ["p%d" % i for i in range(13)], "max_tokens": 1})
    assert r.status_code == 400 and r.json()["error"]["param"] == "prompt", r.text
    r = post(server, {"prompt": ["a", "b", "c"], "n": 4, "max_tokens": 1})
    assert r.status_code == 200, r.text
    assert len(r.json()["choices"]) == 12


def test_default_cap_is_128(start_server):
    server = start_server()
    r = post(server, {"prompt": ["p%d" % i for i in range(7)], "n": 20, "max_tokens": 1})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["param"] == "n"
    assert "at most 128" in r.json()["error"]["message"]


def test_never_fitting_request_is_400_and_burst_admits_what_help_says(start_server):
    server = start_server("--max-num-seqs", "4", "--max-waiting", "16")
    # 21 sequences can never be queued next to 4 running and 16 waiting, even on an idle server.
    r = post(server, {"prompt": "x", "n": 21, "max_tokens": 1})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["param"] == "n"
    assert "can never be queued" in r.json()["error"]["message"]
    assert "retry-after" not in r.headers
    r = post(server, {"prompt": "x", "n": 20, "max_tokens": 1})
    assert r.status_code == 200, r.text

    # A burst of 25 long streamed requests: 4 run, 16 wait, 5 get 429 with Retry-After. Each
    # client leaves once it has its status, which cancels its request.
    body = {"prompt": "Busy", "max_tokens": 900, "ignore_eos": True, "stream": True}
    statuses = []

    def one(_):
        with httpx.stream("POST", server.v1 + "/completions", json=body, timeout=120) as resp:
            statuses.append(resp.status_code)
            if resp.status_code == 429:
                assert resp.headers.get("retry-after")
            barrier_wait()
        return resp.status_code

    # Every client holds its connection until all 25 have their answer.
    barrier = threading.Barrier(25, timeout=120)

    def barrier_wait():
        barrier.wait()

    with ThreadPoolExecutor(25) as pool:
        codes = list(pool.map(one, range(25)))
    assert sorted(codes).count(200) == 20 and codes.count(429) == 5, codes


def test_small_request_is_not_held_behind_a_large_one(start_server):
    server = start_server("--max-num-seqs", "2")
    big = {"prompt": "x", "n": 12, "max_tokens": 64, "ignore_eos": True}
    small = {"prompt": "y", "max_tokens": 2}
    with ThreadPoolExecutor(2) as pool:
        t0 = time.time()
        big_done = pool.submit(lambda: (post(server, big), time.time() - t0))
        time.sleep(0.5)
        t_small = time.time()
        r, small_s = post(server, small), time.time() - t_small
        assert r.status_code == 200, r.text
        rb, big_s = big_done.result()
    assert rb.status_code == 200 and len(rb.json()["choices"]) == 12
    # Two slots, 12 sequences of 64 tokens ahead of it (6 rounds of 64 steps): behind all of them
    # the small request would wait as long as the big one; round-robin admits it in the first free
    # slot, after at most one round.
    assert small_s < big_s / 3, (small_s, big_s)
