"""The README's first command: tools/demo.sh sets up, builds, makes the demo model and serves it."""
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


def test_demo_script_serves_chat(tmp_path):
    port = free_port()
    env = dict(os.environ, BERTH_PORT=str(port), BERTH_HOST="127.0.0.1")
    model = tmp_path / "demo-model"
    proc = subprocess.Popen(["bash", str(ROOT / "tools" / "demo.sh"), str(model)], env=env,
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
                       json={"model": "", "messages": [{"role": "user", "content": "Hello"}], "max_tokens": 4})
        assert r.status_code == 200, r.text
        assert r.json()["usage"]["completion_tokens"] >= 1
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass  # the demo already exited; the assertions above say why
        proc.wait(60)
