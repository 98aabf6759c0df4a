#!/usr/bin/env bash
# Provides Kafka brokers for tests, demos and captures.
#
#   scripts/broker.sh run [--tls] [--sasl] -- CMD [ARGS...]
#       Starts a plain broker (plus a TLS and/or SASL one if asked), exports
#       their addresses (below), runs CMD, stops everything when CMD ends
#       (also on failure or Ctrl-C) and exits with CMD's status.
#   scripts/broker.sh serve [--plain] [--tls] [--sasl]
#       Starts the asked brokers, prints the same variables as KEY=VALUE lines
#       then READY on stdout, and keeps them until stdin is closed. The Rust
#       harness (klamm_tests) uses this: when the test process dies its end of
#       the pipe closes and the brokers stop.
#
# Exported variables:
#   KLAMM_BOOTSTRAP        plain listener, HOST:PORT
#   KLAMM_BOOTSTRAP_TLS    TLS listener (server cert for localhost and 127.0.0.1)
#   KLAMM_TLS_CA           PEM file of the CA that signed it
#   KLAMM_BOOTSTRAP_SASL   SASL listener (plain TCP; PLAIN, SCRAM-SHA-256 and
#                          SCRAM-SHA-512 required before anything but ApiVersions)
#   KLAMM_SASL_USERNAME / KLAMM_SASL_PASSWORD  the one user, valid for all three
#   KLAMM_BROKER_LOGS      directory with the brokers' logs (kept on failure)
#
# A variable already set in the environment is used as is and nothing is
# started for it (e.g. KLAMM_BOOTSTRAP=localhost:9092 for an Apache Kafka
# container); it is still probed so a wrong address fails at once.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$KLAMM_ROOT/scripts/lib-broker.sh"

usage() {
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//' >&2
    exit 2
}

mode="${1:-}"
[[ "$mode" == run || "$mode" == serve ]] || usage
shift
want_plain=0 want_tls=0 want_sasl=0
[[ "$mode" == run ]] && want_plain=1
while (($#)); do
    case "$1" in
    --plain) want_plain=1 ;;
    --tls) want_tls=1 ;;
    --sasl) want_sasl=1 ;;
    --) shift; break ;;
    *) usage ;;
    esac
    shift
done
if [[ "$mode" == run ]]; then
    (($#)) || usage
else
    (($#)) && usage
fi

trap klamm_stop_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
klamm_run_dir_init

need_tansu=0
((want_plain)) && [[ -z "${KLAMM_BOOTSTRAP:-}" ]] && need_tansu=1
((want_tls)) && [[ -z "${KLAMM_BOOTSTRAP_TLS:-}" ]] && need_tansu=1
((want_sasl)) && [[ -z "${KLAMM_BOOTSTRAP_SASL:-}" ]] && need_tansu=1
if ((need_tansu)); then
    KLAMM_TANSU_BIN="$("$KLAMM_ROOT/scripts/ensure-tansu.sh")"
fi

# Probes an address given from outside; one line and exit if it is dead.
check_external() {
    local var=$1
    shift
    "$KLAMM_PY" "$KLAMM_ROOT/scripts/probe_api_versions.py" --timeout 5 "$@" "${!var}" ||
        klamm_die "$var=${!var} was given but does not answer ApiVersions"
    klamm_log "using $var=${!var} (not starting a broker for it)"
}

if ((want_plain)); then
    if [[ -n "${KLAMM_BOOTSTRAP:-}" ]]; then
        check_external KLAMM_BOOTSTRAP
    else
        klamm_start_tansu plain ""
        export KLAMM_BOOTSTRAP="127.0.0.1:$KLAMM_STARTED_PORT"
    fi
fi

if ((want_tls)); then
    if [[ -n "${KLAMM_BOOTSTRAP_TLS:-}" ]]; then
        [[ -n "${KLAMM_TLS_CA:-}" ]] || klamm_die "KLAMM_BOOTSTRAP_TLS is set but KLAMM_TLS_CA (the CA's PEM file) is not"
        check_external KLAMM_BOOTSTRAP_TLS --tls-ca "$KLAMM_TLS_CA"
    else
        # tansu 0.6.0 takes --cert/--key but never wraps its sockets in TLS, so
        # the TLS listener is our proxy in front of a broker that advertises
        # the proxy's port (clients then stay on TLS after Metadata).
        klamm_make_certs
        tls_port="$(klamm_free_port)"
        klamm_start_tansu tls-backend "$tls_port"
        klamm_start_proxy tls-proxy "$tls_port" "127.0.0.1:$KLAMM_STARTED_PORT" \
            --tls-cert "$KLAMM_RUN_DIR/tls/server.pem" --tls-key "$KLAMM_RUN_DIR/tls/server.key"
        export KLAMM_BOOTSTRAP_TLS="127.0.0.1:$tls_port"
        export KLAMM_TLS_CA="$KLAMM_RUN_DIR/tls/ca.pem"
        "$KLAMM_PY" "$KLAMM_ROOT/scripts/probe_api_versions.py" --tls-ca "$KLAMM_TLS_CA" "$KLAMM_BOOTSTRAP_TLS" ||
            { KLAMM_KEEP_RUN_DIR=1; klamm_die "the TLS listener $KLAMM_BOOTSTRAP_TLS does not answer ApiVersions over TLS"; }
    fi
fi

if ((want_sasl)); then
    if [[ -n "${KLAMM_BOOTSTRAP_SASL:-}" ]]; then
        [[ -n "${KLAMM_SASL_USERNAME:-}" && -n "${KLAMM_SASL_PASSWORD:-}" ]] ||
            klamm_die "KLAMM_BOOTSTRAP_SASL is set but KLAMM_SASL_USERNAME/KLAMM_SASL_PASSWORD are not"
        check_external KLAMM_BOOTSTRAP_SASL
    else
        source "$KLAMM_ROOT/scripts/lib-sasl.sh"
        klamm_start_sasl_broker
    fi
fi

klamm_start_watchdog

print_env() {
    local var
    for var in KLAMM_BOOTSTRAP KLAMM_BOOTSTRAP_TLS KLAMM_TLS_CA KLAMM_BOOTSTRAP_SASL \
        KLAMM_SASL_USERNAME KLAMM_SASL_PASSWORD KLAMM_BROKER_LOGS; do
        [[ -n "${!var:-}" ]] && printf '%s=%s\n' "$var" "${!var}"
    done
    return 0
}

if [[ "$mode" == serve ]]; then
    print_env
    echo READY
    # Hold the brokers until whoever started us closes our stdin (or dies).
    read -r _ || true
    exit 0
fi

print_env | grep -v PASSWORD | sed 's/^/klamm: /' >&2
set +e
"$@"
status=$?
set -e
((status == 0)) || KLAMM_KEEP_RUN_DIR=1
exit "$status"
