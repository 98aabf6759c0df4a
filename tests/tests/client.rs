//! klamm's connection layer against the real broker: connect, negotiate
//! versions, metadata, the generic request API, TLS and SASL.

use std::time::Duration;

use klamm::config::{SaslConfig, TlsConfig};
use klamm::protocol::generated::create_topics::request::CreatableTopic;
use klamm::protocol::generated::{
    ApiVersionsRequest, ConsumerGroupHeartbeatRequest, CreateTopicsRequest, MetadataRequest,
};
use klamm::protocol::{ApiKey, ErrorCode, StrBytes};
use klamm::{Client, ClientConfig, ConnKind, Error, Target};
use klamm_tests::{broker, broker_sasl, broker_tls, unique_topic};

fn config(bootstrap: &str) -> klamm::config::ClientConfigBuilder {
    ClientConfig::builder()
        .bootstrap([bootstrap])
        .client_id("klamm-tests")
        .request_timeout(Duration::from_secs(10))
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
    assert_eq!(response.topics.len(), 1);
    assert_eq!(
        ErrorCode::from_code(response.topics[0].error_code),
        ErrorCode::None,
        "{response:?}"
    );
}

#[tokio::test]
async fn connects_negotiates_and_reads_metadata() {
    let client = Client::connect(config(broker()).build().unwrap())
        .await
        .unwrap();
    let meta = client.metadata();
    assert!(!meta.brokers.is_empty(), "{meta}");
    let controller = meta.controller.expect("tansu names a controller");
    assert!(meta.brokers.contains_key(&controller));

    let conn = client
        .connection(controller, ConnKind::Other)
        .await
        .unwrap();
    let theirs = conn
        .versions()
        .get(ApiKey::Metadata)
        .expect("broker offers Metadata");
    let used = conn.version_for::<MetadataRequest>().unwrap();
    assert_eq!(used, theirs.max.min(ApiKey::Metadata.valid_versions().max));
    // Several requests pipelined on the one connection.
    let calls: Vec<_> = (0..16)
        .map(|_| {
            let conn = conn.clone();
            tokio::spawn(async move { conn.send(&ApiVersionsRequest::default()).await })
        })
        .collect();
    for call in calls {
        assert_eq!(call.await.unwrap().unwrap().error_code, 0);
    }
}

#[tokio::test]
async fn creates_a_topic_through_the_generic_api_and_sees_it_in_metadata() {
    let client = Client::connect(config(broker()).build().unwrap())
        .await
        .unwrap();
    let topic = unique_topic("client-create");
    create_topic(&client, &topic, 3).await;
    let meta = client.add_topics([topic.as_str()]).await.unwrap();
    let t = meta.topic(&topic).expect("topic in metadata");
    assert_eq!(t.error, ErrorCode::None);
    assert_eq!(t.partitions.len(), 3);
    for p in &t.partitions {
        let (leader, _epoch) = meta
            .leader(&topic, p.partition)
            .expect("partition has a leader");
        assert!(meta.brokers.contains_key(&leader.addr.id));
    }
    // Creating it again answers TOPIC_ALREADY_EXISTS in the body.
    let again = client
        .send_to(
            &Target::Controller,
            &CreateTopicsRequest::default().with_topics(vec![
                CreatableTopic::default()
                    .with_name(StrBytes::from(topic.as_str()))
                    .with_num_partitions(3)
                    .with_replication_factor(1),
            ]),
        )
        .await
        .unwrap();
    assert_eq!(
        ErrorCode::from_code(again.topics[0].error_code),
        ErrorCode::TopicAlreadyExists
    );
}

#[tokio::test]
async fn an_api_the_broker_lacks_is_a_clear_error() {
    // tansu 0.6.0 does not offer KIP-848's ConsumerGroupHeartbeat.
    let client = Client::connect(config(broker()).build().unwrap())
        .await
        .unwrap();
    let err = client
        .send_to(
            &Target::AnyBroker,
            &ConsumerGroupHeartbeatRequest::default(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::UnsupportedApi { .. }), "{err:?}");
    assert!(err.to_string().contains("ConsumerGroupHeartbeat"), "{err}");
}

