//! Cluster: describe the cluster (brokers, controller, cluster id), log
//! directories, producers, and transactions (list and describe).

use klamm_protocol::ErrorCode;
use klamm_protocol::generated::describe_log_dirs::request::DescribableLogDirTopic;
use klamm_protocol::generated::describe_producers::request::TopicRequest;
use klamm_protocol::generated::{
    DescribeClusterRequest, DescribeClusterResponse, DescribeLogDirsRequest,
    DescribeLogDirsResponse, DescribeProducersRequest, DescribeProducersResponse,
    DescribeTransactionsRequest, DescribeTransactionsResponse, ListTransactionsRequest,
    ListTransactionsResponse, MetadataResponse,
};

use super::acls::{AclOperation, decode_authorized_operations};
use super::call::{any_broker, check, leader, text};
use super::offsets::TopicPartition;
use super::{Admin, ItemResults};
use crate::client::Target;
use crate::error::{Error, ErrorContext};

/// A broker in a [`ClusterDescription`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClusterNode {
    /// The broker id.
    pub id: i32,
    /// Its advertised host.
    pub host: String,
    /// Its advertised port.
    pub port: u16,
    /// Its rack, if configured.
    pub rack: Option<String>,
}

/// What [`Admin::describe_cluster`] says.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClusterDescription {
    /// The cluster id.
    pub cluster_id: Option<String>,
    /// The controller's broker id, if known.
    pub controller: Option<i32>,
    /// The brokers, by id.
    pub brokers: Vec<ClusterNode>,
    /// What the caller may do with the cluster (`None`: the broker did not say).
    pub authorized_operations: Option<Vec<AclOperation>>,
}

/// A partition replica in a [`LogDir`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LogDirPartition {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// Its size on disk in bytes.
    pub size: i64,
    /// How far it lags the leader's log end (or the current replica's, for
    /// a future replica).
    pub offset_lag: i64,
    /// Whether it is a future replica (being moved here).
    pub is_future: bool,
}

/// A broker's log directory.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LogDir {
    /// The directory's path.
    pub path: String,
    /// The directory's error (e.g. KAFKA_STORAGE_ERROR when offline).
    pub error: Option<ErrorCode>,
    /// Total bytes of its volume (`-1` when not known).
    pub total_bytes: i64,
    /// Usable bytes of its volume (`-1` when not known).
    pub usable_bytes: i64,
    /// The replicas it holds.
    pub partitions: Vec<LogDirPartition>,
}

/// An active producer on a partition.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProducerInfo {
    /// The producer id.
    pub producer_id: i64,
    /// The producer epoch.
    pub producer_epoch: i32,
    /// The last sequence number written.
    pub last_sequence: i32,
    /// The timestamp of its last write.
    pub last_timestamp: i64,
    /// The coordinator epoch of its transaction, if in one.
    pub coordinator_epoch: i32,
    /// The first offset of its open transaction (`None`: none open).
    pub current_txn_start_offset: Option<i64>,
}

/// A transaction in [`Admin::list_transactions`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TransactionListing {
    /// The transactional id.
    pub transactional_id: String,
    /// The producer id.
    pub producer_id: i64,
    /// The state (`Ongoing`, `CompleteCommit`, ...).
    pub state: String,
    /// The coordinator that listed it.
    pub coordinator: i32,
}

/// What [`Admin::describe_transactions`] says about a transactional id.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TransactionDescription {
    /// The state.
    pub state: String,
    /// The transaction timeout.
    pub timeout_ms: i32,
    /// When the open transaction started (`-1`: none open).
    pub start_time_ms: i64,
    /// The producer id.
    pub producer_id: i64,
    /// The producer epoch.
    pub producer_epoch: i16,
    /// Partitions in the open transaction.
    pub partitions: Vec<TopicPartition>,
}

pub(super) fn parse_describe_cluster(
    response: DescribeClusterResponse,
) -> Result<ClusterDescription, Error> {
    check(
        "DescribeCluster",
        response.error_code,
        response.error_message.as_ref(),
        ErrorContext::default(),
    )?;
    let mut brokers: Vec<ClusterNode> = response
        .brokers
        .into_iter()
        .map(|b| ClusterNode {
            id: b.broker_id,
            host: b.host.as_str().to_owned(),
            port: u16::try_from(b.port).unwrap_or(0),
            rack: b.rack.map(|r| r.as_str().to_owned()),
        })
        .collect();
    brokers.sort_by_key(|b| b.id);
    Ok(ClusterDescription {
        cluster_id: Some(response.cluster_id.as_str().to_owned()),
        controller: (response.controller_id >= 0).then_some(response.controller_id),
        brokers,
        authorized_operations: decode_authorized_operations(response.cluster_authorized_operations),
    })
}

