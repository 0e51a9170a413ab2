"""`berth serve --config`: an endpoint with two inference components of two model families (the
Qwen3 demo model and SmolLM2, a real Llama-family GGUF), each a supervised worker process behind the
router. Concurrent streams through all three routing forms, per-component /metrics, unknown
components, configuration errors, and SIGKILL of one worker mid-stream: its clients get an error,
the other component's streams are byte-identical to an undisturbed run, and the supervisor restores
the killed worker, which serves again."""
import json
import os
import re
import signal
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from berth_process import BERTH, need, parse_metrics, wait_for

ROOT = Path(__file__).resolve().parents[2]
SMOL = ROOT / ".cache" / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"
ENDPOINT = "my-ep"


class BerthRouter:
    """`berth serve --config FILE --host 127.0.0.1 --port 0`, ready once /health answers 200."""

    def __init__(self, config_path, *args, ready_timeout=120, verify=True):
        self.verify = verify
        need(BERTH, "the berth binary (build the project first)")
        self.proc = subprocess.Popen(
            [str(BERTH), "serve", "--config", str(config_path), "--host", "127.0.0.1", "--port", "0",
             *map(str, args)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.log = []
        self.port = None
        got_port = threading.Event()

        def read():
            for line in self.proc.stderr:
                self.log.append(line)
                m = re.search(r"router listening on (https?)://[^:]+:(\d+)", line)
                if m:
                    self.scheme, self.port = m.group(1), int(m.group(2))
                    got_port.set()
            got_port.set()

        self.reader = threading.Thread(target=read, daemon=True)
        self.reader.start()
        if not got_port.wait(30) or self.port is None:
            self.proc.kill()
            pytest.fail("berth serve --config did not start:\n" + self.text())
        self.base = f"{self.scheme}://127.0.0.1:{self.port}"
        if not wait_for(lambda: self.get("/health").status_code == 200, ready_timeout):
            self.stop_now()
            pytest.fail("the components did not become ready:\n" + self.text())

    def text(self):
        return "".join(self.log)

    def get(self, path):
        return httpx.get(self.base + path, timeout=60, verify=self.verify)

    def component(self, name):
        return self.get(f"/endpoints/{ENDPOINT}/inference-components/{name}/health").json()

    def metrics(self):
        return parse_metrics(self.get("/metrics").text)

    def stop_now(self):
        self.proc.kill()
        self.proc.wait()
        self.reader.join(5)
        # Captured, so shown only when the test fails: a failure that surfaces as a client error
        # (a reset connection, say) still comes with the router's own account of it.
        print(f"router exit status {self.proc.returncode}; its log:\n{self.text()}")

    def stop(self, timeout=30):
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop_now()
            pytest.fail(f"the router did not stop within {timeout} s of SIGTERM")
        self.reader.join(5)
        assert rc == 0, f"the router exited {rc}:\n{self.text()}"


def write_config(path, components, endpoint=ENDPOINT):
    path.write_text(json.dumps({"endpoint": endpoint, "backend": "cpu", "components": components}))
    return path


@pytest.fixture(scope="module")
def two_components(demo_model, tmp_path_factory):
    need(SMOL, "SmolLM2 GGUF (tools/fetch_data.sh)")
    cfg = write_config(tmp_path_factory.mktemp("components") / "endpoint.json", [
        {"name": "qwen", "model": str(demo_model), "kv_cache_tokens": 8192, "threads": 1,
         "max_num_seqs": 16, "memory_mib": 1024},
        {"name": "smol", "model": str(SMOL), "kv_cache_tokens": 4096, "threads": 1, "max_model_len": 1024,
         "max_num_seqs": 16, "memory_mib": 1024},
    ])
    r = BerthRouter(cfg)
    yield r
    r.stop()


def chat_body(model=None, content="Say hello", max_tokens=12, **extra):
    body = {"messages": [{"role": "user", "content": content}], "max_tokens": max_tokens,
            "temperature": 0, "stream": True, **extra}
    if model is not None:
        body["model"] = model
    return body


def stream(url, body, headers=None, on_first=None):
    """POSTs and reads the SSE answer whole; returns (status, raw text)."""
    out = []
    with httpx.stream("POST", url, json=body, headers=headers or {}, timeout=300) as r:
        for chunk in r.iter_text():
            if on_first and not out:
                on_first()
            out.append(chunk)
        return r.status_code, "".join(out)


def events(raw):
    return [line[6:] for line in raw.split("\n") if line.startswith("data: ")]


def normalized(raw):
    """The SSE bytes without what differs between two runs of the same generation: id, created, and
    the keep-alive comments a slow machine (a sanitizer build) adds while a token takes long."""
    raw = raw.replace(": keep-alive\n\n", "")
    return re.sub(r'"created":\d+', '"created":0', re.sub(r'"id":"[^"]*"', '"id":""', raw))


def content_of(raw):
    text = ""
    for e in events(raw):
        if e != "[DONE]":
            choice = json.loads(e)["choices"][0]
            text += choice["delta"].get("content") or ""
    return text


def url_for(router, form, name):
    """The three routing forms: the SageMaker component path, /invocations + header, /v1 + model."""
    if form == "path":
        return router.base + f"/endpoints/{ENDPOINT}/inference-components/{name}/openai/v1/chat/completions", {}, None
    if form == "invocations":
        return router.base + "/invocations", {"X-Amzn-SageMaker-Inference-Component": name}, None
    return router.base + "/v1/chat/completions", {}, name


def test_concurrent_streams_through_all_three_routing_forms(two_components):
    r = two_components
    before = r.metrics()
    jobs = []
    for name in ("qwen", "smol"):
        for form in ("path", "invocations", "model"):
            for _ in range(2):
                url, headers, model = url_for(r, form, name)
                jobs.append((name, url, headers, chat_body(model, ignore_eos=True)))
    with ThreadPoolExecutor(len(jobs)) as pool:
        results = list(pool.map(lambda j: (j[0],) + stream(j[1], j[3], j[2]), jobs))
    by_component = {}
    for name, status, raw in results:
        assert status == 200, raw
        evs = events(raw)
        assert evs[-1] == "[DONE]", raw
        assert json.loads(evs[0])["model"] == name  # the worker that answered is that component's
        by_component.setdefault(name, set()).add(normalized(raw))
    # greedy: every routing form of a component gives the same bytes (ids and times aside), and the
    # two components (two model families) differ
    assert len(by_component["qwen"]) == 1 and len(by_component["smol"]) == 1
    assert by_component["qwen"] != by_component["smol"]
    after = r.metrics()
    for name in ("qwen", "smol"):
        key = f'berth_component_requests_total{{component="{name}",code="200"}}'
        assert after[key] - before.get(key, 0) == 6, after
        assert after[f'berth_component_requests_in_flight{{component="{name}"}}'] == 0
        # the workers' own engine metrics, one copy label per worker
        assert after[f'berth_kv_cache_blocks_total{{model_name="{name}",copy="0"}}'] > 0
        tokens = f'berth_generation_tokens_total{{model_name="{name}",copy="0"}}'
        assert after[tokens] - before.get(tokens, 0) == 6 * 12
    # one TYPE line per metric family, as the exposition format requires
    types = [line.split()[2] for line in r.get("/metrics").text.splitlines() if line.startswith("# TYPE")]
    assert len(types) == len(set(types)), types


def test_models_health_and_unknown_components(two_components):
    r = two_components
    ids = [m["id"] for m in r.get("/v1/models").json()["data"]]
    assert ids == ["qwen", "smol"]
    one = r.get(f"/endpoints/{ENDPOINT}/inference-components/smol/openai/v1/models").json()["data"]
    assert [m["id"] for m in one] == ["smol"]
    assert r.get("/ping").status_code == 200
    h = r.component("qwen")
    assert h["ready_copies"] == 1 and h["copies"] == 1 and h["workers"][0]["pid"] > 0, h
    # the workers' logs, told apart
    assert "[qwen/0] berth serve: ready in" in r.text() and "[smol/0] berth serve: ready in" in r.text()

    for resp in (
        httpx.post(r.base + "/v1/chat/completions", json=chat_body("nope", stream=False), timeout=60),
        httpx.post(r.base + f"/endpoints/{ENDPOINT}/inference-components/nope/openai/v1/chat/completions",
                   json=chat_body(stream=False), timeout=60),
        httpx.post(r.base + "/invocations", json=chat_body(stream=False), timeout=60,
                   headers={"X-Amzn-SageMaker-Inference-Component": "nope"}),
        r.get(f"/endpoints/{ENDPOINT}/inference-components/nope/health"),
    ):
        assert resp.status_code == 404, resp.text
        err = resp.json()["error"]
        assert "'nope'" in err["message"] and "qwen, smol" in err["message"], err
    resp = httpx.post(r.base + "/invocations", json=chat_body(stream=False), timeout=60)
    assert resp.status_code == 400 and "X-Amzn-SageMaker-Inference-Component" in resp.text
    resp = httpx.post(r.base + "/v1/chat/completions", json=chat_body(stream=False), timeout=60)
    assert resp.status_code == 400 and resp.json()["error"]["param"] == "model"
    # the worker's own validation comes back unchanged
    resp = httpx.post(r.base + "/v1/chat/completions", json={"model": "smol", "messages": []}, timeout=60)
    assert resp.status_code == 400 and resp.json()["error"]["param"] == "messages", resp.text
    # a non-streaming answer passes through whole
    resp = httpx.post(r.base + "/invocations", json={"prompt": "Hello", "max_tokens": 4, "temperature": 0},
                      headers={"X-Amzn-SageMaker-Inference-Component": "smol"}, timeout=120)
    assert resp.status_code == 200 and resp.json()["object"] == "text_completion", resp.text


def test_sigkill_of_one_worker_mid_stream(two_components):
    r = two_components
    smol_body = chat_body("smol", content="Name three colors", max_tokens=24)
    url = r.base + "/v1/chat/completions"
    # the undisturbed run
    baseline = [stream(url, smol_body)[1] for _ in range(2)]
    assert normalized(baseline[0]) == normalized(baseline[1])
    expected = normalized(baseline[0])

    restarts = r.metrics()['berth_component_restarts_total{component="qwen"}']
    pid = r.component("qwen")["workers"][0]["pid"]
    started = threading.Barrier(3)

    def qwen_stream():
        return stream(url, chat_body("qwen", max_tokens=1000, ignore_eos=True),
                      on_first=lambda: started.wait(60))

    with ThreadPoolExecutor(5) as pool:
        qwen = [pool.submit(qwen_stream) for _ in range(2)]
        started.wait(60)  # both qwen streams are producing tokens
        smol_started = threading.Barrier(4)
        smol = [pool.submit(stream, url, smol_body, None, lambda: smol_started.wait(60)) for _ in range(3)]
        smol_started.wait(60)  # the other component's streams are producing tokens too
        os.kill(pid, signal.SIGKILL)
        qwen_results = [f.result() for f in qwen]
        smol_results = [f.result() for f in smol]

    for status, raw in qwen_results:
        assert status == 200  # the stream had started
        last = json.loads(events(raw)[-1])
        assert last["error"]["code"] == "worker_failed" and "'qwen'" in last["error"]["message"], raw[-500:]
        assert "[DONE]" not in events(raw)
    for status, raw in smol_results:
        assert status == 200 and normalized(raw) == expected, raw

    assert wait_for(lambda: r.component("qwen")["ready_copies"] == 1, 60), r.text()
    h = r.component("qwen")
    assert h["workers"][0]["pid"] not in (0, pid) and h["restarts"] == restarts + 1
    m = r.metrics()
    assert m['berth_component_restarts_total{component="qwen"}'] == restarts + 1
    assert m['berth_component_restarts_total{component="smol"}'] == 0
    assert m['berth_component_worker_failures_total{component="qwen"}'] >= 2
    assert m['berth_component_worker_failures_total{component="smol"}'] == 0
    assert f"worker pid {pid} killed by signal 9" in r.text()
    status, raw = stream(url, chat_body("qwen"))
    assert status == 200 and events(raw)[-1] == "[DONE]", raw


def test_copies_share_load_by_least_outstanding_behind_authentication(demo_model, tmp_path):
    cfg = write_config(tmp_path / "ep.json", [
        {"name": "qwen", "model": str(demo_model), "kv_cache_tokens": 4096, "threads": 1, "copies": 2}])
    r = BerthRouter(cfg, "--api-key", "k-123")
    auth = {"Authorization": "Bearer k-123"}
    try:
        # the router authenticates; health checks never need credentials
        assert r.get("/v1/models").status_code == 401
        assert httpx.get(r.base + "/v1/models", headers=auth, timeout=60).json()["data"][0]["id"] == "qwen"
        assert httpx.post(r.base + "/v1/chat/completions", json=chat_body(), timeout=60).status_code == 401
        comp = f"/endpoints/{ENDPOINT}/inference-components/qwen/health"
        assert r.get(comp).status_code == 401
        r.component = lambda name: httpx.get(r.base + comp.replace("qwen", name), headers=auth,
                                             timeout=60).json()
        # /health is 200 once one copy is ready; the second may still be loading
        assert wait_for(lambda: r.component("qwen")["ready_copies"] == 2, 60), r.text()
        started = threading.Barrier(3)
        body = chat_body(None, max_tokens=200, ignore_eos=True)  # one component: no model needed
        with ThreadPoolExecutor(2) as pool:
            futs = [pool.submit(stream, r.base + "/v1/chat/completions", body, auth,
                                lambda: started.wait(60)) for _ in range(2)]
            started.wait(60)
            workers = r.component("qwen")["workers"]
            assert [w["outstanding"] for w in workers] == [1, 1], workers
            for f in futs:
                assert f.result()[0] == 200
    finally:
        r.stop()


def run_config(tmp_path, config, *args):
    path = tmp_path / "ep.json"
    path.write_text(config if isinstance(config, str) else json.dumps(config))
    return subprocess.run([str(BERTH), "serve", "--config", str(path), "--port", "0", *args],
                          capture_output=True, text=True, timeout=60)


def test_configuration_errors_name_the_key(tmp_path, demo_model):
    p = run_config(tmp_path, {"components": [{"name": "a", "model": str(demo_model)},
                                             {"name": "b", "model": str(demo_model), "memory_mib": "lots"}]})
    assert p.returncode == 2 and "components[1].memory_mib: expected an integer" in p.stderr, p.stderr
    p = run_config(tmp_path, {"components": [{"name": "a", "model": "m", "max_seqs": 4}]})
    assert p.returncode == 2 and "components[0].max_seqs: unknown key" in p.stderr, p.stderr
    # shares past the machine fail before anything loads (the model path does not even exist)
    p = run_config(tmp_path, {"backend": "cpu", "components": [
        {"name": "a", "model": "/nonexistent", "memory_mib": 8 << 20, "copies": 2}]})
    assert p.returncode == 2 and "memory shares add up to 16777216 MiB" in p.stderr, p.stderr
    assert "worker pid" not in p.stderr
    p = run_config(tmp_path, {"components": [{"name": "a", "model": "m"}]}, "--max-num-seqs", "4")
    assert p.returncode == 2 and "--max-num-seqs does not go with --config" in p.stderr, p.stderr


def test_a_client_that_leaves_frees_the_worker(two_components):
    r = two_components
    with httpx.stream("POST", r.base + "/v1/chat/completions", timeout=60,
                      json=chat_body("qwen", max_tokens=1000, ignore_eos=True)) as resp:
        for _ in resp.iter_text():
            break  # one chunk, then the client hangs up
    running = 'berth_num_requests_running{model_name="qwen",copy="0"}'
    in_flight = 'berth_component_requests_in_flight{component="qwen"}'
    # the router drops its worker connection and the worker cancels the sequence
    assert wait_for(lambda: (lambda m: m[running] == 0 and m[in_flight] == 0)(r.metrics()), 15), r.metrics()


def test_a_non_streamed_client_that_leaves_frees_the_worker_at_once(two_components):
    """A non-streamed request's client leaving aborts the router's worker leg at once: the worker
    sees its client go and cancels the generation within about a second, and the copy's
    outstanding count in the router is back to 0."""
    import socket
    import time

    r = two_components
    running = 'berth_num_requests_running{model_name="qwen",copy="0"}'
    body = json.dumps(chat_body("qwen", max_tokens=1000, ignore_eos=True, stream=False)).encode()
    s = socket.create_connection(("127.0.0.1", r.port))
    s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
    assert wait_for(lambda: r.metrics()[running] == 1, 30), r.metrics()
    s.close()
    t0 = time.monotonic()
    assert wait_for(lambda: r.metrics()[running] == 0, 10), r.metrics()
    took = time.monotonic() - t0
    assert took < 1.5, f"the worker noticed the client leave after {took:.2f} s"
    assert wait_for(lambda: r.component("qwen")["workers"][0]["outstanding"] == 0, 5), r.component("qwen")
    assert r.metrics()['berth_component_requests_in_flight{component="qwen"}'] == 0


def test_router_serves_https_to_the_openai_sdk(demo_model, tmp_path):
    import openai
    import ssl

    def run(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=tmp_path)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
        "-subj", "/CN=berth test CA")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "key.pem", "-out", "server.csr", "-subj", "/CN=localhost")
    (tmp_path / "ext.cnf").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out",
        "cert.pem", "-days", "2", "-extfile", "ext.cnf")
    ctx = ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))
    cfg = write_config(tmp_path / "ep.json", [
        {"name": "qwen", "model": str(demo_model), "kv_cache_tokens": 4096, "threads": 1}])
    r = BerthRouter(cfg, "--tls-cert", tmp_path / "cert.pem", "--tls-key", tmp_path / "key.pem", verify=ctx)
    try:
        assert r.base.startswith("https://")
        client = openai.OpenAI(base_url=r.base + f"/endpoints/{ENDPOINT}/inference-components/qwen/openai/v1",
                               api_key="unused", http_client=httpx.Client(verify=ctx, timeout=120))
        chunks = list(client.chat.completions.create(model="qwen", messages=[{"role": "user", "content": "Hi"}],
                                                     max_tokens=5, temperature=0, stream=True))
        assert chunks[0].model == "qwen" and chunks[-1].choices[0].finish_reason == "length"
        with pytest.raises(httpx.ConnectError):  # an untrusted client gets no answer
            httpx.get(r.base + "/ping", timeout=10)
    finally:
        r.stop()


