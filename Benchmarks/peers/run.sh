#!/usr/bin/env bash
# Makes Benchmarks/peers/.venv (python3 -m venv) with the pinned DuckDB and chDB, then runs peers.py.
# Usage: Benchmarks/peers/run.sh --actionbench-json bench-out/actionbench-1000000.json [peers.py options]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="$here/.venv"
if [ ! -x "$venv/bin/python" ] || ! cmp -s "$here/requirements.txt" "$venv/.requirements.txt"; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
  cp "$here/requirements.txt" "$venv/.requirements.txt"
fi
exec "$venv/bin/python" "$here/peers.py" "$@"