fn cluster_from_metadata(response: MetadataResponse) -> ClusterDescription {
    let mut brokers: Vec<ClusterNode> = response
        .brokers
        .into_iter()
        .map(|b| ClusterNode {
            id: b.node_id,
            host: b.host.as_str().to_owned(),
            port: u16::try_from(b.port).unwrap_or(0),
            rack: b.rack.map(|r| r.as_str().to_owned()),
        })
        .collect();
    brokers.sort_by_key(|b| b.id);
    ClusterDescription {
        cluster_id: response.cluster_id.map(|c| c.as_str().to_owned()),
        controller: (response.controller_id >= 0).then_some(response.controller_id),
        brokers,
        authorized_operations: decode_authorized_operations(response.cluster_authorized_operations),
    }
}

pub(super) fn parse_log_dirs(response: DescribeLogDirsResponse) -> Result<Vec<LogDir>, Error> {
    check(
        "DescribeLogDirs",
        response.error_code,
        None,
        ErrorContext::default(),
    )?;
    Ok(response
        .results
        .into_iter()
        .map(|d| LogDir {
            path: d.log_dir.as_str().to_owned(),
            error: match ErrorCode::from_code(d.error_code) {
                ErrorCode::None => None,
                code => Some(code),
            },
            total_bytes: d.total_bytes,
            usable_bytes: d.usable_bytes,
            partitions: d
                .topics
                .into_iter()
                .flat_map(|t| {
                    let name = t.name.as_str().to_owned();
                    t.partitions.into_iter().map(move |p| LogDirPartition {
                        topic: name.clone(),
                        partition: p.partition_index,
                        size: p.partition_size,
                        offset_lag: p.offset_lag,
                        is_future: p.is_future_key,
                    })
                })
                .collect(),
        })
        .collect())
}

pub(super) fn parse_producers(
    response: DescribeProducersResponse,
) -> Vec<(TopicPartition, Result<Vec<ProducerInfo>, Error>)> {
    let mut out = Vec::new();
    for t in response.topics {
        for p in t.partitions {
            let key = (t.name.as_str().to_owned(), p.partition_index);
            let context = ErrorContext::default()
                .with_topic(&key.0)
                .with_partition(key.1);
            let outcome = check(
                "DescribeProducers",
                p.error_code,
                p.error_message.as_ref(),
                context,
            )
            .map(|()| {
                p.active_producers
                    .into_iter()
                    .map(|s| ProducerInfo {
                        producer_id: s.producer_id,
                        producer_epoch: s.producer_epoch,
                        last_sequence: s.last_sequence,
                        last_timestamp: s.last_timestamp,
                        coordinator_epoch: s.coordinator_epoch,
                        current_txn_start_offset: (s.current_txn_start_offset >= 0)
                            .then_some(s.current_txn_start_offset),
                    })
                    .collect()
            });
            out.push((key, outcome));
        }
    }
    out
}

pub(super) fn parse_transactions(
    response: DescribeTransactionsResponse,
) -> Vec<(String, Result<TransactionDescription, Error>)> {
    response
        .transaction_states
        .into_iter()
        .map(|s| {
            let id = s.transactional_id.as_str().to_owned();
            let outcome = check(
                "DescribeTransactions",
                s.error_code,
                None,
                ErrorContext::default(),
            )
            .map(|()| TransactionDescription {
                state: s.transaction_state.as_str().to_owned(),
                timeout_ms: s.transaction_timeout_ms,
                start_time_ms: s.transaction_start_time_ms,
                producer_id: s.producer_id,
                producer_epoch: s.producer_epoch,
                partitions: s
                    .topics
                    .into_iter()
                    .flat_map(|t| {
                        let name = t.topic.as_str().to_owned();
                        t.partitions.into_iter().map(move |p| (name.clone(), p))
                    })
                    .collect(),
            });
            (id, outcome)
        })
        .collect()
}

impl Admin {
    /// Describes the cluster: id, controller, brokers (DescribeCluster; on
    /// a broker without it, from Metadata).
    pub async fn describe_cluster(&self) -> Result<ClusterDescription, Error> {
        let described = self
            .call(
                vec![()],
                any_broker,
                |_, _| {
                    Ok(DescribeClusterRequest::default()
                        .with_include_cluster_authorized_operations(true))
                },
                |_, response: DescribeClusterResponse, _| {
                    vec![((), parse_describe_cluster(response))]
                },
            )
            .await
            .into_single("DescribeCluster");
        match described {
            Err(Error::UnsupportedApi {
                api: "DescribeCluster",
                theirs,
                ..
            }) if theirs.0.is_none() => self
                .call(
                    vec![()],
                    any_broker,
                    |_, version| {
                        let request = super::topics::build_metadata(Some(&[]), version);
                        Ok(if (8..=10).contains(&version) {
                            request.with_include_cluster_authorized_operations(true)
                        } else {
                            request
                        })
                    },
                    |_, response: MetadataResponse, _| {
                        vec![((), Ok(cluster_from_metadata(response)))]
                    },
                )
                .await
                .into_single("Metadata"),
            other => other,
        }
    }

