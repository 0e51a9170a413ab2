#!/usr/bin/env python3
"""Prefix-caching benchmark (docs/benchmarks.md): `berth serve` on the CPU with caching on and with
--no-prefix-caching, alternating, so both see the same machine load (printed with each run).

1. A 10-turn chat conversation (greedy, the model's own replies fed back, streamed): time to first
   token of every turn; the table reports turn 10 and the turn-10 prompt length.
2. Throughput: REQUESTS chat requests sharing a ~1,000-token system prompt, each with its own short
   question, CONCURRENCY at a time, on a server whose cache was just reset: requests/s and prompt
   tokens/s.

Optional tool (Python is never in the serving path). Needs httpx (tests/requirements.txt).
usage: run_prefix_cache.py [--model PATH] [--build DIR] [--rounds N] [--threads N]
Without --model: the demo checkpoint of tools/bench/run_cpu_serving.sh (berth-make-model --preset
demo, random weights, Qwen3 tokenizer from ../shared), written once under the build folder.
"""
import argparse
import json
import os
import re
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


class Server:
    def __init__(self, berth, model, args):
        self.proc = subprocess.Popen(
            [str(berth), "serve", "--model", str(model), "--host", "127.0.0.1", "--port", "0",
             "--backend", "cpu", *args],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.port = None
        ready = threading.Event()

        def read():
            for line in self.proc.stderr:
                m = re.search(r"listening on http://[^:]+:(\d+)", line)
                if m:
                    self.port = int(m.group(1))
                if "ready in" in line:
                    ready.set()
            ready.set()

        threading.Thread(target=read, daemon=True).start()
        if not ready.wait(300) or self.port is None:
            self.proc.kill()
            raise SystemExit("berth serve did not start")
        self.base = f"http://127.0.0.1:{self.port}"

    def stop(self):
        self.proc.terminate()
        self.proc.wait(60)


def ttft_chat(base, messages, max_tokens):
    """(seconds to the first streamed chunk, the reply's content, usage)."""
    body = {"model": "m", "messages": messages, "max_tokens": max_tokens, "temperature": 0,
            "stream": True, "stream_options": {"include_usage": True}}
    t0 = time.perf_counter()
    first, text, usage = None, [], None
    with httpx.stream("POST", base + "/v1/chat/completions", json=body, timeout=600) as r:
        r.raise_for_status()
        for line in r.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            if chunk.get("usage"):
                usage = chunk["usage"]
            for c in chunk.get("choices", []):
                # The first chunk comes with the first token, whether it is content or reasoning.
                if first is None:
                    first = time.perf_counter() - t0
                piece = c.get("delta", {}).get("content")
                if piece:
                    text.append(piece)
    return first, "".join(text), usage


SYSTEM = ("You are the dispatcher of a shipping company. Answer in one short sentence. "
          + " ".join(f"Rule {i}: parcels for zone {i} leave from dock {i % 7} before {8 + i % 9} am."
                     for i in range(60)))


def conversation(base, turns):
    messages = [{"role": "system", "content": SYSTEM}]
    out = []
    for t in range(turns):
        messages.append({"role": "user", "content": f"Where does the parcel for zone {t * 3} leave from, "
                                                    f"and when? Reference {t * 7919}."})
        ttft, text, usage = ttft_chat(base, messages, 48)
        out.append((ttft, usage["prompt_tokens"], usage["prompt_tokens_details"]["cached_tokens"]))
        messages.append({"role": "assistant", "content": text.strip()})
    return out


def throughput(base, requests, concurrency):
    httpx.post(base + "/reset_prefix_cache", timeout=600).raise_for_status()

    def one(i):
        body = {"model": "m", "max_tokens": 16, "temperature": 0,
                "messages": [{"role": "system", "content": SYSTEM},
                             {"role": "user", "content": f"Which dock serves zone {i}?"}]}
        r = httpx.post(base + "/v1/chat/completions", json=body, timeout=600)
        r.raise_for_status()
        return r.json()["usage"]["prompt_tokens"]

    t0 = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        prompt_tokens = sum(pool.map(one, range(requests)))
    wall = time.perf_counter() - t0
    return requests / wall, prompt_tokens / wall, wall


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=None)
    ap.add_argument("--build", default=os.environ.get("BERTH_BUILD_DIR", str(ROOT / "build")))
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--turns", type=int, default=10)
    ap.add_argument("--requests", type=int, default=16)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    a = ap.parse_args()
    berth = Path(a.build) / "server" / "cli" / "berth"
    if a.model is None:
        a.model = Path(a.build) / "bench-prefix-cache" / "demo-model"
        if not (a.model / "model.safetensors").exists():
            shared = Path(os.environ.get("BERTH_SHARED_DIR", ROOT.parent / "shared"))
            subprocess.run([str(Path(a.build) / "tools" / "make_model" / "berth-make-model"),
                            "--preset", "demo", "--seed", "0", "--max-pos", "4096", "--tokenizer",
                            str(shared / "data" / "qwen3-tokenizer"), "--out", str(a.model),
                            "--force"], check=True)
    print(f"model: {a.model}; {os.cpu_count()} CPUs; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    common = ["--max-model-len", "4096", "--kv-cache-tokens", "32768", "--threads", str(a.threads)]
    print("| round | caching | load before | turn-10 prompt | turn-10 cached | turn-10 TTFT ms "
          "| shared-prompt req/s | prompt tok/s |")
    print("|---|---|---|---|---|---|---|---|")
    for rnd in range(a.rounds):
        modes = ["on", "off"] if rnd % 2 == 0 else ["off", "on"]
        for mode in modes:
            load = os.getloadavg()[0]
            s = Server(berth, a.model, common + ([] if mode == "on" else ["--no-prefix-caching"]))
            try:
                turns = conversation(s.base, a.turns)
                rps, tps, _ = throughput(s.base, a.requests, a.concurrency)
            finally:
                s.stop()
            ttft, plen, cached = turns[-1]
            print(f"| {rnd + 1} | {mode} | {load:.2f} | {plen} | {cached} | {ttft * 1000:.0f} "
                  f"| {rps:.2f} | {tps:.0f} |", flush=True)


if __name__ == "__main__":
    main()
