//! Partition assignors: pure functions from the group's subscriptions and the
//! topics' partition counts to an assignment.
//!
//! The group leader runs the assignor the coordinator chose (the protocol every
//! member supports, by the members' preference order) inside
//! [`Membership`](crate::group::Membership). Users plug their own by implementing
//! [`Assignor`]; the built-ins are [`RangeAssignor`], [`RoundRobinAssignor`] and
//! [`CooperativeStickyAssignor`].
//!
//! ```text
//! JoinGroup response (leader) ──▶ MemberSubscription per member ─┐
//! Metadata (partition counts) ────────────────────────────────────┼─▶ Assignor::assign
//!                                                                  │        │
//!               cooperative protocol: withhold_moving_partitions ◀┘────────┘
//!                                                      │
//!                                      SyncGroup assignments (one per member)
//! ```

mod cooperative;
mod ownership;
mod range;
mod round_robin;
mod sticky;
#[cfg(test)]
mod testing;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

use bytes::Bytes;

use super::TopicPartition;

pub use cooperative::withhold_moving_partitions;
pub use range::RangeAssignor;
pub use round_robin::RoundRobinAssignor;
pub use sticky::CooperativeStickyAssignor;

/// How members hand partitions over during a rebalance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RebalanceProtocol {
    /// Every member revokes everything it owns before rejoining (stop the world).
    Eager,
    /// KIP-429: members keep what they own through the rebalance; only the
    /// partitions that move are revoked, and a second rebalance hands them to
    /// their new owner.
    Cooperative,
}

/// What one member told the group in its JoinGroup subscription, as the leader
/// sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MemberSubscription {
    /// The member id the coordinator gave the member.
    pub member_id: String,
    /// Static membership id (`group.instance.id`), if the member has one.
    pub group_instance_id: Option<String>,
    /// The topics it subscribes to.
    pub topics: Vec<Arc<str>>,
    /// The partitions it owns now (subscription v1+, used by cooperative and
    /// sticky assignors; empty for eager members and old versions).
    pub owned_partitions: Vec<TopicPartition>,
    /// The generation in which it owned them (subscription v2+, else -1).
    pub generation_id: i32,
    /// The rack it runs in (subscription v3+).
    pub rack_id: Option<String>,
    /// Assignor-specific bytes.
    pub user_data: Option<Bytes>,
}

impl MemberSubscription {
    /// A member subscribed to `topics` that owns nothing.
    pub fn new<T: Into<Arc<str>>>(
        member_id: impl Into<String>,
        topics: impl IntoIterator<Item = T>,
    ) -> Self {
        Self {
            member_id: member_id.into(),
            group_instance_id: None,
            topics: topics.into_iter().map(Into::into).collect(),
            owned_partitions: Vec::new(),
            generation_id: -1,
            rack_id: None,
            user_data: None,
        }
    }

    /// Sets the partitions it owns and the generation they belong to.
    pub fn with_owned(mut self, owned: Vec<TopicPartition>, generation_id: i32) -> Self {
        self.owned_partitions = owned;
        self.generation_id = generation_id;
        self
    }

    /// Sets the static membership id.
    pub fn with_group_instance_id(mut self, id: Option<String>) -> Self {
        self.group_instance_id = id;
        self
    }

    /// Sets the rack id.
    pub fn with_rack_id(mut self, rack: Option<String>) -> Self {
        self.rack_id = rack;
        self
    }

    /// Sets the assignor-specific bytes.
    pub fn with_user_data(mut self, data: Option<Bytes>) -> Self {
        self.user_data = data;
        self
    }

    fn subscribes_to(&self, topic: &str) -> bool {
        self.topics.iter().any(|t| &**t == topic)
    }
}

/// Member id → the partitions it is assigned. Every member of the group has an
/// entry, possibly empty; each list is sorted.
pub type Assignment = BTreeMap<String, Vec<TopicPartition>>;

/// Partition count per topic, for the topics the group subscribes to that
/// exist. Topics missing here are not assigned.
pub type PartitionCounts = BTreeMap<Arc<str>, i32>;

/// A partition assignor. Implementations must be deterministic (the same input
/// gives the same assignment) and must only assign partitions of topics a
/// member subscribes to; [`validate_assignment`] checks the rest.
pub trait Assignor: fmt::Debug + Send + Sync {
    /// The protocol name sent in JoinGroup (`range`, `roundrobin`, ...).
    fn name(&self) -> &str;

    /// Whether members using it may keep their partitions through a rebalance.
    fn rebalance_protocol(&self) -> RebalanceProtocol;

    /// Extra bytes for this member's subscription. The default sends none.
    fn user_data(&self, owned: &[TopicPartition], generation_id: i32) -> Option<Bytes> {
        let _ = (owned, generation_id);
        None
    }

    /// Computes the assignment. `members` is sorted by member id.
    fn assign(
        &self,
        members: &[MemberSubscription],
        partitions: &PartitionCounts,
    ) -> Result<Assignment, AssignError>;
}

/// Why an assignment could not be computed or was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AssignError {
    /// A user assignor failed.
    #[error("assignor {assignor} failed: {reason}")]
    Failed {
        /// The assignor's name.
        assignor: String,
        /// What it said.
        reason: String,
    },
    /// The assignment names a member that is not in the group.
    #[error("assignment names member {member_id}, which is not in the group")]
    UnknownMember {
        /// The stray member id.
        member_id: String,
    },
    /// A partition was given to two members.
    #[error("partition {partition} assigned to both {first} and {second}")]
    DuplicatePartition {
        /// The partition.
        partition: TopicPartition,
        /// One member it went to.
        first: String,
        /// The other member it went to.
        second: String,
    },
    /// A partition that does not exist (unknown topic or index out of range).
    #[error("partition {partition} does not exist")]
    UnknownPartition {
        /// The partition.
        partition: TopicPartition,
    },
    /// A member got a partition of a topic it does not subscribe to.
    #[error("member {member_id} got {partition} but does not subscribe to its topic")]
    NotSubscribed {
        /// The member.
        member_id: String,
        /// The partition.
        partition: TopicPartition,
    },
}

