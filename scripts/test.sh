#!/usr/bin/env bash
# The whole test suite, with a real broker: the README's test command.
#
#   scripts/test.sh [extra cargo nextest arguments]
#
# Installs tansu if it is not cached (once per machine, ~13 minutes), creates
# the librdkafka peer venv, starts ONE set of brokers (plain, TLS, SASL) for
# the whole run and exports their addresses (nextest runs each test in its own
# process; without the variables each process would start its own), then
# runs `cargo nextest run --workspace` and the doc tests
# (`cargo test --workspace --doc`: nextest does not run doc tests).
# KLAMM_BOOTSTRAP=HOST:PORT runs the suite against that broker instead of a
# local tansu (TLS and SASL still come from tansu unless their own variables
# are set too; see tests/README.md).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$KLAMM_ROOT"

command -v cargo-nextest >/dev/null ||
    klamm_die "cargo-nextest is not installed (cargo install cargo-nextest --locked)"

# Provision before starting the clock-sensitive part, with clear messages.
"$KLAMM_ROOT/scripts/ensure-tansu.sh" >/dev/null
KLAMM_PEER_PYTHON="$("$KLAMM_ROOT/scripts/peer-venv.sh")"
export KLAMM_PEER_PYTHON

# Build first so the brokers do not sit idle through a long compile.
cargo nextest run --workspace --no-run "$@"

exec "$KLAMM_ROOT/scripts/broker.sh" run --tls --sasl -- bash -c '
    set -euo pipefail
    # Doc tests first, so that nextest'"'"'s summary is the closing line.
    cargo test --workspace --doc
    cargo nextest run --workspace --no-fail-fast "$@"
' test.sh "$@"
