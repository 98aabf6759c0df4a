//! `klamm consume TOPIC...`: assignment or group mode, raw / JSON / format
//! output, `-e` to stop at the end.

use std::collections::BTreeMap;
use std::io::{BufWriter, Write};
use std::time::Duration;

use klamm::admin::Admin;
use klamm::consumer::{Consumer, ConsumerConfig, Message, StartOffset};
use klamm::group::{GroupEvent, RevokeReason, TopicPartition};

use super::{Ctx, connect};
use crate::args::{ConsumeArgs, OutputFormat, Start};
use crate::error::{CliError, CliResult};
use crate::format::{Format, message_json};

/// How one message is printed.
enum Output {
    Raw,
    Json,
    Format(Format),
}

impl Output {
    fn write(&self, out: &mut impl Write, m: &Message) -> std::io::Result<()> {
        match self {
            Output::Raw => {
                out.write_all(m.value().unwrap_or_default())?;
                out.write_all(b"\n")
            }
            Output::Json => writeln!(out, "{}", message_json(m)),
            Output::Format(f) => f.write(out, m),
        }
    }
}

/// Consumer defaults that suit a command line (the user's -X wins).
pub(crate) fn consumer_defaults(ctx: &mut Ctx) {
    for (k, v) in [
        // Short waits keep `-e` and small reads snappy.
        ("fetch.max.wait.ms", "100"),
        // A command-line read never commits unless asked to.
        ("enable.auto.commit", "false"),
    ] {
        if ctx.props.take(k).map(|v| ctx.props.set(k, v)).is_none() {
            ctx.props.set(k, v);
        }
    }
}

/// Every partition of `topics` (or only `only`), checked against metadata.
pub(crate) async fn partitions_of(
    admin: &Admin,
    topics: &[String],
    only: &[i32],
) -> CliResult<Vec<TopicPartition>> {
    let names: Vec<&str> = topics.iter().map(String::as_str).collect();
    let described = admin.describe_topics(&names).await;
    let mut out = Vec::new();
    for name in topics {
        let d = match described.get(name.as_str()) {
            Some(Ok(d)) => d,
            Some(Err(e)) => {
                return Err(
                    CliError::client(format!("looking up topic {name}"), e.clone())
                        .hint("klamm topics list shows the topics that exist"),
                );
            }
            None => {
                return Err(CliError::failed(
                    format!("looking up topic {name}"),
                    "the broker did not answer for it",
                ));
            }
        };
        for p in only {
            if !d.partitions.iter().any(|x| x.partition == *p) {
                return Err(CliError::usage(
                    format!("partition {p} of {name}"),
                    format!(
                        "no such partition: the topic has {} partitions",
                        d.partitions.len()
                    ),
                ));
            }
        }
        for p in &d.partitions {
            if only.is_empty() || only.contains(&p.partition) {
                out.push(TopicPartition::new(name.as_str(), p.partition));
            }
        }
    }
    out.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
    Ok(out)
}

pub(crate) async fn run(ctx: &mut Ctx, args: ConsumeArgs) -> CliResult {
    let output = match &args.format {
        Some(f) => Output::Format(
            Format::parse(f).map_err(|e| CliError::usage(format!("bad -f {f:?}"), e))?,
        ),
        None if ctx.json || args.output == OutputFormat::Json => Output::Json,
        None => Output::Raw,
    };
    consumer_defaults(ctx);
    if let Some(group) = &args.group {
        let reset = match args.offset {
            Start::Beginning => "earliest",
            Start::End => "latest",
            Start::At(_) => {
                return Err(CliError::usage(
                    "-o OFFSET with -g",
                    "a group starts at its committed offsets",
                )
                .hint("-o beginning or -o end (used where the group has no committed offset)"));
            }
        };
        if !args.partition.is_empty() {
            return Err(CliError::usage(
                "-p with -g",
                "the group assigns the partitions",
            ));
        }
        ctx.props.set("group.id", group.as_str());
        ctx.props.set("auto.offset.reset", reset);
        // A group member commits what it printed (on close and every 5 s).
        ctx.props.set("enable.auto.commit", "true");
    }
    let client_config = ctx.client_config()?;
    let config = ConsumerConfig::from_properties(&mut ctx.props)
        .map_err(|e| CliError::client("bad consumer configuration", e))?;
    ctx.finish()?;
    let client = connect(client_config).await?;
    let admin = Admin::new(client.clone()).with_timeout(Duration::from_secs(30));
    let partitions = partitions_of(&admin, &args.topics, &args.partition).await?;
    let start = match args.offset {
        Start::Beginning => StartOffset::Beginning,
        Start::End => StartOffset::End,
        Start::At(o) => StartOffset::At(o),
    };
    let mut consumer = Consumer::with_client(client, config);
    if args.group.is_some() {
        consumer
            .subscribe(args.topics.iter().cloned())
            .await
            .map_err(|e| CliError::client("joining the group", e))?;
    } else {
        consumer
            .assign(partitions.iter().map(|tp| (tp.clone(), start)))
            .await
            .map_err(|e| CliError::client("assigning partitions", e))?;
    }

    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut seen = 0u64;
    let mut ends = GroupEnds::default();
    let limit = args.count.unwrap_or(u64::MAX);
    while seen < limit {
        let batch = consumer
            .recv_batch(
                usize::try_from(limit - seen).unwrap_or(usize::MAX),
                Duration::from_millis(200),
            )
            .await
            .map_err(|e| CliError::client("consuming", e))?;
        for m in &batch {
            if let Err(e) = output.write(&mut out, m) {
                return quiet_on_broken_pipe(e);
            }
            seen += 1;
        }
        if let Err(e) = out.flush() {
            return quiet_on_broken_pipe(e);
        }
        if args.exit_at_end {
            let done = if args.group.is_some() {
                ends.reached(&mut consumer)
            } else {
                partitions.iter().all(|tp| consumer.lag(tp) == Some(0))
            };
            if done {
                break;
            }
        }
    }
    drop(out);
    // Closing commits (group mode) and leaves the group.
    consumer
        .close()
        .await
        .map_err(|e| CliError::client("closing the consumer", e))
}

