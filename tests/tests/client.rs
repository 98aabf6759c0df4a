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

/// Makes a CA and a server certificate for `localhost` / `127.0.0.1` with the
/// `openssl` command (as the harness does): (CA PEM path, cert PEM, key PEM).
fn make_certificates(name: &str) -> (std::path::PathBuf, Vec<u8>, Vec<u8>) {
    let dir = std::env::temp_dir().join(unique_topic(name));
    std::fs::create_dir_all(&dir).unwrap();
    let run = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .current_dir(&dir)
            .output()
            .expect("the openssl command");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    run(&[
        &["req", "-x509"][..],
        &ec[..],
        &[
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "1",
            "-subj",
            "/CN=klamm test CA",
        ][..],
    ]
    .concat());
    run(&[
        &["req"][..],
        &ec[..],
        &[
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=localhost",
        ][..],
    ]
    .concat());
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
    )
    .unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "1",
        "-extfile",
        "ext.cnf",
    ]);
    (
        dir.join("ca.pem"),
        std::fs::read(dir.join("server.pem")).unwrap(),
        std::fs::read(dir.join("server.key")).unwrap(),
    )
}

/// The harness offers TLS and SASL on separate listeners, so SASL_SSL runs
/// against klamm's mock cluster: TLS first, then each mechanism over it.
#[tokio::test]
async fn sasl_over_tls_on_the_mock_cluster() {
    use klamm::mock::{MockCluster, MockSasl};
    let (ca, cert, key) = make_certificates("sasl-ssl");
    let cluster = MockCluster::start_tls(2, &cert, &key).await.unwrap();
    cluster.set_sasl(MockSasl {
        mechanisms: vec![
            "PLAIN".into(),
            "SCRAM-SHA-256".into(),
            "SCRAM-SHA-512".into(),
        ],
        users: [("alice".to_owned(), "pw".to_owned())]
            .into_iter()
            .collect(),
        ..MockSasl::default()
    });
    for sasl in [
        SaslConfig::plain("alice", "pw"),
        SaslConfig::scram_sha256("alice", "pw"),
        SaslConfig::scram_sha512("alice", "pw"),
    ] {
        let mechanism = sasl.mechanism();
        let client = Client::connect(
            ClientConfig::builder()
                .bootstrap(cluster.bootstrap().split(','))
                .tls(TlsConfig::new().ca_file(&ca))
                .sasl(sasl)
                .build()
                .unwrap(),
        )
        .await
        .unwrap_or_else(|e| panic!("{mechanism}: {e}"));
        assert_eq!(client.metadata().brokers.len(), 2, "{mechanism}");
        create_topic(&client, &format!("sasl-ssl-{}", mechanism.name()), 1).await;
    }
    // The same from Kafka properties.
    let config = ClientConfig::from_pairs([
        ("bootstrap.servers", cluster.bootstrap().as_str()),
        ("security.protocol", "SASL_SSL"),
        ("ssl.ca.location", ca.to_str().unwrap()),
        ("sasl.mechanism", "SCRAM-SHA-512"),
        ("sasl.username", "alice"),
        ("sasl.password", "pw"),
    ])
    .unwrap();
    Client::connect(config).await.unwrap();
    let _ = std::fs::remove_dir_all(ca.parent().unwrap());
}
