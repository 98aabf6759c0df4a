//! The client against the mock cluster: metadata refresh, leader, controller
//! and coordinator moves, faults, version negotiation, pooling, SASL.

use std::collections::HashMap;
use std::time::Duration;

use klamm_protocol::generated::create_topics::request::CreatableTopic;
use klamm_protocol::generated::{CreateTopicsRequest, MetadataRequest};
use klamm_protocol::{ApiKey, ErrorCode, StrBytes, VersionRange};

use super::{Fault, FaultRule, MockCluster, MockSasl};
use crate::config::{ClientConfigBuilder, OAuthToken, SaslConfig, TokenFuture, TokenProvider};
use crate::{Client, ClientConfig, ConnKind, CoordinatorKey, Error, ErrorContext, Target};

fn config(cluster: &MockCluster) -> ClientConfigBuilder {
    ClientConfig::builder()
        .bootstrap(cluster.bootstrap().split(','))
        .request_timeout(Duration::from_secs(2))
        .reconnect_backoff(Duration::from_millis(5))
        .reconnect_backoff_max(Duration::from_millis(20))
}

async fn client(cluster: &MockCluster) -> Client {
    Client::connect(config(cluster).build().unwrap())
        .await
        .unwrap()
}

fn create(name: &str) -> CreateTopicsRequest {
    CreateTopicsRequest::default().with_topics(vec![
        CreatableTopic::default()
            .with_name(StrBytes::from(name))
            .with_num_partitions(2)
            .with_replication_factor(1),
    ])
}

