//! Round trips per second and latency for small requests over ONE pipelined
//! connection against a real broker, next to librdkafka in the same run.
//!
//! ```sh
//! scripts/broker.sh run -- cargo bench -p klamm --bench roundtrip
//! # or against any broker:
//! KLAMM_BOOTSTRAP=127.0.0.1:9092 cargo bench -p klamm --bench roundtrip
//! ```
//!
//! Workloads: Metadata for one topic and ApiVersions, each sent (a) one at a
//! time, (b) with 64 requests in flight on the same connection; then the same
//! Metadata workload against klamm's in-process mock broker, to show what the
//! client side sustains when the broker is not the bottleneck. librdkafka is
//! driven through the confluent-kafka wheel (`list_topics(topic)` in a loop,
//! one at a time: its API has no way to pipeline metadata requests) when
//! `KLAMM_PEER_PYTHON` (or the peer venv, `scripts/peer-venv.sh`) is available.

use std::process::Command;
use std::time::{Duration, Instant};

use klamm::protocol::generated::create_topics::request::CreatableTopic;
use klamm::protocol::generated::metadata::request::MetadataRequestTopic;
use klamm::protocol::generated::{ApiVersionsRequest, CreateTopicsRequest, MetadataRequest};
use klamm::protocol::{Request, StrBytes};
use klamm::{Client, ClientConfig, ConnKind, Connection};

const TOPIC: &str = "klamm-bench-roundtrip";
const SEQUENTIAL: usize = 3_000;
const PIPELINED: usize = 30_000;
const IN_FLIGHT: usize = 64;

