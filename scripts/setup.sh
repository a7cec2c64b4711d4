#!/usr/bin/env bash
# Create (or reuse) the project's virtual environment and install the project.
#
#   bash scripts/setup.sh            # runtime dependencies, and the real Indian Pines cube
#   bash scripts/setup.sh --dev      # plus the test and lint tools
#   bash scripts/setup.sh --no-data  # without fetching the cube
#
# The real Indian Pines cube is published inside the tensorly 0.10.0 wheel on PyPI
# (CC BY 3.0): it is fetched through pip into data/ at the project root, checked
# and saved atomically (`python -m datasets download indian_pines --from pypi`),
# so the suites run on the real cube out of the box. Nothing is installed for it.
# A failure to fetch it is a warning: the suites then run on surrogates, and say so.
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
data=1
for arg in "$@"; do
  case "$arg" in
    --dev) extras="[dev]" ;;
    --no-data) data=0 ;;
    *) echo "setup.sh: unknown argument '$arg' (expected: --dev, --no-data)" >&2; exit 2 ;;
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
if [ "$data" -eq 1 ]; then
  if (cd "$root" && "$vpy" -m datasets download indian_pines --from pypi --to "$root/data" --quiet); then
    :
  else
    echo "setup.sh: WARNING: the real Indian Pines cube could not be fetched (above); the" \
      "suites will run on surrogates. Retry: $vpy -m datasets download indian_pines --from pypi" >&2
  fi
fi
