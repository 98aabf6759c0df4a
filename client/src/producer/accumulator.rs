//! The record accumulator: a sans-io core (no tasks, no clock of its own:
//! every call takes `now`) holding one open batch and a queue of sealed
//! batches per partition, the buffer-memory account and the idempotent
//! producer's sequence numbers.
//!
//! ```text
//! append(record) ──▶ choose partition ──▶ open batch fits? ──no──▶ seal it (ready queue),
//!                                              │ yes                 sticky moves on
//!                                              ▼
//!                                   RecordBatchBuilder::append (in place)
//!
//! drain(broker) ──▶ for each partition it leads: seal the open batch if
//!                   full, or if linger expired / flush / memory pressure /
//!                   closing AND it is sent now (else it stays open and
//!                   keeps filling), then take the head of the ready queue
//!                   if allowed
//!                   (retry backoff, in-flight limits, retries go alone),
//!                   stamping producer id, epoch and sequence on first send
//! acked / retry / failed ──▶ in-flight counts, requeue in order, free memory
//! ```
//!
//! The producer wraps it in one mutex held only for these in-memory steps
//! (never across I/O or an await); building (compressing) a batch happens
//! outside the lock.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use klamm_protocol::compression::Compression;
use klamm_protocol::records::{Header, RecordBatchBuilder};

use super::batch::{BatchBuffer, ProducerBatch, ProducerStamp};
use super::delivery::{Delivery, DeliveryHandler, HandlerRef, Report};
use super::error::ProduceError;
use super::partitioner::{Partitioner, Partitions, StickyPartition};
use super::record::ProducerRecord;

/// The settings the accumulator needs (a projection of the producer config).
#[derive(Debug, Clone)]
pub(crate) struct AccumulatorConfig {
    pub(crate) batch_size: usize,
    pub(crate) linger: Duration,
    pub(crate) compression: Compression,
    pub(crate) compression_level: Option<i32>,
    pub(crate) buffer_memory: usize,
    pub(crate) max_request_size: usize,
    pub(crate) delivery_timeout: Duration,
    /// Batches of one partition in flight at once.
    pub(crate) max_in_flight: usize,
    pub(crate) idempotent: bool,
}

/// Why `append` did not take a record.
#[derive(Debug)]
pub(crate) enum AppendError {
    /// No metadata for the topic yet: fetch it, then call again.
    UnknownTopic,
    /// `buffer.memory` is used up: wait for batches to complete (or fail
    /// with queue-full for `try_send`).
    Full,
    /// The record can never be accepted (boxed: this error travels up
    /// every layer of the per-record path, where a 120-byte
    /// `ProduceError` made every `Result` that size).
    Rejected(Box<ProduceError>),
}

/// How early any deadline of the sink counts as reached (a linger end, a
/// retry backoff's end, a delivery timeout, a throttle's end). The sink's
/// timer (tokio's, of millisecond granularity) fires at the first tick at
/// or after the time it is set to, up to a millisecond late; it is set
/// this much before the deadline, so a batch leaves within half a
/// millisecond either side of `linger.ms` rather than up to a millisecond
/// after it (which with `linger.ms=1` was a 1-2 ms linger). Every deadline
/// takes the same slack, so a timer that fires early always finds its
/// deadline reached (no second wake-up before it).
pub(crate) const TIMER_SLACK: Duration = Duration::from_micros(500);

/// Whether `at` counts as reached at `now` (see [`TIMER_SLACK`]).
pub(crate) fn reached(now: Instant, at: Instant) -> bool {
    now + TIMER_SLACK >= at
}

/// The buffer of a partition's first batch (later ones follow the size
/// of the previous one).
const FIRST_BATCH_CAPACITY: usize = 16 * 1024;

impl AppendError {
    fn rejected(e: ProduceError) -> Self {
        AppendError::Rejected(Box::new(e))
    }
}

/// A record taken.
#[derive(Debug)]
pub(crate) struct Appended {
    /// The record's future, unless it is reported otherwise (a callback or
    /// a tag).
    pub(crate) delivery: Option<Delivery>,
    /// A batch was sealed, or opened with a linger end before the sink's
    /// next wake-up, while that sink sleeps and could send: it must look
    /// again now (see [`SinkWatch`]).
    pub(crate) wake: bool,
}

