//! `klamm demo`: create a topic, produce records with awaited delivery
//! reports, consume them back in a new consumer group, and verify each
//! arrived once, intact.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use klamm::admin::{Admin, NewTopic, TopicRef};
use klamm::consumer::{Consumer, ConsumerConfig, Message};
use klamm::producer::{ProduceError, Producer, ProducerConfig, ProducerRecord};
use klamm::protocol::records::Header;
use serde_json::json;
use std::sync::Mutex;

use super::consume::consumer_defaults;
use super::{Ctx, connect, print_json};
use crate::args::DemoArgs;
use crate::error::{CliError, CliResult};

/// How long the consume phase may go without a new record.
const STALL: Duration = Duration::from_secs(30);

/// The record numbered `i`: key, value and headers, all derived from `i`.
struct Expected {
    padding: Vec<u8>,
}

impl Expected {
    fn key(i: u64, buf: &mut Vec<u8>) {
        buf.clear();
        buf.extend_from_slice(format!("key-{i:09}").as_bytes());
    }

    fn value(&self, i: u64, buf: &mut Vec<u8>) {
        buf.clear();
        buf.extend_from_slice(format!("value-{i:09}-").as_bytes());
        buf.extend_from_slice(&self.padding);
    }

    fn headers(i: u64) -> [Header; 2] {
        [
            Header::new(&b"seq"[..], Some(i.to_string().into_bytes())),
            Header::new(&b"source"[..], Some(&b"klamm-demo"[..])),
        ]
    }

    /// Which record `m` claims to be, and whether all of it is as produced.
    fn check(&self, m: &Message, buf: &mut Vec<u8>) -> Result<u64, String> {
        let key = m.key().ok_or("a record without a key")?;
        let i: u64 = std::str::from_utf8(key)
            .ok()
            .and_then(|k| k.strip_prefix("key-"))
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| format!("unexpected key {:?}", String::from_utf8_lossy(key)))?;
        self.value(i, buf);
        if m.value() != Some(&buf[..]) {
            return Err(format!("record {i} has the wrong value"));
        }
        let headers: Vec<(Vec<u8>, Option<Vec<u8>>)> = m
            .headers()
            .map(|h| (h.key.to_vec(), h.value.map(<[u8]>::to_vec)))
            .collect();
        let want: Vec<(Vec<u8>, Option<Vec<u8>>)> = Self::headers(i)
            .iter()
            .map(|h| (h.key.to_vec(), h.value.as_ref().map(|v| v.to_vec())))
            .collect();
        if headers != want {
            return Err(format!("record {i} has the wrong headers"));
        }
        Ok(i)
    }
}

/// How long the demo reads on after the last expected record, to reach the
/// end of every partition.
const DRAIN: Duration = Duration::from_secs(10);

/// Which records came back, and how many came back again.
struct Tally {
    seen: Vec<bool>,
    received: u64,
    duplicates: u64,
}

impl Tally {
    /// Checks one consumed record against what was produced and counts it.
    fn take(
        &mut self,
        m: &Message,
        expected: &Expected,
        buf: &mut Vec<u8>,
        topic: &str,
    ) -> CliResult {
        let i = expected.check(m, buf).map_err(|why| {
            CliError::failed(
                format!("verifying {topic}/{} offset {}", m.partition(), m.offset()),
                why,
            )
        })?;
        match self.seen.get_mut(usize::try_from(i).unwrap_or(usize::MAX)) {
            Some(slot) if !*slot => {
                *slot = true;
                self.received += 1;
            }
            Some(_) => self.duplicates += 1,
            None => {
                return Err(CliError::failed(
                    format!("verifying {topic}"),
                    format!("record {i} was never produced"),
                ));
            }
        }
        Ok(())
    }
}

/// Progress on stderr, only when it is a terminal.
struct Progress {
    on: bool,
    last: Instant,
}

impl Progress {
    fn new() -> Self {
        Self {
            on: std::io::stderr().is_terminal(),
            last: Instant::now(),
        }
    }

    fn show(&mut self, what: &str, done: u64, total: u64) {
        if self.on && (self.last.elapsed() >= Duration::from_millis(100) || done == total) {
            self.last = Instant::now();
            let width = 30u64;
            let filled = (done * width).checked_div(total).unwrap_or(width);
            eprint!(
                "\r{what:<9} [{}{}] {done}/{total}",
                "#".repeat(filled as usize),
                "-".repeat((width - filled) as usize)
            );
            if done == total {
                eprintln!();
            }
        }
    }
}

