#!/usr/bin/env bash
# A private dockerd 28.5 (+ its own containerd) for benchmarks that prune the build cache, so the
# shared engines (scripts/setup-engine.sh, the system dockerd) are never pruned or restarted.
#
#   bash benchmarks/private_engine.sh start   # prints: export DOCKER_HOST=… COGKIT_DOCKER_CLI=… DOCKER_CONFIG=…
#   bash benchmarks/private_engine.sh stop    # stops only the processes this script started (pid files)
#
# Everything lives under its own roots: data $COGKIT_BENCH_DATA (/var/lib/cogkit-bench), state and
# sockets $COGKIT_BENCH_RUN (/run/cogkit-bench), bridge $COGKIT_BENCH_BRIDGE (ckbench0). The binaries are
# the ones scripts/setup-engine.sh unpacked under /opt/cogkit-engine (run scripts/setup.sh first).
# The base image is copied in from the system dockerd on start.
set -euo pipefail

TREE=${COGKIT_ENGINE_PREFIX:-/opt/cogkit-engine}/root
DATA=${COGKIT_BENCH_DATA:-/var/lib/cogkit-bench}
RUN=${COGKIT_BENCH_RUN:-/run/cogkit-bench}
BRIDGE=${COGKIT_BENCH_BRIDGE:-ckbench0}
BASE_IMAGE=${COGKIT_TEST_BASE_IMAGE:-cogkit-base:py3.11-bookworm}
SOCK=$RUN/docker.sock
CTRD_SOCK=$RUN/containerd/containerd.sock
BIN=$TREE/usr/sbin:$TREE/usr/bin
CLI=$TREE/usr/bin/docker
DOCKER_CONFIG_DIR=${COGKIT_ENGINE_PREFIX:-/opt/cogkit-engine}/docker-config  # has the buildx plugin

log() { printf '[private-engine] %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }
up() { curl -sf --max-time 2 --unix-socket "$SOCK" http://localhost/_ping >/dev/null 2>&1; }

start() {
  [ -x "$TREE/usr/sbin/dockerd" ] || die "no dockerd under $TREE (run scripts/setup.sh first)"
  mkdir -p "$DATA" "$RUN/containerd"
  if [ ! -f "$DATA/subnet" ]; then
    for third in 40 41 42 43 44 45 46 47; do
      candidate=172.31.$third
      ip -4 route | grep -q "^$candidate\." && continue
      echo "$candidate" >"$DATA/subnet"; break
    done
  fi
  [ -f "$DATA/subnet" ] || die "no free 172.31.x.0/24 for the bridge"
  net=$(cat "$DATA/subnet")
  ip link show "$BRIDGE" >/dev/null 2>&1 || ip link add "$BRIDGE" type bridge
  ip -4 addr show dev "$BRIDGE" | grep -q "inet $net.1/24" || ip addr add "$net.1/24" dev "$BRIDGE"
  ip link set "$BRIDGE" up
  iptables -t nat -C POSTROUTING -s "$net.0/24" ! -o "$BRIDGE" -j MASQUERADE 2>/dev/null \
    || iptables -t nat -A POSTROUTING -s "$net.0/24" ! -o "$BRIDGE" -j MASQUERADE
  iptables -C FORWARD -i "$BRIDGE" -j ACCEPT 2>/dev/null || iptables -I FORWARD -i "$BRIDGE" -j ACCEPT
  iptables -C FORWARD -o "$BRIDGE" -j ACCEPT 2>/dev/null || iptables -I FORWARD -o "$BRIDGE" -j ACCEPT

  cat >"$DATA/containerd.toml" <<EOF
version = 3
root = "$DATA/containerd"
state = "$RUN/containerd"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$CTRD_SOCK"
[ttrpc]
  address = "$CTRD_SOCK.ttrpc"
[debug]
  address = "$RUN/containerd/debug.sock"
[plugins."io.containerd.internal.v1.opt"]
  path = "$DATA/containerd-opt"
EOF
  if ! PATH=$BIN:$PATH ctr --address "$CTRD_SOCK" version >/dev/null 2>&1; then
    log "starting containerd ($CTRD_SOCK)"
    PATH=$BIN:$PATH nohup containerd --config "$DATA/containerd.toml" >"$DATA/containerd.log" 2>&1 &
    echo $! >"$RUN/containerd.pid"
    for _ in $(seq 1 60); do PATH=$BIN:$PATH ctr --address "$CTRD_SOCK" version >/dev/null 2>&1 && break; sleep 0.25; done
  fi
  cat >"$DATA/daemon.json" <<EOF
{
  "data-root": "$DATA/docker",
  "exec-root": "$RUN/docker",
  "pidfile": "$RUN/docker.pid",
  "hosts": ["unix://$SOCK"],
  "containerd": "$CTRD_SOCK",
  "bridge": "$BRIDGE",
  "iptables": false,
  "ip6tables": false,
  "cgroup-parent": "cogkit-bench",
  "features": {"containerd-snapshotter": true},
  "insecure-registries": ["127.0.0.1:5000", "127.0.0.1:5001"],
  "log-level": "warn"
}
EOF
  if ! up; then
    log "starting dockerd 28.5 ($SOCK, data $DATA)"
    rm -f "$SOCK"
    PATH=$BIN:$PATH nohup dockerd --config-file "$DATA/daemon.json" >"$DATA/dockerd.log" 2>&1 &
    for _ in $(seq 1 120); do up && break; sleep 0.5; done
    up || { tail -20 "$DATA/dockerd.log"; die "dockerd did not start"; }
  fi
  if ! DOCKER_HOST=unix://$SOCK "$CLI" image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
    log "loading $BASE_IMAGE from the system dockerd"
    /usr/bin/docker save "$BASE_IMAGE" | DOCKER_HOST=unix://$SOCK "$CLI" load >/dev/null
  fi
  echo "export DOCKER_HOST=unix://$SOCK COGKIT_DOCKER_CLI=$CLI DOCKER_CONFIG=$DOCKER_CONFIG_DIR"
}

stop() {
  for name in docker containerd; do
    pidfile=$RUN/$name.pid
    if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
      log "stopping $name ($(cat "$pidfile"))"
      kill "$(cat "$pidfile")"
      for _ in $(seq 1 60); do kill -0 "$(cat "$pidfile")" 2>/dev/null || break; sleep 0.5; done
    fi
    rm -f "$pidfile"
  done
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) die "usage: $0 start|stop" ;;
esac
