//! What the consumer, its supervisor and its fetch tasks share, and the
//! items fetch tasks hand to the consumer.

use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{mpsc, watch};

use super::commit::{CommitEntry, CommitIdentity};
use super::config::ConsumerConfig;
use super::group_task::GroupCommand;
use super::message::Message;
use super::progress::HandedProgress;
use super::state::FetchState;
use crate::client::Client;
use crate::error::Error;
use crate::group::TopicPartition;
use crate::group::is_group_error;

/// Shared by the consumer and its tasks.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) client: Client,
    pub(crate) config: Arc<ConsumerConfig>,
    state: Mutex<FetchState>,
    /// Bumped on every change a task may wait for (seek, resume, budget
    /// freed, assignment, close).
    changes: watch::Sender<u64>,
    /// Fetched data and per-partition errors, in fetch order.
    pub(crate) tx: mpsc::UnboundedSender<Fetched>,
    /// Bumped whenever partitions are revoked or lost, so the consumer
    /// re-checks the chunk it is handing out (one atomic load per message
    /// instead of a lock).
    pub(crate) assignment_epoch: AtomicU64,
    /// Who commits: the simple consumer, or the group member's current
    /// generation (updated by the group task).
    identity: Mutex<Option<CommitIdentity>>,
    /// How far the application got in the chunk it is draining.
    pub(crate) handed: HandedProgress,
    /// A rebalance listener is set: the group task hands rebalance events
    /// to the consumer to run it.
    pub(crate) listening: AtomicBool,
    /// The group task's commands (group mode), for commit errors that
    /// membership must act on.
    /// Weak: the group task must still see its commands close when the
    /// consumer is dropped.
    group: Mutex<Option<mpsc::WeakUnboundedSender<GroupCommand>>>,
}

impl Shared {
    pub(crate) fn new(
        client: Client,
        config: Arc<ConsumerConfig>,
    ) -> (Arc<Self>, mpsc::UnboundedReceiver<Fetched>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let (changes, _) = watch::channel(0);
        let state = Mutex::new(FetchState::new(config.queued_max_bytes));
        let config_identity = config.group_id.clone().map(CommitIdentity::simple);
        (
            Arc::new(Self {
                client,
                config,
                state,
                changes,
                tx,
                assignment_epoch: AtomicU64::new(0),
                identity: Mutex::new(config_identity),
                handed: HandedProgress::default(),
                listening: AtomicBool::new(false),
                group: Mutex::new(None),
            }),
            rx,
        )
    }

    /// Locks the state. A panic elsewhere while it was held leaves plain
    /// data behind, so a poisoned lock is still used.
    pub(crate) fn lock(&self) -> MutexGuard<'_, FetchState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The position of every assigned partition, including the messages
    /// handed out of the chunk being drained, for a commit made by a task.
    pub(crate) fn handed_positions(&self) -> Vec<CommitEntry> {
        let mut state = self.lock();
        self.handed.fold_into(&mut state);
        state.positions()
    }

    /// Removes partitions from the assignment and returns their positions
    /// (including messages handed out of the chunk being drained).
    pub(crate) fn remove_partitions(&self, partitions: &[TopicPartition]) -> Vec<CommitEntry> {
        let mut state = self.lock();
        self.handed.fold_into(&mut state);
        state
            .remove(partitions)
            .into_iter()
            .map(|(tp, offset, leader_epoch)| CommitEntry {
                tp,
                offset,
                leader_epoch,
            })
            .collect()
    }

    /// Connects commit-error reports to the group task.
    pub(crate) fn set_group(&self, commands: &mpsc::UnboundedSender<GroupCommand>) {
        *self.group.lock().unwrap_or_else(|p| p.into_inner()) = Some(commands.downgrade());
    }

    /// Tells the group task about a commit made as `who` that failed with
    /// an error membership must act on (rejoin, find the coordinator).
    pub(crate) fn report_commit_error(&self, error: &Error, who: &CommitIdentity) {
        let Some(code) = error.code().filter(|c| is_group_error(*c)) else {
            return;
        };
        if who.generation_id < 0 {
            return;
        }
        let group = self
            .group
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .and_then(mpsc::WeakUnboundedSender::upgrade);
        if let Some(group) = group {
            let _ = group.send(GroupCommand::CommitError {
                code,
                generation_id: who.generation_id,
            });
        }
    }

    /// Wakes every task waiting for a change.
    pub(crate) fn wake(&self) {
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// The identity commits carry now.
    pub(crate) fn identity(&self) -> Option<CommitIdentity> {
        self.identity
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Sets the identity commits carry (group mode: each generation).
    pub(crate) fn set_identity(&self, identity: CommitIdentity) {
        *self.identity.lock().unwrap_or_else(|p| p.into_inner()) = Some(identity);
    }

    /// A receiver for [`Self::wake`].
    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }
}

/// An item from a fetch task to the consumer.
#[derive(Debug)]
pub(crate) enum Fetched {
    /// Messages of one partition from one response.
    Chunk(Chunk),
    /// The partition stopped on an error the application must see (a
    /// corrupt batch, OFFSET_OUT_OF_RANGE with no reset, a start that could
    /// not be resolved); a seek restarts it.
    Error {
        tp: TopicPartition,
        version: u64,
        error: Error,
    },
}

/// Messages of one partition, drained by the consumer without locking.
#[derive(Debug)]
pub(crate) struct Chunk {
    pub(crate) tp: TopicPartition,
    /// The cursor version the fetch was made for.
    pub(crate) version: u64,
    pub(crate) messages: std::vec::IntoIter<Message>,
    /// Where the partition's position goes once the chunk is drained
    /// (past trailing control records or aborted data).
    pub(crate) next_offset: i64,
    /// Bytes counted against the buffer budget.
    pub(crate) bytes: usize,
    /// Position after the last message handed out, with its leader epoch.
    pub(crate) consumed: Option<(i64, Option<i32>)>,
}
