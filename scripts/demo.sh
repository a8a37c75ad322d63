#!/bin/bash
# Run m87 on this machine: server, device agent and a deployed stack, all local.
#
#   ./scripts/demo.sh          install what is missing, build, start everything, deploy
#                              fixtures/demo/docker-compose.yml and wait until it runs
#   ./scripts/demo.sh stop     stop everything it started and remove its directory
#
# As root on Debian 12, from a clone; no internet is needed once the Debian packages are there.
# Everything lives under $M87_DEMO_DIR (default /tmp/m87-demo): the server's data, the agent's
# state, the CLI's config (a private HOME and XDG_CONFIG_HOME, so yours is not touched), logs and
# pid files. A dockerd answering on /var/run/docker.sock is used as it is (set
# M87_DEMO_PRIVATE_DOCKERD=1 to start a private one anyway); otherwise a private dockerd is
# started under the demo directory (or a short /tmp/m87demo-* when that path is long), as the
# end-to-end tests do (tests/e2e/harness), on a bridge of its own. A private
# docker-registry on 127.0.0.1 always holds the demo image, built from busybox-static.
# Running it again reuses what still runs and deploys again (the same file is a no-op).
# M87_BUILD=DIR uses the binaries in DIR/bin as they are instead of building;
# M87_DEMO_KEEP_LOGS=1 makes `stop` keep the *.log files.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DEMO_DIR=$(realpath -m "${M87_DEMO_DIR:-/tmp/m87-demo}")
BUILD=${M87_BUILD:-$ROOT/build}
BIN=$BUILD/bin
DEVICE=${M87_DEMO_DEVICE:-demo}
PROJECT=m87demo
TIMEOUT=${M87_DEMO_TIMEOUT:-180}
PY=/usr/bin/python3
MARKER=.m87-demo
SYSTEM_DOCKER_SOCK=/var/run/docker.sock
# dockerd's root: containerd's sockets under it must fit AF_UNIX's 108 bytes, so a long demo
# directory gets a short one in /tmp named after it
ENV_DIR=$DEMO_DIR/env
if [ ${#ENV_DIR} -gt 40 ]; then
    ENV_DIR=/tmp/m87demo-$(printf '%s' "$DEMO_DIR" | sha256sum | cut -c1-12)
fi

say() { printf 'demo: %s\n' "$*"; }
die() {
    printf 'demo: %s\n' "$*" >&2
    exit 1
}

# ---------------------------------------------------------------- processes

pidfile() { printf '%s/%s.pid' "$DEMO_DIR" "$1"; }

# The pid in NAME.pid when that process is alive and its command line names the demo directory
# or the environment's (a pid reused by another program does not count).
live_pid() {
    local f pid
    f=$(pidfile "$1")
    [ -f "$f" ] || return 1
    pid=$(cat "$f")
    [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
    case $(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$pid/status" 2>/dev/null) in
    "" | Z | X) return 1 ;;
    esac
    tr '\0' '\n' <"/proc/$pid/cmdline" | grep -qF -e "$DEMO_DIR" -e "$ENV_DIR" || return 1
    printf '%s' "$pid"
}

# start_bg NAME COMMAND...: in its own session, output appended to NAME.log. Returns once the
# child runs COMMAND (or is gone): until its exec, the child's command line is this script's,
# which live_pid takes for a process of somebody else, so a caller that looked at once on a
# loaded machine saw a live child as dead.
start_bg() {
    local name=$1 pid i
    shift
    setsid "$@" >>"$DEMO_DIR/$name.log" 2>&1 </dev/null &
    pid=$!
    echo "$pid" >"$(pidfile "$name")"
    for ((i = 0; i < 300; i++)); do
        live_pid "$name" >/dev/null && return 0
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
}

# stop_bg NAME SECONDS: SIGTERM, then SIGKILL after SECONDS.
stop_bg() {
    local pid i
    if pid=$(live_pid "$1"); then
        say "stopping $1 (pid $pid)"
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < $2 * 10; i++)); do
            live_pid "$1" >/dev/null || break
            sleep 0.1
        done
        if live_pid "$1" >/dev/null; then
            say "$1 did not stop in $2 s: SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            sleep 0.5
        fi
    fi
    rm -f "$(pidfile "$1")"
}

log_tail() {
    printf -- '--- last lines of %s ---\n' "$1" >&2
    tail -n "${2:-30}" "$1" >&2 2>/dev/null || true
}

free_port() {
    "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# http_get URL: the body on stdout, status 1 unless 200
http_get() {
    "$PY" - "$1" <<'EOF'
import sys, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1], timeout=5) as r:
        sys.stdout.write(r.read().decode(errors="replace"))
except Exception as exc:
    sys.stderr.write("%s\n" % exc)
    sys.exit(1)
EOF
}

