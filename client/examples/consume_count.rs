//! Consumes N records from every partition of a topic (from the beginning,
//! manual assignment) and prints records/s; used to compare with librdkafka.
//!
//! ```sh
//! PY=.klamm/venv/bin/python   # scripts/peer-venv.sh
//! $PY tests/peer/bench_produce.py $KLAMM_BOOTSTRAP bench1m 1000000
//! cargo build --release -p klamm --example consume_count
//! /usr/bin/time -v target/release/examples/consume_count bench1m 4 1000000
//! /usr/bin/time -v $PY tests/peer/bench_consume.py $KLAMM_BOOTSTRAP bench1m 4 1000000
//! ```

use std::time::{Duration, Instant};

use klamm::consumer::{Consumer, StartOffset};
use klamm::group::TopicPartition;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), klamm::Error> {
    let args: Vec<String> = std::env::args().collect();
    let (topic, partitions, n) = match args.as_slice() {
        [_, t, p, n] => (
            t.clone(),
            p.parse::<i32>().unwrap_or(1),
            n.parse::<usize>().unwrap_or(1),
        ),
        _ => {
            eprintln!("usage: consume_count TOPIC PARTITIONS N");
            std::process::exit(2);
        }
    };
    let bootstrap = std::env::var("KLAMM_BOOTSTRAP").unwrap_or_else(|_| "127.0.0.1:9092".into());
    let mut consumer = Consumer::from_pairs([
        ("bootstrap.servers", bootstrap.as_str()),
        ("fetch.max.wait.ms", "10"),
        ("enable.auto.commit", "false"),
    ])
    .await?;
    consumer
        .assign((0..partitions).map(|p| {
            (
                TopicPartition::new(topic.as_str(), p),
                StartOffset::Beginning,
            )
        }))
        .await?;
    let start = Instant::now();
    let (mut count, mut bytes) = (0usize, 0usize);
    while count < n {
        let batch = consumer.recv_batch(500, Duration::from_secs(10)).await?;
        if batch.is_empty() {
            eprintln!("stalled after {count} records");
            break;
        }
        for m in &batch {
            bytes += m.value().map_or(0, <[u8]>::len);
        }
        count += batch.len();
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "klamm: {count} records, {bytes} value bytes in {secs:.2} s = {:.0} records/s",
        count as f64 / secs
    );
    consumer.close().await
}
