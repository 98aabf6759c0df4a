//! The one path every admin operation takes: route each item, send one
//! request per target at the best common version, read per-item error
//! codes, and resend only the items that failed retriably, with backoff,
//! until the admin's deadline.

use std::fmt::Debug;
use std::time::Duration;

use klamm_protocol::{ErrorCode, Request, StrBytes};
use tokio::time::Instant;

use super::{Admin, ItemResults};
use crate::backoff::Backoff;
use crate::client::{Client, CoordinatorKey, Target};
use crate::conn::ConnKind;
use crate::error::{Error, ErrorContext};
use crate::retry::classify;

/// The first wait before a retry; doubles up to [`MAX_BACKOFF`].
const BASE_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// An error from a per-item error code, or `Ok` for NONE.
pub(crate) fn check(
    api: &'static str,
    code: i16,
    message: Option<&StrBytes>,
    context: ErrorContext,
) -> Result<(), Error> {
    match ErrorCode::from_code(code) {
        ErrorCode::None => Ok(()),
        code => Err(Error::Broker {
            api,
            code,
            message: message.map(|m| m.as_str().to_owned()),
            context,
        }),
    }
}

/// A string for a request field.
pub(crate) fn text(s: &str) -> StrBytes {
    StrBytes::from(s)
}

/// Routes every item to any broker.
pub(crate) fn any_broker<K>(_: &Client, _: &K) -> Result<Target, Error> {
    Ok(Target::AnyBroker)
}

/// Routes every item to the controller.
pub(crate) fn controller<K>(_: &Client, _: &K) -> Result<Target, Error> {
    Ok(Target::Controller)
}

/// The leader of a partition, from the metadata snapshot.
pub(crate) fn leader(client: &Client, topic: &str, partition: i32) -> Result<Target, Error> {
    let meta = client.metadata();
    let leader = meta
        .topics
        .get(topic)
        .and_then(|t| t.partitions.iter().find(|p| p.partition == partition))
        .and_then(|p| p.leader)
        .filter(|l| *l >= 0);
    if let Some(id) = leader {
        return Ok(Target::Broker(id));
    }
    let known = meta
        .topics
        .get(topic)
        .is_some_and(|t| t.partitions.iter().any(|p| p.partition == partition));
    let code = if known {
        ErrorCode::LeaderNotAvailable
    } else {
        ErrorCode::UnknownTopicOrPartition
    };
    Err(Error::Broker {
        api: "Metadata",
        code,
        message: Some(format!("no leader known for {topic}-{partition}")),
        context: ErrorContext::default()
            .with_topic(topic)
            .with_partition(partition),
    })
}

/// Codes the admin does not retry although Kafka calls them retriable:
/// an admin asking about a topic that does not exist wants to hear so at
/// once, not after the whole deadline (Kafka's own admin client agrees).
const NOT_RETRIED: &[ErrorCode] = &[ErrorCode::UnknownTopicOrPartition];

/// Whether the admin retries `error`.
pub(crate) fn admin_retries(error: &Error) -> bool {
    classify(error).retriable && !error.code().is_some_and(|c| NOT_RETRIED.contains(&c))
}

/// An item waiting for another attempt, and why.
struct Retry<K> {
    key: K,
    error: Error,
}

