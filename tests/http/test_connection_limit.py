"""The connection limit (one thread per connection): past it new connections are refused while the
held ones keep streaming; once they finish, new clients are served again. IPv6 hosts bind too."""
import socket

import httpx
import pytest

from http_fake_server import wait_for

LONG = " ".join(f"w{i}" for i in range(40))


def open_stream(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    body = ('{"messages":[{"role":"user","content":"%s"}],"stream":true}' % LONG).encode()
    s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: "
              + str(len(body)).encode() + b"\r\n\r\n" + body)
    assert b"200 OK" in s.recv(4096)
    return s


def test_limit_refuses_then_recovers(start_server):
    s = start_server("--connection-limit", "2", "--delay-ms", "50")
    held = [open_stream(s.port), open_stream(s.port)]
    with pytest.raises(httpx.TransportError):
        httpx.get(s.base + "/ping", timeout=3)
    for h in held:
        h.close()
    assert wait_for(lambda: ping(s), timeout=10)


def ping(s):
    try:
        return httpx.get(s.base + "/ping", timeout=3).status_code == 200
    except httpx.TransportError:
        return False


def test_ipv6_host(start_server):
    s = start_server("--host", "::1")
    r = httpx.get(f"http://[::1]:{s.port}/v1/models")
    assert r.status_code == 200