#[tokio::test]
async fn bootstrap_skips_dead_addresses() {
    let client = Client::connect(
        ClientConfig::builder()
            .bootstrap(["127.0.0.1:1", broker()])
            .reconnect_backoff(Duration::from_millis(10))
            .build()
            .unwrap(),
    )
    .await
    .unwrap();
    assert!(!client.metadata().brokers.is_empty());
}

#[tokio::test]
async fn tls_with_the_harness_ca() {
    let tls = broker_tls();
    let client = Client::connect(
        config(&tls.bootstrap)
            .tls(TlsConfig::new().ca_file(&tls.ca_pem))
            .build()
            .unwrap(),
    )
    .await
    .expect("TLS connect");
    let topic = unique_topic("client-tls");
    create_topic(&client, &topic, 1).await;
    let meta = client.add_topics([topic.as_str()]).await.unwrap();
    assert_eq!(meta.topic(&topic).unwrap().partitions.len(), 1);
}

#[tokio::test]
async fn tls_failures_say_why() {
    let tls = broker_tls();
    // The system roots do not know the per-run CA.
    let err = Client::connect(
        config(&tls.bootstrap)
            .tls(TlsConfig::new())
            .build()
            .unwrap(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::Tls { .. }), "{err:?}");
    assert!(err.to_string().contains("unknown CA"), "{err}");
    // Right CA, wrong name.
    let err = Client::connect(
        config(&tls.bootstrap)
            .tls(
                TlsConfig::new()
                    .ca_file(&tls.ca_pem)
                    .server_name("wrong.example"),
            )
            .build()
            .unwrap(),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("name mismatch"), "{err}");
    // Same, with hostname verification off: the chain still verifies, so it connects.
    Client::connect(
        config(&tls.bootstrap)
            .tls(
                TlsConfig::new()
                    .ca_file(&tls.ca_pem)
                    .server_name("wrong.example")
                    .verify_hostname(false),
            )
            .build()
            .unwrap(),
    )
    .await
    .expect("chain-only verification");
}

#[tokio::test]
async fn sasl_each_mechanism_authenticates() {
    let sasl = broker_sasl();
    for make in [
        SaslConfig::plain,
        SaslConfig::scram_sha256,
        SaslConfig::scram_sha512,
    ] {
        let cfg = make(sasl.username.as_str(), sasl.password.as_str());
        let mechanism = cfg.mechanism();
        let client = Client::connect(config(&sasl.bootstrap).sasl(cfg).build().unwrap())
            .await
            .unwrap_or_else(|e| panic!("{mechanism}: {e}"));
        let topic = unique_topic(&format!("client-sasl-{}", mechanism.name().to_lowercase()));
        create_topic(&client, &topic, 1).await;
        let meta = client.add_topics([topic.as_str()]).await.unwrap();
        assert!(meta.topic(&topic).is_some(), "{mechanism}");
    }
}

#[tokio::test]
async fn sasl_wrong_password_is_an_authentication_error() {
    let sasl = broker_sasl();
    for make in [
        SaslConfig::plain,
        SaslConfig::scram_sha256,
        SaslConfig::scram_sha512,
    ] {
        let cfg = make(sasl.username.as_str(), "not-the-password");
        let mechanism = cfg.mechanism();
        let started = std::time::Instant::now();
        let err = Client::connect(config(&sasl.bootstrap).sasl(cfg).build().unwrap())
            .await
            .unwrap_err();
        match &err {
            Error::Authentication { mechanism: m, .. } => assert_eq!(m, mechanism.name()),
            other => panic!("{mechanism}: expected an authentication error, got {other:?}"),
        }
        assert!(!err.is_retriable());
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{mechanism}: no retry loop"
        );
    }
}

#[tokio::test]
async fn sasl_from_kafka_properties() {
    let sasl = broker_sasl();
    let config = ClientConfig::from_pairs([
        ("bootstrap.servers", sasl.bootstrap.as_str()),
        ("security.protocol", "SASL_PLAINTEXT"),
        ("sasl.mechanism", "SCRAM-SHA-256"),
        ("sasl.username", sasl.username.as_str()),
        ("sasl.password", sasl.password.as_str()),
    ])
    .unwrap();
    let client = Client::connect(config).await.unwrap();
    assert!(!client.metadata().brokers.is_empty());
}
