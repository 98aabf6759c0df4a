//! Test support: Fetch and ListOffsets for the mock cluster, with a log per
//! partition and Kafka's fetch sessions (KIP-227), modelled on the broker's
//! rules:
//!
//! - epoch -1: sessionless full fetch (closing the session if an id is given);
//! - epoch 0: full fetch creating a session (replacing the given one), or
//!   session id 0 in the answer when sessions are switched off;
//! - epoch n > 0: incremental; an unknown id is FETCH_SESSION_ID_NOT_FOUND,
//!   a wrong epoch INVALID_FETCH_SESSION_EPOCH; otherwise the forgotten
//!   partitions leave the session, the sent ones are added or updated, and
//!   the answer holds only the session's partitions that have records, an
//!   error, or watermarks that changed since they were last answered.
//!
//! Every request is recorded, so tests can assert what was sent.
//!
//! Transactions are modelled as a broker serves them (KIP-98): a
//! read_committed Fetch gets batches below the last stable offset only
//! (the first offset of the oldest open transaction) and the aborted
//! transactions that overlap what it may read; read_uncommitted gets the
//! whole log and no aborted list.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use klamm_protocol::compression::Compression;
use klamm_protocol::generated::fetch::response::{
    AbortedTransaction, FetchableTopicResponse, PartitionData,
};
use klamm_protocol::generated::{AnyRequest, AnyResponse, FetchRequest, FetchResponse};
use klamm_protocol::records::{ControlRecord, ControlRecordType, RecordBatchBuilder};
use klamm_protocol::{ApiKey, ErrorCode, StrBytes};

use super::mock_list_offsets;
use crate::mock::{MockCluster, MockContext};

type Key = (String, i32);

/// One partition as the session holds it.
#[derive(Debug, Clone, Default)]
struct Cached {
    fetch_offset: i64,
    leader_epoch: i32,
    /// Watermarks as last answered (-2: never answered).
    answered: (i64, i64),
}

#[derive(Debug)]
struct Session {
    broker: i32,
    /// The epoch the next request must carry.
    epoch: i32,
    partitions: BTreeMap<Key, Cached>,
}

/// One Fetch as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SeenFetch {
    pub(crate) broker: i32,
    pub(crate) session_id: i32,
    pub(crate) epoch: i32,
    /// (topic, partition, fetch offset) in request order.
    pub(crate) partitions: Vec<(String, i32, i64)>,
    pub(crate) forgotten: Vec<(String, i32)>,
    /// The top-level error answered.
    pub(crate) error: ErrorCode,
    /// The session id answered.
    pub(crate) answered_session: i32,
    /// Partitions in the answer.
    pub(crate) answered: Vec<(String, i32)>,
    /// Fetch `rack_id` (v11+).
    pub(crate) rack_id: String,
}

impl SeenFetch {
    /// Partition numbers sent in the request, sorted (the client rotates
    /// their order).
    pub(crate) fn sent(&self) -> Vec<i32> {
        let mut v: Vec<i32> = self.partitions.iter().map(|p| p.1).collect();
        v.sort_unstable();
        v
    }
    /// Partition numbers forgotten, sorted.
    pub(crate) fn forgot(&self) -> Vec<i32> {
        let mut v: Vec<i32> = self.forgotten.iter().map(|p| p.1).collect();
        v.sort_unstable();
        v
    }
}

#[derive(Debug, Default)]
struct Inner {
    /// Batches per partition: (base offset, last offset, bytes).
    logs: HashMap<Key, Vec<(i64, i64, Bytes)>>,
    sessions: HashMap<i32, Session>,
    next_session_id: i32,
    no_sessions: bool,
    seen: Vec<SeenFetch>,
    /// Preferred read replica to answer per partition (KIP-392).
    preferred: HashMap<Key, i32>,
    /// Transactions per partition.
    txns: HashMap<Key, Txns>,
}

/// One partition's transactions.
#[derive(Debug, Default)]
struct Txns {
    /// Open transactions: producer id to first offset.
    open: BTreeMap<i64, i64>,
    /// Aborted transactions: (producer id, first offset, marker offset).
    aborted: Vec<(i64, i64, i64)>,
}

