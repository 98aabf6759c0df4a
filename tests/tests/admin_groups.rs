//! The admin client's consumer-group operations against the real broker
//! (tansu), with a librdkafka consumer as the group's member.

use std::time::{Duration, Instant};

use klamm::admin::{Admin, GroupDescription, MemberToRemove, NewTopic};
use klamm::{ClientConfig, Error};
use klamm_tests::{broker, peer, unique_topic};
use serde_json::json;

async fn admin() -> Admin {
    let config = ClientConfig::builder()
        .bootstrap([broker()])
        .client_id("klamm-admin-tests")
        .request_timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    Admin::connect(config)
        .await
        .unwrap()
        .with_timeout(Duration::from_secs(5))
}

/// Waits until the group is stable with a member.
async fn wait_for_member(admin: &Admin, group: &str) -> GroupDescription {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let described = admin.describe_groups(&[group]).await;
        if let Some(Ok(g)) = described.get(group) {
            if g.state == "Stable" && !g.members.is_empty() {
                return g.clone();
            }
        }
        assert!(
            Instant::now() < deadline,
            "group never stabilised: {described:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn groups_offsets_and_members() {
    let admin = admin().await;
    let topic = unique_topic("admin-groups");
    let group = unique_topic("admin-group");
    admin
        .create_topics(&[NewTopic::new(&topic, 2, 1)], false)
        .await
        .into_result()
        .unwrap();
    peer::run(
        "produce.py",
        &json!({
            "bootstrap": broker(),
            "topic": topic,
            "records": [{"value": "a", "partition": 0}, {"value": "b", "partition": 1}],
        }),
    )
    .unwrap();
    // A librdkafka member that stays in the group for a while, then leaves
    // and commits what it consumed.
    let consumer = {
        let (topic, group) = (topic.clone(), group.clone());
        std::thread::spawn(move || {
            peer::run(
                "consume.py",
                &json!({
                    "bootstrap": broker(),
                    "topic": topic,
                    "group": group,
                    "count": 1000,
                    "timeout_s": 8,
                }),
            )
        })
    };

    let described = wait_for_member(&admin, &group).await;
    assert_eq!(described.group_id, group);
    assert_eq!(described.protocol_type, "consumer");
    assert_eq!(described.members.len(), 1);
    let member = &described.members[0];
    assert!(!member.member_id.is_empty());
    // Apache Kafka describes each member with its client id, host and
    // assignment, and the group with its assignor; tansu 0.6.0 sends them
    // all empty. Decoding assignments (consumer protocol v0-v3) is tested
    // on the mock cluster (client/src/admin/tests_more.rs).
    assert_eq!(member.client_id, "");
    assert_eq!(member.assignment, vec![]);
    assert_eq!(described.protocol, "");

    let out = consumer.join().unwrap().expect("consumer");
    assert_eq!(out["records"].as_array().unwrap().len(), 2, "{out}");

    // Committed on close: the next offset of each partition.
    let deadline = Instant::now() + Duration::from_secs(10);
    let offsets = loop {
        let offsets = admin.list_group_offsets(&group, None).await.unwrap();
        if offsets.len() == 2 || Instant::now() > deadline {
            break offsets;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let got: Vec<(String, i32, i64)> = offsets
        .iter()
        .map(|o| (o.topic.clone(), o.partition, o.offset))
        .collect();
    assert_eq!(got, vec![(topic.clone(), 0, 1), (topic.clone(), 1, 1)]);

    // tansu lists a group once it has committed offsets (it lists its
    // offset store), always as state "Unknown", type "classic".
    let listed = admin.list_groups(&[], &[]).await.unwrap();
    let ours = listed.iter().find(|g| g.group_id == group).expect("listed");
    assert_eq!(ours.protocol_type, "consumer");
    assert_eq!(ours.state.as_deref(), Some("Unknown"));
    assert_eq!(ours.group_type.as_deref(), Some("classic"));
    assert!(
        admin
            .client()
            .metadata()
            .brokers
            .contains_key(&ours.coordinator)
    );

    // Rewind partition 0 while the group is empty.
    admin
        .alter_group_offsets(&group, &[((topic.clone(), 0), 0)])
        .await
        .into_result()
        .unwrap();
    let p0 = admin
        .list_group_offsets(&group, Some(&[(topic.clone(), 0)]))
        .await
        .unwrap();
    assert_eq!(p0.len(), 1);
    assert_eq!(p0[0].offset, 0);

    // tansu 0.6.0 does not offer OffsetDelete (API 47).
    let err = admin
        .delete_group_offsets(&group, &[(topic.clone(), 0)])
        .await
        .into_result()
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::UnsupportedApi {
                api: "OffsetDelete",
                ..
            }
        ),
        "{err:?}"
    );

    admin.delete_groups(&[&group]).await.into_result().unwrap();
}

#[tokio::test]
async fn tansu_deletes_a_group_with_members_and_removes_members() {
    // Apache Kafka refuses to delete a group with members (NON_EMPTY_GROUP);
    // tansu 0.6.0 deletes it. This states tansu's behaviour; the typed
    // NON_EMPTY_GROUP error is tested on the mock cluster.
    let admin = admin().await;
    let topic = unique_topic("admin-groups-del");
    let group = unique_topic("admin-group-del");
    admin
        .create_topics(&[NewTopic::new(&topic, 1, 1)], false)
        .await
        .into_result()
        .unwrap();
    let consumer = {
        let (topic, group) = (topic.clone(), group.clone());
        std::thread::spawn(move || {
            peer::run(
                "consume.py",
                &json!({
                    "bootstrap": broker(),
                    "topic": topic,
                    "group": group,
                    "count": 1000,
                    "timeout_s": 6,
                }),
            )
        })
    };
    let described = wait_for_member(&admin, &group).await;
    let member = described.members[0].member_id.clone();
    // LeaveGroup v3+ on the member's behalf.
    let removed = admin
        .remove_members(&group, &[MemberToRemove::member(&member)])
        .await;
    let outcome = removed
        .get(&MemberToRemove::member(&member))
        .expect("an outcome for the member");
    assert!(outcome.is_ok(), "{outcome:?}");
    let deleted = admin.delete_groups(&[&group]).await;
    deleted
        .into_result()
        .expect("tansu deletes a group with members");
    consumer.join().unwrap().expect("consumer");
}
