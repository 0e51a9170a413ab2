"""SIGTERM drains: requests in flight finish, new ones (and /ping) get 503, then the server exits 0.
A second SIGTERM stops at once.

No fixed wall-clock budget: on a loaded machine (CI runs these under the sanitizers beside other
tests) generation can be many times slower, so the stream is started and seen running before the
signal, its length is sized from a measured token rate, and the deadlines follow that rate."""
import json
import signal
import threading
import time

import httpx

from serve_harness import BerthServer, http, wait_for


def stream_all(server, out, max_tokens, started):
    """Streams a completion into out (its finish_reason and [DONE]); sets `started` at the first
    token, so the caller knows the request is in flight."""
    with httpx.stream("POST", server.v1 + "/completions", timeout=120, json={
            "prompt": "Drain", "max_tokens": max_tokens, "ignore_eos": True, "stream": True}) as r:
        for line in r.iter_lines():
            if line.startswith("data: {"):
                ch = json.loads(line[6:])["choices"]
                if ch:
                    started.set()
                if ch and ch[0]["finish_reason"]:
                    out["finish"] = ch[0]["finish_reason"]
            elif line == "data: [DONE]":
                out["done"] = True
    out["ended"] = time.monotonic()
    started.set()


def token_seconds(server):
    """Seconds per generated token now, on this machine, from a short timed request."""
    n = 16
    start = time.monotonic()
    r = http.post(server.v1 + "/completions", json={"prompt": "Drain", "max_tokens": n, "ignore_eos": True})
    assert r.status_code == 200, r.text
    return (time.monotonic() - start) / n


def test_sigterm_lets_requests_in_flight_finish(demo_model):
    # The drain must not give up on the request, however slow the machine: its limit is far above
    # the stream's measured length, and the test's own deadline follows that length.
    server = BerthServer(demo_model, "--shutdown-timeout", "600")
    per_token = token_seconds(server)
    # Long enough (~6 s at the measured rate) to still be running while the 503s are checked.
    max_tokens = min(400, max(30, int(6 / per_token)))
    out, started = {}, threading.Event()
    t = threading.Thread(target=stream_all, args=(server, out, max_tokens, started))
    t.start()
    assert started.wait(120) and "ended" not in out, "the stream did not start"
    server.proc.send_signal(signal.SIGTERM)
    assert wait_for(lambda: http.get(server.base + "/ping").status_code == 503, timeout=60), \
        "/ping did not turn 503 after SIGTERM"
    refused = http.post(server.v1 + "/completions", json={"prompt": "late", "max_tokens": 2})
    assert refused.status_code == 503
    # Both 503s came while the stream was in flight (else they would prove nothing about draining).
    assert "ended" not in out, "the stream ended before the 503s were checked"
    t.join(60 + 20 * max_tokens * per_token)
    assert not t.is_alive(), "the stream did not finish"
    assert {k: out.get(k) for k in ("finish", "done")} == {"finish": "length", "done": True}
    assert server.proc.wait(60) == 0


def test_second_sigterm_stops_at_once(demo_model):
    server = BerthServer(demo_model, "--shutdown-timeout", "600")
    out, started = {}, threading.Event()
    t = threading.Thread(target=stream_all, args=(server, out, 900, started))
    t.start()
    assert started.wait(120) and "ended" not in out, "the stream did not start"
    server.proc.send_signal(signal.SIGTERM)
    assert wait_for(lambda: http.get(server.base + "/ping").status_code == 503, timeout=60)
    start = time.time()
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(60) == 0
    assert time.time() - start < 30
    t.join(60)
    assert "done" not in out or out.get("finish") != "length"
