#!/usr/bin/env bash
# Regenerate the protobuf modules from proto/:
#   cogkit/llb/pb/*_pb2.py{,i}                 the LLB op messages (no gRPC: the graph package never imports grpc)
#   cogkit/buildkit/pb/*_pb2{,_grpc}.py{,i}    BuildKit's control, gateway and session APIs with their stubs
#
# Usage: scripts/gen_proto.sh [OUT_DIR]   (default: the repository root, i.e. in place)
# Uses .venv's grpc_tools (pinned in pyproject's dev extra) so the committed output is reproducible;
# tests/buildkit/test_proto_fresh.py runs this into a temp dir and fails when the committed files differ.
# google/rpc/status.proto comes from the googleapis-common-protos package, not from us.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-$ROOT}
PY=${PYTHON:-$ROOT/.venv/bin/python}
GOOGLEAPIS=$("$PY" -c 'import os, google.rpc.status_pb2 as m; print(os.path.dirname(os.path.dirname(os.path.dirname(m.__file__))))')
cd "$ROOT/proto"
# Sorted file lists: protoc's output does not depend on them, but a stable command line is easier to diff.
protos() { find "$1" -name '*.proto' | LC_ALL=C sort; }
init() {
  [ -f "$OUT/$1/__init__.py" ] || cp "$ROOT/$1/__init__.py" "$OUT/$1/__init__.py" 2>/dev/null \
    || printf '"""Generated protobuf modules (scripts/gen_proto.sh); do not edit."""\n' >"$OUT/$1/__init__.py"
}
mkdir -p "$OUT/cogkit/llb/pb" "$OUT/cogkit/buildkit/pb"
mapfile -t graph < <(protos cogkit/llb/pb)
"$PY" -m grpc_tools.protoc -I . -I "$GOOGLEAPIS" --python_out="$OUT" --pyi_out="$OUT" "${graph[@]}"
mapfile -t client < <(protos cogkit/buildkit/pb)
"$PY" -m grpc_tools.protoc -I . -I "$GOOGLEAPIS" \
  --python_out="$OUT" --grpc_python_out="$OUT" --pyi_out="$OUT" "${client[@]}"
init cogkit/llb/pb
init cogkit/buildkit/pb
