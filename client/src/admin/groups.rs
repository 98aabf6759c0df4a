//! Consumer groups: list, describe (assignments decoded from the consumer
//! protocol), delete, the group's committed offsets (list, alter, delete),
//! and removing members.

use bytes::Buf;
use klamm_protocol::generated::leave_group::request::MemberIdentity;
use klamm_protocol::generated::offset_commit::request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use klamm_protocol::generated::offset_delete::request::{
    OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
};
use klamm_protocol::generated::offset_fetch::request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use klamm_protocol::generated::{
    ConsumerProtocolAssignment, DeleteGroupsRequest, DeleteGroupsResponse, DescribeGroupsRequest,
    DescribeGroupsResponse, LeaveGroupRequest, LeaveGroupResponse, ListGroupsRequest,
    ListGroupsResponse, OffsetCommitRequest, OffsetCommitResponse, OffsetDeleteRequest,
    OffsetDeleteResponse, OffsetFetchRequest, OffsetFetchResponse,
};
use klamm_protocol::{Decodable, DecodeError, Message};

use super::acls::{AclOperation, decode_authorized_operations};
use super::call::{check, text};
use super::offsets::{TopicPartition, needs_version};
use super::{Admin, ItemResults};
use crate::client::{Client, Target};
use crate::error::{Error, ErrorContext};
use crate::group::offset_fetch_rows;

/// A group in [`Admin::list_groups`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConsumerGroupListing {
    /// The group id.
    pub group_id: String,
    /// The protocol type (`consumer` for consumer groups, empty for groups
    /// that only commit offsets).
    pub protocol_type: String,
    /// The state (`Stable`, `Empty`, ...), when the broker says (v4+).
    pub state: Option<String>,
    /// The type (`classic`, `consumer`, ...), when the broker says (v5+).
    pub group_type: Option<String>,
    /// The coordinator that listed it.
    pub coordinator: i32,
}

/// A member in a [`GroupDescription`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct GroupMember {
    /// The member id the coordinator gave it.
    pub member_id: String,
    /// The static membership id, if any.
    pub group_instance_id: Option<String>,
    /// The member's client id.
    pub client_id: String,
    /// The member's host as the coordinator saw it.
    pub client_host: String,
    /// Its assigned partitions (topic → partitions), decoded from the
    /// consumer protocol; empty for other protocol types or no assignment.
    pub assignment: Vec<(String, Vec<i32>)>,
}

/// What [`Admin::describe_groups`] says about a group.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct GroupDescription {
    /// The group id.
    pub group_id: String,
    /// The state (`Stable`, `Empty`, `Dead`, ...).
    pub state: String,
    /// The protocol type (`consumer` for consumer groups).
    pub protocol_type: String,
    /// The chosen assignor (`range`, `cooperative-sticky`, ...).
    pub protocol: String,
    /// The members.
    pub members: Vec<GroupMember>,
    /// What the caller may do with the group (`None`: the broker did not say).
    pub authorized_operations: Option<Vec<AclOperation>>,
}

/// A group's committed offset for a partition.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct GroupOffset {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The committed offset (`-1`: none).
    pub offset: i64,
    /// The leader epoch committed with it, if any.
    pub leader_epoch: Option<i32>,
    /// The metadata committed with it.
    pub metadata: Option<String>,
}

/// A member to remove from a group: by member id (dynamic members) or by
/// group instance id (static members).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberToRemove {
    /// The member id (empty when removing by instance id).
    pub member_id: String,
    /// The static member's instance id.
    pub group_instance_id: Option<String>,
}

impl MemberToRemove {
    /// A static member by its instance id.
    pub fn instance(id: impl Into<String>) -> Self {
        Self {
            member_id: String::new(),
            group_instance_id: Some(id.into()),
        }
    }

    /// A member by its member id.
    pub fn member(id: impl Into<String>) -> Self {
        Self {
            member_id: id.into(),
            group_instance_id: None,
        }
    }
}

fn group_context() -> ErrorContext {
    ErrorContext::default()
}

#[allow(clippy::ptr_arg)] // must match the route signature over `String` keys
fn coordinator(_: &Client, group: &String) -> Result<Target, Error> {
    Ok(Target::GroupCoordinator(group.as_str().to_owned()))
}

