#!/usr/bin/env bash
# On a machine with an NVIDIA GPU: build berth's kernels, models and engine with CUDA (BERTH_SERVER=OFF:
# CUDA, cuBLAS and cJSON only), run the GPU tests (the CUDA backend against the CPU backend op by op
# and on whole models, CUDA graphs) and the GPU benchmarks (kernels at Qwen3-4B shapes, then the whole
# model on a random Qwen3-4B-shaped checkpoint, with PyTorch's forward beside it when python3 has torch),
# and write a report to $OUT/report.md (./gpu-report.md when OUT is unset). ~8 minutes on an H200.
# Exit status: non-zero when the build or any GPU test fails, or when the tests skip (no GPU seen).
#
# Machines that reach no package registry: on a Debian 12 machine with network, run
#     mkdir -p build-gpu-deps && (cd build-gpu-deps &&
#         apt-get download libcjson1 libcjson-dev zlib1g-dev pkgconf-bin libpkgconf3)
# and bring build-gpu-deps/ along (it is git-ignored: the device tool's `carry`). This script then
# unpacks the .debs with `dpkg -x` into build-gpu-deps/prefix and points pkg-config (the carried one
# when the machine has none), CMAKE_PREFIX_PATH and LD_LIBRARY_PATH at it.
# Also the review's first checks (../shared/reviews/cuda-review-2026-12-07.md): driver >= 580,
# --device N != 0 (two GPUs), compute-sanitizer memcheck/racecheck/synccheck on test_cuda_ops and
# test_cuda_attention (BERTH_GPU_SANITIZE_S seconds each, default 30: up to 3 minutes more;
# the device budget is 15 minutes a session, so raise it only on a machine of your own), graph
# recordings that fell back, the sampler's time and FP64 work at 256 rows (ncu when present), the
# cuBLASLt fallbacks (bench_cuda); and memory shares under MPS.
# Environment: BERTH_GPU_BUILD (build folder, default build-gpu), BERTH_BENCH_MODEL (where the random
# checkpoint is written, default $build/qwen3-4b, ~8 GB, reused when present), BERTH_BENCH_CTX (512).
set -uo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
build=${BERTH_GPU_BUILD:-$root/build-gpu}
model_dir=${BERTH_BENCH_MODEL:-$build/qwen3-4b}
ctx=${BERTH_BENCH_CTX:-512}
if [ -n "${OUT:-}" ]; then report=$OUT/report.md; else report=$PWD/gpu-report.md; fi
logdir=$(mktemp -d)
jobs=$(nproc 2>/dev/null || echo 4)
status=0
start=$(date +%s)

