//! `klamm perf consume`: read from the beginning of every partition as fast
//! as the consumer goes.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use klamm::admin::Admin;
use klamm::consumer::{Consumer, ConsumerConfig, StartOffset};

use super::report::Report;
use crate::args::PerfConsumeArgs;
use crate::cmd::consume::{consumer_defaults, partitions_of};
use crate::cmd::{Ctx, connect};
use crate::cpu::CpuTime;
use crate::error::{CliError, CliResult};
use crate::progress::Ticker;

/// How long a --count run may go without a record before it gives up.
const STALL: Duration = Duration::from_secs(30);

pub(super) async fn run(ctx: &mut Ctx, args: PerfConsumeArgs) -> CliResult {
    consumer_defaults(ctx);
    let client_config = ctx.client_config()?;
    let config = ConsumerConfig::from_properties(&mut ctx.props)
        .map_err(|e| CliError::client("bad consumer configuration", e))?;
    ctx.finish()?;
    let client = connect(client_config).await?;
    let admin = Admin::new(client.clone()).with_timeout(Duration::from_secs(30));
    let topic = args.topic;
    let partitions = partitions_of(&admin, std::slice::from_ref(&topic), &[]).await?;
    let mut consumer = Consumer::with_client(client, config);
    consumer
        .assign(
            partitions
                .iter()
                .map(|tp| (tp.clone(), StartOffset::Beginning)),
        )
        .await
        .map_err(|e| CliError::client("assigning partitions", e))?;

    let count = args.limit.count();
    let deadline = args.limit.duration;
    let seen_shared = Arc::new(AtomicU64::new(0));
    let ticker = {
        let (seen, started) = (seen_shared.clone(), Instant::now());
        Ticker::start(Duration::from_secs(1), move || {
            let n = seen.load(Ordering::Relaxed);
            let secs = started.elapsed().as_secs_f64().max(1e-9);
            format!("consume: {n} records, {:.0} records/s", n as f64 / secs)
        })
    };
    let (mut seen, mut bytes) = (0u64, 0u64);
    let cpu_before = CpuTime::now();
    let started = Instant::now();
    let mut last = Instant::now();
    let mut ended = started;
    while seen < count {
        let wait = Duration::from_millis(200);
        let batch = consumer
            .recv_batch(
                usize::try_from(count - seen)
                    .unwrap_or(usize::MAX)
                    .min(10_000),
                wait,
            )
            .await;
        let batch = match batch {
            Ok(b) => b,
            Err(e) => {
                ticker.stop().await;
                return Err(CliError::client(format!("consuming {topic}"), e));
            }
        };
        if deadline.is_some_and(|d| started.elapsed() >= d) {
            break;
        }
        if batch.is_empty() {
            if deadline.is_none() && last.elapsed() > STALL {
                ticker.stop().await;
                return Err(CliError::failed(
                    format!("consuming {topic}"),
                    format!("only {seen} of {count} records after waiting {STALL:?} for more"),
                )
                .hint("--count no larger than the topic holds, or --duration"));
            }
            continue;
        }
        last = Instant::now();
        ended = last;
        for m in &batch {
            seen += 1;
            bytes += m.value().map_or(0, |v| v.len() as u64);
        }
        seen_shared.store(seen, Ordering::Relaxed);
    }
    // With --duration the run lasts until the deadline; with --count, to
    // the last record.
    let elapsed = if deadline.is_some() && seen < count {
        started.elapsed()
    } else {
        ended - started
    };
    let cpu = CpuTime::now()
        .zip(cpu_before)
        .map(|(now, then)| now.since(then));
    ticker.stop().await;
    let _ = consumer.close().await;
    Report {
        op: "consume",
        topic,
        records: seen,
        bytes,
        failed: 0,
        elapsed,
        latency: None,
        cpu,
        config: None,
    }
    .print(ctx.json);
    Ok(())
}
