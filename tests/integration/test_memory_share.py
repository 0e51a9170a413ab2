"""--memory-mib: a worker's hard memory share on the CPU backend (docs/components.md, "Memory
shares"). Weights, workspace and KV cache are all charged to it; a model that does not fit refuses
with the numbers; one that fits gives the KV cache the rest, exported as berth_kv_cache_tokens; and
the backend's peak accounted bytes never pass the share, under load included."""
import concurrent.futures
import re
import subprocess

import pytest

from berth_process import BERTH, BerthServer, make_demo_model
from serve_harness import http

TOKEN_BYTES = 2 * 2 * 4 * 64 * 4  # 2 layers x K,V x 4 KV heads x head_dim 64 x f32
MIB = 1 << 20


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return make_demo_model(tmp_path_factory.mktemp("models") / "share", seed=5, max_pos=40960)


def serve_fails(model, *args):
    p = subprocess.run([str(BERTH), "serve", "--model", str(model), "--host", "127.0.0.1",
                        "--port", "0", *map(str, args)], capture_output=True, text=True, timeout=120)
    assert "ready in" not in p.stderr, p.stderr
    return p


def metric(server, name):
    text = http.get(server.base + "/metrics").text
    m = re.search(rf"^{name}{{[^}}]*}} (\d+)$", text, re.M)
    assert m, f"{name} missing from /metrics"
    return int(m.group(1))


def test_a_share_too_small_refuses_with_the_numbers(model):
    p = serve_fails(model, "--memory-mib", 100)
    assert p.returncode == 1
    m = re.search(r"the model does not fit its memory share: weights ([\d.]+) MiB \+ workspace "
                  r"([\d.]+) MiB \+ minimum KV ([\d.]+) MiB = ([\d.]+) MiB > share 100.0 MiB", p.stderr)
    assert m, p.stderr
    w, ws, kv, total = map(float, m.groups())
    assert w > 50 and ws > 100 and kv > 0  # the demo model's 78 MiB, workspace 160 MiB
    assert abs(w + ws + kv - total) < 0.2 and total > 100
    # An explicit max_model_len raises the minimum KV to one full sequence.
    p = serve_fails(model, "--memory-mib", 100, "--max-model-len", 32768)
    kv_long = float(re.search(r"minimum KV ([\d.]+) MiB", p.stderr).group(1))
    assert abs(kv_long - 32768 * TOKEN_BYTES / MIB) < 0.2, p.stderr


def test_a_share_that_fits_serves_and_its_kv_cache_is_what_is_left(model):
    share = 300 * MIB
    s = BerthServer(model, "--memory-mib", 300, kv_cache_memory=None)
    try:
        m = re.search(r"memory share 300.0 MiB: weights ([\d.]+) MiB, workspace ([\d.]+) MiB", s.text())
        assert m, s.text()
        logged = int(re.search(r"KV cache (\d+) tokens", s.text()).group(1))
        assert metric(s, "berth_kv_cache_tokens") == logged
        assert metric(s, "berth_memory_share_bytes") == share
        # The KV cache took what the weights and workspace left: unused are less than one block,
        # allocation rounding, and the block table planned for the model's full length before it
        # was lowered (64 sequences x 2560 blocks x 4 bytes); the sample scratch, charged at the
        # first step, fits.
        r = http.post(s.v1 + "/completions", json={"prompt": "Hello", "max_tokens": 3})
        assert r.status_code == 200, r.text
        in_use = metric(s, "berth_memory_in_use_bytes")
        slack = 16 * TOKEN_BYTES + 64 * 2560 * 4 + 4096
        assert in_use <= share and share - in_use < slack, (share, in_use)
        weights, workspace = (float(g) * MIB for g in m.groups())
        expect = (share - weights - workspace) // TOKEN_BYTES
        assert abs(logged - expect) <= 32, (logged, expect)  # two blocks of rounding
    finally:
        s.stop()


def test_the_share_is_never_exceeded_under_load(model):
    share = 260 * MIB
    s = BerthServer(model, "--memory-mib", 260, "--max-num-seqs", 8, kv_cache_memory=None)
    try:
        def one(i):
            body = {"prompt": f"Count {i}", "max_tokens": 24, "temperature": 0.8, "seed": i,
                    "logprobs": 3, "presence_penalty": 0.5}
            return http.post(s.v1 + "/completions", json=body).status_code
        with concurrent.futures.ThreadPoolExecutor(12) as pool:
            assert set(pool.map(one, range(24))) == {200}
        peak = metric(s, "berth_memory_peak_bytes")
        assert 0 < peak <= share, (peak, share)
        assert metric(s, "berth_memory_in_use_bytes") <= peak
    finally:
        s.stop()


def test_precedence_and_conflicts(model):
    p = serve_fails(model, "--memory-mib", 300, "--memory-budget", 1 << 30)
    assert p.returncode == 2 and "--memory-mib and --memory-budget" in p.stderr
    p = serve_fails(model, "--mps")
    assert p.returncode == 2 and "--mps needs --memory-mib" in p.stderr
    p = serve_fails(model, "--memory-mib", 300, "--mps", "--backend", "cpu")
    assert p.returncode == 2 and "--mps applies to the cuda backend" in p.stderr
    s = BerthServer(model, "--memory-mib", 300, "--cpu-kv-cache-fraction", "0.01",
                    kv_cache_memory=None)
    try:
        assert "--memory-mib 300 takes precedence: --cpu-kv-cache-fraction ignored" in s.text()
        assert metric(s, "berth_memory_share_bytes") == 300 * MIB
    finally:
        s.stop()