/// Decodes a consumer-protocol assignment (version prefix, then the body
/// at that version; versions newer than ours are read as our newest, as
/// Kafka's schema promises they only add fields at the end).
pub(super) fn decode_assignment(
    bytes: &bytes::Bytes,
) -> Result<Vec<(String, Vec<i32>)>, DecodeError> {
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    let mut buf = bytes.clone();
    if buf.remaining() < 2 {
        return Err(DecodeError::new(
            ConsumerProtocolAssignment::NAME,
            "version",
            0,
            klamm_protocol::DecodeErrorKind::Truncated {
                needed: 2,
                remaining: buf.remaining(),
            },
        ));
    }
    let version = buf
        .get_i16()
        .clamp(0, ConsumerProtocolAssignment::VERSIONS.max);
    let assignment = ConsumerProtocolAssignment::decode(&mut buf, version)?;
    Ok(assignment
        .assigned_partitions
        .into_iter()
        .map(|tp| (tp.topic.as_str().to_owned(), tp.partitions))
        .collect())
}

pub(super) fn parse_describe_groups(
    response: DescribeGroupsResponse,
    version: i16,
) -> Vec<(String, Result<GroupDescription, Error>)> {
    response
        .groups
        .into_iter()
        .map(|g| {
            let id = g.group_id.as_str().to_owned();
            let outcome =
                check("DescribeGroups", g.error_code, None, group_context()).and_then(|()| {
                    let consumer = g.protocol_type.as_str() == "consumer";
                    let members = g
                        .members
                        .into_iter()
                        .map(|m| {
                            let assignment = if consumer {
                                decode_assignment(&m.member_assignment).map_err(|source| {
                                    Error::Decode {
                                        broker: format!("group {id} coordinator"),
                                        api: "DescribeGroups (member assignment)",
                                        version,
                                        source,
                                    }
                                })?
                            } else {
                                Vec::new()
                            };
                            Ok(GroupMember {
                                member_id: m.member_id.as_str().to_owned(),
                                group_instance_id: m
                                    .group_instance_id
                                    .map(|i| i.as_str().to_owned()),
                                client_id: m.client_id.as_str().to_owned(),
                                client_host: m.client_host.as_str().to_owned(),
                                assignment,
                            })
                        })
                        .collect::<Result<Vec<_>, Error>>()?;
                    Ok(GroupDescription {
                        group_id: id.clone(),
                        state: g.group_state.as_str().to_owned(),
                        protocol_type: g.protocol_type.as_str().to_owned(),
                        protocol: g.protocol_data.as_str().to_owned(),
                        members,
                        authorized_operations: decode_authorized_operations(
                            g.authorized_operations,
                        ),
                    })
                });
            (id, outcome)
        })
        .collect()
}

pub(super) fn build_offset_fetch(
    group: &str,
    partitions: Option<&[TopicPartition]>,
    version: i16,
) -> Result<OffsetFetchRequest, Error> {
    let grouped = partitions.map(|ps| {
        let mut topics: Vec<(String, Vec<i32>)> = Vec::new();
        for (t, p) in ps {
            match topics.iter_mut().find(|(n, _)| n == t) {
                Some((_, v)) => v.push(*p),
                None => topics.push((t.clone(), vec![*p])),
            }
        }
        topics
    });
    if version >= 8 {
        return Ok(OffsetFetchRequest::default().with_groups(vec![
            OffsetFetchRequestGroup::default()
                .with_group_id(text(group))
                .with_topics(grouped.map(|ts| {
                    ts.into_iter()
                        .map(|(t, ps)| {
                            OffsetFetchRequestTopics::default()
                                .with_name(text(&t))
                                .with_partition_indexes(ps)
                        })
                        .collect()
                })),
        ]));
    }
    if grouped.is_none() && version < 2 {
        return Err(needs_version::<OffsetFetchRequest>(
            "OffsetFetch for all partitions",
            2,
            version,
        ));
    }
    Ok(OffsetFetchRequest::default()
        .with_group_id(text(group))
        .with_topics(grouped.map(|ts| {
            ts.into_iter()
                .map(|(t, ps)| {
                    OffsetFetchRequestTopic::default()
                        .with_name(text(&t))
                        .with_partition_indexes(ps)
                })
                .collect()
        })))
}

