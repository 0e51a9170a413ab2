#!/usr/bin/env bash
# The CPU serving benchmark (docs/benchmarks/serving.md): builds berth, berth-make-model and
# berth-bench when missing, writes the demo model (random weights, Qwen3 architecture and
# tokenizer), starts `berth serve` on the CPU backend, and runs berth-bench at concurrency 1, 8 and
# 32 (20 x concurrency requests each). Prints vllm-style tables; keeps report.txt, result.json and
# server.log in the output folder.
#
# Environment (defaults in brackets): BERTH_BUILD_DIR [build], BERTH_SHARED_DIR [../shared],
# BENCH_OUT [$BERTH_BUILD_DIR/bench-cpu-serving], BENCH_CONCURRENCY [1,8,32], BENCH_INPUT_LEN [128],
# BENCH_OUTPUT_LEN [64], BENCH_SEED [0], BENCH_THREADS [every core].
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${BERTH_BUILD_DIR:-$root/build}
shared=${BERTH_SHARED_DIR:-$root/../shared}
out=${BENCH_OUT:-$build/bench-cpu-serving}
concurrency=${BENCH_CONCURRENCY:-1,8,32}
input_len=${BENCH_INPUT_LEN:-128}
output_len=${BENCH_OUTPUT_LEN:-64}
seed=${BENCH_SEED:-0}
threads=${BENCH_THREADS:-$(nproc)}

berth=$build/server/cli/berth
make_model=$build/tools/make_model/berth-make-model
bench=$build/tools/bench/berth-bench
if [[ ! -x $berth || ! -x $make_model || ! -x $bench ]]; then
  echo "run_cpu_serving: building berth, berth-make-model and berth-bench in $build"
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$build" -j"$(nproc)" --target berth berth-make-model berth-bench >/dev/null
fi

mkdir -p "$out"
model=$out/demo-model
if [[ ! -f $model/model.safetensors ]]; then
  tokenizer=$shared/data/qwen3-tokenizer
  [[ -d $tokenizer ]] || { echo "run_cpu_serving: missing $tokenizer (set BERTH_SHARED_DIR)" >&2; exit 1; }
  "$make_model" --preset demo --seed 0 --max-pos 2048 --tokenizer "$tokenizer" --out "$model" --force
fi

log=$out/server.log
"$berth" serve --model "$model" --host 127.0.0.1 --port 0 --backend cpu --threads "$threads" \
  --max-model-len 2048 --max-num-seqs 32 --kv-cache-memory $((256 << 20)) 2>"$log" &
server=$!
trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null || true' EXIT
port=
for _ in $(seq 1200); do
  if ! kill -0 "$server" 2>/dev/null; then
    echo "run_cpu_serving: berth serve exited:" >&2; cat "$log" >&2; exit 1
  fi
  if grep -q "ready in" "$log"; then
    port=$(sed -n 's|.*listening on http://[^:]*:\([0-9]*\).*|\1|p' "$log" | head -1)
    break
  fi
  sleep 0.1
done
[[ -n $port ]] || { echo "run_cpu_serving: berth serve not ready after 120 s:" >&2; cat "$log" >&2; exit 1; }

{
  echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "berth: $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown), build $build"
  grep "ready in" "$log"
} | tee "$out/report.txt"
"$bench" --base-url "http://127.0.0.1:$port/v1" --concurrency "$concurrency" \
  --input-len "$input_len" --output-len "$output_len" --seed "$seed" \
  --result-json "$out/result.json" | tee -a "$out/report.txt"
echo "run_cpu_serving: load average after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$out/report.txt"
echo "run_cpu_serving: report in $out/report.txt, numbers in $out/result.json"