def test_worker_backpressure_passes_through(demo_model, tmp_path):
    """A worker's 429 reaches the client with its Retry-After, as from `berth serve` alone:
    max_num_seqs 1 and max_waiting 1 queue two requests; the third is told to come back."""
    cfg = write_config(tmp_path / "ep.json", [
        {"name": "qwen", "model": str(demo_model), "max_num_seqs": 1, "max_waiting": 1,
         "kv_cache_tokens": 4096, "threads": 1}])
    r = BerthRouter(cfg)
    try:
        url = r.base + "/v1/chat/completions"
        started = threading.Event()
        with ThreadPoolExecutor(2) as pool:
            running = pool.submit(stream, url, chat_body("qwen", max_tokens=400, ignore_eos=True),
                                  None, started.set)
            assert started.wait(60), r.text()
            queued = pool.submit(stream, url, chat_body("qwen", max_tokens=4))
            assert wait_for(lambda: 'berth_num_requests_waiting{model_name="qwen",copy="0"} 1'
                            in r.get("/metrics").text, 30), r.get("/metrics").text
            refused = httpx.post(url, json={**chat_body("qwen"), "stream": False}, timeout=60)
            assert refused.status_code == 429, refused.text
            assert refused.headers.get("retry-after") == "1", refused.headers
            assert refused.json()["error"]["type"], refused.text
            for job in (running, queued):
                try:
                    status, raw = job.result()
                except Exception as e:
                    pytest.fail(f"{e!r}\n{r.text()}")
                assert status == 200 and events(raw)[-1] == "[DONE]"
    finally:
        r.stop_now()


