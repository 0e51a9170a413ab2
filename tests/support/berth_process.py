"""Running the real `berth serve` in Python tests: where the built binaries and the shared data are,
a demo model (random weights, Qwen3 architecture, the shared Qwen3 tokenizer) made by
berth-make-model, and a server process on a free port whose stderr is collected so tests can read
what it logged. A missing binary or missing shared data fails the tests, never skips them.

tests/conftest.py puts this folder on sys.path; the folders' own harnesses (serve_harness.py,
auth_harness.py, tests/bench) build their fixtures from it."""
import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("BERTH_BUILD_DIR", ROOT / "build"))
BERTH = BUILD / "server" / "cli" / "berth"
MAKE_MODEL = BUILD / "tools" / "make_model" / "berth-make-model"
BENCH = BUILD / "tools" / "bench" / "berth-bench"
SHARED = Path(os.environ.get("BERTH_SHARED_DIR", ROOT.parent / "shared"))
TOKENIZER = SHARED / "data" / "qwen3-tokenizer"


def need(path, what):
    if not path.exists():
        pytest.fail(f"{what} is missing: {path}")


def make_demo_model(out, seed, max_pos):
    """A 2-layer demo checkpoint in `out` (a new folder) with the shared Qwen3 tokenizer."""
    need(MAKE_MODEL, "berth-make-model (build the project first)")
    need(TOKENIZER, "the shared Qwen3 tokenizer")
    subprocess.run([str(MAKE_MODEL), "--preset", "demo", "--layers", "2", "--seed", str(seed),
                    "--max-pos", str(max_pos), "--tokenizer", str(TOKENIZER), "--out", str(out)],
                   check=True, capture_output=True, text=True)
    return out


def wait_for(pred, timeout=10.0):
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return True
        time.sleep(0.05)
    return False


def parse_metrics(text):
    """Prometheus text exposition → {"name{labels}": value}."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


class BerthServer:
    """`berth serve --model MODEL --host 127.0.0.1 --port 0 ARGS...` with a 64 MiB KV cache (none
    given with kv_cache_memory=None: berth's defaults), ready once it logs "ready in"; `log` holds its
    stderr lines."""

    def __init__(self, model, *args, env=None, ready_timeout=60, kv_cache_memory=64 << 20):
        need(BERTH, "the berth binary (build the project first)")
        kv = [] if kv_cache_memory is None else ["--kv-cache-memory", str(kv_cache_memory)]
        self.proc = subprocess.Popen(
            [str(BERTH), "serve", "--model", str(model), "--host", "127.0.0.1", "--port", "0",
             *kv, *map(str, args)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
        self.log = []
        self.port = None
        self.scheme = "http"
        ready = threading.Event()

        def read():
            for line in self.proc.stderr:
                self.log.append(line)
                m = re.search(r"listening on (https?)://[^:]+:(\d+)", line)
                if m:
                    self.scheme, self.port = m.group(1), int(m.group(2))
                if "ready in" in line:
                    ready.set()
            ready.set()

        self.reader = threading.Thread(target=read, daemon=True)
        self.reader.start()
        if not ready.wait(ready_timeout) or self.port is None or self.proc.poll() is not None:
            self.proc.kill()
            pytest.fail("berth serve did not become ready:\n" + self.text())
        self.base = f"{self.scheme}://127.0.0.1:{self.port}"
        self.v1 = self.base + "/v1"

    def text(self):
        return "".join(self.log)

    def metrics(self):
        return parse_metrics(httpx.get(self.base + "/metrics", timeout=60).text)

    def gauge(self, name):
        for key, value in self.metrics().items():
            if key.startswith(name + "{"):
                return value
        raise KeyError(name)

    def stop(self, timeout=30):
        """SIGTERM; the server must exit 0 within `timeout` s (an ASan build's leak report fails)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                pytest.fail(f"berth serve did not stop within {timeout} s of SIGTERM")
            assert rc == 0, "berth serve exited %d:\n%s" % (rc, self.text())
        self.reader.join(5)
