//! Builds the requests membership sends, from its state.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use klamm_protocol::StrBytes;
use klamm_protocol::generated::join_group::request::JoinGroupRequestProtocol;
use klamm_protocol::generated::leave_group::request::MemberIdentity;
use klamm_protocol::generated::metadata::request::MetadataRequestTopic;
use klamm_protocol::generated::offset_fetch::request::OffsetFetchRequestTopic;
use klamm_protocol::generated::sync_group::request::SyncGroupRequestAssignment;
use klamm_protocol::generated::{
    FindCoordinatorRequest, HeartbeatRequest, JoinGroupRequest, LeaveGroupRequest, MetadataRequest,
    OffsetFetchRequest, SyncGroupRequest,
};

use crate::group::TopicPartition;
use crate::group::assignor::MemberSubscription;
use crate::group::config::GroupConfig;
use crate::group::consumer_protocol::{CONSUMER_PROTOCOL_TYPE, encode_subscription};
use crate::group::event::GroupFailure;
use crate::group::transmit::GroupRequest;

fn millis(d: std::time::Duration) -> i32 {
    // GroupConfig::validate keeps every timeout within i32 milliseconds.
    i32::try_from(d.as_millis()).unwrap_or(i32::MAX)
}

fn instance_id(config: &GroupConfig) -> Option<StrBytes> {
    config.group_instance_id.as_deref().map(StrBytes::from)
}

pub(super) fn find_coordinator(group_id: &str) -> GroupRequest {
    // key_type 0 = group.
    GroupRequest::FindCoordinator(
        FindCoordinatorRequest::default().with_key(StrBytes::from(group_id)),
    )
}

pub(super) fn join(
    config: &GroupConfig,
    topics: &[Arc<str>],
    owned: &[TopicPartition],
    generation_id: i32,
    member_id: &str,
    reason: &str,
) -> Result<GroupRequest, GroupFailure> {
    let mut protocols = Vec::with_capacity(config.assignors.len());
    for assignor in &config.assignors {
        let metadata = encode_subscription(
            topics,
            owned,
            generation_id,
            config.rack_id.as_deref(),
            assignor.user_data(owned, generation_id),
        )
        .map_err(|e| GroupFailure::Subscription(e.to_string()))?;
        protocols.push(
            JoinGroupRequestProtocol::default()
                .with_name(StrBytes::from(assignor.name()))
                .with_metadata(metadata),
        );
    }
    Ok(GroupRequest::JoinGroup(
        JoinGroupRequest::default()
            .with_group_id(StrBytes::from(config.group_id.as_str()))
            .with_session_timeout_ms(millis(config.session_timeout))
            .with_rebalance_timeout_ms(millis(config.rebalance_timeout))
            .with_member_id(StrBytes::from(member_id))
            .with_group_instance_id(instance_id(config))
            .with_protocol_type(StrBytes::from_static(CONSUMER_PROTOCOL_TYPE))
            .with_protocols(protocols)
            .with_reason(Some(StrBytes::from(reason))),
    ))
}

pub(super) fn metadata(members: &[MemberSubscription]) -> GroupRequest {
    let topics: std::collections::BTreeSet<&str> = members
        .iter()
        .flat_map(|m| m.topics.iter().map(|t| &**t))
        .collect();
    let topics = topics
        .into_iter()
        .map(|t| MetadataRequestTopic::default().with_name(Some(StrBytes::from(t))))
        .collect();
    GroupRequest::Metadata(MetadataRequest::default().with_topics(Some(topics)))
}

pub(super) fn sync(
    config: &GroupConfig,
    generation_id: i32,
    member_id: &str,
    protocol_name: Option<&str>,
    assignments: Vec<(String, Bytes)>,
) -> GroupRequest {
    let assignments = assignments
        .into_iter()
        .map(|(member, bytes)| {
            SyncGroupRequestAssignment::default()
                .with_member_id(StrBytes::from(member))
                .with_assignment(bytes)
        })
        .collect();
    GroupRequest::SyncGroup(
        SyncGroupRequest::default()
            .with_group_id(StrBytes::from(config.group_id.as_str()))
            .with_generation_id(generation_id)
            .with_member_id(StrBytes::from(member_id))
            .with_group_instance_id(instance_id(config))
            .with_protocol_type(Some(StrBytes::from_static(CONSUMER_PROTOCOL_TYPE)))
            .with_protocol_name(protocol_name.map(StrBytes::from))
            .with_assignments(assignments),
    )
}

pub(super) fn heartbeat(config: &GroupConfig, generation_id: i32, member_id: &str) -> GroupRequest {
    GroupRequest::Heartbeat(
        HeartbeatRequest::default()
            .with_group_id(StrBytes::from(config.group_id.as_str()))
            .with_generation_id(generation_id)
            .with_member_id(StrBytes::from(member_id))
            .with_group_instance_id(instance_id(config)),
    )
}

pub(super) fn leave(config: &GroupConfig, member_id: &str, reason: &str) -> GroupRequest {
    GroupRequest::LeaveGroup(
        LeaveGroupRequest::default()
            .with_group_id(StrBytes::from(config.group_id.as_str()))
            .with_members(vec![
                MemberIdentity::default()
                    .with_member_id(StrBytes::from(member_id))
                    .with_group_instance_id(instance_id(config))
                    .with_reason(Some(StrBytes::from(reason))),
            ]),
    )
}

pub(super) fn offset_fetch(group_id: &str, partitions: &[TopicPartition]) -> GroupRequest {
    let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for tp in partitions {
        by_topic.entry(&tp.topic).or_default().push(tp.partition);
    }
    let topics = by_topic
        .into_iter()
        .map(|(t, parts)| {
            OffsetFetchRequestTopic::default()
                .with_name(StrBytes::from(t))
                .with_partition_indexes(parts)
        })
        .collect();
    GroupRequest::OffsetFetch(
        OffsetFetchRequest::default()
            .with_group_id(StrBytes::from(group_id))
            .with_topics(Some(topics))
            // Do not read offsets of transactions still in flight.
            .with_require_stable(true),
    )
}
