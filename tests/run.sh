#!/usr/bin/env bash
# Runs every test: the C tests (ctest) in a normal build, the Python tests (pytest) against that
# build, then the C tests again under AddressSanitizer + UndefinedBehaviorSanitizer.
# Exits non-zero on any failure. GPU tests report SKIPPED (exit 77) on machines without a GPU.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
jobs=$(nproc)
status=0
# Tests run side by side (ctest -j) and each OpenMP program would otherwise spin its idle threads,
# starving the others on a small machine. Servers and benchmarks keep OpenMP's default.
export OMP_WAIT_POLICY=PASSIVE

step() { printf '\n==== %s ====\n' "$*"; }

step "build (RelWithDebInfo, CUDA ${BERTH_CUDA:-AUTO})"
cmake -S . -B build -DBERTH_CUDA="${BERTH_CUDA:-AUTO}" >/dev/null
cmake --build build -j"$jobs"

step "C tests"
ctest --test-dir build --output-on-failure -j"$jobs" || status=1

step "Python tests"
export BERTH_BUILD_DIR="$root/build"
if [ -n "$(find tests -name 'test_*.py' -print -quit)" ]; then
  "$root/.venv/bin/python" -m pytest -q tests || status=1
else
  echo "no Python tests yet"
fi

step "C tests under ASan + UBSan"
cmake -S . -B build-asan -DBERTH_SANITIZE=ON -DBERTH_CUDA=OFF -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build-asan -j"$jobs"
ASAN_OPTIONS=detect_leaks=1 ctest --test-dir build-asan --output-on-failure -j"$jobs" || status=1

step "server tests under ASan + UBSan"
# The real servers (berth serve, the HTTP test server) under the sanitizers: a leak, race-born
# use-after-free or undefined behaviour makes the server exit non-zero, which fails the test.
BERTH_BUILD_DIR="$root/build-asan" ASAN_OPTIONS=detect_leaks=1 \
  "$root/.venv/bin/python" -m pytest -q tests/integration tests/integration_auth tests/http \
  --deselect tests/integration/test_demo.py::test_demo_script_serves_chat || status=1

if [ "$status" -ne 0 ]; then
  echo "tests: FAILED"
else
  echo "tests: all passed"
fi
exit "$status"
