"""--request-timeout aborts a request that runs too long: 408 in the OpenAI envelope (an error event
on a stream), the sequence is freed, and the server keeps serving."""
import json

import httpx

from serve_harness import http, wait_for

LONG = {"prompt": "Slow", "max_tokens": 2000, "ignore_eos": True}


def test_non_streaming_request_times_out(start_server):
    server = start_server("--request-timeout", "1", "--max-model-len", "1024")
    r = http.post(server.v1 + "/completions", json={**LONG, "max_tokens": 1000})
    assert r.status_code == 408, r.text
    err = r.json()["error"]
    assert err["code"] == "request_timeout" and "--request-timeout" in err["message"]
    assert wait_for(lambda: server.gauge("berth_num_requests_running") == 0
                    and server.gauge("berth_kv_cache_blocks_used") == 0, timeout=20)
    assert http.post(server.v1 + "/completions", json={"prompt": "x", "max_tokens": 2}).status_code == 200


def test_streaming_request_times_out_with_an_error_event(start_server):
    server = start_server("--request-timeout", "1", "--max-model-len", "1024")
    events = []
    with httpx.stream("POST", server.v1 + "/completions", timeout=60,
                      json={**LONG, "max_tokens": 1000, "stream": True}) as r:
        for line in r.iter_lines():
            if line.startswith("data: {"):
                events.append(json.loads(line[6:]))
    assert events and "error" in events[-1]
    assert events[-1]["error"]["code"] == "request_timeout"
