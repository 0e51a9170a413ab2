#!/usr/bin/env bash
# On a machine with an NVIDIA GPU: build berth with CUDA (cmake + nvcc only, no package installs),
# run the GPU tests (the CUDA backend against the CPU backend, op by op) and the GPU benchmark, and
# write a report to $OUT/report.md (./gpu-report.md when OUT is unset). Fits in ~8 minutes on an H200.
# Exit status: non-zero when the build or any GPU test fails, or when the tests skip (no GPU seen).
set -uo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
build=${BERTH_GPU_BUILD:-$root/build-gpu}
if [ -n "${OUT:-}" ]; then report=$OUT/report.md; else report=$PWD/gpu-report.md; fi
logdir=$(mktemp -d)
jobs=$(nproc 2>/dev/null || echo 4)
status=0
start=$(date +%s)

section() { printf '\n## %s\n\n' "$1" >>"$report"; }
fence() { printf '```\n' >>"$report"; cat "$1" >>"$report"; printf '```\n' >>"$report"; }

{
    echo "# berth GPU report"
    echo
    echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "- commit: $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
    echo "- gpu: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo 'nvidia-smi not found')"
    echo "- nvcc: $(nvcc --version 2>/dev/null | tail -1 || echo 'not on PATH')"
    echo "- host: $(nproc) cores, $(uname -sr)"
} >"$report"

section "Build"
if cmake -S "$root" -B "$build" -DBERTH_CUDA=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$logdir/configure.log" 2>&1 &&
    cmake --build "$build" -j "$jobs" --target test_cuda_arena test_cuda_ops test_cuda_attention \
        bench_cuda >"$logdir/build.log" 2>&1; then
    echo "Built test_cuda_arena, test_cuda_ops, test_cuda_attention and bench_cuda (RelWithDebInfo, CUDA architectures from CMakeLists.txt) in $(($(date +%s) - start)) s." >>"$report"
else
    echo "**Build failed.** Last lines:" >>"$report"
    for f in "$logdir/configure.log" "$logdir/build.log"; do
        if [ -f "$f" ]; then grep -E -A4 "[Ee]rror" "$f" | head -60; tail -20 "$f"; fi
    done >"$logdir/tail.log"
    fence "$logdir/tail.log"
    echo "report: $report"
    exit 1
fi

section "GPU tests (CUDA backend vs CPU backend)"
t0=$(date +%s)
ctest --test-dir "$build" -R '^test_cuda_' --output-on-failure --timeout 600 >"$logdir/ctest.log" 2>&1
rc=$?
if [ $rc -ne 0 ]; then status=1; fi
if grep -q "Skipped\|Not Run" "$logdir/ctest.log"; then
    echo "**GPU tests were skipped: no CUDA device was visible to them.**" >>"$report"
    status=1
fi
echo "ctest exit $rc in $(($(date +%s) - t0)) s:" >>"$report"
grep -E "Test +#|tests passed|checks, " "$logdir/ctest.log" >"$logdir/ctest.summary" || true
fence "$logdir/ctest.summary"
if [ $rc -ne 0 ]; then
    echo "Failures (first 80 lines):" >>"$report"
    grep -E "FAIL|nmse|failed|error" "$logdir/ctest.log" | head -80 >"$logdir/ctest.fail" || true
    fence "$logdir/ctest.fail"
fi

section "Benchmark"
t0=$(date +%s)
if timeout 300 "$build/tests/gpu/bench_cuda" "$logdir/bench.md" >"$logdir/bench.log" 2>&1; then
    cat "$logdir/bench.md" >>"$report"
    echo >>"$report"
    echo "(bench_cuda ran in $(($(date +%s) - t0)) s)" >>"$report"
else
    status=1
    echo "**bench_cuda failed:**" >>"$report"
    fence "$logdir/bench.log"
fi

echo >>"$report"
echo "Total: $(($(date +%s) - start)) s, status $status." >>"$report"
if [ -n "${OUT:-}" ]; then cp "$logdir/ctest.log" "$OUT/ctest.log" 2>/dev/null || true; fi
echo "report: $report"
exit $status
