//! An in-process mock Kafka cluster for tests: several brokers on loopback
//! ports speaking the real wire protocol (klamm-protocol's generated types),
//! with scripted metadata, leader and coordinator moves, and injectable
//! faults (error codes, delays, disconnects, garbage) per API and broker.
//!
//! Enabled by the `mock` cargo feature (and always in klamm's own tests).
//! Built in: ApiVersions (with per-API overrides), Metadata, FindCoordinator,
//! CreateTopics, SaslHandshake/SaslAuthenticate (PLAIN, SCRAM-SHA-256/512,
//! OAUTHBEARER, optional session lifetime for KIP-368). Everything else
//! (Produce, Fetch, groups...) is answered by handlers the test registers with
//! [`MockCluster::handle`]; an API with no handler closes the connection.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use klamm::mock::{Fault, FaultRule, MockCluster};
//! use klamm::protocol::{ApiKey, ErrorCode};
//! let cluster = MockCluster::start(3).await?;
//! cluster.create_topic("orders", 6);
//! cluster.set_leader("orders", 0, 3);
//! cluster.inject(FaultRule::new(ApiKey::Metadata, Fault::Error(ErrorCode::LeaderNotAvailable)).times(1));
//! let bootstrap = cluster.bootstrap(); // "127.0.0.1:PORT,127.0.0.1:PORT,..."
//! # let _ = bootstrap; Ok(()) }
//! ```

mod handlers;
mod sasl;
mod server;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use klamm_protocol::generated::{AnyRequest, AnyResponse};
use klamm_protocol::{ApiKey, ErrorCode, Uuid, VersionRange};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// What to do to a request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// Answer with this error code (built-in APIs: Metadata puts it on every
    /// topic, FindCoordinator and CreateTopics on their result; handlers see
    /// it in [`MockContext::injected_error`]).
    Error(ErrorCode),
    /// Wait this long before answering.
    Delay(Duration),
    /// Close the connection instead of answering.
    Disconnect,
    /// Send a negative frame length, then close.
    Garbage,
    /// Write half of the response, then close.
    Truncate,
}

/// A fault for an API, optionally on one broker, a limited number of times.
#[derive(Debug, Clone)]
pub struct FaultRule {
    api: ApiKey,
    broker: Option<i32>,
    fault: Fault,
    remaining: Option<usize>,
}

impl FaultRule {
    /// `fault` for every request of `api`, on every broker, until cleared.
    pub fn new(api: ApiKey, fault: Fault) -> Self {
        Self {
            api,
            broker: None,
            fault,
            remaining: None,
        }
    }
    /// Only on this broker.
    pub fn on_broker(mut self, id: i32) -> Self {
        self.broker = Some(id);
        self
    }
    /// Only for the next `n` matching requests.
    pub fn times(mut self, n: usize) -> Self {
        self.remaining = Some(n);
        self
    }
}

/// A handler for an API the mock does not implement itself.
pub type Handler = Arc<dyn Fn(&MockContext, &AnyRequest) -> Option<AnyResponse> + Send + Sync>;

/// What a handler knows about the request and the cluster.
#[derive(Debug, Clone)]
pub struct MockContext {
    /// The broker that received the request.
    pub broker: i32,
    /// The request's version.
    pub version: i16,
    /// An error code injected with [`Fault::Error`], if any.
    pub injected_error: Option<ErrorCode>,
    /// Topics: name → partitions (leader, leader epoch).
    pub topics: BTreeMap<String, Vec<MockPartition>>,
}

impl MockContext {
    /// The leader and epoch of a partition.
    pub fn leader(&self, topic: &str, partition: i32) -> Option<(i32, i32)> {
        let p = self
            .topics
            .get(topic)?
            .get(usize::try_from(partition).ok()?)?;
        Some((p.leader, p.leader_epoch))
    }
}

/// One partition of a mock topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MockPartition {
    /// Leader broker id (`-1`: no leader).
    pub leader: i32,
    /// Leader epoch; bumped by every leader change.
    pub leader_epoch: i32,
    /// Replica broker ids.
    pub replicas: Vec<i32>,
}

#[derive(Debug, Clone)]
struct MockTopic {
    id: Uuid,
    partitions: Vec<MockPartition>,
}

