#!/usr/bin/env bash
# Load test of klamm-web-service: every variant at 10, 50, 100, 200 and 400
# concurrent connections with wrk, the producer pointed at a real broker
# (tansu, started and stopped by scripts/broker.sh). Writes a CSV, a markdown
# table and a PNG chart of requests/s against concurrency.
#
#   examples/web-service/load-test.sh [options] [-- -X name=value ...]
#
#   --duration S         measured seconds per point (default 10)
#   --warmup S           unmeasured seconds of the same load before each point (default 2)
#   --connections "..."  concurrency levels (default "10 50 100 200 400")
#   --variants "..."     default "noop fire-and-forget callback callback-task await"
#   --rounds N           repeat the whole matrix N times; the table shows the
#                        median of each point (default 1)
#   --workers N          the service's tokio worker threads (default: one per core)
#   --pin-service CPUS   run the service on these CPUs (taskset list, e.g. 0)
#   --pin-load CPUS      run the broker and wrk on these CPUs (e.g. 1)
#   --wrk-threads N      wrk threads (default 2)
#   --partitions N       partitions of the topic (default 3)
#   --label NAME         setup name, used in file names (default "default")
#   --out DIR            results directory (default examples/web-service/results)
#   after --, -X name=value options are passed to the service (producer properties)
#
# Installs what it lacks from the package registries: wrk and the DejaVu
# font (Debian packages, for the chart's text). Builds the service in
# release mode. Points run interleaved (for each concurrency, every variant
# in turn) so that drift in a busy machine's load spreads over all variants.
#
# Output, in DIR: LABEL-raw.csv (every point of every round), LABEL.csv (the
# medians), LABEL.md (tables, machine, load average, command), LABEL.png.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
source "$root/scripts/lib.sh"

duration=10 warmup=2 rounds=1 wrk_threads=2 partitions=3
connections="10 50 100 200 400"
variants="noop fire-and-forget callback callback-task await"
workers="" pin_service="" pin_load="" label=default out="$here/results" inner=0
props=()
original_command="examples/web-service/load-test.sh $*"
while (($#)); do
    case "$1" in
    --duration) duration=$2; shift ;;
    --warmup) warmup=$2; shift ;;
    --connections) connections=$2; shift ;;
    --variants) variants=$2; shift ;;
    --rounds) rounds=$2; shift ;;
    --workers) workers=$2; shift ;;
    --pin-service) pin_service=$2; shift ;;
    --pin-load) pin_load=$2; shift ;;
    --wrk-threads) wrk_threads=$2; shift ;;
    --partitions) partitions=$2; shift ;;
    --label) label=$2; shift ;;
    --out) out=$2; shift ;;
    --inner) inner=1 ;;
    --command) original_command=$2; shift ;;
    --) shift; props=("$@"); break ;;
    *) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//' >&2; exit 2 ;;
    esac
    shift
done
mkdir -p "$out"
out="$(cd "$out" && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
font=/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf

apt_install() {
    local sudo=""
    ((EUID == 0)) || sudo=sudo
    klamm_log "installing $* (Debian packages)"
    $sudo apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}

if ((!inner)); then
    command -v wrk >/dev/null || apt_install wrk
    [[ -f "$font" ]] || apt_install fonts-dejavu-core
    command -v curl >/dev/null || apt_install curl
    klamm_log "building the service (release) and the chart tool"
    (cd "$root" && cargo build -q --release -p klamm-web-service --bin klamm-web-service)
    (cd "$root" && cargo build -q -p klamm-web-service --features chart --bin chart)
    args=(--inner --command "$original_command" --duration "$duration" --warmup "$warmup"
        --connections "$connections" --variants "$variants" --rounds "$rounds"
        --wrk-threads "$wrk_threads" --partitions "$partitions" --label "$label" --out "$out")
    [[ -n "$workers" ]] && args+=(--workers "$workers")
    [[ -n "$pin_service" ]] && args+=(--pin-service "$pin_service")
    [[ -n "$pin_load" ]] && args+=(--pin-load "$pin_load")
    # The broker inherits the load CPUs' affinity from the script that starts it.
    pin=()
    [[ -n "$pin_load" ]] && pin=(taskset -c "$pin_load")
    "${pin[@]}" "$root/scripts/broker.sh" run -- "${BASH_SOURCE[0]}" "${args[@]}" -- "${props[@]}"
    "$target/debug/chart" "$out/$label.csv" "$out/$label.png" --font "$font" \
        --title "klamm-web-service, POST /items: requests/s ($label)"
    klamm_log "results: $out/$label.md, $out/$label.png"
    exit 0
fi