def test_openai_sdk_tool_loop_through_a_component(demo_model, tmp_path):
    """An agent's loop as the OpenAI SDK drives it, through the router's component path: the model
    must call the tool (tool_choice named, enforced by the worker's grammar), the client runs it and
    sends back the SDK's assistant message with content null and the tool result, and the next
    turn answers in text. Streaming and not; the router passes every byte through."""
    import openai

    cfg = write_config(tmp_path / "ep.json", [
        {"name": "qwen", "model": str(demo_model), "kv_cache_tokens": 8192, "threads": 1}])
    r = BerthRouter(cfg)
    try:
        client = openai.OpenAI(base_url=r.base + f"/endpoints/{ENDPOINT}/inference-components/qwen/openai/v1",
                               api_key="unused", timeout=120)
        tools = [{"type": "function", "function": {
            "name": "get_weather", "description": "Weather in a city", "strict": True,
            "parameters": {"type": "object", "additionalProperties": False, "required": ["city"],
                           "properties": {"city": {"type": "string", "enum": ["Paris", "Oslo"]}}}}}]
        messages = [{"role": "user", "content": "What is the weather in Paris?"}]
        first = client.chat.completions.create(
            model="qwen", messages=messages, tools=tools, max_tokens=60, temperature=0,
            tool_choice={"type": "function", "function": {"name": "get_weather"}})
        msg = first.choices[0].message
        assert first.choices[0].finish_reason == "tool_calls", first
        (call,) = msg.tool_calls
        args = json.loads(call.function.arguments)
        assert call.function.name == "get_weather" and args["city"] in ("Paris", "Oslo")
        # The assistant turn as agents send it back: the SDK's own message, content null.
        messages.append({**msg.model_dump(exclude_none=True), "content": None})
        messages.append({"role": "tool", "tool_call_id": call.id, "content": f"Sunny in {args['city']}"})

        answer = client.chat.completions.create(model="qwen", messages=messages, tools=tools,
                                                tool_choice="none", max_tokens=8, temperature=0)
        assert answer.choices[0].finish_reason == "length" and not answer.choices[0].message.tool_calls
        assert answer.usage.prompt_tokens > first.usage.prompt_tokens  # the tool turn reached the prompt

        streamed = client.chat.completions.create(model="qwen", messages=messages, tools=tools,
                                                  tool_choice="none", max_tokens=8, temperature=0, stream=True)
        text = "".join(c.choices[0].delta.content or "" for c in streamed if c.choices)
        assert text == answer.choices[0].message.content
    finally:
        r.stop()


