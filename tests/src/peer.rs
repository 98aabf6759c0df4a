//! The librdkafka peer: `tests/peer/*.py` run with the peer venv's python.
//!
//! Each script reads one JSON object on stdin and prints one on stdout; the
//! fields are documented at the top of each script.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use serde_json::{Value, json};

use crate::broker::{SaslListener, TlsListener, workspace_root};

/// A peer script that failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PeerError {
    /// No usable peer venv (see `scripts/peer-venv.sh`).
    #[error("peer venv unavailable: {0}")]
    Venv(String),
    /// The script could not be started or fed.
    #[error("{script}: {source}")]
    Io {
        /// The script's file name.
        script: String,
        /// The I/O failure.
        #[source]
        source: std::io::Error,
    },
    /// The script exited non-zero; `reply` is its JSON answer (often
    /// `{"error": ...}` or per-item errors), `Value::Null` if it printed none.
    #[error("{script} failed ({status}): {reply} {stderr_tail}")]
    Failed {
        /// The script's file name.
        script: String,
        /// Its exit status.
        status: std::process::ExitStatus,
        /// Its JSON answer.
        reply: Value,
        /// The last lines of its stderr.
        stderr_tail: String,
    },
    /// The script exited zero but its stdout was not one JSON object.
    #[error("{script} printed no JSON: {stdout}")]
    BadOutput {
        /// The script's file name.
        script: String,
        /// What it printed.
        stdout: String,
    },
}

/// The peer venv's python: `KLAMM_PEER_PYTHON`, or the venv that
/// `scripts/peer-venv.sh` creates (or finds) under `.klamm/venv`.
pub fn python() -> Result<&'static Path, PeerError> {
    static PYTHON: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    PYTHON
        .get_or_init(|| {
            if let Some(p) = std::env::var_os("KLAMM_PEER_PYTHON").filter(|p| !p.is_empty()) {
                return Ok(PathBuf::from(p));
            }
            let script = workspace_root().join("scripts/peer-venv.sh");
            let out = Command::new("bash")
                .arg(&script)
                .stderr(Stdio::piped())
                .output()
                .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
            if !out.status.success() {
                let err = String::from_utf8_lossy(&out.stderr);
                return Err(err
                    .lines()
                    .last()
                    .unwrap_or("peer-venv.sh failed")
                    .to_owned());
            }
            Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
        })
        .as_deref()
        .map_err(|e| PeerError::Venv(e.clone()))
}

/// Runs `tests/peer/<script>` with `input` on stdin and returns its JSON answer.
pub fn run(script: &str, input: &Value) -> Result<Value, PeerError> {
    let python = python()?;
    let path = workspace_root().join("tests/peer").join(script);
    let io = |source| PeerError::Io {
        script: script.to_owned(),
        source,
    };
    let mut child = Command::new(python)
        .arg(&path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(io)?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(input.to_string().as_bytes()).map_err(io)?;
    }
    let out = child.wait_with_output().map_err(io)?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let reply = serde_json::from_str::<Value>(stdout.trim());
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(3).collect();
        return Err(PeerError::Failed {
            script: script.to_owned(),
            status: out.status,
            reply: reply.unwrap_or(Value::Null),
            stderr_tail: tail.into_iter().rev().collect::<Vec<_>>().join(" | "),
        });
    }
    reply.map_err(|_| PeerError::BadOutput {
        script: script.to_owned(),
        stdout: stdout.into_owned(),
    })
}

/// librdkafka settings for a TLS listener, verifying against its CA.
pub fn tls_config(listener: &TlsListener) -> Value {
    json!({
        "security.protocol": "SSL",
        "ssl.ca.location": listener.ca_pem,
    })
}

/// librdkafka settings for a SASL listener with `mechanism` (`PLAIN`,
/// `SCRAM-SHA-256` or `SCRAM-SHA-512`) and the listener's user.
pub fn sasl_config(listener: &SaslListener, mechanism: &str) -> Value {
    json!({
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": mechanism,
        "sasl.username": listener.username,
        "sasl.password": listener.password,
    })
}

/// Creates `topic` with `partitions` partitions (replication factor 1)
/// through librdkafka's admin client; `config` is extra librdkafka settings.
pub fn create_topic(
    bootstrap: &str,
    config: &Value,
    topic: &str,
    partitions: i32,
) -> Result<(), PeerError> {
    run(
        "admin.py",
        &json!({
            "bootstrap": bootstrap,
            "config": config,
            "op": "create_topics",
            "topics": [{"name": topic, "partitions": partitions}],
        }),
    )
    .map(drop)
}
