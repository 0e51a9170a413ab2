"""The README's first command: tools/demo.sh sets up, builds and serves SmolLM2 (a real model: the first
chat answers in English), or makes a random-weight model in a directory that does not exist yet."""
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_demo(*args, question="Hello", max_tokens=4):
    """Runs tools/demo.sh ARGS until /health answers, asks one chat question, returns the answer."""
    port = free_port()
    env = dict(os.environ, BERTH_PORT=str(port), BERTH_HOST="127.0.0.1")
    proc = subprocess.Popen(["bash", str(ROOT / "tools" / "demo.sh"), *map(str, args)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.time() + 900
        ready = False
        while time.time() < deadline and proc.poll() is None:
            try:
                ready = httpx.get(base + "/health", timeout=5).status_code == 200
            except httpx.TransportError:
                ready = False
            if ready:
                break
            time.sleep(1)
        assert ready, "demo did not come up:\n" + (proc.stdout.read() if proc.poll() is not None else "")
        r = httpx.post(base + "/v1/chat/completions", timeout=120,
                       json={"model": "", "messages": [{"role": "user", "content": question}],
                             "max_tokens": max_tokens, "temperature": 0})
        assert r.status_code == 200, r.text
        assert r.json()["usage"]["completion_tokens"] >= 1
        return r.json()["choices"][0]["message"]["content"]
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass  # the demo already exited; the assertions above say why
        proc.wait(60)


def test_demo_script_serves_a_random_model_in_a_new_directory(tmp_path):
    run_demo(tmp_path / "demo-model")


def test_demo_script_serves_smollm2_by_default():
    answer = run_demo(question="What is the capital of France?", max_tokens=32)
    assert "Paris" in answer, answer