/// Checks an assignor's output against the group: only known members, only
/// existing partitions of subscribed topics, no partition twice. Partitions
/// left unassigned are allowed (a custom assignor may choose that).
pub fn validate_assignment(
    assignment: &Assignment,
    members: &[MemberSubscription],
    partitions: &PartitionCounts,
) -> Result<(), AssignError> {
    let mut seen: BTreeMap<&TopicPartition, &str> = BTreeMap::new();
    for (member_id, assigned) in assignment {
        let member = members
            .iter()
            .find(|m| &m.member_id == member_id)
            .ok_or_else(|| AssignError::UnknownMember {
                member_id: member_id.clone(),
            })?;
        for tp in assigned {
            let count = partitions.get(&tp.topic).copied().unwrap_or(0);
            if tp.partition < 0 || tp.partition >= count {
                return Err(AssignError::UnknownPartition {
                    partition: tp.clone(),
                });
            }
            if !member.subscribes_to(&tp.topic) {
                return Err(AssignError::NotSubscribed {
                    member_id: member_id.clone(),
                    partition: tp.clone(),
                });
            }
            if let Some(first) = seen.insert(tp, member_id) {
                return Err(AssignError::DuplicatePartition {
                    partition: tp.clone(),
                    first: first.to_owned(),
                    second: member_id.clone(),
                });
            }
        }
    }
    Ok(())
}

/// The order assignors hand out partitions in: static members first, by
/// instance id (stable across restarts, so a restarted static member gets the
/// same partitions back), then dynamic members by member id.
fn ordered_members(members: &[MemberSubscription]) -> Vec<&MemberSubscription> {
    let mut v: Vec<&MemberSubscription> = members.iter().collect();
    v.sort_by(|a, b| {
        (
            a.group_instance_id.is_none(),
            &a.group_instance_id,
            &a.member_id,
        )
            .cmp(&(
                b.group_instance_id.is_none(),
                &b.group_instance_id,
                &b.member_id,
            ))
    });
    v
}

/// An assignment with an empty entry for every member.
fn empty_assignment(members: &[MemberSubscription]) -> Assignment {
    members
        .iter()
        .map(|m| (m.member_id.clone(), Vec::new()))
        .collect()
}

/// The topics at least one member subscribes to that exist, with their
/// partition counts (negative counts read as zero).
fn subscribed_topics<'a>(
    members: &[MemberSubscription],
    partitions: &'a PartitionCounts,
) -> Vec<(&'a Arc<str>, i32)> {
    let wanted: BTreeSet<&str> = members
        .iter()
        .flat_map(|m| m.topics.iter().map(|t| &**t))
        .collect();
    partitions
        .iter()
        .filter(|(t, _)| wanted.contains(&***t))
        .map(|(t, n)| (t, (*n).max(0)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(v: &[(&str, i32)]) -> PartitionCounts {
        v.iter().map(|(t, n)| (Arc::from(*t), *n)).collect()
    }

    #[test]
    fn validation_rejects_each_kind_of_bad_assignment() {
        let members = vec![
            MemberSubscription::new("a", ["t"]),
            MemberSubscription::new("b", ["t", "u"]),
        ];
        let parts = counts(&[("t", 2), ("u", 1)]);
        let ok: Assignment = [
            ("a".to_owned(), vec![TopicPartition::new("t", 0)]),
            ("b".to_owned(), vec![TopicPartition::new("u", 0)]),
        ]
        .into();
        assert_eq!(validate_assignment(&ok, &members, &parts), Ok(()));

        let stray: Assignment = [("z".to_owned(), vec![])].into();
        assert!(matches!(
            validate_assignment(&stray, &members, &parts),
            Err(AssignError::UnknownMember { member_id }) if member_id == "z"
        ));
        let twice: Assignment = [
            ("a".to_owned(), vec![TopicPartition::new("t", 1)]),
            ("b".to_owned(), vec![TopicPartition::new("t", 1)]),
        ]
        .into();
        assert!(matches!(
            validate_assignment(&twice, &members, &parts),
            Err(AssignError::DuplicatePartition { .. })
        ));
        let missing: Assignment = [("a".to_owned(), vec![TopicPartition::new("t", 2)])].into();
        assert!(matches!(
            validate_assignment(&missing, &members, &parts),
            Err(AssignError::UnknownPartition { .. })
        ));
        let unsubscribed: Assignment = [("a".to_owned(), vec![TopicPartition::new("u", 0)])].into();
        assert!(matches!(
            validate_assignment(&unsubscribed, &members, &parts),
            Err(AssignError::NotSubscribed { .. })
        ));
    }

    #[test]
    fn static_members_come_first_in_instance_id_order() {
        let members = vec![
            MemberSubscription::new("a", ["t"]),
            MemberSubscription::new("b", ["t"]).with_group_instance_id(Some("z".into())),
            MemberSubscription::new("c", ["t"]).with_group_instance_id(Some("y".into())),
        ];
        let order: Vec<&str> = ordered_members(&members)
            .iter()
            .map(|m| m.member_id.as_str())
            .collect();
        assert_eq!(order, ["c", "b", "a"]);
    }
}
