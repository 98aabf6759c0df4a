#!/usr/bin/env bash
# Producer benchmark, Klamm against librdkafka (the rdkafka crate), in one
# run against one tansu started through scripts/broker.sh.
#
#   scripts/bench-producer.sh            build, start a broker, run, print the table
#
# Every variant runs in its own process (client/examples/produce_bench.rs and
# peers/rdkafka-bench), so CPU seconds and peak RSS are that whole process's.
# Settings (the issue's): 1,000,000 records of 100 bytes to a fresh
# 6-partition topic, acks=1, linger.ms=5, compression none and lz4:
#   klamm futures     awaits every delivery future (up to 50,000 in flight)
#   klamm callbacks   send_tagged to one delivery handler (as librdkafka's
#                     delivery callback with a per-message opaque)
#   klamm closures    send_with_callback, a boxed closure per record (CODECS only)
#   rdkafka future    FutureProducer, awaiting every DeliveryFuture
#   rdkafka base      BaseProducer with a delivery callback
# then the same four capped at RATE records/s (latency without a queue).
#
# Klamm runs with its defaults (batch.size 1,000,000 bytes, as librdkafka's)
# and, as futures-16k / callbacks-16k, with Java's batch.size of 16384.
#
# Environment: RECORDS (1000000), RATE (100000), RATE_RECORDS (500000),
# CODECS ("none lz4"), RATE_CODECS ("none"), JAVA_BATCH_CODECS ("none"), REPEAT (1),
# KLAMM_BOOTSTRAP (an existing broker instead of starting tansu).
# librdkafka is C: its crate lives outside the workspace (peers/) and is
# built here with its bundled source (needs make, a C compiler and perl;
# installed from Debian when missing).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

RECORDS="${RECORDS:-1000000}"
RATE="${RATE:-100000}"
RATE_RECORDS="${RATE_RECORDS:-500000}"
CODECS="${CODECS:-none lz4}"
RATE_CODECS="${RATE_CODECS:-none}"
JAVA_BATCH_CODECS="${JAVA_BATCH_CODECS:-none}"
REPEAT="${REPEAT:-1}"
target="${CARGO_TARGET_DIR:-$KLAMM_ROOT/target}"
export CARGO_TARGET_DIR="$target"

if [[ "${1:-}" != --inner ]]; then
    missing=()
    for tool in make cc perl; do
        command -v "$tool" >/dev/null || missing+=("$tool")
    done
    if ((${#missing[@]})); then
        klamm_log "installing build tools for librdkafka (missing: ${missing[*]})"
        apt-get update -qq && apt-get install -y -qq build-essential perl >/dev/null ||
            klamm_die "cannot install make/gcc/perl to build librdkafka"
    fi
    (cd "$KLAMM_ROOT" && cargo build --release -q -p klamm --example produce_bench) ||
        klamm_die "building client/examples/produce_bench failed"
    (cd "$KLAMM_ROOT/peers/rdkafka-bench" && cargo build --release -q) ||
        klamm_die "building peers/rdkafka-bench (rdkafka with bundled librdkafka) failed"
    exec "$KLAMM_ROOT/scripts/broker.sh" run -- "${BASH_SOURCE[0]}" --inner
fi

klamm_bin="$target/release/examples/produce_bench"
rdkafka_bin="$target/release/rdkafka-bench"
results="$(mktemp)"
trap 'rm -f "$results"' EXIT

run() { # BIN STYLE CODEC RECORDS RATE
    local line
    line="$("$1" "$2" "$3" "$4" "$5" | grep '^RESULT ')" ||
        klamm_die "$(basename "$1") $2 $3 $4 $5 failed"
    printf '%s\n' "$line" >>"$results"
    printf '%s\n' "$line" >&2
}

for ((r = 0; r < REPEAT; r++)); do
    for codec in $CODECS; do
        run "$klamm_bin" futures "$codec" "$RECORDS" 0
        run "$klamm_bin" callbacks "$codec" "$RECORDS" 0
        run "$klamm_bin" closures "$codec" "$RECORDS" 0
        run "$rdkafka_bin" future "$codec" "$RECORDS" 0
        run "$rdkafka_bin" base "$codec" "$RECORDS" 0
    done
    # Klamm at Java's batch.size (16 KiB) instead of its default (librdkafka's
    # 1,000,000 bytes): what the larger default saves.
    for codec in $JAVA_BATCH_CODECS; do
        KLAMM_BENCH_PROPS="batch.size=16384" KLAMM_BENCH_LABEL=futures-16k \
            run "$klamm_bin" futures "$codec" "$RECORDS" 0
        KLAMM_BENCH_PROPS="batch.size=16384" KLAMM_BENCH_LABEL=callbacks-16k \
            run "$klamm_bin" callbacks "$codec" "$RECORDS" 0
    done
    for codec in $RATE_CODECS; do
        run "$klamm_bin" futures "$codec" "$RATE_RECORDS" "$RATE"
        run "$klamm_bin" callbacks "$codec" "$RATE_RECORDS" "$RATE"
        run "$rdkafka_bin" future "$codec" "$RATE_RECORDS" "$RATE"
        run "$rdkafka_bin" base "$codec" "$RATE_RECORDS" "$RATE"
    done
done

echo
echo "producer: 100-byte records, 6 partitions, acks=1, linger.ms=5, tansu 0.6.0 on the same machine ($(nproc) cores)"
printf '| %-7s | %-13s | %-5s | %-9s | %9s | %10s | %8s | %8s | %8s |\n' \
    client style codec "rate cap" "records/s" "CPU-s / M" "peak RSS" "p50 ms" "p99 ms"
printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' \
    ------- ------------- ----- --------- ---------: ----------: --------: --------: --------:
while read -r _ fields; do
    declare -A f=()
    for kv in $fields; do f[${kv%%=*}]=${kv#*=}; done
    cap="${f[rate]}"
    [[ "$cap" == 0 ]] && cap="none"
    printf '| %-7s | %-13s | %-5s | %-9s | %9s | %10s | %5s MiB | %8s | %8s |\n' \
        "${f[client]}" "${f[style]}" "${f[codec]}" "$cap" "${f[records_per_s]}" \
        "${f[cpu_s_per_m]}" "${f[peak_rss_mib]}" "${f[p50_ms]}" "${f[p99_ms]}"
    unset f
done <"$results"
