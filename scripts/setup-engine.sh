#!/usr/bin/env bash
# A second, current engine beside the system dockerd: dockerd 28.5 (embedded BuildKit v0.25) on
# containerd 2.1 with the containerd image store, as new Docker installs run it. cogkit's engine
# tests run on both engines; the system dockerd stays whatever the system package brings.
#
# Idempotent, and it never touches the system's package state: the .debs come from Debian unstable
# through a private apt configuration (own sources, lists and cache) and are unpacked with
# `dpkg -x` under $PREFIX. Only runc comes from the system's own suite (unstable's needs a newer
# glibc than Debian 12 has), installed with apt-get when it is missing.
#
# Everything the engine owns is its own: containerd config/root/state/socket, dockerd config,
# data-root, exec-root, pid file, socket ($SOCK), bridge and subnet. With "iptables": false the
# system dockerd keeps its chains; one MASQUERADE rule and two FORWARD rules let build steps out.
set -euo pipefail

PREFIX=${COGKIT_ENGINE_PREFIX:-/opt/cogkit-engine}
SOCK=${COGKIT_ENGINE_SOCK:-/var/run/cogkit-docker28.sock}
DATA=${COGKIT_ENGINE_DATA:-/var/lib/cogkit-engine}
RUN=${COGKIT_ENGINE_RUN:-/run/cogkit-engine}
BRIDGE=${COGKIT_ENGINE_BRIDGE:-cogkit28}
BASE_IMAGE=${COGKIT_TEST_BASE_IMAGE:-cogkit-base:py3.11-bookworm}
SUITE_URL=${COGKIT_ENGINE_MIRROR:-http://deb.debian.org/debian}
LOGS=/var/log/cogkit
# Pinned, so CI runs the engine the notes describe; override when unstable has moved on.
PACKAGES=(
  "docker.io=${COGKIT_ENGINE_DOCKER_VERSION:-28.5.2+dfsg4-5}"
  "docker-cli=${COGKIT_ENGINE_DOCKER_VERSION:-28.5.2+dfsg4-5}"
  "containerd=${COGKIT_ENGINE_CONTAINERD_VERSION:-2.1.9+ds1-5}"
  "docker-buildx=${COGKIT_ENGINE_BUILDX_VERSION:-0.29.1+ds1-4}"
  "tini-static=${COGKIT_ENGINE_TINI_VERSION:-0.19.0-6+b2}"   # docker-init -> tini-static
)
SYSTEM_DOCKER=${COGKIT_SYSTEM_DOCKER:-/usr/bin/docker}
mkdir -p "$PREFIX" "$DATA" "$RUN" "$LOGS"

log() { printf '[setup-engine] %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

# ---------------------------------------------------------------- runc (system suite)
if ! command -v runc >/dev/null; then
  log "installing runc from the system's own suite"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends runc iptables \
    >"$LOGS/apt-runc.log" 2>&1 || { tail -20 "$LOGS/apt-runc.log"; exit 1; }
fi
command -v iptables >/dev/null || die "iptables is missing (apt-get install iptables)"

# ---------------------------------------------------------------- binaries (unstable, unpacked)
TREE=$PREFIX/root
stamp=$PREFIX/.installed
want="${PACKAGES[*]}"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  apt_dir=$PREFIX/apt
  mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$apt_dir/debs"
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $SUITE_URL unstable main" \
    >"$apt_dir/sources.list"
  apt_opts=(
    -o "Dir::Etc::sourcelist=$apt_dir/sources.list" -o "Dir::Etc::sourceparts=/nonexistent"
    -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache"
    -o "APT::Sandbox::User=root"
  )
  log "fetching ${PACKAGES[*]} from unstable (private apt config under $apt_dir)"
  apt-get "${apt_opts[@]}" update -qq >"$LOGS/apt-engine.log" 2>&1 \
    || { tail -20 "$LOGS/apt-engine.log"; die "apt-get update of unstable failed"; }
  rm -f "$apt_dir/debs"/*.deb
  if ! (cd "$apt_dir/debs" && apt-get "${apt_opts[@]}" download "${PACKAGES[@]}") >>"$LOGS/apt-engine.log" 2>&1; then
    tail -5 "$LOGS/apt-engine.log"
    apt-cache "${apt_opts[@]}" policy docker.io containerd docker-buildx tini-static 2>/dev/null \
      | grep -E '^[a-z]|Candidate' >&2 || true
    die "a pinned version is gone from unstable; set COGKIT_ENGINE_*_VERSION to the candidate above"
  fi
  rm -rf "$TREE.new" && mkdir -p "$TREE.new"
  for deb in "$apt_dir/debs"/*.deb; do dpkg -x "$deb" "$TREE.new"; done
  rm -rf "$TREE" && mv "$TREE.new" "$TREE"
  echo "$want" >"$stamp"
fi
BIN=$TREE/usr/sbin:$TREE/usr/bin
[ -x "$TREE/usr/sbin/dockerd" ] || die "no dockerd under $TREE"

# A client for this engine, with buildx as its plugin, that leaves ~/.docker's plugins alone.
mkdir -p "$PREFIX/bin" "$PREFIX/docker-config/cli-plugins"
ln -sf "$TREE/usr/libexec/docker/cli-plugins/docker-buildx" "$PREFIX/docker-config/cli-plugins/docker-buildx"
cat >"$PREFIX/bin/docker" <<EOF
#!/bin/sh
# docker 28.5 client pointed at the cogkit engine (written by scripts/setup-engine.sh)
export DOCKER_HOST="\${DOCKER_HOST:-unix://$SOCK}"
export DOCKER_CONFIG="\${DOCKER_CONFIG:-$PREFIX/docker-config}"
exec "$TREE/usr/bin/docker" "\$@"
EOF
chmod +x "$PREFIX/bin/docker"
DOCKER28=$PREFIX/bin/docker

# ---------------------------------------------------------------- network: own bridge and /24
subnet_file=$DATA/subnet
if [ ! -f "$subnet_file" ]; then
  for third in 28 29 30 31 32 33 34 35; do
    candidate=172.31.$third
    ip -4 route | grep -q "^$candidate\." && continue
    ip -4 addr | grep -q "inet $candidate\." && continue
    echo "$candidate" >"$subnet_file"; break
  done
  [ -f "$subnet_file" ] || die "no free 172.31.x.0/24 for the bridge"
fi
net=$(cat "$subnet_file")
if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
  log "bridge $BRIDGE on $net.0/24"
  ip link add "$BRIDGE" type bridge
fi
ip -4 addr show dev "$BRIDGE" | grep -q "inet $net.1/24" || ip addr add "$net.1/24" dev "$BRIDGE"
# A fixed MAC, as dockerd gives docker0: a bridge whose address was never set takes the lowest MAC of its
# ports, so it changed whenever a build step's container left, and the containers still running kept the
# gateway's old MAC in their ARP cache and stalled for 15-60 s (concurrent build steps' downloads).
ip link set "$BRIDGE" address "$(printf '02:42:ac:1f:%02x:01' "${net##*.}")"
ip link set "$BRIDGE" up
sysctl -qw net.ipv4.ip_forward=1
iptables -t nat -C POSTROUTING -s "$net.0/24" ! -o "$BRIDGE" -j MASQUERADE 2>/dev/null \
  || iptables -t nat -A POSTROUTING -s "$net.0/24" ! -o "$BRIDGE" -j MASQUERADE
iptables -C FORWARD -i "$BRIDGE" -j ACCEPT 2>/dev/null || iptables -I FORWARD -i "$BRIDGE" -j ACCEPT
iptables -C FORWARD -o "$BRIDGE" -j ACCEPT 2>/dev/null || iptables -I FORWARD -o "$BRIDGE" -j ACCEPT

# ---------------------------------------------------------------- containerd 2.1 (own everything)
CTRD_SOCK=$RUN/containerd/containerd.sock
cat >"$PREFIX/containerd.toml" <<EOF
# containerd for the cogkit engine (written by scripts/setup-engine.sh)
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
ctrd_up() { PATH=$BIN:$PATH ctr --address "$CTRD_SOCK" version >/dev/null 2>&1; }
if ! ctrd_up; then
  log "starting containerd ($CTRD_SOCK)"
  mkdir -p "$RUN/containerd"
  PATH=$BIN:$PATH nohup containerd --config "$PREFIX/containerd.toml" >"$LOGS/engine-containerd.log" 2>&1 &
  echo $! >"$RUN/containerd.pid"
  for _ in $(seq 1 60); do ctrd_up && break; sleep 0.25; done
  ctrd_up || { tail -30 "$LOGS/engine-containerd.log"; die "containerd did not start"; }
fi

# ---------------------------------------------------------------- dockerd 28.5 (own everything)
cat >"$PREFIX/daemon.json" <<EOF
{
  "data-root": "$DATA/docker",
  "exec-root": "$RUN/docker",
  "pidfile": "$RUN/docker.pid",
  "hosts": ["unix://$SOCK"],
  "containerd": "$CTRD_SOCK",
  "bridge": "$BRIDGE",
  "iptables": false,
  "ip6tables": false,
  "cgroup-parent": "cogkit-engine",
  "features": {"containerd-snapshotter": true},
  "insecure-registries": ["127.0.0.1:5000", "127.0.0.1:5001"],
  "log-level": "warn"
}
EOF
engine_up() { curl -sf --max-time 2 --unix-socket "$SOCK" http://localhost/_ping >/dev/null 2>&1; }
if ! engine_up; then
  # A killed dockerd leaves its pid file behind; the next start refuses.
  if [ -f "$RUN/docker.pid" ] && ! kill -0 "$(cat "$RUN/docker.pid")" 2>/dev/null; then
    rm -f "$RUN/docker.pid"
  fi
  rm -f "$SOCK"
  log "starting dockerd 28.5 ($SOCK)"
  PATH=$BIN:$PATH nohup dockerd --config-file "$PREFIX/daemon.json" >"$LOGS/engine-dockerd.log" 2>&1 &
  for _ in $(seq 1 120); do engine_up && break; sleep 0.5; done
  engine_up || { tail -30 "$LOGS/engine-dockerd.log"; die "dockerd 28.5 did not start"; }
fi

# ---------------------------------------------------------------- the base image
if ! "$DOCKER28" image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
  "$SYSTEM_DOCKER" image inspect "$BASE_IMAGE" >/dev/null 2>&1 \
    || die "$BASE_IMAGE is not in the system dockerd (scripts/setup.sh makes it first)"
  log "loading $BASE_IMAGE into the engine"
  "$SYSTEM_DOCKER" save "$BASE_IMAGE" | "$DOCKER28" load >/dev/null
fi
version=$("$DOCKER28" version --format '{{.Server.Version}}')
log "ready: dockerd $version at unix://$SOCK (containerd image store, bridge $BRIDGE $net.0/24), client $DOCKER28"