pub(crate) async fn run(ctx: &mut Ctx, args: DemoArgs) -> CliResult<ExitCode> {
    if args.count == 0 {
        return Err(CliError::usage(
            "bad --count",
            "the demo needs at least one record",
        ));
    }
    for (k, v) in [("linger.ms", "5")] {
        if ctx.props.take(k).map(|old| ctx.props.set(k, old)).is_none() {
            ctx.props.set(k, v);
        }
    }
    consumer_defaults(ctx);
    let stamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let group = args
        .group
        .clone()
        .unwrap_or_else(|| format!("klamm-demo-{stamp}"));
    // A new group has no committed offsets: it starts at the beginning, and
    // commits what it read when it leaves (kept with --keep).
    ctx.props.set("group.id", group.as_str());
    ctx.props.set("auto.offset.reset", "earliest");
    ctx.props.set("enable.auto.commit", "true");
    let client_config = ctx.client_config()?;
    let producer_config = ProducerConfig::from_properties(&mut ctx.props)
        .map_err(|e| CliError::client("bad producer configuration", e))?;
    let consumer_config = ConsumerConfig::from_properties(&mut ctx.props)
        .map_err(|e| CliError::client("bad consumer configuration", e))?;
    ctx.finish()?;

    let client = connect(client_config).await?;
    let admin = Admin::new(client.clone()).with_timeout(Duration::from_secs(30));
    let topic = args
        .topic
        .clone()
        .unwrap_or_else(|| format!("klamm-demo-{stamp}"));
    let created = admin
        .create_topics(&[NewTopic::new(topic.as_str(), args.partitions, 1)], false)
        .await;
    match created.get(topic.as_str()) {
        Some(Ok(_)) => {}
        Some(Err(e)) => {
            return Err(
                CliError::client(format!("creating topic {topic}"), e.clone())
                    .hint("--topic NAME with a new name"),
            );
        }
        None => {
            return Err(CliError::failed(
                format!("creating topic {topic}"),
                "no answer for it",
            ));
        }
    }
    if !ctx.json {
        crate::output::out!("created topic {topic} ({} partitions)", args.partitions);
    }

    let expected = Expected {
        padding: vec![b'x'; args.value_size],
    };
    let outcome = produce_and_verify(
        &client,
        &topic,
        &group,
        &args,
        &expected,
        producer_config,
        consumer_config,
        ctx.json,
    )
    .await;
    if !args.keep {
        // Best effort: the verdict is already made.
        let _ = admin.delete_groups(&[group.as_str()]).await;
        let _ = admin.delete_topics(&[TopicRef::from(topic.as_str())]).await;
    }
    outcome.map(|()| ExitCode::SUCCESS)
}

