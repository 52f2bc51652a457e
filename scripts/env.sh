# Source this file: it makes sure .venv exists and matches pyproject.toml, then activates it.
# Creates the environment on a fresh machine (only Python >= 3.11 needed). torch is pinned to
# the CPU build 2.13.0 and installed first, so no dependency can pull a CUDA build.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${SEMCGCNN_VENV:-$ROOT/.venv}"
PY="${PYTHON:-python3}"
stamp="$VENV/.semcgcnn-install-stamp"

# pip, quiet: no setuptools build warnings (PYTHONWARNINGS reaches the build backend) and no
# "Location ... is ignored" lines for index folders a machine's pip.conf names but lacks; errors
# still show, and pip's exit status is kept.
pip_quiet() {
  PYTHONWARNINGS=ignore "$VENV/bin/python" -m pip "$@" --quiet 2>&1 \
    | { grep -v "is ignored: it is neither a file nor a directory" || true; } >&2
  return "${PIPESTATUS[0]}"
}

# GPAW (DFT labels) runs in the system interpreter, apart from the venv (Debian's GPAW is built
# against numpy 1.x): install the Debian packages once if they are missing and we may.
if ! /usr/bin/python3 -c 'import gpaw' >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "[semcgcnn] installing GPAW (Debian packages gpaw, gpaw-data)" >&2
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends gpaw gpaw-data; } \
      >/dev/null 2>&1 || echo "[semcgcnn] GPAW install failed (DFT labels unavailable); try: apt-get install -y gpaw gpaw-data" >&2
  else
    echo "[semcgcnn] GPAW not found (only DFT labels need it): sudo apt-get install -y gpaw gpaw-data, or set SEMCGCNN_GPAW_PYTHON" >&2
  fi
fi

# Chromium (headless): tests/test_report.py opens the HTML report in it and checks the screenshot.
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "[semcgcnn] installing Chromium (Debian packages chromium, chromium-driver)" >&2
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver; } \
      >/dev/null 2>&1 || echo "[semcgcnn] Chromium install failed (the report's browser test skips); try: apt-get install -y chromium chromium-driver" >&2
  else
    echo "[semcgcnn] Chromium not found (only the report's browser test needs it): sudo apt-get install -y chromium chromium-driver" >&2
  fi
fi

want="$(cat "$ROOT/pyproject.toml" | sha256sum | cut -c1-16)"
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  "$PY" -c 'import sys; assert sys.version_info >= (3, 11), "sem-cgcnn needs Python >= 3.11"'
  echo "[semcgcnn] setting up $VENV (first run or pyproject.toml changed)" >&2
  [ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
  pip_quiet install --upgrade pip
  pip_quiet install "torch==2.13.0"
  pip_quiet install -e "$ROOT[test]"
  echo "$want" > "$stamp"
fi
# shellcheck disable=SC1091
source "$VENV/bin/activate"
cd "$ROOT"
