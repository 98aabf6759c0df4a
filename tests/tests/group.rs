//! Consumer group membership (klamm::group) against the real broker: two
//! members of one group split a topic's partitions, with the eager and the
//! cooperative (KIP-429) protocols.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use klamm::group::{
    Assignor, CommittedOffset, CooperativeStickyAssignor, GroupConfig, GroupDriver, GroupEvent,
    Offsets, Position, RangeAssignor, RevokeReason, TopicPartition,
};
use klamm::protocol::generated::CreateTopicsRequest;
use klamm::protocol::generated::create_topics::request::CreatableTopic;
use klamm::protocol::{ErrorCode, StrBytes};
use klamm::{Client, ClientConfig};
use klamm_tests::{broker, unique_topic};

async fn client() -> Client {
    let config = ClientConfig::builder()
        .bootstrap([broker()])
        .client_id("klamm-group-tests")
        .request_timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    Client::connect(config).await.unwrap()
}

async fn create_topic(client: &Client, name: &str, partitions: i32) {
    let response = client
        .send(
            &CreateTopicsRequest::default()
                .with_topics(vec![
                    CreatableTopic::default()
                        .with_name(StrBytes::from(name))
                        .with_num_partitions(partitions)
                        .with_replication_factor(1),
                ])
                .with_timeout_ms(10_000),
        )
        .await
        .expect("CreateTopics");
    assert_eq!(
        ErrorCode::from_code(response.topics[0].error_code),
        ErrorCode::None,
        "{response:?}"
    );
}

fn group_config(group: &str, assignors: Vec<Arc<dyn Assignor>>) -> GroupConfig {
    GroupConfig::new(group)
        .with_session_timeout(Duration::from_secs(10))
        .with_heartbeat_interval(Duration::from_millis(300))
        .with_max_poll_interval(Duration::from_secs(30))
        .with_request_timeout(Duration::from_secs(10))
        .with_assignors(assignors)
}

/// A member and the partitions its events say it owns.
struct Member {
    driver: GroupDriver,
    owned: BTreeSet<TopicPartition>,
    revoked: Vec<(Vec<TopicPartition>, RevokeReason)>,
}

impl Member {
    fn new(driver: GroupDriver) -> Self {
        Self {
            driver,
            owned: BTreeSet::new(),
            revoked: Vec::new(),
        }
    }

    fn apply(&mut self, event: GroupEvent) {
        match event {
            GroupEvent::Assigned { partitions, .. } => {
                for p in partitions {
                    assert!(self.owned.insert(p.clone()), "{p} assigned twice");
                }
            }
            GroupEvent::Revoked { partitions, reason } => {
                for p in &partitions {
                    assert!(self.owned.remove(p), "{p} revoked but not owned");
                }
                self.revoked.push((partitions, reason));
            }
            GroupEvent::Lost { partitions, reason } => panic!("lost {partitions:?}: {reason:?}"),
            GroupEvent::Fatal(f) => panic!("fatal: {f}"),
            _ => {}
        }
    }
}

/// Feeds both members' events until `done` holds, or fails after 40 s.
async fn run_until(members: &mut [&mut Member], done: impl Fn(&[&mut Member]) -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    while !done(members) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no agreement: {:?}",
            members.iter().map(|m| &m.owned).collect::<Vec<_>>()
        );
        for m in members.iter_mut() {
            m.driver.notify_poll();
            if let Ok(Some(event)) =
                tokio::time::timeout(Duration::from_millis(50), m.driver.next_event()).await
            {
                m.apply(event);
            }
        }
    }
}

