//! Process figures for the producer benchmarks: CPU time and peak RSS of
//! the whole process, and latency percentiles. One file included by
//! `client/examples/produce_bench.rs`, `tests/benches/producer.rs` and the
//! librdkafka peer (`peers/rdkafka-bench`), so every client's figures are
//! taken the same way.

use std::time::Duration;

/// User + system CPU time of the whole process so far, and its peak RSS in
/// MiB, from /proc (clock ticks are 1/100 s on Linux).
pub(crate) fn process_usage() -> (Duration, f64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // After the command name: state is field 0, utime 11, stime 12.
    let cpu = Duration::from_millis((ticks(11) + ticks(12)) * 10);
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0);
    (cpu, rss)
}

/// The `p` percentile (0 to 1) of `sorted` latencies in nanoseconds, in
/// milliseconds.
pub(crate) fn percentile_ms(sorted: &[u64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or(0) as f64 / 1e6
}
