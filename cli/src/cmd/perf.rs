//! `klamm perf produce|consume`: throughput with the client's defaults (or -X).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use klamm::admin::Admin;
use klamm::consumer::{Consumer, ConsumerConfig, StartOffset};
use klamm::producer::{Producer, ProducerConfig, ProducerRecord};
use serde_json::json;

use super::consume::{consumer_defaults, partitions_of};
use super::{Ctx, connect, print_json};
use crate::args::PerfCommand;
use crate::error::{CliError, CliResult};
use crate::output::out;

/// How long consume may go without a record before it gives up.
const STALL: Duration = Duration::from_secs(30);

fn report(ctx: &Ctx, what: &str, count: u64, bytes: u64, elapsed: Duration) {
    let secs = elapsed.as_secs_f64().max(1e-9);
    if ctx.json {
        print_json(&json!({
            "op": what, "records": count, "bytes": bytes, "seconds": secs,
            "records_per_second": count as f64 / secs,
            "mib_per_second": bytes as f64 / secs / 1048576.0,
        }));
    } else {
        out!(
            "{what}: {count} records, {bytes} bytes in {secs:.2} s: {:.0} records/s, {:.1} MiB/s",
            count as f64 / secs,
            bytes as f64 / secs / 1048576.0
        );
    }
}

pub(crate) async fn run(ctx: &mut Ctx, command: PerfCommand) -> CliResult {
    match command {
        PerfCommand::Produce { topic, count, size } => {
            let client_config = ctx.client_config()?;
            let config = ProducerConfig::from_properties(&mut ctx.props)
                .map_err(|e| CliError::client("bad producer configuration", e))?;
            ctx.finish()?;
            let client = connect(client_config).await?;
            let admin = Admin::new(client.clone()).with_timeout(Duration::from_secs(30));
            partitions_of(&admin, std::slice::from_ref(&topic), &[]).await?;
            let producer = Producer::new(client, config);
            let failed = Arc::new(AtomicU64::new(0));
            let value = vec![b'x'; size];
            let started = Instant::now();
            for i in 0..count {
                let failed = failed.clone();
                producer
                    .send_with_callback(ProducerRecord::new(&topic).value(&value), move |r| {
                        if r.is_err() {
                            failed.fetch_add(1, Ordering::Relaxed);
                        }
                    })
                    .await
                    .map_err(|e| CliError::failed(format!("producing record {i} to {topic}"), e))?;
            }
            producer.flush().await;
            let elapsed = started.elapsed();
            producer.close(Duration::from_secs(30)).await;
            let bad = failed.load(Ordering::Relaxed);
            if bad > 0 {
                return Err(CliError::failed(
                    format!("producing to {topic}"),
                    format!("{bad} of {count} records were not delivered"),
                ));
            }
            report(ctx, "produce", count, count * size as u64, elapsed);
        }
        PerfCommand::Consume { topic, count } => {
            consumer_defaults(ctx);
            let client_config = ctx.client_config()?;
            let config = ConsumerConfig::from_properties(&mut ctx.props)
                .map_err(|e| CliError::client("bad consumer configuration", e))?;
            ctx.finish()?;
            let client = connect(client_config).await?;
            let admin = Admin::new(client.clone()).with_timeout(Duration::from_secs(30));
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
            let (mut seen, mut bytes) = (0u64, 0u64);
            let started = Instant::now();
            let mut last = Instant::now();
            while seen < count {
                let batch = consumer
                    .recv_batch(
                        usize::try_from(count - seen)
                            .unwrap_or(usize::MAX)
                            .min(10_000),
                        Duration::from_millis(200),
                    )
                    .await
                    .map_err(|e| CliError::client(format!("consuming {topic}"), e))?;
                if batch.is_empty() {
                    if last.elapsed() > STALL {
                        return Err(CliError::failed(
                            format!("consuming {topic}"),
                            format!(
                                "only {seen} of {count} records after waiting {STALL:?} for more"
                            ),
                        )
                        .hint("--count no larger than the topic holds"));
                    }
                    continue;
                }
                last = Instant::now();
                for m in &batch {
                    seen += 1;
                    bytes += m.value().map_or(0, |v| v.len() as u64);
                }
            }
            let elapsed = started.elapsed();
            let _ = consumer.close().await;
            report(ctx, "consume", seen, bytes, elapsed);
        }
    }
    Ok(())
}
