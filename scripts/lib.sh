# Shared helpers for the Klamm scripts. Source it; do not run it.
#
# Every script in scripts/ reports failure as ONE line on stderr starting with
# "klamm:" and exits non-zero, so a test run that cannot get its broker fails
# loudly instead of skipping.

# Repository root, whatever the caller's working directory.
KLAMM_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export KLAMM_ROOT

klamm_log() { printf 'klamm: %s\n' "$*" >&2; }

klamm_die() {
    printf 'klamm: %s\n' "$*" >&2
    exit 1
}

# A port the kernel considers free on loopback right now. Another process may
# take it before we bind it, so callers retry a failed start on a new port.
klamm_free_port() {
    python3 - <<'EOF'
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
EOF
}

# Cache directory kept between runs on the same machine (tansu's install lock,
# CI's target dir).
klamm_cache_dir() {
    local dir="${XDG_CACHE_HOME:-$HOME/.cache}/klamm"
    mkdir -p "$dir"
    printf '%s\n' "$dir"
}
