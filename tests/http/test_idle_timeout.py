"""--idle-timeout: a connection nobody is answering (idle keep-alive, a client that stalls while
sending its request) is closed after that many seconds, so it cannot hold a thread and a slot of the
connection limit forever; a request being answered is never cut, however long it runs or stays silent."""
import socket
import time

import httpx

from http_fake_server import wait_for

WORDS = " ".join(f"w{i}" for i in range(30))


def closed_within(sock, seconds):
    """True when the server closes `sock` (recv returns b'' or the connection resets) in time."""
    sock.settimeout(seconds)
    try:
        while True:
            data = sock.recv(4096)
            if not data:
                return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def chat_request(body_json):
    body = body_json.encode()
    return (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)


def test_silent_connection_is_closed(start_server):
    s = start_server("--idle-timeout", "1")
    sock = socket.create_connection(("127.0.0.1", s.port))
    t0 = time.monotonic()
    assert closed_within(sock, 10), "an idle connection was still open after 10 s"
    assert time.monotonic() - t0 >= 0.9


def test_stalled_request_is_closed(start_server):
    s = start_server("--idle-timeout", "1")
    sock = socket.create_connection(("127.0.0.1", s.port))
    sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"mess")
    assert closed_within(sock, 10), "a half-sent request was still open after 10 s"


def test_slowloris_does_not_lock_out_clients(start_server):
    s = start_server("--idle-timeout", "1", "--connection-limit", "3")
    held = [socket.create_connection(("127.0.0.1", s.port)) for _ in range(3)]
    try:
        def ping():
            try:
                return httpx.get(s.base + "/ping", timeout=2).status_code == 200
            except httpx.TransportError:
                return False
        assert wait_for(ping, timeout=10), "silent connections kept the server full"
    finally:
        for h in held:
            h.close()


def test_long_non_streaming_answer_is_not_cut(start_server):
    # 30 words x 100 ms = 3 s of generation, three times the idle timeout, with no byte sent meanwhile
    s = start_server("--idle-timeout", "1", "--delay-ms", "100")
    r = httpx.post(s.base + "/v1/chat/completions", timeout=30,
                   json={"messages": [{"role": "user", "content": WORDS}]})
    assert r.status_code == 200
    assert r.json()["choices"][0]["message"]["content"] == WORDS


def test_silent_stream_is_not_cut(start_server):
    # 1.5 s between tokens and keep-alive comments only every 5 s: silences longer than the timeout
    s = start_server("--idle-timeout", "1", "--delay-ms", "1500", "--keepalive-ms", "5000")
    with httpx.stream("POST", s.base + "/v1/chat/completions", timeout=30,
                      json={"messages": [{"role": "user", "content": "slow words"}],
                            "stream": True}) as r:
        body = r.read().decode()
    assert body.endswith("data: [DONE]\n\n")
    assert '"slow' in body and 'words"' in body


def test_kept_alive_connection_times_out_after_its_answer(start_server):
    s = start_server("--idle-timeout", "1", "--delay-ms", "600")
    sock = socket.create_connection(("127.0.0.1", s.port))
    # 3 words x 600 ms: the answer takes longer than the timeout, then the connection idles
    sock.sendall(chat_request('{"messages":[{"role":"user","content":"a b c"}]}'))
    sock.settimeout(10)
    got = b""
    while b'"a b c"' not in got:
        chunk = sock.recv(65536)
        assert chunk, f"closed before the whole answer arrived: {got!r}"
        got += chunk
    assert got.startswith(b"HTTP/1.1 200")
    # still usable right away (keep-alive) ...
    sock.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
    assert sock.recv(4096).startswith(b"HTTP/1.1 200")
    # ... and closed once idle for the timeout
    t0 = time.monotonic()
    assert closed_within(sock, 10)
    assert time.monotonic() - t0 >= 0.9