system_dockerd_answers() {
    [ -S "$SYSTEM_DOCKER_SOCK" ] || return 1
    "$PY" - "$SYSTEM_DOCKER_SOCK" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(3)
try:
    s.connect(sys.argv[1])
    s.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
    sys.exit(0 if s.recv(64).split(b" ")[1:2] == [b"200"] else 1)
except OSError:
    sys.exit(1)
EOF
}

m87() {
    env -u M87_SERVER -u M87_TOKEN -u M87_CA_FILE HOME="$DEMO_DIR/home" \
        XDG_CONFIG_HOME="$DEMO_DIR/config" "$BIN/m87" "$@"
}

# json_field EXPR: EXPR evaluated on the JSON document on stdin, bound to d
json_field() {
    "$PY" -c 'import json, sys; d = json.load(sys.stdin); print(eval("d" + sys.argv[1]))' "$1"
}

# ---------------------------------------------------------------- start

prepare_dir() {
    if [ -d "$DEMO_DIR" ] && [ ! -e "$DEMO_DIR/$MARKER" ] && [ -n "$(ls -A "$DEMO_DIR")" ]; then
        die "$DEMO_DIR exists and is not a demo directory; set M87_DEMO_DIR to another path"
    fi
    mkdir -p "$DEMO_DIR"
    chmod 700 "$DEMO_DIR"
    touch "$DEMO_DIR/$MARKER"
    mkdir -p "$DEMO_DIR/home" "$DEMO_DIR/config"
}

build() {
    if [ -n "${M87_BUILD:-}" ]; then
        [ -x "$BIN/m87" ] && [ -x "$BIN/m87-agent" ] && [ -x "$BIN/m87-server" ] ||
            die "M87_BUILD=$M87_BUILD: build/bin/m87, m87-agent and m87-server are not built there"
        return
    fi
    say "building (make -j$(nproc), log in $DEMO_DIR/build.log)"
    if ! make -C "$ROOT" -j"$(nproc)" >"$DEMO_DIR/build.log" 2>&1; then
        log_tail "$DEMO_DIR/build.log" 40
        die "the build failed"
    fi
}

start_env() {
    local args=() i
    if live_pid env >/dev/null && [ -f "$ENV_DIR/env.sh" ]; then
        say "dockerd and registry already running"
    else
        stop_bg env 60
        if [ "${M87_DEMO_PRIVATE_DOCKERD:-0}" != 1 ] && system_dockerd_answers; then
            say "using the dockerd at $SYSTEM_DOCKER_SOCK; starting a registry"
            args=(--docker-host "unix://$SYSTEM_DOCKER_SOCK")
        else
            [ "$(id -u)" -eq 0 ] || die "starting a private dockerd needs root"
            say "starting a private dockerd and registry under $ENV_DIR"
        fi
        start_bg env env PYTHONPATH="$ROOT/tests/e2e" "$PY" -m harness.demo \
            --dir "$ENV_DIR" --project "$PROJECT" "${args[@]}"
        for ((i = 0; i < 1800; i++)); do
            [ -f "$ENV_DIR/env.sh" ] && break
            if ! live_pid env >/dev/null; then
                log_tail "$DEMO_DIR/env.log" 40
                die "the dockerd/registry environment did not start"
            fi
            sleep 0.1
        done
        [ -f "$ENV_DIR/env.sh" ] || die "dockerd and registry not ready after 180 s"
        RESTART_AGENT=1
    fi
    echo "$ENV_DIR" >"$DEMO_DIR/env.dir"
    # shellcheck disable=SC1091
    . "$ENV_DIR/env.sh"
    say "dockerd $DOCKER_HOST, registry $DEMO_REGISTRY, image $DEMO_IMAGE"
}

