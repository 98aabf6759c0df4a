//! Test support: a one-member group coordinator and a partition log for the
//! mock cluster, so group-mode consumer tests run without a broker.
//!
//! The coordinator answers JoinGroup at once (the single member leads),
//! keeps the leader's SyncGroup assignment, answers Heartbeat (with
//! REBALANCE_IN_PROGRESS while a rebalance is asked for), stores commits,
//! and records every step in order so tests can assert what happened when.
//! The log serves any topic-partition's appended batches from every broker.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use klamm_protocol::compression::Compression;
use klamm_protocol::generated::fetch::response::{FetchableTopicResponse, PartitionData};
use klamm_protocol::generated::join_group::response::JoinGroupResponseMember;
use klamm_protocol::generated::offset_commit::response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use klamm_protocol::generated::offset_fetch::response::{
    OffsetFetchResponsePartition, OffsetFetchResponseTopic,
};
use klamm_protocol::generated::{
    AnyRequest, AnyResponse, FetchResponse, HeartbeatResponse, JoinGroupResponse,
    LeaveGroupResponse, OffsetCommitResponse, OffsetFetchResponse, SyncGroupResponse,
};
use klamm_protocol::records::RecordBatchBuilder;
use klamm_protocol::{ApiKey, ErrorCode, StrBytes, VersionRange};

use super::mock_list_offsets;
use crate::group::TopicPartition;
use crate::group::consumer_protocol::decode_subscription;
use crate::mock::MockCluster;

/// One thing the coordinator saw, in arrival order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Step {
    /// A JoinGroup with the member's subscribed topics.
    Join(Vec<String>),
    /// A SyncGroup.
    Sync,
    /// An OffsetCommit accepted: (topic, partition, offset) rows.
    Commit(Vec<(String, i32, i64)>),
    /// An OffsetCommit refused with this error.
    CommitRefused(ErrorCode),
    /// A LeaveGroup.
    Leave,
}

#[derive(Debug, Default)]
struct GroupState {
    member_id: String,
    generation: i32,
    rebalancing: bool,
    steps: Vec<(Instant, Step)>,
    committed: BTreeMap<(String, i32), i64>,
    /// Errors the next OffsetCommits answer with, in order.
    commit_errors: VecDeque<ErrorCode>,
}

/// The coordinator of the mock cluster's groups (one member).
#[derive(Debug, Clone, Default)]
pub(super) struct MockGroup {
    state: Arc<Mutex<GroupState>>,
}

impl MockGroup {
    fn lock(&self) -> MutexGuard<'_, GroupState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every step so far.
    pub(super) fn steps(&self) -> Vec<Step> {
        self.lock().steps.iter().map(|(_, s)| s.clone()).collect()
    }

    /// The steps with when they arrived.
    pub(super) fn timed_steps(&self) -> Vec<(Instant, Step)> {
        self.lock().steps.clone()
    }

    /// The subscription of the last JoinGroup.
    pub(super) fn last_join(&self) -> Option<Vec<String>> {
        self.lock().steps.iter().rev().find_map(|(_, s)| match s {
            Step::Join(t) => Some(t.clone()),
            _ => None,
        })
    }

    /// JoinGroups so far.
    pub(super) fn joins(&self) -> usize {
        self.steps()
            .iter()
            .filter(|s| matches!(s, Step::Join(_)))
            .count()
    }

    /// The committed offset of a partition.
    pub(super) fn committed(&self, topic: &str, partition: i32) -> Option<i64> {
        self.lock()
            .committed
            .get(&(topic.to_owned(), partition))
            .copied()
    }

    /// Makes heartbeats answer REBALANCE_IN_PROGRESS until the next join.
    pub(super) fn start_rebalance(&self) {
        self.lock().rebalancing = true;
    }

    /// The next OffsetCommit answers `code` on every partition.
    pub(super) fn fail_next_commit(&self, code: ErrorCode) {
        self.lock().commit_errors.push_back(code);
    }

