//! One subscription at run time: a consumer in the subscription's group,
//! records handed to the handler one at a time, the failure policy, and
//! commits of what the handler finished.
//!
//! ```text
//! recv ─▶ handler task (panics caught) ─ok──────────────▶ done[tp] = offset + 1
//!   ▲         │ ctx.commit() ─▶ commit done + this record   │ auto: commit every interval
//!   │         └─err─ retriable and retries left? ─ backoff (stop interrupts: not done)
//!   │                 └─ no: Stop ─▶ error, record not committed
//!   │                        DeadLetter ─▶ forward with klamm.error* headers ─▶ done
//! stop ─▶ finish the record in hand ─▶ commit done (auto mode) ─▶ leave the group
//! ```
//!
//! Offsets are committed from `done`, never from the consumer's position:
//! the position moves when a record is handed out, before its handler has
//! finished.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use klamm::consumer::{Consumer, Message};
use klamm::group::{GroupEvent, TopicPartition};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::app::{App, error_chain};
use crate::context::{CommitRequest, Context};
use crate::error::{HandlerError, SubscriptionError};
use crate::handler::{ErasedHandler, Handler, erase};
use crate::policy::{Exhausted, FailurePolicy};
use crate::stream::StreamPattern;

/// A subscription as declared.
#[derive(Clone)]
pub(crate) struct SubscriptionDef {
    pub(crate) pattern: StreamPattern,
    pub(crate) group: String,
    pub(crate) policy: FailurePolicy,
    pub(crate) handler: ErasedHandler,
}

impl fmt::Debug for SubscriptionDef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubscriptionDef")
            .field("pattern", &self.pattern)
            .field("group", &self.group)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl SubscriptionDef {
    pub(crate) fn new<H: Handler<Args>, Args>(
        pattern: &str,
        group: &str,
        policy: FailurePolicy,
        handler: H,
    ) -> Result<Self, String> {
        let pattern = StreamPattern::new(pattern)?;
        if group.is_empty() {
            return Err(format!(
                "subscription `{}` has an empty group",
                pattern.as_str()
            ));
        }
        Ok(Self {
            pattern,
            group: group.to_owned(),
            policy,
            handler: erase(handler),
        })
    }
}

/// How handling one record ended.
enum Outcome {
    /// Handled or dead-lettered: it counts as done.
    Done,
    /// The worker is stopping in the middle of the retries: not done.
    Interrupted,
}

/// How often an idle subscription looks at its group's events.
const EVENTS_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Runs `def` until `stop` turns true (or its sender is dropped) or a
/// record fails for good under a `Stop` policy.
pub(crate) async fn run(
    app: App,
    def: SubscriptionDef,
    mut stop: watch::Receiver<bool>,
) -> Result<(), SubscriptionError> {
    let consumer_error = |source| SubscriptionError::Consumer {
        pattern: def.pattern.as_str().to_owned(),
        group: def.group.clone(),
        source,
    };
    let (client_config, consumer_config) = app
        .config()
        .consumer_config(&def.group)
        .map_err(consumer_error)?;
    let retry_backoff = consumer_config.retry_backoff;
    let mut consumer = Consumer::new(client_config, consumer_config)
        .await
        .map_err(consumer_error)?;
    // The glob (under the topic prefix) as an anchored regex: the consumer
    // re-evaluates it on every metadata refresh (at the latest every
    // `metadata.max.age.ms`), so streams created later join.
    let regex = def.pattern.topic_regex(&app.config().topic_prefix);
    consumer
        .subscribe_pattern(&regex)
        .await
        .map_err(consumer_error)?;

    let auto = app.config().auto_commit;
    let interval = app.config().auto_commit_interval;
    let mut done: BTreeMap<TopicPartition, i64> = BTreeMap::new();
    let mut next_commit: Option<Instant> = None;
    // Wakes the loop while no record arrives, so that group events (a
    // fatal membership error in particular) are seen without one.
    let mut events_tick = tokio::time::interval(EVENTS_EVERY);
    events_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);

    let result = loop {
        if *stop.borrow() {
            break Ok(());
        }
        if let Err(e) = apply_group_events(&mut consumer, &mut done) {
            break Err(consumer_error(e));
        }
        tokio::select! {
            biased;
            changed = stop.changed() => {
                if changed.is_err() {
                    break Ok(());
                }
            }
            () = sleep_until(next_commit) => {
                next_commit = None;
                if let Err(e) = commit(&mut consumer, &done).await {
                    tracing::warn!(group = def.group, error = %e, "auto-commit failed; retried at the next interval");
                    next_commit = Some(Instant::now() + interval);
                }
            }
            _ = events_tick.tick() => {}
            received = consumer.recv() => match received {
                Ok(message) => {
                    match handle(&app, &def, &mut consumer, &mut stop, &mut done, message).await {
                        Ok(Outcome::Done) => {
                            if auto && next_commit.is_none() {
                                next_commit = Some(Instant::now() + interval);
                            }
                        }
                        Ok(Outcome::Interrupted) => break Ok(()),
                        Err(e) => break Err(e),
                    }
                }
                Err(klamm::Error::Closed) => break Err(consumer_error(klamm::Error::Closed)),
                Err(e) => {
                    // A partition's fetch failed (it stops; the others go
                    // on). Pause so a repeating error cannot spin.
                    tracing::warn!(group = def.group, error = %e, "consumer error");
                    tokio::time::sleep(retry_backoff).await;
                }
            },
        }
    };
    if auto {
        if let Err(e) = commit(&mut consumer, &done).await {
            tracing::warn!(group = def.group, error = %e, "final commit failed; the next member repeats these records");
        }
    }
    if let Err(e) = consumer.close().await {
        tracing::warn!(group = def.group, error = %e, "leaving the group failed");
    }
    result
}

