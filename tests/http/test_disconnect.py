"""A client that leaves mid-answer triggers the cancel callback (visible in the fake server's
/debug counter), streaming or not; other streams are unaffected and the server keeps serving."""
import json
import socket
import threading

import httpx

from http_fake_server import wait_for

LONG = " ".join(f"w{i}" for i in range(200))


def post_raw(port, body):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    data = json.dumps(body).encode()
    s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: " + str(len(data)).encode() + b"\r\n\r\n" + data)
    return s


def test_stream_disconnect_calls_cancel(start_server):
    s = start_server("--delay-ms", "50")
    sock = post_raw(s.port, {"messages": [{"role": "user", "content": LONG}], "stream": True})
    got = b""
    while b"w1" not in got:
        got += sock.recv(4096)
    assert b"text/event-stream" in got
    sock.close()
    assert wait_for(lambda: s.debug()["cancelled"] == 1), s.debug()
    assert wait_for(lambda: s.debug()["active"] == 0), s.debug()
    assert httpx.get(s.base + "/v1/models").status_code == 200


def test_non_stream_disconnect_calls_cancel(start_server):
    s = start_server("--delay-ms", "50")
    sock = post_raw(s.port, {"messages": [{"role": "user", "content": LONG}]})
    assert wait_for(lambda: s.debug()["started"] == 1)
    sock.close()
    assert wait_for(lambda: s.debug()["cancelled"] == 1), s.debug()
    assert wait_for(lambda: s.debug()["active"] == 0), s.debug()


def test_other_streams_unaffected(start_server):
    s = start_server("--delay-ms", "20")
    result = {}

    def full_stream():
        with httpx.stream("POST", s.base + "/v1/chat/completions", timeout=30,
                          json={"messages": [{"role": "user", "content": "a b c d e f g h"}],
                                "stream": True}) as r:
            result["body"] = r.read().decode()

    t = threading.Thread(target=full_stream)
    t.start()
    for _ in range(3):
        sock = post_raw(s.port, {"messages": [{"role": "user", "content": LONG}], "stream": True})
        sock.recv(100)
        sock.close()
    t.join(30)
    assert result["body"].rstrip().endswith("data: [DONE]")
    text = "".join(json.loads(line[6:])["choices"][0]["delta"].get("content", "")
                   for line in result["body"].splitlines()
                   if line.startswith("data: {"))
    assert text == "a b c d e f g h"
    assert wait_for(lambda: s.debug()["cancelled"] == 3), s.debug()


def test_completed_requests_do_not_cancel(server):
    for stream in (False, True):
        r = httpx.post(server.base + "/v1/chat/completions",
                       json={"messages": [{"role": "user", "content": "x y"}], "stream": stream})
        assert r.status_code == 200
    assert server.debug()["cancelled"] == 0