    /// Installs the coordinator's handlers on `cluster`.
    pub(super) fn install(&self, cluster: &MockCluster) {
        // OffsetFetch v8+ answers per group; the older shape is enough here.
        cluster.set_api_versions(ApiKey::OffsetFetch, Some(VersionRange::new(1, 7)));
        let g = self.clone();
        cluster.handle(ApiKey::JoinGroup, move |_ctx, req| {
            let AnyRequest::JoinGroup(req) = req else {
                return None;
            };
            let protocol = req.protocols.first()?;
            let mut s = g.lock();
            if s.member_id.is_empty() || req.member_id.is_empty() {
                s.member_id = format!("member-{}", s.generation + 1);
            }
            let member_id = s.member_id.clone();
            let topics = decode_subscription(&member_id, None, protocol.metadata.clone())
                .map(|sub| sub.topics.iter().map(|t| t.to_string()).collect())
                .unwrap_or_default();
            s.generation += 1;
            s.rebalancing = false;
            s.steps.push((Instant::now(), Step::Join(topics)));
            Some(AnyResponse::JoinGroup(Box::new(
                JoinGroupResponse::default()
                    .with_generation_id(s.generation)
                    .with_protocol_type(Some(StrBytes::from_static("consumer")))
                    .with_protocol_name(Some(protocol.name.clone()))
                    .with_leader(StrBytes::from(member_id.as_str()))
                    .with_member_id(StrBytes::from(member_id.as_str()))
                    .with_members(vec![
                        JoinGroupResponseMember::default()
                            .with_member_id(StrBytes::from(member_id.as_str()))
                            .with_metadata(protocol.metadata.clone()),
                    ]),
            )))
        });
        let g = self.clone();
        cluster.handle(ApiKey::SyncGroup, move |_ctx, req| {
            let AnyRequest::SyncGroup(req) = req else {
                return None;
            };
            let mut s = g.lock();
            s.steps.push((Instant::now(), Step::Sync));
            let mut response = SyncGroupResponse::default()
                .with_protocol_type(Some(StrBytes::from_static("consumer")))
                .with_protocol_name(req.protocol_name.clone());
            if req.generation_id != s.generation || req.member_id.as_str() != s.member_id {
                response = response.with_error_code(ErrorCode::IllegalGeneration.code());
            } else if let Some(a) = req
                .assignments
                .iter()
                .find(|a| a.member_id.as_str() == s.member_id)
            {
                response = response.with_assignment(a.assignment.clone());
            }
            Some(AnyResponse::SyncGroup(Box::new(response)))
        });
        let g = self.clone();
        cluster.handle(ApiKey::Heartbeat, move |_ctx, req| {
            let AnyRequest::Heartbeat(req) = req else {
                return None;
            };
            let s = g.lock();
            let code = if req.member_id.as_str() != s.member_id {
                ErrorCode::UnknownMemberId
            } else if req.generation_id != s.generation {
                ErrorCode::IllegalGeneration
            } else if s.rebalancing {
                ErrorCode::RebalanceInProgress
            } else {
                ErrorCode::None
            };
            Some(AnyResponse::Heartbeat(Box::new(
                HeartbeatResponse::default().with_error_code(code.code()),
            )))
        });
        let g = self.clone();
        cluster.handle(ApiKey::LeaveGroup, move |_ctx, _req| {
            g.lock().steps.push((Instant::now(), Step::Leave));
            Some(AnyResponse::LeaveGroup(Box::<LeaveGroupResponse>::default()))
        });
        let g = self.clone();
        cluster.handle(ApiKey::OffsetCommit, move |_ctx, req| {
            let AnyRequest::OffsetCommit(req) = req else {
                return None;
            };
            let mut s = g.lock();
            let code = if let Some(code) = s.commit_errors.pop_front() {
                code
            } else if req.generation_id_or_member_epoch < 0 {
                ErrorCode::None
            } else if req.member_id.as_str() != s.member_id {
                ErrorCode::UnknownMemberId
            } else if req.generation_id_or_member_epoch != s.generation {
                ErrorCode::IllegalGeneration
            } else {
                ErrorCode::None
            };
            let mut rows = Vec::new();
            let topics = req
                .topics
                .iter()
                .map(|t| {
                    let partitions = t
                        .partitions
                        .iter()
                        .map(|p| {
                            rows.push((t.name.to_string(), p.partition_index, p.committed_offset));
                            OffsetCommitResponsePartition::default()
                                .with_partition_index(p.partition_index)
                                .with_error_code(code.code())
                        })
                        .collect();
                    OffsetCommitResponseTopic::default()
                        .with_name(t.name.clone())
                        .with_partitions(partitions)
                })
                .collect();
            if code == ErrorCode::None {
                for (t, p, o) in &rows {
                    s.committed.insert((t.clone(), *p), *o);
                }
                s.steps.push((Instant::now(), Step::Commit(rows)));
            } else {
                s.steps.push((Instant::now(), Step::CommitRefused(code)));
            }
            Some(AnyResponse::OffsetCommit(Box::new(
                OffsetCommitResponse::default().with_topics(topics),
            )))
        });
        let g = self.clone();
        cluster.handle(ApiKey::OffsetFetch, move |_ctx, req| {
            let AnyRequest::OffsetFetch(req) = req else {
                return None;
            };
            let s = g.lock();
            let topics = req
                .topics
                .iter()
                .flatten()
                .map(|t| {
                    let partitions = t
                        .partition_indexes
                        .iter()
                        .map(|p| {
                            let offset = s
                                .committed
                                .get(&(t.name.to_string(), *p))
                                .copied()
                                .unwrap_or(-1);
                            OffsetFetchResponsePartition::default()
                                .with_partition_index(*p)
                                .with_committed_offset(offset)
                                .with_committed_leader_epoch(-1)
                        })
                        .collect();
                    OffsetFetchResponseTopic::default()
                        .with_name(t.name.clone())
                        .with_partitions(partitions)
                })
                .collect();
            Some(AnyResponse::OffsetFetch(Box::new(
                OffsetFetchResponse::default().with_topics(topics),
            )))
        });
    }
}

