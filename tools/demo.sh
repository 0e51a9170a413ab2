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

# The first argument is a model directory (or s3:// URL); one that does not exist yet becomes the
# demo model.
model=${1:-$root/demo-model}
shift || true
if [[ "$model" != s3://* && ! -f "$model/config.json" ]]; then
  build/tools/make_model/berth-make-model --preset demo --tokenizer "$root/models/tokenizer/qwen3" \
    --out "$model"
fi
echo "demo: serving $model on http://${BERTH_HOST:-0.0.0.0}:${BERTH_PORT:-8080}/v1 (Ctrl-C stops)"
exec build/server/cli/berth serve --model "$model" "$@"
