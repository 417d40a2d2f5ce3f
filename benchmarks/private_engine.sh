#!/usr/bin/env bash
# A private engine for benchmarks that prune the build cache: the shared engines must never be
# pruned (other sessions' tests run on them), so a benchmark starts its own and stops it after.
#
#   benchmarks/private_engine.sh start NAME [20.10|28.5]   # prints the engine's DOCKER_HOST
#   benchmarks/private_engine.sh stop NAME [--purge]        # --purge also deletes its data root
#   benchmarks/private_engine.sh status NAME
#
#   20.10: the system's /usr/bin/dockerd, with the containerd it supervises under its own exec-root.
#   28.5:  dockerd 28.5 + containerd 2.1 from scripts/setup-engine.sh's unpacked tree
#          (/opt/cogkit-engine/root), with the containerd image store, as the shared 28.5 runs.
#
# Everything is its own: data root /var/lib/cogkit-private/NAME, run dir /run/cogkit-private/NAME
# (socket, pid files, exec-root, containerd state), a bridge ck-NAME on a free 172.31.x.0/24
# ("iptables": false plus one MASQUERADE and two FORWARD rules, removed again by stop), and a
# cgroup parent. The base image is copied in from the shared system dockerd (docker save | load).
# Idempotent: start on a running engine only prints its socket; a pid file left behind by a killed
# dockerd is removed before the next start.
set -euo pipefail

cmd=${1:-}
name=${2:-}
[[ $cmd =~ ^(start|stop|status)$ && $name =~ ^[a-z0-9][a-z0-9-]{0,11}$ ]] || {
  echo "usage: $0 start NAME [20.10|28.5] | stop NAME [--purge] | status NAME  (NAME: [a-z0-9-], 12 chars at most)" >&2
  exit 2
}
DATA=/var/lib/cogkit-private/$name
RUN=/run/cogkit-private/$name
SOCK=$RUN/docker.sock
BRIDGE=ck-$name
ENGINE_TREE=${COGKIT_ENGINE_PREFIX:-/opt/cogkit-engine}/root
BASE_IMAGE=${COGKIT_TEST_BASE_IMAGE:-cogkit-base:py3.11-bookworm}
SYSTEM_DOCKER=${COGKIT_SYSTEM_DOCKER:-/usr/bin/docker}

