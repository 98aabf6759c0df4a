//! One partition's batch on its way: appended in place, sealed, built once
//! (compressed once), restamped on retry, completed exactly once.
//!
//! ```text
//! Open(RecordBatchBuilder) ──seal/drain──▶ build(pid, epoch, seq) ──▶ Built(FinishedBatch)
//!        append…                                  │ retry: set_producer_state (header + CRC only)
//!                                                 ▼
//!                                  finish(outcome): futures + callbacks, once
//! ```
//!
//! A batch that is dropped without being finished (the producer went away)
//! completes its records with [`ProduceError::Closed`]: nobody ever waits
//! forever, and nothing undelivered is reported delivered.

use std::sync::Arc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use klamm_protocol::compression::Compression;
use klamm_protocol::records::{FinishedBatch, Header, RecordBatchBuilder, RecordsError};

use super::delivery::{BatchAck, BatchCompletion, Delivery, HandlerRef, Report, record_result};
use super::error::ProduceError;

/// The producer fields stamped into a batch header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ProducerStamp {
    pub(crate) producer_id: i64,
    pub(crate) producer_epoch: i16,
    pub(crate) base_sequence: i32,
}

impl ProducerStamp {
    /// Not idempotent: Kafka's "no producer" values.
    pub(crate) const NONE: ProducerStamp = ProducerStamp {
        producer_id: -1,
        producer_epoch: -1,
        base_sequence: -1,
    };
}

enum Body {
    Open(RecordBatchBuilder),
    Built(FinishedBatch),
    /// Only while `build` moves the builder out.
    Taken,
}

struct ReportSlot {
    index: u32,
    timestamp: i64,
    report: Report,
}

/// Report slots a batch makes room for at its first one: a batch.size
/// batch of small records holds about this many, so the vector rarely
/// grows while it fills.
const FIRST_REPORT_SLOTS: usize = 128;

/// Where a new batch's records go.
#[derive(Debug)]
pub(crate) enum BatchBuffer {
    /// A new buffer with this capacity.
    Fresh(usize),
    /// The buffer of a completed batch.
    Reused(BytesMut),
}

/// A batch for one partition.
pub(crate) struct ProducerBatch {
    pub(crate) id: u64,
    pub(crate) topic: Arc<str>,
    pub(crate) partition: i32,
    body: Body,
    records: u32,
    /// Bytes counted against `buffer.memory` for this batch.
    pub(crate) accounted: usize,
    pub(crate) created: Instant,
    /// Sends so far (0 = never sent).
    pub(crate) attempts: u32,
    /// Counted in its partition's in-flight batches (drained and not yet
    /// acknowledged, failed or requeued).
    pub(crate) in_flight: bool,
    /// Not to be sent again before this (retry backoff).
    pub(crate) retry_at: Option<Instant>,
    /// The sequence given at the first send (idempotent producers); a retry
    /// keeps it.
    pub(crate) stamp: Option<ProducerStamp>,
    /// The last retriable error, for the delivery-timeout message.
    pub(crate) last_error: Option<String>,
    completion: Arc<BatchCompletion>,
    reports: Vec<ReportSlot>,
    /// The producer's delivery handler, taken at the first tagged record.
    handler: Option<HandlerRef>,
    finished: bool,
}

impl std::fmt::Debug for ProducerBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProducerBatch")
            .field("id", &self.id)
            .field("topic", &self.topic)
            .field("partition", &self.partition)
            .field("records", &self.records)
            .field("size", &self.size())
            .field("attempts", &self.attempts)
            .field("stamp", &self.stamp)
            .finish_non_exhaustive()
    }
}

impl ProducerBatch {
    pub(crate) fn new(
        id: u64,
        topic: Arc<str>,
        partition: i32,
        compression: Compression,
        level: Option<i32>,
        buffer: BatchBuffer,
        now: Instant,
    ) -> Self {
        let builder = match buffer {
            BatchBuffer::Fresh(capacity) => {
                RecordBatchBuilder::with_capacity(compression, capacity)
            }
            BatchBuffer::Reused(buf) => RecordBatchBuilder::with_buffer(compression, buf),
        };
        ProducerBatch {
            id,
            topic,
            partition,
            body: Body::Open(builder.compression_level(level)),
            records: 0,
            accounted: 0,
            created: now,
            attempts: 0,
            in_flight: false,
            retry_at: None,
            stamp: None,
            last_error: None,
            completion: BatchCompletion::new(partition),
            reports: Vec::new(),
            handler: None,
            finished: false,
        }
    }