/// SASL settings for the mock brokers.
#[derive(Debug, Clone, Default)]
pub struct MockSasl {
    /// Mechanisms enabled (`PLAIN`, `SCRAM-SHA-256`, `SCRAM-SHA-512`, `OAUTHBEARER`).
    pub mechanisms: Vec<String>,
    /// username → password, for PLAIN and SCRAM.
    pub users: HashMap<String, String>,
    /// The one OAUTHBEARER token accepted.
    pub token: Option<String>,
    /// Session lifetime sent in SaslAuthenticate (KIP-368), 0 for none.
    pub session_lifetime_ms: i64,
    /// Send a wrong SCRAM server signature (to test the client's check).
    pub forge_server_signature: bool,
}

pub(crate) struct State {
    controller: i32,
    brokers: BTreeMap<i32, SocketAddr>,
    topics: BTreeMap<String, MockTopic>,
    coordinators: HashMap<(i8, String), i32>,
    faults: Vec<FaultRule>,
    api_overrides: HashMap<ApiKey, Option<VersionRange>>,
    handlers: HashMap<ApiKey, Handler>,
    counts: HashMap<(i32, ApiKey), usize>,
    sasl: Option<MockSasl>,
    next_topic_id: u8,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("controller", &self.controller)
            .field("brokers", &self.brokers)
            .field("topics", &self.topics)
            .finish_non_exhaustive()
    }
}

impl State {
    /// Takes the first fault rule matching this request, counting it down.
    fn take_fault(&mut self, broker: i32, api: ApiKey) -> Option<Fault> {
        let index = self
            .faults
            .iter()
            .position(|r| r.api == api && r.broker.is_none_or(|b| b == broker))?;
        let rule = &mut self.faults[index];
        let fault = rule.fault.clone();
        if let Some(n) = &mut rule.remaining {
            *n -= 1;
            if *n == 0 {
                self.faults.remove(index);
            }
        }
        Some(fault)
    }

    fn add_topic(&mut self, name: &str, partitions: i32) {
        let ids: Vec<i32> = self.brokers.keys().copied().collect();
        let id = self.next_topic_id;
        self.next_topic_id = self.next_topic_id.wrapping_add(1);
        let partitions = (0..partitions.max(0))
            .map(|p| {
                let leader = ids
                    .get(p as usize % ids.len().max(1))
                    .copied()
                    .unwrap_or(-1);
                MockPartition {
                    leader,
                    leader_epoch: 0,
                    replicas: vec![leader],
                }
            })
            .collect();
        self.topics.insert(
            name.to_owned(),
            MockTopic {
                id: Uuid::from_bytes([id; 16]),
                partitions,
            },
        );
    }

    fn context(&self, broker: i32, version: i16, injected_error: Option<ErrorCode>) -> MockContext {
        MockContext {
            broker,
            version,
            injected_error,
            topics: self
                .topics
                .iter()
                .map(|(k, t)| (k.clone(), t.partitions.clone()))
                .collect(),
        }
    }
}

pub(crate) type Shared = Arc<Mutex<State>>;

fn lock(state: &Shared) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}

