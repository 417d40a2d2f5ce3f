#!/usr/bin/env bash
# Regenerate cogkit/llb/pb/*_pb2{,_grpc}.py{,i} from proto/cogkit/llb/pb/*.proto.
#
# Usage: scripts/gen_proto.sh [OUT_DIR]   (default: the repository root, i.e. in place)
# Uses .venv's grpc_tools (pinned in pyproject's dev extra) so the committed output is reproducible;
# tests/llb/test_proto_fresh.py runs this into a temp dir and fails when the committed files differ.
# google/rpc/status.proto comes from the googleapis-common-protos package, not from us.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-$ROOT}
PY=${PYTHON:-$ROOT/.venv/bin/python}
GOOGLEAPIS=$("$PY" -c 'import os, google.rpc.status_pb2 as m; print(os.path.dirname(os.path.dirname(os.path.dirname(m.__file__))))')
mkdir -p "$OUT/cogkit/llb/pb"
cd "$ROOT/proto"
# Sorted file list: protoc's output does not depend on it, but a stable command line is easier to diff.
mapfile -t files < <(find cogkit/llb/pb -name '*.proto' | LC_ALL=C sort)
"$PY" -m grpc_tools.protoc -I . -I "$GOOGLEAPIS" \
  --python_out="$OUT" --grpc_python_out="$OUT" --pyi_out="$OUT" "${files[@]}"
[ -f "$OUT/cogkit/llb/pb/__init__.py" ] || cp "$ROOT/cogkit/llb/pb/__init__.py" "$OUT/cogkit/llb/pb/__init__.py" 2>/dev/null \
  || printf '"""Generated protobuf modules (scripts/gen_proto.sh); do not edit."""\n' >"$OUT/cogkit/llb/pb/__init__.py"
