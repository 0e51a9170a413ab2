"""berth-bench against a real `berth serve` on a demo model (random weights, Qwen3 architecture, the
shared Qwen3 tokenizer): the report is well formed and its counts add up, against the request
sizes and against the server's own /metrics counters. Correctness only; no speed is asserted.
A missing binary or missing shared data fails these tests, never skips them."""
import json
import os
import re
import subprocess

import pytest

from berth_process import BENCH, BerthServer, make_demo_model, need

IN_LEN, OUT_LEN = 16, 8


@pytest.fixture(scope="module")
def bench_model(tmp_path_factory):
    return make_demo_model(tmp_path_factory.mktemp("bench-model") / "bench-demo", seed=3, max_pos=512)


@pytest.fixture(scope="module")
def server(bench_model):
    s = BerthServer(bench_model, "--max-num-seqs", "8", ready_timeout=120)
    yield s
    s.stop(timeout=60)


def counter(values, prefix):
    """Sum of the samples of one metric (all label sets), e.g. berth_generation_tokens_total."""
    return sum(v for k, v in values.items() if k.split("{")[0] == prefix)


def run_bench(base, *args, env_extra=None, tmp_path=None):
    need(BENCH, "berth-bench (build the project first)")
    result = tmp_path / "result.json"
    env = dict(os.environ)
    env.pop("BERTH_API_KEY", None)
    env.update(env_extra or {})
    proc = subprocess.run([str(BENCH), "--base-url", base + "/v1", "--input-len", str(IN_LEN),
                           "--output-len", str(OUT_LEN), "--result-json", str(result), *args],
                          capture_output=True, text=True, timeout=300, env=env)
    report = json.loads(result.read_text()) if result.exists() else None
    return proc, report


def table_value(stdout, label, index=0):
    """The value after a label of the printed vllm-style table (index-th run)."""
    values = re.findall(r"^" + re.escape(label) + r"\s+(\S+)$", stdout, re.M)
    assert len(values) > index, f"no '{label}' line in:\n{stdout}"
    return float(values[index]) if values[index] != "inf" else values[index]


def check_run_adds_up(run, n, concurrency):
    assert run["num_prompts"] == n
    assert run["completed"] == n and run["failed"] == 0 and run["first_error"] is None
    assert run["max_concurrency"] == concurrency
    assert run["total_output_tokens"] == n * OUT_LEN
    assert run["duration"] > 0
    assert run["request_throughput"] == pytest.approx(n / run["duration"], rel=1e-9)
    assert run["output_throughput"] == pytest.approx(n * OUT_LEN / run["duration"], rel=1e-9)
    total = run["total_input_tokens"] + run["total_output_tokens"]
    assert run["total_token_throughput"] == pytest.approx(total / run["duration"], rel=1e-9)
    for metric in ("ttft", "tpot", "itl", "e2el"):
        mean, med = run[f"mean_{metric}_ms"], run[f"median_{metric}_ms"]
        p90, p99 = run[f"p90_{metric}_ms"], run[f"p99_{metric}_ms"]
        assert 0 < med <= p90 <= p99, (metric, run)
        assert mean > 0 and run[f"std_{metric}_ms"] >= 0
    # The first token comes before the end; the whole run outlasts any one request.
    assert run["p99_ttft_ms"] <= run["p99_e2el_ms"]
    assert run["mean_ttft_ms"] < run["mean_e2el_ms"]
    assert run["p99_e2el_ms"] <= run["duration"] * 1e3 + 1
    # Per request E2EL = TTFT + (n-1) x TPOT, and at one request in flight the ITL gaps are
    # exactly the decode part of E2EL, so the means agree.
    mean_e2el = run["mean_ttft_ms"] + (OUT_LEN - 1) * run["mean_tpot_ms"]
    assert run["mean_e2el_ms"] == pytest.approx(mean_e2el, rel=1e-6, abs=0.5)
    assert run["mean_itl_ms"] == pytest.approx(run["mean_tpot_ms"], rel=1e-6, abs=0.5)