/// A running mock cluster; dropping it stops every broker.
#[derive(Debug)]
pub struct MockCluster {
    state: Shared,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for MockCluster {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl MockCluster {
    /// Starts `brokers` brokers (ids 1..=n) on loopback; broker 1 is the
    /// controller and the default coordinator.
    pub async fn start(brokers: usize) -> std::io::Result<Self> {
        Self::start_with(brokers, None).await
    }

    /// As [`MockCluster::start`], with every listener speaking TLS with this
    /// PEM certificate chain and private key (PKCS#8 or SEC1).
    #[cfg(feature = "tls")]
    pub async fn start_tls(
        brokers: usize,
        cert_pem: &[u8],
        key_pem: &[u8],
    ) -> std::io::Result<Self> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let invalid = |e: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, e);
        let chain = CertificateDer::pem_slice_iter(cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| invalid(format!("certificate: {e}")))?;
        let key =
            PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| invalid(format!("key: {e}")))?;
        let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
            rustls_rustcrypto::provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| invalid(e.to_string()))?;
        let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
        Self::start_with(brokers, Some(acceptor)).await
    }

    async fn start_with(brokers: usize, acceptor: server::Acceptor) -> std::io::Result<Self> {
        let mut listeners = Vec::new();
        let mut addrs = BTreeMap::new();
        for i in 0..brokers.max(1) {
            let listener = TcpListener::bind("127.0.0.1:0").await?;
            let id = i as i32 + 1;
            addrs.insert(id, listener.local_addr()?);
            listeners.push((id, listener));
        }
        let state = Arc::new(Mutex::new(State {
            controller: 1,
            brokers: addrs,
            topics: BTreeMap::new(),
            coordinators: HashMap::new(),
            faults: Vec::new(),
            api_overrides: HashMap::new(),
            handlers: HashMap::new(),
            counts: HashMap::new(),
            sasl: None,
            next_topic_id: 1,
        }));
        let tasks = listeners
            .into_iter()
            .map(|(id, listener)| {
                tokio::spawn(server::serve(listener, id, state.clone(), acceptor.clone()))
            })
            .collect();
        Ok(Self { state, tasks })
    }

    /// `host:port` of every broker, comma-separated, for `bootstrap.servers`.
    pub fn bootstrap(&self) -> String {
        lock(&self.state)
            .brokers
            .values()
            .map(|a| a.to_string())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// `host:port` of one broker.
    pub fn broker_addr(&self, id: i32) -> Option<String> {
        lock(&self.state).brokers.get(&id).map(|a| a.to_string())
    }

    /// Creates a topic; partition `p` is led by the `p % brokers`-th broker.
    pub fn create_topic(&self, name: &str, partitions: i32) {
        lock(&self.state).add_topic(name, partitions);
    }

    /// Deletes a topic: metadata stops listing it.
    pub fn delete_topic(&self, name: &str) {
        lock(&self.state).topics.remove(name);
    }

    /// Moves a partition's leadership (bumping its leader epoch); `-1` for none.
    pub fn set_leader(&self, topic: &str, partition: i32, leader: i32) {
        let mut s = lock(&self.state);
        if let Some(p) = s
            .topics
            .get_mut(topic)
            .and_then(|t| t.partitions.get_mut(usize::try_from(partition).ok()?))
        {
            p.leader = leader;
            p.leader_epoch += 1;
            if leader >= 0 && !p.replicas.contains(&leader) {
                p.replicas.push(leader);
            }
        }
    }

    /// Moves the controller.
    pub fn set_controller(&self, id: i32) {
        lock(&self.state).controller = id;
    }

    /// Sets the coordinator of a group (`key_type` 0) or transactional id (1).
    pub fn set_coordinator(&self, key_type: i8, key: &str, broker: i32) {
        lock(&self.state)
            .coordinators
            .insert((key_type, key.to_owned()), broker);
    }

    /// Adds a fault rule (rules match in the order added).
    pub fn inject(&self, rule: FaultRule) {
        lock(&self.state).faults.push(rule);
    }

    /// Removes every fault rule.
    pub fn clear_faults(&self) {
        lock(&self.state).faults.clear();
    }

    /// Overrides the version range ApiVersions announces for an API (`None`:
    /// not offered). For ApiVersions itself, requests above the range get
    /// UNSUPPORTED_VERSION in a v0 body, as Kafka answers.
    pub fn set_api_versions(&self, api: ApiKey, range: Option<VersionRange>) {
        lock(&self.state).api_overrides.insert(api, range);
    }

    /// Registers a handler for an API the mock does not implement itself.
    pub fn handle(
        &self,
        api: ApiKey,
        handler: impl Fn(&MockContext, &AnyRequest) -> Option<AnyResponse> + Send + Sync + 'static,
    ) {
        lock(&self.state).handlers.insert(api, Arc::new(handler));
    }

    /// Requires SASL before anything but ApiVersions.
    pub fn set_sasl(&self, sasl: MockSasl) {
        lock(&self.state).sasl = Some(sasl);
    }

    /// Requests of `api` received by all brokers so far.
    pub fn request_count(&self, api: ApiKey) -> usize {
        lock(&self.state)
            .counts
            .iter()
            .filter(|((_, a), _)| *a == api)
            .map(|(_, n)| n)
            .sum()
    }

    /// Requests of `api` received by one broker so far.
    pub fn broker_request_count(&self, broker: i32, api: ApiKey) -> usize {
        lock(&self.state)
            .counts
            .get(&(broker, api))
            .copied()
            .unwrap_or(0)
    }
}
