//! Test support for Klamm's integration tests: brokers, the librdkafka peer,
//! and topic names that never collide.
//!
//! ```no_run
//! let bootstrap = klamm_tests::broker(); // "127.0.0.1:PORT"
//! let topic = klamm_tests::unique_topic("produce-basic");
//! klamm_tests::peer::create_topic(bootstrap, &serde_json::json!({}), &topic, 3).unwrap();
//! ```
//!
//! Brokers come from the environment when the run was started by
//! `scripts/test.sh` (one broker for the whole run), otherwise each test
//! process starts its own through `scripts/broker.sh serve`, shared by all
//! tests in that process and stopped when the process ends, however it ends.
//! See `tests/README.md` for the variables and the broker's known gaps.

mod broker;
pub mod peer;
mod probe;
mod topic;

pub use broker::{SaslListener, TlsListener, broker, broker_sasl, broker_tls, workspace_root};
pub use probe::{ApiVersionRange, ProbeError, api_versions, request_v1};
pub use topic::unique_topic;
