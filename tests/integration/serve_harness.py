"""The berth serve test harness: runs the real `berth serve` on a demo model (random weights, Qwen3
tokenizer from ../shared) made once per test session by berth-make-model. A missing binary or
missing shared data fails the tests, never skips them."""
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
SHARED = Path(os.environ.get("BERTH_SHARED_DIR", ROOT.parent / "shared"))
TOKENIZER = SHARED / "data" / "qwen3-tokenizer"


def _need(path, what):
    if not path.exists():
        pytest.fail(f"{what} is missing: {path}")


@pytest.fixture(scope="session")
def demo_model(tmp_path_factory):
    _need(MAKE_MODEL, "berth-make-model (build the project first)")
    _need(TOKENIZER, "the shared Qwen3 tokenizer")
    out = tmp_path_factory.mktemp("models") / "demo"
    subprocess.run([str(MAKE_MODEL), "--preset", "demo", "--layers", "2", "--seed", "7",
                    "--max-pos", "1024",
                    "--tokenizer", str(TOKENIZER), "--out", str(out)],
                   check=True, capture_output=True, text=True)
    return out


class BerthServer:
    """`berth serve` on a free port; stderr is collected so tests can check what was logged."""

    def __init__(self, model, *args):
        _need(BERTH, "the berth binary (build the project first)")
        self.proc = subprocess.Popen(
            [str(BERTH), "serve", "--model", str(model), "--host", "127.0.0.1", "--port", "0",
             "--kv-cache-memory", str(64 << 20), *map(str, args)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.log = []
        self.port = None
        ready = threading.Event()

        def read():
            for line in self.proc.stderr:
                self.log.append(line)
                m = re.search(r"listening on https?://[^:]+:(\d+)", line)
                if m:
                    self.port = int(m.group(1))
                if "ready in" in line:
                    ready.set()
            ready.set()

        self.reader = threading.Thread(target=read, daemon=True)
        self.reader.start()
        if not ready.wait(60) or self.port is None or self.proc.poll() is not None:
            self.proc.kill()
            pytest.fail("berth serve did not become ready:\n" + "".join(self.log))
        self.base = f"http://127.0.0.1:{self.port}"
        self.v1 = self.base + "/v1"

    def metrics(self):
        text = httpx.get(self.base + "/metrics", timeout=10).text
        out = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                out[name] = float(value)
        return out

    def gauge(self, name):
        for key, value in self.metrics().items():
            if key.startswith(name + "{"):
                return value
        raise KeyError(name)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                pytest.fail("berth serve did not stop within 30 s of SIGTERM")
            assert rc == 0, "berth serve exited %d:\n%s" % (rc, "".join(self.log))
        self.reader.join(5)


@pytest.fixture(scope="module")
def server(demo_model):
    s = BerthServer(demo_model, "--max-num-seqs", "16", "--max-num-batched-tokens", "256")
    yield s
    s.stop()


@pytest.fixture
def start_server(demo_model):
    started = []

    def start(*args):
        s = BerthServer(demo_model, *args)
        started.append(s)
        return s

    yield start
    for s in started:
        s.stop()


def wait_for(pred, timeout=10.0):
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return True
        time.sleep(0.05)
    return False


# One client for the tests' plain requests: generous timeouts, since a loaded 2-core machine can be
# slow, and a connection pool shared safely across the tests' threads.
http = httpx.Client(timeout=120)
