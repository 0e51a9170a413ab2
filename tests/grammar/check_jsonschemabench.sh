#!/usr/bin/env bash
# CI check of the JSON Schema compiler on real schemas: berth-grammar check on every 20th line of
# ../shared/data/jsonschemabench/maskbench-shared.jsonl.gz (363 of 7,260 schemas, all splits) with
# the Qwen3 tokenizer. Fails on any wrong accept (an invalid instance accepted: the serious kind)
# and when fewer schemas pass than the floor below (raise it as coverage grows; docs/benchmarks.md
# has the full run). Masks are computed at every 100th step only, to keep this near 20 s.
# Usage: check_jsonschemabench.sh BERTH_GRAMMAR_BINARY SHARED_DIR
set -euo pipefail
bin=$1
shared=$2
floor=333
data=$shared/data/jsonschemabench/maskbench-shared.jsonl.gz
tok=$shared/data/qwen3-tokenizer
for f in "$data" "$tok"; do
  [[ -e $f ]] || { echo "missing $f (the shared data folder)"; exit 1; }
done
out=$("$bin" check --tokenizer "$tok" --every 20 --mask-every 100 "$data")
last=$(tail -n 1 <<<"$out")
grep '^split=' <<<"$out" || true
echo "$last"
[[ $last =~ ^passing=([0-9]+)/([0-9]+)\ wrong_accepts=([0-9]+)\  ]] || { echo "unexpected summary line"; exit 1; }
passing=${BASH_REMATCH[1]} total=${BASH_REMATCH[2]} wrong=${BASH_REMATCH[3]}
if ((wrong != 0)); then
  echo "FAIL: $wrong invalid instances accepted:"
  grep -v '"wrong_accepts":0' <<<"$out" | grep '"wrong_accepts"' | head -20
  exit 1
fi
if ((total != 363 || passing < floor)); then
  echo "FAIL: $passing/$total schemas pass, the floor is $floor/363"
  exit 1
fi
echo "ok: $passing/$total passing (floor $floor), no wrong accepts"
