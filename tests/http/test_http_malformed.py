"""Malformed input over raw sockets and raw bodies: bad JSON, non-objects, NUL bytes, garbage
requests. Every answer is a 400 in the OpenAI envelope (or a clean HTTP error) and the server lives."""
import socket

import httpx
import pytest

BAD_BODIES = [
    b"",
    b"{",
    b"not json",
    b"[1,2,3]",
    b'"a string"',
    b'{"messages": [{"role": "user", "content": "hi"}]} trailing',
    b'{"messages": [{"role": "user", "content": "hi"}]}\x00{}',
    b'{"messages": [{"role": "user", "content": "\xff\xfe"}], "max_tokens": }',
    b"{" * 5000 + b"}" * 5000,
]


@pytest.mark.parametrize("body", BAD_BODIES)
@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/completions", "/invocations"])
def test_bad_json_is_400(server, path, body):
    r = httpx.post(server.base + path, content=body, headers={"content-type": "application/json"})
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["type"] == "invalid_request_error"
    assert err["code"] in ("invalid_json", "invalid_value")


def test_garbage_request_lines_do_not_kill_the_server(server):
    for junk in [b"GARBAGE\r\n\r\n", b"POST / HTTP/9.9\r\n\r\n", b"\x16\x03\x01\x00\xa5\x01\x00",
                 b"GET /v1/models HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n"]:
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
            s.sendall(junk)
            try:
                s.recv(4096)
            except (ConnectionResetError, socket.timeout):
                pass
    assert httpx.get(server.base + "/v1/models").status_code == 200


def test_non_utf8_input_still_gives_json_errors(server):
    # %ff in the path and a role that is not UTF-8: the envelope quoting them must stay valid JSON
    r = httpx.get(server.base + "/v1/%ff%fe")
    assert r.status_code == 404 and "\ufffd" in r.json()["error"]["message"]
    body = b'{"messages": [{"role": "\xff\xfeuser", "content": "x"}]}'
    r = httpx.post(server.base + "/v1/chat/completions", content=body)
    assert r.status_code == 400
    assert r.json()["error"]["param"] == "messages[0].role"
