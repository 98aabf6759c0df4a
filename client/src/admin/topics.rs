//! Topics: create, delete (by name or id), list, describe, create partitions.

use std::fmt;

use klamm_protocol::Uuid;
use klamm_protocol::generated::create_partitions::request::{
    CreatePartitionsAssignment, CreatePartitionsTopic,
};
use klamm_protocol::generated::create_topics::request::{
    CreatableReplicaAssignment, CreatableTopic, CreatableTopicConfig,
};
use klamm_protocol::generated::create_topics::response::CreatableTopicResult;
use klamm_protocol::generated::delete_topics::request::DeleteTopicState;
use klamm_protocol::generated::metadata::request::MetadataRequestTopic;
use klamm_protocol::generated::metadata::response::MetadataResponseTopic;
use klamm_protocol::generated::{
    CreatePartitionsRequest, CreateTopicsRequest, DeleteTopicsRequest, MetadataRequest,
    MetadataResponse,
};

use super::acls::{AclOperation, decode_authorized_operations};
use super::call::{any_broker, check, controller, text};
use super::configs::{ConfigEntry, ConfigSource};
use super::{Admin, ItemResults};
use crate::error::{Error, ErrorContext};

/// A topic to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTopic {
    /// The topic's name.
    pub name: String,
    /// Partitions (`-1`: the broker's default; ignored with an assignment).
    pub num_partitions: i32,
    /// Replication factor (`-1`: the broker's default; ignored with an assignment).
    pub replication_factor: i16,
    /// Explicit replica assignment: partition → broker ids (empty: let the
    /// broker place replicas).
    pub assignment: Vec<(i32, Vec<i32>)>,
    /// Topic configs to set at creation.
    pub configs: Vec<(String, String)>,
}

impl NewTopic {
    /// A topic with `num_partitions` partitions of `replication_factor` replicas.
    pub fn new(name: impl Into<String>, num_partitions: i32, replication_factor: i16) -> Self {
        Self {
            name: name.into(),
            num_partitions,
            replication_factor,
            assignment: Vec::new(),
            configs: Vec::new(),
        }
    }

    /// A topic with an explicit replica assignment (partition → broker ids).
    pub fn with_assignment(
        name: impl Into<String>,
        assignment: impl IntoIterator<Item = (i32, Vec<i32>)>,
    ) -> Self {
        Self {
            name: name.into(),
            // Kafka wants -1 for both when an assignment is given.
            num_partitions: -1,
            replication_factor: -1,
            assignment: assignment.into_iter().collect(),
            configs: Vec::new(),
        }
    }

    /// Adds a topic config.
    pub fn config(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.configs.push((name.into(), value.into()));
        self
    }

    fn to_request(&self) -> CreatableTopic {
        CreatableTopic::default()
            .with_name(text(&self.name))
            .with_num_partitions(self.num_partitions)
            .with_replication_factor(self.replication_factor)
            .with_assignments(
                self.assignment
                    .iter()
                    .map(|(p, brokers)| {
                        CreatableReplicaAssignment::default()
                            .with_partition_index(*p)
                            .with_broker_ids(brokers.clone())
                    })
                    .collect(),
            )
            .with_configs(
                self.configs
                    .iter()
                    .map(|(k, v)| {
                        CreatableTopicConfig::default()
                            .with_name(text(k))
                            .with_value(Some(text(v)))
                    })
                    .collect(),
            )
    }
}

/// What the broker says about a topic it created (or would create, with
/// `validate_only`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CreatedTopic {
    /// The topic's id (nil before CreateTopics v7).
    pub topic_id: Uuid,
    /// Partitions (`-1` before v5).
    pub num_partitions: i32,
    /// Replication factor (`-1` before v5).
    pub replication_factor: i16,
    /// The topic's configs as created (empty before v5, or when the broker
    /// may not reveal them).
    pub configs: Vec<ConfigEntry>,
}

/// A topic named by name or by id (DeleteTopics v6+ takes ids).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopicRef {
    /// By name.
    Name(String),
    /// By topic id.
    Id(Uuid),
}

