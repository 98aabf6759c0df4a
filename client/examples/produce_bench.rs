//! One producer benchmark run in its own process, so its CPU time and peak
//! RSS are the whole process's (`scripts/bench-producer.sh` runs it next to
//! the librdkafka peer in `peers/rdkafka-bench`, with the same arguments and
//! the same output line).
//!
//! ```sh
//! cargo build --release -p klamm --example produce_bench
//! KLAMM_BOOTSTRAP=127.0.0.1:9092 target/release/examples/produce_bench \
//!     futures none 1000000 [RATE]
//! ```
//!
//! Styles: `futures` awaits every delivery future (a window of up to 50,000
//! in flight, completed heads collected after every send), `callbacks` sends
//! with `send_tagged` (the record's index as tag) to one delivery handler,
//! the way librdkafka's delivery callback gets a per-message opaque, and
//! `closures` gives every record a `send_with_callback` closure of its own
//! (a boxed closure holding one `Arc` per record). RATE (records/s, 0 = flat out) caps the send rate
//! for a latency measurement that is not queue-dominated. 100-byte values
//! to a fresh 6-partition topic, acks=1, linger.ms=5.
//!
//! Output: one line `RESULT key=value ...` (records/s, CPU seconds per
//! million records for the whole process, peak RSS in MiB, p50/p99
//! send-to-acknowledgement latency in ms).

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use klamm::admin::{Admin, NewTopic};
use klamm::producer::{Producer, ProducerRecord};

#[path = "support/process_stats.rs"]
mod process_stats;
use process_stats::{percentile_ms, process_usage};

const VALUE: [u8; 100] = [b'x'; 100];
const WINDOW: usize = 50_000;

/// Latencies, each written once by the callback of its record (the slot is
/// the record's index), so callbacks never take a lock.
struct Latencies(Vec<AtomicU64>);

impl Latencies {
    fn new(n: usize) -> Self {
        Latencies((0..n).map(|_| AtomicU64::new(0)).collect())
    }
}

/// Sends paced to `rate` records/s (0: flat out): the sender sleeps when it
/// is more than a millisecond ahead.
struct Pacer {
    start: Instant,
    rate: u64,
}

impl Pacer {
    async fn pace(&self, sent: u64) {
        if self.rate == 0 || sent % 64 != 0 {
            return;
        }
        let due = Duration::from_secs_f64(sent as f64 / self.rate as f64);
        let now = self.start.elapsed();
        if due > now + Duration::from_millis(1) {
            tokio::time::sleep(due - now).await;
        }
    }
}

async fn run_futures(p: &Producer, topic: &str, n: usize, pacer: &Pacer) -> Vec<u64> {
    let mut lat = Vec::with_capacity(n);
    let mut window = VecDeque::with_capacity(WINDOW);
    for i in 0..n {
        pacer.pace(i as u64).await;
        let sent = Instant::now();
        let d = p
            .send(ProducerRecord::new(topic).value(&VALUE))
            .await
            .expect("send");
        window.push_back((sent, d));
        // Collect completed heads now, so a latency is not inflated by the
        // time the window takes to fill.
        while let Some((sent, d)) = window.front_mut() {
            match d.now_or_never() {
                Some(r) => {
                    r.expect("delivered");
                    lat.push(sent.elapsed().as_nanos() as u64);
                    window.pop_front();
                }
                None => break,
            }
        }
        if window.len() >= WINDOW {
            if let Some((sent, d)) = window.pop_front() {
                d.await.expect("delivered");
                lat.push(sent.elapsed().as_nanos() as u64);
            }
        }
    }
    for (sent, d) in window {
        d.await.expect("delivered");
        lat.push(sent.elapsed().as_nanos() as u64);
    }
    lat
}

/// Send times and latencies by record index (each written once), for the
/// delivery handler.
struct Slots {
    origin: Instant,
    sent: Vec<AtomicU64>,
    latency: Vec<AtomicU64>,
    failed: AtomicU64,
}

impl Slots {
    fn now(&self) -> u64 {
        self.origin.elapsed().as_nanos() as u64
    }
}

async fn run_tagged(p: &Producer, topic: &str, n: usize, pacer: &Pacer) -> Vec<u64> {
    let slots = Arc::new(Slots {
        origin: Instant::now(),
        sent: (0..n).map(|_| AtomicU64::new(0)).collect(),
        latency: (0..n).map(|_| AtomicU64::new(0)).collect(),
        failed: AtomicU64::new(0),
    });
    let s = slots.clone();
    p.set_delivery_handler(move |i, r| {
        if r.is_err() {
            s.failed.fetch_add(1, Ordering::Relaxed);
        } else if let (Some(sent), Some(lat)) = (s.sent.get(i as usize), s.latency.get(i as usize))
        {
            lat.store(
                s.now().saturating_sub(sent.load(Ordering::Relaxed)),
                Ordering::Relaxed,
            );
        }
    });
    for i in 0..n {
        pacer.pace(i as u64).await;
        if let Some(s) = slots.sent.get(i) {
            s.store(slots.now(), Ordering::Relaxed);
        }
        p.send_tagged(ProducerRecord::new(topic).value(&VALUE), i as u64)
            .await
            .expect("send");
    }
    p.flush().await;
    assert_eq!(slots.failed.load(Ordering::Relaxed), 0, "records failed");
    slots
        .latency
        .iter()
        .map(|a| a.load(Ordering::Relaxed))
        .collect()
}

