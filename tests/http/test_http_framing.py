"""RFC 9112 framing over raw sockets: every request another parser on the path could frame
differently (Content-Length with Transfer-Encoding, differing Content-Lengths, whitespace before a
colon, control bytes in values, HTTP/1.1 without Host, chunked in HTTP/1.0) is a 400, an unknown
Transfer-Encoding a 501, each in the OpenAI envelope, and the connection is closed so nothing after
the headers is ever answered as a second request. Also: authentication is decided from the headers
alone, before any body byte is read."""
import json
import socket
import time

import httpx
import pytest

GOOD_AUTH = "Authorization: Bearer sekret\r\n"
CHAT = b'{"messages":[{"role":"user","content":"hi"}]}'
SMUGGLED = b"GET /v1/models HTTP/1.1\r\nHost: x\r\n" + GOOD_AUTH.encode() + b"\r\n"


@pytest.fixture
def secured(start_server):
    return start_server("--api-key", "sekret", "--idle-timeout", "20")


def exchange(server, raw, timeout=5.0):
    """Sends raw bytes, reads until the server closes. Returns (responses, seconds, closed)."""
    t0 = time.monotonic()
    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout) as s:
        s.sendall(raw)
        data, closed = b"", False
        try:
            while True:
                d = s.recv(65536)
                if not d:
                    closed = True
                    break
                data += d
        except socket.timeout:
            pass
        except ConnectionResetError:
            closed = True
    return data, time.monotonic() - t0, closed


def statuses(data):
    return [int(line.split()[1]) for line in data.split(b"\r\n") if line.startswith(b"HTTP/1.")]


def envelope(data):
    body = data.split(b"\r\n\r\n", 1)[1]
    return json.loads(body)["error"]


def post(headers, body=b"", version="HTTP/1.1"):
    return (f"POST /v1/chat/completions {version}\r\n" + headers + "\r\n").encode("latin1") + body


FRAMING = {
    "content-length and transfer-encoding": (
        post("Host: x\r\n" + GOOD_AUTH + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
             b"0\r\n\r\n" + SMUGGLED), 400),
    "transfer-encoding and content-length": (
        post("Host: x\r\n" + GOOD_AUTH + "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
             b"0\r\n\r\n" + SMUGGLED), 400),
    "differing content-lengths": (
        post("Host: x\r\n" + GOOD_AUTH + f"Content-Length: {len(CHAT)}\r\nContent-Length: 1\r\n",
             CHAT + SMUGGLED), 400),
    "space before colon": (
        post("Host: x\r\n" + GOOD_AUTH + f"Transfer-Encoding : chunked\r\nContent-Length: {len(CHAT)}\r\n",
             CHAT), 400),
    "tab before colon": (
        post("Host: x\r\n" + GOOD_AUTH + f"Content-Length\t: {len(CHAT)}\r\n", CHAT), 400),
    "CR inside a value": (
        b"GET /v1/models HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n" + GOOD_AUTH.encode() + b"\r\n", 400),
    "control byte inside a value": (
        b"GET /v1/models HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\n" + GOOD_AUTH.encode() + b"\r\n", 400),
    "DEL inside a value": (
        b"GET /v1/models HTTP/1.1\r\nHost: x\r\nX-A: a\x7fb\r\n" + GOOD_AUTH.encode() + b"\r\n", 400),
    "HTTP/1.1 without Host": (b"GET /v1/models HTTP/1.1\r\n" + GOOD_AUTH.encode() + b"\r\n", 400),
    "two Host headers": (
        b"GET /v1/models HTTP/1.1\r\nHost: a\r\nHost: b\r\n" + GOOD_AUTH.encode() + b"\r\n", 400),
    "chunked in HTTP/1.0": (
        post("Host: x\r\n" + GOOD_AUTH + "Transfer-Encoding: chunked\r\n", b"0\r\n\r\n" + SMUGGLED,
             version="HTTP/1.0"), 400),
    "two transfer-encodings": (
        post("Host: x\r\n" + GOOD_AUTH + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
             b"0\r\n\r\n" + SMUGGLED), 400),
    "unknown transfer-encoding": (
        post("Host: x\r\n" + GOOD_AUTH + "Transfer-Encoding: xchunked\r\n",
             b"5\r\nhello\r\n0\r\n\r\n" + SMUGGLED), 501),
    # The next five would be hidden by a lenient parser (a value cut at NUL, folded lines joined, LF
    # taken for CRLF): berth checks the raw head of every request (http_conn.c).
    "NUL inside the Authorization value": (
        b"GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sekret\x00junk\r\n\r\n", 400),
    "NUL inside another value": (
        b"GET /v1/models HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n" + GOOD_AUTH.encode() + b"\r\n", 400),
    "obs-fold": (
        b"GET /v1/models HTTP/1.1\r\nHost: x\r\n" + GOOD_AUTH.encode() + b"X-A: a\r\n b\r\n\r\n", 400),
    "obs-fold with a tab": (
        b"GET /v1/models HTTP/1.1\r\nHost: x\r\nX-A: a\r\n\tb\r\n" + GOOD_AUTH.encode() + b"\r\n", 400),
    "whitespace before the first header": (
        b"GET /v1/models HTTP/1.1\r\n Host: x\r\n" + GOOD_AUTH.encode() + b"\r\n", 400),
    "bare LF line ends": (
        b"GET /v1/models HTTP/1.1\nHost: x\n" + GOOD_AUTH.encode().replace(b"\r\n", b"\n") + b"\n", 400),
    "one bare LF among CRLFs": (
        b"GET /v1/models HTTP/1.1\r\nHost: x\n" + GOOD_AUTH.encode() + b"\r\n", 400),
    "bare LF ending the head": (
        b"GET /v1/models HTTP/1.1\r\nHost: x\r\n" + GOOD_AUTH.encode() + b"\n", 400),
    "gzip then chunked": (
        post("Host: x\r\n" + GOOD_AUTH + "Transfer-Encoding: gzip, chunked\r\n", b"0\r\n\r\n" + SMUGGLED),
        501),
}


