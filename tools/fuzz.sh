#!/usr/bin/env bash
# Builds the fuzz targets with clang + libFuzzer and runs each for a while (default 60 s) on a copy
# of its seed corpus. Usage: tools/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
seconds=${1:-60}; shift || true
build="$root/build-fuzz"
cmake -S "$root" -B "$build" -DCMAKE_C_COMPILER=clang -DBERTH_FUZZ=ON -DBERTH_CUDA=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" >/dev/null
targets=("$@")
if ((${#targets[@]} == 0)); then
  for f in "$root"/tests/fuzz/fuzz_*.c; do targets+=("$(basename "$f" .c)"); done
fi
for t in "${targets[@]}"; do
  parser=${t#fuzz_}
  work="$build/corpus-$parser"
  mkdir -p "$work"
  cp -n "$root/tests/fuzz/corpus/$parser"/* "$work"/ 2>/dev/null || true
  echo "fuzz: $t for ${seconds}s"
  "$build/tests/fuzz/$t" -max_total_time="$seconds" -print_final_stats=1 "$work"
done