impl fmt::Display for TopicRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Name(n) => f.write_str(n),
            Self::Id(id) => write!(f, "id {id}"),
        }
    }
}

impl From<&str> for TopicRef {
    fn from(name: &str) -> Self {
        Self::Name(name.to_owned())
    }
}

impl From<Uuid> for TopicRef {
    fn from(id: Uuid) -> Self {
        Self::Id(id)
    }
}

impl PartialEq<str> for TopicRef {
    fn eq(&self, other: &str) -> bool {
        matches!(self, Self::Name(n) if n == other)
    }
}

/// A topic in [`Admin::list_topics`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TopicListing {
    /// The topic's name.
    pub name: String,
    /// The topic's id (nil when the broker does not send ids).
    pub topic_id: Uuid,
    /// Whether it is internal (`__consumer_offsets`, ...).
    pub internal: bool,
}

/// A partition in a [`TopicDescription`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PartitionDescription {
    /// The partition index.
    pub partition: i32,
    /// The leader's broker id, if there is a leader.
    pub leader: Option<i32>,
    /// The leader epoch (`-1` when unknown).
    pub leader_epoch: i32,
    /// Replica broker ids, preferred leader first.
    pub replicas: Vec<i32>,
    /// In-sync replica broker ids.
    pub isr: Vec<i32>,
    /// Replicas that are offline.
    pub offline_replicas: Vec<i32>,
}

/// What [`Admin::describe_topics`] says about a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TopicDescription {
    /// The topic's name.
    pub name: String,
    /// The topic's id (nil when the broker does not send ids).
    pub topic_id: Uuid,
    /// Whether it is internal.
    pub internal: bool,
    /// Partitions, by index.
    pub partitions: Vec<PartitionDescription>,
    /// What the caller may do with the topic (`None`: the broker did not say).
    pub authorized_operations: Option<Vec<AclOperation>>,
}

/// Partitions to add to a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPartitions {
    /// The topic.
    pub topic: String,
    /// The new total number of partitions.
    pub total_count: i32,
    /// Broker ids of each new partition's replicas (empty: broker's choice).
    pub assignment: Vec<Vec<i32>>,
}

impl NewPartitions {
    /// Grows `topic` to `total_count` partitions.
    pub fn increase_to(topic: impl Into<String>, total_count: i32) -> Self {
        Self {
            topic: topic.into(),
            total_count,
            assignment: Vec::new(),
        }
    }

    /// Places each new partition's replicas on these brokers.
    pub fn with_assignment(mut self, assignment: Vec<Vec<i32>>) -> Self {
        self.assignment = assignment;
        self
    }
}

fn topic_context(name: &str) -> ErrorContext {
    ErrorContext::default().with_topic(name)
}

pub(super) fn build_create_topics(
    topics: &[NewTopic],
    names: &[String],
    validate_only: bool,
    timeout_ms: i32,
) -> CreateTopicsRequest {
    CreateTopicsRequest::default()
        .with_topics(
            topics
                .iter()
                .filter(|t| names.contains(&t.name))
                .map(NewTopic::to_request)
                .collect(),
        )
        .with_timeout_ms(timeout_ms)
        .with_validate_only(validate_only)
}

pub(super) fn parse_created(result: CreatableTopicResult) -> (String, Result<CreatedTopic, Error>) {
    let name = result.name.as_str().to_owned();
    let outcome = check(
        "CreateTopics",
        result.error_code,
        result.error_message.as_ref(),
        topic_context(&name),
    )
    .map(|()| CreatedTopic {
        topic_id: result.topic_id,
        num_partitions: result.num_partitions,
        replication_factor: result.replication_factor,
        configs: result
            .configs
            .unwrap_or_default()
            .into_iter()
            .map(|c| ConfigEntry {
                name: c.name.as_str().to_owned(),
                value: c.value.map(|v| v.as_str().to_owned()),
                read_only: c.read_only,
                sensitive: c.is_sensitive,
                source: ConfigSource::from_i8(c.config_source),
                synonyms: Vec::new(),
            })
            .collect(),
    });
    (name, outcome)
}

