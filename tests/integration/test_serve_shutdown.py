"""SIGTERM drains: requests in flight finish, new ones (and /ping) get 503, then the server exits 0.
A second SIGTERM stops at once."""
import json
import signal
import threading
import time

import httpx

from serve_harness import BerthServer, http


def stream_all(server, out, max_tokens):
    with httpx.stream("POST", server.v1 + "/completions", timeout=120, json={
            "prompt": "Drain", "max_tokens": max_tokens, "ignore_eos": True, "stream": True}) as r:
        for line in r.iter_lines():
            if line.startswith("data: {"):
                ch = json.loads(line[6:])["choices"]
                if ch and ch[0]["finish_reason"]:
                    out["finish"] = ch[0]["finish_reason"]
            elif line == "data: [DONE]":
                out["done"] = True


def test_sigterm_lets_requests_in_flight_finish(demo_model):
    server = BerthServer(demo_model, "--shutdown-timeout", "60")
    out = {}
    t = threading.Thread(target=stream_all, args=(server, out, 150))
    t.start()
    time.sleep(0.5)  # the stream is running
    server.proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    assert http.get(server.base + "/ping").status_code == 503
    refused = http.post(server.v1 + "/completions", json={"prompt": "late", "max_tokens": 2})
    assert refused.status_code == 503
    t.join(120)
    assert out == {"finish": "length", "done": True}
    assert server.proc.wait(60) == 0


def test_second_sigterm_stops_at_once(demo_model):
    server = BerthServer(demo_model, "--shutdown-timeout", "600")
    out = {}
    t = threading.Thread(target=stream_all, args=(server, out, 900))
    t.start()
    time.sleep(0.5)
    server.proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    start = time.time()
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(60) == 0
    assert time.time() - start < 30
    t.join(60)
    assert "done" not in out or out.get("finish") != "length"
