//! [`Producer`]: the application's handle. `send` appends under the
//! accumulator's mutex and returns; the network work happens in the sink
//! tasks (one per broker, see `sink.rs`).
//!
//! ```text
//! send ──▶ Accumulator (Mutex, in-memory only) ──wake──▶ sink(broker) ──Produce──▶ broker
//!   ▲            │ full: wait on `memory`                    │ responses, in send order
//!   └────────────┘                                           ▼
//!                                   Delivery futures / callbacks / error hook
//! ```

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;

use super::accumulator::{Accumulator, AccumulatorConfig, AppendError, Now, wall_clock_ms};
use super::config::ProducerConfig;
use super::delivery::{Delivery, DeliveryHandler, Report};
use super::error::ProduceError;
use super::metrics::{Metrics, ProducerMetrics};
use super::record::{ProducerRecord, RecordMetadata};
use super::sink;
use crate::client::Client;
use crate::config::{ClientConfig, Properties};
use crate::error::Error;
use crate::metadata::ClusterMetadata;

/// A batch that failed for good, as the error hook sees it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ProduceFailure {
    /// The topic.
    pub topic: Arc<str>,
    /// The partition.
    pub partition: i32,
    /// Records in the failed batch.
    pub records: u32,
    /// Why.
    pub error: ProduceError,
}

/// Called once per failed batch, on the sink task (keep it short).
pub type ErrorHook = Arc<dyn Fn(&ProduceFailure) + Send + Sync>;

/// State shared by the handle and the sink tasks.
pub(crate) struct Shared {
    pub(crate) client: Client,
    pub(crate) config: ProducerConfig,
    acc: Mutex<Accumulator>,
    /// Memory was freed (senders waiting for buffer space).
    pub(crate) memory: Notify,
    /// A batch completed (flush waiters).
    pub(crate) completed: Notify,
    /// Metadata is needed (unknown topic, leaderless partitions, errors).
    pub(crate) metadata_wanted: Notify,
    sinks: Mutex<HashMap<i32, Arc<Notify>>>,
    pub(crate) metrics: Metrics,
    error_hook: Mutex<Option<ErrorHook>>,
    pub(crate) closed: AtomicBool,
    /// Only one task fetches a producer id at a time.
    pub(crate) init_lock: tokio::sync::Mutex<()>,
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("config", &self.config)
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}

impl Shared {
    pub(crate) fn acc(&self) -> MutexGuard<'_, Accumulator> {
        self.acc.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Wakes every sink, starting sinks for brokers that lead queued data.
    pub(crate) fn wake_sinks(self: &Arc<Self>) {
        let brokers = self.acc().brokers_with_data();
        let mut sinks = self.sinks.lock().unwrap_or_else(|p| p.into_inner());
        for b in brokers {
            sinks.entry(b).or_insert_with(|| {
                let notify = Arc::new(Notify::new());
                tokio::spawn(sink::run(self.clone(), b, notify.clone()));
                notify
            });
        }
        for n in sinks.values() {
            n.notify_one();
        }
    }

    /// A sink exits (nothing left for its broker after close).
    pub(crate) fn sink_exited(&self, broker: i32) {
        self.sinks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&broker);
    }

    /// Copies leaders from `meta` for every topic the accumulator knows (and
    /// `extra`); returns whether `extra` is now known.
    pub(crate) fn apply_metadata(
        self: &Arc<Self>,
        meta: &ClusterMetadata,
        extra: Option<&str>,
    ) -> bool {
        let mut acc = self.acc();
        let mut names: Vec<String> = acc.topic_names();
        if let Some(t) = extra {
            names.push(t.to_owned());
        }
        for name in names {
            if let Some(t) = meta.topics.get(&name) {
                if t.error.is_error() || t.partitions.is_empty() {
                    continue;
                }
                let count = t
                    .partitions
                    .iter()
                    .map(|p| p.partition + 1)
                    .max()
                    .unwrap_or(0);
                let mut leaders = vec![None; count.max(0) as usize];
                for p in &t.partitions {
                    if let Some(slot) = leaders.get_mut(p.partition as usize) {
                        *slot = p
                            .leader
                            .filter(|_| !p.error.is_error() || p.leader.is_some());
                    }
                }
                acc.set_topic(&name, &leaders);
            }
        }
        let known = extra.is_none_or(|t| acc.knows_topic(t));
        drop(acc);
        self.wake_sinks();
        known
    }

    /// Reports a failed batch: counted, logged and handed to the hook.
    pub(crate) fn report_failure(&self, failure: &ProduceFailure) {
        Metrics::add(&self.metrics.records_failed, u64::from(failure.records));
        tracing::warn!(
            topic = %failure.topic,
            partition = failure.partition,
            records = failure.records,
            error = %failure.error,
            "produce failed"
        );
        let hook = self
            .error_hook
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if let Some(hook) = hook {
            hook(failure);
        }
    }
}