start_server() {
    local port i
    if [ ! -f "$DEMO_DIR/server/m87.db" ]; then
        (umask 077 && "$BIN/m87-server" init --data "$DEMO_DIR/server" >"$DEMO_DIR/admin-token")
    fi
    [ -s "$DEMO_DIR/admin-token" ] || die "$DEMO_DIR/admin-token is missing: run '$0 stop' first"
    if live_pid server >/dev/null; then
        say "m87-server already running"
    else
        port=$(free_port)
        start_bg server "$BIN/m87-server" serve --data "$DEMO_DIR/server" \
            --listen "127.0.0.1:$port"
        echo "$port" >"$DEMO_DIR/server.port"
        for ((i = 0; i < 100; i++)); do
            http_get "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
            live_pid server >/dev/null || break
            sleep 0.1
        done
        if ! http_get "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then
            log_tail "$DEMO_DIR/server.log"
            die "m87-server did not start"
        fi
        say "m87-server listening on 127.0.0.1:$port (data in $DEMO_DIR/server)"
        RESTART_AGENT=1
    fi
    SERVER_URL="http://127.0.0.1:$(cat "$DEMO_DIR/server.port")"
    m87 login --server "$SERVER_URL" --token "$(cat "$DEMO_DIR/admin-token")" --insecure-http \
        >/dev/null
}

register_device() {
    local json
    if [ -s "$DEMO_DIR/device-token" ] &&
        m87 devices list --json | grep -q "\"name\":\"$DEVICE\""; then
        return
    fi
    m87 devices rm "$DEVICE" >/dev/null 2>&1 || true
    json=$(m87 devices add "$DEVICE" --json)
    (umask 077 && json_field '["token"]' <<<"$json" >"$DEMO_DIR/device-token")
    say "device '$DEVICE' registered"
}

start_agent() {
    local conf="$DEMO_DIR/agent.conf" new="$DEMO_DIR/agent.conf.new"
    (
        umask 077
        cat >"$new" <<EOF
# written by scripts/demo.sh; on a device this is /etc/m87/agent.conf
server = $SERVER_URL
token = $(cat "$DEMO_DIR/device-token")
state-dir = $DEMO_DIR/agent
docker-host = $DOCKER_HOST
insecure-http = true
EOF
    )
    if live_pid agent >/dev/null && [ "${RESTART_AGENT:-0}" = 0 ] && cmp -s "$new" "$conf"; then
        rm -f "$new"
        say "m87-agent already running"
        return
    fi
    stop_bg agent 30
    mv "$new" "$conf"
    start_bg agent env -u DOCKER_HOST -u COMPOSE_PROJECT_NAME -u COMPOSE_FILE \
        -u COMPOSE_PROFILES -u JOURNAL_STREAM "$BIN/m87-agent" run --config "$conf"
    sleep 0.2
    if ! live_pid agent >/dev/null; then
        log_tail "$DEMO_DIR/agent.log"
        die "m87-agent did not start"
    fi
    say "m87-agent running (pid $(cat "$(pidfile agent)"), state in $DEMO_DIR/agent)"
}

deploy() {
    local project="$DEMO_DIR/project"
    if ! m87 "$DEVICE" deployment show --json >/dev/null 2>&1; then
        m87 "$DEVICE" deployment new --active
    fi
    mkdir -p "$project"
    # an edited copy from an earlier run is kept: it is the user's to change
    [ -f "$project/docker-compose.yml" ] || cp "$ROOT/fixtures/demo/docker-compose.yml" "$project/"
    [ -f "$project/web.env" ] || cp "$ROOT/fixtures/demo/web.env" "$project/"
    [ -s "$DEMO_DIR/web.port" ] || free_port >"$DEMO_DIR/web.port"
    WEB_PORT=$(cat "$DEMO_DIR/web.port")
    printf '# written by scripts/demo.sh; travels with the job\nDEMO_IMAGE=%s\nDEMO_PORT=%s\n' \
        "$DEMO_IMAGE" "$WEB_PORT" >"$project/.env"
    (cd "$project" && m87 "$DEVICE" deploy docker-compose.yml)
}

wait_running() {
    local json state
    say "waiting until the device runs it (at most $TIMEOUT s)"
    m87 "$DEVICE" deployment status --follow --timeout "${TIMEOUT}s" || true
    # exit status 1 when the job failed: the JSON says which state
    json=$(m87 "$DEVICE" deployment status --json || true)
    state=$(json_field '["jobs"][0]["state"]' <<<"$json" 2>/dev/null || echo unknown)
    if [ "$state" != succeeded ]; then
        m87 "$DEVICE" deployment status --logs >&2 || true
        log_tail "$DEMO_DIR/agent.log" 40
        printf 'demo: the stack is not running (job state: %s)\n' "$state" >&2
        die "everything is left running for a look; '$0 stop' stops it"
    fi
}

