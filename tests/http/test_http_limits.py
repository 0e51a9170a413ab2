"""Body limits: 413 decided from Content-Length before reading, and while receiving a chunked body
with no Content-Length; a body at the limit is accepted."""
import json
import socket

import httpx


def raw(port, data, timeout=5):
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not chunk:
                break
            out += chunk
    return out


def body_of(length):
    base = {"messages": [{"role": "user", "content": "hi"}], "pad": ""}
    base["pad"] = "x" * (length - len(json.dumps(base)))
    data = json.dumps(base).encode()
    assert len(data) == length
    return data


def test_content_length_over_limit_is_413_without_reading(start_server):
    s = start_server("--max-body", "1000")
    head = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 5000000\r\n\r\n")
    out = raw(s.port, head)  # the body is never sent: the answer must not wait for it
    assert out.startswith(b"HTTP/1.1 413"), out[:200]
    err = json.loads(out.split(b"\r\n\r\n", 1)[1])["error"]
    assert err["code"] == "request_too_large" and "1000" in err["message"]


def test_chunked_body_over_limit_is_413(start_server):
    s = start_server("--max-body", "1000")

    def chunks():
        for _ in range(10):
            yield b"y" * 400

    r = httpx.post(s.base + "/v1/chat/completions", content=chunks())
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "request_too_large"


def test_body_at_limit_is_accepted(start_server):
    s = start_server("--max-body", "1000")
    r = httpx.post(s.base + "/v1/chat/completions", content=body_of(1000),
                   headers={"content-type": "application/json"})
    assert r.status_code == 200, r.text
    r = httpx.post(s.base + "/v1/chat/completions", content=body_of(1001),
                   headers={"content-type": "application/json"})
    assert r.status_code == 413


def test_server_keeps_serving_after_413(start_server):
    s = start_server("--max-body", "100")
    for _ in range(3):
        assert httpx.post(s.base + "/v1/completions", content=b"z" * 500).status_code == 413
    assert httpx.post(s.base + "/v1/completions", json={"prompt": "a"}).status_code == 200
