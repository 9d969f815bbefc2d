# shellcheck shell=bash disable=SC2034  # constants are used by the scripts that source this
# Shared helpers for warren's dev scripts. Source it from a script in scripts/:
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# It sets ROOT (repo root), STATE (.state/, gitignored), NODE_BIN (npm tools) and the local ports.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE="$ROOT/.state"
SCRIPTS="$ROOT/scripts"
NODE_BIN="$SCRIPTS/node_modules/.bin"

# Local ports (all on 127.0.0.1); the env overrides exist to run a second checkout side by side.
BROKER_PORT=${WARREN_BROKER_PORT:-5673}         # AMQP (RabbitMQ)
BROKER_TLS_PORT=${WARREN_BROKER_TLS_PORT:-5674} # AMQPS (same broker; certificates in .state/tls/)
RELAY_PORT=${WARREN_RELAY_PORT:-15673}          # WebSocket -> AMQP relay (warren-relay, scripts/relay)
RELAY_ADMIN_PORT=${WARREN_RELAY_ADMIN_PORT:-9673} # its /healthz and /metrics
HTTP_PORT=${WARREN_HTTP_PORT:-8080}             # static files: /www/ (demo), /pkg/ (npm package), /tests/smoke/
FAULT_PORT=${WARREN_FAULT_PORT:-5677}                 # fault-injecting TCP proxy -> broker (scripts/faults)
FAULT_CONTROL_PORT=${WARREN_FAULT_CONTROL_PORT:-5678} # its HTTP control API (/cut, /refuse, /blackhole, /stats)
FAULT_RELAY_PORT=${WARREN_FAULT_RELAY_PORT:-15677}    # WebSocket relay (warren-relay) -> the fault proxy
WEBSOCKIFY_PORT=${WARREN_WEBSOCKIFY_PORT:-15675}      # websockify -> broker, for the compatibility run (scripts/relay websockify)
PROXY_BROKER_PORT=${WARREN_PROXY_BROKER_PORT:-5679}   # a second RabbitMQ node with proxy_protocol = true (relay tests)
HOSTILE_PORT=${WARREN_HOSTILE_PORT:-5680}             # the hostile broker (examples/hostile_broker.rs, scripts/hostile); GET /case/NAME picks its script
HOSTILE_RELAY_PORT=${WARREN_HOSTILE_RELAY_PORT:-15680} # WebSocket relay (warren-relay) -> the hostile broker
STOMP_WS_PORT=${WARREN_STOMP_WS_PORT:-15674}           # STOMP over WebSocket (the broker's rabbitmq_web_stomp plugin, ws://127.0.0.1:15674/ws): the bench's @stomp/stompjs anchor
case ":$PATH:" in
*":$HOME/.cargo/bin:"*) ;;
*) export PATH="$HOME/.cargo/bin:$PATH" ;;
esac

# relay_build: builds warren-relay (profile `relay`, see Cargo.toml; cargo's own freshness check:
# about 2 CPU-minutes from cold, under a second when fresh) and prints the binary's path.
relay_build() {
    (cd "$ROOT" && cargo build -p warren-relay --profile relay --quiet) >&2 || return 1
    echo "$ROOT/target/relay/warren-relay"
}

log() { printf '[%s] %s\n' "$(basename "$0")" "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

# port_open PORT [HOST]: true when something accepts TCP connections there.
port_open() {
    timeout 2 bash -c "exec 3<>/dev/tcp/${2:-127.0.0.1}/$1" 2>/dev/null
}

# wait_port PORT SECONDS [PID]: wait until PORT accepts connections; gives up early if PID dies.
wait_port() {
    local port=$1 secs=$2 pid=${3:-} deadline=$((SECONDS + $2))
    until port_open "$port"; do
        if [[ -n $pid ]] && ! alive "$pid"; then
            log "process $pid exited before port $port opened"
            return 1
        fi
        if ((SECONDS >= deadline)); then
            log "port $port did not open within ${secs}s"
            return 1
        fi
        sleep 0.3
    done
}

# port_owner PORT: who listens there (for error messages).
port_owner() {
    ss -ltnpH "sport = :$1" 2>/dev/null | grep -o 'users:.*' | head -1
}

# alive PID: the process exists and is not a zombie (PID 1 here may not reap orphans).
alive() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [[ ${stat:0:1} != Z ]]
}

# pid_running PIDFILE: true when the pid file names a live process (prints the pid).
pid_running() {
    local pid
    [[ -f $1 ]] || return 1
    pid=$(<"$1")
    [[ $pid =~ ^[0-9]+$ ]] && alive "$pid" && echo "$pid"
}

# spawn PIDFILE LOGFILE CMD...: run CMD in the background in its own session (so the
# whole process group can be stopped later), detached from stdin, output to LOGFILE.
spawn() {
    local pidfile=$1 logfile=$2
    shift 2
    mkdir -p "$(dirname "$pidfile")" "$(dirname "$logfile")"
    setsid "$@" >"$logfile" 2>&1 </dev/null 9>&- &
    echo $! >"$pidfile"
}

# stop_pidfile PIDFILE NAME [SECONDS]: SIGTERM the process group started by spawn, wait
# (bounded), then SIGKILL whatever is left. Only touches the process group we recorded.
stop_pidfile() {
    local pidfile=$1 name=$2 secs=${3:-15} pid deadline
    if ! pid=$(pid_running "$pidfile"); then
        rm -f "$pidfile"
        log "$name: not running"
        return 0
    fi
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    deadline=$((SECONDS + secs))
    while alive "$pid" && ((SECONDS < deadline)); do sleep 0.2; done
    # the group may still hold children (erl helpers, forked relay workers)
    kill -KILL -- "-$pid" 2>/dev/null || true
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$pidfile"
    log "$name: stopped"
}

# lock NAME: serialize start/stop of a service across concurrent callers (bounded wait).
# Uses fd 9, which spawn closes so services never inherit the lock.
lock() {
    mkdir -p "$STATE"
    exec 9>"$STATE/$1.lock"
    flock -w 180 9 || die "timed out waiting for $STATE/$1.lock"
}

# tail_log FILE [LINES]: show the end of a log on stderr (for failures).
tail_log() {
    [[ -f $1 ]] || return 0
    echo "----- last ${2:-40} lines of $1 -----" >&2
    tail -n "${2:-40}" "$1" >&2
    echo "-----" >&2
}
