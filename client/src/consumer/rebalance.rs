//! Rebalance callbacks: application code that runs, with the consumer in
//! hand, when partitions are assigned, revoked or lost.
//!
//! ```text
//! group task ── Revoked ──▶ calls channel ──▶ Consumer (inside recv / recv_batch / close)
//!    │ hold_join(true)                           pause partitions, auto-commit them,
//!    │ (JoinGroup waits; heartbeats,             listener.on_partitions_revoked(&mut consumer)
//!    │  commits go on)                           remove partitions
//!    └──── hold_join(false) ◀──── done ◀─────────┘
//! ```
//!
//! As in Java's consumer, callbacks run inside the application's receive
//! calls, so a callback may use the consumer (commit, seek, position) with
//! no locking. The revocation gate keeps the next JoinGroup back until the
//! callback returns, so commits made there land in the current generation,
//! before another member can be handed the partitions. A callback that
//! never returns is bounded by `max.poll.interval.ms` like any stall.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tokio::sync::oneshot;

use super::Consumer;
use crate::group::TopicPartition;

/// The future a [`RebalanceListener`] method returns.
pub type RebalanceFuture<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// Application code run on rebalances (set with
/// [`Consumer::set_rebalance_listener`]). Each method gets the consumer, so
/// it can commit, seek or flush state; the events also stay readable as
/// values through [`Consumer::poll_rebalance_event`].
///
/// ```no_run
/// use klamm::consumer::{Consumer, RebalanceFuture, RebalanceListener};
/// use klamm::group::TopicPartition;
///
/// struct CommitOnRevoke;
///
/// impl RebalanceListener for CommitOnRevoke {
///     fn on_partitions_revoked<'a>(
///         &'a mut self,
///         consumer: &'a mut Consumer,
///         partitions: &'a [TopicPartition],
///     ) -> RebalanceFuture<'a> {
///         Box::pin(async move {
///             // Still this member's: the next JoinGroup waits for this.
///             if let Err(e) = consumer.commit().await {
///                 eprintln!("commit of {partitions:?} failed: {e}");
///             }
///         })
///     }
/// }
/// ```
pub trait RebalanceListener: Send {
    /// These partitions are about to be given up in an orderly way (eager
    /// rebalance: all of them; cooperative: only those moving to another
    /// member; close). They are still assigned and no longer fetched, and
    /// with `enable.auto.commit` their handed-out positions were already
    /// committed. The next JoinGroup is held until this returns.
    fn on_partitions_revoked<'a>(
        &'a mut self,
        consumer: &'a mut Consumer,
        partitions: &'a [TopicPartition],
    ) -> RebalanceFuture<'a>;

    /// These partitions were assigned (with the cooperative protocol, only
    /// the new ones). Runs before any of their messages is handed out, so a
    /// seek here decides where they start. Does nothing by default.
    fn on_partitions_assigned<'a>(
        &'a mut self,
        consumer: &'a mut Consumer,
        partitions: &'a [TopicPartition],
    ) -> RebalanceFuture<'a> {
        let _ = (consumer, partitions);
        Box::pin(std::future::ready(()))
    }

    /// These partitions were taken away without a handover (session lost,
    /// expelled, poll interval exceeded): another member may own them
    /// already, so do not commit them. Does nothing by default (unlike
    /// Java, whose default calls the revocation callback, which usually
    /// commits).
    fn on_partitions_lost<'a>(
        &'a mut self,
        consumer: &'a mut Consumer,
        partitions: &'a [TopicPartition],
    ) -> RebalanceFuture<'a> {
        let _ = (consumer, partitions);
        Box::pin(std::future::ready(()))
    }
}

/// The listener, shareable with the consumer's futures.
#[derive(Clone)]
pub(crate) struct ListenerSlot(pub(crate) Arc<tokio::sync::Mutex<Box<dyn RebalanceListener>>>);

impl std::fmt::Debug for ListenerSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RebalanceListener")
    }
}

/// What the group task asks the consumer to run.
#[derive(Debug)]
pub(crate) enum RebalanceCall {
    /// Revoke: pause, auto-commit, callback, remove, then answer `done`
    /// (which releases the JoinGroup gate).
    Revoked {
        partitions: Vec<TopicPartition>,
        done: oneshot::Sender<()>,
    },
    /// Sent once the partitions' cursors exist; queued long before their
    /// first fetch answers, and run before any message is handed out.
    Assigned { partitions: Vec<TopicPartition> },
    /// Sent after the partitions were removed.
    Lost { partitions: Vec<TopicPartition> },
}