    /// Records in the batch.
    pub(crate) fn record_count(&self) -> u32 {
        self.records
    }

    /// Size now: uncompressed while open, on the wire once built.
    pub(crate) fn size(&self) -> usize {
        match &self.body {
            Body::Open(b) => b.estimated_size(),
            Body::Built(f) => f.len(),
            Body::Taken => 0,
        }
    }

    /// Appends a record if the batch stays within `max_bytes` (an empty
    /// batch takes any record); returns its index, or `None` (and the
    /// batch unchanged) when it does not fit or the batch is built.
    #[inline]
    pub(crate) fn try_append(
        &mut self,
        max_bytes: usize,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header],
    ) -> Result<Option<u32>, ProduceError> {
        let Body::Open(b) = &mut self.body else {
            return Ok(None);
        };
        let index = b
            .append_within(max_bytes, timestamp, key, value, headers)
            .map_err(|e| ProduceError::Records(Arc::new(e)))?;
        if index.is_some() {
            self.records += 1;
        }
        Ok(index.map(|i| i as u32))
    }

    /// The delivery future of the record at `index` (only records without
    /// another report get one: it costs a reference count on the batch's
    /// completion, touched again by the sink when it completes).
    pub(crate) fn delivery(&self, index: u32, timestamp: i64) -> Delivery {
        Delivery::new(self.completion.clone(), index, timestamp)
    }

    /// Registers how the record at `index` is reported; a tag needs the
    /// producer's `handler` (the caller checked there is one).
    pub(crate) fn add_report(
        &mut self,
        index: u32,
        timestamp: i64,
        report: Report,
        handler: Option<&HandlerRef>,
    ) {
        if matches!(report, Report::Tag(_)) && self.handler.is_none() {
            self.handler = handler.cloned();
        }
        if self.reports.capacity() == 0 {
            self.reports.reserve(FIRST_REPORT_SLOTS);
        }
        self.reports.push(ReportSlot {
            index,
            timestamp,
            report,
        });
    }

    /// The wire bytes stamped with `stamp`: built (compressed) the first
    /// time, afterwards only the header and CRC are rewritten if the stamp
    /// changed.
    pub(crate) fn wire_bytes(&mut self, stamp: ProducerStamp) -> Result<Bytes, RecordsError> {
        match std::mem::replace(&mut self.body, Body::Taken) {
            Body::Open(b) => {
                let built = b
                    .producer(stamp.producer_id, stamp.producer_epoch, stamp.base_sequence)
                    .build()?;
                let bytes = built.bytes().clone();
                self.body = Body::Built(built);
                Ok(bytes)
            }
            Body::Built(mut f) => {
                let h = f.header();
                if h.producer_id != stamp.producer_id
                    || h.producer_epoch != stamp.producer_epoch
                    || h.base_sequence != stamp.base_sequence
                {
                    f.set_producer_state(
                        stamp.producer_id,
                        stamp.producer_epoch,
                        stamp.base_sequence,
                    );
                }
                let bytes = f.bytes().clone();
                self.body = Body::Built(f);
                Ok(bytes)
            }
            Body::Taken => Ok(Bytes::new()),
        }
    }

    /// The batch's buffer, for another batch, once it is completed and
    /// nothing else holds its bytes (the request that carried them is
    /// gone). `None` otherwise, or if it was never built.
    pub(crate) fn take_buffer(&mut self) -> Option<BytesMut> {
        if !self.finished {
            return None;
        }
        match std::mem::replace(&mut self.body, Body::Taken) {
            Body::Built(f) => f.into_bytes().try_into_mut().ok(),
            other => {
                self.body = other;
                None
            }
        }
    }

    /// Completes every record of the batch, once; later calls do nothing.
    /// Runs the callbacks here, on the caller's task.
    pub(crate) fn finish(&mut self, outcome: Result<BatchAck, ProduceError>) {
        if self.finished {
            return;
        }
        self.finished = true;
        for slot in std::mem::take(&mut self.reports) {
            let result = record_result(&outcome, self.partition, slot.index, slot.timestamp);
            match slot.report {
                Report::Closure(callback) => callback(result),
                Report::Tag(tag) => {
                    if let Some(h) = &self.handler {
                        (h.0)(tag, result);
                    }
                }
            }
        }
        self.completion.complete(outcome);
    }
}