/// Per partition: (base offset, last offset, batch bytes).
type Batches = BTreeMap<TopicPartition, Vec<(i64, i64, Bytes)>>;

/// Record batches per topic-partition, served by Fetch and ListOffsets on
/// every broker (leadership is not checked here).
#[derive(Debug, Clone, Default)]
pub(super) struct MockLog {
    batches: Arc<Mutex<Batches>>,
}

impl MockLog {
    fn lock(&self) -> MutexGuard<'_, Batches> {
        self.batches.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends one batch of `n` records (values `topic-partition-offset`).
    pub(super) fn append(&self, topic: &str, partition: i32, n: i32) {
        let tp = TopicPartition::new(topic, partition);
        let mut all = self.lock();
        let batches = all.entry(tp).or_default();
        let base = batches.last().map_or(0, |b| b.1 + 1);
        let mut b = RecordBatchBuilder::new(Compression::None).base_offset(base);
        for i in 0..n {
            let v = format!("{topic}-{partition}-{}", base + i64::from(i));
            b.append(1, None, Some(v.as_bytes()), &[]).unwrap();
        }
        batches.push((
            base,
            base + i64::from(n) - 1,
            b.build().unwrap().into_bytes(),
        ));
    }

    fn end(&self, tp: &TopicPartition) -> i64 {
        self.lock()
            .get(tp)
            .and_then(|b| b.last())
            .map_or(0, |b| b.1 + 1)
    }

    /// Installs Fetch and ListOffsets handlers on `cluster`.
    pub(super) fn install(&self, cluster: &MockCluster) {
        let log = self.clone();
        cluster.handle(ApiKey::Fetch, move |_ctx, req| {
            let AnyRequest::Fetch(req) = req else {
                return None;
            };
            let topics = req
                .topics
                .iter()
                .map(|t| {
                    let parts = t
                        .partitions
                        .iter()
                        .map(|p| {
                            let tp = TopicPartition::new(t.topic.as_str(), p.partition);
                            let end = log.end(&tp);
                            let mut out = Vec::new();
                            for (_, last, bytes) in log.lock().get(&tp).into_iter().flatten() {
                                if *last >= p.fetch_offset {
                                    out.extend_from_slice(bytes);
                                }
                            }
                            PartitionData::default()
                                .with_partition_index(p.partition)
                                .with_high_watermark(end)
                                .with_last_stable_offset(end)
                                .with_log_start_offset(0)
                                .with_records(Some(Bytes::from(out)))
                        })
                        .collect();
                    FetchableTopicResponse::default()
                        .with_topic(t.topic.clone())
                        .with_partitions(parts)
                })
                .collect();
            Some(AnyResponse::Fetch(Box::new(
                FetchResponse::default().with_responses(topics),
            )))
        });
        let log = self.clone();
        mock_list_offsets::install(cluster, move |topic, partition, _| {
            log.end(&TopicPartition::new(topic, partition))
        });
    }
}

/// Waits up to ten seconds for `cond`, polling every 20 ms.
pub(super) async fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
