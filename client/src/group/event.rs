//! What membership tells the consumer: partitions gained and lost, offsets
//! fetched, and the reasons it stopped.

use std::time::Duration;

use klamm_protocol::ErrorCode;

use super::TopicPartition;
use super::assignor::AssignError;

/// An event from [`Membership::poll_event`](super::Membership::poll_event).
/// Drain events before sending the next request: a `Revoked` event is the
/// last moment to commit those partitions' offsets in this generation.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum GroupEvent {
    /// These partitions are now this member's, in `generation_id`. Committed
    /// offsets follow in a [`GroupEvent::CommittedOffsets`].
    Assigned {
        /// Newly assigned partitions (with the cooperative protocol, only the
        /// ones not owned before).
        partitions: Vec<TopicPartition>,
        /// The generation they belong to.
        generation_id: i32,
    },
    /// This member gives these partitions up in an orderly way: stop fetching
    /// them and commit what the application has consumed now, before the next
    /// request goes out.
    Revoked {
        /// The partitions.
        partitions: Vec<TopicPartition>,
        /// Why.
        reason: RevokeReason,
    },
    /// These partitions were taken away without a handover (the membership
    /// was already gone): stop fetching them and do not commit them, another
    /// member may own them now.
    Lost {
        /// The partitions.
        partitions: Vec<TopicPartition>,
        /// Why.
        reason: LostReason,
    },
    /// Committed offsets of newly assigned partitions.
    CommittedOffsets {
        /// One entry per partition that answered without error.
        offsets: Vec<CommittedOffset>,
        /// Partitions whose fetch failed with a non-retriable error.
        failed: Vec<(TopicPartition, ErrorCode)>,
    },
    /// The application did not ask for records within `max.poll.interval.ms`.
    /// The member left the group (a static member just stops heartbeating)
    /// and its partitions were reported [`GroupEvent::Lost`]; it rejoins on
    /// the next [`Membership::notify_poll`](super::Membership::notify_poll).
    PollIntervalExceeded {
        /// How long since the application last asked for records.
        since_last_poll: Duration,
    },
    /// The member cannot go on; nothing more will be sent.
    Fatal(GroupFailure),
    /// [`Membership::close`](super::Membership::close) finished.
    Closed,
}

/// Why partitions were revoked in an orderly way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RevokeReason {
    /// Eager protocol: a rebalance started and every member gives up
    /// everything before rejoining.
    Rebalance,
    /// Cooperative protocol: the new assignment moves them to another member.
    Reassigned,
    /// The member is leaving the group (close).
    Leaving,
    /// The subscription no longer includes their topic (cooperative protocol).
    Unsubscribed,
}

/// Why partitions were lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LostReason {
    /// The coordinator no longer knows this member id (expelled).
    UnknownMemberId,
    /// The member's generation is stale (a rebalance completed without it).
    IllegalGeneration,
    /// No successful heartbeat within the session timeout.
    SessionTimeout,
    /// The application stalled past `max.poll.interval.ms`.
    PollIntervalExceeded,
    /// Another instance with the same `group.instance.id` took over.
    Fenced,
    /// Membership stopped on a fatal error ([`GroupEvent::Fatal`] follows).
    Failed,
}

/// The committed position of one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedOffset {
    /// The partition.
    pub partition: TopicPartition,
    /// The next offset to consume, or `None` if the group never committed one
    /// (the consumer's reset policy decides).
    pub offset: Option<i64>,
    /// The leader epoch of the committed record, if known.
    pub leader_epoch: Option<i32>,
    /// The metadata string stored with the commit.
    pub metadata: Option<String>,
}

/// Why membership stopped for good.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GroupFailure {
    /// The coordinator refused the member with a non-retriable error
    /// (e.g. `FENCED_INSTANCE_ID`, `GROUP_AUTHORIZATION_FAILED`,
    /// `INCONSISTENT_GROUP_PROTOCOL`, `INVALID_SESSION_TIMEOUT`).
    #[error("{api} failed: {code}")]
    Refused {
        /// The API that answered.
        api: &'static str,
        /// The error code.
        code: ErrorCode,
    },
    /// The coordinator chose a protocol this member does not have.
    #[error("coordinator chose protocol {0:?}, which this member did not offer")]
    UnknownProtocol(String),
    /// As leader, the assignor failed or produced an invalid assignment.
    #[error("assignment failed: {0}")]
    Assignment(#[from] AssignError),
    /// This member's own subscription could not be encoded.
    #[error("cannot encode the subscription: {0}")]
    Subscription(String),
}