pub(super) fn parse_offset_fetch(
    group: &str,
    response: OffsetFetchResponse,
    version: i16,
) -> Result<Vec<GroupOffset>, Error> {
    let mut offsets = Vec::new();
    let mut push = |topic: &str,
                    partition: i32,
                    offset: i64,
                    epoch: i32,
                    metadata: Option<&str>,
                    code: i16| {
        check(
            "OffsetFetch",
            code,
            None,
            ErrorContext::default()
                .with_topic(topic)
                .with_partition(partition),
        )?;
        offsets.push(GroupOffset {
            topic: topic.to_owned(),
            partition,
            offset,
            leader_epoch: (epoch >= 0).then_some(epoch),
            metadata: metadata.map(str::to_owned),
        });
        Ok::<(), Error>(())
    };
    let (code, rows) =
        offset_fetch_rows(&response, version >= 8, group).ok_or_else(|| Error::MissingResult {
            api: "OffsetFetch",
            item: format!("group {group}"),
        })?;
    check("OffsetFetch", code, None, group_context())?;
    for f in rows {
        push(
            f.topic,
            f.partition,
            f.offset,
            f.leader_epoch,
            f.metadata,
            f.error_code,
        )?;
    }
    offsets.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
    Ok(offsets)
}

pub(super) fn build_offset_commit(
    group: &str,
    offsets: &[(TopicPartition, i64)],
    keys: &[TopicPartition],
) -> OffsetCommitRequest {
    let mut topics: Vec<OffsetCommitRequestTopic> = Vec::new();
    for ((t, p), offset) in offsets.iter().filter(|(k, _)| keys.contains(k)) {
        let partition = OffsetCommitRequestPartition::default()
            .with_partition_index(*p)
            .with_committed_offset(*offset);
        match topics.iter_mut().find(|x| x.name.as_str() == t) {
            Some(x) => x.partitions.push(partition),
            None => topics.push(
                OffsetCommitRequestTopic::default()
                    .with_name(text(t))
                    .with_partitions(vec![partition]),
            ),
        }
    }
    // Generation -1 and no member id: an admin commit, which the
    // coordinator accepts only while the group has no active members.
    OffsetCommitRequest::default()
        .with_group_id(text(group))
        .with_generation_id_or_member_epoch(-1)
        .with_member_id(text(""))
        .with_topics(topics)
}

pub(super) fn parse_partition_codes(
    api: &'static str,
    top_level: i16,
    topics: Vec<(String, Vec<(i32, i16)>)>,
) -> Vec<(TopicPartition, Result<(), Error>)> {
    let mut out = Vec::new();
    for (topic, partitions) in topics {
        for (partition, code) in partitions {
            let code = if top_level != 0 { top_level } else { code };
            let outcome = check(
                api,
                code,
                None,
                ErrorContext::default()
                    .with_topic(&topic)
                    .with_partition(partition),
            );
            out.push(((topic.clone(), partition), outcome));
        }
    }
    out
}

pub(super) fn build_offset_delete(group: &str, keys: &[TopicPartition]) -> OffsetDeleteRequest {
    let mut topics: Vec<OffsetDeleteRequestTopic> = Vec::new();
    for (t, p) in keys {
        let partition = OffsetDeleteRequestPartition::default().with_partition_index(*p);
        match topics.iter_mut().find(|x| x.name.as_str() == t) {
            Some(x) => x.partitions.push(partition),
            None => topics.push(
                OffsetDeleteRequestTopic::default()
                    .with_name(text(t))
                    .with_partitions(vec![partition]),
            ),
        }
    }
    OffsetDeleteRequest::default()
        .with_group_id(text(group))
        .with_topics(topics)
}

pub(super) fn build_leave_group(
    group: &str,
    members: &[MemberToRemove],
    version: i16,
) -> Result<LeaveGroupRequest, Error> {
    if version < 3 {
        return Err(needs_version::<LeaveGroupRequest>(
            "LeaveGroup with a member list",
            3,
            version,
        ));
    }
    Ok(LeaveGroupRequest::default()
        .with_group_id(text(group))
        .with_members(
            members
                .iter()
                .map(|m| {
                    let identity = MemberIdentity::default()
                        .with_member_id(text(&m.member_id))
                        .with_group_instance_id(m.group_instance_id.as_deref().map(text));
                    if version >= 5 {
                        identity.with_reason(Some(text("removed by the admin client")))
                    } else {
                        identity
                    }
                })
                .collect(),
        ))
}