/// What a broker's sink told the accumulator when it last went to sleep,
/// so that `append` wakes it only when it would act. Waking a sleeping
/// task costs a cross-thread wake-up (a futex call and a context switch);
/// flat out, a new batch opens and one is sealed every ~150 small records,
/// and nearly all of those wake-ups found every request slot taken.
#[derive(Debug, Clone, Copy)]
struct SinkWatch {
    broker: i32,
    /// Running (woken, or not asleep yet): it looks at everything before
    /// it sleeps again, under this same lock.
    awake: bool,
    /// It may send when woken (a request slot free, not throttled).
    can_send: bool,
    /// When it wakes on its own.
    deadline: Option<Instant>,
}

/// A partition's batches.
#[derive(Debug)]
struct PartitionQueue {
    leader: Option<i32>,
    open: Option<ProducerBatch>,
    /// Sealed batches in append order (retries go back in that order).
    ready: VecDeque<ProducerBatch>,
    in_flight: usize,
    /// Idempotence: the sequence of the next batch's first record.
    next_sequence: i32,
    /// Idempotence: one batch in flight until the first is acknowledged.
    acked_once: bool,
    /// Bytes in the last batch sealed here: the next one's buffer starts
    /// a little larger, so a steady stream fills it without regrowing and
    /// a large `batch.size` is not allocated up front.
    last_batch: usize,
}

impl PartitionQueue {
    /// Moves the open batch to the ready queue.
    fn seal(&mut self) {
        if let Some(b) = self.open.take() {
            self.last_batch = b.size();
            self.ready.push_back(b);
        }
    }

    /// The buffer to start a new batch with (see `last_batch`).
    fn batch_capacity(&self, batch_size: usize, record: usize) -> usize {
        let guess = if self.last_batch == 0 {
            FIRST_BATCH_CAPACITY
        } else {
            self.last_batch + self.last_batch / 8
        };
        guess.min(batch_size).max(record)
    }

    fn new(leader: Option<i32>) -> Self {
        PartitionQueue {
            leader,
            open: None,
            ready: VecDeque::new(),
            in_flight: 0,
            next_sequence: 0,
            acked_once: false,
            last_batch: 0,
        }
    }
}

#[derive(Debug)]
struct TopicQueue {
    name: Arc<str>,
    partitions: Vec<PartitionQueue>,
    /// Partitions with a leader, for sticky choices.
    available: Vec<i32>,
    sticky: StickyPartition,
}

/// See the module docs.
#[derive(Debug)]
pub(crate) struct Accumulator {
    config: AccumulatorConfig,
    partitioner: Arc<dyn Partitioner>,
    topics: HashMap<Arc<str>, TopicQueue, BuildHasherDefault<TopicHasher>>,
    /// An empty builder, only asked for record sizes.
    size_probe: RecordBatchBuilder,
    buffered: usize,
    next_id: u64,
    /// Batches created and not yet completed (flush waits on these).
    incomplete: BTreeSet<u64>,
    flushing: usize,
    memory_waiters: usize,
    closing: bool,
    producer: Option<(i64, i16)>,
    /// KIP-360: the id and epoch to bump (InitProducerId v3+ with them)
    /// instead of asking for a new producer id.
    bump_from: Option<(i64, i16)>,
    /// Rotates which partition drains first, so no partition starves under
    /// `max.request.size`.
    drain_start: usize,
    /// Where tagged records are reported (`Producer::set_delivery_handler`).
    handler: Option<HandlerRef>,
    /// The sinks' sleep states (a handful of brokers: a vector).
    sinks: Vec<SinkWatch>,
    /// Buffers of completed batches, for new ones (up to
    /// [`SPARE_BUFFERS`]): a megabyte-sized batch buffer allocated and freed
    /// per batch made the allocator hand memory back and fault it in again
    /// (page faults and TLB shootdowns were ~8% of the producer's CPU).
    spare: Vec<bytes::BytesMut>,
}

/// Completed batches' buffers kept for reuse.
const SPARE_BUFFERS: usize = 8;

/// The monotonic time for `append`, which needs it only when it opens a
/// batch (about once per 150 small records): the clock is read then, not
/// on every send.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Now {
    /// A known instant (tests, and callers that have one).
    At(Instant),
    /// Read the clock if needed.
    Read,
}

impl Now {
    fn get(self) -> Instant {
        match self {
            Now::At(t) => t,
            Now::Read => Instant::now(),
        }
    }
}

impl From<Instant> for Now {
    fn from(t: Instant) -> Self {
        Now::At(t)
    }
}

/// Milliseconds since the Unix epoch now (record timestamps): one clock
/// read and integer arithmetic (no `u128` from `as_millis`).
pub(crate) fn wall_clock_ms() -> i64 {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(d.as_secs())
        .unwrap_or(i64::MAX / 1000)
        .saturating_mul(1000)
        .saturating_add(i64::from(d.subsec_millis()))
}

