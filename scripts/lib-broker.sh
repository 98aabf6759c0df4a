# Broker lifecycle for the Klamm harness. Source it after lib.sh; do not run it.
#
# Starts tansu brokers (memory storage: fresh data every run) on fresh
# loopback ports, waits until each answers ApiVersions, and stops every
# process it started by its own PID: on exit, on Ctrl-C, and through a
# watchdog if the script itself is killed.

KLAMM_PIDS=()
KLAMM_RUN_DIR=""
KLAMM_KEEP_RUN_DIR=0
KLAMM_TANSU_BIN=""
KLAMM_PY="python3"

# Per-run directory for broker logs and certificates.
klamm_run_dir_init() {
    KLAMM_RUN_DIR="$(mktemp -d "${TMPDIR:-/tmp}/klamm-run.XXXXXX")"
    export KLAMM_BROKER_LOGS="$KLAMM_RUN_DIR"
}

klamm_stop_all() {
    local pid
    for pid in "${KLAMM_PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    local deadline=$((SECONDS + 5))
    for pid in "${KLAMM_PIDS[@]}"; do
        while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    done
    KLAMM_PIDS=()
    if [[ -n "$KLAMM_RUN_DIR" ]]; then
        if ((KLAMM_KEEP_RUN_DIR)); then
            klamm_log "broker logs kept in $KLAMM_RUN_DIR"
        else
            rm -rf "$KLAMM_RUN_DIR"
        fi
    fi
}

# Kills everything we started if this script dies without running its traps
# (SIGKILL, or the parent's process group torn down).
klamm_start_watchdog() {
    local me=$$
    local pids="${KLAMM_PIDS[*]}"
    (
        trap '' INT TERM HUP
        while kill -0 "$me" 2>/dev/null; do sleep 1; done
        # shellcheck disable=SC2086
        kill -KILL $pids 2>/dev/null || true
    ) </dev/null >/dev/null 2>&1 &
    disown $! 2>/dev/null || true
}

# Waits until HOST:PORT answers ApiVersions; PID must stay alive meanwhile.
# Extra arguments go to the probe (e.g. --tls-ca FILE).
klamm_wait_ready() {
    local address=$1 pid=$2 what=$3
    shift 3
    local deadline=$((SECONDS + ${KLAMM_BROKER_START_TIMEOUT:-30}))
    local err
    while ((SECONDS < deadline)); do
        if ! kill -0 "$pid" 2>/dev/null; then
            return 2
        fi
        if err="$("$KLAMM_PY" "$KLAMM_ROOT/scripts/probe_api_versions.py" --timeout 1 "$@" "$address" 2>&1)"; then
            return 0
        fi
        sleep 0.2
    done
    klamm_log "$what on $address did not answer ApiVersions within ${KLAMM_BROKER_START_TIMEOUT:-30} s: $err"
    return 1
}

# klamm_start_tansu NAME ADVERTISED_PORT_OR_EMPTY [tansu broker args...]
# Starts one tansu on a fresh port; sets KLAMM_STARTED_PORT. The broker
# advertises 127.0.0.1:ADVERTISED_PORT (its own port when empty), which lets a
# proxy sit in front of it. Retries on a new port if the port was taken.
klamm_start_tansu() {
    local name=$1 advertised=$2
    shift 2
    local attempt port pid log status
    for attempt in 1 2 3; do
        port="$(klamm_free_port)"
        log="$KLAMM_RUN_DIR/$name.log"
        "$KLAMM_TANSU_BIN" broker \
            --listener-url "tcp://127.0.0.1:$port" \
            --advertised-listener-url "tcp://127.0.0.1:${advertised:-$port}" \
            "$@" </dev/null >"$log" 2>&1 &
        pid=$!
        KLAMM_PIDS+=("$pid")
        status=0
        klamm_wait_ready "127.0.0.1:$port" "$pid" "tansu ($name)" || status=$?
        if ((status == 0)); then
            KLAMM_STARTED_PORT=$port
            return 0
        fi
        if ((status == 2)) && grep -qi 'address already in use' "$log"; then
            continue
        fi
        break
    done
    KLAMM_KEEP_RUN_DIR=1
    klamm_die "tansu ($name) could not start: $(grep -m1 -iE 'error|panick' "$log" || tail -n1 "$log" || echo 'no output') (log: $log)"
}

# Self-signed CA and a server certificate for localhost/127.0.0.1, made fresh
# for every run with the openssl command line tool.
klamm_make_certs() {
    local dir=$KLAMM_RUN_DIR/tls
    command -v openssl >/dev/null ||
        klamm_die "cannot make TLS certificates: the openssl command is not installed (apt-get install openssl)"
    mkdir -p "$dir"
    {
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
            -keyout "$dir/ca.key" -out "$dir/ca.pem" -days 7 -subj "/CN=Klamm test CA" \
            -addext "basicConstraints=critical,CA:TRUE" \
            -addext "keyUsage=critical,keyCertSign,cRLSign" &&
            openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
                -keyout "$dir/server.key" -out "$dir/server.csr" -subj "/CN=localhost" &&
            printf '%s\n' "subjectAltName=DNS:localhost,IP:127.0.0.1" \
                "basicConstraints=critical,CA:FALSE" \
                "keyUsage=critical,digitalSignature" \
                "extendedKeyUsage=serverAuth" >"$dir/server.ext" &&
            openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
                -CAcreateserial -out "$dir/server.pem" -days 7 -extfile "$dir/server.ext"
    } >"$dir/openssl.log" 2>&1 ||
        klamm_die "could not make TLS certificates: $(tail -n1 "$dir/openssl.log")"
}

# Starts the capture/TLS proxy in front of UPSTREAM on PORT; extra args go to
# the proxy. Sets nothing; dies with one line if it does not come up.
klamm_start_proxy() {
    local name=$1 port=$2 upstream=$3
    shift 3
    local log="$KLAMM_RUN_DIR/$name.log"
    python3 "$KLAMM_ROOT/tests/peer/capture_proxy.py" --listen "127.0.0.1:$port" \
        --upstream "$upstream" --port-file "$KLAMM_RUN_DIR/$name.port" "$@" \
        </dev/null >"$log" 2>&1 &
    local pid=$!
    KLAMM_PIDS+=("$pid")
    local deadline=$((SECONDS + 10))
    while [[ ! -s "$KLAMM_RUN_DIR/$name.port" ]]; do
        if ! kill -0 "$pid" 2>/dev/null || ((SECONDS >= deadline)); then
            KLAMM_KEEP_RUN_DIR=1
            klamm_die "proxy ($name) on port $port did not start: $(tail -n1 "$log") (log: $log)"
        fi
        sleep 0.1
    done
}