# ---- inside scripts/broker.sh run: KLAMM_BOOTSTRAP is set -------------------
service_bin="$target/release/klamm-web-service"
work="$(mktemp -d)"
service_pid=""
cleanup() {
    if [[ -n "$service_pid" ]] && kill -0 "$service_pid" 2>/dev/null; then
        kill -TERM "$service_pid" 2>/dev/null || true
        wait "$service_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

broker_pid="$(pgrep -f "tansu broker --listener-url tcp://$KLAMM_BOOTSTRAP " | head -n1 || true)"
svc_pin=() load_pin=()
[[ -n "$pin_service" ]] && svc_pin=(taskset -c "$pin_service")
[[ -n "$pin_load" ]] && load_pin=(taskset -c "$pin_load")
svc_args=(--bootstrap "$KLAMM_BOOTSTRAP" --topic "web-load-$label" --create-topic "$partitions"
    --port 0 --log warn)
[[ -n "$workers" ]] && svc_args+=(--workers "$workers")
"${svc_pin[@]}" "$service_bin" "${svc_args[@]}" "${props[@]}" >"$work/service.out" 2>"$work/service.err" &
service_pid=$!
for _ in $(seq 1 300); do
    grep -q '^listening on ' "$work/service.out" 2>/dev/null && break
    kill -0 "$service_pid" 2>/dev/null || klamm_die "the service exited: $(tail -n3 "$work/service.err")"
    sleep 0.1
done
addr="$(sed -n 's/^listening on //p' "$work/service.out")"
[[ -n "$addr" ]] || klamm_die "the service did not say where it listens"
for _ in $(seq 1 300); do
    curl -sf "http://$addr/stats" >/dev/null && break
    sleep 0.1
done
curl -sf "http://$addr/stats" >/dev/null || klamm_die "the service does not answer: $(tail -n3 "$work/service.err")"
klamm_log "service at $addr (pid $service_pid), broker $KLAMM_BOOTSTRAP (pid ${broker_pid:-?})"

# CPU seconds (user+system) a process has used so far.
cpu_ticks() {
    [[ -n "$1" && -r "/proc/$1/stat" ]] || { echo 0; return; }
    awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"
}
hz="$(getconf CLK_TCK)"

raw="$out/$label-raw.csv"
echo "round,variant,connections,requests_per_s,p50_ms,p90_ms,p99_ms,max_ms,non_2xx,socket_errors,requests,service_cpu_pct,broker_cpu_pct" >"$raw"
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
for round in $(seq 1 "$rounds"); do
    for c in $connections; do
        for v in $variants; do
            url="http://$addr/$v/items"
            t=$((wrk_threads < c ? wrk_threads : c))
            "${load_pin[@]}" wrk -t "$t" -c "$c" -d "${warmup}s" -s "$here/load/post.lua" "$url" >/dev/null
            s0="$(cpu_ticks "$service_pid")" b0="$(cpu_ticks "$broker_pid")"
            result="$("${load_pin[@]}" wrk -t "$t" -c "$c" -d "${duration}s" -s "$here/load/post.lua" "$url" | sed -n 's/^RESULT //p')"
            s1="$(cpu_ticks "$service_pid")" b1="$(cpu_ticks "$broker_pid")"
            [[ -n "$result" ]] || klamm_die "wrk gave no result for $v at $c connections"
            read -r rps p50 p90 p99 max non2xx sockerr requests <<<"$result"
            svc_cpu="$(awk -v a="$s0" -v b="$s1" -v hz="$hz" -v d="$duration" 'BEGIN { printf "%.0f", 100 * (b - a) / hz / d }')"
            brk_cpu="$(awk -v a="$b0" -v b="$b1" -v hz="$hz" -v d="$duration" 'BEGIN { printf "%.0f", 100 * (b - a) / hz / d }')"
            echo "$round,$v,$c,$rps,$p50,$p90,$p99,$max,$non2xx,$sockerr,$requests,$svc_cpu,$brk_cpu" >>"$raw"
            printf 'klamm: round %s %-16s c=%-3s %10s req/s  p50 %7s ms  p99 %7s ms  non-2xx %s  cpu svc %s%% broker %s%%\n' \
                "$round" "$v" "$c" "$rps" "$p50" "$p99" "$non2xx" "$svc_cpu" "$brk_cpu" >&2
        done
    done
done
load_after="$(cut -d' ' -f1-3 /proc/loadavg)"
curl -sf "http://$addr/stats" >"$out/$label-stats.json" || true
kill -TERM "$service_pid"
wait "$service_pid" || klamm_log "the service exited with status $? (records undelivered at close?)"
service_pid=""

# Medians over rounds, the markdown report (tables, machine, command).
python3 "$here/load/report.py" "$raw" "$out/$label.csv" "$out/$label.md" --label="$label" \
    --command="$original_command" --load-before="$load_before" --load-after="$load_after" \
    --rounds="$rounds" --duration="$duration" --workers="$workers" --pin-service="$pin_service" \
    --pin-load="$pin_load" --props="${props[*]:-}" \
    --commit="$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)" >&2
