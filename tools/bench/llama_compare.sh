#!/usr/bin/env bash
# berth against llama.cpp on the CPU, same bf16 weights, same thread count (docs/benchmarks.md,
# "berth vs llama.cpp on the CPU"). Steps, each skipped when its output is already there:
#   1. llama.cpp from the llama-cpp-python source package (it vendors llama.cpp; the version is the
#      one tools/fetch_data.sh pins), built with its defaults (GGML_NATIVE: -march=native) into
#      .cache/llama.cpp/build-<version>: only llama-batched-bench.
#   2. a Qwen3-0.6B-shaped checkpoint from berth-make-model (random bf16 weights, the real Qwen3
#      tokenizer), converted by llama.cpp's own convert_hf_to_gguf.py --outtype bf16. The converter
#      needs torch, transformers and numpy: it runs in .cache/llama.cpp/convert-venv (never the test
#      .venv), which gets them from pip, or, with CONVERT_SITE_PACKAGES=DIR, from an existing
#      site-packages folder that has them (a .pth file, nothing copied).
#   3. the machine's streaming read bandwidth (bench_cpu_matmul), so decode speed can be stated as a
#      fraction of it: bytes read per decode step = the checkpoint's size (every weight once; the
#      tied embedding once, as the lm_head).
#   4. ROUNDS rounds, each running berth then llama.cpp (alternated, because the machine may be
#      shared): a 512-token prefill then decode at batch 1, and decode at batch 8 (16-token
#      prompts). The load average is printed before and after every run.
# Prints one line per run and a table of medians with the ratios berth / llama.cpp.
#
# Environment (defaults in brackets): BERTH_BUILD_DIR [build], BERTH_SHARED_DIR [../shared],
# BENCH_OUT [$BERTH_BUILD_DIR/bench-llama], ROUNDS [3], THREADS [nproc], PRESET [qwen3-0.6b],
# DECODE_TOKENS [32], CONVERT_SITE_PACKAGES [unset], LLAMA_JOBS [nproc], LLAMA_SRC [the vendored
# llama.cpp under .cache/llama.cpp/src-<version>], LLAMA_BUILD [.cache/llama.cpp/build-<version>].
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${BERTH_BUILD_DIR:-$root/build}
shared=${BERTH_SHARED_DIR:-$root/../shared}
out=${BENCH_OUT:-$build/bench-llama}
rounds=${ROUNDS:-3}
threads=${THREADS:-$(nproc)}
preset=${PRESET:-qwen3-0.6b}
ntg=${DECODE_TOKENS:-32}
jobs=${LLAMA_JOBS:-$(nproc)}
version=$(sed -n 's/^llama_cpp_python_version=//p' "$root/tools/fetch_data.sh")
cache=$root/.cache/llama.cpp
src=$cache/src-$version
lbuild=${LLAMA_BUILD:-$cache/build-$version}
venv=$cache/convert-venv
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}

say() { echo "llama_compare: $*" >&2; }

# 1. llama.cpp
lcpp=${LLAMA_SRC:-$src/llama_cpp_python-$version/vendor/llama.cpp}
if [[ ! -f $lcpp/CMakeLists.txt ]]; then
  say "fetching llama-cpp-python==$version (source package)"
  mkdir -p "$src"
  python3 -m pip download --no-binary :all: --no-deps -d "$src" "llama-cpp-python==$version" >&2
  tar -xzf "$src"/llama_cpp_python-"$version".tar.gz -C "$src"
fi
batched=$lbuild/bin/llama-batched-bench
if [[ ! -x $batched ]]; then
  say "building llama.cpp (llama-batched-bench) in $lbuild"
  cmake -S "$lcpp" -B "$lbuild" -DCMAKE_BUILD_TYPE=Release -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF \
    -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_EXAMPLES=OFF >/dev/null
  cmake --build "$lbuild" -j"$jobs" --target llama-batched-bench >/dev/null
fi

# berth's own programs
berth=$build/server/cli/berth
make_model=$build/tools/make_model/berth-make-model
bench_mm=$build/tests/kernels/bench_cpu_matmul
if [[ ! -x $berth || ! -x $make_model || ! -x $bench_mm ]]; then
  say "building berth, berth-make-model and bench_cpu_matmul in $build"
  cmake -S "$root" -B "$build" -DBERTH_CUDA=OFF >/dev/null
  cmake --build "$build" -j"$(nproc)" --target berth berth-make-model bench_cpu_matmul >/dev/null
fi

# 2. the weights, in both formats
mkdir -p "$out"
model=$out/$preset
if [[ ! -f $model/model.safetensors ]]; then
  tokenizer=$shared/data/qwen3-tokenizer
  [[ -d $tokenizer ]] || { say "missing $tokenizer (set BERTH_SHARED_DIR)"; exit 1; }
  "$make_model" --preset "$preset" --seed 0 --max-pos 4096 --tokenizer "$tokenizer" --out "$model" --force >&2