/// The batching producer. Cheap to clone: clones share buffers, sinks and
/// connections.
///
/// Dropping the last clone closes the producer in the background: queued
/// records are still sent (within `delivery.timeout.ms`), nothing blocks,
/// and a record is never reported delivered unless the broker acknowledged
/// it. Call [`Producer::close`] to wait for that.
#[derive(Debug, Clone)]
pub struct Producer {
    handle: Arc<Handle>,
}

#[derive(Debug)]
struct Handle {
    shared: Arc<Shared>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.shared.closed.store(true, Ordering::SeqCst);
        self.shared.acc().close();
        // Sinks drain what is queued and exit; never blocks here.
        if tokio::runtime::Handle::try_current().is_ok() {
            self.shared.wake_sinks();
        }
        self.shared.metadata_wanted.notify_one();
    }
}

impl Producer {
    /// A producer on an existing client (sharing its connections).
    /// Must be called inside a tokio runtime (it starts tasks).
    pub fn new(client: Client, config: ProducerConfig) -> Producer {
        let acc = Accumulator::new(
            AccumulatorConfig {
                batch_size: config.batch_size(),
                linger: config.linger(),
                compression: config.compression(),
                compression_level: config.compression_level(),
                buffer_memory: config.buffer_memory(),
                max_request_size: config.max_request_size(),
                delivery_timeout: config.delivery_timeout(),
                max_in_flight: config.max_in_flight(),
                idempotent: config.idempotence(),
            },
            config.partitioner().clone(),
        );
        let shared = Arc::new(Shared {
            client,
            config,
            acc: Mutex::new(acc),
            memory: Notify::new(),
            completed: Notify::new(),
            metadata_wanted: Notify::new(),
            sinks: Mutex::new(HashMap::new()),
            metrics: Metrics::default(),
            error_hook: Mutex::new(None),
            closed: AtomicBool::new(false),
            init_lock: tokio::sync::Mutex::new(()),
        });
        tokio::spawn(sink::metadata_task(Arc::downgrade(&shared)));
        Producer {
            handle: Arc::new(Handle { shared }),
        }
    }

    /// Connects a new client and starts a producer on it.
    pub async fn connect(client: ClientConfig, config: ProducerConfig) -> Result<Producer, Error> {
        let client = Client::connect(client).await?;
        Ok(Producer::new(client, config))
    }

    /// Builds client and producer settings from Kafka property pairs
    /// (`bootstrap.servers`, `acks`, `linger.ms`, ...) and connects. Any
    /// unknown property is an error naming it.
    pub async fn from_pairs<K, V>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Result<Producer, Error>
    where
        K: Into<String>,
        V: Into<String>,
    {
        let mut props: Properties = pairs.into_iter().collect();
        let client = ClientConfig::from_properties(&mut props)?;
        let config = ProducerConfig::from_properties(&mut props)?;
        props.finish()?;
        Producer::connect(client, config).await
    }

    /// The client underneath.
    pub fn client(&self) -> &Client {
        &self.handle.shared.client
    }

