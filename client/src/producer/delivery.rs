//! Delivery futures: one shared completion per batch, not per record.
//!
//! ```text
//! send ──▶ Delivery { Arc<BatchCompletion>, index, timestamp }   (an Arc clone)
//!                          │
//! batch acked or failed ──▶ BatchCompletion::complete(outcome): set once,
//!                           then wake the futures that are waiting
//! Delivery::poll ──▶ outcome + index ──▶ RecordMetadata { offset: base + index }
//! ```
//!
//! `send` never locks here. A future that is polled before its batch
//! completes registers its waker under the batch's mutex (uncontended except
//! at completion) and re-checks the outcome afterwards, so a completion
//! racing with registration is never missed.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll, Waker};

use super::error::ProduceError;
use super::record::RecordMetadata;

/// A user callback, run once with the record's outcome on the producer's
/// sink task (keep it short; it must not block).
pub(crate) type Callback = Box<dyn FnOnce(Result<RecordMetadata, ProduceError>) + Send + 'static>;

/// The producer's shared delivery handler: one function for every record
/// sent with a tag (`Producer::send_tagged`), called with the tag and the
/// record's outcome. Nothing is allocated per record, unlike a boxed
/// closure (librdkafka's delivery-report callback with a per-message
/// opaque works the same way).
pub type DeliveryHandler = Arc<dyn Fn(u64, Result<RecordMetadata, ProduceError>) + Send + Sync>;

/// A [`DeliveryHandler`] held by the accumulator and by batches with
/// tagged records (a newtype for `Debug`).
#[derive(Clone)]
pub(crate) struct HandlerRef(pub(crate) DeliveryHandler);

impl fmt::Debug for HandlerRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DeliveryHandler")
    }
}

/// How a record's outcome is reported besides its [`Delivery`] future.
pub(crate) enum Report {
    /// A closure of its own (`send_with_callback`).
    Closure(Callback),
    /// A tag for the producer's [`DeliveryHandler`] (`send_tagged`).
    Tag(u64),
}

impl fmt::Debug for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Report::Closure(_) => f.write_str("Closure"),
            Report::Tag(t) => write!(f, "Tag({t})"),
        }
    }
}

/// What the broker said about a whole batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BatchAck {
    /// Offset of the batch's first record (`-1` with acks=0).
    pub(crate) base_offset: i64,
    /// The broker's append time, `-1` when the topic uses create time.
    pub(crate) log_append_time: i64,
}

/// The outcome of one batch, shared by its records' futures.
pub(crate) struct BatchCompletion {
    partition: i32,
    outcome: OnceLock<Result<BatchAck, ProduceError>>,
    /// Wakers of pending futures, by record index.
    wakers: Mutex<Vec<Option<Waker>>>,
}

impl fmt::Debug for BatchCompletion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BatchCompletion")
            .field("partition", &self.partition)
            .field("outcome", &self.outcome.get())
            .finish_non_exhaustive()
    }
}

impl BatchCompletion {
    pub(crate) fn new(partition: i32) -> Arc<Self> {
        Arc::new(BatchCompletion {
            partition,
            outcome: OnceLock::new(),
            wakers: Mutex::new(Vec::new()),
        })
    }

    /// Sets the outcome (the first call wins) and wakes every waiting
    /// future. Returns false when the batch was already complete.
    pub(crate) fn complete(&self, outcome: Result<BatchAck, ProduceError>) -> bool {
        if self.outcome.set(outcome).is_err() {
            return false;
        }
        let wakers = std::mem::take(&mut *self.wakers.lock().unwrap_or_else(|p| p.into_inner()));
        for w in wakers.into_iter().flatten() {
            w.wake();
        }
        true
    }

    pub(crate) fn is_complete(&self) -> bool {
        self.outcome.get().is_some()
    }

    /// The result for the record at `index` sent with `timestamp`, once known.
    pub(crate) fn record_result(
        &self,
        index: u32,
        timestamp: i64,
    ) -> Option<Result<RecordMetadata, ProduceError>> {
        self.outcome
            .get()
            .map(|o| record_result(o, self.partition, index, timestamp))
    }
}

/// One record's view of its batch's outcome.
pub(crate) fn record_result(
    outcome: &Result<BatchAck, ProduceError>,
    partition: i32,
    index: u32,
    timestamp: i64,
) -> Result<RecordMetadata, ProduceError> {
    match outcome {
        Ok(ack) => Ok(RecordMetadata {
            partition,
            offset: if ack.base_offset < 0 {
                -1
            } else {
                ack.base_offset + i64::from(index)
            },
            timestamp: if ack.log_append_time >= 0 {
                ack.log_append_time
            } else {
                timestamp
            },
        }),
        Err(e) => Err(e.clone()),
    }
}

/// Resolves to where the record landed, or why it was not delivered.
///
/// Dropping it is fire-and-forget: the record is still sent, and a failure
/// is still counted and reported to the producer's error hook.
#[must_use = "dropping a Delivery is fire-and-forget; failures then only reach the error hook"]
pub struct Delivery {
    completion: Arc<BatchCompletion>,
    index: u32,
    timestamp: i64,
    /// The waker this future left in its slot. Only `complete` removes it
    /// (and wakes it), so while the batch is incomplete a poll with the
    /// same waker needs no lock: polling a pending future again is cheap.
    registered: Option<Waker>,
}

impl fmt::Debug for Delivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Delivery")
            .field("partition", &self.completion.partition)
            .field("index", &self.index)
            .field("done", &self.completion.is_complete())
            .finish()
    }
}

