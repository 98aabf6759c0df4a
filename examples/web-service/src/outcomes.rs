//! Variant 4's other half: an application task that receives delivery
//! outcomes from producer callbacks through a bounded channel.
//!
//! ```text
//! handler ──send_with_callback──▶ producer ──(batch done, on the sink task)──▶ callback
//!                                                                               │ try_send
//!                                 outcome task ◀──── bounded mpsc channel ◀─────┘
//! ```
//!
//! The callback runs on the producer's sink task, so it must never wait: it
//! uses `try_send`, and an outcome that finds the channel full is counted
//! (`task_dropped`) and logged instead of blocking the producer. The task is
//! where an application would update its own state (mark the item
//! published, write an audit row, retry elsewhere); here it counts and logs.

use std::sync::Arc;

use klamm::producer::{ProduceError, RecordMetadata};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::stats::Stats;

/// One record's outcome, as the callback hands it over.
#[derive(Debug)]
pub struct Outcome {
    /// The item's id (the record's key).
    pub id: String,
    /// Where it landed, or why not.
    pub result: Result<RecordMetadata, ProduceError>,
}

/// The sending side, cloned into each callback.
pub type OutcomeSender = mpsc::Sender<Outcome>;

/// Hands `outcome` to the task without waiting (called on the producer's
/// sink task).
pub fn hand_over(tx: &OutcomeSender, stats: &Stats, outcome: Outcome) {
    if let Err(e) = tx.try_send(outcome) {
        Stats::bump(&stats.task_dropped);
        let outcome = match e {
            mpsc::error::TrySendError::Full(o) | mpsc::error::TrySendError::Closed(o) => o,
        };
        tracing::warn!(id = %outcome.id, ok = outcome.result.is_ok(), "outcome channel full; outcome dropped");
    }
}

/// Starts the task; it ends when every sender is gone (after the producer
/// is closed and the service's state dropped).
pub fn spawn(capacity: usize, stats: Arc<Stats>) -> (OutcomeSender, JoinHandle<()>) {
    let (tx, mut rx) = mpsc::channel::<Outcome>(capacity.max(1));
    let task = tokio::spawn(async move {
        while let Some(outcome) = rx.recv().await {
            match outcome.result {
                Ok(_) => Stats::bump(&stats.task_delivered),
                Err(e) => {
                    Stats::bump(&stats.task_failed);
                    tracing::warn!(id = %outcome.id, error = %e, "item not published");
                }
            }
        }
    });
    (tx, task)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering;

    #[tokio::test]
    async fn outcomes_reach_the_task_and_a_full_channel_drops_instead_of_blocking() {
        let stats = Arc::new(Stats::default());
        let (tx, task) = spawn(1, stats.clone());
        let meta = RecordMetadata {
            partition: 0,
            offset: 7,
            timestamp: 1,
        };
        // Capacity 1 and the task not yet scheduled (current-thread runtime):
        // the first fits, the second is dropped at once.
        hand_over(
            &tx,
            &stats,
            Outcome {
                id: "a".into(),
                result: Ok(meta),
            },
        );
        hand_over(
            &tx,
            &stats,
            Outcome {
                id: "b".into(),
                result: Err(ProduceError::Closed),
            },
        );
        assert_eq!(stats.task_dropped.load(Ordering::Relaxed), 1);
        tokio::task::yield_now().await;
        hand_over(
            &tx,
            &stats,
            Outcome {
                id: "c".into(),
                result: Err(ProduceError::Closed),
            },
        );
        drop(tx);
        task.await.unwrap();
        assert_eq!(stats.task_delivered.load(Ordering::Relaxed), 1);
        assert_eq!(stats.task_failed.load(Ordering::Relaxed), 1);
    }
}
