//! Test support: a Produce and InitProducerId implementation for the mock
//! cluster that keeps every partition's log and applies Kafka's idempotence
//! rules (per producer id: the next sequence is appended, a repeat of a
//! recent batch is answered with its original offset, a gap is
//! OUT_OF_ORDER_SEQUENCE_NUMBER, an older epoch INVALID_PRODUCER_EPOCH;
//! InitProducerId v3+ with the current id and epoch bumps the epoch).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use klamm_protocol::generated::produce::response::{
    PartitionProduceResponse, TopicProduceResponse,
};
use klamm_protocol::generated::{AnyRequest, AnyResponse, InitProducerIdResponse, ProduceResponse};
use klamm_protocol::records::{BatchHeader, WireBatch};
use klamm_protocol::{ApiKey, ErrorCode, StrBytes};

use crate::mock::{MockCluster, MockContext};

/// One record as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stored {
    pub(crate) key: Option<Bytes>,
    pub(crate) value: Option<Bytes>,
    pub(crate) producer_id: i64,
    pub(crate) producer_epoch: i16,
}

/// Per producer id: (epoch, last sequence, recent batches as (first
/// sequence, base offset)).
type ProducerState = (i16, i32, Vec<(i32, i64)>);

#[derive(Debug, Default)]
pub(crate) struct PartitionLog {
    pub(crate) records: Vec<Stored>,
    producers: HashMap<i64, ProducerState>,
    /// A batch already answered but applied only after the next batch of
    /// the partition was checked (see [`MockLog::reorder_next`]).
    deferred: Option<(BatchHeader, Vec<Stored>)>,
}

#[derive(Debug, Default)]
pub(crate) struct MockLog {
    pub(crate) partitions: Mutex<HashMap<(String, i32), PartitionLog>>,
    next_producer_id: AtomicI64,
    /// Throttle to announce in the next Produce responses.
    pub(crate) throttle_ms: AtomicI32,
    /// Makes the next idempotent batch overtaken by the one after it, as a
    /// broker that handles pipelined requests concurrently can: it is
    /// answered at once with its offset, but the partition checks the next
    /// batch before applying it (so that one is OUT_OF_ORDER_SEQUENCE).
    pub(crate) reorder_next: AtomicBool,
    /// Error message to put next to injected error codes.
    pub(crate) message: Mutex<Option<String>>,
    /// Every InitProducerId request: (version, producer id, epoch).
    pub(crate) init_requests: Mutex<Vec<(i16, i64, i16)>>,
    /// The epoch last given out per producer id (for KIP-360 bumps).
    pub(crate) epochs: Mutex<HashMap<i64, i16>>,
}

impl MockLog {
    /// Installs the handlers on `cluster`.
    pub(crate) fn install(cluster: &MockCluster) -> Arc<MockLog> {
        let log = Arc::new(MockLog {
            next_producer_id: AtomicI64::new(1000),
            ..MockLog::default()
        });
        let l = log.clone();
        cluster.handle(ApiKey::Produce, move |ctx, req| match req {
            AnyRequest::Produce(r) => Some(AnyResponse::Produce(Box::new(l.produce(ctx, r)))),
            _ => None,
        });
        let l = log.clone();
        cluster.handle(ApiKey::InitProducerId, move |ctx, req| {
            let AnyRequest::InitProducerId(req) = req else {
                return None;
            };
            l.init_requests.lock().unwrap().push((
                ctx.version,
                req.producer_id,
                req.producer_epoch,
            ));
            let mut r = InitProducerIdResponse::default();
            let mut epochs = l.epochs.lock().unwrap();
            match ctx.injected_error {
                Some(code) => r.error_code = code.code(),
                // KIP-360: the current id and epoch get the next epoch.
                None if req.producer_id >= 0 => match epochs.get_mut(&req.producer_id) {
                    Some(e) if *e == req.producer_epoch && *e < i16::MAX => {
                        *e += 1;
                        r.producer_id = req.producer_id;
                        r.producer_epoch = *e;
                    }
                    _ => r.error_code = ErrorCode::InvalidProducerEpoch.code(),
                },
                None => {
                    r.producer_id = l.next_producer_id.fetch_add(1, Ordering::SeqCst);
                    r.producer_epoch = 0;
                    epochs.insert(r.producer_id, 0);
                }
            }
            Some(AnyResponse::InitProducerId(Box::new(r)))
        });
        log
    }

    /// A partition's records.
    pub(crate) fn records(&self, topic: &str, partition: i32) -> Vec<Stored> {
        self.partitions
            .lock()
            .unwrap()
            .get(&(topic.to_owned(), partition))
            .map(|p| p.records.clone())
            .unwrap_or_default()
    }

