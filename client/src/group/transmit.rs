//! The requests membership asks to send and the responses it expects back,
//! as the generated protocol messages, with where each must go.

use klamm_protocol::ApiKey;
use klamm_protocol::generated::offset_fetch::request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopics,
};
use klamm_protocol::generated::{
    FindCoordinatorRequest, FindCoordinatorResponse, HeartbeatRequest, HeartbeatResponse,
    JoinGroupRequest, JoinGroupResponse, LeaveGroupRequest, LeaveGroupResponse, MetadataRequest,
    MetadataResponse, OffsetFetchRequest, OffsetFetchResponse, SyncGroupRequest, SyncGroupResponse,
};

/// Identifies a request handed out by `poll_request`; pass it back with the
/// response or the failure. Responses to requests membership no longer cares
/// about (after a coordinator move or a timeout) are ignored by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestId(pub(crate) u64);

/// The group coordinator's address, from FindCoordinator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coordinator {
    /// Its broker id.
    pub node_id: i32,
    /// Its host.
    pub host: String,
    /// Its port.
    pub port: u16,
}

/// Where a request must be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Destination {
    /// Any broker (FindCoordinator, Metadata).
    AnyBroker,
    /// The group coordinator. Heartbeat and LeaveGroup should use a
    /// connection of their own so that a long JoinGroup or a fetch never
    /// delays them.
    Coordinator(Coordinator),
}

/// A request to send.
#[derive(Debug, Clone, PartialEq)]
pub struct Transmit {
    /// Give it back with the outcome.
    pub id: RequestId,
    /// Where it goes.
    pub destination: Destination,
    /// The message. Call [`GroupRequest::fit_version`] with the version
    /// negotiated with the destination before encoding it.
    pub request: GroupRequest,
}

/// A request membership sends.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
#[allow(missing_docs)] // variants are named after their message
pub enum GroupRequest {
    FindCoordinator(FindCoordinatorRequest),
    JoinGroup(JoinGroupRequest),
    SyncGroup(SyncGroupRequest),
    Heartbeat(HeartbeatRequest),
    LeaveGroup(LeaveGroupRequest),
    OffsetFetch(OffsetFetchRequest),
    Metadata(MetadataRequest),
}

/// The response to a [`GroupRequest`] (same variant).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
#[allow(missing_docs)] // variants are named after their message
pub enum GroupResponse {
    FindCoordinator(FindCoordinatorResponse),
    JoinGroup(JoinGroupResponse),
    SyncGroup(SyncGroupResponse),
    Heartbeat(HeartbeatResponse),
    LeaveGroup(LeaveGroupResponse),
    OffsetFetch(OffsetFetchResponse),
    Metadata(MetadataResponse),
}

impl GroupRequest {
    /// The API this request belongs to.
    pub fn api_key(&self) -> ApiKey {
        match self {
            Self::FindCoordinator(_) => ApiKey::FindCoordinator,
            Self::JoinGroup(_) => ApiKey::JoinGroup,
            Self::SyncGroup(_) => ApiKey::SyncGroup,
            Self::Heartbeat(_) => ApiKey::Heartbeat,
            Self::LeaveGroup(_) => ApiKey::LeaveGroup,
            Self::OffsetFetch(_) => ApiKey::OffsetFetch,
            Self::Metadata(_) => ApiKey::Metadata,
        }
    }

    /// Moves fields into the shape `version` uses; see [`FitVersion`].
    pub fn fit_version(&mut self, version: i16) {
        match self {
            Self::FindCoordinator(r) => r.fit_version(version),
            Self::JoinGroup(r) => r.fit_version(version),
            Self::SyncGroup(r) => r.fit_version(version),
            Self::Heartbeat(r) => r.fit_version(version),
            Self::LeaveGroup(r) => r.fit_version(version),
            Self::OffsetFetch(r) => r.fit_version(version),
            Self::Metadata(r) => r.fit_version(version),
        }
    }
}

/// Moves a request's fields into the shape a version uses. Membership builds
/// FindCoordinator with one key (v0-3), LeaveGroup with a member list (v3+)
/// and OffsetFetch for one group (v0-7); newer or older versions carry the
/// same content elsewhere. The other requests are valid at every version as
/// built (static membership needs a broker that has it), so theirs is a no-op.
pub trait FitVersion {
    /// Reshapes `self` for `version`.
    fn fit_version(&mut self, version: i16) {
        let _ = version;
    }
}

impl FitVersion for JoinGroupRequest {}
impl FitVersion for SyncGroupRequest {}
impl FitVersion for HeartbeatRequest {}
impl FitVersion for MetadataRequest {}

impl FitVersion for FindCoordinatorRequest {
    fn fit_version(&mut self, version: i16) {
        if version >= 4 && !self.key.is_empty() {
            self.coordinator_keys = vec![std::mem::take(&mut self.key)];
        }
    }
}

impl FitVersion for LeaveGroupRequest {
    fn fit_version(&mut self, version: i16) {
        if version < 3 {
            if let Some(first) = self.members.first() {
                self.member_id = first.member_id.clone();
            }
            self.members.clear();
        }
    }
}

