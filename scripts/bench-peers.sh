#!/usr/bin/env bash
# Install the peers the benchmarks compare against, each in its own venv (never beside cogkit):
# Cog 0.23.1 (the Rust coglet server) and Cog 0.16.8 (the FastAPI server).
set -euo pipefail
mkdir -p /opt/bench
for spec in "coglet-venv cog==0.23.1" "cog016-venv cog==0.16.8"; do
  set -- $spec
  if [ ! -x "/opt/bench/$1/bin/python" ] || ! "/opt/bench/$1/bin/pip" show cog >/dev/null 2>&1; then
    python3.11 -m venv "/opt/bench/$1"
    "/opt/bench/$1/bin/pip" install -q "$2"
  fi
done
echo "peers ready in /opt/bench"
