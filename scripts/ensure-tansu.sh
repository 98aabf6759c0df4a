#!/usr/bin/env bash
# Prints the path of a tansu 0.6.0 binary, installing it first if needed.
#
# tansu is the Kafka-compatible broker the tests run against (see
# tests/README.md). The first install builds it from crates.io, about 11-13
# minutes on 2 cores; the binary is cached in $CARGO_HOME/bin (usually
# ~/.cargo/bin) so later runs on the same machine reuse it.
#
# Override with KLAMM_TANSU=/path/to/tansu. With KLAMM_NO_INSTALL=1 a missing
# binary is an error instead of a build (test processes set it).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

TANSU_VERSION="0.6.0"
cargo_home="${CARGO_HOME:-$HOME/.cargo}"

# True when $1 is an executable tansu of the version we test against.
is_good_tansu() {
    [[ -x "$1" ]] && "$1" --version 2>/dev/null | grep -q "$TANSU_VERSION"
}

if [[ -n "${KLAMM_TANSU:-}" ]]; then
    is_good_tansu "$KLAMM_TANSU" ||
        klamm_die "KLAMM_TANSU=$KLAMM_TANSU is not an executable tansu $TANSU_VERSION"
    printf '%s\n' "$KLAMM_TANSU"
    exit 0
fi

cached="$cargo_home/bin/tansu"
if is_good_tansu "$cached"; then
    printf '%s\n' "$cached"
    exit 0
fi

if [[ -n "${KLAMM_NO_INSTALL:-}" ]]; then
    klamm_die "tansu $TANSU_VERSION is not installed (looked for $cached): run scripts/test.sh or scripts/ensure-tansu.sh once to build it (about 13 minutes), or set KLAMM_BOOTSTRAP"
fi
command -v cargo >/dev/null || klamm_die "cannot install tansu: cargo is not on PATH"

cache="$(klamm_cache_dir)"
log="$cache/tansu-install.log"

# One install at a time per machine: concurrent test runs wait for the first.
exec 9>"$cache/tansu-install.lock"
if ! flock -n 9; then
    klamm_log "another run is installing tansu; waiting for it"
    flock 9
fi
# An install started by hand (not through this script) holds no lock: wait
# for it too rather than building the same thing twice on 2 cores.
while pid="$(pgrep -f 'cargo install tansu' | head -n1)" && [[ -n "$pid" ]]; do
    klamm_log "waiting for a running 'cargo install tansu' (pid $pid) to finish"
    while kill -0 "$pid" 2>/dev/null; do sleep 5; done
done
if is_good_tansu "$cached"; then
    printf '%s\n' "$cached"
    exit 0
fi

klamm_log "installing tansu $TANSU_VERSION from crates.io (once per machine, about 11-13 minutes on 2 cores); log: $log"
started=$SECONDS
# Without the dynostore feature its memory:// storage refuses to start.
# A dedicated target dir lets an interrupted install resume where it stopped.
if ! env -u CARGO_TARGET_DIR cargo install tansu --version "$TANSU_VERSION" --locked \
    --features dynostore --target-dir "$cache/tansu-build" >"$log" 2>&1; then
    klamm_die "could not install tansu $TANSU_VERSION: $(grep -m1 -E '^error' "$log" || tail -n1 "$log") (full log: $log)"
fi
rm -rf "$cache/tansu-build"
is_good_tansu "$cached" ||
    klamm_die "cargo install tansu finished but $cached does not report version $TANSU_VERSION"
klamm_log "installed tansu $TANSU_VERSION in $((SECONDS - started)) s"
printf '%s\n' "$cached"