write_shell_file() {
    cat >"$DEMO_DIR/shell.sh" <<EOF
# source this file: m87 and m87-agent on PATH, the CLI logged in to the demo server,
# DOCKER_HOST at the demo's dockerd
export PATH=$(printf '%q' "$BIN"):\$PATH
export XDG_CONFIG_HOME=$(printf '%q' "$DEMO_DIR/config")
export DOCKER_HOST=$(printf '%q' "$DOCKER_HOST")
EOF
}

# hint COMMAND [COMMENT]
hint() {
    if [ -n "${2:-}" ]; then
        printf '  %-58s # %s\n' "$1" "$2"
    else
        printf '  %s\n' "$1"
    fi
}

print_next() {
    local dep rev body
    dep=$(m87 "$DEVICE" deployment show --json | json_field '["id"]')
    rev=$(m87 "$DEVICE" deployment show --json | json_field '["revision"]')
    body=$(http_get "http://127.0.0.1:$WEB_PORT/" 2>/dev/null || echo "(no answer)")
    printf '\nThe demo runs. GET http://127.0.0.1:%s/ answers: %s\n\nTry next, in a shell:\n\n' \
        "$WEB_PORT" "$body"
    hint ". $DEMO_DIR/shell.sh" "m87 and m87-agent on PATH, DOCKER_HOST"
    hint "m87 $DEVICE deployment status --logs" "what the device reported, step output"
    hint "m87 devices list" "online, last seen, applied revision"
    printf '\n  # change the stack and deploy again: the container is recreated with it\n'
    hint "sed -i 's/^NOTE=.*/NOTE=second deploy/' $DEMO_DIR/project/web.env"
    hint "(cd $DEMO_DIR/project && m87 $DEVICE deploy docker-compose.yml)"
    hint "m87 $DEVICE deployment status --follow"
    hint "wget -qO- http://127.0.0.1:$WEB_PORT/"
    printf '\n'
    hint "m87 $DEVICE undeploy $PROJECT" "the agent stops and removes the stack"
    hint "m87 $DEVICE deployment clone $dep@$rev --active" "roll back to revision $rev"
    hint "m87 $DEVICE deployment show" "the revisions of the active deployment"
    hint "m87-agent compose -p $PROJECT ps" "the containers, on the \"device\""
    hint "m87-agent status --state-dir $DEMO_DIR/agent" "what the daemon does"
    hint "tail -f $DEMO_DIR/agent.log" "also server.log and env.log there"
    printf '\nStop and remove everything: %s stop\n' "$0"
}

start() {
    prepare_dir
    "$ROOT/scripts/install-deps.sh"
    build
    RESTART_AGENT=0
    start_env
    start_server
    register_device
    start_agent
    deploy
    wait_running
    write_shell_file
    print_next
}

# ---------------------------------------------------------------- stop

stop() {
    if [ ! -e "$DEMO_DIR/$MARKER" ]; then
        say "nothing to stop in $DEMO_DIR"
        return
    fi
    stop_bg agent 30
    stop_bg server 15
    # removes the demo's containers; a private dockerd is stopped with all it ran
    stop_bg env 120
    if grep -qF -e " $DEMO_DIR/" -e " $ENV_DIR/" /proc/self/mounts; then
        die "still mounted under $DEMO_DIR or $ENV_DIR; not removing them"
    fi
    rm -rf "$ENV_DIR"
    if [ "${M87_DEMO_KEEP_LOGS:-0}" = 1 ]; then
        find "$DEMO_DIR" -mindepth 1 -maxdepth 1 ! -name '*.log' -exec rm -rf {} +
        say "stopped; the logs are kept in $DEMO_DIR"
    else
        rm -rf "$DEMO_DIR"
        say "stopped; $DEMO_DIR removed"
    fi
}

case "${1:-start}" in
start) start ;;
stop) stop ;;
-h | --help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0" ;;
*)
    echo "usage: $0 [start|stop]" >&2
    exit 2
    ;;
esac