impl Txns {
    /// The last stable offset for a log ending at `end`.
    fn lso(&self, end: i64) -> i64 {
        self.open
            .values()
            .copied()
            .min()
            .map_or(end, |f| f.min(end))
    }
}

/// Partition logs and fetch sessions served by the mock cluster.
#[derive(Debug, Default)]
pub(crate) struct MockFetch {
    inner: Mutex<Inner>,
}

impl MockFetch {
    /// Installs the Fetch and ListOffsets handlers on `cluster`.
    pub(crate) fn install(cluster: &MockCluster) -> Arc<Self> {
        let me = Arc::new(Self::default());
        let m = me.clone();
        cluster.handle(ApiKey::Fetch, move |ctx, req| match req {
            AnyRequest::Fetch(r) => Some(AnyResponse::Fetch(Box::new(m.fetch(ctx, r)))),
            _ => None,
        });
        let m = me.clone();
        mock_list_offsets::install(cluster, move |topic, partition, isolation| {
            // read_committed's latest is the last stable offset.
            if isolation == 1 {
                m.lso(topic, partition)
            } else {
                m.end(topic, partition)
            }
        });
        me
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends one batch of `n` records (values `v<offset>`).
    pub(crate) fn append(&self, topic: &str, partition: i32, n: i32) {
        self.push(topic, partition, |base| {
            let mut b = RecordBatchBuilder::new(Compression::None).base_offset(base);
            for i in 0..n {
                let v = format!("v{}", base + i64::from(i));
                b.append(1, None, Some(v.as_bytes()), &[]).expect("append");
            }
            b
        });
    }

    /// Appends one transactional batch of `n` records (values `t<offset>`)
    /// from `producer_id`, opening its transaction if none is open.
    pub(crate) fn append_txn(&self, topic: &str, partition: i32, producer_id: i64, n: i32) {
        let base = self.push(topic, partition, |base| {
            let mut b = RecordBatchBuilder::new(Compression::None)
                .base_offset(base)
                .producer(producer_id, 0, 0)
                .transactional(true);
            for i in 0..n {
                let v = format!("t{}", base + i64::from(i));
                b.append(1, None, Some(v.as_bytes()), &[]).expect("append");
            }
            b
        });
        let mut inner = self.lock();
        let txns = inner.txns.entry((topic.to_owned(), partition)).or_default();
        txns.open.entry(producer_id).or_insert(base);
    }

    /// Ends `producer_id`'s open transaction with a commit or abort
    /// marker (a control batch of one record).
    pub(crate) fn end_txn(&self, topic: &str, partition: i32, producer_id: i64, commit: bool) {
        let kind = if commit {
            ControlRecordType::Commit
        } else {
            ControlRecordType::Abort
        };
        let marker = self.push(topic, partition, |base| {
            let mut b = RecordBatchBuilder::new(Compression::None)
                .base_offset(base)
                .producer(producer_id, 0, -1)
                .transactional(true)
                .control(true);
            b.append_control(1, &ControlRecord::new(kind, 0))
                .expect("marker");
            b
        });
        let mut inner = self.lock();
        let txns = inner.txns.entry((topic.to_owned(), partition)).or_default();
        let first = txns.open.remove(&producer_id).expect("an open transaction");
        if !commit {
            txns.aborted.push((producer_id, first, marker));
        }
    }

    /// Builds a batch at the log end and appends it; returns its base
    /// offset.
    fn push(
        &self,
        topic: &str,
        partition: i32,
        build: impl FnOnce(i64) -> RecordBatchBuilder,
    ) -> i64 {
        let mut inner = self.lock();
        let log = inner.logs.entry((topic.to_owned(), partition)).or_default();
        let base = log.last().map_or(0, |b| b.1 + 1);
        let batch = build(base).build().expect("build");
        let last = base + i64::from(batch.header().last_offset_delta);
        log.push((base, last, batch.into_bytes()));
        base
    }

    /// The log end offset.
    pub(crate) fn end(&self, topic: &str, partition: i32) -> i64 {
        self.lock()
            .logs
            .get(&(topic.to_owned(), partition))
            .and_then(|l| l.last())
            .map_or(0, |b| b.1 + 1)
    }

    /// The last stable offset.
    pub(crate) fn lso(&self, topic: &str, partition: i32) -> i64 {
        let end = self.end(topic, partition);
        self.lock()
            .txns
            .get(&(topic.to_owned(), partition))
            .map_or(end, |t| t.lso(end))
    }

    /// Answers session id 0 to every session-creating request.
    pub(crate) fn disable_sessions(&self) {
        self.lock().no_sessions = true;
    }

    /// Drops every session, as a restarted broker or cache eviction would:
    /// the next incremental fetch gets FETCH_SESSION_ID_NOT_FOUND.
    pub(crate) fn evict_sessions(&self) {
        self.lock().sessions.clear();
    }

    /// Moves every session's expected epoch on, so the next incremental
    /// fetch gets INVALID_FETCH_SESSION_EPOCH.
    pub(crate) fn skew_epochs(&self) {
        for s in self.lock().sessions.values_mut() {
            s.epoch += 7;
        }
    }

    /// Open sessions.
    pub(crate) fn session_count(&self) -> usize {
        self.lock().sessions.len()
    }

    /// Answers `preferred_read_replica` for a partition to fetchers that
    /// send a rack id, and lets that broker serve it (-1: none).
    pub(crate) fn set_preferred_replica(&self, topic: &str, partition: i32, broker: i32) {
        self.lock()
            .preferred
            .insert((topic.to_owned(), partition), broker);
    }

    /// Every Fetch received so far.
    pub(crate) fn seen(&self) -> Vec<SeenFetch> {
        self.lock().seen.clone()
    }

    /// Forgets the recorded requests.
    pub(crate) fn clear_seen(&self) {
        self.lock().seen.clear();
    }

    fn fetch(&self, ctx: &MockContext, req: &FetchRequest) -> FetchResponse {
        let mut inner = self.lock();
        let partitions: Vec<(String, i32, i64)> = req
            .topics
            .iter()
            .flat_map(|t| {
                t.partitions
                    .iter()
                    .map(|p| (t.topic.as_str().to_owned(), p.partition, p.fetch_offset))
            })
            .collect();
        let forgotten: Vec<(String, i32)> = req
            .forgotten_topics_data
            .iter()
            .flat_map(|t| {
                t.partitions
                    .iter()
                    .map(|p| (t.topic.as_str().to_owned(), *p))
            })
            .collect();
        let mut seen = SeenFetch {
            broker: ctx.broker,
            session_id: req.session_id,
            epoch: req.session_epoch,
            partitions: partitions.clone(),
            forgotten: forgotten.clone(),
            error: ErrorCode::None,
            answered_session: 0,
            answered: Vec::new(),
            rack_id: req.rack_id.as_str().to_owned(),
        };
        let requested = || -> BTreeMap<Key, Cached> {
            req.topics
                .iter()
                .flat_map(|t| {
                    t.partitions.iter().map(|p| {
                        (
                            (t.topic.as_str().to_owned(), p.partition),
                            Cached {
                                fetch_offset: p.fetch_offset,
                                leader_epoch: p.current_leader_epoch,
                                answered: (-2, -2),
                            },
                        )
                    })
                })
                .collect()
        };
        // Which partitions to consider, and the session answered.
        let (mut considered, session_id, incremental) = if req.session_epoch < 0 {
            inner.sessions.remove(&req.session_id);
            (requested(), 0, false)
        } else if req.session_epoch == 0 {
            inner.sessions.remove(&req.session_id);
            if inner.no_sessions {
                (requested(), 0, false)
            } else {
                inner.next_session_id += 1;
                let id = inner.next_session_id;
                (requested(), id, false)
            }
        } else {
            let error = match inner.sessions.get(&req.session_id) {
                Some(s) if s.broker == ctx.broker => {
                    (s.epoch != req.session_epoch).then_some(ErrorCode::InvalidFetchSessionEpoch)
                }
                _ => Some(ErrorCode::FetchSessionIdNotFound),
            };
            if let Some(error) = error {
                seen.error = error;
                inner.seen.push(seen);
                return FetchResponse::default().with_error_code(error.code());
            }
            let Some(session) = inner.sessions.remove(&req.session_id) else {
                return FetchResponse::default();
            };
            let mut parts = session.partitions;
            for key in &forgotten {
                parts.remove(key);
            }
            for (key, c) in requested() {
                let answered = parts.get(&key).map_or((-2, -2), |old| old.answered);
                parts.insert(key, Cached { answered, ..c });
            }
            (parts, req.session_id, true)
        };

        let mut topics: Vec<FetchableTopicResponse> = Vec::new();
        for (key, cached) in considered.iter_mut() {
            let data = partition_data(
                &inner,
                ctx,
                key,
                cached,
                !req.rack_id.is_empty(),
                req.isolation_level == 1,
            );
            let watermarks = (data.high_watermark, data.log_start_offset);
            let has_records = data.records.as_ref().is_some_and(|r| !r.is_empty());
            let include = !incremental
                || has_records
                || data.error_code != 0
                || data.preferred_read_replica >= 0
                || watermarks != cached.answered;
            if !include {
                continue;
            }
            cached.answered = watermarks;
            seen.answered.push(key.clone());
            match topics.last_mut() {
                Some(t) if t.topic.as_str() == key.0 => t.partitions.push(data),
                _ => topics.push(
                    FetchableTopicResponse::default()
                        .with_topic(StrBytes::from(key.0.clone()))
                        .with_partitions(vec![data]),
                ),
            }
        }
        if session_id != 0 {
            inner.sessions.insert(
                session_id,
                Session {
                    broker: ctx.broker,
                    epoch: if incremental {
                        req.session_epoch + 1
                    } else {
                        1
                    },
                    partitions: considered,
                },
            );
        }
        seen.answered_session = session_id;
        inner.seen.push(seen);
        FetchResponse::default()
            .with_session_id(session_id)
            .with_responses(topics)
    }
}

/// Records from the fetch offset, or the partition's error.
fn partition_data(
    inner: &Inner,
    ctx: &MockContext,
    key: &Key,
    cached: &Cached,
    has_rack: bool,
    read_committed: bool,
) -> PartitionData {
    let batches = inner.logs.get(key).map(Vec::as_slice).unwrap_or(&[]);
    let end = batches.last().map_or(0, |b| b.1 + 1);
    let txns = inner.txns.get(key);
    let lso = txns.map_or(end, |t| t.lso(end));
    let data = PartitionData::default()
        .with_partition_index(key.1)
        .with_high_watermark(end)
        .with_last_stable_offset(lso)
        .with_log_start_offset(0)
        .with_preferred_read_replica(-1);
    let Some((leader, epoch)) = ctx.leader(&key.0, key.1) else {
        return data.with_error_code(ErrorCode::UnknownTopicOrPartition.code());
    };
    let preferred = inner.preferred.get(key).copied().filter(|b| *b >= 0);
    if ctx.broker != leader && preferred != Some(ctx.broker) {
        return data.with_error_code(ErrorCode::NotLeaderOrFollower.code());
    }
    if cached.leader_epoch >= 0 && cached.leader_epoch < epoch {
        return data.with_error_code(ErrorCode::FencedLeaderEpoch.code());
    }
    if cached.fetch_offset < 0 || cached.fetch_offset > end {
        return data.with_error_code(ErrorCode::OffsetOutOfRange.code());
    }
    // The leader tells a fetcher that names its rack where to read instead.
    if let Some(p) = preferred.filter(|p| *p != ctx.broker && has_rack) {
        return data.with_preferred_read_replica(p);
    }
    // read_committed reads below the last stable offset only.
    let upper = if read_committed { lso } else { end };
    let mut out = Vec::new();
    for (base, last, bytes) in batches {
        if *last >= cached.fetch_offset && *base < upper {
            out.extend_from_slice(bytes);
        }
    }
    let data = data.with_records(Some(Bytes::from(out)));
    if !read_committed {
        return data.with_aborted_transactions(None);
    }
    // The aborted transactions overlapping [fetch offset, upper).
    let aborted = txns
        .iter()
        .flat_map(|t| t.aborted.iter())
        .filter(|(_, first, marker)| *marker >= cached.fetch_offset && *first < upper)
        .map(|(pid, first, _)| {
            AbortedTransaction::default()
                .with_producer_id(*pid)
                .with_first_offset(*first)
        })
        .collect();
    data.with_aborted_transactions(Some(aborted))
}
