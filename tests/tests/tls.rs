//! The TLS listener with librdkafka: verified connections work, unverified
//! ones are refused by the client.

use klamm_tests::{broker_tls, peer, unique_topic};
use serde_json::json;

#[test]
fn librdkafka_produces_and_consumes_over_tls() {
    let tls = broker_tls();
    let config = peer::tls_config(tls);
    let topic = unique_topic("tls-roundtrip");
    peer::create_topic(&tls.bootstrap, &config, &topic, 1).expect("create topic over TLS");
    let produced = peer::run(
        "produce.py",
        &json!({"bootstrap": tls.bootstrap, "config": config, "topic": topic,
                "records": [{"key": "k", "value": "over tls"}]}),
    )
    .expect("produce over TLS");
    assert_eq!(produced["delivered"][0]["offset"], json!(0), "{produced}");
    let consumed = peer::run(
        "consume.py",
        &json!({"bootstrap": tls.bootstrap, "config": config, "topic": topic,
                "count": 1, "timeout_s": 30}),
    )
    .expect("consume over TLS");
    assert_eq!(
        consumed["records"][0]["value"],
        json!("over tls"),
        "{consumed}"
    );
}

#[test]
fn librdkafka_rejects_the_certificate_without_the_harness_ca() {
    let tls = broker_tls();
    // The system trust store does not know the per-run CA.
    let err = peer::run(
        "admin.py",
        &json!({"bootstrap": tls.bootstrap, "op": "metadata", "timeout_s": 3,
                "config": {"security.protocol": "SSL"}}),
    )
    .expect_err("metadata must fail without the CA");
    let peer::PeerError::Failed { reply, .. } = err else {
        panic!("unexpected failure kind: {err}");
    };
    let errors = reply["client_errors"].to_string();
    assert!(
        errors.contains("certificate verify failed") || errors.contains("SSL handshake failed"),
        "{reply}"
    );
}