/// `-g -e`: whether this member has read every partition it holds to the
/// end that partition had when it was assigned.
///
/// "The end when assigned" is the high watermark of the first fetch
/// response after the assignment; a partition is done once the position
/// (the next offset to hand out) reaches it. Records produced later may be
/// printed along the way but are not waited for. The member must have
/// joined: nothing counts between a rebalance's revocation and the next
/// assignment. A member assigned nothing (more members than partitions)
/// is done as soon as it joins.
#[derive(Debug, Default)]
struct GroupEnds {
    /// Whether the member holds a settled assignment.
    settled: bool,
    /// Each held partition's end when assigned (`None`: no fetch yet).
    targets: BTreeMap<TopicPartition, Option<i64>>,
}

impl GroupEnds {
    fn reached(&mut self, consumer: &mut klamm::consumer::Consumer) -> bool {
        while let Some(event) = consumer.poll_rebalance_event() {
            self.apply(event);
        }
        if !self.settled {
            return false;
        }
        self.targets.iter_mut().all(|(tp, target)| {
            if target.is_none() {
                *target = consumer.high_watermark(tp).filter(|hw| *hw >= 0);
            }
            match (*target, consumer.high_watermark(tp), consumer.lag(tp)) {
                (Some(target), Some(hw), Some(lag)) => hw - lag >= target,
                _ => false,
            }
        })
    }

    fn apply(&mut self, event: GroupEvent) {
        match event {
            GroupEvent::Assigned { partitions, .. } => {
                self.settled = true;
                for tp in partitions {
                    self.targets.insert(tp, None);
                }
            }
            GroupEvent::Revoked { partitions, reason } => {
                for tp in &partitions {
                    self.targets.remove(tp);
                }
                // Eager rebalance or leaving: the next assignment decides.
                if !matches!(
                    reason,
                    RevokeReason::Reassigned | RevokeReason::Unsubscribed
                ) {
                    self.settled = false;
                }
            }
            GroupEvent::Lost { partitions, .. } => {
                for tp in &partitions {
                    self.targets.remove(tp);
                }
                self.settled = false;
            }
            _ => {}
        }
    }
}

/// A reader that went away (`| head`) ends the command quietly.
fn quiet_on_broken_pipe(e: std::io::Error) -> CliResult {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        Ok(())
    } else {
        Err(CliError::failed("writing to stdout", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use klamm::group::LostReason;

    fn tps(ps: &[i32]) -> Vec<TopicPartition> {
        ps.iter().map(|p| TopicPartition::new("t", *p)).collect()
    }

    #[test]
    fn group_ends_follow_the_assignment() {
        let mut ends = GroupEnds::default();
        assert!(!ends.settled, "not joined yet");
        ends.apply(GroupEvent::Assigned {
            partitions: tps(&[0, 1]),
            generation_id: 1,
        });
        assert!(ends.settled);
        assert_eq!(
            ends.targets.keys().cloned().collect::<Vec<_>>(),
            tps(&[0, 1])
        );
        // An eager rebalance: nothing counts until the next assignment.
        ends.apply(GroupEvent::Revoked {
            partitions: tps(&[0, 1]),
            reason: RevokeReason::Rebalance,
        });
        assert!(!ends.settled && ends.targets.is_empty());
        ends.apply(GroupEvent::Assigned {
            partitions: tps(&[1]),
            generation_id: 2,
        });
        assert!(ends.settled);
        assert_eq!(ends.targets.keys().cloned().collect::<Vec<_>>(), tps(&[1]));
        // A cooperative hand-over keeps the rest settled.
        ends.apply(GroupEvent::Revoked {
            partitions: tps(&[1]),
            reason: RevokeReason::Reassigned,
        });
        assert!(ends.settled && ends.targets.is_empty());
        ends.apply(GroupEvent::Assigned {
            partitions: tps(&[2]),
            generation_id: 3,
        });
        ends.apply(GroupEvent::Lost {
            partitions: tps(&[2]),
            reason: LostReason::SessionTimeout,
        });
        assert!(!ends.settled && ends.targets.is_empty());
        // An empty assignment is settled with nothing to read.
        ends.apply(GroupEvent::Assigned {
            partitions: Vec::new(),
            generation_id: 4,
        });
        assert!(ends.settled && ends.targets.is_empty());
    }
}