    /// Describes the log directories of brokers (DescribeLogDirs, at each
    /// broker), with every replica they hold.
    pub async fn describe_log_dirs(&self, brokers: &[i32]) -> ItemResults<i32, Vec<LogDir>> {
        self.call(
            brokers.to_vec(),
            |_, id| Ok(Target::Broker(*id)),
            |_, _| {
                Ok(DescribeLogDirsRequest::default()
                    .with_topics(None::<Vec<DescribableLogDirTopic>>))
            },
            |ids, response: DescribeLogDirsResponse, _| {
                let id = ids.first().copied().unwrap_or(-1);
                vec![(id, parse_log_dirs(response))]
            },
        )
        .await
    }

    /// The active producers of partitions (DescribeProducers, at each
    /// partition's leader).
    pub async fn describe_producers(
        &self,
        partitions: &[TopicPartition],
    ) -> ItemResults<TopicPartition, Vec<ProducerInfo>> {
        self.learn_topics(partitions.iter().map(|(t, _)| t.as_str()))
            .await;
        self.call(
            partitions.to_vec(),
            |client, (topic, partition)| leader(client, topic, *partition),
            |keys, _| {
                let mut topics: Vec<TopicRequest> = Vec::new();
                for (t, p) in keys {
                    match topics.iter_mut().find(|x| x.name.as_str() == t) {
                        Some(x) => x.partition_indexes.push(*p),
                        None => topics.push(
                            TopicRequest::default()
                                .with_name(text(t))
                                .with_partition_indexes(vec![*p]),
                        ),
                    }
                }
                Ok(DescribeProducersRequest::default().with_topics(topics))
            },
            |_, response: DescribeProducersResponse, _| parse_producers(response),
        )
        .await
    }

    /// Lists the transactions of every broker (ListTransactions, at each
    /// broker: each coordinator knows its own). Empty filters match all.
    /// Fails if any broker fails.
    pub async fn list_transactions(
        &self,
        states: &[&str],
        producer_ids: &[i64],
    ) -> Result<Vec<TransactionListing>, Error> {
        let mut meta = self.client.metadata();
        if meta.brokers.is_empty() {
            meta = self.client.refresh_metadata().await?;
        }
        let brokers: Vec<i32> = meta.brokers.keys().copied().collect();
        let results = self
            .call(
                brokers,
                |_, id| Ok(Target::Broker(*id)),
                |_, _| {
                    Ok(ListTransactionsRequest::default()
                        .with_state_filters(states.iter().map(|s| text(s)).collect())
                        .with_producer_id_filters(producer_ids.to_vec()))
                },
                |ids, response: ListTransactionsResponse, _| {
                    let id = ids.first().copied().unwrap_or(-1);
                    let outcome = check(
                        "ListTransactions",
                        response.error_code,
                        None,
                        ErrorContext::broker(id),
                    )
                    .map(|()| {
                        response
                            .transaction_states
                            .into_iter()
                            .map(|t| TransactionListing {
                                transactional_id: t.transactional_id.as_str().to_owned(),
                                producer_id: t.producer_id,
                                state: t.transaction_state.as_str().to_owned(),
                                coordinator: id,
                            })
                            .collect::<Vec<_>>()
                    });
                    vec![(id, outcome)]
                },
            )
            .await;
        let mut all: Vec<TransactionListing> =
            results.into_result()?.into_iter().flatten().collect();
        all.sort_by(|a, b| a.transactional_id.cmp(&b.transactional_id));
        Ok(all)
    }

    /// Describes transactional ids (DescribeTransactions, at each id's
    /// transaction coordinator).
    pub async fn describe_transactions(
        &self,
        ids: &[&str],
    ) -> ItemResults<String, TransactionDescription> {
        self.call(
            ids.iter().map(|i| (*i).to_owned()).collect(),
            |_, id| Ok(Target::TxnCoordinator(id.clone())),
            |keys, _| {
                Ok(DescribeTransactionsRequest::default()
                    .with_transactional_ids(keys.iter().map(|k| text(k)).collect()))
            },
            |_, response: DescribeTransactionsResponse, _| parse_transactions(response),
        )
        .await
    }
}
