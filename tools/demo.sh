#!/usr/bin/env bash
# The main job on a fresh machine: install dependencies, build berth, generate a demo model (random
# weights, Qwen3 architecture, Qwen3's tokenizer) when no model is given, and serve it.
#   bash tools/demo.sh [MODEL_DIR] [berth serve options...]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
bash tools/setup.sh
cmake -S . -B build -DBERTH_CUDA="${BERTH_CUDA:-AUTO}" >/dev/null
cmake --build build -j"$(nproc)"

model=${1:-}
shift || true
if [ -z "$model" ]; then
  model="$root/demo-model"
  if [ ! -f "$model/config.json" ]; then
    tokenizer="$root/models/tokenizer/qwen3"
    build/tools/make_model/berth-make-model --preset demo --tokenizer "$tokenizer" --out "$model"
  fi
fi
echo "demo: serving $model on http://0.0.0.0:${BERTH_PORT:-8080}/v1 (Ctrl-C stops)"
exec build/server/cli/berth serve --model "$model" "$@"
