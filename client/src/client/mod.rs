//! [`Client`]: the shared core the producer, consumer and admin build on —
//! the connection pool, cluster metadata, coordinator lookups, and a generic
//! request API for any generated request.
//!
//! ```text
//! Client ─┬─ Pool (broker id × ConnKind → Connection)
//!         ├─ metadata: watch<Snapshot> ◀── refresh task ◀── trigger (coalescing, capacity 1)
//!         └─ coordinators: (group|txn, key) → broker id, from FindCoordinator
//! ```

mod coordinator;
mod refresh;

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use klamm_protocol::{ApiKey, Request, Route};
use tokio::sync::{mpsc, watch};

use crate::config::ClientConfig;
use crate::conn::{BrokerAddr, ConnKind, Connection, Connector, Pool};
use crate::error::Error;
use crate::metadata::ClusterMetadata;

pub use coordinator::CoordinatorKey;
use refresh::Snapshot;

/// Where to send a request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Target {
    /// Any broker (one with an open connection if possible).
    AnyBroker,
    /// A broker by node id.
    Broker(i32),
    /// The controller from metadata.
    Controller,
    /// The coordinator of a consumer group.
    GroupCoordinator(String),
    /// The coordinator of a transactional id.
    TxnCoordinator(String),
    /// The leader of a partition (metadata is refreshed once if unknown).
    PartitionLeader {
        /// Topic name.
        topic: String,
        /// Partition index.
        partition: i32,
    },
}

/// Which topics periodic refreshes ask about.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Interest {
    All,
    Topics(BTreeSet<String>),
}

/// A connected Kafka client. Cheap to clone; clones share everything.
#[derive(Debug, Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    config: Arc<ClientConfig>,
    pool: Pool,
    bootstrap: Vec<BrokerAddr>,
    snapshot: watch::Sender<Snapshot>,
    trigger: mpsc::Sender<()>,
    interest: Mutex<Interest>,
    coordinators: Mutex<HashMap<CoordinatorKey, BrokerAddr>>,
}

impl Client {
    /// Connects: loads TLS settings, bootstraps from any of the configured
    /// addresses and fetches the first metadata (brokers and controller).
    pub async fn connect(config: ClientConfig) -> Result<Self, Error> {
        let config = Arc::new(config);
        let connector = Connector::new(config.clone())?;
        let bootstrap = config
            .bootstrap()
            .iter()
            .enumerate()
            .map(|(i, addr)| {
                let (host, port) = crate::conn::split_host_port(addr)
                    .map_err(|r| Error::config("bootstrap.servers", r))?;
                // Bootstrap brokers get negative ids until metadata names them.
                Ok(BrokerAddr::new(-1 - i as i32, host, port))
            })
            .collect::<Result<Vec<_>, Error>>()?;
        let (snapshot, _) = watch::channel(Snapshot::initial());
        let (trigger, trigger_rx) = mpsc::channel(1);
        let inner = Arc::new(Inner {
            config,
            pool: Pool::new(connector),
            bootstrap,
            snapshot,
            trigger,
            interest: Mutex::new(Interest::Topics(BTreeSet::new())),
            coordinators: Mutex::new(HashMap::new()),
        });
        tokio::spawn(refresh::run(Arc::downgrade(&inner), trigger_rx));
        let client = Self { inner };
        client.refresh_metadata().await?;
        Ok(client)
    }

    /// The configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// The latest metadata snapshot (no I/O).
    pub fn metadata(&self) -> Arc<ClusterMetadata> {
        self.inner.snapshot.borrow().metadata.clone()
    }

    /// Changes with every metadata refresh (started or finished), for tasks
    /// that follow the topic list (pattern subscriptions).
    pub(crate) fn metadata_changes(&self) -> watch::Receiver<Snapshot> {
        self.inner.snapshot.subscribe()
    }

    /// Fetches fresh metadata and waits for it. Concurrent calls share one
    /// Metadata request.
    pub async fn refresh_metadata(&self) -> Result<Arc<ClusterMetadata>, Error> {
        refresh::refresh(&self.inner).await
    }

    /// Adds topics to those refreshes ask about, and refreshes.
    pub async fn add_topics<S: Into<String>>(
        &self,
        topics: impl IntoIterator<Item = S>,
    ) -> Result<Arc<ClusterMetadata>, Error> {
        {
            let mut interest = self
                .inner
                .interest
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if let Interest::Topics(set) = &mut *interest {
                set.extend(topics.into_iter().map(Into::into));
            }
        }
        self.refresh_metadata().await
    }

    /// Makes refreshes ask about every topic in the cluster (admin tools).
    pub async fn track_all_topics(&self) -> Result<Arc<ClusterMetadata>, Error> {
        *self
            .inner
            .interest
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Interest::All;
        self.refresh_metadata().await
    }

    /// Tells the client about an error; errors that mean stale metadata
    /// (NOT_LEADER_OR_FOLLOWER, UNKNOWN_TOPIC_OR_PARTITION, FENCED_LEADER_EPOCH,
    /// LEADER_NOT_AVAILABLE, lost connections) start a background refresh, and
    /// coordinator errors forget the cached coordinator.
    pub fn report(&self, err: &Error) {
        let advice = crate::retry::classify(err);
        if advice.refresh_metadata {
            tracing::debug!(error = %err, reason = advice.reason, "refreshing metadata after error");
            refresh::trigger(&self.inner);
        }
    }

    /// The connection of `kind` to broker `id`, opening it if needed.
    pub async fn connection(&self, id: i32, kind: ConnKind) -> Result<Connection, Error> {
        let addr = self.broker_addr(id)?;
        self.inner.pool.get(&addr, kind).await
    }