def open_objects(pid, skip=(0, 1, 2)):
    """The sockets and pipes process pid holds open (as /proc names them), fds in skip left out."""
    out = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue  # closed meanwhile
        if int(fd) not in skip and target.startswith(("socket:", "pipe:")):
            out.add(target)
    return out


def test_workers_inherit_no_descriptor_of_the_router(demo_model, tmp_path):
    """A worker gets stdin, stdout and its stderr pipe from the router, nothing else: not the
    router's (libcurl's, not close-on-exec) connections to the other workers, which the worker would
    otherwise keep open after the router closed them. Checked on a worker restarted while the router
    holds such connections."""
    cfg = write_config(tmp_path / "ep.json", [
        {"name": "a", "model": str(demo_model), "kv_cache_tokens": 2048, "threads": 1, "copies": 2},
        {"name": "b", "model": str(demo_model), "kv_cache_tokens": 2048, "threads": 1}])
    r = BerthRouter(cfg)
    try:
        for name in ("a", "b", "a"):
            assert httpx.post(r.base + "/v1/chat/completions", timeout=120,
                              json=chat_body(name, stream=False, max_tokens=2)).status_code == 200
        r.metrics()  # the scrape connects to every ready worker
        victim = r.component("a")["workers"][0]["pid"]
        os.kill(victim, signal.SIGKILL)

        def restarted():
            w = r.component("a")["workers"]
            return len(w) == 2 and all(x["ready"] and x["pid"] != victim for x in w[:1])
        assert wait_for(restarted, 60), r.text()
        router_objects = open_objects(r.proc.pid, skip=())
        workers = [w["pid"] for name in ("a", "b") for w in r.component(name)["workers"]]
        for pid in workers:
            shared = open_objects(pid) & router_objects
            assert not shared, f"worker {pid} holds the router's {sorted(shared)}"
    finally:
        r.stop()
