#!/usr/bin/env bash
# The README's first command: Klamm talking to a real broker.
#
#   scripts/demo.sh [demo arguments]
#
# Brings up a local tansu broker (installing it once if needed, ~13 minutes)
# unless KLAMM_BOOTSTRAP names one, then runs
# `cargo run --release -p klamm --example demo` with KLAMM_BOOTSTRAP set, and
# stops the broker when the demo ends.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$KLAMM_ROOT"

if [[ ! -f client/examples/demo.rs ]]; then
    klamm_die "the demo is not available yet: client/examples/demo.rs (the connection layer's example) has not landed"
fi

# Compile before the broker starts, so it does not wait through the build.
cargo build --release -p klamm --example demo

exec "$KLAMM_ROOT/scripts/broker.sh" run -- \
    cargo run --release -q -p klamm --example demo -- "$@"
