#!/usr/bin/env bash
# A three-master Redis Cluster on 127.0.0.1:7001-7003 for the queue's cluster tests.
#
# Idempotent: a healthy cluster is left alone. Each node runs from its own config file
# ($STATE/<port>/redis.conf, AOF on), so a test that SIGKILLs a master restarts it with
# `redis-server $STATE/<port>/redis.conf`. A node that cannot join (a stale pid file, a
# nodes.conf naming nodes that no longer exist) is wiped and the cluster created anew.
set -euo pipefail

STATE=${COGKIT_REDIS_CLUSTER_DIR:-/var/lib/cogkit/redis-cluster}
LOGS=/var/log/cogkit
PORTS=(${COGKIT_REDIS_CLUSTER_PORTS:-7001 7002 7003})
mkdir -p "$STATE" "$LOGS"

log() { printf '[setup-redis-cluster] %s\n' "$*" >&2; }
cli() { redis-cli -h 127.0.0.1 -p "$1" "${@:2}"; }
alive() { [ "$(cli "$1" PING 2>/dev/null)" = PONG ]; }
healthy() {  # every node sees the cluster as ok, with all three masters
  local port info
  for port in "${PORTS[@]}"; do
    info=$(cli "$port" CLUSTER INFO 2>/dev/null) || return 1
    grep -q '^cluster_state:ok' <<<"$info" || return 1
    grep -q "^cluster_known_nodes:${#PORTS[@]}" <<<"$info" || return 1
  done
}

write_config() {  # port
  local port=$1 dir="$STATE/$1"
  mkdir -p "$dir"
  cat >"$dir/redis.conf" <<CONF
bind 127.0.0.1
port $port
dir $dir
daemonize yes
pidfile $dir/redis.pid
logfile $LOGS/redis-cluster-$port.log
cluster-enabled yes
cluster-config-file nodes.conf
# a dead master is marked failed after 2 s; the live masters keep serving their own slots
cluster-node-timeout 2000
cluster-require-full-coverage no
appendonly yes
appendfsync everysec
save ""
CONF
}

start_node() {  # port
  local port=$1 dir="$STATE/$1"
  alive "$port" && return 0
  # A SIGKILLed node leaves its pid file behind: remove it so it never names another process.
  if [ -f "$dir/redis.pid" ] && ! kill -0 "$(cat "$dir/redis.pid")" 2>/dev/null; then
    rm -f "$dir/redis.pid"
  fi
  redis-server "$dir/redis.conf"
  for _ in $(seq 1 40); do alive "$port" && return 0; sleep 0.25; done
  tail -20 "$LOGS/redis-cluster-$port.log" >&2
  log "redis-server on port $port did not start"; exit 1
}

wait_healthy() {  # seconds
  for _ in $(seq 1 $(( $1 * 4 ))); do healthy && return 0; sleep 0.25; done
  return 1
}

for port in "${PORTS[@]}"; do write_config "$port"; start_node "$port"; done
if wait_healthy 6; then
  log "cluster ok on ports ${PORTS[*]}"
  exit 0
fi

# Not a cluster yet (first run), or one that cannot heal: start from empty nodes.
log "creating the cluster on ports ${PORTS[*]}"
for port in "${PORTS[@]}"; do
  cli "$port" SHUTDOWN NOSAVE >/dev/null 2>&1 || true
done
for port in "${PORTS[@]}"; do
  for _ in $(seq 1 40); do alive "$port" || break; sleep 0.25; done
  rm -rf "$STATE/$port"/{nodes.conf,redis.pid,appendonlydir,appendonly.aof,dump.rdb}
  start_node "$port"
done
nodes=()
for port in "${PORTS[@]}"; do nodes+=("127.0.0.1:$port"); done
redis-cli --cluster create "${nodes[@]}" --cluster-replicas 0 --cluster-yes >"$LOGS/redis-cluster-create.log" 2>&1 \
  || { tail -20 "$LOGS/redis-cluster-create.log" >&2; log "redis-cli --cluster create failed"; exit 1; }
wait_healthy 20 || { cli "${PORTS[0]}" CLUSTER INFO >&2; log "cluster_state is not ok"; exit 1; }
log "cluster ok on ports ${PORTS[*]}"
