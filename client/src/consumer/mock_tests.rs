//! The consumer against the in-process mock cluster, for what the test
//! broker (tansu) cannot show: leader moves (NOT_LEADER_OR_FOLLOWER),
//! FENCED_LEADER_EPOCH, OFFSET_OUT_OF_RANGE, a Fetch from inside a batch
//! answered with the whole batch, as Kafka does, and the same Fetch
//! answered as tansu 0.6.0 does (the following batches, twice).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use klamm_protocol::compression::Compression;
use klamm_protocol::generated::fetch::response::{FetchableTopicResponse, PartitionData};
use klamm_protocol::generated::{AnyRequest, AnyResponse, FetchResponse};
use klamm_protocol::records::RecordBatchBuilder;
use klamm_protocol::{ApiKey, ErrorCode};

use super::mock_list_offsets;
use super::{Consumer, ConsumerConfig, Message, OffsetReset, StartOffset};
use crate::config::Properties;
use crate::group::TopicPartition;
use crate::mock::MockCluster;
use crate::{Client, ClientConfig};

/// Partition 0 of topic `t`: whole batches, served Kafka's way.
#[derive(Debug, Default)]
struct Log {
    batches: Mutex<Vec<(i64, i64, Bytes)>>,
    fenced: AtomicUsize,
    not_leader: AtomicUsize,
    out_of_range: AtomicUsize,
    /// Answer a Fetch from inside a batch as tansu 0.6.0 does: the batches
    /// after that one, then the same batches again.
    tansu_mid_batch: AtomicBool,
}

impl Log {
    fn append(&self, n: i32) {
        let mut batches = self.batches.lock().unwrap();
        let base = batches.last().map_or(0, |b| b.1 + 1);
        let mut b = RecordBatchBuilder::new(Compression::Lz4).base_offset(base);
        for i in 0..n {
            let v = format!("v{}", base + i64::from(i));
            b.append(1, None, Some(v.as_bytes()), &[]).unwrap();
        }
        batches.push((
            base,
            base + i64::from(n) - 1,
            b.build().unwrap().into_bytes(),
        ));
    }

    fn end(&self) -> i64 {
        self.batches.lock().unwrap().last().map_or(0, |b| b.1 + 1)
    }

    fn install(self: &Arc<Self>, cluster: &MockCluster) {
        let log = self.clone();
        cluster.handle(ApiKey::Fetch, move |ctx, req| {
            let AnyRequest::Fetch(req) = req else {
                return None;
            };
            let mut topics = Vec::new();
            for t in &req.topics {
                let mut parts = Vec::new();
                for p in &t.partitions {
                    let (leader, epoch) = ctx.leader(t.topic.as_str(), p.partition)?;
                    let end = log.end();
                    let mut data = PartitionData::default()
                        .with_partition_index(p.partition)
                        .with_high_watermark(end)
                        .with_last_stable_offset(end)
                        .with_log_start_offset(0);
                    let code = if ctx.broker != leader {
                        log.not_leader.fetch_add(1, Ordering::SeqCst);
                        ErrorCode::NotLeaderOrFollower
                    } else if p.current_leader_epoch >= 0 && p.current_leader_epoch < epoch {
                        log.fenced.fetch_add(1, Ordering::SeqCst);
                        ErrorCode::FencedLeaderEpoch
                    } else if p.fetch_offset < 0 || p.fetch_offset > end {
                        log.out_of_range.fetch_add(1, Ordering::SeqCst);
                        ErrorCode::OffsetOutOfRange
                    } else {
                        let mut out = Vec::new();
                        let batches = log.batches.lock().unwrap();
                        let mid_batch = batches.iter().any(|(base, last, _)| {
                            *base < p.fetch_offset && p.fetch_offset <= *last
                        });
                        if mid_batch && log.tansu_mid_batch.load(Ordering::SeqCst) {
                            for _ in 0..2 {
                                for (base, _, bytes) in batches.iter() {
                                    if *base > p.fetch_offset {
                                        out.extend_from_slice(bytes);
                                    }
                                }
                            }
                        } else {
                            for (_, last, bytes) in batches.iter() {
                                if *last >= p.fetch_offset {
                                    out.extend_from_slice(bytes);
                                }
                            }
                        }
                        drop(batches);
                        data = data.with_records(Some(Bytes::from(out)));
                        ErrorCode::None
                    };
                    parts.push(data.with_error_code(code.code()));
                }
                topics.push(
                    FetchableTopicResponse::default()
                        .with_topic(t.topic.clone())
                        .with_partitions(parts),
                );
            }
            Some(AnyResponse::Fetch(Box::new(
                FetchResponse::default().with_responses(topics),
            )))
        });
        let log = self.clone();
        mock_list_offsets::install(cluster, move |_, _, _| log.end());
    }
}