async fn run_closures(p: &Producer, topic: &str, n: usize, pacer: &Pacer) -> Vec<u64> {
    // One shared state, one `Arc` clone per record (what a closure that
    // reports somewhere typically captures).
    let state = Arc::new((Latencies::new(n), AtomicU64::new(0)));
    let origin = Instant::now();
    for i in 0..n {
        pacer.pace(i as u64).await;
        let sent = origin.elapsed().as_nanos() as u64;
        let state = state.clone();
        p.send_with_callback(ProducerRecord::new(topic).value(&VALUE), move |r| {
            let (lat, failed) = &*state;
            if r.is_err() {
                failed.fetch_add(1, Ordering::Relaxed);
            } else if let Some(slot) = lat.0.get(i) {
                slot.store(
                    (origin.elapsed().as_nanos() as u64).saturating_sub(sent),
                    Ordering::Relaxed,
                );
            }
        })
        .await
        .expect("send");
    }
    p.flush().await;
    assert_eq!(state.1.load(Ordering::Relaxed), 0, "records failed");
    state
        .0
        .0
        .iter()
        .map(|a| a.load(Ordering::Relaxed))
        .collect()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (style, codec, n, rate) = match args.as_slice() {
        [_, s, c, n, rest @ ..] if rest.len() <= 1 => (
            s.clone(),
            c.clone(),
            n.parse::<usize>()?,
            rest.first().map_or(Ok(0), |r| r.parse::<u64>())?,
        ),
        _ => {
            eprintln!("usage: produce_bench futures|callbacks|closures none|lz4 RECORDS [RATE]");
            std::process::exit(2);
        }
    };
    let bootstrap = std::env::var("KLAMM_BOOTSTRAP").unwrap_or_else(|_| "127.0.0.1:9092".into());
    let mut props = vec![
        ("bootstrap.servers".to_owned(), bootstrap.clone()),
        ("acks".to_owned(), "1".to_owned()),
        ("linger.ms".to_owned(), "5".to_owned()),
        ("compression.type".to_owned(), codec.clone()),
    ];
    // Extra producer properties for experiments: KLAMM_BENCH_PROPS="batch.size=65536 ..."
    if let Ok(extra) = std::env::var("KLAMM_BENCH_PROPS") {
        for kv in extra.split_whitespace() {
            if let Some((k, v)) = kv.split_once('=') {
                props.push((k.to_owned(), v.to_owned()));
            }
        }
    }
    let p = Producer::from_pairs(props).await?;
    let topic = format!("bench-klamm-{style}-{codec}-{rate}-{}", std::process::id());
    Admin::new(p.client().clone())
        .create_topics(&[NewTopic::new(&topic, 6, 1)], false)
        .await
        .into_result()?;
    // Warm up metadata, the producer id and the connection.
    p.send(ProducerRecord::new(&topic).value(&VALUE))
        .await?
        .await?;
    let pacer = Pacer {
        start: Instant::now(),
        rate,
    };
    let start = Instant::now();
    let mut lat = match style.as_str() {
        "futures" => run_futures(&p, &topic, n, &pacer).await,
        "callbacks" => run_tagged(&p, &topic, n, &pacer).await,
        "closures" => run_closures(&p, &topic, n, &pacer).await,
        other => return Err(format!("unknown style {other}").into()),
    };
    let elapsed = start.elapsed();
    let m = p.metrics();
    p.close(Duration::from_secs(30)).await;
    let (cpu, rss) = process_usage();
    lat.sort_unstable();
    // A label for runs with KLAMM_BENCH_PROPS, e.g. "futures-16k".
    let style = std::env::var("KLAMM_BENCH_LABEL").unwrap_or(style);
    println!(
        "RESULT client=klamm style={style} codec={codec} rate={rate} records={n} \
         records_per_s={:.0} cpu_s_per_m={:.2} peak_rss_mib={:.0} p50_ms={:.2} p99_ms={:.2} \
         records_per_request={:.0} records_per_batch={:.0}",
        n as f64 / elapsed.as_secs_f64(),
        cpu.as_secs_f64() * 1e6 / n as f64,
        rss,
        percentile_ms(&lat, 0.50),
        percentile_ms(&lat, 0.99),
        m.records_sent as f64 / m.requests.max(1) as f64,
        m.records_sent as f64 / m.batches_sent.max(1) as f64,
    );
    Ok(())
}