def test_completions_sweep_counts_add_up(server, tmp_path):
    before = server.metrics()
    proc, report = run_bench(server.base, "--concurrency", "1,4", "--num-prompts", "6",
                             tmp_path=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    after = server.metrics()
    assert report["endpoint"] == "/completions" and report["model_id"] == "bench-demo"
    assert [r["max_concurrency"] for r in report["runs"]] == [1, 4]
    for i, run in enumerate(report["runs"]):
        check_run_adds_up(run, 6, [1, 4][i])
        # Token-id prompts of --input-len ids are exactly that many prompt tokens.
        assert run["total_input_tokens"] == 6 * IN_LEN
        assert table_value(proc.stdout, "Successful requests:", i) == 6
        assert table_value(proc.stdout, "Failed requests:", i) == 0
        assert table_value(proc.stdout, "Total generated tokens:", i) == 6 * OUT_LEN
        assert table_value(proc.stdout, "Median TTFT (ms):", i) == pytest.approx(
            run["median_ttft_ms"], abs=0.006)
    # The server saw exactly these requests and tokens.
    delta = {m: counter(after, m) - counter(before, m)
             for m in ("berth_generation_tokens_total", "berth_prompt_tokens_total")}
    assert delta["berth_generation_tokens_total"] == 12 * OUT_LEN
    assert delta["berth_prompt_tokens_total"] == 12 * IN_LEN
    # The client's TTFT starts at the send, before the server sees the request: never shorter
    # than the server's own measure of it.
    client_ttft_s = sum(r["mean_ttft_ms"] * 6 for r in report["runs"]) / 1e3
    server_ttft_s = (counter(after, "berth_time_to_first_token_seconds_sum")
                     - counter(before, "berth_time_to_first_token_seconds_sum"))
    assert client_ttft_s >= server_ttft_s - 0.001
    # The sweep summary lists both points.
    assert re.search(r"^1\s+6\s+0\s", proc.stdout, re.M) and re.search(r"^4\s+6\s+0\s",
                                                                        proc.stdout, re.M)


def test_chat_endpoint_and_model_from_models_list(server, tmp_path):
    proc, report = run_bench(server.base, "--endpoint", "/chat/completions", "--num-prompts", "4",
                             "--concurrency", "2", tmp_path=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert report["model_id"] == "bench-demo"
    run = report["runs"][0]
    assert run["completed"] == 4 and run["total_output_tokens"] == 4 * OUT_LEN
    # Random words plus the chat template: at least one prompt token per word.
    assert run["total_input_tokens"] >= 4 * IN_LEN
    assert 0 < run["median_ttft_ms"] <= run["median_e2el_ms"]


def test_poisson_arrivals(server, tmp_path):
    proc, report = run_bench(server.base, "--request-rate", "50", "--concurrency", "8",
                             "--num-prompts", "5", "--seed", "9", tmp_path=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run = report["runs"][0]
    assert run["request_rate"] == 50 and run["completed"] == 5
    assert "Request rate configured (RPS):           50.00" in proc.stdout


def test_failed_requests_are_counted_with_the_first_error(server, tmp_path):
    # 600 output tokens exceed the model's 512-token context: every request gets a 400.
    proc, report = run_bench(server.base, "--num-prompts", "3", "--output-len", "600",
                             tmp_path=tmp_path)
    assert proc.returncode == 1
    run = report["runs"][0]
    assert run["completed"] == 0 and run["failed"] == 3 and run["num_prompts"] == 3
    assert run["first_error"].startswith("request 0: HTTP 400")
    assert "context_length_exceeded" in run["first_error"]
    assert run["total_output_tokens"] == 0 and run["request_throughput"] == 0
    assert "Failed requests:                         3" in proc.stdout
    assert "First error: request 0: HTTP 400" in proc.stdout


def test_unreachable_server_fails_cleanly(tmp_path):
    proc, report = run_bench("http://127.0.0.1:1", "--model", "m", "--num-prompts", "2",
                             tmp_path=tmp_path)
    assert proc.returncode == 1
    assert report["runs"][0]["failed"] == 2
    assert "connect" in report["runs"][0]["first_error"].lower()


def test_api_key_and_headers(bench_model, tmp_path):
    s = BerthServer(bench_model, "--max-num-seqs", "8", "--api-key", "bench-secret", ready_timeout=120)
    try:
        proc, report = run_bench(s.base, "--model", "bench-demo", "--num-prompts", "2",
                                 tmp_path=tmp_path)
        assert proc.returncode == 1 and "HTTP 401" in report["runs"][0]["first_error"]
        proc, report = run_bench(s.base, "--num-prompts", "2",
                                 env_extra={"BERTH_API_KEY": "bench-secret"}, tmp_path=tmp_path)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert report["runs"][0]["completed"] == 2
        proc, report = run_bench(s.base, "--model", "bench-demo", "--num-prompts", "2",
                                 "--header", "Authorization: Bearer bench-secret",
                                 tmp_path=tmp_path)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    finally:
        s.stop()


@pytest.mark.parametrize("args, message", [
    ([], "--base-url is required"),
    (["--base-url", "ftp://x"], "an http:// or https:// URL"),
    (["--base-url", "http://x/v1", "--endpoint", "/embeddings"], "/completions or /chat/completions"),
    (["--base-url", "http://x/v1", "--concurrency", "1,0"], "positive integers"),
    (["--base-url", "http://x/v1", "--request-rate", "-2"], "a positive number of requests/s"),
    (["--base-url", "http://x/v1", "--header", "novalue"], "NAME:VALUE"),
])
def test_bad_options_name_the_flag(args, message):
    need(BENCH, "berth-bench (build the project first)")
    proc = subprocess.run([str(BENCH), *args], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2
    assert message in proc.stderr


def test_help():
    need(BENCH, "berth-bench (build the project first)")
    proc = subprocess.run([str(BENCH), "--help"], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0
    for flag in ("--base-url", "--endpoint", "--concurrency", "--num-prompts", "--input-len",
                 "--output-len", "--request-rate", "--seed", "--api-key", "--header",
                 "--result-json", "--timeout"):
        assert flag in proc.stdout
