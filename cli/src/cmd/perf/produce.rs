//! `klamm perf produce`: fixed-size records at full speed or a capped rate,
//! every delivery awaited, send-to-ack latency in a lock-free histogram.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use klamm::admin::Admin;
use klamm::producer::{Acks, Producer, ProducerConfig, ProducerRecord};
use serde_json::json;

use super::report::Report;
use crate::args::PerfProduceArgs;
use crate::cmd::{Ctx, connect};
use crate::cpu::CpuTime;
use crate::error::{CliError, CliResult};
use crate::latency::Histogram;
use crate::progress::Ticker;

/// Shared by the send loop, the delivery callbacks and the status line.
#[derive(Debug, Default)]
struct Stats {
    sent: AtomicU64,
    acked: AtomicU64,
    failed: AtomicU64,
    first_error: OnceLock<String>,
    latency: Histogram,
}

/// The flags, written over -X and --config.
fn apply_flags(ctx: &mut Ctx, args: &PerfProduceArgs) {
    if let Some(acks) = args.acks {
        ctx.props.set("acks", acks.property());
    }
    if let Some(codec) = args.compression {
        ctx.props.set("compression.type", codec.property());
    }
    if let Some(ms) = args.linger_ms {
        ctx.props.set("linger.ms", ms.to_string());
    }
    if let Some(bytes) = args.batch_size {
        ctx.props.set("batch.size", bytes.to_string());
    }
}

/// The settings the producer actually runs with, for the report.
fn config_json(config: &ProducerConfig) -> serde_json::Value {
    json!({
        "acks": match config.acks() {
            Acks::None => "0",
            Acks::Leader => "1",
            Acks::All => "all",
        },
        "compression": config.compression().name(),
        "linger_ms": config.linger().as_millis() as u64,
        "batch_size": config.batch_size(),
        "idempotence": config.idempotence(),
    })
}

pub(super) async fn run(ctx: &mut Ctx, args: PerfProduceArgs) -> CliResult {
    if let Some(rate) = args.throughput {
        if !(rate.is_finite() && rate > 0.0) {
            return Err(CliError::usage(
                "bad --throughput",
                format!("{rate} is not a positive number of records per second"),
            ));
        }
    }
    apply_flags(ctx, &args);
    let client_config = ctx.client_config()?;
    let config = ProducerConfig::from_properties(&mut ctx.props)
        .map_err(|e| CliError::client("bad producer configuration", e))?;
    ctx.finish()?;
    let settings = config_json(&config);
    let client = connect(client_config).await?;
    let admin = Admin::new(client.clone()).with_timeout(Duration::from_secs(30));
    let topic = args.topic;
    crate::cmd::consume::partitions_of(&admin, std::slice::from_ref(&topic), &[]).await?;
    let producer = Producer::new(client, config);

    let stats = Arc::new(Stats::default());
    let count = args.limit.count();
    let deadline = args.limit.duration;
    let value = vec![b'x'; args.size];
    let ticker = {
        let (stats, started) = (stats.clone(), Instant::now());
        Ticker::start(Duration::from_secs(1), move || status(&stats, started))
    };
    let cpu_before = CpuTime::now();
    let started = Instant::now();
    let mut sent = 0u64;
    while sent < count {
        if deadline.is_some_and(|d| started.elapsed() >= d) {
            break;
        }
        if let Some(rate) = args.throughput {
            // Record `sent` is due at start + sent/rate; sleep only when
            // ahead by more than the timer's resolution.
            let offset = Duration::from_secs_f64(sent as f64 / rate);
            // A record due after --duration is not sent: at most rate * duration.
            if deadline.is_some_and(|d| offset >= d) {
                break;
            }
            let due = started + offset;
            if due > Instant::now() + Duration::from_millis(1) {
                tokio::time::sleep_until(due.into()).await;
            }
        }
        let s = stats.clone();
        let sent_at = Instant::now();
        let sending = producer
            .send_with_callback(
                ProducerRecord::new(&topic).value(&value),
                move |r| match r {
                    Ok(_) => {
                        s.latency.record(sent_at.elapsed());
                        s.acked.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => {
                        s.failed.fetch_add(1, Ordering::Relaxed);
                        let _ = s.first_error.set(e.to_string());
                    }
                },
            )
            .await;
        if let Err(e) = sending {
            ticker.stop().await;
            return Err(CliError::failed(
                format!("producing record {sent} to {topic}"),
                e,
            ));
        }
        sent += 1;
        stats.sent.store(sent, Ordering::Relaxed);
    }
    producer.flush().await;
    let elapsed = started.elapsed();
    let cpu = CpuTime::now()
        .zip(cpu_before)
        .map(|(now, then)| now.since(then));
    ticker.stop().await;
    producer.close(Duration::from_secs(30)).await;

    let acked = stats.acked.load(Ordering::Relaxed);
    let failed = stats.failed.load(Ordering::Relaxed);
    Report {
        op: "produce",
        topic: topic.clone(),
        records: acked,
        bytes: acked * args.size as u64,
        failed,
        elapsed,
        latency: stats.latency.summary(),
        cpu,
        config: Some(settings),
    }
    .print(ctx.json);
    if failed > 0 || acked != sent {
        let first = stats
            .first_error
            .get()
            .map(|e| format!("; first error: {e}"))
            .unwrap_or_default();
        return Err(CliError::failed(
            format!("producing to {topic}"),
            format!(
                "{} of {sent} records were not delivered{first}",
                sent - acked
            ),
        ));
    }
    Ok(())
}

/// The live line: progress and the latency so far.
fn status(stats: &Stats, started: Instant) -> String {
    let acked = stats.acked.load(Ordering::Relaxed);
    let secs = started.elapsed().as_secs_f64().max(1e-9);
    let p99 = stats.latency.summary().map_or(String::from("-"), |s| {
        format!("{:.1}", s.p99 as f64 / 1000.0)
    });
    format!(
        "produce: {} sent, {acked} acked, {} failed, {:.0} records/s, p99 {p99} ms",
        stats.sent.load(Ordering::Relaxed),
        stats.failed.load(Ordering::Relaxed),
        acked as f64 / secs
    )
}