pub(super) fn build_metadata(topics: Option<&[String]>, version: i16) -> MetadataRequest {
    let mut request = MetadataRequest::default().with_topics(match topics {
        Some(names) => Some(
            names
                .iter()
                .map(|n| MetadataRequestTopic::default().with_name(Some(text(n))))
                .collect(),
        ),
        // v0 has no null: an empty list means every topic.
        None if version == 0 => Some(Vec::new()),
        None => None,
    });
    if version >= 4 {
        request = request.with_allow_auto_topic_creation(false);
    }
    if version >= 8 {
        request = request.with_include_topic_authorized_operations(true);
    }
    request
}

pub(super) fn parse_description(
    topic: MetadataResponseTopic,
) -> (String, Result<TopicDescription, Error>) {
    let name = topic
        .name
        .as_ref()
        .map(|n| n.as_str().to_owned())
        .unwrap_or_default();
    let outcome = check("Metadata", topic.error_code, None, topic_context(&name)).map(|()| {
        let mut partitions: Vec<PartitionDescription> = topic
            .partitions
            .into_iter()
            .map(|p| PartitionDescription {
                partition: p.partition_index,
                leader: (p.leader_id >= 0).then_some(p.leader_id),
                leader_epoch: p.leader_epoch,
                replicas: p.replica_nodes,
                isr: p.isr_nodes,
                offline_replicas: p.offline_replicas,
            })
            .collect();
        partitions.sort_by_key(|p| p.partition);
        TopicDescription {
            name: name.clone(),
            topic_id: topic.topic_id,
            internal: topic.is_internal,
            partitions,
            authorized_operations: decode_authorized_operations(topic.topic_authorized_operations),
        }
    });
    (name, outcome)
}

fn parse_listing(response: MetadataResponse, include_internal: bool) -> Vec<TopicListing> {
    let mut topics: Vec<TopicListing> = response
        .topics
        .into_iter()
        .filter(|t| include_internal || !t.is_internal)
        .filter_map(|t| {
            Some(TopicListing {
                name: t.name?.as_str().to_owned(),
                topic_id: t.topic_id,
                internal: t.is_internal,
            })
        })
        .collect();
    topics.sort_by(|a, b| a.name.cmp(&b.name));
    topics
}

pub(super) fn build_delete_topics(
    topics: &[TopicRef],
    version: i16,
    timeout_ms: i32,
) -> DeleteTopicsRequest {
    let request = DeleteTopicsRequest::default().with_timeout_ms(timeout_ms);
    if version >= 6 {
        request.with_topics(
            topics
                .iter()
                .map(|t| match t {
                    TopicRef::Name(n) => DeleteTopicState::default().with_name(Some(text(n))),
                    TopicRef::Id(id) => DeleteTopicState::default().with_topic_id(*id),
                })
                .collect(),
        )
    } else {
        // Before v6 only names exist; an id here fails to encode at this
        // version, which names the field and the version.
        request.with_topic_names(
            topics
                .iter()
                .filter_map(|t| match t {
                    TopicRef::Name(n) => Some(text(n)),
                    TopicRef::Id(_) => None,
                })
                .collect(),
        )
    }
}

pub(super) fn build_create_partitions(
    all: &[NewPartitions],
    names: &[String],
    validate_only: bool,
    timeout_ms: i32,
) -> CreatePartitionsRequest {
    CreatePartitionsRequest::default()
        .with_topics(
            all.iter()
                .filter(|p| names.contains(&p.topic))
                .map(|p| {
                    CreatePartitionsTopic::default()
                        .with_name(text(&p.topic))
                        .with_count(p.total_count)
                        .with_assignments((!p.assignment.is_empty()).then(|| {
                            p.assignment
                                .iter()
                                .map(|b| {
                                    CreatePartitionsAssignment::default().with_broker_ids(b.clone())
                                })
                                .collect()
                        }))
                })
                .collect(),
        )
        .with_timeout_ms(timeout_ms)
        .with_validate_only(validate_only)
}

