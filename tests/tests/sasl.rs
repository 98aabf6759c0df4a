//! The SASL listener with librdkafka: every offered mechanism authenticates
//! with the right password and is refused with a wrong one.

use klamm_tests::{broker_sasl, peer, unique_topic};
use serde_json::json;

const MECHANISMS: [&str; 3] = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"];

#[test]
fn librdkafka_authenticates_with_each_mechanism_and_round_trips() {
    let sasl = broker_sasl();
    for mechanism in MECHANISMS {
        let config = peer::sasl_config(sasl, mechanism);
        let topic = unique_topic(&format!("sasl-{mechanism}"));
        peer::create_topic(&sasl.bootstrap, &config, &topic, 1)
            .unwrap_or_else(|e| panic!("{mechanism}: create topic: {e}"));
        peer::run(
            "produce.py",
            &json!({"bootstrap": sasl.bootstrap, "config": config, "topic": topic,
                    "records": [{"value": mechanism}]}),
        )
        .unwrap_or_else(|e| panic!("{mechanism}: produce: {e}"));
        let consumed = peer::run(
            "consume.py",
            &json!({"bootstrap": sasl.bootstrap, "config": config, "topic": topic,
                    "count": 1, "timeout_s": 30}),
        )
        .unwrap_or_else(|e| panic!("{mechanism}: consume: {e}"));
        assert_eq!(
            consumed["records"][0]["value"],
            json!(mechanism),
            "{consumed}"
        );
    }
}

#[test]
fn a_wrong_password_is_refused_for_each_mechanism() {
    let sasl = broker_sasl();
    for mechanism in MECHANISMS {
        let mut config = peer::sasl_config(sasl, mechanism);
        config["sasl.password"] = json!("not-the-password");
        let err = peer::run(
            "admin.py",
            &json!({"bootstrap": sasl.bootstrap, "config": config, "op": "metadata",
                    "timeout_s": 3}),
        )
        .expect_err("metadata must fail with a wrong password");
        let peer::PeerError::Failed { reply, .. } = err else {
            panic!("{mechanism}: unexpected failure kind: {err}");
        };
        let errors = reply["client_errors"].to_string();
        assert!(
            errors.contains("_AUTHENTICATION") && errors.contains("Invalid username or password"),
            "{mechanism}: {reply}"
        );
    }
}