    /// Records over all partitions of `topic`.
    pub(crate) fn total(&self, topic: &str) -> usize {
        self.partitions
            .lock()
            .unwrap()
            .iter()
            .filter(|((t, _), _)| t == topic)
            .map(|(_, p)| p.records.len())
            .sum()
    }

    fn produce(
        &self,
        ctx: &MockContext,
        r: &klamm_protocol::generated::ProduceRequest,
    ) -> ProduceResponse {
        let mut out = ProduceResponse::default();
        out.throttle_time_ms = self.throttle_ms.load(Ordering::SeqCst);
        for t in &r.topic_data {
            let mut tr = TopicProduceResponse::default();
            tr.name = t.name.clone();
            for p in &t.partition_data {
                let mut pr = PartitionProduceResponse::default();
                pr.index = p.index;
                pr.base_offset = -1;
                let leader = ctx.leader(t.name.as_str(), p.index).map(|(l, _)| l);
                let code = if leader != Some(ctx.broker) {
                    ErrorCode::NotLeaderOrFollower
                } else if let Some(code) = ctx.injected_error {
                    pr.error_message = self.message.lock().unwrap().clone().map(StrBytes::from);
                    code
                } else {
                    match self.append(
                        t.name.as_str(),
                        p.index,
                        p.records.clone().unwrap_or_default(),
                    ) {
                        Ok(base) => {
                            pr.base_offset = base;
                            ErrorCode::None
                        }
                        Err(code) => code,
                    }
                };
                pr.error_code = code.code();
                tr.partition_responses.push(pr);
            }
            out.responses.push(tr);
        }
        out
    }

    fn append(&self, topic: &str, partition: i32, bytes: Bytes) -> Result<i64, ErrorCode> {
        let batch = WireBatch::parse(bytes).map_err(|_| ErrorCode::CorruptMessage)?;
        batch.verify_crc().map_err(|_| ErrorCode::CorruptMessage)?;
        let h = *batch.header();
        let records: Vec<_> = batch
            .records(1 << 26)
            .map_err(|_| ErrorCode::CorruptMessage)?
            .collect::<Result<_, _>>()
            .map_err(|_| ErrorCode::CorruptMessage)?;
        if records.len() != h.record_count as usize {
            return Err(ErrorCode::CorruptMessage);
        }
        let stored: Vec<Stored> = records
            .into_iter()
            .map(|r| Stored {
                key: r.key_bytes(),
                value: r.value_bytes(),
                producer_id: h.producer_id,
                producer_epoch: h.producer_epoch,
            })
            .collect();
        let mut parts = self.partitions.lock().unwrap();
        let log = parts.entry((topic.to_owned(), partition)).or_default();
        if h.producer_id >= 0
            && log.deferred.is_none()
            && self.reorder_next.swap(false, Ordering::SeqCst)
        {
            let base = log.records.len() as i64;
            log.deferred = Some((h, stored));
            return Ok(base);
        }
        let result = log.apply(&h, stored);
        if let Some((dh, ds)) = log.deferred.take() {
            // The overtaken batch lands now; it was already answered.
            let _ = log.apply(&dh, ds);
        }
        result
    }
}

impl PartitionLog {
    /// Appends one batch under Kafka's idempotence rules.
    fn apply(&mut self, h: &BatchHeader, stored: Vec<Stored>) -> Result<i64, ErrorCode> {
        let base = self.records.len() as i64;
        if h.producer_id >= 0 {
            let last_seq = h.base_sequence + h.record_count - 1;
            match self.producers.get_mut(&h.producer_id) {
                Some((epoch, ..)) if *epoch > h.producer_epoch => {
                    // A batch of a fenced (older) epoch.
                    return Err(ErrorCode::InvalidProducerEpoch);
                }
                Some((epoch, last, recent)) if *epoch == h.producer_epoch => {
                    if let Some(&(_, offset)) = recent.iter().find(|(s, _)| *s == h.base_sequence) {
                        return Ok(offset); // a duplicate: Kafka answers with the original offset
                    }
                    if h.base_sequence != last.wrapping_add(1) {
                        return Err(ErrorCode::OutOfOrderSequenceNumber);
                    }
                    *last = last_seq;
                    recent.push((h.base_sequence, base));
                    if recent.len() > 5 {
                        recent.remove(0);
                    }
                }
                _ => {
                    if h.base_sequence != 0 {
                        return Err(ErrorCode::OutOfOrderSequenceNumber);
                    }
                    self.producers
                        .insert(h.producer_id, (h.producer_epoch, last_seq, vec![(0, base)]));
                }
            }
        }
        self.records.extend(stored);
        Ok(base)
    }
}
