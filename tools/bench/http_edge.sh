#!/usr/bin/env bash
# The HTTP edge under load: requests/s for GET /ping (ab, keep-alive) with and without N slow
# clients (half trickling headers, half trickling bodies, one byte a second), the worst /health
# latency while they are open, and how many such connections the server holds at once.
# Usage: tools/bench/http_edge.sh [SLOW=1000] [HELD=3000]   (needs ab: apt-get install apache2-utils)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${BERTH_BUILD_DIR:-$root/build}
slow=${1:-1000} held=${2:-3000}
work=$(mktemp -d)
pid=""
trap 'kill $pid 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
ulimit -n "$(ulimit -Hn)"
"$build/tools/make_model/berth-make-model" --preset demo --layers 2 --seed 7 --max-pos 1024 \
  --tokenizer "$root/../shared/data/qwen3-tokenizer" --out "$work/demo" >/dev/null
"$build/server/cli/berth" serve --model "$work/demo" --host 127.0.0.1 --port 0 --kv-cache-memory 67108864 \
  --header-timeout 60 --max-connections 8192 2>"$work/log" &
pid=$!
for _ in $(seq 600); do grep -q "ready in" "$work/log" && break; sleep 0.1; done
port=$(grep -oE 'listening on https?://[^:]+:[0-9]+' "$work/log" | grep -oE '[0-9]+$')
base="http://127.0.0.1:$port"
ping_rps() { ab -q -k -c 32 -n 20000 "$base/ping" | grep -E "Requests per second|Failed requests"; }
echo "== /ping, no slow clients"; ping_rps
python3 - "$port" "$slow" "$held" <<'PY' &
import socket, sys, time
port, slow, held = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
head = b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n{"
socks = []
for i in range(slow):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"GET /ping HTTP/1.1\r\nX" if i % 2 else head)
    socks.append(s)
open("/dev/stderr", "w").write(f"slow clients: {len(socks)} open\n")
end = time.time() + 40
while time.time() < end:
    for s in socks:
        try: s.send(b"a")
        except OSError: pass
    time.sleep(1)
PY
slowpid=$!
sleep 3
echo "== /ping, with $slow slow clients"; ping_rps
python3 - "$port" <<'PY'
import http.client, sys, time
lat = []
for _ in range(100):
    for path in ("/ping", "/health"):
        c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=5)
        t = time.monotonic(); c.request("GET", path); c.getresponse().read(); c.close()
        lat.append((time.monotonic() - t) * 1000)
    time.sleep(0.05)
lat.sort()
print(f"/ping + /health, new connection each, {len(lat)} probes: median {lat[len(lat)//2]:.1f} ms, "
      f"p99 {lat[int(len(lat)*0.99)]:.1f} ms, max {lat[-1]:.1f} ms")
PY
kill $slowpid; wait $slowpid 2>/dev/null || true
echo "== connections held at once"
python3 - "$port" "$held" <<'PY'
import http.client, socket, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
socks = []
for _ in range(n):
    s = socket.create_connection(("127.0.0.1", port)); s.sendall(b"GET /ping HTTP/1.1\r\nX"); socks.append(s)
c = http.client.HTTPConnection("127.0.0.1", port, timeout=10); c.request("GET", "/health")
print(f"{n} connections open, /health -> {c.getresponse().status}")
PY
grep -E "^VmRSS|^Threads" /proc/$pid/status
