#!/usr/bin/env bash
# Take a fresh Debian machine (as root) to a working cogkit environment.
#
# Idempotent: every step checks before it acts, so it is safe to run before
# each test run. It installs and starts exactly what cogkit and its tests use:
#   - dockerd 20.10 (Debian docker.io), whose embedded BuildKit v0.8 we drive over gRPC
#   - an open registry on 127.0.0.1:5000 and an htpasswd-protected one on 127.0.0.1:5001
#   - redis-server on 127.0.0.1:6379 (the queue worker's broker)
#   - the offline base image cogkit-base:py3.11-bookworm (debootstrap + docker import),
#     because no container registry is reachable from these machines
#   - a virtualenv at .venv with cogkit installed in editable mode, plus the dev tools
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
STATE=/var/lib/cogkit
LOGS=/var/log/cogkit
BASE_IMAGE=${COGKIT_TEST_BASE_IMAGE:-cogkit-base:py3.11-bookworm}
REGISTRY_USER=cogkit
REGISTRY_PASSWORD=cogkit-secret
mkdir -p "$STATE" "$LOGS"

log() { printf '[setup] %s\n' "$*" >&2; }

# ---------------------------------------------------------------- packages
need_pkgs=()
command -v dockerd >/dev/null || need_pkgs+=(docker.io)
[ -x /usr/bin/docker-registry ] || need_pkgs+=(docker-registry)
command -v redis-server >/dev/null || need_pkgs+=(redis-server)
command -v debootstrap >/dev/null || need_pkgs+=(debootstrap)
command -v htpasswd >/dev/null || need_pkgs+=(apache2-utils)
command -v wrk >/dev/null || need_pkgs+=(wrk)
command -v taskset >/dev/null || need_pkgs+=(util-linux)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  log "installing ${need_pkgs[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >"$LOGS/apt.log" 2>&1 \
    || { tail -20 "$LOGS/apt.log"; exit 1; }
fi

# ---------------------------------------------------------------- dockerd
docker_up() { curl -sf --max-time 2 --unix-socket /var/run/docker.sock http://localhost/_ping >/dev/null 2>&1; }
if ! docker_up; then
  # A killed dockerd leaves its pid file (and containerd's) behind; the next start refuses.
  if [ -f /var/run/docker.pid ] && ! kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null; then
    rm -f /var/run/docker.pid
  fi
  rm -f /var/run/docker/containerd/containerd.pid 2>/dev/null || true
  log "starting dockerd"
  nohup dockerd --host unix:///var/run/docker.sock >"$LOGS/dockerd.log" 2>&1 &
  for _ in $(seq 1 60); do docker_up && break; sleep 0.5; done
  docker_up || { tail -30 "$LOGS/dockerd.log"; log "dockerd did not start"; exit 1; }
fi
DOCKER=/usr/bin/docker   # Debian's 20.10 client, matching the daemon

# ---------------------------------------------------------------- registries
write_registry_config() {  # name port [htpasswd]
  local name=$1 port=$2 auth=${3:-}
  mkdir -p "$STATE/registry-$name/data"
  {
    echo "version: 0.1"
    echo "log: {level: warn}"
    echo "storage:"
    echo "  filesystem: {rootdirectory: $STATE/registry-$name/data}"
    echo "  delete: {enabled: true}"
    echo "http: {addr: 127.0.0.1:$port}"
    if [ -n "$auth" ]; then
      echo "auth:"
      echo "  htpasswd: {realm: cogkit, path: $auth}"
    fi
  } >"$STATE/registry-$name/config.yml"
}
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
start_registry() {  # name port
  local name=$1 port=$2
  port_open "$port" && return 0
  log "starting registry '$name' on 127.0.0.1:$port"
  nohup /usr/bin/docker-registry serve "$STATE/registry-$name/config.yml" >"$LOGS/registry-$name.log" 2>&1 &
  for _ in $(seq 1 40); do port_open "$port" && return 0; sleep 0.25; done
  tail -20 "$LOGS/registry-$name.log"; log "registry $name did not start"; exit 1
}
[ -f "$STATE/htpasswd" ] || htpasswd -Bbn "$REGISTRY_USER" "$REGISTRY_PASSWORD" >"$STATE/htpasswd"
write_registry_config open 5000
write_registry_config auth 5001 "$STATE/htpasswd"
start_registry open 5000
start_registry auth 5001

# ---------------------------------------------------------------- redis
if ! port_open 6379; then
  log "starting redis-server on 127.0.0.1:6379"
  redis-server --bind 127.0.0.1 --port 6379 --daemonize yes --save '' --appendonly no \
    --logfile "$LOGS/redis.log" --dir "$STATE"
  for _ in $(seq 1 40); do port_open 6379 && break; sleep 0.25; done
fi
bash "$ROOT/scripts/setup-redis-cluster.sh"  # three masters on 127.0.0.1:7001-7003 (queue cluster tests)

# ---------------------------------------------------------------- base image
if ! $DOCKER image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
  rootfs="$STATE/rootfs-bookworm"
  if [ ! -x "$rootfs/usr/bin/python3.11" ]; then
    log "debootstrap bookworm (python3.11) into $rootfs; this takes a few minutes"
    rm -rf "$rootfs"
    debootstrap --variant=minbase \
      --include=python3,python3-venv,python3-pip,ca-certificates \
      bookworm "$rootfs" http://deb.debian.org/debian >"$LOGS/debootstrap.log" 2>&1 \
      || { tail -30 "$LOGS/debootstrap.log"; exit 1; }
    # Look like python:3.11-slim: `python` on PATH, no apt lists left in the layer.
    ln -sf /usr/bin/python3 "$rootfs/usr/local/bin/python"
    rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin
  fi
  log "importing $BASE_IMAGE"
  tar -C "$rootfs" -c . | $DOCKER import \
    -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    -c 'ENV LANG=C.UTF-8' \
    -c 'CMD ["python3"]' \
    - "$BASE_IMAGE" >/dev/null
fi

bash "$ROOT/scripts/setup-engine.sh"   # the second engine: dockerd 28.5 beside this one

# ---------------------------------------------------------------- python env
if [ ! -x "$ROOT/.venv/bin/python" ]; then
  log "creating $ROOT/.venv"
  python3.11 -m venv "$ROOT/.venv" 2>/dev/null || python3 -m venv "$ROOT/.venv"
fi
stamp="$ROOT/.venv/.cogkit-installed"
if [ ! -f "$stamp" ] || [ "$ROOT/pyproject.toml" -nt "$stamp" ]; then
  log "installing cogkit (editable) and dev tools into .venv"
  "$ROOT/.venv/bin/pip" install -q --upgrade pip >"$LOGS/pip.log" 2>&1 || true
  "$ROOT/.venv/bin/pip" install -q -e "$ROOT[dev]" >>"$LOGS/pip.log" 2>&1 \
    || { tail -30 "$LOGS/pip.log"; exit 1; }
  touch "$stamp"
fi
log "ready: dockerd, registries :5000 (open) :5001 (auth $REGISTRY_USER), redis :6379, $BASE_IMAGE"
