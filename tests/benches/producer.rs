//! Producer throughput against the harness's broker (tansu), Klamm's two
//! delivery styles, uncompressed and lz4: 100-byte records to 6 partitions,
//! acks=1, linger.ms=5 (the setting).
//!
//! `cargo bench -p klamm-tests --bench producer` runs criterion groups
//! (records/s) and then, once per setting, a 1,000,000-record run that
//! prints records/s, CPU seconds per million records, peak RSS and p50/p99
//! send-to-acknowledgement latency (CPU and RSS of this whole bench
//! process, criterion included). The comparison with librdkafka, each
//! variant in its own process, is `scripts/bench-producer.sh` (Klamm's
//! `client/examples/produce_bench.rs` against the `rdkafka` crate in
//! `peers/rdkafka-bench`); see the producer section of client/README.md.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use klamm::producer::{Producer, ProducerRecord};
use klamm_tests::{broker, peer, unique_topic};
use serde_json::json;

#[path = "../../client/examples/support/process_stats.rs"]
mod process_stats;
use process_stats::{percentile_ms, process_usage};

const VALUE: [u8; 100] = [b'x'; 100];

fn topic() -> String {
    let t = unique_topic("bench-produce");
    peer::create_topic(broker(), &json!({}), &t, 6).expect("create topic");
    t
}

async fn producer(codec: &str) -> Producer {
    Producer::from_pairs([
        ("bootstrap.servers", broker()),
        ("acks", "1"),
        ("linger.ms", "5"),
        ("compression.type", codec),
    ])
    .await
    .expect("producer")
}

/// Sends `n` records awaiting delivery futures (a window of them at a
/// time); returns per-record latencies in microseconds.
async fn run_futures(p: &Producer, topic: &str, n: usize, latencies: bool) -> Vec<u64> {
    let mut lat = Vec::with_capacity(if latencies { n } else { 0 });
    let mut window = std::collections::VecDeque::with_capacity(50_000);
    for _ in 0..n {
        let sent = Instant::now();
        let d = p
            .send(ProducerRecord::new(topic).value(&VALUE))
            .await
            .expect("send");
        window.push_back((sent, d));
        if window.len() == window.capacity() {
            if let Some((sent, d)) = window.pop_front() {
                d.await.expect("delivered");
                if latencies {
                    lat.push(sent.elapsed().as_nanos() as u64);
                }
            }
        }
    }
    for (sent, d) in window {
        d.await.expect("delivered");
        if latencies {
            lat.push(sent.elapsed().as_nanos() as u64);
        }
    }
    lat
}

/// Sends `n` records with callbacks; returns per-record latencies.
async fn run_callbacks(p: &Producer, topic: &str, n: usize, latencies: bool) -> Vec<u64> {
    let lat = Arc::new(Mutex::new(Vec::with_capacity(if latencies {
        n
    } else {
        0
    })));
    let failed = Arc::new(AtomicU64::new(0));
    for _ in 0..n {
        let sent = Instant::now();
        let lat = lat.clone();
        let failed = failed.clone();
        p.send_with_callback(ProducerRecord::new(topic).value(&VALUE), move |r| {
            if r.is_err() {
                failed.fetch_add(1, Ordering::Relaxed);
            } else if latencies {
                lat.lock().unwrap().push(sent.elapsed().as_nanos() as u64);
            }
        })
        .await
        .expect("send");
    }
    p.flush().await;
    assert_eq!(failed.load(Ordering::Relaxed), 0);
    std::mem::take(&mut *lat.lock().unwrap())
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    const N: usize = 100_000;
    let mut group = c.benchmark_group("produce_100B_6p_acks1_linger5ms");
    // Short runs: every record stays in the broker's memory.
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));
    group.throughput(Throughput::Elements(N as u64));
    for codec in ["none", "lz4"] {
        let t = topic();
        let p = rt.block_on(producer(codec));
        group.bench_function(format!("klamm_futures_{codec}"), |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        run_futures(&p, &t, N, false).await;
                    }
                    start.elapsed()
                })
            })
        });
        group.bench_function(format!("klamm_callbacks_{codec}"), |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        run_callbacks(&p, &t, N, false).await;
                    }
                    start.elapsed()
                })
            })
        });
        rt.block_on(p.close(Duration::from_secs(30)));
    }
    group.finish();
}

/// One 1,000,000-record run per setting, with the figures the issue asks for.
fn million_report() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    const N: usize = 1_000_000;
    for codec in ["none", "lz4"] {
        for style in ["futures", "callbacks"] {
            let t = topic();
            let (elapsed, cpu, mut lat) = rt.block_on(async {
                let p = producer(codec).await;
                // Warm up metadata and the connection.
                p.send(ProducerRecord::new(&t).value(&VALUE))
                    .await
                    .expect("send")
                    .await
                    .expect("delivered");
                let cpu0 = process_usage().0;
                let start = Instant::now();
                let lat = match style {
                    "futures" => run_futures(&p, &t, N, true).await,
                    _ => run_callbacks(&p, &t, N, true).await,
                };
                let out = (start.elapsed(), process_usage().0 - cpu0, lat);
                p.close(Duration::from_secs(30)).await;
                out
            });
            lat.sort_unstable();
            println!(
                "klamm {style:9} {codec:4}: {:>9.0} records/s, {:.2} CPU s per million, peak RSS {:.0} MiB (process), p50 {:.1} ms, p99 {:.1} ms",
                N as f64 / elapsed.as_secs_f64(),
                cpu.as_secs_f64() * 1e6 / N as f64,
                process_usage().1,
                percentile_ms(&lat, 0.50),
                percentile_ms(&lat, 0.99),
            );
        }
    }
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
    million_report();
}