pub(super) fn parse_leave_group(
    members: &[MemberToRemove],
    response: LeaveGroupResponse,
) -> Vec<(MemberToRemove, Result<(), Error>)> {
    if response.error_code != 0 {
        return members
            .iter()
            .map(|m| {
                (
                    m.clone(),
                    check("LeaveGroup", response.error_code, None, group_context()),
                )
            })
            .collect();
    }
    response
        .members
        .into_iter()
        .map(|r| {
            let key = MemberToRemove {
                member_id: r.member_id.as_str().to_owned(),
                group_instance_id: r.group_instance_id.map(|i| i.as_str().to_owned()),
            };
            // The coordinator fills in the member id of a static member it
            // found: match what was asked.
            let key = members
                .iter()
                .find(|m| {
                    (m.group_instance_id.is_some() && m.group_instance_id == key.group_instance_id)
                        || (m.group_instance_id.is_none() && m.member_id == key.member_id)
                })
                .cloned()
                .unwrap_or(key);
            (
                key,
                check("LeaveGroup", r.error_code, None, group_context()),
            )
        })
        .collect()
}

impl Admin {
    /// Lists the groups of every broker (ListGroups, at each broker: each
    /// coordinator knows its own groups). `states` and `types` filter (on
    /// the broker from v4/v5, here otherwise); empty filters match all.
    /// Fails if any broker fails, naming it.
    pub async fn list_groups(
        &self,
        states: &[&str],
        types: &[&str],
    ) -> Result<Vec<ConsumerGroupListing>, Error> {
        let mut meta = self.client.metadata();
        if meta.brokers.is_empty() {
            meta = self.client.refresh_metadata().await?;
        }
        let brokers: Vec<i32> = meta.brokers.keys().copied().collect();
        let results = self
            .call(
                brokers,
                |_, id| Ok(Target::Broker(*id)),
                |_, version| {
                    let mut request = ListGroupsRequest::default();
                    if version >= 4 {
                        request =
                            request.with_states_filter(states.iter().map(|s| text(s)).collect());
                    }
                    if version >= 5 {
                        request =
                            request.with_types_filter(types.iter().map(|s| text(s)).collect());
                    }
                    Ok(request)
                },
                |ids, response: ListGroupsResponse, version| {
                    let id = ids.first().copied().unwrap_or(-1);
                    let outcome = check(
                        "ListGroups",
                        response.error_code,
                        None,
                        ErrorContext::broker(id),
                    )
                    .map(|()| {
                        response
                            .groups
                            .into_iter()
                            .map(|g| ConsumerGroupListing {
                                group_id: g.group_id.as_str().to_owned(),
                                protocol_type: g.protocol_type.as_str().to_owned(),
                                state: (version >= 4).then(|| g.group_state.as_str().to_owned()),
                                group_type: (version >= 5)
                                    .then(|| g.group_type.as_str().to_owned()),
                                coordinator: id,
                            })
                            .collect::<Vec<_>>()
                    });
                    vec![(id, outcome)]
                },
            )
            .await;
        let mut groups = Vec::new();
        for listing in results.into_result()? {
            groups.extend(listing.into_iter().filter(|g| {
                (states.is_empty()
                    || g.state
                        .as_deref()
                        .is_none_or(|s| states.iter().any(|f| f.eq_ignore_ascii_case(s))))
                    && (types.is_empty()
                        || g.group_type
                            .as_deref()
                            .is_none_or(|t| types.iter().any(|f| f.eq_ignore_ascii_case(t))))
            }));
        }
        groups.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        Ok(groups)
    }

    /// Describes groups: state, protocol, members and their assignments
    /// (DescribeGroups, at each group's coordinator).
    pub async fn describe_groups(&self, groups: &[&str]) -> ItemResults<String, GroupDescription> {
        self.call(
            groups.iter().map(|g| (*g).to_owned()).collect(),
            coordinator,
            |keys, version| {
                Ok(DescribeGroupsRequest::default()
                    .with_groups(keys.iter().map(|g| text(g)).collect())
                    .with_include_authorized_operations(version >= 3))
            },
            |_, response: DescribeGroupsResponse, version| parse_describe_groups(response, version),
        )
        .await
    }