fn split_evenly(members: &[&mut Member], total: usize) -> bool {
    let union: BTreeSet<&TopicPartition> = members.iter().flat_map(|m| m.owned.iter()).collect();
    let sum: usize = members.iter().map(|m| m.owned.len()).sum();
    union.len() == total
        && sum == total
        && members
            .iter()
            .all(|m| m.owned.len() == total / members.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_members_split_six_partitions_eagerly() {
    let admin = client().await;
    let topic = unique_topic("group-eager");
    create_topic(&admin, &topic, 6).await;
    let group = unique_topic("group-eager-g");
    let assignors: Vec<Arc<dyn Assignor>> = vec![Arc::new(RangeAssignor)];

    let mut a = Member::new(
        GroupDriver::spawn(
            client().await,
            group_config(&group, assignors.clone()),
            [topic.as_str()],
        )
        .unwrap(),
    );
    run_until(&mut [&mut a], |m| m[0].owned.len() == 6).await;

    let mut b = Member::new(
        GroupDriver::spawn(
            client().await,
            group_config(&group, assignors),
            [topic.as_str()],
        )
        .unwrap(),
    );
    run_until(&mut [&mut a, &mut b], |m| split_evenly(m, 6)).await;
    // Eager: the first member gave everything back before the second join.
    assert!(
        a.revoked
            .iter()
            .any(|(p, r)| p.len() == 6 && *r == RevokeReason::Rebalance),
        "{:?}",
        a.revoked
    );

    let events = b.driver.close().await;
    assert!(
        matches!(events.last(), Some(GroupEvent::Closed)),
        "{events:?}"
    );
    // The survivor takes everything back after the LeaveGroup.
    run_until(&mut [&mut a], |m| m[0].owned.len() == 6).await;
    let events = a.driver.close().await;
    assert!(
        matches!(events.last(), Some(GroupEvent::Closed)),
        "{events:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cooperative_members_only_move_the_partitions_that_change_owner() {
    let admin = client().await;
    let topic = unique_topic("group-coop");
    create_topic(&admin, &topic, 6).await;
    let group = unique_topic("group-coop-g");
    let assignors: Vec<Arc<dyn Assignor>> = vec![Arc::new(CooperativeStickyAssignor)];

    let mut a = Member::new(
        GroupDriver::spawn(
            client().await,
            group_config(&group, assignors.clone()),
            [topic.as_str()],
        )
        .unwrap(),
    );
    run_until(&mut [&mut a], |m| m[0].owned.len() == 6).await;
    let before = a.owned.clone();

    let mut b = Member::new(
        GroupDriver::spawn(
            client().await,
            group_config(&group, assignors),
            [topic.as_str()],
        )
        .unwrap(),
    );
    run_until(&mut [&mut a, &mut b], |m| split_evenly(m, 6)).await;
    // Only the three partitions that moved were revoked, in one go, and the
    // first member kept the other three throughout.
    assert_eq!(a.revoked.len(), 1, "{:?}", a.revoked);
    assert_eq!(a.revoked[0].0.len(), 3);
    assert_eq!(a.revoked[0].1, RevokeReason::Reassigned);
    assert!(a.owned.is_subset(&before));
    assert!(b.revoked.is_empty());

    b.driver.close().await;
    a.driver.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offsets_committed_by_one_member_are_fetched_by_the_next() {
    let admin = client().await;
    let topic = unique_topic("group-commit");
    create_topic(&admin, &topic, 3).await;
    let group = unique_topic("group-commit-g");
    let assignors: Vec<Arc<dyn Assignor>> = vec![Arc::new(RangeAssignor)];
    let tp = |p| TopicPartition::new(topic.as_str(), p);

    let mut a = Member::new(
        GroupDriver::spawn(
            client().await,
            group_config(&group, assignors.clone()),
            [topic.as_str()],
        )
        .unwrap(),
    );
    let mut fetched = Vec::new();
    // Wait for the assignment and for the committed offsets (none yet).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while a.owned.len() < 3 || fetched.is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no assignment: {:?}",
            a.owned
        );
        match tokio::time::timeout(Duration::from_secs(1), a.driver.next_event()).await {
            Ok(Some(GroupEvent::CommittedOffsets { offsets, failed })) => {
                assert!(failed.is_empty(), "{failed:?}");
                fetched.extend(offsets);
            }
            Ok(Some(event)) => a.apply(event),
            _ => {}
        }
    }
    assert!(
        fetched.iter().all(|c| c.offset.is_none()),
        "fresh group has no commits: {fetched:?}"
    );

    // The application was handed records up to offset 4 of partition 0 and
    // up to 6 of partition 2: only that is committed.
    let mut offsets = Offsets::new();
    offsets.assign(&a.owned.iter().cloned().collect::<Vec<_>>());
    offsets.mark_handed(
        &tp(0),
        Position {
            offset: 5,
            leader_epoch: None,
        },
    );
    offsets.mark_handed(
        &tp(2),
        Position {
            offset: 7,
            leader_epoch: None,
        },
    );
    let generation = a.driver.generation().expect("joined");
    let pending = offsets
        .build_commit(&group, &generation, None)
        .expect("something to commit");
    let response = a
        .driver
        .commit(pending.request.clone())
        .await
        .expect("OffsetCommit");
    let outcome = offsets.handle_commit_response(&pending, &response);
    assert_eq!(outcome.committed, vec![tp(0), tp(2)], "{outcome:?}");
    assert!(offsets.build_commit(&group, &generation, None).is_none());
    a.driver.close().await;

    // The next member of the group starts from the committed positions.
    let mut b = Member::new(
        GroupDriver::spawn(
            client().await,
            group_config(&group, assignors),
            [topic.as_str()],
        )
        .unwrap(),
    );
    let mut fetched: Vec<CommittedOffset> = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while fetched.len() < 3 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no committed offsets: {fetched:?}"
        );
        match tokio::time::timeout(Duration::from_secs(1), b.driver.next_event()).await {
            Ok(Some(GroupEvent::CommittedOffsets { offsets, failed })) => {
                assert!(failed.is_empty(), "{failed:?}");
                fetched.extend(offsets);
            }
            Ok(Some(event)) => b.apply(event),
            _ => {}
        }
    }
    fetched.sort_by(|x, y| x.partition.cmp(&y.partition));
    let got: Vec<Option<i64>> = fetched.iter().map(|c| c.offset).collect();
    assert_eq!(got, vec![Some(5), None, Some(7)]);
    b.driver.close().await;
}
