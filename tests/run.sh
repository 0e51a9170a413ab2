#!/usr/bin/env bash
# Runs every test: the C tests (ctest) in a normal build, the Python tests (pytest) against that
# build, then the C tests and the server tests again under AddressSanitizer + UndefinedBehaviorSanitizer.
# Exits non-zero on any failure and ends with one line adding up every runner's counts.
# GPU tests report SKIPPED (exit 77) on machines without a GPU; skipped tests are counted as such.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
jobs=$(nproc)
status=0
passed=0 failed=0 skipped=0
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
# Tests run side by side (ctest -j) and each OpenMP program would otherwise spin its idle threads,
# starving the others on a small machine. Servers and benchmarks keep OpenMP's default.
export OMP_WAIT_POLICY=PASSIVE

step() { printf '\n==== %s ====\n' "$*"; }

# Runs a test command with its output shown and kept, then adds its counts to the totals.
#   run_tests ctest|pytest COMMAND...
run_tests() {
  local kind=$1 log="$logs/$((++n_logs)).log"
  shift
  "$@" 2>&1 | tee "$log" || status=1
  local p=0 f=0 s=0
  if [ "$kind" = ctest ]; then
    # "97% tests passed, 1 tests failed out of 37"; skipped tests are listed as "***Skipped"
    local total
    total=$(grep -oE 'tests failed out of [0-9]+' "$log" | grep -oE '[0-9]+$' || echo 0)
    f=$(grep -oE '[0-9]+ tests failed out of' "$log" | grep -oE '^[0-9]+' || echo 0)
    s=$(grep -c '\*\*\*Skipped' "$log" || true)
    p=$((total - f - s))
  else
    # pytest's last line: "3 failed, 350 passed, 2 skipped, 1 warning in 12.3s"
    local last
    last=$(grep -E '[0-9]+ (passed|failed|error)' "$log" | tail -n 1 || true)
    p=$(grep -oE '[0-9]+ passed' <<<"$last" | grep -oE '[0-9]+' || echo 0)
    f=$(( $(grep -oE '[0-9]+ failed' <<<"$last" | grep -oE '[0-9]+' || echo 0) +
          $(grep -oE '[0-9]+ errors?' <<<"$last" | grep -oE '[0-9]+' || echo 0) ))
    s=$(grep -oE '[0-9]+ skipped' <<<"$last" | grep -oE '[0-9]+' || echo 0)
  fi
  passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
}
n_logs=0

step "build (RelWithDebInfo, CUDA ${BERTH_CUDA:-AUTO})"
cmake -S . -B build -DBERTH_CUDA="${BERTH_CUDA:-AUTO}" >/dev/null
cmake --build build -j"$jobs"

step "C tests"
run_tests ctest ctest --test-dir build --output-on-failure -j"$jobs"

step "Python tests"
export BERTH_BUILD_DIR="$root/build"
run_tests pytest "$root/.venv/bin/python" -m pytest -q tests

step "C tests under ASan + UBSan"
cmake -S . -B build-asan -DBERTH_SANITIZE=ON -DBERTH_CUDA=OFF -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build-asan -j"$jobs"
# The emulated attention and whole-model tests (tests/cuda_emu) ran in the normal build above; under
# the sanitizers, with the -O0 CPU twin, each takes ~10 minutes on 2 cores, so here the emulator is
# covered by its own checks and the op, sampling, graph and engine-graph tests.
ASAN_OPTIONS=detect_leaks=1 run_tests ctest ctest --test-dir build-asan --output-on-failure -j"$jobs" \
  -E '^emu_test_cuda_(attention|model)$'