impl Admin {
    /// Runs one operation over `keys`: see the module docs. `route` picks
    /// each key's broker, `build` makes the request for a group of keys at
    /// the negotiated version, `parse` turns the response into one outcome
    /// per key (a key it leaves out gets [`Error::MissingResult`]).
    pub(crate) async fn call<K, T, R>(
        &self,
        keys: Vec<K>,
        route: impl Fn(&Client, &K) -> Result<Target, Error>,
        build: impl Fn(&[K], i16) -> Result<R, Error>,
        parse: impl Fn(&[K], R::Response, i16) -> Vec<(K, Result<T, Error>)>,
    ) -> ItemResults<K, T>
    where
        K: Clone + PartialEq + Debug,
        R: Request,
    {
        let deadline = Instant::now() + self.timeout;
        let mut backoff = Backoff::new(BASE_BACKOFF, MAX_BACKOFF);
        let mut order = Vec::with_capacity(keys.len());
        for key in keys {
            if !order.contains(&key) {
                order.push(key);
            }
        }
        let mut pending = order.clone();
        let mut done: Vec<(K, Result<T, Error>)> = Vec::with_capacity(order.len());
        loop {
            let mut retries: Vec<Retry<K>> = Vec::new();
            let mut refresh = false;
            let mut groups: Vec<(Target, Vec<K>)> = Vec::new();
            for key in pending.drain(..) {
                match route(&self.client, &key) {
                    Ok(target) => match groups.iter_mut().find(|(t, _)| *t == target) {
                        Some((_, ks)) => ks.push(key),
                        None => groups.push((target, vec![key])),
                    },
                    Err(error) => retries.push(Retry { key, error }),
                }
            }
            for (target, keys) in groups {
                let outcomes = match self.send_group(&target, &keys, &build, deadline).await {
                    Ok((response, version)) => {
                        let mut outcomes = parse(&keys, response, version);
                        keys.iter()
                            .map(|key| {
                                let outcome = match outcomes.iter().position(|(k, _)| k == key) {
                                    Some(i) => outcomes.swap_remove(i).1,
                                    None => Err(Error::MissingResult {
                                        api: R::KEY.name(),
                                        item: format!("{key:?}"),
                                    }),
                                };
                                (key.clone(), outcome)
                            })
                            .collect::<Vec<_>>()
                    }
                    Err(error) => keys
                        .iter()
                        .map(|k| (k.clone(), Err(error.clone())))
                        .collect(),
                };
                for (key, outcome) in outcomes {
                    match outcome {
                        Ok(value) => done.push((key, Ok(value))),
                        Err(error) => {
                            let advice = classify(&error);
                            if advice.refresh_coordinator
                                || matches!(
                                    error,
                                    Error::ConnectionLost { .. } | Error::RequestTimeout { .. }
                                )
                            {
                                forget_coordinator(&self.client, &target);
                            }
                            retries.push(Retry { key, error });
                        }
                    }
                }
            }
            // Give up on what cannot succeed, or when the deadline is near.
            let delay = backoff.next_delay();
            let out_of_time = Instant::now() + delay >= deadline;
            for retry in retries {
                let advice = classify(&retry.error);
                if admin_retries(&retry.error) && !out_of_time {
                    tracing::debug!(item = ?retry.key, error = %retry.error, reason = advice.reason, "admin: retrying item");
                    refresh |= advice.refresh_metadata;
                    pending.push(retry.key);
                } else {
                    done.push((retry.key, Err(retry.error)));
                }
            }
            if pending.is_empty() {
                break;
            }
            tokio::time::sleep(delay).await;
            if refresh {
                // A failed refresh shows up as the next attempt's error.
                let _ = self.client.refresh_metadata().await;
            }
        }
        let mut ordered = Vec::with_capacity(done.len());
        for key in order {
            if let Some(i) = done.iter().position(|(k, _)| *k == key) {
                ordered.push(done.swap_remove(i));
            }
        }
        ItemResults::new(ordered)
    }

    /// Sends one request for `keys` to `target`.
    async fn send_group<K, R: Request>(
        &self,
        target: &Target,
        keys: &[K],
        build: &impl Fn(&[K], i16) -> Result<R, Error>,
        deadline: Instant,
    ) -> Result<(R::Response, i16), Error> {
        let result = async {
            let conn = self.client.connection_for(target, ConnKind::Other).await?;
            let version = conn.version_for::<R>()?;
            let request = build(keys, version)?;
            let remaining = deadline.saturating_duration_since(Instant::now());
            let timeout = self
                .client
                .config()
                .request_timeout()
                .min(remaining.max(Duration::from_millis(1)));
            conn.send_at(&request, version, timeout)
                .await
                .map(|r| (r, version))
        }
        .await;
        if let Err(e) = &result {
            self.client.report(e);
        }
        result
    }
}

/// Forgets the cached coordinator behind `target`, if it is one.
fn forget_coordinator(client: &Client, target: &Target) {
    match target {
        Target::GroupCoordinator(g) => {
            client.invalidate_coordinator(&CoordinatorKey::Group(g.clone()))
        }
        Target::TxnCoordinator(t) => {
            client.invalidate_coordinator(&CoordinatorKey::Transaction(t.clone()))
        }
        _ => {}
    }
}
