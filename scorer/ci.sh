#!/usr/bin/env bash
# The scorer's CI (called from .ci/run): a venv with the pinned dependencies, cached by a hash of what pins
# them, Debian's flite for the tests' speech, then pytest. Exits non-zero on any failure, and when pytest
# collects no test (its exit 5).
set -euo pipefail
cd "$(dirname "$0")"
python=${PYTHON:-python3}
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "the scorer needs Python >= 3.11" >&2; exit 1; }

# Installed apart, without its dependencies: only its pretrained.pt is read, and its torch is the 5.8 GB CUDA build.
resemblyzer="resemblyzer==0.1.4"

if ! command -v flite >/dev/null 2>&1; then
  echo "== installing flite (the tests synthesise their speech with it)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends flite >/dev/null
fi

# The dependencies as pyproject.toml pins them (runtime and test); the package itself runs from src/.
requirements=$("$python" -c '
import tomllib
p = tomllib.load(open("pyproject.toml", "rb"))["project"]
print("\n".join(p["dependencies"] + p["optional-dependencies"]["test"]))')
# Keyed by the pins (not the whole file): editing pytest options does not rebuild the venv.
key=$( { echo "$requirements"; echo "$resemblyzer"; "$python" --version; } | sha256sum | cut -c1-16)
venv="${XDG_CACHE_HOME:-$HOME/.cache}/voicectl/scorer-venv/$key"
if [ -f "$venv/.complete" ]; then
  echo "== scorer venv: cached ($venv)"
else
  echo "== scorer venv: installing the pinned dependencies into $venv"
  t0=$SECONDS
  rm -rf "$venv"
  "$python" -m venv "$venv"
  echo "$requirements" >"$venv/requirements.txt"
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$venv/requirements.txt"
  "$venv/bin/pip" install -q --disable-pip-version-check --no-deps "$resemblyzer"
  touch "$venv/.complete"
  echo "scorer venv ready after $((SECONDS - t0))s"
fi

# --venv-only: the venv's python on the last line, no tests (the real-audio e2e test starts the scorer with it).
if [ "${1:-}" = "--venv-only" ]; then
  echo "$venv/bin/python"
  exit 0
fi

echo "== scorer tests (pytest)"
status=0
"$venv/bin/python" -m pytest -q tests || status=$?
if [ "$status" = 5 ]; then
  echo "pytest collected no test: failing" >&2
  exit 1
fi
exit "$status"
