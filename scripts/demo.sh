#!/usr/bin/env bash
# The main job on a fresh machine: set it up, build examples/hello-world as BuildKit layers,
# and answer a prediction from the built image.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
bash "$ROOT/scripts/setup.sh"
export COGKIT_BASE_IMAGE=${COGKIT_BASE_IMAGE:-cogkit-base:py3.11-bookworm}  # nothing can be pulled here
export COGKIT_CA_CERT=${COGKIT_CA_CERT:-/etc/ssl/certs/ca-certificates.crt}  # PyPI from build steps
cd "$ROOT/examples/hello-world"
"$ROOT/.venv/bin/cogkit" build -t cogkit-hello-world
"$ROOT/.venv/bin/cogkit" run cogkit-hello-world -i text=world
