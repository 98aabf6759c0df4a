#!/usr/bin/env bash
# The README's first command: Klamm talking to a real broker.
#
#   scripts/demo.sh [klamm demo arguments, e.g. --count 10000]
#
# Brings up a local tansu broker (installing it once if needed, ~13 minutes)
# unless KLAMM_BOOTSTRAP names one, then runs
# `cargo run --release -p klamm-cli -- demo` with KLAMM_BOOTSTRAP set: it
# creates a topic, produces 100,000 records with awaited delivery reports,
# consumes them back and verifies each one. The broker stops when it ends;
# the exit code says whether every record verified.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$KLAMM_ROOT"

# Compile before the broker starts, so it does not wait through the build.
cargo build --release -p klamm-cli

exec "$KLAMM_ROOT/scripts/broker.sh" run -- \
    cargo run --release -q -p klamm-cli -- demo "$@"
