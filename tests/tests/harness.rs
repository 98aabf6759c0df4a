//! The harness itself: brokers answer, listeners enforce what they claim.

use std::process::Command;
use std::time::Duration;

use klamm_tests::{ProbeError, api_versions, broker, broker_sasl, broker_tls, request_v1};

const TIMEOUT: Duration = Duration::from_secs(10);

fn range(apis: &[klamm_tests::ApiVersionRange], key: i16) -> (i16, i16) {
    let api = apis
        .iter()
        .find(|a| a.api_key == key)
        .unwrap_or_else(|| panic!("broker does not offer api key {key}: {apis:?}"));
    (api.min_version, api.max_version)
}

#[test]
fn plain_broker_answers_api_versions_with_the_core_apis() {
    let apis = api_versions(broker(), TIMEOUT).expect("ApiVersions v0");
    for (key, at_least) in [(0, 3), (1, 4), (3, 1), (18, 3), (19, 2)] {
        let (min, max) = range(&apis, key);
        assert!(min <= max, "api {key}: min {min} > max {max}");
        assert!(max >= at_least, "api {key}: max version {max} < {at_least}");
    }
}

#[test]
fn tls_listener_speaks_only_tls() {
    let tls = broker_tls();
    // A plaintext request gets no Kafka answer from a TLS listener.
    let plain = api_versions(&tls.bootstrap, TIMEOUT);
    assert!(
        plain.is_err(),
        "plaintext ApiVersions on the TLS port succeeded: {plain:?}"
    );
    // The same request inside TLS, verified against the harness's CA, works.
    let probe = klamm_tests::workspace_root().join("scripts/probe_api_versions.py");
    let out = Command::new("python3")
        .arg(&probe)
        .arg("--tls-ca")
        .arg(&tls.ca_pem)
        .arg("--json")
        .arg(&tls.bootstrap)
        .output()
        .expect("run the python probe");
    assert!(
        out.status.success(),
        "ApiVersions over TLS failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("\"api_key\": 18"), "{text}");
}

#[test]
fn sasl_listener_allows_api_versions_but_nothing_else_before_authentication() {
    let sasl = broker_sasl();
    let apis = api_versions(&sasl.bootstrap, TIMEOUT).expect("ApiVersions before auth");
    assert_eq!(range(&apis, 17), (0, 1), "SaslHandshake versions");
    assert_eq!(range(&apis, 36), (0, 2), "SaslAuthenticate versions");
    // Metadata v0 for all topics (empty topic array), unauthenticated: the
    // listener must close the connection instead of answering.
    let metadata = request_v1(&sasl.bootstrap, 3, 0, &0i32.to_be_bytes(), TIMEOUT);
    assert!(
        matches!(metadata, Err(ProbeError::Closed { .. })),
        "unauthenticated Metadata was not refused: {metadata:?}"
    );
}

#[test]
fn probing_a_dead_address_fails_with_a_reason() {
    // Port 1 on loopback: nothing listens there.
    let err = api_versions("127.0.0.1:1", Duration::from_secs(2)).unwrap_err();
    assert!(
        matches!(err, ProbeError::Io { .. } | ProbeError::Closed { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("127.0.0.1:1"), "{err}");
}
