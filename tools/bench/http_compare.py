#!/usr/bin/env python3
"""The HTTP edge of two berth builds, alternated: requests/s for GET /ping over kept-alive
connections (ab -k, apache2-utils), then 1,000 slow clients (half trickling a request head, half a
body, one byte a second) and the server's threads and RSS while they are open, the /health latency
over fresh connections meanwhile, and /ping req/s with them. The load average is recorded with each
run, since the machine may be shared.

Usage: tools/bench/http_compare.py NAME=BUILD_DIR NAME=BUILD_DIR [--rounds 2] [--slow 1000]
(each BUILD_DIR holds server/cli/berth and tools/make_model/berth-make-model)."""
import argparse
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def start(build, model, log):
    p = subprocess.Popen([f"{build}/server/cli/berth", "serve", "--model", model, "--host", "127.0.0.1",
                          "--port", "0", "--kv-cache-memory", "67108864", "--header-timeout", "120",
                          "--idle-timeout", "120", "--min-body-rate", "1", "--max-connections", "8192"],
                         stderr=open(log, "w"), stdout=subprocess.DEVNULL)
    for _ in range(600):
        text = open(log).read()
        m = re.search(r"listening on https?://[^:]+:(\d+)", text)
        if m and "ready in" in text:
            return p, int(m.group(1))
        time.sleep(0.1)
    p.kill()
    sys.exit(f"server did not start: {open(log).read()[-2000:]}")


def ab(port):
    out = subprocess.run(["ab", "-q", "-k", "-c", "32", "-n", "20000", f"http://127.0.0.1:{port}/ping"],
                         capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests per second:\s+([\d.]+)", out).group(1))
    failed = int(re.search(r"Failed requests:\s+(\d+)", out).group(1))
    return rps, failed


def status(pid):
    s = open(f"/proc/{pid}/status").read()
    return int(re.search(r"Threads:\s+(\d+)", s).group(1)), int(re.search(r"VmRSS:\s+(\d+)", s).group(1))


def probe(port, n=100):
    lat = []
    for _ in range(n):
        for path in (b"/ping", b"/health"):
            t = time.monotonic()
            with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
                c.sendall(b"GET " + path + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                data = b""
                while True:
                    d = c.recv(65536)
                    if not d:
                        break
                    data += d
            assert data.startswith(b"HTTP/1.1 200"), data[:100]
            lat.append((time.monotonic() - t) * 1000)
        time.sleep(0.02)
    lat.sort()
    return lat[len(lat) // 2], lat[int(len(lat) * 0.99)], lat[-1]


def run(name, build, model, slow, work):
    p, port = start(build, model, os.path.join(work, f"{name}.log"))
    try:
        load0 = os.getloadavg()[0]
        rps0, f0 = ab(port)
        idle_thr, idle_rss = status(p.pid)
        head = b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n{"
        socks = []
        for i in range(slow):
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(b"GET /ping HTTP/1.1\r\nX" if i % 2 else head)
            socks.append(s)
        stop = threading.Event()

        def trickle():
            while not stop.is_set():
                for s in socks:
                    try:
                        s.send(b"a")
                    except OSError:
                        pass
                stop.wait(1.0)

        t = threading.Thread(target=trickle)
        t.start()
        time.sleep(2)
        thr, rss = status(p.pid)
        med, p99, worst = probe(port)
        rps1, f1 = ab(port)
        stop.set()
        t.join()
        for s in socks:
            s.close()
        print(f"{name:>8}: load {load0:4.1f} | /ping {rps0:9.0f} req/s (failed {f0}) | idle {idle_thr} threads "
              f"{idle_rss // 1024} MB | {slow} slow: {thr} threads {rss // 1024} MB, /ping+/health "
              f"median {med:.1f} p99 {p99:.1f} max {worst:.1f} ms, /ping {rps1:9.0f} req/s (failed {f1})",
              flush=True)
    finally:
        p.terminate()
        p.wait(30)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("builds", nargs=2)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--slow", type=int, default=1000)
    a = ap.parse_args()
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    builds = [b.split("=", 1) for b in a.builds]
    with tempfile.TemporaryDirectory() as work:
        model = os.path.join(work, "demo")
        subprocess.run([f"{builds[0][1]}/tools/make_model/berth-make-model", "--preset", "demo", "--layers",
                        "2", "--seed", "7", "--max-pos", "1024", "--tokenizer",
                        os.path.join(ROOT, "..", "shared", "data", "qwen3-tokenizer"), "--out", model],
                       check=True, stdout=subprocess.DEVNULL)
        for r in range(a.rounds):
            for name, build in (builds if r % 2 == 0 else builds[::-1]):
                run(name, build, model, a.slow, work)


if __name__ == "__main__":
    main()