    /// A connection for `target`.
    pub async fn connection_for(
        &self,
        target: &Target,
        kind: ConnKind,
    ) -> Result<Connection, Error> {
        match target {
            Target::AnyBroker => any_connection(&self.inner, kind).await,
            Target::Broker(id) => self.connection(*id, kind).await,
            Target::Controller => {
                let meta = self.metadata();
                let id = match meta.controller {
                    Some(id) => id,
                    None => self.refresh_metadata().await?.controller.ok_or_else(|| {
                        Error::MetadataMissing {
                            what: "controller".into(),
                        }
                    })?,
                };
                self.connection(id, kind).await
            }
            Target::GroupCoordinator(group) => {
                let addr = coordinator::find(self, &CoordinatorKey::Group(group.clone())).await?;
                self.inner.pool.get(&addr, kind).await
            }
            Target::TxnCoordinator(txn) => {
                let addr =
                    coordinator::find(self, &CoordinatorKey::Transaction(txn.clone())).await?;
                self.inner.pool.get(&addr, kind).await
            }
            Target::PartitionLeader { topic, partition } => {
                let leader =
                    |m: &ClusterMetadata| m.leader(topic, *partition).map(|(b, _)| b.addr.clone());
                let addr = match leader(&self.metadata()) {
                    Some(addr) => addr,
                    None => {
                        let meta = self.add_topics([topic.as_str()]).await?;
                        leader(&meta).ok_or_else(|| Error::MetadataMissing {
                            what: format!("leader for {topic} partition {partition}"),
                        })?
                    }
                };
                self.inner.pool.get(&addr, kind).await
            }
        }
    }

    /// The coordinator broker for a group or transactional id
    /// (FindCoordinator, cached; retried while the coordinator moves or loads).
    pub async fn coordinator(&self, key: &CoordinatorKey) -> Result<BrokerAddr, Error> {
        coordinator::find(self, key).await
    }

    /// Forgets a cached coordinator (after NOT_COORDINATOR in a response body).
    pub fn invalidate_coordinator(&self, key: &CoordinatorKey) {
        self.inner
            .coordinators
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }

    /// Sends a request where its API says it goes (`Request::ROUTE`): any
    /// broker or the controller. Requests for a coordinator or a partition
    /// leader need [`Client::send_to`] with the group, transaction or broker.
    pub async fn send<R: Request>(&self, request: &R) -> Result<R::Response, Error> {
        let target = match R::ROUTE {
            Route::AnyBroker => Target::AnyBroker,
            Route::Controller => Target::Controller,
            route => {
                return Err(Error::Routing {
                    api: R::KEY.name(),
                    reason: format!(
                        "{route:?} requests need a target: use send_to with Target::PartitionLeader, Target::Broker, Target::GroupCoordinator or Target::TxnCoordinator"
                    ),
                });
            }
        };
        self.send_to(&target, request).await
    }

    /// Sends any request to `target` at the best common version. Connection
    /// failures start a metadata refresh; error codes inside the response
    /// body are the caller's to read.
    pub async fn send_to<R: Request>(
        &self,
        target: &Target,
        request: &R,
    ) -> Result<R::Response, Error> {
        let kind = kind_for(R::KEY);
        let result = async {
            let conn = self.connection_for(target, kind).await?;
            conn.send(request).await
        }
        .await;
        if let Err(e) = &result {
            self.report(e);
            if matches!(
                e,
                Error::ConnectionLost { .. } | Error::RequestTimeout { .. }
            ) {
                match target {
                    Target::GroupCoordinator(g) => {
                        self.invalidate_coordinator(&CoordinatorKey::Group(g.clone()))
                    }
                    Target::TxnCoordinator(t) => {
                        self.invalidate_coordinator(&CoordinatorKey::Transaction(t.clone()))
                    }
                    _ => {}
                }
            }
        }
        result
    }

    fn broker_addr(&self, id: i32) -> Result<BrokerAddr, Error> {
        if let Some(b) = self.metadata().broker(id) {
            return Ok(b.addr.clone());
        }
        self.inner
            .bootstrap
            .iter()
            .find(|b| b.id == id)
            .cloned()
            .ok_or_else(|| Error::MetadataMissing {
                what: format!("broker {id}"),
            })
    }
}

/// A connection to any broker: one already open, else the known brokers in
/// turn, else the bootstrap addresses in turn.
pub(crate) async fn any_connection(inner: &Inner, kind: ConnKind) -> Result<Connection, Error> {
    let meta = inner.snapshot.borrow().metadata.clone();
    for id in inner.pool.connected_brokers() {
        if let Some(conn) = inner.pool.try_get(id, kind) {
            if id < 0 || meta.brokers.contains_key(&id) {
                return Ok(conn);
            }
        }
    }
    let mut last = None;
    let candidates = meta
        .brokers
        .values()
        .map(|b| b.addr.clone())
        .chain(inner.bootstrap.iter().cloned());
    for addr in candidates {
        match inner.pool.get(&addr, kind).await {
            Ok(conn) => return Ok(conn),
            Err(e @ (Error::Authentication { .. } | Error::Tls { .. } | Error::Config { .. })) => {
                return Err(e);
            }
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or(Error::MetadataMissing {
        what: "reachable broker".into(),
    }))
}

/// Which connection an API uses.
fn kind_for(key: ApiKey) -> ConnKind {
    match key {
        ApiKey::Produce => ConnKind::Produce,
        ApiKey::Fetch => ConnKind::Fetch,
        ApiKey::JoinGroup
        | ApiKey::SyncGroup
        | ApiKey::Heartbeat
        | ApiKey::LeaveGroup
        | ApiKey::OffsetCommit
        | ApiKey::OffsetFetch
        | ApiKey::ConsumerGroupHeartbeat => ConnKind::Group,
        _ => ConnKind::Other,
    }
}
