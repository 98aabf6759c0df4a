#!/usr/bin/env bash
# Prints the path of the peer venv's python, creating the venv first if needed.
#
# The venv (.klamm/venv, gitignored) holds the confluent-kafka wheel, which
# bundles a current librdkafka: the reference client for interop tests and
# golden-byte captures. pip's cache makes a re-create take seconds.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

venv="${KLAMM_PEER_VENV:-$KLAMM_ROOT/.klamm/venv}"
req="$KLAMM_ROOT/tests/peer/requirements.txt"
stamp="$venv/.klamm-requirements"

if [[ -x "$venv/bin/python" && -f "$stamp" ]] && cmp -s "$req" "$stamp"; then
    printf '%s\n' "$venv/bin/python"
    exit 0
fi

command -v python3 >/dev/null || klamm_die "cannot create the peer venv: python3 is not on PATH"
log="$(dirname "$venv")/peer-venv.log"
mkdir -p "$(dirname "$venv")"
# Test processes may ask at the same time: one creates, the others wait.
exec 9>"$(dirname "$venv")/peer-venv.lock"
flock 9
if [[ -x "$venv/bin/python" && -f "$stamp" ]] && cmp -s "$req" "$stamp"; then
    printf '%s\n' "$venv/bin/python"
    exit 0
fi
klamm_log "creating the peer venv in $venv (confluent-kafka); log: $log"
{
    rm -rf "$venv"
    python3 -m venv "$venv" &&
        "$venv/bin/python" -m pip install --disable-pip-version-check -q -r "$req"
} >"$log" 2>&1 ||
    klamm_die "could not create the peer venv: $(grep -m1 -iE 'error' "$log" || tail -n1 "$log") (full log: $log)"
"$venv/bin/python" -c 'import confluent_kafka' 2>>"$log" ||
    klamm_die "peer venv created but 'import confluent_kafka' fails (log: $log)"
cp "$req" "$stamp"
printf '%s\n' "$venv/bin/python"
