"""The raw request head as berth's connection layer checks it (server/http/http_conn.c), and
connections that wait for their head held in one epoll loop (http_loop.c). Proves: a NUL in
Authorization never authenticates (the cut value would have), a head larger than 32 KiB is a 431 in
the OpenAI envelope, heads that arrive a byte at a time or with leading empty lines are served, a
body and a pipelined request after a checked head are served, 400 connections trickling their heads
add no threads to the server, and the per-address limit counts a connection from accept until it
closes."""
import json
import os
import socket
import time

import httpx

from test_http_framing import GOOD_AUTH, envelope, exchange, read_response, statuses


def test_nul_in_authorization_is_refused_not_cut(start_server):
    s = start_server("--api-key", "sekret")
    ok, _, _ = exchange(s, b"GET /v1/models HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                           b"Authorization: Bearer sekret\r\n\r\n")
    assert statuses(ok) == [200]
    bad, took, closed = exchange(s, b"GET /v1/models HTTP/1.1\r\nHost: x\r\n"
                                    b"Authorization: Bearer sekret\x00junk\r\n\r\n")
    assert statuses(bad) == [400], bad[:300]
    assert envelope(bad)["code"] == "bad_framing" and "NUL" in envelope(bad)["message"]
    assert closed and took < 2.0


def test_oversized_head_is_431_in_the_envelope(start_server):
    s = start_server()
    data, took, closed = exchange(s, b"GET /v1/models HTTP/1.1\r\nHost: x\r\nX-Big: "
                                     + b"a" * 40000 + b"\r\n\r\n")
    assert statuses(data) == [431], data[:300]
    assert envelope(data)["code"] == "headers_too_large"
    assert closed and took < 2.0


def test_head_sent_a_byte_at_a_time_is_served(start_server):
    s = start_server("--api-key", "sekret")
    raw = (b"\r\n\r\nGET /v1/models HTTP/1.1\r\nHost: x\r\n" + GOOD_AUTH.encode() + b"\r\n")
    with socket.create_connection(("127.0.0.1", s.port), timeout=5) as c:
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(len(raw)):
            c.sendall(raw[i:i + 1])
            time.sleep(0.002)
        status, body = read_response(c)
    assert status == 200 and json.loads(body)["object"] == "list"


def test_body_and_next_request_after_a_checked_head_reach_the_server(start_server):
    # The body and a pipelined second request after a checked head are both served.
    s = start_server("--api-key", "sekret")
    chat = b'{"messages":[{"role":"user","content":"hi"}]}'
    first = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n" + GOOD_AUTH.encode()
             + b"Content-Length: %d\r\n\r\n" % len(chat) + chat)
    second = (b"GET /v1/models HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + GOOD_AUTH.encode()
              + b"\r\n")
    data, _, closed = exchange(s, first + second)
    assert data.count(b"HTTP/1.1 200 ") == 2 and closed, data[:300]
    assert b'"object":"chat.completion"' in data and b'"object":"list"' in data


def threads(pid):
    return len(os.listdir(f"/proc/{pid}/task"))


def test_connections_waiting_for_their_head_hold_no_thread(start_server):
    s = start_server("--header-timeout", "30")
    idle = threads(s.proc.pid)
    held = []
    try:
        for _ in range(400):
            c = socket.create_connection(("127.0.0.1", s.port), timeout=5)
            c.sendall(b"GET /v1/models HTTP/1.1\r\nHo")
            held.append(c)
        time.sleep(0.5)
        during = threads(s.proc.pid)
        with httpx.Client(timeout=5) as client:
            worst = 0.0
            for _ in range(10):
                t0 = time.monotonic()
                assert client.get(s.base + "/health").status_code == 200
                worst = max(worst, time.monotonic() - t0)
        assert worst < 0.1, f"/health took {worst * 1000:.0f} ms with 400 heads pending"
    finally:
        for c in held:
            c.close()
    # A connection waiting for its head is an epoll entry, not a thread.
    assert during - idle < 10, (idle, during)


def test_per_address_limit_counts_served_connections_until_they_close(start_server):
    # The loop counts an address's connections from accept until it closes them: ten served
    # requests in a row must not use up a limit of 2, and two held open do fill it.
    s = start_server("--connection-limit-per-ip", "2")
    for _ in range(10):
        data, _, _ = exchange(s, b"GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert statuses(data) == [200]
    time.sleep(0.5)  # the client's close reaches the server a moment after it returns
    held = [socket.create_connection(("127.0.0.1", s.port), timeout=5) for _ in range(2)]
    try:
        held[0].sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")  # one served and kept alive
        assert b" 200 " in held[0].recv(4096)
        data, _, closed = exchange(s, b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
        assert data == b"" and closed, "a third connection from one address was served"
    finally:
        for c in held:
            c.close()
    time.sleep(0.5)
    data, _, _ = exchange(s, b"GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert statuses(data) == [200]
