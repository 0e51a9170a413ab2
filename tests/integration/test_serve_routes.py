"""Health, models, version, metrics, tokenize/detokenize and SageMaker paths on the real server."""
import os

import httpx

from serve_harness import http


def test_health_and_ping(server):
    assert http.get(server.base + "/health").status_code == 200
    assert http.get(server.base + "/ping").status_code == 200


def http_threads(pid):
    """The names of the server's HTTP threads (berth-http-io, -wk, -mgr), from /proc."""
    task = f"/proc/{pid}/task"
    names = []
    for t in os.listdir(task):
        try:
            with open(f"{task}/{t}/comm") as f:
                names.append(f.read().strip())
        except FileNotFoundError:  # a thread that exited meanwhile
            pass
    return sorted(n for n in names if n.startswith("berth-http"))


def test_cheap_routes_run_on_the_io_thread(start_server):
    """/ping, /health, /version and /v1/models are inline routes: hundreds of them start no HTTP
    worker, while the first request to a route that may block (/metrics) does."""
    s = start_server()
    with httpx.Client(timeout=60) as c:
        for _ in range(50):
            for path in ("/ping", "/health", "/version", "/v1/models"):
                r = c.get(s.base + path)
                assert r.status_code == 200, (path, r.text)
        assert http_threads(s.proc.pid) == ["berth-http-io"]
        assert c.get(s.base + "/metrics").status_code == 200
    assert "berth-http-wk" in http_threads(s.proc.pid)


def test_models_names_the_served_model(server):
    body = http.get(server.v1 + "/models").json()
    assert body["object"] == "list"
    assert [m["id"] for m in body["data"]] == ["demo"]
    assert body["data"][0]["object"] == "model"


def test_version(server):
    assert "version" in http.get(server.base + "/version").json()


def test_sagemaker_paths(server):
    ok = http.get(server.base + "/endpoints/berth/openai/v1/models")
    assert ok.status_code == 200
    ic = http.post(server.base + "/endpoints/berth/inference-components/ic1/openai/v1/chat/completions",
                    json={"messages": [{"role": "user", "content": "hi"}], "max_tokens": 2})
    assert ic.status_code == 200, ic.text
    missing = http.get(server.base + "/endpoints/nope/openai/v1/models")
    assert missing.status_code == 404
    assert set(missing.json()["error"]) == {"message", "type", "param", "code"}


def test_invocations_dispatches_on_body(server):
    chat = http.post(server.base + "/invocations",
                      json={"messages": [{"role": "user", "content": "hi"}], "max_tokens": 3})
    assert chat.status_code == 200 and chat.json()["object"] == "chat.completion"
    comp = http.post(server.base + "/invocations", json={"prompt": "Hello", "max_tokens": 3})
    assert comp.status_code == 200 and comp.json()["object"] == "text_completion"
    bad = http.post(server.base + "/invocations", json={"neither": 1})
    assert bad.status_code == 400


def test_tokenize_roundtrip(server):
    text = "Hello, world! 你好"
    tok = http.post(server.base + "/tokenize", json={"prompt": text}).json()
    assert tok["count"] == len(tok["tokens"]) > 0
    back = http.post(server.base + "/detokenize", json={"tokens": tok["tokens"]}).json()
    assert back["prompt"] == text
    assert http.post(server.base + "/detokenize", json={"tokens": [-1]}).status_code == 400


def test_tokenize_messages_uses_the_chat_template(server):
    tok = http.post(server.base + "/tokenize",
                     json={"messages": [{"role": "user", "content": "hi"}]}).json()
    text = http.post(server.base + "/detokenize", json={"tokens": tok["tokens"]}).json()["prompt"]
    assert text == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"


def test_metrics_exposes_engine_and_latency(server):
    http.post(server.v1 + "/completions", json={"prompt": "Hi", "max_tokens": 4})
    m = server.metrics()
    names = {k.split("{")[0] for k in m}
    for want in ["berth_requests_total", "berth_num_requests_running", "berth_num_requests_waiting",
                 "berth_kv_cache_blocks_used", "berth_kv_cache_blocks_total", "berth_prompt_tokens_total",
                 "berth_generation_tokens_total", "berth_time_to_first_token_seconds_bucket",
                 "berth_inter_token_latency_seconds_bucket", "berth_num_preemptions_total",
                 "berth_graph_steps_total"]:
        assert want in names, want
    assert server.gauge("berth_generation_tokens_total") >= 4
    assert server.gauge("berth_graph_steps_total") == 0  # the CPU backend has no graphs
    assert server.gauge("berth_kv_cache_blocks_total") > 0