fi
gguf=$out/$preset-bf16.gguf
if [[ ! -f $gguf ]]; then
  if [[ ! -x $venv/bin/python ]]; then
    say "making the converter's venv $venv"
    python3 -m venv "$venv"
    if [[ -n ${CONVERT_SITE_PACKAGES:-} ]]; then
      site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
      echo "$CONVERT_SITE_PACKAGES" >"$site/convert-deps.pth"
      # The Qwen converter imports sentencepiece before it looks for a tokenizer.model.
      "$venv/bin/python" -m pip install -q sentencepiece >&2
    else
      "$venv/bin/python" -m pip install -q numpy tqdm pyyaml requests sentencepiece transformers torch >&2
    fi
  fi
  say "converting $model to $gguf (convert_hf_to_gguf.py --outtype bf16)"
  "$venv/bin/python" "$lcpp/convert_hf_to_gguf.py" "$model" --outtype bf16 --outfile "$gguf" \
    >"$out/convert.log" 2>&1 || { say "conversion failed, see $out/convert.log"; exit 1; }
fi
weight_bytes=$(stat -c %s "$model/model.safetensors")

# 3. read bandwidth
read_gbs=$("$bench_mm" "$threads" 3 | sed -n 's/^read 512 MiB: \([0-9.]*\) GB\/s.*/\1/p')
say "streaming read bandwidth: $read_gbs GB/s ($threads threads); $weight_bytes bytes per decode step"

load() { cut -d' ' -f1-3 /proc/loadavg; }
berth_run() { # batch prompt_len -> "prefill_tok/s decode_total_tok/s"
  "$berth" run --model "$model" --backend cpu --threads "$threads" --batch "$1" --prompt-len "$2" \
    --max-tokens $((ntg + 1)) 2>&1 >/dev/null |
    sed -n 's/.*prefill [0-9.]* s (\([0-9.]*\) tok\/s), decode .* tok\/s per sequence, \([0-9.]*\) tok\/s total).*/\1 \2/p'
}
llama_run() { # batch prompt_len -> "prefill_tok/s decode_total_tok/s"
  "$batched" -m "$gguf" -t "$threads" -c $(($1 * ($2 + ntg) + 64)) -b 2048 -ub 512 -npp "$2" -ntg "$ntg" \
    -npl "$1" --output-format jsonl 2>/dev/null |
    sed -n 's/.*"speed_pp": \([0-9.]*\),.*"speed_tg": \([0-9.]*\),.*/\1 \2/p'
}

declare -A res
for ((r = 1; r <= rounds; r++)); do
  for engine in berth llama; do
    for cfg in "1 512" "8 16"; do
      set -- $cfg
      before=$(load)
      v=$("${engine}_run" "$1" "$2")
      [[ -n $v ]] || { say "$engine batch $1 prompt $2 printed no timings"; exit 1; }
      say "round $r $engine batch $1 prompt $2: prefill/decode tok/s $v (load $before -> $(load))"
      res[$engine,$1,$r]=$v
    done
  done
done

median() { sort -g | awk '{a[NR]=$1} END {printf "%.2f\n", (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
col() { # engine batch field
  for ((r = 1; r <= rounds; r++)); do echo "${res[$1,$2,$r]}" | cut -d' ' -f"$3"; done | median
}
bp=$(col berth 1 1) lp=$(col llama 1 1)
bd1=$(col berth 1 2) ld1=$(col llama 1 2)
bd8=$(col berth 8 2) ld8=$(col llama 8 2)
frac() { awk -v t="$1" -v b="$weight_bytes" -v r="$read_gbs" 'BEGIN {printf "%.0f%%", 100 * t * b / (r * 1e9)}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
echo
echo "$preset bf16, $threads threads, medians of $rounds alternated rounds, read bandwidth $read_gbs GB/s"
printf '| %-34s | %10s | %10s | %6s |\n' "" berth llama.cpp ratio
printf '|%s|%s|%s|%s|\n' ------------------------------------ ------------ ------------ --------
printf '| %-34s | %10s | %10s | %6s |\n' "prefill, 512-token prompt (tok/s)" "$bp" "$lp" "$(ratio "$bp" "$lp")"
printf '| %-34s | %10s | %10s | %6s |\n' "decode, batch 1 (tok/s)" "$bd1" "$ld1" "$(ratio "$bd1" "$ld1")"
printf '| %-34s | %10s | %10s | %6s |\n' "decode, batch 8 (total tok/s)" "$bd8" "$ld8" "$(ratio "$bd8" "$ld8")"
printf '| %-34s | %10s | %10s | %6s |\n' "batch-1 decode, share of read BW" "$(frac "$bd1")" "$(frac "$ld1")" ""
