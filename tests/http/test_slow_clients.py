"""Slow clients: 1,200 connections that trickle their headers one byte at a time (which would
restart a plain idle timeout on every byte) are closed at --header-timeout, and while they are
open /ping and /health answer within 100 ms and a completion is served; a long answer on a
connection is never cut by the header deadline; --connection-limit-per-ip bounds one address."""
import resource
import socket
import threading
import time

import httpx

SLOW = 1200  # past FD_SETSIZE (1024): a select()-based loop would reset new connections


def raise_fd_limit(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(n, hard), hard))


SLOW_BODY_HEAD = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 100000\r\n\r\n{")


def open_slow(port, n):
    """Half trickle their headers, half a complete head and then their body, a byte a second."""
    socks = []
    for i in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(b"GET /ping HTTP/1.1\r\nX" if i % 2 else SLOW_BODY_HEAD)
        socks.append(s)
    return socks


def trickle(socks, stop):
    while not stop.is_set():
        for s in socks:
            try:
                s.send(b"a")
            except OSError:
                pass
        stop.wait(1.0)


def closed_by_server(s):
    """True once the server closed (after whatever answer it sent before closing)."""
    s.settimeout(0.01)
    try:
        while s.recv(65536):
            pass
        return True
    except socket.timeout:
        return False
    except OSError:
        return True
    finally:
        s.settimeout(10)


def test_slow_headers_neither_starve_the_server_nor_stay_open(start_server):
    raise_fd_limit(4 * SLOW)
    s = start_server("--header-timeout", "4", "--idle-timeout", "60", "--min-body-rate", "100")
    # A fresh connection per probe (no pooling): each must be accepted with the slow ones open.
    client = httpx.Client(timeout=5, limits=httpx.Limits(max_keepalive_connections=0))
    assert client.get(s.base + "/health").status_code == 200
    socks = open_slow(s.port, SLOW)
    stop = threading.Event()
    t = threading.Thread(target=trickle, args=(socks, stop))
    t.start()
    try:
        worst = 0.0
        for _ in range(10):
            for path in ("/ping", "/health"):
                t0 = time.monotonic()
                assert client.get(s.base + path).status_code == 200
                worst = max(worst, time.monotonic() - t0)
            time.sleep(0.1)
        assert worst < 0.1, f"/ping or /health took {worst * 1000:.0f} ms with {SLOW} slow clients"
        r = client.post(s.base + "/v1/chat/completions",
                        json={"messages": [{"role": "user", "content": "still here"}]})
        assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"] == "still here"
        # past the 4 s header deadline (and for bodies the 4 s grace at 100 B/s), though every
        # socket sent a byte each second
        time.sleep(5.5)
        still_open = sum(not closed_by_server(x) for x in socks)
        assert still_open == 0, f"{still_open} trickling connections outlived their deadline"
    finally:
        stop.set()
        t.join()
        for x in socks:
            x.close()
        client.close()


def test_a_long_answer_is_not_cut_by_the_header_deadline(start_server):
    # 8 words x 600 ms: the stream runs past the 1 s header timeout (and the idle timeout).
    s = start_server("--header-timeout", "1", "--idle-timeout", "1", "--delay-ms", "600")
    with httpx.stream("POST", s.base + "/v1/chat/completions", timeout=30,
                      json={"messages": [{"role": "user", "content": "a b c d e f g h"}],
                            "stream": True}) as r:
        body = r.read().decode()
    assert body.rstrip().endswith("data: [DONE]")


def test_connection_limit_per_ip(start_server):
    s = start_server("--connection-limit-per-ip", "4")
    socks = [socket.create_connection(("127.0.0.1", s.port), timeout=5) for _ in range(4)]
    try:
        extra = socket.create_connection(("127.0.0.1", s.port), timeout=5)
        extra.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
        extra.settimeout(5)
        try:
            got = extra.recv(100)
        except OSError:
            got = b""
        assert got == b"", "a fifth connection from one address was served"
        extra.close()
    finally:
        for x in socks:
            x.close()
    time.sleep(0.3)
    assert httpx.get(s.base + "/ping").status_code == 200


def test_a_body_at_the_minimum_rate_is_read_and_a_slower_one_cut(start_server):
    s = start_server("--header-timeout", "1", "--min-body-rate", "2000", "--idle-timeout", "60")
    body = b'{"messages":[{"role":"user","content":"' + b"x" * 9000 + b'"}]}'
    head = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body))
    # ~4 kB/s in 10 pieces: twice the minimum, so it must be answered
    with socket.create_connection(("127.0.0.1", s.port), timeout=10) as c:
        c.sendall(head)
        step = len(body) // 10 + 1
        for i in range(0, len(body), step):
            c.sendall(body[i:i + step])
            time.sleep(0.2)
        assert c.recv(12) == b"HTTP/1.1 200"
    # ~500 B/s: a quarter of the minimum, so it is cut after the 1 s grace plus what it sent, with
    # a 400 saying why
    with socket.create_connection(("127.0.0.1", s.port), timeout=10) as c:
        c.sendall(head)
        t0, answer = time.monotonic(), b""
        try:
            for i in range(0, len(body), 100):
                c.sendall(body[i:i + 100])
                time.sleep(0.2)
                c.settimeout(0.01)
                try:
                    answer = c.recv(65536)
                    break
                except socket.timeout:
                    pass
                finally:
                    c.settimeout(10)
        except OSError:
            pass
        assert 1.0 < time.monotonic() - t0 < 8
        assert answer.startswith(b"HTTP/1.1 400") and b'"code":"bad_framing"' in answer, answer