    /// Sets the hook every failed batch is reported to (once per batch, on
    /// a sink task), whether or not its futures are still awaited. Without
    /// one, failures are still counted ([`ProducerMetrics::records_failed`])
    /// and logged with `tracing`.
    pub fn set_error_hook(&self, hook: impl Fn(&ProduceFailure) + Send + Sync + 'static) {
        *self
            .handle
            .shared
            .error_hook
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(hook));
    }

    /// Enqueues a record, waiting (up to `max.block.ms`) only for topic
    /// metadata or buffer space, and returns its delivery future.
    ///
    /// Cancel-safe: dropping this future before it completes (a timeout
    /// around it, say) enqueues nothing and leaves no state behind.
    pub async fn send(&self, record: ProducerRecord<'_>) -> Result<Delivery, ProduceError> {
        // A record without another report always gets a future.
        let mut report = None;
        // The fast path without a second future: the record is taken (or
        // refused for good) at once nearly always.
        let outcome = match self.append(&record, &mut report) {
            Ok(d) => return d.ok_or(ProduceError::Closed),
            Err(AppendError::Rejected(e)) => return Err(*e),
            Err(e) => e,
        };
        self.enqueue_waiting(record, report, outcome)
            .await?
            .ok_or(ProduceError::Closed)
    }

    /// Enqueues a record without waiting: a full buffer is
    /// [`ProduceError::QueueFull`], a topic without metadata yet is
    /// [`ProduceError::MetadataPending`] (its metadata is fetched meanwhile).
    pub fn try_send(&self, record: ProducerRecord<'_>) -> Result<Delivery, ProduceError> {
        let shared = &self.handle.shared;
        let mut none = None;
        match self.append(&record, &mut none) {
            Ok(d) => d.ok_or(ProduceError::Closed),
            Err(AppendError::Full) => Err(ProduceError::QueueFull {
                buffered: shared.acc().buffered(),
                limit: shared.config.buffer_memory(),
            }),
            Err(AppendError::UnknownTopic) => {
                self.want_topic(record.topic);
                Err(ProduceError::MetadataPending {
                    topic: record.topic.to_owned(),
                })
            }
            Err(AppendError::Rejected(e)) => Err(*e),
        }
    }

    /// Enqueues a record like [`Self::send`]; `callback` runs once with the
    /// outcome on the producer's sink task (no task per record; keep it
    /// short). If enqueueing fails the error is returned and `callback` is
    /// not called.
    pub async fn send_with_callback(
        &self,
        record: ProducerRecord<'_>,
        callback: impl FnOnce(Result<RecordMetadata, ProduceError>) + Send + 'static,
    ) -> Result<(), ProduceError> {
        self.enqueue(record, Some(Report::Closure(Box::new(callback))))
            .await
            .map(drop)
    }

    /// Sets the function that hears the outcome of every record sent with
    /// [`Self::send_tagged`]: the record's tag and its metadata or error.
    /// It runs on the producer's sink task, once per record; keep it short
    /// and non-blocking. One handler for all records means nothing is
    /// allocated per send (a [`Self::send_with_callback`] closure is boxed).
    /// Records already queued keep the handler they were sent under.
    ///
    /// ```no_run
    /// # async fn demo(producer: klamm::producer::Producer) -> Result<(), klamm::producer::ProduceError> {
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// use klamm::producer::ProducerRecord;
    ///
    /// let failed = Arc::new(AtomicU64::new(0));
    /// let f = failed.clone();
    /// producer.set_delivery_handler(move |tag, result| {
    ///     if let Err(e) = result {
    ///         f.fetch_add(1, Ordering::Relaxed);
    ///         eprintln!("order {tag} not delivered: {e}");
    ///     }
    /// });
    /// for order_id in 0..1000u64 {
    ///     producer
    ///         .send_tagged(ProducerRecord::new("orders").value("..."), order_id)
    ///         .await?;
    /// }
    /// producer.flush().await;
    /// # Ok(()) }
    /// ```
    pub fn set_delivery_handler(
        &self,
        handler: impl Fn(u64, Result<RecordMetadata, ProduceError>) + Send + Sync + 'static,
    ) {
        let handler: DeliveryHandler = Arc::new(handler);
        self.handle.shared.acc().set_delivery_handler(handler);
    }

    /// Enqueues a record like [`Self::send`]; its outcome goes, with `tag`,
    /// to the handler set by [`Self::set_delivery_handler`] (without one
    /// this fails with [`ProduceError::NoDeliveryHandler`]). If enqueueing
    /// fails the error is returned and the handler does not hear of it.
    pub async fn send_tagged(
        &self,
        record: ProducerRecord<'_>,
        tag: u64,
    ) -> Result<(), ProduceError> {
        let mut report = Some(Report::Tag(tag));
        let outcome = match self.append(&record, &mut report) {
            Ok(_) => return Ok(()),
            Err(AppendError::Rejected(e)) => return Err(*e),
            Err(e) => e,
        };
        self.enqueue_waiting(record, report, outcome)
            .await
            .map(drop)
    }

    /// Waits until every record sent before this call is acknowledged or
    /// failed (sealing open batches now, regardless of `linger.ms`).
    pub async fn flush(&self) {
        let shared = &self.handle.shared;
        let mark = shared.acc().begin_flush();
        shared.wake_sinks();
        loop {
            let done = shared.completed.notified();
            tokio::pin!(done);
            done.as_mut().enable();
            if !shared.acc().pending_before(mark) {
                break;
            }
            done.await;
        }
        shared.acc().end_flush();
    }

    /// Stops accepting records, sends what is queued, and waits up to
    /// `timeout`; whatever is still undelivered then fails with
    /// [`ProduceError::Closed`]. Returns whether everything was delivered
    /// or failed on its own before the timeout.
    pub async fn close(&self, timeout: Duration) -> bool {
        let shared = &self.handle.shared;
        shared.closed.store(true, Ordering::SeqCst);
        shared.acc().close();
        let flushed = tokio::time::timeout(timeout, self.flush()).await.is_ok();
        if !flushed {
            let left = shared.acc().take_all();
            for mut b in left {
                shared.report_failure(&ProduceFailure {
                    topic: b.topic.clone(),
                    partition: b.partition,
                    records: b.record_count(),
                    error: ProduceError::Closed,
                });
                b.finish(Err(ProduceError::Closed));
            }
            shared.completed.notify_waiters();
            shared.memory.notify_waiters();
        }
        shared.wake_sinks();
        flushed
    }

    /// Counters and gauges now.
    pub fn metrics(&self) -> ProducerMetrics {
        let shared = &self.handle.shared;
        let queued = shared.acc().buffered();
        shared.metrics.snapshot(queued)
    }

    fn append(
        &self,
        record: &ProducerRecord<'_>,
        report: &mut Option<Report>,
    ) -> Result<Option<Delivery>, AppendError> {
        let shared = &self.handle.shared;
        // Outside the lock; a record with a timestamp reads no clock.
        let now_ms = record.timestamp.unwrap_or_else(wall_clock_ms);
        let appended = shared.acc().append(Now::Read, now_ms, record, report)?;
        if appended.wake {
            shared.wake_sinks();
        }
        Ok(appended.delivery)
    }

    fn want_topic(&self, topic: &str) {
        let shared = self.handle.shared.clone();
        let topic = topic.to_owned();
        tokio::spawn(async move {
            if let Ok(meta) = shared.client.add_topics([topic.clone()]).await {
                shared.apply_metadata(&meta, Some(&topic));
            }
        });
    }

    /// The accumulator, for tests that check its state.
    #[cfg(test)]
    pub(crate) fn accumulator(&self) -> MutexGuard<'_, Accumulator> {
        self.handle.shared.acc()
    }

    /// Appends `record`, waiting for metadata or memory as needed.
    ///
    /// Cancel-safe: the record is appended only by a synchronous `append`
    /// that returns at once, so a future dropped at any await appended
    /// nothing (its callback is dropped uncalled); the memory-waiter count
    /// is restored by [`MemoryWaiter`]'s drop, and the `Notified` and
    /// timeout it awaited deregister themselves when dropped.
    async fn enqueue(
        &self,
        record: ProducerRecord<'_>,
        report: Option<Report>,
    ) -> Result<Option<Delivery>, ProduceError> {
        let mut report = report;
        // The fast path: no clock for a deadline, no waiter registration.
        let outcome = match self.append(&record, &mut report) {
            Ok(d) => return Ok(d),
            Err(AppendError::Rejected(e)) => return Err(*e),
            Err(e) => e,
        };
        self.enqueue_waiting(record, report, outcome).await
    }

    /// The rest of [`Self::enqueue`] after a first `append` found no
    /// metadata or no memory (`first`).
    async fn enqueue_waiting(
        &self,
        record: ProducerRecord<'_>,
        report: Option<Report>,
        first: AppendError,
    ) -> Result<Option<Delivery>, ProduceError> {
        let mut report = report;
        let mut outcome: Result<Option<Delivery>, AppendError> = Err(first);
        let shared = &self.handle.shared;
        let max_block = shared.config.max_block();
        let deadline = tokio::time::Instant::now() + max_block;
        loop {
            match outcome {
                Ok(d) => return Ok(d),
                Err(AppendError::Rejected(e)) => return Err(*e),
                Err(AppendError::UnknownTopic) => {
                    let fetch = async {
                        loop {
                            match shared.client.add_topics([record.topic.to_owned()]).await {
                                Ok(meta) if shared.apply_metadata(&meta, Some(record.topic)) => {
                                    return;
                                }
                                Ok(_) => {}
                                Err(e) => {
                                    tracing::debug!(topic = record.topic, error = %e, "metadata for send")
                                }
                            }
                            tokio::time::sleep(shared.config.retry_backoff()).await;
                        }
                    };
                    if tokio::time::timeout_at(deadline, fetch).await.is_err() {
                        return Err(ProduceError::MaxBlock {
                            what: "topic metadata",
                            after: max_block,
                        });
                    }
                    outcome = self.append(&record, &mut report);
                }
                Err(AppendError::Full) => {
                    // Register for "memory freed" and count this sender as
                    // waiting first, then try again: completions wake
                    // waiters only while one is counted (and enough is
                    // free, see `Accumulator::memory_wanted`), so one
                    // between the failed append and the registration is
                    // never missed. Counted until the wait ends, however it
                    // ends: a dropped `send` (a timeout around it, a
                    // disconnected client) must not leave the producer
                    // under memory pressure for good.
                    let freed = shared.memory.notified();
                    tokio::pin!(freed);
                    freed.as_mut().enable();
                    let waiting = MemoryWaiter::register(shared);
                    outcome = self.append(&record, &mut report);
                    if matches!(outcome, Err(AppendError::Full)) {
                        shared.wake_sinks();
                        let waited = tokio::time::timeout_at(deadline, freed).await;
                        drop(waiting);
                        if waited.is_err() {
                            return Err(ProduceError::MaxBlock {
                                what: "buffer space (buffer.memory)",
                                after: max_block,
                            });
                        }
                        outcome = self.append(&record, &mut report);
                    }
                }
            }
        }
    }
}

/// One sender counted as waiting for buffer space (which makes open batches
/// due, see `Accumulator::force_ready`) for as long as this lives: dropping
/// it, including by dropping the `send` future mid-wait, uncounts it.
struct MemoryWaiter<'a> {
    shared: &'a Shared,
}

impl<'a> MemoryWaiter<'a> {
    fn register(shared: &'a Shared) -> Self {
        shared.acc().add_memory_waiter();
        MemoryWaiter { shared }
    }
}

impl Drop for MemoryWaiter<'_> {
    fn drop(&mut self) {
        self.shared.acc().remove_memory_waiter();
    }
}
