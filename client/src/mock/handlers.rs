//! The APIs the mock answers itself, from the scripted cluster state.

use klamm_protocol::generated::AnyResponse;
use klamm_protocol::generated::api_versions::response::ApiVersion;
use klamm_protocol::generated::create_topics::response::CreatableTopicResult;
use klamm_protocol::generated::find_coordinator::response::Coordinator;
use klamm_protocol::generated::metadata::response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use klamm_protocol::generated::{
    ApiVersionsResponse, CreateTopicsRequest, CreateTopicsResponse, FindCoordinatorRequest,
    FindCoordinatorResponse, MetadataRequest, MetadataResponse,
};
use klamm_protocol::{ApiKey, ErrorCode, StrBytes};

use super::{MockPartition, MockTopic, Shared, lock};

/// ApiVersions: every API with generated messages at its full range, minus
/// overrides. A request above the ApiVersions override gets
/// UNSUPPORTED_VERSION in a v0 body, as Kafka does.
pub(super) fn api_versions(state: &Shared, version: i16) -> (AnyResponse, i16) {
    let s = lock(state);
    let mut api_keys = Vec::new();
    for key in ApiKey::ALL.iter().copied().filter(|k| k.has_messages()) {
        let range = match s.api_overrides.get(&key) {
            Some(None) => continue,
            Some(Some(r)) => *r,
            None => key.valid_versions(),
        };
        api_keys.push(
            ApiVersion::default()
                .with_api_key(key.as_i16())
                .with_min_version(range.min)
                .with_max_version(range.max),
        );
    }
    let ours = s
        .api_overrides
        .get(&ApiKey::ApiVersions)
        .copied()
        .flatten()
        .unwrap_or_else(|| ApiKey::ApiVersions.valid_versions());
    if !ours.contains(version) {
        let only = api_keys
            .into_iter()
            .filter(|a| a.api_key == ApiKey::ApiVersions.as_i16())
            .collect();
        let response = ApiVersionsResponse::default()
            .with_error_code(ErrorCode::UnsupportedVersion.code())
            .with_api_keys(only);
        return (AnyResponse::ApiVersions(Box::new(response)), 0);
    }
    let response = ApiVersionsResponse::default().with_api_keys(api_keys);
    (AnyResponse::ApiVersions(Box::new(response)), version)
}

fn topic_entry(
    name: &str,
    topic: Option<&MockTopic>,
    injected: Option<ErrorCode>,
) -> MetadataResponseTopic {
    let Some(topic) = topic else {
        return MetadataResponseTopic::default()
            .with_name(Some(StrBytes::from(name)))
            .with_error_code(ErrorCode::UnknownTopicOrPartition.code());
    };
    let partitions = topic
        .partitions
        .iter()
        .enumerate()
        .map(|(i, p): (usize, &MockPartition)| {
            let code = if p.leader < 0 {
                ErrorCode::LeaderNotAvailable
            } else {
                ErrorCode::None
            };
            MetadataResponsePartition::default()
                .with_error_code(code.code())
                .with_partition_index(i as i32)
                .with_leader_id(p.leader)
                .with_leader_epoch(p.leader_epoch)
                .with_replica_nodes(p.replicas.clone())
                .with_isr_nodes(p.replicas.clone())
        })
        .collect();
    MetadataResponseTopic::default()
        .with_name(Some(StrBytes::from(name)))
        .with_topic_id(topic.id)
        .with_error_code(injected.unwrap_or(ErrorCode::None).code())
        .with_partitions(partitions)
}

pub(super) fn metadata(
    state: &Shared,
    _version: i16,
    injected: Option<ErrorCode>,
    request: &MetadataRequest,
) -> MetadataResponse {
    let s = lock(state);
    let brokers = s
        .brokers
        .iter()
        .map(|(id, addr)| {
            MetadataResponseBroker::default()
                .with_node_id(*id)
                .with_host(StrBytes::from(addr.ip().to_string()))
                .with_port(i32::from(addr.port()))
        })
        .collect();
    let topics = match &request.topics {
        None => s
            .topics
            .iter()
            .map(|(name, t)| topic_entry(name, Some(t), injected))
            .collect(),
        Some(wanted) => wanted
            .iter()
            .filter_map(|t| t.name.as_ref())
            .map(|name| topic_entry(name.as_str(), s.topics.get(name.as_str()), injected))
            .collect(),
    };
    MetadataResponse::default()
        .with_brokers(brokers)
        .with_cluster_id(Some(StrBytes::from_static("klamm-mock")))
        .with_controller_id(s.controller)
        .with_topics(topics)
}

pub(super) fn find_coordinator(
    state: &Shared,
    version: i16,
    injected: Option<ErrorCode>,
    request: &FindCoordinatorRequest,
) -> FindCoordinatorResponse {
    let s = lock(state);
    let lookup = |key: &str| -> Coordinator {
        let code = injected.unwrap_or(ErrorCode::None);
        let id = s
            .coordinators
            .get(&(request.key_type, key.to_owned()))
            .copied()
            .unwrap_or(1);
        let addr = s.brokers.get(&id);
        Coordinator::default()
            .with_key(StrBytes::from(key))
            .with_error_code(code.code())
            .with_node_id(if code == ErrorCode::None { id } else { -1 })
            .with_host(StrBytes::from(
                addr.map(|a| a.ip().to_string()).unwrap_or_default(),
            ))
            .with_port(addr.map_or(-1, |a| i32::from(a.port())))
    };
    if version >= 4 {
        let coordinators = request
            .coordinator_keys
            .iter()
            .map(|k| lookup(k.as_str()))
            .collect();
        FindCoordinatorResponse::default().with_coordinators(coordinators)
    } else {
        let c = lookup(request.key.as_str());
        FindCoordinatorResponse::default()
            .with_error_code(c.error_code)
            .with_node_id(c.node_id)
            .with_host(c.host)
            .with_port(c.port)
    }
}

pub(super) fn create_topics(
    state: &Shared,
    broker: i32,
    injected: Option<ErrorCode>,
    request: &CreateTopicsRequest,
) -> CreateTopicsResponse {
    let mut s = lock(state);
    let mut results = Vec::new();
    for topic in &request.topics {
        let name = topic.name.as_str().to_owned();
        let code = if let Some(code) = injected {
            code
        } else if broker != s.controller {
            ErrorCode::NotController
        } else if s.topics.contains_key(&name) {
            ErrorCode::TopicAlreadyExists
        } else if topic.num_partitions < 1 {
            ErrorCode::InvalidPartitions
        } else {
            ErrorCode::None
        };
        if code == ErrorCode::None && !request.validate_only {
            s.add_topic(&name, topic.num_partitions);
        }
        results.push(
            CreatableTopicResult::default()
                .with_name(topic.name.clone())
                .with_error_code(code.code())
                .with_num_partitions(topic.num_partitions)
                .with_replication_factor(1),
        );
    }
    CreateTopicsResponse::default().with_topics(results)
}
