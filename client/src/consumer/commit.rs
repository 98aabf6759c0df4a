//! Committed offsets: OffsetCommit and OffsetFetch against the group
//! coordinator, retried while the coordinator moves or loads.
//!
//! Without group membership a consumer commits as a "simple consumer":
//! generation -1 and an empty member id, which a coordinator accepts for a
//! group with no active members.

use std::collections::BTreeMap;
use std::time::Duration;

use klamm_protocol::generated::offset_commit::request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use klamm_protocol::generated::offset_fetch::request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use klamm_protocol::generated::{OffsetCommitRequest, OffsetFetchRequest};
use klamm_protocol::{ErrorCode, StrBytes};
use tokio::time::Instant;

use crate::backoff::Backoff;
use crate::client::{Client, CoordinatorKey, Target};
use crate::conn::ConnKind;
use crate::error::{Error, ErrorContext};
use crate::group::{TopicPartition, offset_fetch_rows};

/// Who commits: a group member's generation and ids, or the simple
/// consumer's `-1` / empty member id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CommitIdentity {
    pub(crate) group_id: String,
    pub(crate) generation_id: i32,
    pub(crate) member_id: String,
    pub(crate) group_instance_id: Option<String>,
}

impl CommitIdentity {
    /// The simple consumer of `group_id` (manual assignment).
    pub(crate) fn simple(group_id: String) -> Self {
        Self {
            group_id,
            generation_id: -1,
            member_id: String::new(),
            group_instance_id: None,
        }
    }
}

/// One partition's offset to commit: the next offset to consume, and the
/// leader epoch of the last consumed record when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CommitEntry {
    pub(crate) tp: TopicPartition,
    pub(crate) offset: i64,
    pub(crate) leader_epoch: Option<i32>,
}

/// A committed offset as stored by the group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Committed {
    /// The next offset to consume.
    pub offset: i64,
    /// The leader epoch stored with it, when any.
    pub leader_epoch: Option<i32>,
}

