//! The librdkafka side of the producer benchmark (through the `rdkafka`
//! crate, librdkafka built from its bundled source). Same arguments, same
//! settings and the same `RESULT` line as Klamm's
//! `client/examples/produce_bench.rs`, so `scripts/bench-producer.sh` can
//! put them in one table.
//!
//! ```sh
//! KLAMM_BOOTSTRAP=127.0.0.1:9092 rdkafka-bench future|base none|lz4 RECORDS [RATE]
//! ```
//!
//! `future`: FutureProducer, awaiting every delivery future (a window of up
//! to 50,000, completed heads collected after every send). `base`:
//! BaseProducer with a delivery callback (the context), polled by the
//! sending thread. RATE (records/s, 0 = flat out) caps the send rate.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rdkafka::ClientContext;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{
    BaseProducer, BaseRecord, DeliveryFuture, DeliveryResult, FutureProducer, FutureRecord,
    Producer, ProducerContext,
};


#[path = "../../../client/examples/support/process_stats.rs"]
mod process_stats;
use process_stats::{percentile_ms, process_usage};

const VALUE: [u8; 100] = [b'x'; 100];
const WINDOW: usize = 50_000;

/// Send times and latencies by record index (written once each).
struct Slots {
    origin: Instant,
    sent: Vec<AtomicU64>,
    latency: Vec<AtomicU64>,
    failed: AtomicU64,
}

impl Slots {
    fn new(n: usize) -> Arc<Self> {
        Arc::new(Slots {
            origin: Instant::now(),
            sent: (0..n).map(|_| AtomicU64::new(0)).collect(),
            latency: (0..n).map(|_| AtomicU64::new(0)).collect(),
            failed: AtomicU64::new(0),
        })
    }

    fn now(&self) -> u64 {
        self.origin.elapsed().as_nanos() as u64
    }
}

/// BaseProducer context: the delivery callback.
struct Ctx(Arc<Slots>);

impl ClientContext for Ctx {}

impl ProducerContext for Ctx {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, i: usize) {
        if result.is_err() {
            self.0.failed.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if let (Some(sent), Some(lat)) = (self.0.sent.get(i), self.0.latency.get(i)) {
            lat.store(
                self.0.now().saturating_sub(sent.load(Ordering::Relaxed)),
                Ordering::Relaxed,
            );
        }
    }
}

fn due(start: Instant, sent: u64, rate: u64) -> Option<Duration> {
    if rate == 0 || sent % 64 != 0 {
        return None;
    }
    let due = Duration::from_secs_f64(sent as f64 / rate as f64);
    let now = start.elapsed();
    (due > now + Duration::from_millis(1)).then(|| due - now)
}

fn config(bootstrap: &str, codec: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap)
        .set("acks", "1")
        .set("linger.ms", "5")
        .set("compression.type", codec);
    c
}

fn run_base(
    bootstrap: &str,
    codec: &str,
    topic: &str,
    n: usize,
    rate: u64,
) -> (Vec<u64>, Duration) {
    let slots = Slots::new(n);
    let p: BaseProducer<Ctx> = config(bootstrap, codec)
        .create_with_context(Ctx(slots.clone()))
        .expect("producer");
    // Warm up metadata and the connection (the callback ignores index MAX).
    p.send(BaseRecord::<(), [u8], usize>::with_opaque_to(topic, usize::MAX).payload(&VALUE))
        .map_err(|(e, _)| e)
        .expect("send");
    p.flush(Duration::from_secs(30)).expect("flush");
    let start = Instant::now();
    for i in 0..n {
        if let Some(wait) = due(start, i as u64, rate) {
            std::thread::sleep(wait);
        }
        if let Some(s) = slots.sent.get(i) {
            s.store(slots.now(), Ordering::Relaxed);
        }
        let mut record = BaseRecord::<(), [u8], usize>::with_opaque_to(topic, i).payload(&VALUE);
        loop {
            match p.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                    record = r;
                    p.poll(Duration::from_millis(1));
                }
                Err((e, _)) => panic!("send: {e}"),
            }
        }
        // Serve delivery callbacks as librdkafka asks (poll after produce).
        if i % 64 == 0 {
            p.poll(Duration::ZERO);
        }
    }
    p.flush(Duration::from_secs(60)).expect("flush");
    let elapsed = start.elapsed();
    assert_eq!(slots.failed.load(Ordering::Relaxed), 0, "records failed");
    let lat = slots
        .latency
        .iter()
        .map(|a| a.load(Ordering::Relaxed))
        .collect();
    (lat, elapsed)
}

