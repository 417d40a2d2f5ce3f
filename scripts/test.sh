#!/usr/bin/env bash
# The whole test suite, on real components: set the machine up (idempotent), lint, then pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
exec .venv/bin/pytest "$@"
