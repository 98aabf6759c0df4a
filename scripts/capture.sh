#!/usr/bin/env bash
# Records every Kafka frame between a client and a fresh tansu broker.
#
#   scripts/capture.sh OUT_DIR -- CMD [ARGS...]
#
# Starts a tansu broker that advertises the recording proxy's address (so the
# client's later connections, learnt from Metadata, go through the proxy too),
# starts tests/peer/capture_proxy.py in front of it, exports
# KLAMM_BOOTSTRAP=<proxy> and KLAMM_PEER_PYTHON=<venv python>, runs CMD and
# stops everything. OUT_DIR/frames.jsonl and the raw .bin payloads describe
# what was said (format: tests/peer/capture_proxy.py's docstring).
#
# Example: capture librdkafka producing one record
#   scripts/capture.sh /tmp/cap -- sh -c 'echo "{\"bootstrap\":\"$KLAMM_BOOTSTRAP\",
#     \"topic\":\"t\",\"records\":[{\"value\":\"v\"}]}" | $KLAMM_PEER_PYTHON tests/peer/produce.py'
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$KLAMM_ROOT/scripts/lib-broker.sh"

[[ $# -ge 3 && "$2" == "--" ]] || klamm_die "usage: scripts/capture.sh OUT_DIR -- CMD [ARGS...]"
out="$1"
shift 2
mkdir -p "$out"
out="$(cd "$out" && pwd)"

trap klamm_stop_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
klamm_run_dir_init
KLAMM_TANSU_BIN="$("$KLAMM_ROOT/scripts/ensure-tansu.sh")"
KLAMM_PEER_PYTHON="$("$KLAMM_ROOT/scripts/peer-venv.sh")"
export KLAMM_PEER_PYTHON

proxy_port="$(klamm_free_port)"
klamm_start_tansu capture-backend "$proxy_port"
klamm_start_proxy capture-proxy "$proxy_port" "127.0.0.1:$KLAMM_STARTED_PORT" --out "$out"
klamm_start_watchdog
export KLAMM_BOOTSTRAP="127.0.0.1:$proxy_port"
klamm_log "recording into $out via KLAMM_BOOTSTRAP=$KLAMM_BOOTSTRAP"

set +e
"$@"
status=$?
set -e
((status == 0)) || KLAMM_KEEP_RUN_DIR=1
klamm_log "$(wc -l <"$out/frames.jsonl" 2>/dev/null || echo 0) frames recorded in $out/frames.jsonl"
exit "$status"
