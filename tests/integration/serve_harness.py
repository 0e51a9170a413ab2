"""Fixtures of the berth serve integration tests: the real `berth serve` (tests/support/
berth_process.py) on a demo model (random weights, Qwen3 tokenizer from ../shared) made once per
test session. A missing binary or missing shared data fails the tests, never skips them."""
import httpx
import pytest

# BerthServer and wait_for are re-exported for the tests
from berth_process import BerthServer, make_demo_model, wait_for  # noqa: F401


@pytest.fixture(scope="session")
def demo_model(tmp_path_factory):
    return make_demo_model(tmp_path_factory.mktemp("models") / "demo", seed=7, max_pos=1024)


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


# One client for the tests' plain requests: generous timeouts, since a loaded 2-core machine can be
# slow, and a connection pool shared safely across the tests' threads.
http = httpx.Client(timeout=120)