/// Forgets progress on partitions given up (another member may handle
/// them now and commit further); reports a fatal group failure.
fn apply_group_events(
    consumer: &mut Consumer,
    done: &mut BTreeMap<TopicPartition, i64>,
) -> Result<(), klamm::Error> {
    while let Some(event) = consumer.poll_rebalance_event() {
        match event {
            GroupEvent::Revoked { partitions, .. } | GroupEvent::Lost { partitions, .. } => {
                for tp in partitions {
                    done.remove(&tp);
                }
            }
            GroupEvent::Fatal(failure) => {
                return Err(klamm::Error::config("group", failure.to_string()));
            }
            _ => {}
        }
    }
    Ok(())
}

/// Handles one record under the failure policy.
async fn handle(
    app: &App,
    def: &SubscriptionDef,
    consumer: &mut Consumer,
    stop: &mut watch::Receiver<bool>,
    done: &mut BTreeMap<TopicPartition, i64>,
    message: Message,
) -> Result<Outcome, SubscriptionError> {
    let tp = message.topic_partition();
    let offset = message.offset();
    let manual = !app.config().auto_commit;
    let mut attempts = 0u32;
    loop {
        attempts += 1;
        let (commit_tx, mut commit_rx) = if manual {
            let (tx, rx) = mpsc::unbounded_channel::<CommitRequest>();
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        let ctx = Context::new(app.clone(), message.clone(), commit_tx);
        // A task of its own, so that a panic is a failure of this record
        // (retried, dead-lettered or stopping) rather than of the worker.
        let mut task = tokio::spawn((def.handler)(message.clone(), ctx));
        let result = loop {
            tokio::select! {
                joined = &mut task => break joined.unwrap_or_else(|e| {
                    Err(HandlerError::Failed(format!("the handler panicked: {e}").into()))
                }),
                request = next_request(&mut commit_rx) => match request {
                    Some(reply) => {
                        let mut offsets = done.clone();
                        offsets.insert(tp.clone(), offset + 1);
                        let _ = reply.send(commit(consumer, &offsets).await);
                    }
                    None => commit_rx = None,
                },
            }
        };
        let error = match result {
            Ok(()) => {
                done.insert(tp, offset + 1);
                return Ok(Outcome::Done);
            }
            Err(error) => error,
        };
        if error.is_retriable() && def.policy.may_retry(attempts) {
            let delay = def.policy.delay(attempts);
            tracing::warn!(
                group = def.group, topic = tp.topic.as_ref(), partition = tp.partition, offset,
                attempt = attempts, retry_in = ?delay, error = %error_chain(&error),
                "handler failed; retrying"
            );
            tokio::select! {
                () = tokio::time::sleep(delay) => continue,
                _ = stop.changed() => return Ok(Outcome::Interrupted),
            }
        }
        return match def.policy.exhausted() {
            Exhausted::Stop => {
                tracing::error!(
                    group = def.group, topic = tp.topic.as_ref(), partition = tp.partition, offset,
                    attempts, error = %error_chain(&error), "handler failed; stopping the subscription"
                );
                Err(SubscriptionError::Handler {
                    pattern: def.pattern.as_str().to_owned(),
                    group: def.group.clone(),
                    topic: tp.topic.as_ref().to_owned(),
                    partition: tp.partition,
                    offset,
                    attempts,
                    source: error,
                })
            }
            Exhausted::DeadLetter(stream) => {
                match app
                    .dead_letter(stream, &message, &error, attempts, &def.group)
                    .await
                {
                    Ok(_) => {
                        tracing::warn!(
                            group = def.group, topic = tp.topic.as_ref(), partition = tp.partition, offset,
                            attempts, dead_letter = stream, error = %error_chain(&error),
                            "handler failed; record forwarded to the dead-letter stream"
                        );
                        done.insert(tp, offset + 1);
                        Ok(Outcome::Done)
                    }
                    Err(source) => Err(SubscriptionError::DeadLetter {
                        pattern: def.pattern.as_str().to_owned(),
                        group: def.group.clone(),
                        topic: tp.topic.as_ref().to_owned(),
                        partition: tp.partition,
                        offset,
                        dead_letter: stream.clone(),
                        handler_error: error_chain(&error),
                        source,
                    }),
                }
            }
        };
    }
}

async fn next_request(
    rx: &mut Option<mpsc::UnboundedReceiver<CommitRequest>>,
) -> Option<CommitRequest> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Commits `offsets` for the partitions still assigned.
async fn commit(
    consumer: &mut Consumer,
    offsets: &BTreeMap<TopicPartition, i64>,
) -> Result<(), klamm::Error> {
    let assigned: BTreeSet<TopicPartition> = consumer.assignment().into_iter().collect();
    let entries: Vec<(TopicPartition, i64)> = offsets
        .iter()
        .filter(|(tp, _)| assigned.contains(*tp))
        .map(|(tp, o)| (tp.clone(), *o))
        .collect();
    if entries.is_empty() {
        return Ok(());
    }
    consumer.commit_offsets(entries).await
}
