"""berth's own connection layer (server/http/http_conn.c, http_loop.c), over raw sockets against the
fake server: every request of a connection is parsed by berth, so a kept-alive or pipelined second
request with a NUL, obs-fold or a bare LF is a 400 and a close, over plain HTTP and TLS; the errors
a generic HTTP library used to write itself (bad Content-Length, chunk syntax and size, HTTP
version, URI length, not HTTP at all) are OpenAI envelopes; pipelined requests are answered in
order; a client that leaves a deferred answer is cancelled; and 1,000 slow bodies plus 1,000 idle
kept-alive connections add only a handful of threads while /health answers within 100 ms."""
import json
import re
import os
import resource
import socket
import ssl
import time

import httpx
import pytest

from raw_http import read_all
from test_http_framing import envelope
from test_tls import make_ca_and_cert

GOOD = b"GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n"
BAD_SECOND = {
    "NUL": b"GET /v1/models HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n",
    "obs-fold": b"GET /v1/models HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n",
    "bare LF": b"GET /v1/models HTTP/1.1\nHost: x\n\n",
}


def statuses(data):
    """The status of every answer in data, answers back to back (pipelined) included."""
    return [int(m) for m in re.findall(rb"HTTP/1\.1 (\d{3}) ", data)]


def read_one(s):
    """One complete answer with a Content-Length body."""
    data = b""
    while b"\r\n\r\n" not in data:
        d = s.recv(65536)
        assert d, data
        data += d
    head, body = data.split(b"\r\n\r\n", 1)
    n = int([h.split(b":")[1] for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")][0])
    while len(body) < n:
        body += s.recv(65536)
    return head, body


@pytest.fixture
def tls_server(start_server, tmp_path):
    ca, cert, key = make_ca_and_cert(str(tmp_path))
    s = start_server("--tls-cert", cert, "--tls-key", key, scheme="https")
    ctx = ssl.create_default_context(cafile=ca)
    return s, ctx


def connect(server, ctx=None):
    s = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    return ctx.wrap_socket(s, server_hostname="localhost") if ctx else s


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
@pytest.mark.parametrize("bad", list(BAD_SECOND))
def test_kept_alive_second_request_is_checked(start_server, tls_server, tls, bad):
    server, ctx = tls_server if tls else (start_server(), None)
    with connect(server, ctx) as s:
        s.sendall(GOOD)
        head, body = read_one(s)
        assert head.startswith(b"HTTP/1.1 200") and json.loads(body)["object"] == "list"
        s.sendall(BAD_SECOND[bad])
        data, closed = read_all(s)
    assert statuses(data) == [400], data[:300]
    assert envelope(data)["code"] == "bad_framing" and b"Connection: close" in data
    assert closed


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
@pytest.mark.parametrize("bad", list(BAD_SECOND))
def test_pipelined_second_request_is_checked(start_server, tls_server, tls, bad):
    server, ctx = tls_server if tls else (start_server(), None)
    with connect(server, ctx) as s:
        s.sendall(GOOD + BAD_SECOND[bad] + GOOD)
        data, closed = read_all(s)
    assert statuses(data) == [200, 400], data[:400]
    assert closed


def test_pipelined_requests_are_answered_in_order(start_server):
    s = start_server("--delay-ms", "20")
    chat = b'{"messages":[{"role":"user","content":"a b c"}]}'
    slow = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % len(chat) + chat)
    ping = b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n"
    last = b"GET /v1/models HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    with connect(s) as c:
        c.sendall(slow + ping + slow + ping + last)  # the slow ones finish after the pings would
        data, closed = read_all(c, 10)
    assert statuses(data) == [200] * 5 and closed, data[:500]
    pos, start = [], 0
    for marker in (b'"chat.completion"', b"\r\n\r\n", b'"chat.completion"', b"\r\n\r\n",
                   b'"object":"list"'):
        start = data.find(marker, start + 1)
        pos.append(start)
    assert -1 not in pos and pos == sorted(pos), data[:800]


FORMERLY_LIBRARY = {
    "Content-Length -1": (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400, "bad_framing"),
    "Content-Length +5": (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\nhello", 400, "bad_framing"),
    "Content-Length 5, 5": (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 5\r\n\r\nhello", 400, "bad_framing"),
    "Content-Length overflow": (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n", 400, "bad_framing"),
    "chunk size too large": (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffffff\r\n", 413, "request_too_large"),
    "malformed chunk size": (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400, "bad_framing"),
    "chunk data without CRLF": (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXY", 400, "bad_framing"),
    "HTTP/2.0 request line": (b"GET /v1/models HTTP/2.0\r\nHost: x\r\n\r\n", 505, "http_version_not_supported"),
    "HTTP/1.2 request line": (b"GET /v1/models HTTP/1.2\r\nHost: x\r\n\r\n", 505, "http_version_not_supported"),
    "URI too long": (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414, "uri_too_long"),
    "a TLS hello on the plain port": (b"\x16\x03\x01\x02\x05\x01\x02\xfc\x03\x03", 400, "bad_request"),
    "an SSH banner": (b"SSH-2.0-OpenSSH_9.2p1\r\n", 400, "bad_request"),
    "no version": (b"GET /v1/models\r\nHost: x\r\n\r\n", 400, "bad_request"),
}


@pytest.mark.parametrize("case", list(FORMERLY_LIBRARY))
def test_every_framing_error_is_an_envelope(start_server, case):
    s = start_server()
    raw, status, code = FORMERLY_LIBRARY[case]
    t0 = time.monotonic()
    with connect(s) as c:
        c.sendall(raw)
        data, closed = read_all(c)
    assert statuses(data) == [status], data[:300]
    assert envelope(data)["code"] == code
    assert b"Content-Type: application/json" in data and b"<html" not in data.lower()
    assert b"Connection: close" in data and closed
    assert time.monotonic() - t0 < 2.0


def test_half_closed_client_of_a_deferred_answer_is_cancelled(start_server):
    s = start_server("--delay-ms", "50")
    long = " ".join(f"w{i}" for i in range(200))
    body = json.dumps({"messages": [{"role": "user", "content": long}]}).encode()
    with connect(s) as c:
        c.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")  # a kept-alive first request
        read_one(c)
        c.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
                  % len(body) + body)
        deadline = time.monotonic() + 5
        while s.debug()["started"] < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        c.shutdown(socket.SHUT_WR)
        deadline = time.monotonic() + 5
        while s.debug()["cancelled"] < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
    assert s.debug()["cancelled"] == 1, s.debug()


def threads(pid):
    return len(os.listdir(f"/proc/{pid}/task"))


def test_slow_bodies_and_idle_connections_hold_no_threads(start_server):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 4500:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))
    s = start_server("--header-timeout", "60", "--idle-timeout", "120", "--min-body-rate", "1")
    before = threads(s.proc.pid)
    held = []
    try:
        for _ in range(1000):  # a body announced, one byte of it sent
            c = socket.create_connection(("127.0.0.1", s.port), timeout=5)
            c.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
            held.append(c)
        for _ in range(1000):  # answered once, then kept alive and silent
            c = socket.create_connection(("127.0.0.1", s.port), timeout=5)
            c.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
            held.append(c)
        for c in held[1000:]:
            assert b" 200 " in c.recv(4096)
        during = threads(s.proc.pid)
        worst = 0.0
        with httpx.Client(timeout=5) as client:
            for _ in range(20):
                t0 = time.monotonic()
                assert client.get(s.base + "/health").status_code == 200
                worst = max(worst, time.monotonic() - t0)
        assert worst < 0.1, f"/health took {worst * 1000:.0f} ms with 2,000 connections held"
    finally:
        for c in held:
            c.close()
    assert during - before < 10, (before, during)