section() { printf '\n## %s\n\n' "$1" >>"$report"; }
fence() { printf '```\n' >>"$report"; cat "$1" >>"$report"; printf '```\n' >>"$report"; }
finish() {
    echo >>"$report"
    echo "Total: $(($(date +%s) - start)) s, status $status." >>"$report"
    if [ -n "${OUT:-}" ]; then cp "$logdir"/*.log "$OUT/" 2>/dev/null || true; fi
    echo "report: $report"
    exit "$status"
}

{
    echo "# berth GPU report"
    echo
    echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "- commit: $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$root" diff --quiet 2>/dev/null || echo ' (with uncommitted changes)')"
    echo "- gpu: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo 'nvidia-smi not found')"
    echo "- nvcc: $(nvcc --version 2>/dev/null | tail -1 || echo 'not on PATH')"
    echo "- host: $(nproc) cores, $(uname -sr)"
} >"$report"

# ---- carried Debian packages -----------------------------------------------------------------------
deps=$root/build-gpu-deps
cmake_extra=()
zlib_cflags=()
pkgcfg=pkg-config
if ls "$deps"/*.deb >/dev/null 2>&1; then
    prefix=$deps/prefix
    mkdir -p "$prefix"
    for deb in "$deps"/*.deb; do dpkg -x "$deb" "$prefix" || { echo "dpkg -x $deb failed" >&2; status=1; }; done
    libdir=$prefix/usr/lib/x86_64-linux-gnu
    # The .pc files name /usr (libcjson.pc: libdir=/usr/lib/..., includedir=/usr/include): point
    # them at the unpacked tree (idempotent: a second run finds no leading /usr).
    for pc in "$libdir"/pkgconfig/*.pc; do
        [ -f "$pc" ] && sed -i -E "s#^(prefix|exec_prefix|libdir|includedir)=/usr#\1=$prefix/usr#" "$pc"
    done
    export PKG_CONFIG_PATH=$libdir/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
    export CMAKE_PREFIX_PATH=$prefix/usr${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}
    export LD_LIBRARY_PATH=$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
    if ! command -v pkg-config >/dev/null && [ -x "$prefix/usr/bin/pkgconf" ]; then
        pkgcfg=$prefix/usr/bin/pkgconf
        cmake_extra+=("-DPKG_CONFIG_EXECUTABLE=$pkgcfg")
    fi
    zlib_cflags=("-I$prefix/usr/include")
    echo "- carried packages: $(cd "$deps" && ls *.deb | tr '\n' ' ')" >>"$report"
fi

section "Build"
if cmake -S "$root" -B "$build" -DBERTH_CUDA=ON -DBERTH_SERVER=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    "${cmake_extra[@]}" >"$logdir/configure.log" 2>&1 &&
    cmake --build "$build" -j "$jobs" --target test_cuda_arena test_cuda_ops test_cuda_attention \
        test_cuda_sample test_cuda_model test_cuda_graph test_cuda_share test_cuda_plans test_cuda_device \
        engine_graphs_cuda bench_cuda bench_model >"$logdir/build.log" 2>&1; then
    echo "Built the GPU tests and benchmarks (RelWithDebInfo, BERTH_SERVER=OFF) in $(($(date +%s) - start)) s." >>"$report"
else
    echo "**Build failed.** Last lines:" >>"$report"
    for f in "$logdir/configure.log" "$logdir/build.log"; do
        if [ -f "$f" ]; then grep -E -A4 "[Ee]rror" "$f" | head -60; tail -20 "$f"; fi
    done >"$logdir/tail.log"
    fence "$logdir/tail.log"
    status=1
    finish
fi

section "GPU tests (CUDA backend vs CPU backend, CUDA graphs, the engine replaying graphs)"
t0=$(date +%s)
# test_cuda_device needs two GPUs: run on its own below, so that its skip on one GPU is not a failure.
ctest --test-dir "$build" -R '^(test_cuda_|engine_graphs_cuda$)' -E '^test_cuda_device$' --output-on-failure \
    --timeout 600 >"$logdir/ctest.log" 2>&1
rc=$?
if [ $rc -ne 0 ]; then status=1; fi
if grep -q "Skipped\|Not Run" "$logdir/ctest.log"; then
    echo "**GPU tests were skipped: no CUDA device was visible to them.**" >>"$report"
    status=1
fi
echo "ctest exit $rc in $(($(date +%s) - t0)) s:" >>"$report"
grep -E "Test +#|tests passed|checks, | rows|graphs of|ms per call" "$logdir/ctest.log" >"$logdir/ctest.summary" || true
fence "$logdir/ctest.summary"
if [ $rc -ne 0 ]; then
    echo "Failures (first 80 lines):" >>"$report"
    grep -E "FAIL|nmse|failed|error|differ" "$logdir/ctest.log" | head -80 >"$logdir/ctest.fail" || true
    fence "$logdir/ctest.fail"
fi

section "Review checks (../shared/reviews/cuda-review-2026-12-07.md, 'the 5 things to check first')"
# 5. Driver and device selection first: a CUDA 13 build needs driver >= 580 (finding 4).
drv=$(nvidia-smi --query-gpu=driver_version --format=csv,noheader 2>/dev/null | head -1)
ngpu=$(nvidia-smi -L 2>/dev/null | wc -l)
if [ -n "$drv" ] && [ "${drv%%.*}" -ge 580 ] 2>/dev/null; then
    echo "- driver $drv (>= 580 for the CUDA 13 build): ok" >>"$report"
else
    status=1
    echo "- **driver '$drv' is older than 580 (or unreadable): a CUDA 13 build cannot start**" >>"$report"
fi
timeout 120 "$build/tests/gpu/test_cuda_device" >"$logdir/device.log" 2>&1
rc=$?
if [ $rc -eq 77 ]; then
    echo "- --device N != 0: not checked, $ngpu GPU(s) here (test_cuda_device needs two)" >>"$report"
else
    [ $rc -ne 0 ] && status=1
    echo "- --device N != 0 from a thread that did not create the backend (test_cuda_device): exit $rc" >>"$report"
fi
# 1. compute-sanitizer on the ops and attention tests (small shapes), one fault named per kernel.
san_s=${BERTH_GPU_SANITIZE_S:-30}
if command -v compute-sanitizer >/dev/null; then
    for tool in memcheck racecheck synccheck; do
        for t in test_cuda_ops test_cuda_attention; do
            CUDA_LAUNCH_BLOCKING=1 BERTH_GPU_TEST_NO_TIMING=1 timeout "$san_s" compute-sanitizer \
                --tool "$tool" --error-exitcode 3 "$build/tests/gpu/$t" >"$logdir/sanitizer-$tool-$t.log" 2>&1
            rc=$?
            # A timeout is no finding (the log shows how far it got); any other failure is.
            [ $rc -ne 0 ] && [ $rc -ne 124 ] && status=1
            echo "- compute-sanitizer --tool $tool $t: exit $rc$([ $rc -eq 124 ] && echo " (stopped at $san_s s)")" >>"$report"
            grep -E "ERROR SUMMARY|Invalid|Race|Barrier" "$logdir/sanitizer-$tool-$t.log" | head -5 >>"$logdir/sanitizer.summary"
        done
    done
    [ -s "$logdir/sanitizer.summary" ] && fence "$logdir/sanitizer.summary"
else
    status=1
    echo "- **compute-sanitizer not on PATH: memcheck/racecheck/synccheck not run**" >>"$report"
fi
# 2. Graph recording: the engine must never fall back from a recording (finding 3).
if grep -q "recording a decode step" "$logdir/ctest.log"; then
    status=1
    echo "- **a decode-step recording failed:** $(grep -m1 'recording a decode step' "$logdir/ctest.log")" >>"$report"
else
    echo "- graph recording: no decode-step recording fell back to op by op (engine_graphs_cuda, test_cuda_graph)" >>"$report"
fi
# 3. Sampler at 256 rows x 151936 (time and FP64 work per row, finding 2) and the FP64 pipe.
grep -E "^sample .*(ms per call|FP64)" "$logdir/ctest.log" | sed 's/^/- /' >>"$report"
if command -v ncu >/dev/null; then
    timeout 300 ncu --kernel-name sample_kernel --launch-count 1 --section ComputeWorkloadAnalysis \
        "$build/tests/gpu/test_cuda_sample" >"$logdir/ncu-sample.log" 2>&1
    echo "- ncu sample_kernel ComputeWorkloadAnalysis (exit $?):" >>"$report"
    grep -iE "fp64|pipe|Executed Ipc" "$logdir/ncu-sample.log" | head -12 >"$logdir/ncu.summary"
    fence "$logdir/ncu.summary"
else
    echo "- ncu not on PATH: FP64 pipe utilisation not profiled" >>"$report"
fi
# 4. GEMM fallbacks and prefill TFLOP/s: bench_cuda (below) prints the plans made and the shapes
# cuBLASLt had no algorithm for, beside its GEMM TFLOP/s against the card's peak.

section "Memory shares under NVIDIA MPS (CUDA_MPS_PINNED_DEVICE_MEM_LIMIT)"
# test_cuda_share ran above without MPS (context probe, share accounting). Here: an MPS control
# daemon of our own (its own pipe and log folders), one client with a 512 MiB pinned limit that
# must fail to allocate a 1 GiB share and serve a 256 MiB one (docs/components.md).
if command -v nvidia-cuda-mps-control >/dev/null; then
    mps_dir=$(mktemp -d)
    export CUDA_MPS_PIPE_DIRECTORY=$mps_dir/pipe CUDA_MPS_LOG_DIRECTORY=$mps_dir/log
    mkdir -p "$CUDA_MPS_PIPE_DIRECTORY" "$CUDA_MPS_LOG_DIRECTORY"
    if nvidia-cuda-mps-control -d >"$logdir/mps.log" 2>&1; then
        CUDA_MPS_PINNED_DEVICE_MEM_LIMIT=0=512M BERTH_TEST_MPS_LIMIT_MIB=512 \
            timeout 120 "$build/tests/gpu/test_cuda_share" >>"$logdir/mps.log" 2>&1
        rc=$?
        echo quit | nvidia-cuda-mps-control >>"$logdir/mps.log" 2>&1
        [ $rc -ne 0 ] && status=1
        echo "test_cuda_share under MPS: exit $rc" >>"$report"
    else
        status=1
        echo "**nvidia-cuda-mps-control -d failed** (MPS may need the GPU in a compute mode that allows it):" >>"$report"
    fi
    unset CUDA_MPS_PIPE_DIRECTORY CUDA_MPS_LOG_DIRECTORY
    fence "$logdir/mps.log"
else
    echo "Not run: nvidia-cuda-mps-control is not on this machine (the check needs the MPS daemon)." >>"$report"
fi

section "Kernel benchmark"
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

section "Model benchmark"
# berth-make-model is a tool (not built with BERTH_SERVER=OFF): compiled here directly; it needs cJSON
# and zlib only.
t0=$(date +%s)
maker=$build/berth-make-model
if [ ! -f "$model_dir/model.safetensors" ] || [ ! -f "$model_dir/config.json" ]; then
    if cc -std=c17 -O2 -D_GNU_SOURCE -I"$root" "${zlib_cflags[@]}" "$root"/tools/make_model/*.c \
        $("$pkgcfg" --cflags --libs libcjson) \
        -l:libz.so.1 -lm -o "$maker" >"$logdir/make_model.log" 2>&1 &&
        "$maker" --preset qwen3-4b --out "$model_dir" --force >>"$logdir/make_model.log" 2>&1; then
        echo "Random Qwen3-4B-shaped bf16 checkpoint written in $(($(date +%s) - t0)) s ($model_dir)." >>"$report"
    else
        status=1
        echo "**berth-make-model failed:**" >>"$report"
        fence "$logdir/make_model.log"
    fi
fi
if [ -f "$model_dir/model.safetensors" ]; then
    t0=$(date +%s)
    if timeout 300 "$build/tests/gpu/bench_model" "$model_dir" "$logdir/bench_model.md" "$ctx" \
        >"$logdir/bench_model.log" 2>&1; then
        cat "$logdir/bench_model.md" >>"$report"
        echo >>"$report"
        echo "(bench_model ran in $(($(date +%s) - t0)) s)" >>"$report"
    else
        status=1
        echo "**bench_model failed:**" >>"$report"
        fence "$logdir/bench_model.log"
    fi
fi

section "PyTorch reference"
if python3 -c "import torch, transformers; assert torch.cuda.is_available()" >/dev/null 2>&1; then
    t0=$(date +%s)
    if timeout 240 python3 "$root/tests/gpu/bench_torch.py" --config "$model_dir/config.json" \
        --ctx "$ctx" --out "$logdir/bench_torch.md" >"$logdir/bench_torch.log" 2>&1; then
        cat "$logdir/bench_torch.md" >>"$report"
        echo >>"$report"
        echo "(bench_torch.py ran in $(($(date +%s) - t0)) s; a reference point, not a test)" >>"$report"
    else
        echo "bench_torch.py failed (not counted in the status):" >>"$report"
        tail -30 "$logdir/bench_torch.log" >"$logdir/bench_torch.tail"
        fence "$logdir/bench_torch.tail"
    fi
else
    echo "Skipped: python3 has no torch + transformers with CUDA on this machine." >>"$report"
fi

finish