struct Stats {
    label: String,
    requests: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Stats {
    fn print(&mut self) {
        self.latencies.sort_unstable();
        let pct = |p: f64| {
            let i = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
            self.latencies[i].as_secs_f64() * 1e6
        };
        println!(
            "| {:<44} | {:>9.0} | {:>8.0} | {:>8.0} |",
            self.label,
            self.requests as f64 / self.elapsed.as_secs_f64(),
            pct(0.50),
            pct(0.99)
        );
    }
}

async fn sequential<R>(conn: &Connection, request: &R, label: &str) -> Stats
where
    R: Request,
{
    let mut latencies = Vec::with_capacity(SEQUENTIAL);
    let start = Instant::now();
    for _ in 0..SEQUENTIAL {
        let t = Instant::now();
        conn.send(request).await.expect("request");
        latencies.push(t.elapsed());
    }
    Stats {
        label: label.into(),
        requests: SEQUENTIAL,
        elapsed: start.elapsed(),
        latencies,
    }
}

async fn pipelined<R>(conn: &Connection, request: &R, label: &str) -> Stats
where
    R: Request + Clone + Send + Sync + 'static,
{
    let per_task = PIPELINED / IN_FLIGHT;
    let start = Instant::now();
    let tasks: Vec<_> = (0..IN_FLIGHT)
        .map(|_| {
            let conn = conn.clone();
            let request = request.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(per_task);
                for _ in 0..per_task {
                    let t = Instant::now();
                    conn.send(&request).await.expect("request");
                    latencies.push(t.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(PIPELINED);
    for t in tasks {
        latencies.extend(t.await.expect("task"));
    }
    Stats {
        label: label.into(),
        requests: per_task * IN_FLIGHT,
        elapsed: start.elapsed(),
        latencies,
    }
}

/// librdkafka's metadata round trip for one topic, via confluent-kafka.
fn librdkafka(bootstrap: &str) -> Option<Stats> {
    let python = std::env::var("KLAMM_PEER_PYTHON").ok().or_else(|| {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
        let out = Command::new(format!("{root}/scripts/peer-venv.sh"))
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    })?;
    let script = format!(
        r#"
import time, sys
from confluent_kafka.admin import AdminClient
a = AdminClient({{"bootstrap.servers": "{bootstrap}"}})
a.list_topics("{TOPIC}", timeout=10)
lat = []
start = time.perf_counter()
for _ in range({SEQUENTIAL}):
    t = time.perf_counter()
    a.list_topics("{TOPIC}", timeout=10)
    lat.append(time.perf_counter() - t)
total = time.perf_counter() - start
print(total)
for l in lat: print(l)
"#
    );
    let out = Command::new(python).arg("-c").arg(script).output().ok()?;
    if !out.status.success() {
        eprintln!(
            "librdkafka run failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut numbers = text.lines().filter_map(|l| l.trim().parse::<f64>().ok());
    let total = numbers.next()?;
    let latencies: Vec<Duration> = numbers.map(Duration::from_secs_f64).collect();
    Some(Stats {
        label: "librdkafka list_topics(topic), one at a time".into(),
        requests: latencies.len(),
        elapsed: Duration::from_secs_f64(total),
        latencies,
    })
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // `cargo bench` passes `--bench`; nothing to parse.
    let Ok(bootstrap) = std::env::var("KLAMM_BOOTSTRAP") else {
        eprintln!(
            "set KLAMM_BOOTSTRAP (or run through scripts/broker.sh run -- cargo bench -p klamm --bench roundtrip)"
        );
        return;
    };
    let config = ClientConfig::builder()
        .bootstrap(bootstrap.split(','))
        .pipeline_limit(IN_FLIGHT)
        .build()
        .expect("config");
    let client = Client::connect(config).await.expect("connect");
    let create = CreateTopicsRequest::default().with_topics(vec![
        CreatableTopic::default()
            .with_name(StrBytes::from_static(TOPIC))
            .with_num_partitions(1)
            .with_replication_factor(1),
    ]);
    client.send(&create).await.expect("create topic");
    let id = *client.metadata().brokers.keys().next().expect("a broker");
    let conn = client
        .connection(id, ConnKind::Other)
        .await
        .expect("connection");
    let metadata = MetadataRequest::default()
        .with_topics(Some(vec![
            MetadataRequestTopic::default().with_name(Some(StrBytes::from_static(TOPIC))),
        ]))
        .with_allow_auto_topic_creation(false);
    let versions = ApiVersionsRequest::default();
    let metadata_version = conn.version_for::<MetadataRequest>().expect("version");

    // Warm up the connection and the broker.
    for _ in 0..200 {
        conn.send(&metadata).await.expect("warm-up");
    }

    println!(
        "broker {bootstrap}, Metadata v{metadata_version}, {IN_FLIGHT} in flight when pipelined\n"
    );
    println!(
        "| {:<44} | {:>9} | {:>8} | {:>8} |",
        "workload", "req/s", "p50 µs", "p99 µs"
    );
    println!("|{:-<46}|{:->11}|{:->10}|{:->10}|", "", "", "", "");
    sequential(&conn, &metadata, "klamm Metadata(1 topic), one at a time")
        .await
        .print();
    pipelined(&conn, &metadata, "klamm Metadata(1 topic), pipelined")
        .await
        .print();
    sequential(&conn, &versions, "klamm ApiVersions, one at a time")
        .await
        .print();
    pipelined(&conn, &versions, "klamm ApiVersions, pipelined")
        .await
        .print();
    match librdkafka(&bootstrap) {
        Some(mut stats) => stats.print(),
        None => println!(
            "| librdkafka: peer venv not available          |         - |        - |        - |"
        ),
    }

    // The same client against the in-process mock broker: what the client
    // side sustains when the broker is not the bottleneck.
    let cluster = klamm::mock::MockCluster::start(1).await.expect("mock");
    cluster.create_topic(TOPIC, 1);
    let mock = Client::connect(
        ClientConfig::builder()
            .bootstrap([cluster.bootstrap()])
            .pipeline_limit(IN_FLIGHT)
            .build()
            .expect("config"),
    )
    .await
    .expect("connect to mock");
    let conn = mock
        .connection(1, ConnKind::Other)
        .await
        .expect("mock connection");
    sequential(
        &conn,
        &metadata,
        "klamm → mock broker, Metadata, one at a time",
    )
    .await
    .print();
    pipelined(&conn, &metadata, "klamm → mock broker, Metadata, pipelined")
        .await
        .print();
}
