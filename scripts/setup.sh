#!/usr/bin/env bash
# Install everything the project needs on a fresh machine (root, Python 3.11): Icarus Verilog
# from Debian, the package with its test and FPGA-flow extras from PyPI (PyTorch 2.13.0 comes
# from local disk).
# With --test, also SCALE-Sim 3.0.0 in its own venv (it needs numpy < 2.4) for the tests that
# compare against it. Idempotent: a second run takes a few seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v iverilog >/dev/null 2>&1; then
    echo "setup: installing Icarus Verilog" >&2
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iverilog >/dev/null
fi

pip_install() { python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore "$@"; }

stamp=.setup-stamp
# Installed means importable from anywhere as this checkout (not only from here, or another clone).
installed() { [ "$(cd / && python3 -c 'import accel, rtl, workloads, sim; print(sim.__file__)' 2>/dev/null)" = "$PWD/sim/__init__.py" ]; }
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || ! installed; then
    echo "setup: installing Python packages" >&2
    pip_install -e ".[test,onnx,torch,fpga]"
    touch "$stamp"
fi
# Byte-compile the project once: where PYTHONDONTWRITEBYTECODE is set, every `sim` start would
# otherwise compile its modules again (about 25 ms). Up-to-date files are skipped.
python3 -m compileall -q accel sim rtl workloads >/dev/null
# pyenv puts console scripts behind shims that exist only after a rehash.
if command -v pyenv >/dev/null 2>&1; then pyenv rehash; fi

if [ "${1:-}" = "--test" ] && ! /opt/scalesim-venv/bin/python -c "import scalesim" 2>/dev/null; then
    echo "setup: installing SCALE-Sim 3.0.0 into /opt/scalesim-venv" >&2
    python3 -m venv /opt/scalesim-venv
    /opt/scalesim-venv/bin/python -m pip install -q --disable-pip-version-check "scalesim==3.0.0" "numpy<2.4"
fi
