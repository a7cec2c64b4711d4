#!/usr/bin/env bash
# Create (or reuse) the project's virtual environment and install the project.
#
#   bash scripts/setup.sh          # runtime dependencies
#   bash scripts/setup.sh --dev    # plus the test and lint tools
#
# Environment:
#   HSI_VENV   where the environment lives (default: .venv at the project root)
#   HSI_TORCH  the torch requirement installed when no torch is importable
#              (default: torch==2.13.0, the CPU wheel these machines provide)
#
# torch is installed first and only when the environment has none, so that a
# GPU cluster's CUDA build of torch is kept: create the environment with
# `python -m venv --system-site-packages` (or point HSI_VENV at an environment
# that already has torch) and this script leaves torch alone.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${HSI_VENV:-$root/.venv}"
extras=""
for arg in "$@"; do
  case "$arg" in
    --dev) extras="[dev]" ;;
    *) echo "setup.sh: unknown argument '$arg' (expected: --dev)" >&2; exit 2 ;;
  esac
done
py="${PYTHON:-python3}"
if [ ! -x "$venv/bin/python" ]; then
  "$py" -m venv "$venv"
fi
vpy="$venv/bin/python"
if ! "$vpy" -c "import torch" >/dev/null 2>&1; then
  "$vpy" -m pip install --quiet "${HSI_TORCH:-torch==2.13.0}" 2> >(grep -v "^WARNING: Location" >&2)
fi
"$vpy" -m pip install --quiet -e "$root$extras" 2> >(grep -v "^WARNING: Location" >&2)
"$vpy" -c "import torch, sys; print(f'environment ready: {sys.prefix} (torch {torch.__version__})')"