@pytest.mark.parametrize("case", list(FRAMING))
def test_framing_violations_are_refused_and_the_connection_closed(secured, case):
    raw, want = FRAMING[case]
    data, took, closed = exchange(secured, raw)
    assert statuses(data) == [want], data[:300]
    err = envelope(data)
    assert err["type"] == "invalid_request_error"
    assert err["code"] == ("not_implemented" if want == 501 else "bad_framing")
    assert b"Connection: close" in data.split(b"\r\n\r\n", 1)[0]
    assert closed and took < 2.0, "the connection must be closed at once, not left to time out"


def read_response(s):
    data = b""
    while b"\r\n\r\n" not in data:
        data += s.recv(65536)
    head, body = data.split(b"\r\n\r\n", 1)
    length = int([h.split(b":")[1] for h in head.split(b"\r\n") if h.lower().startswith(b"content-length:")][0])
    while len(body) < length:
        body += s.recv(65536)
    return int(head.split()[1]), body


def test_well_formed_requests_still_work_on_one_connection(secured):
    # One kept-alive connection: chunked, then Content-Length, then a duplicate identical
    # Content-Length (allowed: RFC 9110 8.6 lets a recipient take one of identical values).
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(CHAT), CHAT)
    requests = [post("Host: x\r\n" + GOOD_AUTH + "Transfer-Encoding: chunked\r\n", chunked),
                post("Host: x\r\n" + GOOD_AUTH + f"Content-Length: {len(CHAT)}\r\n", CHAT),
                post("Host: x\r\n" + GOOD_AUTH + f"Content-Length: {len(CHAT)}\r\n"
                     f"Content-Length: {len(CHAT)}\r\n", CHAT)]
    with socket.create_connection(("127.0.0.1", secured.port), timeout=5) as s:
        for raw in requests:
            s.sendall(raw)
            status, body = read_response(s)
            assert status == 200, body
            assert json.loads(body)["object"] == "chat.completion"


def test_http10_without_host_is_fine(secured):
    data, _, _ = exchange(secured, b"GET /v1/models HTTP/1.0\r\n" + GOOD_AUTH.encode() + b"\r\n")
    assert statuses(data) == [200]


def test_unauthenticated_upload_is_refused_before_its_body(secured):
    # The headers promise 5 MB that never comes: the 401 must not wait for it.
    raw = post("Host: x\r\nContent-Type: application/json\r\nContent-Length: 5000000\r\n")
    data, took, closed = exchange(secured, raw)
    assert statuses(data) == [401]
    assert envelope(data)["type"] == "authentication_error"
    assert took < 2.0 and closed


def test_unauthenticated_upload_while_sending_is_cut_short(secured):
    # A client that keeps sending after the early 401 gets its connection closed, not read to the end.
    with socket.create_connection(("127.0.0.1", secured.port), timeout=5) as s:
        s.sendall(post("Host: x\r\nContent-Length: 50000000\r\n"))
        chunk, sent = b"x" * 65536, 0
        with pytest.raises((BrokenPipeError, ConnectionResetError)):
            while sent < 50_000_000:
                s.sendall(chunk)
                sent += len(chunk)
    assert sent < 50_000_000
    assert httpx.get(secured.base + "/ping").status_code == 200


def test_wrong_route_is_refused_before_the_body(secured):
    raw = b"POST /v1/nowhere HTTP/1.1\r\nHost: x\r\n" + GOOD_AUTH.encode() + b"Content-Length: 5000000\r\n\r\n"
    data, took, _ = exchange(secured, raw)
    assert statuses(data) == [404] and took < 2.0


def test_oversized_content_length_is_413_before_the_body(secured):
    raw = post("Host: x\r\n" + GOOD_AUTH + "Content-Length: 99999999999\r\n")
    data, took, _ = exchange(secured, raw)
    assert statuses(data) == [413] and took < 2.0
    assert envelope(data)["code"] == "request_too_large"


@pytest.mark.parametrize("value", ["-1", "+5", "5, 5", "0x10", "99999999999999999999999"])
def test_content_length_that_is_not_a_number_is_400_in_the_envelope(secured, value):
    # berth parses every head itself: one 400 in the OpenAI envelope, then the close. Never a 200,
    # never a second request answered.
    raw = post("Host: x\r\n" + GOOD_AUTH + f"Content-Length: {value}\r\n", b"hello" + SMUGGLED)
    data, took, closed = exchange(secured, raw)
    assert statuses(data) == [400], data[:300]
    assert envelope(data)["code"] == "bad_framing" and b"Connection: close" in data
    assert closed and took < 2.0


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_a_body_cut_short_gets_400_not_silence(secured, framing):
    # The client ends its sending side inside the body it announced: a 400 in the envelope at once.
    if framing == "content-length":
        raw = post("Host: x\r\n" + GOOD_AUTH + "Content-Length: 100\r\n", b'{"messages":')
    else:
        raw = post("Host: x\r\n" + GOOD_AUTH + "Transfer-Encoding: chunked\r\n", b"40\r\n{\"messages\":")
    t0 = time.monotonic()
    with socket.create_connection(("127.0.0.1", secured.port), timeout=5) as s:
        s.sendall(raw)
        s.shutdown(socket.SHUT_WR)
        data = b""
        while True:
            d = s.recv(65536)
            if not d:
                break
            data += d
    assert statuses(data) == [400], data
    assert envelope(data)["code"] == "bad_framing"
    assert time.monotonic() - t0 < 2.0