async fn setup(reset: &str) -> (MockCluster, Arc<Log>, Consumer) {
    let cluster = MockCluster::start(2).await.unwrap();
    cluster.create_topic("t", 1);
    cluster.set_leader("t", 0, 1);
    let log = Arc::new(Log::default());
    log.install(&cluster);
    let bootstrap = cluster.bootstrap();
    let client = ClientConfig::builder()
        .bootstrap(bootstrap.split(','))
        .request_timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let mut props: Properties = [
        ("fetch.max.wait.ms", "10"),
        ("retry.backoff.ms", "20"),
        ("auto.offset.reset", reset),
    ]
    .into_iter()
    .collect();
    let config = ConsumerConfig::from_properties(&mut props).unwrap();
    let consumer = Consumer::with_client(Client::connect(client).await.unwrap(), config);
    (cluster, log, consumer)
}

async fn recv_offsets(c: &mut Consumer, n: usize) -> Vec<i64> {
    let mut out = Vec::new();
    while out.len() < n {
        let m = tokio::time::timeout(Duration::from_secs(10), c.recv())
            .await
            .expect("no stall")
            .expect("recv");
        out.push(m.offset());
    }
    out
}

#[tokio::test]
async fn leader_moves_and_fenced_epochs_refresh_metadata_and_lose_nothing() {
    let (cluster, log, mut c) = setup("earliest").await;
    log.append(5);
    log.append(5);
    let tp = TopicPartition::new("t", 0);
    c.assign([(tp.clone(), StartOffset::Beginning)])
        .await
        .unwrap();
    assert_eq!(recv_offsets(&mut c, 10).await, (0..10).collect::<Vec<_>>());

    // Leadership moves to broker 2: broker 1 answers NOT_LEADER.
    cluster.set_leader("t", 0, 2);
    log.append(5);
    assert_eq!(recv_offsets(&mut c, 5).await, (10..15).collect::<Vec<_>>());
    assert!(log.not_leader.load(Ordering::SeqCst) > 0);
    assert!(cluster.broker_request_count(2, ApiKey::Fetch) > 0);

    // Same leader, newer epoch: the old epoch is fenced.
    cluster.set_leader("t", 0, 2);
    log.append(5);
    assert_eq!(recv_offsets(&mut c, 5).await, (15..20).collect::<Vec<_>>());
    assert!(log.fenced.load(Ordering::SeqCst) > 0);
    assert_eq!(c.position(&tp).await.unwrap(), 20);
}

#[tokio::test]
async fn a_fetch_inside_a_batch_skips_the_records_before_the_offset() {
    let (_cluster, log, mut c) = setup("earliest").await;
    log.append(10);
    log.append(10);
    let tp = TopicPartition::new("t", 0);
    c.assign([(tp.clone(), StartOffset::At(7))]).await.unwrap();
    assert_eq!(recv_offsets(&mut c, 13).await, (7..20).collect::<Vec<_>>());
    c.seek(&tp, 13).unwrap();
    assert_eq!(recv_offsets(&mut c, 2).await, [13, 14]);
}

#[tokio::test]
async fn out_of_range_resets_to_earliest_or_surfaces_with_none() {
    let (_cluster, log, mut c) = setup("earliest").await;
    log.append(3);
    let tp = TopicPartition::new("t", 0);
    c.assign([(tp.clone(), StartOffset::At(50))]).await.unwrap();
    assert_eq!(recv_offsets(&mut c, 3).await, [0, 1, 2]);
    assert!(log.out_of_range.load(Ordering::SeqCst) > 0);

    let (_cluster, log, mut c) = setup("none").await;
    log.append(3);
    c.assign([(tp.clone(), StartOffset::At(50))]).await.unwrap();
    let err = tokio::time::timeout(Duration::from_secs(10), c.recv())
        .await
        .expect("no stall")
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::OffsetOutOfRange), "{err}");
    assert_eq!(c.config().auto_offset_reset, OffsetReset::None);
    c.seek(&tp, 1).unwrap();
    let m: Message = c.recv().await.unwrap();
    assert_eq!(m.offset(), 1);
}

#[tokio::test]
async fn a_broker_repeating_batches_never_yields_an_offset_twice() {
    // The CLI case against tansu: batch 0-2, then batches 3 and 4; a
    // Fetch at 1 is answered with batches 3, 4, 3, 4.
    let (_cluster, log, mut c) = setup("earliest").await;
    log.tansu_mid_batch.store(true, Ordering::SeqCst);
    log.append(3);
    log.append(1);
    log.append(1);
    let tp = TopicPartition::new("t", 0);
    c.assign([(tp.clone(), StartOffset::At(1))]).await.unwrap();
    let mut got = Vec::new();
    while let Ok(m) = tokio::time::timeout(Duration::from_millis(500), c.recv()).await {
        got.push(m.expect("recv").offset());
    }
    assert_eq!(got, [3, 4]);
    assert_eq!(c.position(&tp).await.unwrap(), 5);
    // More data after the repeated answer arrives once, in order.
    log.append(2);
    assert_eq!(recv_offsets(&mut c, 2).await, [5, 6]);
    assert_eq!(c.position(&tp).await.unwrap(), 7);
}
