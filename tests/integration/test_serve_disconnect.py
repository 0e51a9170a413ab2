"""A client that leaves mid-stream frees its sequence (visible in /metrics) and other streams go on."""
import json
import threading

import httpx

from serve_harness import wait_for, http


def test_disconnect_frees_the_sequence(start_server):
    server = start_server("--max-num-seqs", "4")
    other = {}

    def full_stream():
        with httpx.stream("POST", server.v1 + "/completions", timeout=120, json={
                "prompt": "Other", "max_tokens": 60, "ignore_eos": True, "temperature": 0,
                "stream": True}) as r:
            other["chunks"] = sum(1 for line in r.iter_lines() if line.startswith("data: {"))

    t = threading.Thread(target=full_stream)
    t.start()
    with httpx.Client(timeout=60) as c:
        with c.stream("POST", server.v1 + "/completions", json={
                "prompt": "Leaving", "max_tokens": 900, "ignore_eos": True, "stream": True}) as r:
            seen = 0
            for line in r.iter_lines():
                if line.startswith("data: {"):
                    seen += 1
                if seen == 3:
                    break
    # The connection is closed now; the engine must drop the sequence within a step or so.
    t.join(120)
    assert other["chunks"] >= 60
    assert wait_for(lambda: server.gauge("berth_num_requests_running") == 0
                    and server.gauge("berth_kv_cache_blocks_used") == 0, timeout=20)
    # still serving
    r = http.post(server.v1 + "/completions", json={"prompt": "x", "max_tokens": 2})
    assert r.status_code == 200


def test_non_streaming_disconnect(start_server):
    server = start_server()
    try:
        http.post(server.v1 + "/completions", timeout=0.5, json={
            "prompt": "Leaving", "max_tokens": 900, "ignore_eos": True})
    except httpx.TimeoutException:
        pass
    assert wait_for(lambda: server.gauge("berth_num_requests_running") == 0
                    and server.gauge("berth_kv_cache_blocks_used") == 0, timeout=20)
