//! `isolation.level` against transactional data, through the public
//! consumer API and the mock cluster's transaction model
//! (`mock_fetch.rs`): tansu 0.6.0 has no transactions (tests/README.md),
//! so this is where read_committed meets control batches, the aborted
//! transactions list and the last stable offset.

use std::sync::Arc;
use std::time::Duration;

use super::mock_fetch::MockFetch;
use super::{Consumer, ConsumerConfig, StartOffset};
use crate::config::Properties;
use crate::group::TopicPartition;
use crate::mock::MockCluster;
use crate::{Client, ClientConfig};

const WAIT: Duration = Duration::from_secs(10);
/// How long "nothing arrives" is watched for.
const QUIET: Duration = Duration::from_millis(300);

async fn setup(isolation: &str) -> (MockCluster, Arc<MockFetch>, Consumer) {
    let cluster = MockCluster::start(1).await.unwrap();
    cluster.create_topic("t", 1);
    let fetch = MockFetch::install(&cluster);
    let client = ClientConfig::builder()
        .bootstrap(cluster.bootstrap().split(','))
        .request_timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let mut props: Properties = [
        ("fetch.max.wait.ms", "10"),
        ("retry.backoff.ms", "20"),
        ("auto.offset.reset", "earliest"),
        ("isolation.level", isolation),
    ]
    .into_iter()
    .collect();
    let config = ConsumerConfig::from_properties(&mut props).unwrap();
    let consumer = Consumer::with_client(Client::connect(client).await.unwrap(), config);
    (cluster, fetch, consumer)
}

/// Receives `n` messages; returns (offset, value).
async fn recv(c: &mut Consumer, n: usize) -> Vec<(i64, String)> {
    let mut out = Vec::new();
    while out.len() < n {
        let m = tokio::time::timeout(WAIT, c.recv())
            .await
            .unwrap_or_else(|_| panic!("stalled after {out:?}"))
            .expect("recv");
        let value = String::from_utf8_lossy(m.value().unwrap_or_default()).into_owned();
        out.push((m.offset(), value));
    }
    out
}

/// Asserts nothing more arrives within [`QUIET`].
async fn assert_quiet(c: &mut Consumer) {
    if let Ok(m) = tokio::time::timeout(QUIET, c.recv()).await {
        panic!("unexpected message: {:?}", m.map(|m| m.offset()));
    }
}

fn expected(offsets: &[i64], txn: &[i64]) -> Vec<(i64, String)> {
    offsets
        .iter()
        .map(|o| {
            let prefix = if txn.contains(o) { "t" } else { "v" };
            (*o, format!("{prefix}{o}"))
        })
        .collect()
}

/// Two producers interleaved, one aborting and one committing, with
/// plain records between and a control batch last:
///
/// ```text
///  0-1 pid 7 (aborted)   2-3 pid 8 (committed)   4 plain
///  5-6 pid 7 (aborted)   7 ABORT pid 7           8 plain
///  9 COMMIT pid 8       10 pid 7 (committed)    11 COMMIT pid 7
/// ```
fn interleaved_log(fetch: &MockFetch) {
    fetch.append_txn("t", 0, 7, 2);
    fetch.append_txn("t", 0, 8, 2);
    fetch.append("t", 0, 1);
    fetch.append_txn("t", 0, 7, 2);
    fetch.end_txn("t", 0, 7, false);
    fetch.append("t", 0, 1);
    fetch.end_txn("t", 0, 8, true);
    fetch.append_txn("t", 0, 7, 1);
    fetch.end_txn("t", 0, 7, true);
    assert_eq!(fetch.end("t", 0), 12);
    assert_eq!(fetch.lso("t", 0), 12);
}

#[tokio::test]
async fn read_committed_skips_aborted_data_and_markers_and_moves_past_them() {
    let (_cluster, fetch, mut c) = setup("read_committed").await;
    interleaved_log(&fetch);
    let tp = TopicPartition::new("t", 0);
    c.assign([(tp.clone(), StartOffset::Beginning)])
        .await
        .unwrap();
    let got = recv(&mut c, 5).await;
    assert_eq!(got, expected(&[2, 3, 4, 8, 10], &[2, 3, 10]));
    // The last record is 10; its commit marker at 11 is passed too.
    assert_eq!(c.position(&tp).await.unwrap(), 12);
    assert_eq!(c.lag(&tp), Some(0));
    assert_quiet(&mut c).await;
    assert_eq!(c.position(&tp).await.unwrap(), 12);

    // A fetch from inside the aborted transaction (after a seek) still
    // drops the rest of it.
    c.seek(&tp, 5).unwrap();
    assert_eq!(recv(&mut c, 2).await, expected(&[8, 10], &[10]));
    assert_eq!(c.position(&tp).await.unwrap(), 12);
}

#[tokio::test]
async fn read_uncommitted_gets_every_data_record_but_no_marker() {
    let (_cluster, fetch, mut c) = setup("read_uncommitted").await;
    interleaved_log(&fetch);
    let tp = TopicPartition::new("t", 0);
    c.assign([(tp.clone(), StartOffset::Beginning)])
        .await
        .unwrap();
    let got = recv(&mut c, 9).await;
    assert_eq!(
        got,
        expected(&[0, 1, 2, 3, 4, 5, 6, 8, 10], &[0, 1, 2, 3, 5, 6, 10])
    );
    assert_eq!(c.position(&tp).await.unwrap(), 12);
    assert_quiet(&mut c).await;
}

#[tokio::test]
async fn read_committed_waits_for_the_last_stable_offset_to_move() {
    let (_cluster, fetch, mut c) = setup("read_committed").await;
    let tp = TopicPartition::new("t", 0);
    // 0 plain, then pid 7 opens a transaction at 1-2, then 3 plain.
    fetch.append("t", 0, 1);
    fetch.append_txn("t", 0, 7, 2);
    fetch.append("t", 0, 1);
    assert_eq!(fetch.lso("t", 0), 1);
    c.assign([(tp.clone(), StartOffset::Beginning)])
        .await
        .unwrap();
    assert_eq!(recv(&mut c, 1).await, expected(&[0], &[]));
    // Neither the open transaction nor the plain record after it.
    assert_quiet(&mut c).await;
    assert_eq!(c.position(&tp).await.unwrap(), 1);

    // The commit (marker at 4) moves the LSO to the end.
    fetch.end_txn("t", 0, 7, true);
    assert_eq!(recv(&mut c, 3).await, expected(&[1, 2, 3], &[1, 2]));
    assert_eq!(c.position(&tp).await.unwrap(), 5);

    // pid 8 opens at 5-6, 7 plain; its abort (marker at 8) releases only 7.
    fetch.append_txn("t", 0, 8, 2);
    fetch.append("t", 0, 1);
    assert_quiet(&mut c).await;
    assert_eq!(c.position(&tp).await.unwrap(), 5);
    fetch.end_txn("t", 0, 8, false);
    assert_eq!(recv(&mut c, 1).await, expected(&[7], &[]));
    assert_eq!(c.position(&tp).await.unwrap(), 9);
    assert_quiet(&mut c).await;
}