step "server tests under ASan + UBSan"
# The real servers (berth serve, the HTTP test server) under the sanitizers: a leak, race-born
# use-after-free or undefined behaviour makes the server exit non-zero, which fails the test.
# Left to the normal pass above: tests that spend minutes of -O0 generation re-running C paths that
# the tests kept here, or the C tests under the sanitizers, already run (safe because of that):
# - test_agent_requests.py: message shapes, the output parser, n = 2, include_usage and enforced
#   tool choice, all run here by test_agent_loops.py, test_serve_chat.py and test_serve_structured.py
#   and under ctest by test_api_request, test_output_parser and engine_constraint;
# - test_agent_loops.py's LangChain bind_tools pair, unstreamed prebuilt agent and unstreamed OpenAI
#   SDK loop: the same requests as its streamed agents and SDK loop, kept (the unstreamed response
#   path runs in nearly every other test here);
# - test_structured_clients.py: json_schema requests from three clients, the constraint paths of
#   test_serve_structured.py's JSON Schema tests, kept;
# - test_serve_overload.py: 8 x 120 tokens to reach the 429 with Retry-After, which
#   test_serve_admission.py's burst test (kept) reaches with one-token requests;
# - test_serve_admission's small-behind-large (12 x 64 tokens): the scheduler's round-robin
#   admission, which tests/engine/test_engine_admission.c runs under the sanitizers;
# - test_memory_share's share under load (24 requests): the accounting that the share-that-fits test
#   (kept) runs, with more requests;
# - test_serve_structured's unconstrained-beside-constrained (a bit-identity check, which
#   engine_constraint also makes under the sanitizers) and tool_choice required with parallel calls
#   (200 tokens of random calls: the grammar, matcher and parser paths of [named] and
#   test_required_without_parallel_calls_makes_one, kept); in the other call formats the named
#   function (its grammar is the required one's with one name: [required-*] are kept, and
#   test_constraint builds both under ctest), and llama3_json's single call under auto unstreamed
#   (the streamed one is kept).
# - test_client_compat.py's LangChain json_schema and function_calling requests (the constraint paths
#   test_structured_clients.py's are) and the SDK's 429 retry (6 x 30 tokens; the 429 is reached by
#   test_serve_admission's burst test, kept).
BERTH_BUILD_DIR="$root/build-asan" ASAN_OPTIONS=detect_leaks=1 \
  run_tests pytest "$root/.venv/bin/python" -m pytest -q tests/integration tests/integration_auth tests/http \
  --deselect integration/test_demo.py \
  --deselect integration/test_agent_requests.py \
  --deselect integration/test_agent_loops.py::test_langchain_bind_tools_round_trip \
  --deselect "integration/test_agent_loops.py::test_langchain_prebuilt_agent[invoke]" \
  --deselect "integration/test_agent_loops.py::test_openai_sdk_parallel_calls_loop[create]" \
  --deselect integration/test_structured_clients.py \
  --deselect integration/test_client_compat.py::test_langchain_structured_output_json_schema_streamed_and_raw \
  --deselect integration/test_client_compat.py::test_langchain_structured_output_function_calling \
  --deselect integration/test_client_compat.py::test_sdk_retries_a_429_after_retry_after \
  --deselect integration/test_serve_overload.py \
  --deselect integration/test_serve_admission.py::test_small_request_is_not_held_behind_a_large_one \
  --deselect integration/test_memory_share.py::test_the_share_is_never_exceeded_under_load \
  --deselect integration/test_serve_structured.py::test_unconstrained_outputs_unchanged_beside_constrained \
  --deselect "integration/test_serve_structured.py::test_tool_choice_enforced[required]" \
  --deselect "integration/test_serve_structured.py::test_tool_choice_enforced_in_other_formats[named-llama3_json]" \
  --deselect "integration/test_serve_structured.py::test_tool_choice_enforced_in_other_formats[named-mistral]" \
  --deselect "integration/test_serve_structured.py::test_llama3_json_auto_single_call_is_enforced_once_opened[False]"
# (node ids are relative to tests/)

if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
  failed=1 # a runner failed without a countable test (a crash, a collection error)
fi
echo
echo "tests: $passed passed, $failed failed, $skipped skipped"
exit "$status"
