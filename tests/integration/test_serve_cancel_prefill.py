"""A client that leaves during a long prefill releases the engine within a second: the forward stops
within a layer instead of computing the rest of its chunk (here a 96-layer CPU demo model whose
one-chunk prefill takes seconds)."""
import json
import random
import socket
import time

import pytest

from berth_process import MAKE_MODEL, SHARED
from serve_harness import BerthServer, http

LAYERS = 96
PROMPT_LEN = 1200


@pytest.fixture(scope="module")
def deep_model(tmp_path_factory):
    import subprocess

    out = tmp_path_factory.mktemp("models") / "deep"
    subprocess.run([str(MAKE_MODEL), "--preset", "demo", "--hidden", "128", "--heads", "4",
                    "--kv-heads", "2", "--head-dim", "32", "--intermediate", "256", "--layers",
                    str(LAYERS), "--max-pos", "4096", "--seed", "3", "--tokenizer",
                    str(SHARED / "data" / "qwen3-tokenizer"), "--out", str(out)],
                   check=True, capture_output=True, text=True)
    return out


def prompt(seed):
    rng = random.Random(seed)
    return [rng.randrange(1000, 100000) for _ in range(PROMPT_LEN)]


def test_disconnect_during_a_long_prefill_is_released_within_a_second(deep_model):
    # 48 KiB of KV per token: room for two whole sequences.
    server = BerthServer(deep_model, "--max-model-len", "1280", "--max-num-batched-tokens", "1280",
                         "--max-num-seqs", "4", kv_cache_memory=160 << 20)
    try:
        # The whole prefill, one chunk, run to its end.
        t = time.time()
        r = http.post(server.v1 + "/completions", json={"prompt": prompt(1), "max_tokens": 1})
        full = time.time() - t
        assert r.status_code == 200, r.text
        assert full > 2.0, f"the prefill took {full:.2f} s: too short to show a cancellation"

        # Another prompt (nothing cached), streamed; the client leaves mid-prefill.
        body = json.dumps({"prompt": prompt(2), "max_tokens": 4, "stream": True}).encode()
        s = socket.create_connection(("127.0.0.1", server.port))
        s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: %d\r\n\r\n" % len(body) + body)
        time.sleep(min(0.5, full / 4))
        s.close()
        left = time.time()
        # The engine is free again once a tiny request gets its token.
        r = http.post(server.v1 + "/completions", json={"prompt": "x", "max_tokens": 1})
        released = time.time() - left
        assert r.status_code == 200, r.text
        assert released < 1.0, f"released {released:.2f} s after the disconnect (prefill {full:.2f} s)"
        assert server.gauge("berth_abandoned_steps_total") >= 1
    finally:
        server.stop()