#[tokio::test]
async fn metadata_lists_brokers_controller_and_leaders() {
    let cluster = MockCluster::start(3).await.unwrap();
    cluster.create_topic("t", 3);
    let client = client(&cluster).await;
    let meta = client.add_topics(["t", "missing"]).await.unwrap();
    assert_eq!(meta.brokers.keys().copied().collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(meta.controller, Some(1));
    let leaders: Vec<_> = (0..3)
        .map(|p| meta.leader("t", p).unwrap().0.addr.id)
        .collect();
    assert_eq!(leaders, [1, 2, 3]);
    assert_eq!(
        meta.topic("missing").unwrap().error,
        ErrorCode::UnknownTopicOrPartition
    );
}

#[tokio::test]
async fn leader_moves_are_seen_after_a_stale_metadata_error() {
    let cluster = MockCluster::start(3).await.unwrap();
    cluster.create_topic("t", 1);
    let client = client(&cluster).await;
    let before = client.add_topics(["t"]).await.unwrap();
    assert_eq!(
        before.leader("t", 0).map(|(b, e)| (b.addr.id, e)),
        Some((1, 0))
    );
    cluster.set_leader("t", 0, 3);
    let requests = cluster.request_count(ApiKey::Metadata);
    // What a producer would do on NOT_LEADER_OR_FOLLOWER: report, then look again.
    client.report(&Error::Broker {
        api: "Produce",
        code: ErrorCode::NotLeaderOrFollower,
        message: None,
        context: ErrorContext::broker(1).with_topic("t").with_partition(0),
    });
    tokio::time::timeout(Duration::from_secs(2), async {
        loop {
            if client.metadata().leader("t", 0).map(|(b, _)| b.addr.id) == Some(3) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the report triggered a refresh");
    assert!(cluster.request_count(ApiKey::Metadata) > requests);
    assert_eq!(
        client.metadata().leader("t", 0).unwrap().1,
        1,
        "epoch bumped"
    );
}

#[tokio::test]
async fn concurrent_refreshes_coalesce() {
    let cluster = MockCluster::start(1).await.unwrap();
    let client = client(&cluster).await;
    let before = cluster.request_count(ApiKey::Metadata);
    cluster.inject(
        FaultRule::new(ApiKey::Metadata, Fault::Delay(Duration::from_millis(200))).times(1),
    );
    let calls: Vec<_> = (0..20)
        .map(|_| {
            let c = client.clone();
            tokio::spawn(async move { c.refresh_metadata().await })
        })
        .collect();
    for call in calls {
        call.await.unwrap().unwrap();
    }
    let made = cluster.request_count(ApiKey::Metadata) - before;
    assert!(
        (1..=2).contains(&made),
        "20 refreshes made {made} Metadata requests"
    );
}

#[tokio::test]
async fn periodic_refresh_follows_metadata_max_age() {
    let cluster = MockCluster::start(1).await.unwrap();
    let client = Client::connect(
        config(&cluster)
            .metadata_max_age(Duration::from_millis(50))
            .build()
            .unwrap(),
    )
    .await
    .unwrap();
    let first = client.metadata().generation;
    tokio::time::timeout(Duration::from_secs(5), async {
        while client.metadata().generation < first + 2 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("two periodic refreshes");
}

#[tokio::test]
async fn partition_leader_target_follows_metadata() {
    let cluster = MockCluster::start(3).await.unwrap();
    cluster.create_topic("t", 3);
    let client = client(&cluster).await;
    // Not yet in the topics of interest: resolved with one refresh.
    let target = Target::PartitionLeader {
        topic: "t".into(),
        partition: 2,
    };
    let conn = client
        .connection_for(&target, ConnKind::Produce)
        .await
        .unwrap();
    assert_eq!(conn.broker().id, 3);
    cluster.set_leader("t", 2, 1);
    client.refresh_metadata().await.unwrap();
    let conn = client
        .connection_for(&target, ConnKind::Produce)
        .await
        .unwrap();
    assert_eq!(conn.broker().id, 1);
    let missing = Target::PartitionLeader {
        topic: "t".into(),
        partition: 9,
    };
    let err = client
        .connection_for(&missing, ConnKind::Produce)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::MetadataMissing { .. }), "{err:?}");
}

#[tokio::test]
async fn controller_moves() {
    let cluster = MockCluster::start(3).await.unwrap();
    let client = client(&cluster).await;
    cluster.set_controller(2);
    // Sent to the old controller, the broker says so in the body.
    let stale = client.send(&create("a")).await.unwrap();
    assert_eq!(
        ErrorCode::from_code(stale.topics[0].error_code),
        ErrorCode::NotController
    );
    client.refresh_metadata().await.unwrap();
    let fresh = client.send(&create("a")).await.unwrap();
    assert_eq!(
        ErrorCode::from_code(fresh.topics[0].error_code),
        ErrorCode::None
    );
    assert_eq!(cluster.broker_request_count(2, ApiKey::CreateTopics), 1);
}

#[tokio::test]
async fn coordinator_lookup_retries_and_follows_moves() {
    let cluster = MockCluster::start(3).await.unwrap();
    cluster.set_coordinator(0, "g", 2);
    let client = client(&cluster).await;
    cluster.inject(
        FaultRule::new(
            ApiKey::FindCoordinator,
            Fault::Error(ErrorCode::CoordinatorNotAvailable),
        )
        .times(2),
    );
    let key = CoordinatorKey::Group("g".into());
    assert_eq!(client.coordinator(&key).await.unwrap().id, 2);
    assert_eq!(cluster.request_count(ApiKey::FindCoordinator), 3);
    // Cached until invalidated.
    cluster.set_coordinator(0, "g", 3);
    assert_eq!(client.coordinator(&key).await.unwrap().id, 2);
    cluster.inject(
        FaultRule::new(
            ApiKey::FindCoordinator,
            Fault::Error(ErrorCode::NotCoordinator),
        )
        .times(1),
    );
    client.invalidate_coordinator(&key);
    assert_eq!(client.coordinator(&key).await.unwrap().id, 3);
    // Transactional ids are a separate key space.
    cluster.set_coordinator(1, "g", 1);
    let txn = client
        .coordinator(&CoordinatorKey::Transaction("g".into()))
        .await
        .unwrap();
    assert_eq!(txn.id, 1);
    let conn = client
        .connection_for(&Target::GroupCoordinator("g".into()), ConnKind::Group)
        .await
        .unwrap();
    assert_eq!(conn.broker().id, 3);
}

#[tokio::test]
async fn coordinator_errors_that_do_not_go_away_are_returned() {
    let cluster = MockCluster::start(1).await.unwrap();
    let client = Client::connect(
        config(&cluster)
            .request_timeout(Duration::from_millis(300))
            .build()
            .unwrap(),
    )
    .await
    .unwrap();
    cluster.inject(FaultRule::new(
        ApiKey::FindCoordinator,
        Fault::Error(ErrorCode::GroupAuthorizationFailed),
    ));
    let err = client
        .coordinator(&CoordinatorKey::Group("g".into()))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::GroupAuthorizationFailed));
    assert_eq!(
        cluster.request_count(ApiKey::FindCoordinator),
        1,
        "fatal codes are not retried"
    );
}

#[tokio::test]
async fn disconnects_garbage_and_truncation_fail_the_request_then_reconnect() {
    let cluster = MockCluster::start(1).await.unwrap();
    let client = client(&cluster).await;
    for fault in [Fault::Disconnect, Fault::Garbage, Fault::Truncate] {
        cluster.inject(FaultRule::new(ApiKey::CreateTopics, fault.clone()).times(1));
        let err = client.send(&create("x")).await.unwrap_err();
        assert!(
            matches!(err, Error::ConnectionLost { .. }),
            "{fault:?}: {err:?}"
        );
        assert!(err.is_retriable());
        // The next request gets a fresh connection.
        let ok = client
            .send(&create(&format!("after-{fault:?}")))
            .await
            .unwrap();
        assert_eq!(ok.topics[0].error_code, 0, "{fault:?}");
    }
}

#[tokio::test]
async fn slow_responses_time_out_and_the_connection_is_rebuilt() {
    let cluster = MockCluster::start(1).await.unwrap();
    let client = Client::connect(
        config(&cluster)
            .request_timeout(Duration::from_millis(150))
            .build()
            .unwrap(),
    )
    .await
    .unwrap();
    cluster.inject(
        FaultRule::new(
            ApiKey::CreateTopics,
            Fault::Delay(Duration::from_millis(600)),
        )
        .times(1),
    );
    let started = std::time::Instant::now();
    let err = client.send(&create("slow")).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::RequestTimeout {
                api: "CreateTopics",
                ..
            }
        ),
        "{err:?}"
    );
    // It failed instead of waiting for the late answer.
    assert!(started.elapsed() < Duration::from_secs(3));
    client.send(&create("fast")).await.unwrap();
}