impl Accumulator {
    pub(crate) fn new(config: AccumulatorConfig, partitioner: Arc<dyn Partitioner>) -> Self {
        Accumulator {
            size_probe: RecordBatchBuilder::new(config.compression),
            config,
            partitioner,
            topics: HashMap::default(),
            buffered: 0,
            next_id: 0,
            incomplete: BTreeSet::new(),
            flushing: 0,
            memory_waiters: 0,
            closing: false,
            producer: None,
            bump_from: None,
            drain_start: 0,
            handler: None,
            sinks: Vec::new(),
            spare: Vec::new(),
        }
    }

    /// The sink for `broker` runs (woken, or started): appends need not
    /// wake it until it sleeps again.
    pub(crate) fn sink_running(&mut self, broker: i32) {
        match self.sinks.iter_mut().find(|w| w.broker == broker) {
            Some(w) => w.awake = true,
            None => self.sinks.push(SinkWatch {
                broker,
                awake: true,
                can_send: false,
                deadline: None,
            }),
        }
    }

    /// The sink for `broker` sleeps until `deadline` (or a wake-up); while
    /// `can_send` is false only a response or a timeout is worth its
    /// attention. Called under the same lock as the pass that found
    /// nothing to send, so no append falls between the two.
    pub(crate) fn sink_sleeps(&mut self, broker: i32, can_send: bool, deadline: Option<Instant>) {
        let watch = SinkWatch {
            broker,
            awake: false,
            can_send,
            deadline,
        };
        match self.sinks.iter_mut().find(|w| w.broker == broker) {
            Some(w) => *w = watch,
            None => self.sinks.push(watch),
        }
    }

    /// The sink for `broker` exited: the next batch for it wakes (starts)
    /// one.
    pub(crate) fn sink_gone(&mut self, broker: i32) {
        self.sinks.retain(|w| w.broker != broker);
    }

    /// Whether an append that sealed a batch (`sealed`) and/or opened one
    /// due at `opened_due` for a partition led by `leader` must wake its
    /// sink; marks the sink awake if so.
    fn wake_for(&mut self, leader: Option<i32>, sealed: bool, opened_due: Option<Instant>) -> bool {
        if !sealed && opened_due.is_none() {
            return false;
        }
        // No leader: nothing to send until metadata names one (the
        // producer's metadata task asks, and applying it wakes the sinks).
        let Some(leader) = leader else {
            return false;
        };
        let Some(w) = self.sinks.iter_mut().find(|w| w.broker == leader) else {
            // No sink for this broker yet: waking starts one.
            return true;
        };
        if w.awake || !w.can_send {
            return false;
        }
        let wake = sealed || opened_due.is_some_and(|due| w.deadline.is_none_or(|next| due < next));
        if wake {
            w.awake = true;
        }
        wake
    }

    /// Sets the handler for records appended with a [`Report::Tag`] from now
    /// on (batches already holding tagged records keep the one they took).
    pub(crate) fn set_delivery_handler(&mut self, handler: DeliveryHandler) {
        let handler = HandlerRef(handler);
        self.handler = Some(handler);
    }

    /// Bytes queued (open, ready and in-flight batches).
    pub(crate) fn buffered(&self) -> usize {
        self.buffered
    }

    /// Records metadata for `topic`: its partitions' leaders by index. More
    /// partitions than before are added; leaders are replaced.
    pub(crate) fn set_topic(&mut self, topic: &str, leaders: &[Option<i32>]) {
        let t = match self.topics.get_mut(topic) {
            Some(t) => t,
            None => {
                let name: Arc<str> = topic.into();
                self.topics.entry(name.clone()).or_insert(TopicQueue {
                    name,
                    partitions: Vec::new(),
                    available: Vec::new(),
                    sticky: StickyPartition::new(),
                })
            }
        };
        for (i, leader) in leaders.iter().enumerate() {
            match t.partitions.get_mut(i) {
                Some(q) => q.leader = *leader,
                None => t.partitions.push(PartitionQueue::new(*leader)),
            }
        }
        t.available = t
            .partitions
            .iter()
            .enumerate()
            .filter(|(_, q)| q.leader.is_some())
            .map(|(i, _)| i as i32)
            .collect();
    }

    /// Topics with recorded metadata.
    pub(crate) fn topic_names(&self) -> Vec<String> {
        self.topics.keys().map(|k| k.to_string()).collect()
    }

    /// Whether metadata for `topic` was recorded.
    pub(crate) fn knows_topic(&self, topic: &str) -> bool {
        self.topics
            .get(topic)
            .is_some_and(|t| !t.partitions.is_empty())
    }