impl Delivery {
    pub(crate) fn new(completion: Arc<BatchCompletion>, index: u32, timestamp: i64) -> Self {
        Delivery {
            completion,
            index,
            timestamp,
            registered: None,
        }
    }

    /// The partition the record was appended to.
    pub fn partition(&self) -> i32 {
        self.completion.partition
    }

    /// The record's create timestamp (ms).
    pub fn timestamp(&self) -> i64 {
        self.timestamp
    }
}

impl Future for Delivery {
    type Output = Result<RecordMetadata, ProduceError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if let Some(r) = this.completion.record_result(this.index, this.timestamp) {
            return Poll::Ready(r);
        }
        if this
            .registered
            .as_ref()
            .is_some_and(|w| w.will_wake(cx.waker()))
        {
            // Still in our slot: `complete` sets the outcome before it
            // takes the wakers, so it has not run yet or will wake this.
            return Poll::Pending;
        }
        {
            let mut wakers = this
                .completion
                .wakers
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            let i = this.index as usize;
            if wakers.len() <= i {
                wakers.resize(i + 1, None);
            }
            if let Some(slot) = wakers.get_mut(i) {
                match slot {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => *slot = Some(cx.waker().clone()),
                }
            }
        }
        this.registered = Some(cx.waker().clone());
        // The outcome may have been set between the first check and the
        // registration; `complete` sets before it takes the wakers.
        match this.completion.record_result(this.index, this.timestamp) {
            Some(r) => Poll::Ready(r),
            None => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    struct CountingWaker(AtomicUsize);
    impl Wake for CountingWaker {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn poll(
        d: &mut Delivery,
        w: &Arc<CountingWaker>,
    ) -> Poll<Result<RecordMetadata, ProduceError>> {
        let waker = Waker::from(w.clone());
        Pin::new(d).poll(&mut Context::from_waker(&waker))
    }

    #[test]
    fn offsets_are_base_plus_index_and_waiters_are_woken_once() {
        let c = BatchCompletion::new(3);
        let mut d0 = Delivery::new(c.clone(), 0, 100);
        let mut d5 = Delivery::new(c.clone(), 5, 105);
        let w = Arc::new(CountingWaker(AtomicUsize::new(0)));
        assert!(poll(&mut d0, &w).is_pending());
        assert!(poll(&mut d5, &w).is_pending());
        assert!(poll(&mut d5, &w).is_pending()); // re-poll keeps one waker
        assert!(c.complete(Ok(BatchAck {
            base_offset: 40,
            log_append_time: -1
        })));
        assert_eq!(w.0.load(Ordering::SeqCst), 2);
        let r0 = poll(&mut d0, &w);
        let r5 = poll(&mut d5, &w);
        assert!(matches!(
            r0,
            Poll::Ready(Ok(RecordMetadata {
                partition: 3,
                offset: 40,
                timestamp: 100
            }))
        ));
        assert!(matches!(
            r5,
            Poll::Ready(Ok(RecordMetadata {
                partition: 3,
                offset: 45,
                timestamp: 105
            }))
        ));
        // A second outcome never overrides the first: no record is reported twice.
        assert!(!c.complete(Err(ProduceError::Closed)));
        assert!(matches!(poll(&mut d0, &w), Poll::Ready(Ok(_))));
    }

    #[test]
    fn a_future_polled_again_or_moved_to_another_task_is_woken_once_where_it_waits() {
        let c = BatchCompletion::new(0);
        let mut d = Delivery::new(c.clone(), 0, 1);
        let a = Arc::new(CountingWaker(AtomicUsize::new(0)));
        let b = Arc::new(CountingWaker(AtomicUsize::new(0)));
        // Polled repeatedly by one task (the lock-free path), then by another.
        for _ in 0..3 {
            assert!(poll(&mut d, &a).is_pending());
        }
        assert!(poll(&mut d, &b).is_pending());
        assert!(poll(&mut d, &b).is_pending());
        c.complete(Ok(BatchAck {
            base_offset: 0,
            log_append_time: -1,
        }));
        assert_eq!(a.0.load(Ordering::SeqCst), 0, "the old task is not woken");
        assert_eq!(b.0.load(Ordering::SeqCst), 1);
        assert!(matches!(poll(&mut d, &a), Poll::Ready(Ok(_))));
    }

    #[test]
    fn failures_and_log_append_time_and_acks0() {
        let c = BatchCompletion::new(0);
        let w = Arc::new(CountingWaker(AtomicUsize::new(0)));
        c.complete(Err(ProduceError::Closed));
        assert!(matches!(
            poll(&mut Delivery::new(c, 1, 7), &w),
            Poll::Ready(Err(ProduceError::Closed))
        ));
        let c = BatchCompletion::new(1);
        c.complete(Ok(BatchAck {
            base_offset: 10,
            log_append_time: 999,
        }));
        assert!(matches!(
            poll(&mut Delivery::new(c, 2, 7), &w),
            Poll::Ready(Ok(RecordMetadata {
                offset: 12,
                timestamp: 999,
                ..
            }))
        ));
        let c = BatchCompletion::new(1);
        c.complete(Ok(BatchAck {
            base_offset: -1,
            log_append_time: -1,
        }));
        assert!(matches!(
            poll(&mut Delivery::new(c, 2, 7), &w),
            Poll::Ready(Ok(RecordMetadata {
                offset: -1,
                timestamp: 7,
                ..
            }))
        ));
    }
}
