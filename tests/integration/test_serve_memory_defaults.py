"""Defaults that start: with no memory flags `berth serve` sizes the KV cache from the memory it has
(the CPU's share of MemAvailable, or what a --memory-budget leaves after the weights and workspace),
and a model whose max_position_embeddings does not fit gets max_model_len lowered to what the cache
holds, with one log line saying so. Explicit flags that cannot fit fail at start with the numbers."""
import re
import subprocess

import pytest

from berth_process import BERTH, BerthServer, make_demo_model
from serve_harness import http

MODEL_LEN = 40960  # Qwen3's max_position_embeddings
TOKEN_BYTES = 2 * 2 * 4 * 64 * 4  # 2 layers x K,V x 4 KV heads x head_dim 64 x f32


@pytest.fixture(scope="module")
def long_model(tmp_path_factory):
    return make_demo_model(tmp_path_factory.mktemp("models") / "long", seed=3, max_pos=MODEL_LEN)


def lowered_to(server):
    lines = [line for line in server.log if "max_model_len lowered" in line]
    assert len(lines) == 1, server.text()
    m = re.search(r"lowered from the model's (\d+) to (\d+): the KV cache holds (\d+) tokens", lines[0])
    assert m, lines[0]
    assert int(m.group(1)) == MODEL_LEN and m.group(2) == m.group(3)
    return int(m.group(2))


def served_len(server):
    return http.post(server.base + "/tokenize", json={"prompt": "hi"}).json()["max_model_len"]


def test_no_flags_starts_on_the_cpu_share(long_model):
    s = BerthServer(long_model, kv_cache_memory=None)
    try:
        m = re.search(r"KV cache memory (\d+) bytes: 0.40 of the (\d+) bytes available", s.text())
        assert m, s.text()
        assert int(m.group(1)) == min(int(int(m.group(2)) * 0.4), 64 << 30)
        tokens = int(re.search(r"KV cache (\d+) tokens", s.text()).group(1))
        # Either the share holds the full length (no lowering) or the length is what it holds.
        if tokens >= MODEL_LEN:
            assert "lowered" not in s.text() and served_len(s) == MODEL_LEN
        else:
            assert lowered_to(s) == served_len(s) == tokens
        r = http.post(s.v1 + "/completions", json={"prompt": "Hello", "max_tokens": 3})
        assert r.status_code == 200, r.text
    finally:
        s.stop()


def test_a_small_cpu_share_lowers_max_model_len(long_model):
    s = BerthServer(long_model, "--cpu-kv-cache-fraction", "0.0001", kv_cache_memory=None)
    try:
        share = int(re.search(r"KV cache memory (\d+) bytes: 0.00 of", s.text()).group(1))
        n = lowered_to(s)
        assert n == served_len(s) and n % 16 == 0 and 0 < n < MODEL_LEN
        assert n // 16 == (share - 4 * 256) // (16 * TOKEN_BYTES)
    finally:
        s.stop()


def test_memory_budget_lowers_max_model_len_and_requests_follow(long_model):
    s = BerthServer(long_model, "--memory-budget", str(300 << 20), kv_cache_memory=None)
    try:
        n = lowered_to(s)
        assert n == served_len(s) and n < MODEL_LEN
        assert re.search(rf"max_model_len {n}, max_num_seqs 64, KV cache {n} tokens", s.text())
        ok = http.post(s.v1 + "/completions", json={"prompt": "Hello", "max_tokens": 2})
        assert ok.status_code == 200, ok.text
        too_long = http.post(s.v1 + "/completions", json={"prompt": "Hello", "max_tokens": n})
        assert too_long.status_code == 400 and str(n) in too_long.json()["error"]["message"]
    finally:
        s.stop()


def start_fails(model, *args):
    p = subprocess.run([str(BERTH), "serve", "--model", str(model), "--host", "127.0.0.1",
                        "--port", "0", *map(str, args)], capture_output=True, text=True, timeout=120)
    assert p.returncode == 1, p.stderr
    assert "ready in" not in p.stderr
    return p.stderr


def test_explicit_max_model_len_that_cannot_fit_fails_with_numbers(long_model):
    err = start_fails(long_model, "--max-model-len", MODEL_LEN, "--kv-cache-memory", 10_000_000)
    assert (f"a KV cache of 10000000 bytes holds 2432 tokens ({TOKEN_BYTES} bytes each), less than "
            f"one sequence of max_model_len {MODEL_LEN}") in err
    err = start_fails(long_model, "--max-model-len", 4096, "--kv-cache-tokens", 1024)
    assert "the KV cache (64 blocks = 1024 tokens) cannot hold one sequence of max_model_len 4096" in err


def test_explicit_kv_memory_beyond_the_budget_fails_with_numbers(long_model):
    err = start_fails(long_model, "--memory-budget", 300 << 20, "--kv-cache-memory", 1 << 30)
    m = re.search(r"a KV cache of 1073741824 bytes was asked for, but only (\d+) bytes of the cpu "
                  r"backend's memory are left after the weights and the workspace", err)
    assert m and 0 < int(m.group(1)) < 300 << 20, err


def test_bad_fractions_are_refused(long_model):
    for flag in ("--cpu-kv-cache-fraction", "--gpu-memory-utilization"):
        p = subprocess.run([str(BERTH), "serve", "--model", str(long_model), flag, "1.5"],
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 2 and f"{flag} must be a fraction in (0, 1] (got '1.5')" in p.stderr


def test_memory_budget_and_gpu_utilization_exclude_each_other(long_model):
    p = subprocess.run([str(BERTH), "serve", "--model", str(long_model), "--memory-budget", str(1 << 30),
                        "--gpu-memory-utilization", "0.5"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "give one" in p.stderr
