"""Runs tests/http/fake_openai_server (from $BERTH_BUILD_DIR, default /work/main/build) for the
HTTP-layer tests. A missing binary fails the tests; the server must exit 0 on SIGTERM (so an ASan
build reports leaks as a failure)."""
import os
import signal
import subprocess

import httpx
import pytest

from berth_process import wait_for  # noqa: F401  (re-exported for the tests)

BUILD = os.environ.get("BERTH_BUILD_DIR", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "build"))
BINARY = os.path.join(BUILD, "tests", "http", "fake_openai_server")


class FakeServer:
    def __init__(self, args, scheme="http"):
        if not os.path.exists(BINARY):
            pytest.fail(f"{BINARY} is missing: build the fake_openai_server target first")
        self.proc = subprocess.Popen([BINARY, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("listening on "):
            self.proc.kill()
            pytest.fail(f"fake server did not start: {line!r} {self.proc.stderr.read()}")
        self.port = int(line.split()[-1])
        self.base = f"{scheme}://127.0.0.1:{self.port}"

    def debug(self):
        return httpx.get(f"http://127.0.0.1:{self.port}/debug", timeout=5).json()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            pytest.fail("fake server did not stop within 20 s of SIGTERM")
        err = self.proc.stderr.read()
        assert rc == 0, f"fake server exited {rc}: {err}"

