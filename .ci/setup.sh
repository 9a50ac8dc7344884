#!/usr/bin/env bash
# Builds the project's virtual environment at .venv (Python 3.13) if it is missing or stale.
#
# The heavy packages (torch & co., about 6 GB) live in a base environment cached outside the clone,
# keyed by the hash of the pin files, so fresh clones reuse it. .venv itself is a small, real venv
# of this clone: a .pth file layers the base's site-packages under it, and this checkout is installed
# into it in editable mode (so `rlcore` and `import rlcore` always mean this tree).
#
# Usage: bash .ci/setup.sh          the environment for running the app, training, the CLI
#        bash .ci/setup.sh --test   the same, plus Debian's chromium for the browser tests
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = "--test" ] && ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing Debian's chromium for the browser tests" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) ||
      { echo "error: could not install chromium with apt-get (needed by tests/test_browser.py)" >&2; exit 1; }
  else
    echo "error: the browser tests need Debian's chromium: run 'sudo apt-get install chromium' first" >&2; exit 1
  fi
fi

find_python() {
  local candidate
  for candidate in "${RLCORE_PYTHON:-}" "$(command -v python3.13 2>/dev/null || true)" \
                   "$HOME"/.pyenv/versions/3.13*/bin/python3.13 /usr/local/bin/python3.13 /usr/bin/python3.13; do
    [ -n "$candidate" ] && [ -x "$candidate" ] || continue
    # A pyenv shim can sit on PATH without the version being selected: check that it really runs.
    if "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' 2>/dev/null; then
      echo "$candidate"; return 0
    fi
  done
  return 1
}

key=$(cat requirements.txt .ci/requirements-test.txt | sha256sum | cut -c1-16)        # the pinned packages
clone_key=$(cat requirements.txt .ci/requirements-test.txt pyproject.toml | sha256sum | cut -c1-16)
if [ -f .venv/.rlcore-ready ] && [ "$(cat .venv/.rlcore-ready)" = "$clone_key" ] && [ -x .venv/bin/python ]; then
  exit 0
fi
log=$(mktemp -t rlcore-setup.XXXXXX.log)
quiet() { "$@" >>"$log" 2>&1 || { tail -n 40 "$log" >&2; echo "error: setup step failed: $* (full log: $log)" >&2; exit 1; }; }

python=$(find_python) || { echo "error: Python 3.13 is required (the Mario emulator ships cp313 wheels only): install it or set RLCORE_PYTHON=/path/to/python3.13" >&2; exit 1; }
base="${RLCORE_VENV_CACHE:-$HOME/.cache/rlcore/venvs}/$key"

if [ ! -f "$base/.rlcore-ready" ]; then
  echo "setup: installing the pinned packages with $python (first time only, a few minutes)" >&2
  rm -rf "$base" && mkdir -p "$(dirname "$base")"
  quiet "$python" -m venv "$base"
  quiet "$base/bin/python" -m pip install --upgrade pip
  quiet "$base/bin/python" -m pip install -r requirements.txt -r .ci/requirements-test.txt
  quiet "$base/bin/python" -m pip check
  echo "$key" > "$base/.rlcore-ready"
  # Keep the two newest environments (this one and the previous), so disks do not fill up.
  ls -1dt "$(dirname "$base")"/*/ | tail -n +3 | xargs -r rm -rf
fi

rm -rf .venv
"$python" -m venv --without-pip .venv
site=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')
"$base/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))' > "$site/_rlcore_base.pth"
quiet .venv/bin/python -m pip install --no-deps --no-build-isolation -e .
echo "$clone_key" > .venv/.rlcore-ready
rm -f "$log"