#[tokio::test]
async fn metadata_refresh_survives_a_dropped_connection() {
    let cluster = MockCluster::start(2).await.unwrap();
    let client = client(&cluster).await;
    cluster.inject(FaultRule::new(ApiKey::Metadata, Fault::Disconnect).times(1));
    client.refresh_metadata().await.unwrap();
}

#[tokio::test]
async fn api_versions_falls_back_when_the_broker_rejects_our_version() {
    let cluster = MockCluster::start(1).await.unwrap();
    cluster.set_api_versions(ApiKey::ApiVersions, Some(VersionRange::new(0, 2)));
    let client = client(&cluster).await;
    let conn = client.connection(1, ConnKind::Other).await.unwrap();
    assert_eq!(
        conn.versions().get(ApiKey::ApiVersions),
        Some(VersionRange::new(0, 2))
    );
    // Per connection: v4 rejected (UNSUPPORTED_VERSION in a v0 body), then v2.
    let per_connection = cluster.request_count(ApiKey::ApiVersions);
    assert_eq!(per_connection % 2, 0, "{per_connection}");
}

#[tokio::test]
async fn negotiation_uses_the_highest_common_version_and_names_missing_apis() {
    let cluster = MockCluster::start(1).await.unwrap();
    cluster.set_api_versions(ApiKey::Metadata, Some(VersionRange::new(1, 7)));
    cluster.set_api_versions(ApiKey::CreateTopics, None);
    let client = client(&cluster).await;
    let conn = client.connection(1, ConnKind::Other).await.unwrap();
    assert_eq!(conn.version_for::<MetadataRequest>().unwrap(), 7);
    let err = client.send(&create("x")).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::UnsupportedApi {
                api: "CreateTopics",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("none"), "{err}");
}

#[tokio::test]
async fn separate_connections_per_kind_and_idle_close() {
    let cluster = MockCluster::start(1).await.unwrap();
    let client = Client::connect(
        config(&cluster)
            .connections_max_idle(Some(Duration::from_millis(100)))
            .build()
            .unwrap(),
    )
    .await
    .unwrap();
    let before = cluster.request_count(ApiKey::ApiVersions);
    let mut conns = HashMap::new();
    for kind in [
        ConnKind::Produce,
        ConnKind::Fetch,
        ConnKind::Group,
        ConnKind::Other,
    ] {
        conns.insert(kind, client.connection(1, kind).await.unwrap());
    }
    // Four kinds, four sockets, four handshakes; asking again reuses them.
    assert_eq!(cluster.request_count(ApiKey::ApiVersions) - before, 4);
    client.connection(1, ConnKind::Produce).await.unwrap();
    assert_eq!(cluster.request_count(ApiKey::ApiVersions) - before, 4);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(
        conns.values().all(|c| c.is_closed()),
        "idle connections close"
    );
    let again = client.connection(1, ConnKind::Produce).await.unwrap();
    assert!(!again.is_closed());
    assert_eq!(cluster.request_count(ApiKey::ApiVersions) - before, 5);
}

