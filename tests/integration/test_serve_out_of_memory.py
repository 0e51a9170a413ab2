"""A request whose output cannot be kept or sent for lack of memory fails with a 500 in the OpenAI
envelope (code out_of_memory; streamed: an abort chunk, then an error event), its sequences are freed
at once, and the server keeps serving. BERTH_TEST_FAIL_ALLOC_AT_TOKEN (test only, docs/api.md)
makes a choice's output allocations fail from its 3rd token on."""
import json
import os

import httpx
import pytest

from serve_harness import BerthServer, http, wait_for

AT = 3
LONG = {"max_tokens": 40, "ignore_eos": True, "temperature": 0}


@pytest.fixture(scope="module")
def oom_server(demo_model):
    s = BerthServer(demo_model, "--max-num-seqs", "8",
                    env={**os.environ, "BERTH_TEST_FAIL_ALLOC_AT_TOKEN": str(AT)})
    yield s
    s.stop()


def freed_and_serving(server):
    assert wait_for(lambda: server.gauge("berth_num_requests_running") == 0
                    and server.gauge("berth_kv_cache_blocks_used") == 0, timeout=20), server.text()
    # fewer tokens than AT: nothing fails, so the server answers as usual
    r = http.post(server.v1 + "/completions", json={"prompt": "Hello", "max_tokens": AT - 1,
                                                    "ignore_eos": True})
    assert r.status_code == 200, r.text
    assert r.json()["usage"]["completion_tokens"] == AT - 1


def check_envelope(err):
    assert err["code"] == "out_of_memory", err
    assert err["type"] == "server_error" and "out of memory" in err["message"], err


@pytest.mark.parametrize("route,body", [
    ("/completions", {"prompt": "Hello there", "logprobs": 2}),  # the logprobs kept per token
    ("/completions", {"prompt": "Hello there", "n": 3}),  # the text kept; every choice stops
    ("/chat/completions", {"messages": [{"role": "user", "content": "Hi"}], "logprobs": True,
                           "top_logprobs": 2}),
])
def test_non_streamed_request_fails_with_500_and_the_server_keeps_serving(oom_server, route, body):
    r = http.post(oom_server.v1 + route, json={**LONG, **body})
    assert r.status_code == 500, r.text
    check_envelope(r.json()["error"])
    freed_and_serving(oom_server)


@pytest.mark.parametrize("route,body", [
    ("/completions", {"prompt": "Hello there"}),
    ("/chat/completions", {"messages": [{"role": "user", "content": "Hi"}], "logprobs": True}),
])
def test_streamed_request_ends_with_abort_then_an_error_event(oom_server, route, body):
    events = []
    with httpx.stream("POST", oom_server.v1 + route, timeout=120,
                      json={**LONG, **body, "stream": True}) as r:
        assert r.status_code == 200
        lines = list(r.iter_lines())
    events = [json.loads(line[6:]) for line in lines if line.startswith("data: {")]
    assert "data: [DONE]" not in lines, lines
    finishes = [ch["finish_reason"] for e in events for ch in e.get("choices", [])
                if ch.get("finish_reason")]
    assert finishes == ["abort"], events
    check_envelope(events[-1]["error"])
    freed_and_serving(oom_server)


def test_failures_are_counted_as_500(oom_server):
    before = oom_server.metrics()
    r = http.post(oom_server.v1 + "/completions", json={**LONG, "prompt": "x"})
    assert r.status_code == 500, r.text
    after = oom_server.metrics()
    key = next(k for k in after if k.startswith("berth_requests_total") and '"500"' in k)
    assert after[key] == before.get(key, 0) + 1, (before, after)
