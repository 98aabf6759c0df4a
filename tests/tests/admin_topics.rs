//! The admin client's topic operations against the real broker (tansu).

use std::time::Duration;

use klamm::admin::{Admin, NewPartitions, NewTopic, TopicRef};
use klamm::protocol::ErrorCode;
use klamm::{ClientConfig, Error};
use klamm_tests::{broker, unique_topic};

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
        .with_timeout(Duration::from_secs(15))
}

#[tokio::test]
async fn creates_describes_lists_and_deletes_topics() {
    let admin = admin().await;
    let a = unique_topic("admin-a");
    let b = unique_topic("admin-b");
    let created = admin
        .create_topics(
            &[
                NewTopic::new(&a, 3, 1).config("cleanup.policy", "compact"),
                NewTopic::new(&b, 1, 1),
            ],
            false,
        )
        .await;
    assert_eq!(created.len(), 2);
    let ca = created.get(a.as_str()).unwrap().as_ref().unwrap();
    assert!(!ca.topic_id.is_nil(), "{ca:?}");
    assert!(created.get(b.as_str()).unwrap().is_ok());

    let described = admin.describe_topics(&[&a, &b]).await;
    let da = described.get(a.as_str()).unwrap().as_ref().unwrap();
    assert_eq!(da.name, a);
    assert_eq!(da.topic_id, ca.topic_id);
    assert!(!da.internal);
    assert_eq!(
        da.partitions
            .iter()
            .map(|p| p.partition)
            .collect::<Vec<_>>(),
        vec![0, 1, 2]
    );
    let brokers = admin.client().metadata().brokers.clone();
    for p in &da.partitions {
        let leader = p.leader.expect("a leader");
        assert!(brokers.contains_key(&leader), "{p:?}");
        assert!(p.replicas.contains(&leader), "{p:?}");
        assert!(p.isr.contains(&leader), "{p:?}");
    }
    let db = described.get(b.as_str()).unwrap().as_ref().unwrap();
    assert_eq!(db.partitions.len(), 1);

    let listed = admin.list_topics(false).await.unwrap();
    let names: Vec<&str> = listed.iter().map(|t| t.name.as_str()).collect();
    assert!(
        names.contains(&a.as_str()) && names.contains(&b.as_str()),
        "{names:?}"
    );
    assert!(listed.iter().all(|t| !t.internal));
    let with_internal = admin.list_topics(true).await.unwrap();
    assert!(with_internal.len() >= listed.len());

    // Delete one by name and one by id.
    let deleted = admin
        .delete_topics(&[TopicRef::from(a.as_str()), TopicRef::Id(db.topic_id)])
        .await;
    assert_eq!(deleted.len(), 2);
    for (topic, outcome) in deleted.iter() {
        assert!(outcome.is_ok(), "{topic}: {outcome:?}");
    }
    let after = admin.describe_topics(&[&a]).await;
    let err = after.get(a.as_str()).unwrap().as_ref().unwrap_err();
    assert_eq!(
        err.code(),
        Some(ErrorCode::UnknownTopicOrPartition),
        "{err}"
    );
}

#[tokio::test]
async fn one_failed_topic_does_not_hide_the_others() {
    let admin = admin().await;
    let existing = unique_topic("admin-exists");
    let fresh = unique_topic("admin-fresh");
    admin
        .create_topics(&[NewTopic::new(&existing, 1, 1)], false)
        .await
        .into_result()
        .unwrap();
    let results = admin
        .create_topics(
            &[NewTopic::new(&existing, 1, 1), NewTopic::new(&fresh, 2, 1)],
            false,
        )
        .await;
    let err = results
        .get(existing.as_str())
        .unwrap()
        .as_ref()
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::TopicAlreadyExists), "{err}");
    match err {
        Error::Broker { api, context, .. } => {
            assert_eq!(*api, "CreateTopics");
            assert_eq!(context.topic.as_deref(), Some(existing.as_str()));
        }
        other => panic!("{other:?}"),
    }
    assert!(results.get(fresh.as_str()).unwrap().is_ok());
}

#[tokio::test]
async fn tansu_accepts_an_invalid_partition_count() {
    // Apache Kafka answers INVALID_PARTITIONS for a partition count that is
    // neither positive nor -1; tansu 0.6.0 creates the topic and echoes the
    // count back. This states tansu's behaviour; the typed error for
    // INVALID_PARTITIONS is tested on the mock cluster (client/src/admin/tests).
    let admin = admin().await;
    let topic = unique_topic("admin-invalid");
    let results = admin
        .create_topics(&[NewTopic::new(&topic, -2, 1)], false)
        .await;
    let created = results.into_result().expect("tansu accepts it");
    assert_eq!(created[0].num_partitions, -2);
}

#[tokio::test]
async fn tansu_ignores_validate_only() {
    // Apache Kafka creates nothing with validate_only; tansu 0.6.0 creates
    // the topic anyway. This states tansu's behaviour; that the flag is sent
    // is checked on the mock cluster (client/src/admin/tests).
    let admin = admin().await;
    let topic = unique_topic("admin-validate");
    let results = admin
        .create_topics(&[NewTopic::new(&topic, 2, 1)], true)
        .await;
    results.into_result().unwrap();
    let described = admin.describe_topics(&[&topic]).await;
    let description = described.into_result().expect("tansu created it");
    assert_eq!(description[0].partitions.len(), 2);
}

#[tokio::test]
async fn unknown_topic_is_a_typed_error_for_describe_and_delete() {
    let admin = admin().await;
    let topic = unique_topic("admin-missing");
    let started = std::time::Instant::now();
    let deleted = admin.delete_topics(&[TopicRef::from(topic.as_str())]).await;
    let err = deleted.into_result().unwrap_err();
    assert_eq!(
        err.code(),
        Some(ErrorCode::UnknownTopicOrPartition),
        "{err}"
    );
    // Not retried until the deadline: an unknown topic is final for the admin.
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn create_partitions_is_not_offered_by_tansu() {
    // tansu 0.6.0 does not offer CreatePartitions (API 37): the admin says so,
    // naming the API. Request building and response handling are covered by
    // the unit tests in client/src/admin/topics_tests.rs and the mock cluster.
    let admin = admin().await;
    let topic = unique_topic("admin-grow");
    admin
        .create_topics(&[NewTopic::new(&topic, 1, 1)], false)
        .await
        .into_result()
        .unwrap();
    let results = admin
        .create_partitions(&[NewPartitions::increase_to(&topic, 3)], false)
        .await;
    let err = results.into_result().unwrap_err();
    assert!(
        matches!(
            err,
            Error::UnsupportedApi {
                api: "CreatePartitions",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("CreatePartitions"), "{err}");
}