#[tokio::test]
async fn failed_connects_back_off_then_succeed() {
    let cluster = MockCluster::start(1).await.unwrap();
    let client = client(&cluster).await;
    cluster.inject(FaultRule::new(ApiKey::ApiVersions, Fault::Disconnect).times(2));
    assert!(client.connection(1, ConnKind::Produce).await.is_err());
    assert!(client.connection(1, ConnKind::Produce).await.is_err());
    client.connection(1, ConnKind::Produce).await.unwrap();
}

fn sasl_cluster_config() -> MockSasl {
    MockSasl {
        mechanisms: ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"]
            .map(String::from)
            .to_vec(),
        users: HashMap::from([("alice".to_owned(), "s3cret".to_owned())]),
        token: Some("good.token".into()),
        ..MockSasl::default()
    }
}

#[derive(Debug)]
struct FixedToken(&'static str);

impl TokenProvider for FixedToken {
    fn token(&self) -> TokenFuture<'_> {
        Box::pin(async move { Ok(OAuthToken::new(self.0, Some(Duration::from_secs(60)))) })
    }
}

#[tokio::test]
async fn sasl_mechanisms_authenticate_and_wrong_credentials_fail_fast() {
    let cluster = MockCluster::start(1).await.unwrap();
    cluster.set_sasl(sasl_cluster_config());
    for sasl in [
        SaslConfig::plain("alice", "s3cret"),
        SaslConfig::scram_sha256("alice", "s3cret"),
        SaslConfig::scram_sha512("alice", "s3cret"),
        SaslConfig::oauthbearer(FixedToken("good.token")),
    ] {
        let name = sasl.mechanism().name();
        let client = Client::connect(config(&cluster).sasl(sasl).build().unwrap())
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        client.send(&create(&format!("sasl-{name}"))).await.unwrap();
    }
    for sasl in [
        SaslConfig::plain("alice", "wrong"),
        SaslConfig::scram_sha256("alice", "wrong"),
        SaslConfig::scram_sha512("mallory", "s3cret"),
        SaslConfig::oauthbearer(FixedToken("bad.token")),
    ] {
        let name = sasl.mechanism().name();
        let err = Client::connect(config(&cluster).sasl(sasl).build().unwrap())
            .await
            .unwrap_err();
        match &err {
            Error::Authentication { mechanism, .. } => assert_eq!(mechanism, name),
            other => panic!("{name}: {other:?}"),
        }
        assert!(!err.is_retriable(), "{name}");
    }
}

#[tokio::test]
async fn a_broker_that_cannot_prove_the_password_is_refused() {
    let cluster = MockCluster::start(1).await.unwrap();
    cluster.set_sasl(MockSasl {
        forge_server_signature: true,
        ..sasl_cluster_config()
    });
    let err = Client::connect(
        config(&cluster)
            .sasl(SaslConfig::scram_sha512("alice", "s3cret"))
            .build()
            .unwrap(),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("does not verify"), "{err}");
}

#[tokio::test]
async fn unsupported_mechanism_names_what_the_broker_offers() {
    let cluster = MockCluster::start(1).await.unwrap();
    cluster.set_sasl(MockSasl {
        mechanisms: vec!["SCRAM-SHA-512".into()],
        ..sasl_cluster_config()
    });
    let err = Client::connect(
        config(&cluster)
            .sasl(SaslConfig::plain("alice", "s3cret"))
            .build()
            .unwrap(),
    )
    .await
    .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("PLAIN") && text.contains("SCRAM-SHA-512"),
        "{text}"
    );
}

#[tokio::test]
async fn sessions_are_reauthenticated_before_they_expire() {
    let cluster = MockCluster::start(1).await.unwrap();
    cluster.set_sasl(MockSasl {
        session_lifetime_ms: 200,
        ..sasl_cluster_config()
    });
    let client = Client::connect(
        config(&cluster)
            .sasl(SaslConfig::scram_sha256("alice", "s3cret"))
            .build()
            .unwrap(),
    )
    .await
    .unwrap();
    let conn = client.connection(1, ConnKind::Other).await.unwrap();
    let before = cluster.request_count(ApiKey::SaslAuthenticate);
    // Keep using the connection across several session lifetimes.
    for i in 0..10 {
        conn.send(&create(&format!("reauth-{i}"))).await.unwrap();
        tokio::time::sleep(Duration::from_millis(70)).await;
    }
    assert!(!conn.is_closed());
    // SCRAM takes two SaslAuthenticate rounds per (re-)authentication.
    assert!(
        cluster.request_count(ApiKey::SaslAuthenticate) - before >= 4,
        "no re-authentication happened"
    );
}
