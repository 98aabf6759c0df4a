//! The admin client: topics, configs, consumer groups, offsets, records,
//! cluster, ACLs and SCRAM users, on the shared [`Client`] core.
//!
//! Every operation goes through one path (`call.rs`):
//!
//! ```text
//! keys ──route──▶ Target per key (controller / coordinator / leader / any)
//!   └─ one request per target, at the best version both sides support
//!        └─ per-item error codes ──▶ done, or retriable: refresh what the
//!           error says is stale, back off, resend only those items, until
//!           the admin's deadline
//! ```
//!
//! Operations over several items (topics, groups, partitions, resources)
//! answer with [`ItemResults`]: one failed item never hides the others'
//! outcomes. An API the broker lacks gives [`Error::UnsupportedApi`] naming
//! it.
//!
//! ```no_run
//! use klamm::admin::{Admin, NewTopic};
//! use klamm::{Client, ClientConfig};
//!
//! # async fn demo() -> Result<(), klamm::Error> {
//! let config = ClientConfig::from_pairs([("bootstrap.servers", "localhost:9092")])?;
//! let admin = Admin::new(Client::connect(config).await?);
//! let created = admin
//!     .create_topics(&[NewTopic::new("orders", 6, 1).config("cleanup.policy", "compact")], false)
//!     .await;
//! for (name, outcome) in created.iter() {
//!     match outcome {
//!         Ok(topic) => println!("{name}: id {}", topic.topic_id),
//!         Err(e) => println!("{name}: {e}"),
//!     }
//! }
//! let description = admin.describe_topics(&["orders"]).await.into_result()?;
//! println!("{description:?}");
//! # Ok(())
//! # }
//! ```

mod acls;
mod call;
mod cluster;
mod configs;
mod groups;
mod offsets;
mod results;
mod scram;
mod topics;

use std::time::Duration;

use crate::client::Client;
use crate::config::ClientConfig;
use crate::error::Error;

pub use acls::{AclBinding, AclFilter, AclOperation, AclPermission, PatternType, ResourceType};
pub use cluster::{
    ClusterDescription, ClusterNode, LogDir, LogDirPartition, ProducerInfo, TransactionDescription,
    TransactionListing,
};
pub use configs::{
    AlterConfigOp, ConfigEntry, ConfigResource, ConfigResourceType, ConfigSource, ConfigSynonym,
};
pub use groups::{
    ConsumerGroupListing, GroupDescription, GroupMember, GroupOffset, MemberToRemove,
};
pub use offsets::{ListedOffset, OffsetSpec, TopicPartition};
pub use results::ItemResults;
pub use scram::{ScramCredential, ScramMechanism, ScramUpsert, UserScramCredentials};
pub use topics::{
    CreatedTopic, NewPartitions, NewTopic, PartitionDescription, TopicDescription, TopicListing,
    TopicRef,
};

/// The admin client. Cheap to clone; clones share the client's connections.
#[derive(Debug, Clone)]
pub struct Admin {
    client: Client,
    timeout: Duration,
}

impl Admin {
    /// An admin on an existing client. Operations retry retriable errors for
    /// up to 60 seconds ([`Admin::with_timeout`] changes it).
    pub fn new(client: Client) -> Self {
        Self {
            client,
            timeout: Duration::from_secs(60),
        }
    }

    /// Connects a new client and wraps it.
    pub async fn connect(config: ClientConfig) -> Result<Self, Error> {
        Ok(Self::new(Client::connect(config).await?))
    }

    /// Sets the deadline of each operation: retriable errors are retried
    /// (with backoff) until it passes, then the last error is returned.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The deadline of each operation.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The underlying client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The timeout brokers get to finish work (CreateTopics, DeleteRecords...),
    /// in the `i32` milliseconds Kafka wants.
    fn broker_timeout_ms(&self) -> i32 {
        i32::try_from(self.timeout.as_millis()).unwrap_or(i32::MAX)
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_more;