    /// Topics with queued batches on a partition that has no leader.
    pub(crate) fn leaderless(&self) -> Vec<Arc<str>> {
        self.topics
            .values()
            .filter(|t| {
                t.partitions
                    .iter()
                    .any(|q| q.leader.is_none() && (q.open.is_some() || !q.ready.is_empty()))
            })
            .map(|t| t.name.clone())
            .collect()
    }

    /// Brokers that lead a partition with queued batches.
    pub(crate) fn brokers_with_data(&self) -> BTreeSet<i32> {
        self.topics
            .values()
            .flat_map(|t| t.partitions.iter())
            .filter(|q| q.open.is_some() || !q.ready.is_empty())
            .filter_map(|q| q.leader)
            .collect()
    }

    /// Appends one record. `report` is taken only when the record is.
    pub(crate) fn append(
        &mut self,
        now: impl Into<Now>,
        now_ms: i64,
        record: &ProducerRecord<'_>,
        report: &mut Option<Report>,
    ) -> Result<Appended, AppendError> {
        if self.closing {
            return Err(AppendError::rejected(ProduceError::Closed));
        }
        if matches!(report, Some(Report::Tag(_))) && self.handler.is_none() {
            return Err(AppendError::rejected(ProduceError::NoDeliveryHandler));
        }
        let timestamp = record.timestamp.unwrap_or(now_ms);
        let (key, value, headers) = (record.key, record.value, record.headers);
        // The record alone in a batch: an upper bound is enough unless it
        // comes near a limit (then the exact size decides and is reported).
        let bound = self.size_probe.estimated_size() + record_size_bound(key, value, headers);
        let own_size = if bound <= self.config.max_request_size.min(self.config.buffer_memory) {
            bound
        } else {
            self.size_probe.size_with(
                timestamp,
                key.map(<[u8]>::len),
                value.map(<[u8]>::len),
                headers,
            )
        };
        for (limit, property) in [
            (self.config.max_request_size, "max.request.size"),
            (self.config.buffer_memory, "buffer.memory"),
        ] {
            if own_size > limit {
                return Err(AppendError::rejected(ProduceError::RecordTooLarge {
                    size: own_size,
                    limit,
                    property,
                }));
            }
        }
        let force = self.force_ready();
        let Some(topic) = self.topics.get_mut(record.topic) else {
            return Err(AppendError::UnknownTopic);
        };
        if topic.partitions.is_empty() {
            return Err(AppendError::UnknownTopic);
        }
        // Any record may need a batch of its own; waiting for that much
        // room keeps the account an upper bound.
        if self.buffered > 0 && self.buffered + own_size > self.config.buffer_memory {
            return Err(AppendError::Full);
        }
        let layout = Partitions {
            count: topic.partitions.len() as i32,
            available: &topic.available,
        };
        let (mut partition, sticky) = topic
            .sticky
            .choose(
                &*self.partitioner,
                record.topic,
                record.partition,
                key,
                value,
                layout,
            )
            .map_err(|source| {
                AppendError::rejected(ProduceError::Partition {
                    topic: record.topic.to_owned(),
                    source,
                })
            })?;
        // The leader of a partition whose batch this append sealed.
        let mut sealed_leader: Option<Option<i32>> = None;
        let mut opened_due: Option<Instant> = None;
        let batch_size = self.config.batch_size;
        // Into the chosen partition's open batch if the record fits (one
        // size computation for check and append). A full batch is sealed;
        // for a sticky choice the sticky partition then moves on, so the
        // record goes to the next one (whose open batch, if full, is
        // sealed too: the record then starts a new batch there).
        let mut taken: Option<(u32, usize)> = None;
        for attempt in 0..2 {
            let Some(q) = topic.partitions.get_mut(partition as usize) else {
                return Err(AppendError::UnknownTopic);
            };
            let Some(open) = q.open.as_mut() else {
                break;
            };
            let before = open.size();
            if let Some(index) = open
                .try_append(batch_size, timestamp, key, value, headers)
                .map_err(AppendError::rejected)?
            {
                taken = Some((index, open.size().saturating_sub(before)));
                break;
            }
            q.seal();
            sealed_leader = Some(q.leader);
            if attempt > 0 {
                break;
            }
            let layout = Partitions {
                count: topic.partitions.len() as i32,
                available: &topic.available,
            };
            topic.sticky.batch_sealed(partition, layout);
            if !sticky {
                break;
            }
            let next = topic.sticky.current(layout.count, layout.available);
            if next == partition {
                break;
            }
            partition = next;
        }
        let Some(q) = topic.partitions.get_mut(partition as usize) else {
            return Err(AppendError::UnknownTopic);
        };
        let leader = q.leader;
        let (index, grown) = match taken {
            Some(t) => t,
            None => {
                let now = now.into().get();
                opened_due = Some(if force { now } else { now + self.config.linger });
                let id = self.next_id;
                self.next_id += 1;
                self.incomplete.insert(id);
                let capacity = q.batch_capacity(batch_size, own_size);
                let buffer = match self.spare.iter().position(|b| b.capacity() >= capacity) {
                    Some(i) => BatchBuffer::Reused(self.spare.swap_remove(i)),
                    None => BatchBuffer::Fresh(capacity),
                };
                let batch = q.open.insert(ProducerBatch::new(
                    id,
                    topic.name.clone(),
                    partition,
                    self.config.compression,
                    self.config.compression_level,
                    buffer,
                    now,
                ));
                // An empty batch takes any record; it accounts for its
                // header too.
                let index = batch
                    .try_append(usize::MAX, timestamp, key, value, headers)
                    .map_err(AppendError::rejected)?
                    .ok_or(AppendError::rejected(ProduceError::Closed))?;
                (index, batch.size())
            }
        };
        let Some(batch) = q.open.as_mut() else {
            return Err(AppendError::rejected(ProduceError::Closed));
        };
        batch.accounted += grown;
        self.buffered += grown;
        let delivery = match report.take() {
            Some(r) => {
                batch.add_report(index, timestamp, r, self.handler.as_ref());
                None
            }
            None => Some(batch.delivery(index, timestamp)),
        };
        // Both batches belong to the same broker's sink unless the sticky
        // choice moved to a partition with another leader.
        let mut wake = self.wake_for(leader, false, opened_due);
        if let Some(sealed) = sealed_leader {
            wake |= self.wake_for(sealed, true, None);
        }
        Ok(Appended { delivery, wake })
    }

