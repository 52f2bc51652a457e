# Source this file: it makes sure .venv exists and matches pyproject.toml, then activates it.
# Creates the environment on a fresh machine (only Python >= 3.11 needed). torch is pinned to
# the CPU build 2.13.0 and installed first, so no dependency can pull a CUDA build.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${SEMCGCNN_VENV:-$ROOT/.venv}"
PY="${PYTHON:-python3}"
stamp="$VENV/.semcgcnn-install-stamp"
want="$(cat "$ROOT/pyproject.toml" | sha256sum | cut -c1-16)"
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  "$PY" -c 'import sys; assert sys.version_info >= (3, 11), "sem-cgcnn needs Python >= 3.11"'
  echo "[semcgcnn] setting up $VENV (first run or pyproject.toml changed)" >&2
  [ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  "$VENV/bin/python" -m pip install --quiet "torch==2.13.0"
  "$VENV/bin/python" -m pip install --quiet -e "$ROOT[test]"
  echo "$want" > "$stamp"
fi
# shellcheck disable=SC1091
source "$VENV/bin/activate"
cd "$ROOT"
