//! scripts/capture.sh and the recording proxy: what other work relies on to
//! capture golden bytes.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use klamm_tests::{unique_topic, workspace_root};
use serde_json::Value;

#[test]
fn capture_records_each_request_with_its_response_and_keeps_clients_on_the_proxy() {
    let dir = std::env::temp_dir().join(unique_topic("klamm-capture"));
    let root = workspace_root();
    let out = Command::new("bash")
        .arg(root.join("scripts/capture.sh"))
        .arg(&dir)
        .arg("--")
        .arg("sh")
        .arg("-c")
        .arg(
            r#"echo "{\"bootstrap\":\"$KLAMM_BOOTSTRAP\",\"op\":\"metadata\"}" |
               "$KLAMM_PEER_PYTHON" tests/peer/admin.py"#,
        )
        .current_dir(root)
        .env("KLAMM_NO_INSTALL", "1")
        .output()
        .expect("run scripts/capture.sh");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "capture.sh failed: {stderr}");

    // The proxy's port, from "recording into DIR via KLAMM_BOOTSTRAP=127.0.0.1:PORT".
    let port: u16 = stderr
        .lines()
        .find_map(|l| l.split("KLAMM_BOOTSTRAP=127.0.0.1:").nth(1))
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("no proxy address in: {stderr}"));

    let index = std::fs::read_to_string(dir.join("frames.jsonl")).expect("frames.jsonl");
    let frames: Vec<Value> = index
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    for f in &frames {
        check_raw_file(&dir, f);
    }

    // Every response answers exactly one request: same connection, same
    // correlation id, and the request's API key and version. (Not every
    // request has a response: a client may close with requests in flight.)
    let mut requests = HashMap::new();
    for f in frames.iter().filter(|f| f["dir"] == "c2s") {
        let id = (f["conn"].as_i64(), f["correlation_id"].as_i64());
        assert!(requests.insert(id, f).is_none(), "duplicate request {f}");
    }
    let responses: Vec<&Value> = frames.iter().filter(|f| f["dir"] == "s2c").collect();
    assert!(responses.len() <= requests.len(), "{index}");
    for r in &responses {
        let q = requests
            .remove(&(r["conn"].as_i64(), r["correlation_id"].as_i64()))
            .unwrap_or_else(|| panic!("response without request: {r}"));
        assert_eq!(r["api_key"], q["api_key"], "{r}");
        assert_eq!(r["api_version"], q["api_version"], "{r}");
    }
    let keys: Vec<i64> = responses
        .iter()
        .filter_map(|r| r["api_key"].as_i64())
        .collect();
    assert!(keys.contains(&18), "no ApiVersions in {keys:?}");
    assert!(keys.contains(&3), "no Metadata in {keys:?}");

    // The broker advertises the proxy, so Metadata answers carry its port.
    let port_bytes = i32::from(port).to_be_bytes();
    let metadata = responses
        .iter()
        .find(|r| r["api_key"] == 3)
        .expect("a Metadata response");
    let payload = std::fs::read(dir.join(metadata["file"].as_str().expect("file"))).expect("read");
    assert!(
        payload.windows(4).any(|w| w == port_bytes),
        "Metadata does not advertise the proxy port {port}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The raw file holds exactly the frame's payload, as the index says.
fn check_raw_file(dir: &Path, frame: &Value) {
    let bytes = std::fs::read(dir.join(frame["file"].as_str().expect("file"))).expect("raw file");
    assert_eq!(bytes.len() as u64, frame["size"].as_u64().expect("size"));
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(Some(hex.as_str()), frame["hex"].as_str(), "{frame}");
}