/// Runs `attempt` until it succeeds, fails for good, or `timeout` passes;
/// coordinator errors forget the cached coordinator first.
async fn with_retries<T, F, Fut>(
    client: &Client,
    group: &str,
    timeout: Duration,
    retry_backoff: Duration,
    mut attempt: F,
) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Error>>,
{
    let deadline = Instant::now() + timeout;
    let mut backoff = Backoff::new(
        retry_backoff.max(Duration::from_millis(10)),
        Duration::from_secs(1),
    );
    loop {
        let err = match attempt().await {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        let advice = crate::retry::classify(&err);
        if advice.refresh_coordinator
            || matches!(
                err,
                Error::ConnectionLost { .. } | Error::RequestTimeout { .. }
            )
        {
            client.invalidate_coordinator(&CoordinatorKey::Group(group.to_owned()));
        }
        let delay = backoff.next_delay();
        if !advice.retriable || Instant::now() + delay > deadline {
            return Err(err);
        }
        tracing::debug!(group, error = %err, reason = advice.reason, "offset request failed, retrying");
        tokio::time::sleep(delay).await;
    }
}

/// The error an application sees when the coordinator refuses a commit
/// because of the member's standing, with advice; `None` for other codes.
/// These are not retried: the same identity would be refused again.
pub(crate) fn commit_failed(code: ErrorCode, who: &CommitIdentity) -> Option<Error> {
    let simple = who.generation_id < 0;
    let advice = match code {
        ErrorCode::UnknownMemberId | ErrorCode::IllegalGeneration if simple => {
            "the group has active members, and a consumer outside the group (manual \
             assignment) cannot commit for it; use a group.id of its own, or subscribe"
        }
        ErrorCode::IllegalGeneration => {
            "the group rebalanced without this member, whose partitions may now belong to \
             another member (their messages since the last commit will be processed again); \
             the member is rejoining: keep calling recv, and commit the new assignment"
        }
        ErrorCode::UnknownMemberId => {
            "the coordinator expelled this member (session timeout or poll interval \
             exceeded); its partitions may now belong to another member; the member is \
             rejoining with a new id: keep calling recv, and commit the new assignment"
        }
        ErrorCode::RebalanceInProgress => {
            "the group is rebalancing; the member is rejoining: keep calling recv, and \
             commit again once partitions are assigned (a rebalance listener can commit \
             before partitions are revoked)"
        }
        ErrorCode::FencedInstanceId => {
            "another consumer with the same group.instance.id took over; this one stopped: \
             give each instance its own group.instance.id"
        }
        _ => return None,
    };
    Some(Error::CommitFailed { code, advice })
}

/// Commits `entries` for `who`.
pub(crate) async fn commit(
    client: &Client,
    who: &CommitIdentity,
    entries: &[CommitEntry],
    retry_backoff: Duration,
) -> Result<(), Error> {
    if entries.is_empty() {
        return Ok(());
    }
    let timeout = client.config().request_timeout();
    with_retries(client, &who.group_id, timeout, retry_backoff, || async {
        commit_once(client, who, entries).await.map_err(|e| {
            e.code()
                .and_then(|code| commit_failed(code, who))
                .unwrap_or(e)
        })
    })
    .await
}

async fn commit_once(
    client: &Client,
    who: &CommitIdentity,
    entries: &[CommitEntry],
) -> Result<(), Error> {
    let target = Target::GroupCoordinator(who.group_id.clone());
    let conn = client.connection_for(&target, ConnKind::Group).await?;
    let version = conn.version_for::<OffsetCommitRequest>()?;
    let mut topics: Vec<OffsetCommitRequestTopic> = Vec::new();
    for e in entries {
        let mut p = OffsetCommitRequestPartition::default()
            .with_partition_index(e.tp.partition)
            .with_committed_offset(e.offset);
        if version >= 6 {
            p = p.with_committed_leader_epoch(e.leader_epoch.unwrap_or(-1));
        }
        match topics.iter_mut().find(|t| t.name.as_str() == &*e.tp.topic) {
            Some(t) => t.partitions.push(p),
            None => topics.push(
                OffsetCommitRequestTopic::default()
                    .with_name(StrBytes::from(&*e.tp.topic))
                    .with_partitions(vec![p]),
            ),
        }
    }
    let mut request = OffsetCommitRequest::default()
        .with_group_id(StrBytes::from(who.group_id.as_str()))
        .with_topics(topics);
    if version >= 1 {
        request = request
            .with_generation_id_or_member_epoch(who.generation_id)
            .with_member_id(StrBytes::from(who.member_id.as_str()));
    }
    if version >= 7 {
        request =
            request.with_group_instance_id(who.group_instance_id.as_deref().map(StrBytes::from));
    }
    let response = conn
        .send_at(&request, version, client.config().request_timeout())
        .await?;
    for t in &response.topics {
        for p in &t.partitions {
            let code = ErrorCode::from_code(p.error_code);
            if code != ErrorCode::None {
                return Err(Error::Broker {
                    api: "OffsetCommit",
                    code,
                    message: None,
                    context: ErrorContext::broker(conn.broker().id)
                        .with_topic(t.name.as_str())
                        .with_partition(p.partition_index),
                });
            }
        }
    }
    Ok(())
}

/// The committed offsets of `partitions` in `group` (`None`: never committed).
pub(crate) async fn fetch_committed(
    client: &Client,
    group: &str,
    partitions: &[TopicPartition],
    retry_backoff: Duration,
) -> Result<BTreeMap<TopicPartition, Option<Committed>>, Error> {
    if partitions.is_empty() {
        return Ok(BTreeMap::new());
    }
    let timeout = client.config().request_timeout();
    with_retries(client, group, timeout, retry_backoff, || {
        fetch_once(client, group, partitions)
    })
    .await
}

async fn fetch_once(
    client: &Client,
    group: &str,
    partitions: &[TopicPartition],
) -> Result<BTreeMap<TopicPartition, Option<Committed>>, Error> {
    let target = Target::GroupCoordinator(group.to_owned());
    let conn = client.connection_for(&target, ConnKind::Group).await?;
    let version = conn.version_for::<OffsetFetchRequest>()?;
    let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for tp in partitions {
        by_topic.entry(&tp.topic).or_default().push(tp.partition);
    }
    // v8 moved the request into a list of groups.
    let request = if version >= 8 {
        OffsetFetchRequest::default()
            .with_group_id(StrBytes::new())
            .with_topics(Some(Vec::new()))
            .with_groups(vec![
                OffsetFetchRequestGroup::default()
                    .with_group_id(StrBytes::from(group))
                    .with_topics(Some(
                        by_topic
                            .iter()
                            .map(|(t, ps)| {
                                OffsetFetchRequestTopics::default()
                                    .with_name(StrBytes::from(*t))
                                    .with_partition_indexes(ps.clone())
                            })
                            .collect(),
                    )),
            ])
    } else {
        OffsetFetchRequest::default()
            .with_group_id(StrBytes::from(group))
            .with_topics(Some(
                by_topic
                    .iter()
                    .map(|(t, ps)| {
                        OffsetFetchRequestTopic::default()
                            .with_name(StrBytes::from(*t))
                            .with_partition_indexes(ps.clone())
                    })
                    .collect(),
            ))
    };
    let response = conn
        .send_at(&request, version, client.config().request_timeout())
        .await?;
    let broker = conn.broker().id;
    let fail = |code: ErrorCode, topic: Option<&str>, partition: Option<i32>| {
        let mut context = ErrorContext::broker(broker);
        if let Some(t) = topic {
            context = context.with_topic(t);
        }
        if let Some(p) = partition {
            context = context.with_partition(p);
        }
        Error::Broker {
            api: "OffsetFetch",
            code,
            message: None,
            context,
        }
    };
    let mut out = BTreeMap::new();
    let mut record = |topic: &str, partition: i32, offset: i64, epoch: i32, code: i16| {
        let code = ErrorCode::from_code(code);
        if code != ErrorCode::None {
            return Err(fail(code, Some(topic), Some(partition)));
        }
        let tp = TopicPartition::new(topic, partition);
        let committed = (offset >= 0).then_some(Committed {
            offset,
            leader_epoch: (epoch >= 0).then_some(epoch),
        });
        out.insert(tp, committed);
        Ok(())
    };
    let (code, rows) = offset_fetch_rows(&response, version >= 8, group).ok_or_else(|| {
        Error::MetadataMissing {
            what: format!("group {group} in the OffsetFetch response"),
        }
    })?;
    let code = ErrorCode::from_code(code);
    if code != ErrorCode::None {
        return Err(fail(code, None, None));
    }
    for f in rows {
        record(f.topic, f.partition, f.offset, f.leader_epoch, f.error_code)?;
    }
    for tp in partitions {
        out.entry(tp.clone()).or_insert(None);
    }
    Ok(out)
}