    /// Seal every open batch now, regardless of linger (flush).
    pub(crate) fn begin_flush(&mut self) -> u64 {
        self.flushing += 1;
        self.next_id
    }

    /// A flush started by `begin_flush` ended.
    pub(crate) fn end_flush(&mut self) {
        self.flushing = self.flushing.saturating_sub(1);
    }

    /// Whether any batch created before `mark` is still incomplete.
    pub(crate) fn pending_before(&self, mark: u64) -> bool {
        self.incomplete.first().is_some_and(|&id| id < mark)
    }

    /// Batches not yet completed.
    pub(crate) fn incomplete_batches(&self) -> usize {
        self.incomplete.len()
    }

    /// A sender waits for memory (open batches count as ready meanwhile).
    /// Every call must be paired with [`Self::remove_memory_waiter`], also
    /// when the waiting future is dropped (`handle.rs` uses a drop guard).
    pub(crate) fn add_memory_waiter(&mut self) {
        self.memory_waiters += 1;
    }

    /// A sender stopped waiting for memory.
    pub(crate) fn remove_memory_waiter(&mut self) {
        self.memory_waiters = self.memory_waiters.saturating_sub(1);
    }

    /// No more appends; everything queued becomes ready.
    pub(crate) fn close(&mut self) {
        self.closing = true;
    }

    /// The idempotent producer's id and epoch (from InitProducerId). A new
    /// id or epoch restarts every partition's sequence at 0 (Kafka's rule);
    /// batches already stamped get new sequences when next sent.
    pub(crate) fn set_producer(&mut self, producer_id: i64, epoch: i16) {
        self.bump_from = None;
        if self.producer == Some((producer_id, epoch)) {
            return;
        }
        self.producer = Some((producer_id, epoch));
        for q in self
            .topics
            .values_mut()
            .flat_map(|t| t.partitions.iter_mut())
        {
            q.next_sequence = 0;
            q.acked_once = false;
            for b in &mut q.ready {
                b.stamp = None;
            }
        }
    }

    /// Forgets the producer id (a new one must be fetched before sending).
    pub(crate) fn clear_producer(&mut self) {
        self.producer = None;
        self.bump_from = None;
    }

    /// The sequence state of the producer stamped `stamped` is broken (a
    /// sequenced batch failed, UNKNOWN_PRODUCER_ID, repeated
    /// OUT_OF_ORDER_SEQUENCE_NUMBER): stop sending until the epoch is
    /// bumped (KIP-360; every sequence then restarts at 0). Nothing happens
    /// when `stamped` is not the current producer: a bump (or a new id)
    /// already replaced it, and the batch will be restamped.
    pub(crate) fn request_epoch_bump(&mut self, stamped: (i64, i16)) {
        if self.producer == Some(stamped) {
            self.producer = None;
            self.bump_from = Some(stamped);
        }
    }

