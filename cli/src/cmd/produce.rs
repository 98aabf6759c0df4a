//! `klamm produce TOPIC`: records from stdin or `--value`, awaited delivery.

use std::time::Duration;

use klamm::producer::{ProduceError, Producer, ProducerConfig, ProducerRecord, RecordMetadata};
use klamm::protocol::records::Header;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::mpsc;

use super::{Ctx, connect, print_json};
use crate::args::ProduceArgs;
use crate::error::{CliError, CliResult};
use crate::format::unescape;

/// How many failures are named in the final error.
const NAMED_FAILURES: usize = 3;

/// One record's outcome, numbered from 1 in input order.
type Report = (u64, Result<RecordMetadata, ProduceError>);

pub(crate) async fn run(ctx: &mut Ctx, args: ProduceArgs) -> CliResult {
    if let Some(codec) = args.compression {
        ctx.props.set("compression.type", codec.property());
    }
    if let Some(acks) = args.acks {
        ctx.props.set("acks", acks.property());
    }
    if args.no_idempotence {
        ctx.props.set("enable.idempotence", "false");
    }
    let client_config = ctx.client_config()?;
    let config = ProducerConfig::from_properties(&mut ctx.props)
        .map_err(|e| CliError::client("bad producer configuration", e))?;
    ctx.finish()?;
    let delimiter = match &args.delimiter {
        None => b'\n',
        Some(d) => match unescape(d).as_bytes() {
            [b] => *b,
            _ => {
                return Err(CliError::usage(
                    format!("bad -D {d:?}"),
                    "the record delimiter must be one byte",
                )
                .hint("-D '\\n', -D '|' or -D '\\0'"));
            }
        },
    };
    let key_delimiter = args.key_delimiter.as_deref().map(unescape);
    if key_delimiter.as_deref() == Some("") {
        return Err(CliError::usage("bad -K", "the key delimiter is empty"));
    }
    let headers: Vec<Header> = args
        .headers
        .iter()
        .map(|(k, v)| Header::new(k.clone().into_bytes(), Some(v.clone().into_bytes())))
        .collect();

    let client = connect(client_config).await?;
    // Check the topic (and partition) first: the producer would wait
    // max.block.ms for a topic that does not exist.
    let admin = klamm::admin::Admin::new(client.clone()).with_timeout(Duration::from_secs(30));
    let only: Vec<i32> = args.partition.into_iter().collect();
    super::consume::partitions_of(&admin, std::slice::from_ref(&args.topic), &only).await?;
    let producer = Producer::new(client, config);
    let (tx, mut rx) = mpsc::unbounded_channel::<Report>();
    let json = ctx.json;
    let report = args.report;
    // Collects outcomes as they arrive, printing reports if asked.
    let collector = tokio::spawn(async move {
        let mut delivered = 0u64;
        let mut failed: Vec<(u64, ProduceError)> = Vec::new();
        let mut failed_count = 0u64;
        while let Some((n, outcome)) = rx.recv().await {
            match outcome {
                Ok(meta) => {
                    delivered += 1;
                    if report {
                        if json {
                            print_json(&json!({
                                "record": n, "partition": meta.partition,
                                "offset": meta.offset, "timestamp": meta.timestamp,
                            }));
                        } else {
                            crate::output::out!(
                                "record {n}: delivered to partition {} offset {}",
                                meta.partition,
                                meta.offset
                            );
                        }
                    }
                }
                Err(e) => {
                    failed_count += 1;
                    if report {
                        if json {
                            print_json(&json!({ "record": n, "error": e.to_string() }));
                        } else {
                            crate::output::out!("record {n}: failed: {e}");
                        }
                    }
                    if failed.len() < NAMED_FAILURES {
                        failed.push((n, e));
                    }
                }
            }
        }
        (delivered, failed_count, failed)
    });

    let topic = args.topic.as_str();
    let mut sent = 0u64;
    let target = Target {
        producer: &producer,
        topic,
        headers: &headers,
        partition: args.partition,
        tx: &tx,
    };
    let fixed_key = args.key.as_deref().map(str::as_bytes);
    if let Some(value) = &args.value {
        sent += 1;
        target.send(fixed_key, value.as_bytes(), sent).await?;
    } else {
        let mut input = BufReader::new(tokio::io::stdin());
        let mut line = Vec::new();
        loop {
            line.clear();
            let read = input
                .read_until(delimiter, &mut line)
                .await
                .map_err(|e| CliError::failed("reading stdin", e))?;
            if read == 0 {
                break;
            }
            if line.last() == Some(&delimiter) {
                line.pop();
            }
            if delimiter == b'\n' && line.last() == Some(&b'\r') {
                line.pop();
            }
            sent += 1;
            let (key, value) = match &key_delimiter {
                Some(d) => match find(&line, d.as_bytes()) {
                    Some(i) => (Some(&line[..i]), &line[i + d.len()..]),
                    None => (None, &line[..]),
                },
                None => (fixed_key, &line[..]),
            };
            target.send(key, value, sent).await?;
        }
    }
    drop(tx);
    producer.flush().await;
    producer.close(Duration::from_secs(30)).await;
    drop(producer);
    let (delivered, failed_count, failed) = collector
        .await
        .map_err(|e| CliError::failed("collecting delivery reports", e))?;
    if !report && !json && sent > 0 && failed_count == 0 {
        eprintln!("produced {delivered} records to {topic}");
    }
    if failed_count > 0 {
        let named: Vec<String> = failed
            .iter()
            .map(|(n, e)| format!("record {n}: {e}"))
            .collect();
        return Err(CliError::failed(
            format!("producing to {topic}"),
            format!(
                "{failed_count} of {sent} records were not delivered; {}",
                named.join("; ")
            ),
        ));
    }
    Ok(())
}

/// Where records go and how their outcomes come back.
struct Target<'a> {
    producer: &'a Producer,
    topic: &'a str,
    headers: &'a [Header],
    partition: Option<i32>,
    tx: &'a mpsc::UnboundedSender<Report>,
}

impl Target<'_> {
    /// Enqueues record `n`; its outcome reaches the collector.
    async fn send(&self, key: Option<&[u8]>, value: &[u8], n: u64) -> CliResult {
        let mut record = ProducerRecord::new(self.topic)
            .value(value)
            .headers(self.headers);
        if let Some(k) = key {
            record = record.key(k);
        }
        if let Some(p) = self.partition {
            record = record.partition(p);
        }
        let tx = self.tx.clone();
        self.producer
            .send_with_callback(record, move |outcome| {
                let _ = tx.send((n, outcome));
            })
            .await
            .map_err(|e| {
                CliError::failed(format!("producing record {n} to {}", self.topic), e)
                    .hint("klamm topics describe shows the topic's partitions")
            })
    }
}

/// The first position of `needle` in `hay`.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::find;

    #[test]
    fn finds_multi_byte_delimiters() {
        assert_eq!(find(b"k::v", b"::"), Some(1));
        assert_eq!(find(b"kv", b":"), None);
        assert_eq!(find(b":v", b":"), Some(0));
    }
}
