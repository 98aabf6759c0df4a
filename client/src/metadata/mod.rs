//! Cluster metadata: brokers, controller, topics, partitions, leaders and
//! leader epochs, as one immutable snapshot replaced on every refresh.
//!
//! Refreshing (periodic, on demand, and after errors that mean stale
//! metadata) lives in [`crate::client`]; concurrent refresh requests coalesce
//! into one Metadata request.

use std::collections::BTreeMap;
use std::fmt;

use klamm_protocol::generated::MetadataResponse;
use klamm_protocol::{ErrorCode, Uuid};
use tokio::time::Instant;

use crate::conn::BrokerAddr;

/// One broker as metadata lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerMetadata {
    /// Id, host and port.
    pub addr: BrokerAddr,
    /// Rack, when configured.
    pub rack: Option<String>,
}

/// One partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionMetadata {
    /// Partition index.
    pub partition: i32,
    /// Leader's broker id; `None` while there is no leader.
    pub leader: Option<i32>,
    /// Leader epoch (`-1` when the broker does not say).
    pub leader_epoch: i32,
    /// Replica broker ids.
    pub replicas: Vec<i32>,
    /// In-sync replica broker ids.
    pub isr: Vec<i32>,
    /// Offline replica broker ids.
    pub offline_replicas: Vec<i32>,
    /// Partition-level error (e.g. LEADER_NOT_AVAILABLE), `None` when fine.
    pub error: ErrorCode,
}

/// One topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicMetadata {
    /// Topic name.
    pub name: String,
    /// Topic id (nil before Metadata v10).
    pub id: Uuid,
    /// Internal topic (`__consumer_offsets`, ...).
    pub internal: bool,
    /// Topic-level error (e.g. UNKNOWN_TOPIC_OR_PARTITION), `None` when fine.
    pub error: ErrorCode,
    /// Partitions, sorted by index.
    pub partitions: Vec<PartitionMetadata>,
}

/// A snapshot of the cluster.
#[derive(Debug, Clone)]
pub struct ClusterMetadata {
    /// Cluster id, when the broker sends one.
    pub cluster_id: Option<String>,
    /// Controller broker id, when known.
    pub controller: Option<i32>,
    /// Brokers by id.
    pub brokers: BTreeMap<i32, BrokerMetadata>,
    /// Topics by name.
    pub topics: BTreeMap<String, TopicMetadata>,
    /// Increases with every successful refresh.
    pub generation: u64,
    /// When this snapshot was fetched.
    pub fetched_at: Instant,
}

impl ClusterMetadata {
    /// An empty snapshot (before the first refresh).
    pub fn empty() -> Self {
        Self {
            cluster_id: None,
            controller: None,
            brokers: BTreeMap::new(),
            topics: BTreeMap::new(),
            generation: 0,
            fetched_at: Instant::now(),
        }
    }

    /// Builds a snapshot from a Metadata response. Entries a hostile broker
    /// could make inconsistent (negative ports, nameless topics) are skipped.
    pub fn from_response(response: &MetadataResponse, generation: u64) -> Self {
        let brokers = response
            .brokers
            .iter()
            .filter_map(|b| {
                let port = u16::try_from(b.port).ok()?;
                Some((
                    b.node_id,
                    BrokerMetadata {
                        addr: BrokerAddr::new(b.node_id, b.host.as_str(), port),
                        rack: b.rack.as_ref().map(|r| r.as_str().to_owned()),
                    },
                ))
            })
            .collect();
        let topics = response
            .topics
            .iter()
            .filter_map(|t| {
                let name = t.name.as_ref()?.as_str().to_owned();
                let mut partitions: Vec<PartitionMetadata> = t
                    .partitions
                    .iter()
                    .map(|p| PartitionMetadata {
                        partition: p.partition_index,
                        leader: (p.leader_id >= 0).then_some(p.leader_id),
                        leader_epoch: p.leader_epoch,
                        replicas: p.replica_nodes.clone(),
                        isr: p.isr_nodes.clone(),
                        offline_replicas: p.offline_replicas.clone(),
                        error: ErrorCode::from_code(p.error_code),
                    })
                    .collect();
                partitions.sort_by_key(|p| p.partition);
                Some((
                    name.clone(),
                    TopicMetadata {
                        name,
                        id: t.topic_id,
                        internal: t.is_internal,
                        error: ErrorCode::from_code(t.error_code),
                        partitions,
                    },
                ))
            })
            .collect();
        Self {
            cluster_id: response.cluster_id.as_ref().map(|c| c.as_str().to_owned()),
            controller: (response.controller_id >= 0).then_some(response.controller_id),
            brokers,
            topics,
            generation,
            fetched_at: Instant::now(),
        }
    }

    /// A broker by id.
    pub fn broker(&self, id: i32) -> Option<&BrokerMetadata> {
        self.brokers.get(&id)
    }

    /// A topic by name.
    pub fn topic(&self, name: &str) -> Option<&TopicMetadata> {
        self.topics.get(name)
    }

    /// The leader of a partition and its epoch.
    pub fn leader(&self, topic: &str, partition: i32) -> Option<(&BrokerMetadata, i32)> {
        let p = self
            .topic(topic)?
            .partitions
            .iter()
            .find(|p| p.partition == partition)?;
        Some((self.broker(p.leader?)?, p.leader_epoch))
    }
}

impl fmt::Display for ClusterMetadata {
    /// A readable listing: cluster, controller, brokers, then every topic and
    /// partition with leader, epoch, replicas and ISR.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "cluster {} (controller {})",
            self.cluster_id.as_deref().unwrap_or("?"),
            self.controller
                .map_or("unknown".to_owned(), |c| c.to_string())
        )?;
        writeln!(f, "brokers:")?;
        for b in self.brokers.values() {
            write!(f, "  {:>4}  {}:{}", b.addr.id, b.addr.host, b.addr.port)?;
            if let Some(rack) = &b.rack {
                write!(f, "  rack {rack}")?;
            }
            writeln!(f)?;
        }
        writeln!(f, "topics:")?;
        for t in self.topics.values() {
            write!(f, "  {}", t.name)?;
            if t.internal {
                write!(f, " (internal)")?;
            }
            if t.error != ErrorCode::None {
                write!(f, " error {}", t.error.name())?;
            }
            writeln!(f, ", {} partitions", t.partitions.len())?;
            for p in &t.partitions {
                write!(
                    f,
                    "    [{:>3}] leader {:>4}  epoch {:>3}  replicas {:?}  isr {:?}",
                    p.partition,
                    p.leader.map_or("none".to_owned(), |l| l.to_string()),
                    p.leader_epoch,
                    p.replicas,
                    p.isr
                )?;
                if p.error != ErrorCode::None {
                    write!(f, "  error {}", p.error.name())?;
                }
                writeln!(f)?;
            }
        }
        Ok(())
    }
}
