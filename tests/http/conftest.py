"""Fixtures for the HTTP-layer tests: start_server(*args) runs the fake server and stops it (checking
its exit status) after the test; server is one with the endpoint "my-endpoint"."""
import pytest

from http_fake_server import FakeServer


@pytest.fixture
def start_server():
    servers = []

    def start(*args, scheme="http"):
        s = FakeServer([str(a) for a in args], scheme)
        servers.append(s)
        return s

    yield start
    for s in servers:
        s.stop()


@pytest.fixture
def server(start_server):
    return start_server("--endpoint", "my-endpoint", "--delay-ms", "5")