    /// The producer id and epoch an epoch bump starts from, if one is due.
    pub(crate) fn epoch_bump_from(&self) -> Option<(i64, i16)> {
        self.bump_from
    }

    /// The producer id and epoch, if known.
    pub(crate) fn producer(&self) -> Option<(i64, i16)> {
        self.producer
    }

    /// Senders waiting for buffer space now.
    #[cfg(test)]
    pub(crate) fn memory_waiters(&self) -> usize {
        self.memory_waiters
    }

    fn force_ready(&self) -> bool {
        self.flushing > 0 || self.memory_waiters > 0 || self.closing
    }

    /// Takes the batches to send to `broker` now: at most one per
    /// partition, up to `max_bytes` in total (at least one batch).
    pub(crate) fn drain(
        &mut self,
        now: Instant,
        broker: i32,
        max_bytes: usize,
    ) -> Vec<ProducerBatch> {
        let force = self.force_ready();
        let linger = self.config.linger;
        let batch_size = self.config.batch_size;
        let max_in_flight = self.config.max_in_flight.max(1);
        let idempotent = self.config.idempotent;
        if idempotent && self.producer.is_none() {
            return Vec::new();
        }
        let producer = self.producer;
        let mut out = Vec::new();
        let mut total = 0usize;
        let mut slots: Vec<(Arc<str>, usize)> = Vec::new();
        for t in self.topics.values() {
            for (i, q) in t.partitions.iter().enumerate() {
                if q.leader == Some(broker) && (q.open.is_some() || !q.ready.is_empty()) {
                    slots.push((t.name.clone(), i));
                }
            }
        }
        if slots.is_empty() {
            return out;
        }
        let start = self.drain_start % slots.len();
        self.drain_start = self.drain_start.wrapping_add(1);
        for k in 0..slots.len() {
            let Some((name, i)) = slots.get((start + k) % slots.len()) else {
                continue;
            };
            let Some(t) = self.topics.get_mut(name) else {
                continue;
            };
            let count = t.partitions.len() as i32;
            let Some(q) = t.partitions.get_mut(*i) else {
                continue;
            };
            // The open batch is sealed when it is full, or when it is due
            // (linger, flush, memory pressure, close) and is sent in this
            // very drain: next in line (nothing sealed before it), an
            // in-flight slot free and room in this request. A due batch
            // that cannot go yet stays open and keeps taking records until
            // it can (Kafka's rule), instead of being cut short while it
            // waits anyway (tiny batches under load with a short linger).
            if let Some(open) = &q.open {
                let full = open.size() >= batch_size;
                let due = force || reached(now, open.created + linger);
                let goes_now = q.ready.is_empty()
                    && !slot_busy(q, max_in_flight, idempotent)
                    && (out.is_empty() || total + open.size() <= max_bytes);
                if full || (due && goes_now) {
                    q.seal();
                    t.sticky.batch_sealed(
                        *i as i32,
                        Partitions {
                            count,
                            available: &t.available,
                        },
                    );
                }
            }
            let Some(head) = q.ready.front() else {
                continue;
            };
            if head.retry_at.is_some_and(|at| !reached(now, at))
                || slot_busy(q, max_in_flight, idempotent)
                || (head.attempts > 0 && q.in_flight > 0)
                || (!out.is_empty() && total + head.size() > max_bytes)
            {
                continue;
            }
            let Some(mut b) = q.ready.pop_front() else {
                continue;
            };
            b.stamp = Some(match (b.stamp, producer) {
                (Some(s), _) => s,
                (None, Some((producer_id, producer_epoch))) if idempotent => {
                    let s = ProducerStamp {
                        producer_id,
                        producer_epoch,
                        base_sequence: q.next_sequence,
                    };
                    q.next_sequence = next_sequence(q.next_sequence, b.record_count());
                    s
                }
                _ => ProducerStamp::NONE,
            });
            b.attempts += 1;
            b.in_flight = true;
            q.in_flight += 1;
            total += b.size();
            out.push(b);
        }
        out
    }

