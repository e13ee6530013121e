#!/usr/bin/env bash
# Install everything the project needs on a fresh machine (root, Python 3.11): Icarus Verilog
# from Debian, the package and its test extras from PyPI. Idempotent; a second run takes seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v iverilog >/dev/null 2>&1; then
    echo "setup: installing Icarus Verilog" >&2
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iverilog >/dev/null
fi

stamp=.setup-stamp
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || ! python3 -c "import accel, sim, rtl, workloads" 2>/dev/null; then
    echo "setup: installing Python packages" >&2
    python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore -e ".[test,onnx,torch]"
    touch "$stamp"
fi
# pyenv puts console scripts behind shims that exist only after a rehash.
if command -v pyenv >/dev/null 2>&1; then pyenv rehash; fi
