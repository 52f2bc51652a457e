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

# apt_install WHAT "PACKAGES" "WHO NEEDS IT": install Debian packages once, quietly, when root;
# otherwise one line saying how.
apt_install() {
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "[semcgcnn] installing $1 (Debian packages $2)" >&2
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $2; } \
      >/dev/null 2>&1 || echo "[semcgcnn] $1 install failed ($3 unavailable); try: apt-get install -y $2" >&2
  else
    echo "[semcgcnn] $1 not found (needed only for $3): sudo apt-get install -y $2" >&2
  fi
}

# GPAW (DFT labels) runs in the system interpreter, apart from the venv (Debian's GPAW is built
# against numpy 1.x; SEMCGCNN_GPAW_PYTHON points elsewhere).
/usr/bin/python3 -c 'import gpaw' >/dev/null 2>&1 || apt_install GPAW "gpaw gpaw-data" "DFT labels"
# Chromium (headless): tests/pipeline/report/test_report.py opens the HTML report in it and checks the screenshot.
command -v chromium >/dev/null 2>&1 || apt_install Chromium "chromium chromium-driver" "the report's browser test"

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