    /// Removes batches older than `delivery.timeout.ms` that are not in
    /// flight; the caller fails them.
    pub(crate) fn expire(&mut self, now: Instant) -> Vec<ProducerBatch> {
        let timeout = self.config.delivery_timeout;
        let expired = |b: &ProducerBatch| reached(now, b.created + timeout);
        let mut out = Vec::new();
        let mut gaps = Vec::new();
        for q in self
            .topics
            .values_mut()
            .flat_map(|t| t.partitions.iter_mut())
        {
            while q.ready.front().is_some_and(expired) {
                if let Some(b) = q.ready.pop_front() {
                    if let Some(st) = b.stamp.filter(|st| st.base_sequence >= 0) {
                        gaps.push((st.producer_id, st.producer_epoch));
                    }
                    out.push(b);
                }
            }
            if q.ready.is_empty() && q.open.as_ref().is_some_and(expired) {
                out.extend(q.open.take());
            }
        }
        for stamped in gaps {
            // A sent batch given up on leaves a hole in its partition's
            // sequence; later batches would be refused as out of order.
            // An epoch bump restarts every sequence (Kafka's fix).
            self.request_epoch_bump(stamped);
        }
        for b in &mut out {
            self.release(b);
        }
        out
    }

    /// When the accumulator next needs attention without new input: the
    /// first linger expiry, retry backoff end or delivery timeout.
    ///
    /// A sealed batch that is not sent yet has no deadline of its own
    /// unless it waits for a retry backoff: `drain` took it if it could, so
    /// it waits for an in-flight request to finish, and the sink wakes for
    /// that response anyway. (Counting it as due now made the sink spin
    /// while requests were in flight.)
    ///
    /// Likewise an open batch behind sealed ones or behind a full set of
    /// in-flight slots: `drain` leaves it open until it can go, so its
    /// linger end is no deadline either.
    ///
    /// `can_send` is false while the sink may not send at all (every
    /// request slot taken, or throttled): then only delivery timeouts
    /// count, as nothing could be drained at a linger or backoff end (a
    /// past one made the sink spin until the next response).
    ///
    /// Linger and backoff ends count only for partitions `broker` leads
    /// (another broker's sink sends those); delivery timeouts count for
    /// all, as any sink expires any batch.
    pub(crate) fn next_deadline(&self, broker: i32, can_send: bool) -> Option<Instant> {
        let linger = self.config.linger;
        let timeout = self.config.delivery_timeout;
        let max_in_flight = self.config.max_in_flight.max(1);
        let idempotent = self.config.idempotent;
        let mut next: Option<Instant> = None;
        let mut consider = |t: Instant| next = Some(next.map_or(t, |n| n.min(t)));
        for q in self.topics.values().flat_map(|t| t.partitions.iter()) {
            let ours = can_send && q.leader == Some(broker);
            if let Some(b) = &q.open {
                if ours && q.ready.is_empty() && !slot_busy(q, max_in_flight, idempotent) {
                    consider(b.created + linger);
                }
                consider(b.created + timeout);
            }
            if let Some(b) = q.ready.front() {
                if let Some(at) = b.retry_at.filter(|_| ours) {
                    consider(at);
                }
                consider(b.created + timeout);
            }
        }
        next
    }

    fn queue(&mut self, b: &ProducerBatch) -> Option<&mut PartitionQueue> {
        self.topics
            .get_mut(&*b.topic)
            .and_then(|t| t.partitions.get_mut(b.partition as usize))
    }

    /// Frees `b`'s memory, once (a batch that expired and then is failed
    /// is released by the first).
    fn release(&mut self, b: &mut ProducerBatch) {
        self.buffered = self.buffered.saturating_sub(b.accounted);
        b.accounted = 0;
        self.incomplete.remove(&b.id);
    }

    /// Keeps a completed batch's buffer for a later batch.
    fn recycle(&mut self, b: &mut ProducerBatch) {
        if self.spare.len() < SPARE_BUFFERS {
            if let Some(buf) = b.take_buffer() {
                if buf.capacity() >= FIRST_BATCH_CAPACITY {
                    self.spare.push(buf);
                }
            }
        }
    }

    /// `b` came back from the broker (or its request failed): its
    /// partition has one batch fewer in flight. Nothing for a batch that
    /// was not in flight (an expired or unbuildable one).
    fn landed(&mut self, b: &mut ProducerBatch) {
        if std::mem::take(&mut b.in_flight) {
            if let Some(q) = self.queue(b) {
                q.in_flight = q.in_flight.saturating_sub(1);
            }
        }
    }

    /// Whether senders wait for buffer space and enough is free to wake
    /// them: an eighth of `buffer.memory`. Waking them at every completed
    /// batch had the sender sleep and wake once per batch under a full
    /// buffer; with the margin it appends a burst between waits. A waiter
    /// whose record needs more than the margin is woken again by every
    /// later completion, at the latest when the buffer is empty.
    pub(crate) fn memory_wanted(&self) -> bool {
        self.memory_waiters > 0
            && self.buffered
                <= self
                    .config
                    .buffer_memory
                    .saturating_sub(self.config.buffer_memory / 8)
    }

