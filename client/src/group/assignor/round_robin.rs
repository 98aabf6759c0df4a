//! The round-robin assignor: every subscribed partition, in topic then
//! partition order, dealt to the members in turn, skipping members that do not
//! subscribe to the partition's topic.

use super::{
    AssignError, Assignment, Assignor, MemberSubscription, PartitionCounts, RebalanceProtocol,
    empty_assignment, ordered_members, subscribed_topics,
};
use crate::group::TopicPartition;

/// Kafka's `roundrobin` assignor. With identical subscriptions every member
/// gets the same number of partitions, give or take one.
#[derive(Debug, Clone, Copy, Default)]
pub struct RoundRobinAssignor;

impl Assignor for RoundRobinAssignor {
    fn name(&self) -> &str {
        "roundrobin"
    }

    fn rebalance_protocol(&self) -> RebalanceProtocol {
        RebalanceProtocol::Eager
    }

    fn assign(
        &self,
        members: &[MemberSubscription],
        partitions: &PartitionCounts,
    ) -> Result<Assignment, AssignError> {
        let mut out = empty_assignment(members);
        let order = ordered_members(members);
        if order.is_empty() {
            return Ok(out);
        }
        let mut cursor = 0usize;
        for (topic, count) in subscribed_topics(members, partitions) {
            for p in 0..count {
                // At least one member subscribes (subscribed_topics says so),
                // so this scan finds one within a full turn.
                for step in 0..order.len() {
                    let i = (cursor + step) % order.len();
                    let Some(member) = order.get(i) else { break };
                    if member.subscribes_to(topic) {
                        out.entry(member.member_id.clone())
                            .or_default()
                            .push(TopicPartition::new(topic.clone(), p));
                        cursor = i + 1;
                        break;
                    }
                }
            }
        }
        for list in out.values_mut() {
            list.sort();
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::group::assignor::testing::{
        assert_complete, counts, group_strategy, homogeneous_group_strategy, spread,
    };
    use proptest::prelude::*;

    #[test]
    fn deals_partitions_in_turn() {
        let members = vec![
            MemberSubscription::new("b", ["t0", "t1"]),
            MemberSubscription::new("a", ["t0", "t1"]),
        ];
        let a = RoundRobinAssignor
            .assign(&members, &counts(&[("t0", 3), ("t1", 2)]))
            .unwrap();
        let shown = |m: &str| a[m].iter().map(ToString::to_string).collect::<Vec<_>>();
        assert_eq!(shown("a"), ["t0-0", "t0-2", "t1-1"]);
        assert_eq!(shown("b"), ["t0-1", "t1-0"]);
    }

    #[test]
    fn skips_members_not_subscribed() {
        let members = vec![
            MemberSubscription::new("a", ["t"]),
            MemberSubscription::new("b", ["u"]),
        ];
        let a = RoundRobinAssignor
            .assign(&members, &counts(&[("t", 2), ("u", 1)]))
            .unwrap();
        assert_eq!(a["a"].len(), 2);
        assert_eq!(a["b"], vec![TopicPartition::new("u", 0)]);
    }

    proptest! {
        #[test]
        fn every_partition_once_deterministic((members, parts) in group_strategy()) {
            let a = RoundRobinAssignor.assign(&members, &parts).unwrap();
            assert_complete(&a, &members, &parts);
            prop_assert_eq!(&a, &RoundRobinAssignor.assign(&members, &parts).unwrap());
        }

        #[test]
        fn balanced_within_one_for_identical_subscriptions((members, parts) in homogeneous_group_strategy()) {
            let a = RoundRobinAssignor.assign(&members, &parts).unwrap();
            assert_complete(&a, &members, &parts);
            prop_assert!(spread(&a) <= 1);
        }
    }
}
