#!/usr/bin/env bash
# Creates .venv and installs opsagent with pinned dependencies. Idempotent: a second run is fast.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
stamp=.venv/.installed-$(cat pyproject.toml constraints.txt | sha1sum | cut -c1-12)
if [ -f "$stamp" ]; then exit 0; fi
[ -d .venv ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# torch first and pinned: an unpinned torch would pull several GB of CUDA wheels.
# On a GPU machine, install a CUDA build instead (see README, "GPU").
.venv/bin/python -m pip install -q "torch==${OPSAGENT_TORCH_VERSION:-2.13.0}"
.venv/bin/python -m pip install -q -c constraints.txt -e ".[dev]"
rm -f .venv/.installed-*
touch "$stamp"