impl FitVersion for OffsetFetchRequest {
    fn fit_version(&mut self, version: i16) {
        if version >= 8 {
            // The v0-7 field goes back to its default (an empty list).
            let topics = self.topics.replace(Vec::new()).map(|ts| {
                ts.into_iter()
                    .map(|t| {
                        OffsetFetchRequestTopics::default()
                            .with_name(t.name)
                            .with_partition_indexes(t.partition_indexes)
                    })
                    .collect()
            });
            let group = OffsetFetchRequestGroup::default()
                .with_group_id(std::mem::take(&mut self.group_id))
                .with_topics(topics);
            self.groups = vec![group];
        } else if version < 7 {
            self.require_stable = false;
        }
    }
}

impl GroupResponse {
    /// The API this response belongs to.
    pub fn api_key(&self) -> ApiKey {
        match self {
            Self::FindCoordinator(_) => ApiKey::FindCoordinator,
            Self::JoinGroup(_) => ApiKey::JoinGroup,
            Self::SyncGroup(_) => ApiKey::SyncGroup,
            Self::Heartbeat(_) => ApiKey::Heartbeat,
            Self::LeaveGroup(_) => ApiKey::LeaveGroup,
            Self::OffsetFetch(_) => ApiKey::OffsetFetch,
            Self::Metadata(_) => ApiKey::Metadata,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use klamm_protocol::generated::leave_group::request::MemberIdentity;
    use klamm_protocol::generated::offset_fetch::request::OffsetFetchRequestTopic;
    use klamm_protocol::{Message, StrBytes};

    fn encodes_at_every_version<M: Message>(
        mut req: GroupRequest,
        get: impl Fn(&GroupRequest) -> &M,
    ) {
        for v in M::VERSIONS.min..=M::VERSIONS.max {
            let mut fitted = req.clone();
            fitted.fit_version(v);
            let mut buf = BytesMut::new();
            get(&fitted)
                .encode(&mut buf, v)
                .unwrap_or_else(|e| panic!("{} v{v}: {e}", M::NAME));
        }
        req.fit_version(M::VERSIONS.max);
    }

    #[test]
    fn find_coordinator_leave_and_offset_fetch_encode_at_every_version() {
        let find = GroupRequest::FindCoordinator(
            FindCoordinatorRequest::default().with_key(StrBytes::from("g")),
        );
        encodes_at_every_version::<FindCoordinatorRequest>(find, |r| match r {
            GroupRequest::FindCoordinator(r) => r,
            _ => unreachable!(),
        });
        let leave = GroupRequest::LeaveGroup(
            LeaveGroupRequest::default()
                .with_group_id(StrBytes::from("g"))
                .with_members(vec![
                    MemberIdentity::default().with_member_id(StrBytes::from("m")),
                ]),
        );
        encodes_at_every_version::<LeaveGroupRequest>(leave, |r| match r {
            GroupRequest::LeaveGroup(r) => r,
            _ => unreachable!(),
        });
        let fetch = GroupRequest::OffsetFetch(
            OffsetFetchRequest::default()
                .with_group_id(StrBytes::from("g"))
                .with_require_stable(true)
                .with_topics(Some(vec![
                    OffsetFetchRequestTopic::default()
                        .with_name(StrBytes::from("t"))
                        .with_partition_indexes(vec![0, 1]),
                ])),
        );
        encodes_at_every_version::<OffsetFetchRequest>(fetch, |r| match r {
            GroupRequest::OffsetFetch(r) => r,
            _ => unreachable!(),
        });
    }

    #[test]
    fn fitted_shapes_carry_the_content() {
        let mut find = GroupRequest::FindCoordinator(
            FindCoordinatorRequest::default().with_key(StrBytes::from("g")),
        );
        find.fit_version(4);
        let GroupRequest::FindCoordinator(f) = &find else {
            unreachable!()
        };
        assert_eq!(f.coordinator_keys, vec![StrBytes::from("g")]);
        assert!(f.key.is_empty());

        let mut leave = GroupRequest::LeaveGroup(LeaveGroupRequest::default().with_members(vec![
            MemberIdentity::default().with_member_id(StrBytes::from("m")),
        ]));
        leave.fit_version(2);
        let GroupRequest::LeaveGroup(l) = &leave else {
            unreachable!()
        };
        assert_eq!(l.member_id, StrBytes::from("m"));
        assert!(l.members.is_empty());

        let mut fetch = GroupRequest::OffsetFetch(
            OffsetFetchRequest::default()
                .with_group_id(StrBytes::from("g"))
                .with_topics(Some(vec![
                    OffsetFetchRequestTopic::default()
                        .with_name(StrBytes::from("t"))
                        .with_partition_indexes(vec![3]),
                ])),
        );
        fetch.fit_version(8);
        let GroupRequest::OffsetFetch(o) = &fetch else {
            unreachable!()
        };
        assert_eq!(o.groups.len(), 1);
        assert_eq!(o.groups[0].group_id, StrBytes::from("g"));
        let topics = o.groups[0].topics.as_ref().unwrap();
        assert_eq!(topics[0].partition_indexes, vec![3]);
    }
}