    /// The broker acknowledged `b`; the caller finished it before this
    /// (its buffer is then kept for reuse).
    pub(crate) fn acked(&mut self, b: &mut ProducerBatch) {
        self.landed(b);
        if let Some(q) = self.queue(b) {
            q.acked_once = true;
        }
        self.release(b);
        self.recycle(b);
    }

    /// Whether an older batch of `b`'s partition waits to be resent.
    pub(crate) fn has_earlier_queued(&mut self, b: &ProducerBatch) -> bool {
        let id = b.id;
        self.queue(b)
            .is_some_and(|q| q.ready.front().is_some_and(|r| r.id < id))
    }

    /// `b` failed for good; the caller finishes it with the error.
    pub(crate) fn failed(&mut self, b: &mut ProducerBatch) {
        self.landed(b);
        self.release(b);
    }

    /// `b` will be sent again after `backoff`, before any younger batch of
    /// its partition. A batch stamped under an older producer id or epoch
    /// gets a fresh sequence when next sent.
    pub(crate) fn retry(&mut self, mut b: ProducerBatch, now: Instant, backoff: Duration) {
        b.retry_at = Some(now + backoff);
        let producer = self.producer;
        if let Some(s) = b.stamp {
            if s.base_sequence >= 0 && producer != Some((s.producer_id, s.producer_epoch)) {
                b.stamp = None;
            }
        }
        self.landed(&mut b);
        match self.queue(&b) {
            Some(q) => {
                let at = q
                    .ready
                    .iter()
                    .position(|r| r.id > b.id)
                    .unwrap_or(q.ready.len());
                q.ready.insert(at, b);
            }
            None => {
                self.release(&mut b);
                b.finish(Err(ProduceError::Closed));
            }
        }
    }

    /// Takes every queued batch (not those in flight), for shutdown.
    pub(crate) fn take_all(&mut self) -> Vec<ProducerBatch> {
        let mut out = Vec::new();
        for q in self
            .topics
            .values_mut()
            .flat_map(|t| t.partitions.iter_mut())
        {
            out.extend(q.ready.drain(..));
            out.extend(q.open.take());
        }
        for b in &mut out {
            self.release(b);
        }
        out
    }
}

/// The hash of the topic map, looked up on every send: a word at a time
/// (FxHash's mixing step) instead of SipHash, which cost about 250
/// instructions per send for a 30-byte name. Topic names come from the
/// application, not from the network, so flooding resistance is not needed.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct TopicHasher(u64);

impl Hasher for TopicHasher {
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(K);
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.0 =
                (self.0.rotate_left(5) ^ u64::from_le_bytes(w) ^ rest.len() as u64).wrapping_mul(K);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// An upper bound of one record's encoded size: its bytes plus the largest
/// varint for every length, delta and count (cheaper than the exact size,
/// which walks the same fields through varint length computations).
fn record_size_bound(key: Option<&[u8]>, value: Option<&[u8]>, headers: &[Header]) -> usize {
    const VARINT32: usize = 5;
    const VARINT64: usize = 10;
    // length, attributes, timestamp delta, offset delta, key and value
    // lengths, header count
    let fixed = VARINT32 + 1 + VARINT64 + VARINT32 + VARINT32 + VARINT32 + VARINT32;
    let header_bytes: usize = headers
        .iter()
        .map(|h| 2 * VARINT32 + h.key.len() + h.value.as_ref().map_or(0, |v| v.len()))
        .sum();
    fixed + key.map_or(0, <[u8]>::len) + value.map_or(0, <[u8]>::len) + header_bytes
}

/// Whether `q` may not send another batch until a response comes back:
/// `max.in.flight` batches out, or (idempotence) one batch out before the
/// partition's first acknowledgement.
fn slot_busy(q: &PartitionQueue, max_in_flight: usize, idempotent: bool) -> bool {
    q.in_flight >= max_in_flight || (idempotent && !q.acked_once && q.in_flight > 0)
}

/// Kafka's sequence arithmetic: wraps from `i32::MAX` to 0.
fn next_sequence(seq: i32, records: u32) -> i32 {
    let next = i64::from(seq) + i64::from(records);
    (next % (i64::from(i32::MAX) + 1)) as i32
}

#[cfg(test)]
#[path = "accumulator_tests.rs"]
mod tests;
