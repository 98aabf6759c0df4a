# The SASL listener of the harness. Source it after lib-broker.sh.
#
# tansu 0.6.0 with memory storage cannot authenticate anyone (see
# tests/README.md), so the listener is tests/peer/capture_proxy.py's SASL
# gate (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512) in front of a tansu that
# advertises the gate's address.

klamm_start_sasl_broker() {
    local port user password
    port="$(klamm_free_port)"
    user="klamm"
    # A fresh password per run: nothing outside this run can log in.
    password="$(python3 -c 'import secrets; print(secrets.token_hex(12))')"
    klamm_start_tansu sasl-backend "$port"
    klamm_start_proxy sasl-gate "$port" "127.0.0.1:$KLAMM_STARTED_PORT" \
        --sasl-user "$user:$password"
    export KLAMM_BOOTSTRAP_SASL="127.0.0.1:$port"
    export KLAMM_SASL_USERNAME="$user"
    export KLAMM_SASL_PASSWORD="$password"
    # ApiVersions is allowed before authentication, so the probe works here.
    "$KLAMM_PY" "$KLAMM_ROOT/scripts/probe_api_versions.py" "$KLAMM_BOOTSTRAP_SASL" ||
        { KLAMM_KEEP_RUN_DIR=1; klamm_die "the SASL listener $KLAMM_BOOTSTRAP_SASL does not answer ApiVersions"; }
}