async fn run_future(
    bootstrap: &str,
    codec: &str,
    topic: &str,
    n: usize,
    rate: u64,
) -> (Vec<u64>, Duration) {
    let p: FutureProducer = config(bootstrap, codec).create().expect("producer");
    // Warm up metadata and the connection.
    p.send_result(FutureRecord::<(), [u8]>::to(topic).payload(&VALUE))
        .map_err(|(e, _)| e)
        .expect("send")
        .await
        .expect("not cancelled")
        .expect("delivered");
    let mut lat = Vec::with_capacity(n);
    let mut window: VecDeque<(Instant, DeliveryFuture)> = VecDeque::with_capacity(WINDOW);
    let start = Instant::now();
    for i in 0..n {
        if let Some(wait) = due(start, i as u64, rate) {
            tokio::time::sleep(wait).await;
        }
        let sent = Instant::now();
        let mut record = FutureRecord::<(), [u8]>::to(topic).payload(&VALUE);
        let d = loop {
            match p.send_result(record) {
                Ok(d) => break d,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                    record = r;
                    match window.pop_front() {
                        Some((sent, d)) => {
                            d.await.expect("not cancelled").expect("delivered");
                            lat.push(sent.elapsed().as_nanos() as u64);
                        }
                        None => tokio::time::sleep(Duration::from_millis(1)).await,
                    }
                }
                Err((e, _)) => panic!("send: {e}"),
            }
        };
        window.push_back((sent, d));
        while let Some((sent, d)) = window.front_mut() {
            match futures_now(d) {
                Some(r) => {
                    r.expect("not cancelled").expect("delivered");
                    lat.push(sent.elapsed().as_nanos() as u64);
                    window.pop_front();
                }
                None => break,
            }
        }
        if window.len() >= WINDOW {
            if let Some((sent, d)) = window.pop_front() {
                d.await.expect("not cancelled").expect("delivered");
                lat.push(sent.elapsed().as_nanos() as u64);
            }
        }
    }
    for (sent, d) in window {
        d.await.expect("not cancelled").expect("delivered");
        lat.push(sent.elapsed().as_nanos() as u64);
    }
    p.flush(Duration::from_secs(60)).expect("flush");
    (lat, start.elapsed())
}

/// Polls a future once with a no-op waker.
fn futures_now<F: std::future::Future + Unpin>(f: &mut F) -> Option<F::Output> {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match std::pin::Pin::new(f).poll(&mut cx) {
        std::task::Poll::Ready(v) => Some(v),
        std::task::Poll::Pending => None,
    }
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
            eprintln!("usage: rdkafka-bench future|base none|lz4 RECORDS [RATE]");
            std::process::exit(2);
        }
    };
    let bootstrap = std::env::var("KLAMM_BOOTSTRAP").unwrap_or_else(|_| "127.0.0.1:9092".into());
    let topic = format!(
        "bench-rdkafka-{style}-{codec}-{rate}-{}",
        std::process::id()
    );
    {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &bootstrap);
        let admin: AdminClient<DefaultClientContext> = c.create()?;
        for r in admin
            .create_topics(
                &[NewTopic::new(&topic, 6, TopicReplication::Fixed(1))],
                &AdminOptions::new(),
            )
            .await?
        {
            r.map_err(|(t, e)| format!("create {t}: {e}"))?;
        }
    }
    let (mut lat, elapsed) = match style.as_str() {
        "base" => {
            let (b, c, t) = (bootstrap.clone(), codec.clone(), topic.clone());
            tokio::task::spawn_blocking(move || run_base(&b, &c, &t, n, rate)).await?
        }
        "future" => run_future(&bootstrap, &codec, &topic, n, rate).await,
        other => return Err(format!("unknown style {other}").into()),
    };
    let (cpu, rss) = process_usage();
    lat.sort_unstable();
    println!(
        "RESULT client=rdkafka style={style} codec={codec} rate={rate} records={n} \
         records_per_s={:.0} cpu_s_per_m={:.2} peak_rss_mib={:.0} p50_ms={:.2} p99_ms={:.2}",
        n as f64 / elapsed.as_secs_f64(),
        cpu.as_secs_f64() * 1e6 / n as f64,
        rss,
        percentile_ms(&lat, 0.50),
        percentile_ms(&lat, 0.99),
    );
    Ok(())
}