impl Admin {
    /// Creates topics (CreateTopics, at the controller). With
    /// `validate_only` the broker checks the request and creates nothing.
    pub async fn create_topics(
        &self,
        topics: &[NewTopic],
        validate_only: bool,
    ) -> ItemResults<String, CreatedTopic> {
        let names = topics.iter().map(|t| t.name.clone()).collect();
        let timeout_ms = self.broker_timeout_ms();
        self.call(
            names,
            controller,
            |names, _| {
                Ok(build_create_topics(
                    topics,
                    names,
                    validate_only,
                    timeout_ms,
                ))
            },
            |_, response: klamm_protocol::generated::CreateTopicsResponse, _| {
                response.topics.into_iter().map(parse_created).collect()
            },
        )
        .await
    }

    /// Deletes topics by name or id (DeleteTopics, at the controller; ids
    /// need DeleteTopics v6).
    pub async fn delete_topics(&self, topics: &[TopicRef]) -> ItemResults<TopicRef, ()> {
        let timeout_ms = self.broker_timeout_ms();
        self.call(
            topics.to_vec(),
            controller,
            |topics, version| {
                if version < 6 && topics.iter().any(|t| matches!(t, TopicRef::Id(_))) {
                    return Err(Error::UnsupportedApi {
                        broker: "the controller".into(),
                        api: "DeleteTopics by topic id",
                        ours: <DeleteTopicsRequest as klamm_protocol::Message>::VERSIONS,
                        theirs: crate::error::BrokerRange(Some(klamm_protocol::VersionRange::new(
                            0, version,
                        ))),
                    });
                }
                Ok(build_delete_topics(topics, version, timeout_ms))
            },
            |_, response: klamm_protocol::generated::DeleteTopicsResponse, _| {
                response
                    .responses
                    .into_iter()
                    .map(|r| {
                        let key = match (&r.name, r.topic_id.is_nil()) {
                            (_, false) if r.name.is_none() => TopicRef::Id(r.topic_id),
                            (Some(n), _) => TopicRef::Name(n.as_str().to_owned()),
                            (None, _) => TopicRef::Id(r.topic_id),
                        };
                        let context = topic_context(&key.to_string());
                        (
                            key,
                            check(
                                "DeleteTopics",
                                r.error_code,
                                r.error_message.as_ref(),
                                context,
                            ),
                        )
                    })
                    .collect()
            },
        )
        .await
    }

    /// Lists the cluster's topics (Metadata for all topics), sorted by
    /// name; internal topics only with `include_internal`.
    pub async fn list_topics(&self, include_internal: bool) -> Result<Vec<TopicListing>, Error> {
        self.call(
            vec![()],
            any_broker,
            |_, version| Ok(build_metadata(None, version)),
            |_, response: MetadataResponse, _| {
                vec![((), Ok(parse_listing(response, include_internal)))]
            },
        )
        .await
        .into_single("Metadata")
    }

    /// Describes topics: partitions, leaders, replicas, ISR, topic id and
    /// the caller's authorized operations (Metadata).
    pub async fn describe_topics(&self, topics: &[&str]) -> ItemResults<String, TopicDescription> {
        self.call(
            topics.iter().map(|t| (*t).to_owned()).collect(),
            any_broker,
            |names, version| Ok(build_metadata(Some(names), version)),
            |_, response: MetadataResponse, _| {
                response.topics.into_iter().map(parse_description).collect()
            },
        )
        .await
    }

    /// Adds partitions to topics (CreatePartitions, at the controller).
    pub async fn create_partitions(
        &self,
        partitions: &[NewPartitions],
        validate_only: bool,
    ) -> ItemResults<String, ()> {
        let timeout_ms = self.broker_timeout_ms();
        self.call(
            partitions.iter().map(|p| p.topic.clone()).collect(),
            controller,
            |names, _| {
                Ok(build_create_partitions(
                    partitions,
                    names,
                    validate_only,
                    timeout_ms,
                ))
            },
            |_, response: klamm_protocol::generated::CreatePartitionsResponse, _| {
                response
                    .results
                    .into_iter()
                    .map(|r| {
                        let name = r.name.as_str().to_owned();
                        let outcome = check(
                            "CreatePartitions",
                            r.error_code,
                            r.error_message.as_ref(),
                            topic_context(&name),
                        );
                        (name, outcome)
                    })
                    .collect()
            },
        )
        .await
    }
}