impl Drop for ProducerBatch {
    fn drop(&mut self) {
        self.finish(Err(ProduceError::Closed));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use klamm_protocol::records::WireBatch;
    use std::sync::Mutex;

    fn batch(c: Compression) -> ProducerBatch {
        ProducerBatch::new(
            1,
            "t".into(),
            2,
            c,
            None,
            BatchBuffer::Fresh(1024),
            Instant::now(),
        )
    }

    #[test]
    fn built_once_and_restamped_on_retry() {
        let mut b = batch(Compression::Lz4);
        for i in 0..10u8 {
            b.try_append(
                usize::MAX,
                1000 + i64::from(i),
                Some(&[i]),
                Some(b"value"),
                &[],
            )
            .unwrap()
            .unwrap();
        }
        let stamp = ProducerStamp {
            producer_id: 7,
            producer_epoch: 1,
            base_sequence: 100,
        };
        let first = b.wire_bytes(stamp).unwrap();
        let again = b.wire_bytes(stamp).unwrap();
        assert_eq!(first, again, "same stamp: the same bytes, not rebuilt");
        let restamped = b
            .wire_bytes(ProducerStamp {
                producer_epoch: 2,
                base_sequence: 0,
                ..stamp
            })
            .unwrap();
        let wire = WireBatch::parse(restamped).unwrap();
        wire.verify_crc().unwrap();
        let h = wire.header();
        assert_eq!(
            (h.producer_id, h.producer_epoch, h.base_sequence),
            (7, 2, 0)
        );
        assert_eq!(h.record_count, 10);
        let keys: Vec<u8> = wire
            .records(1 << 20)
            .unwrap()
            .map(|r| r.unwrap().key().unwrap()[0])
            .collect();
        assert_eq!(keys, (0..10).collect::<Vec<_>>());
    }

    #[test]
    fn callbacks_run_once_and_dropping_reports_closed() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let mut b = batch(Compression::None);
        let d = b
            .try_append(usize::MAX, 5, None, Some(b"v"), &[])
            .unwrap()
            .unwrap();
        let d = b.delivery(d, 5);
        let s = seen.clone();
        b.add_report(
            1,
            6,
            Report::Closure(Box::new(move |r| {
                s.lock().unwrap().push(r.map(|m| m.offset))
            })),
            None,
        );
        b.finish(Ok(BatchAck {
            base_offset: 10,
            log_append_time: -1,
        }));
        b.finish(Err(ProduceError::Closed));
        drop(b);
        assert_eq!(seen.lock().unwrap().len(), 1);
        assert!(matches!(seen.lock().unwrap()[0], Ok(11)));
        drop(d);

        let s = seen.clone();
        let mut b = batch(Compression::None);
        b.try_append(usize::MAX, 5, None, Some(b"v"), &[])
            .unwrap()
            .unwrap();
        b.add_report(
            0,
            5,
            Report::Closure(Box::new(move |r| {
                s.lock().unwrap().push(r.map(|m| m.offset))
            })),
            None,
        );
        drop(b);
        assert!(matches!(seen.lock().unwrap()[1], Err(ProduceError::Closed)));
    }

    #[test]
    fn tagged_records_reach_the_handler_once_with_their_own_offsets() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        let handler = HandlerRef(Arc::new(move |tag, r| {
            s.lock().unwrap().push((tag, r.map(|m| m.offset).ok()));
        }));
        let mut b = batch(Compression::None);
        for tag in [70, 71, 72] {
            b.try_append(usize::MAX, 5, None, Some(b"v"), &[])
                .unwrap()
                .unwrap();
            let index = b.record_count() - 1;
            b.add_report(index, 5, Report::Tag(tag), Some(&handler));
        }
        b.finish(Ok(BatchAck {
            base_offset: 100,
            log_append_time: -1,
        }));
        drop(b);
        assert_eq!(
            *seen.lock().unwrap(),
            vec![(70, Some(100)), (71, Some(101)), (72, Some(102))]
        );

        // Never finished: the handler hears Closed when the batch goes away.
        let mut b = batch(Compression::None);
        b.try_append(usize::MAX, 5, None, Some(b"v"), &[])
            .unwrap()
            .unwrap();
        b.add_report(0, 5, Report::Tag(9), Some(&handler));
        drop(b);
        assert_eq!(seen.lock().unwrap().last(), Some(&(9, None)));
    }
}