log() { printf '[private-engine %s] %s\n' "$name" "$*" >&2; }
die() { log "$*"; exit 1; }
engine_up() { curl -sf --max-time 2 --unix-socket "$SOCK" http://localhost/_ping >/dev/null 2>&1; }
alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

client() {  # the docker client that matches the engine's version
  if [ "$(cat "$DATA/version" 2>/dev/null)" = 28.5 ]; then
    DOCKER_HOST=unix://$SOCK DOCKER_CONFIG=${COGKIT_ENGINE_PREFIX:-/opt/cogkit-engine}/docker-config \
      "$ENGINE_TREE/usr/bin/docker" "$@"
  else
    DOCKER_HOST=unix://$SOCK "$SYSTEM_DOCKER" "$@"
  fi
}

net_rules() {  # $1: -A (add where missing) or -D (delete where present)
  local net
  net=$(cat "$DATA/subnet")
  local rules=(
    "-t nat POSTROUTING -s $net.0/24 ! -o $BRIDGE -j MASQUERADE"
    "-t filter FORWARD -i $BRIDGE -j ACCEPT"
    "-t filter FORWARD -o $BRIDGE -j ACCEPT"
  )
  local rule table chain rest
  for rule in "${rules[@]}"; do
    read -r _ table chain rest <<<"$rule"
    if iptables -t "$table" -C "$chain" $rest 2>/dev/null; then
      [ "$1" = -D ] && iptables -t "$table" -D "$chain" $rest
    else
      if [ "$1" = -A ]; then
        if [ "$table" = nat ]; then iptables -t nat -A "$chain" $rest; else iptables -I "$chain" $rest; fi
      fi
    fi
  done
}

start() {
  local version=${1:-28.5}
  [[ $version =~ ^(20\.10|28\.5)$ ]] || die "version must be 20.10 or 28.5, not '$version'"
  mkdir -p "$DATA" "$RUN"
  if engine_up; then
    [ "$(cat "$DATA/version")" = "$version" ] || die "already running as $(cat "$DATA/version"); stop it first"
    echo "unix://$SOCK"
    return
  fi
  echo "$version" >"$DATA/version"

  # network: a free 172.31.x.0/24 (kept for the engine's lifetime), its own bridge
  if [ ! -f "$DATA/subnet" ]; then
    local third candidate
    for third in $(seq 40 99); do
      candidate=172.31.$third
      ip -4 route | grep -q "^$candidate\." && continue
      ip -4 addr | grep -q "inet $candidate\." && continue
      grep -qx "$candidate" /var/lib/cogkit-private/*/subnet 2>/dev/null && continue
      echo "$candidate" >"$DATA/subnet"
      break
    done
    [ -f "$DATA/subnet" ] || die "no free 172.31.x.0/24 for the bridge"
  fi
  local net
  net=$(cat "$DATA/subnet")
  ip link show "$BRIDGE" >/dev/null 2>&1 || ip link add "$BRIDGE" type bridge
  ip -4 addr show dev "$BRIDGE" | grep -q "inet $net.1/24" || ip addr add "$net.1/24" dev "$BRIDGE"
  # a fixed MAC (see scripts/setup-engine.sh: an unset bridge MAC follows its ports and stalls the
  # containers still running when one leaves)
  ip link set "$BRIDGE" address "$(printf '02:42:ac:1f:%02x:01' "${net##*.}")"
  ip link set "$BRIDGE" up
  sysctl -qw net.ipv4.ip_forward=1
  net_rules -A

  alive "$RUN/docker.pid" || rm -f "$RUN/docker.pid"  # left behind by a killed dockerd
  rm -f "$SOCK"
  local common
  common=$(cat <<EOF
  "data-root": "$DATA/docker",
  "exec-root": "$RUN/docker",
  "pidfile": "$RUN/docker.pid",
  "hosts": ["unix://$SOCK"],
  "bridge": "$BRIDGE",
  "iptables": false,
  "ip6tables": false,
  "cgroup-parent": "cogkit-private-$name",
  "insecure-registries": ["127.0.0.1:5000", "127.0.0.1:5001"],
  "log-level": "warn"
EOF
)
  local path=$PATH
  if [ "$version" = 28.5 ]; then
    [ -x "$ENGINE_TREE/usr/sbin/dockerd" ] || die "no dockerd 28.5 under $ENGINE_TREE (run scripts/setup-engine.sh)"
    path=$ENGINE_TREE/usr/sbin:$ENGINE_TREE/usr/bin:$PATH
    local ctrd_sock=$RUN/containerd/containerd.sock
    cat >"$DATA/containerd.toml" <<EOF
version = 3
root = "$DATA/containerd"
state = "$RUN/containerd"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$ctrd_sock"
[ttrpc]
  address = "$ctrd_sock.ttrpc"
[debug]
  address = "$RUN/containerd/debug.sock"
[plugins."io.containerd.internal.v1.opt"]
  path = "$DATA/containerd-opt"
EOF
    if ! PATH=$path ctr --address "$ctrd_sock" version >/dev/null 2>&1; then
      mkdir -p "$RUN/containerd"
      PATH=$path nohup containerd --config "$DATA/containerd.toml" >"$DATA/containerd.log" 2>&1 &
      echo $! >"$RUN/containerd.pid"
      for _ in $(seq 1 60); do PATH=$path ctr --address "$ctrd_sock" version >/dev/null 2>&1 && break; sleep 0.25; done
    fi
    printf '{\n%s,\n  "containerd": "%s",\n  "features": {"containerd-snapshotter": true}\n}\n' \
      "$common" "$ctrd_sock" >"$DATA/daemon.json"
  else
    # dockerd 20.10 starts and supervises its own containerd under its exec-root
    # (there is no /run/containerd/containerd.sock on these machines for it to share).
    printf '{\n%s\n}\n' "$common" >"$DATA/daemon.json"
  fi
  log "starting dockerd $version (unix://$SOCK, bridge $BRIDGE $net.0/24)"
  PATH=$path nohup dockerd --config-file "$DATA/daemon.json" >"$DATA/dockerd.log" 2>&1 &
  for _ in $(seq 1 120); do engine_up && break; sleep 0.5; done
  engine_up || { tail -20 "$DATA/dockerd.log" >&2; die "dockerd did not start (log: $DATA/dockerd.log)"; }

  if ! client image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
    log "loading $BASE_IMAGE from the system dockerd"
    "$SYSTEM_DOCKER" save "$BASE_IMAGE" | client load >/dev/null
  fi
  echo "unix://$SOCK"
}

stop_pid() {  # $1: pid file; TERM, then KILL after 30 s
  alive "$1" || { rm -f "$1"; return 0; }
  local pid
  pid=$(cat "$1")
  kill "$pid"
  for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
  rm -f "$1"
}

stop() {
  stop_pid "$RUN/docker.pid"
  stop_pid "$RUN/containerd.pid"
  rm -f "$SOCK"
  if [ -f "$DATA/subnet" ]; then net_rules -D; fi
  ip link show "$BRIDGE" >/dev/null 2>&1 && ip link delete "$BRIDGE"
  if [ "${1:-}" = --purge ]; then
    # A network namespace of a build step that was running when dockerd stopped stays bind-mounted
    # (nsfs): nothing is stored there, so it is unmounted. Layers are different: dockerd unmounts them
    # on shutdown; refuse rather than delete through one left behind.
    # (none is the usual case, and findmnt and grep then exit 1: under pipefail that ended the script
    # before the purge, so every purged engine's data root stayed behind)
    { findmnt -rn -t nsfs -o TARGET || true; } | { grep "^$RUN/" || true; } | xargs -r -n1 umount -l
    if findmnt -rn -o TARGET | grep -q "^$DATA/\|^$RUN/"; then
      die "mounts are left under $DATA or $RUN; not purging"
    fi
    rm -rf "$DATA" "$RUN"
  fi
  log "stopped"
}

case $cmd in
  start) start "${3:-28.5}" ;;
  stop) stop "${3:-}" ;;
  status) if engine_up; then echo "unix://$SOCK ($(cat "$DATA/version"))"; else echo "not running"; exit 1; fi ;;
esac
