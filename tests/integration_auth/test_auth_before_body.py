"""Authentication is decided from the headers: 100 unauthenticated clients each announcing and
sending a 5.9 MB body get their 401 at once and the server reads none of it (RSS stays within 50 MB
of idle), while an authenticated request of the same size is still served."""
import socket
import threading
import time

from auth_harness import CHAT, bearer, http

BODY = 5_900_000


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def upload(port, results):
    head = (f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {BODY}\r\n\r\n").encode()
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        s.sendall(head)
        sent = 0
        try:
            while sent < BODY:
                sent += s.send(b"x" * min(1 << 16, BODY - sent))
        except OSError:
            pass
        data = b""
        try:
            while b"\r\n\r\n" not in data:
                d = s.recv(4096)
                if not d:
                    break
                data += d
        except OSError:
            pass
        results.append((data.split(b"\r\n", 1)[0], sent))
        time.sleep(1.0)  # hold the socket open while RSS is measured
    finally:
        s.close()


def test_unauthenticated_uploads_are_not_read(start_server):
    server = start_server("--api-key", "sk-test")
    # warm up: one authenticated request so lazily allocated state is in the idle figure
    assert http.post(server.v1 + "/chat/completions", json=CHAT,
                     headers=bearer("sk-test")).status_code == 200
    idle = rss_mb(server.proc.pid)
    results = []
    threads = [threading.Thread(target=upload, args=(server.port, results)) for _ in range(100)]
    for t in threads:
        t.start()
    peak = idle
    while any(t.is_alive() for t in threads):
        peak = max(peak, rss_mb(server.proc.pid))
        time.sleep(0.05)
    assert len(results) == 100
    assert all(status.startswith(b"HTTP/1.1 401") for status, _ in results), results[:3]
    assert peak - idle < 50, f"RSS grew from {idle:.0f} to {peak:.0f} MB"
    big = b'{"messages":[{"role":"user","content":"hi"}],"max_tokens":1,"user":"' + \
        b"x" * 5_000_000 + b'"}'
    r = http.post(server.v1 + "/chat/completions", content=big,
                  headers={**bearer("sk-test"), "Content-Type": "application/json"})
    assert r.status_code == 200, r.text