    /// Deletes groups (DeleteGroups, at each group's coordinator). A group
    /// with members fails with NON_EMPTY_GROUP.
    pub async fn delete_groups(&self, groups: &[&str]) -> ItemResults<String, ()> {
        self.call(
            groups.iter().map(|g| (*g).to_owned()).collect(),
            coordinator,
            |keys, _| {
                Ok(DeleteGroupsRequest::default()
                    .with_groups_names(keys.iter().map(|g| text(g)).collect()))
            },
            |_, response: DeleteGroupsResponse, _| {
                response
                    .results
                    .into_iter()
                    .map(|r| {
                        (
                            r.group_id.as_str().to_owned(),
                            check("DeleteGroups", r.error_code, None, group_context()),
                        )
                    })
                    .collect()
            },
        )
        .await
    }

    /// A group's committed offsets (OffsetFetch, at its coordinator), for
    /// the given partitions or (`None`) all it has committed.
    pub async fn list_group_offsets(
        &self,
        group: &str,
        partitions: Option<&[TopicPartition]>,
    ) -> Result<Vec<GroupOffset>, Error> {
        self.call(
            vec![group.to_owned()],
            coordinator,
            |_, version| build_offset_fetch(group, partitions, version),
            |_, response: OffsetFetchResponse, version| {
                vec![(
                    group.to_owned(),
                    parse_offset_fetch(group, response, version),
                )]
            },
        )
        .await
        .into_single("OffsetFetch")
    }

    /// Sets a group's committed offsets (OffsetCommit as the admin, at its
    /// coordinator). The group must have no active members.
    pub async fn alter_group_offsets(
        &self,
        group: &str,
        offsets: &[(TopicPartition, i64)],
    ) -> ItemResults<TopicPartition, ()> {
        let target = Target::GroupCoordinator(group.to_owned());
        self.call(
            offsets.iter().map(|(k, _)| k.clone()).collect(),
            |_, _| Ok(target.clone()),
            |keys, _| Ok(build_offset_commit(group, offsets, keys)),
            |_, response: OffsetCommitResponse, _| {
                parse_partition_codes(
                    "OffsetCommit",
                    0,
                    response
                        .topics
                        .into_iter()
                        .map(|t| {
                            (
                                t.name.as_str().to_owned(),
                                t.partitions
                                    .into_iter()
                                    .map(|p| (p.partition_index, p.error_code))
                                    .collect(),
                            )
                        })
                        .collect(),
                )
            },
        )
        .await
    }

    /// Deletes a group's committed offsets for partitions (OffsetDelete, at
    /// its coordinator). Fails per partition while the group is subscribed
    /// to the topic.
    pub async fn delete_group_offsets(
        &self,
        group: &str,
        partitions: &[TopicPartition],
    ) -> ItemResults<TopicPartition, ()> {
        let target = Target::GroupCoordinator(group.to_owned());
        self.call(
            partitions.to_vec(),
            |_, _| Ok(target.clone()),
            |keys, _| Ok(build_offset_delete(group, keys)),
            |keys, response: OffsetDeleteResponse, _| {
                if response.error_code != 0 {
                    return keys
                        .iter()
                        .map(|k| {
                            (
                                k.clone(),
                                check("OffsetDelete", response.error_code, None, group_context()),
                            )
                        })
                        .collect();
                }
                parse_partition_codes(
                    "OffsetDelete",
                    0,
                    response
                        .topics
                        .into_iter()
                        .map(|t| {
                            (
                                t.name.as_str().to_owned(),
                                t.partitions
                                    .into_iter()
                                    .map(|p| (p.partition_index, p.error_code))
                                    .collect(),
                            )
                        })
                        .collect(),
                )
            },
        )
        .await
    }

    /// Removes members from a group (LeaveGroup v3+ on their behalf, at its
    /// coordinator).
    pub async fn remove_members(
        &self,
        group: &str,
        members: &[MemberToRemove],
    ) -> ItemResults<MemberToRemove, ()> {
        let target = Target::GroupCoordinator(group.to_owned());
        self.call(
            members.to_vec(),
            |_, _| Ok(target.clone()),
            |keys, version| build_leave_group(group, keys, version),
            |keys, response: LeaveGroupResponse, _| parse_leave_group(keys, response),
        )
        .await
    }
}