#[allow(clippy::too_many_arguments)]
async fn produce_and_verify(
    client: &klamm::Client,
    topic: &str,
    group: &str,
    args: &DemoArgs,
    expected: &Expected,
    producer_config: ProducerConfig,
    consumer_config: ConsumerConfig,
    json: bool,
) -> CliResult {
    let count = args.count;
    // Produce, every record with a delivery callback.
    let producer = Producer::new(client.clone(), producer_config);
    let delivered = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let first_failure: Arc<Mutex<Option<(u64, ProduceError)>>> = Arc::new(Mutex::new(None));
    let mut progress = Progress::new();
    let started = Instant::now();
    let (mut key, mut value) = (Vec::new(), Vec::new());
    for i in 0..count {
        Expected::key(i, &mut key);
        expected.value(i, &mut value);
        let headers = Expected::headers(i);
        let record = ProducerRecord::new(topic)
            .key(&key)
            .value(&value)
            .headers(&headers);
        let (done, bad, first) = (delivered.clone(), failed.clone(), first_failure.clone());
        producer
            .send_with_callback(record, move |r| match r {
                Ok(_) => {
                    done.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => {
                    bad.fetch_add(1, Ordering::Relaxed);
                    if let Ok(mut slot) = first.lock() {
                        slot.get_or_insert((i, e));
                    }
                }
            })
            .await
            .map_err(|e| CliError::failed(format!("producing record {i} to {topic}"), e))?;
        progress.show("produced", delivered.load(Ordering::Relaxed), count);
    }
    producer.flush().await;
    producer.close(Duration::from_secs(30)).await;
    let produce_time = started.elapsed();
    let ok = delivered.load(Ordering::Relaxed);
    progress.show("produced", ok, count);
    let bad = failed.load(Ordering::Relaxed);
    if bad > 0 || ok != count {
        let first = first_failure
            .lock()
            .ok()
            .and_then(|mut slot| slot.take())
            .map(|(i, e)| format!("; first: record {i}: {e}"))
            .unwrap_or_default();
        return Err(CliError::failed(
            format!("producing to {topic}"),
            format!("{bad} of {count} records were not delivered{first}"),
        ));
    }

    // Consume everything back as the only member of a new group.
    let started = Instant::now();
    let mut consumer = Consumer::with_client(client.clone(), consumer_config);
    consumer
        .subscribe([topic.to_owned()])
        .await
        .map_err(|e| CliError::client(format!("joining group {group}"), e))?;
    let mut tally = Tally {
        seen: vec![false; usize::try_from(count).unwrap_or(usize::MAX)],
        received: 0,
        duplicates: 0,
    };
    let mut buf = Vec::new();
    let mut first_record: Option<Duration> = None;
    let mut last_progress = Instant::now();
    while tally.received < count {
        let batch = consumer
            .recv_batch(10_000, Duration::from_millis(200))
            .await
            .map_err(|e| CliError::client(format!("consuming {topic}"), e))?;
        if batch.is_empty() && last_progress.elapsed() > STALL {
            return Err(CliError::failed(
                format!("verifying {topic}"),
                format!(
                    "only {} of {count} records came back to group {group}; nothing new for {STALL:?}",
                    tally.received
                ),
            ));
        }
        if !batch.is_empty() && first_record.is_none() {
            first_record = Some(started.elapsed());
        }
        for m in &batch {
            tally.take(m, expected, &mut buf, topic)?;
        }
        if !batch.is_empty() {
            last_progress = Instant::now();
        }
        progress.show("consumed", tally.received, count);
    }
    let consume_time = started.elapsed();
    // Every record arrived; read on to the end of each partition so that a
    // copy written after them (a duplicate in the log) is counted too.
    let drain_until = Instant::now() + DRAIN;
    loop {
        let assigned = consumer.assignment();
        if !assigned.is_empty() && assigned.iter().all(|tp| consumer.lag(tp) == Some(0)) {
            break;
        }
        if Instant::now() >= drain_until {
            return Err(CliError::failed(
                format!("verifying {topic}"),
                format!(
                    "could not read to the end of every partition within {DRAIN:?} after the last record"
                ),
            ));
        }
        let batch = consumer
            .recv_batch(10_000, Duration::from_millis(100))
            .await
            .map_err(|e| CliError::client(format!("consuming {topic}"), e))?;
        for m in &batch {
            tally.take(m, expected, &mut buf, topic)?;
        }
    }
    let duplicates = tally.duplicates;
    // Leaving commits the group's offsets; a failure there does not undo
    // the verification, so it is only logged.
    if let Err(e) = consumer.close().await {
        tracing::warn!("closing the demo consumer: {e}");
    }
    let first_record = first_record.unwrap_or(consume_time);
    if duplicates > 0 {
        return Err(CliError::failed(
            format!("verifying {topic}"),
            format!("{duplicates} records came back more than once"),
        ));
    }
    let rate = |d: Duration| count as f64 / d.as_secs_f64().max(1e-9);
    let bytes = count * (key.len() + value.len()) as u64;
    if json {
        print_json(&json!({
            "topic": topic,
            "records": count,
            "verified": true,
            "produce_seconds": produce_time.as_secs_f64(),
            "produce_records_per_second": rate(produce_time),
            "group": group,
            "consume_seconds": consume_time.as_secs_f64(),
            "consume_first_record_seconds": first_record.as_secs_f64(),
            "consume_records_per_second": rate(consume_time),
            "payload_bytes": bytes,
        }));
    } else {
        crate::output::out!(
            "produced {count} records in {:.2} s ({:.0} records/s, awaited delivery reports)",
            produce_time.as_secs_f64(),
            rate(produce_time)
        );
        crate::output::out!(
            "consumed {count} records in group {group} in {:.2} s ({:.0} records/s; joined and got the first record after {:.2} s)",
            consume_time.as_secs_f64(),
            rate(consume_time),
            first_record.as_secs_f64()
        );
        crate::output::out!(
            "verified: every record arrived exactly once with its key, value and headers"
        );
    }
    Ok(())
}
