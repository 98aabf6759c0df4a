//! The range assignor: each topic's partitions split into contiguous ranges,
//! one per subscribed member, the first members getting one extra when the
//! count does not divide evenly.

use super::{
    AssignError, Assignment, Assignor, MemberSubscription, PartitionCounts, RebalanceProtocol,
    empty_assignment, ordered_members, subscribed_topics,
};
use crate::group::TopicPartition;

/// Kafka's `range` assignor. Co-partitioned topics land on the same members,
/// at the price of imbalance across many topics.
#[derive(Debug, Clone, Copy, Default)]
pub struct RangeAssignor;

impl Assignor for RangeAssignor {
    fn name(&self) -> &str {
        "range"
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
        for (topic, count) in subscribed_topics(members, partitions) {
            let takers: Vec<&MemberSubscription> = order
                .iter()
                .copied()
                .filter(|m| m.subscribes_to(topic))
                .collect();
            let Ok(n) = i32::try_from(takers.len()) else {
                continue;
            };
            if n == 0 {
                continue;
            }
            let (each, extra) = (count / n, count % n);
            let mut next = 0;
            for (i, member) in (0..).zip(&takers) {
                let len = each + i32::from(i < extra);
                let list = out.entry(member.member_id.clone()).or_default();
                list.extend((next..next + len).map(|p| TopicPartition::new(topic.clone(), p)));
                next += len;
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
        assert_complete, counts, group_strategy, per_topic_spread,
    };
    use proptest::prelude::*;

    fn names(a: &Assignment, member: &str) -> Vec<String> {
        a[member].iter().map(ToString::to_string).collect()
    }

    #[test]
    fn splits_each_topic_into_ranges_first_members_get_extra() {
        let members = vec![
            MemberSubscription::new("c1", ["t0", "t1"]),
            MemberSubscription::new("c0", ["t0", "t1"]),
        ];
        let a = RangeAssignor
            .assign(&members, &counts(&[("t0", 3), ("t1", 3)]))
            .unwrap();
        assert_eq!(names(&a, "c0"), ["t0-0", "t0-1", "t1-0", "t1-1"]);
        assert_eq!(names(&a, "c1"), ["t0-2", "t1-2"]);
    }

    #[test]
    fn only_subscribers_of_a_topic_share_it_and_missing_topics_are_skipped() {
        let members = vec![
            MemberSubscription::new("a", ["t", "gone"]),
            MemberSubscription::new("b", ["t", "u"]),
        ];
        let a = RangeAssignor
            .assign(&members, &counts(&[("t", 2), ("u", 2)]))
            .unwrap();
        assert_eq!(names(&a, "a"), ["t-0"]);
        assert_eq!(names(&a, "b"), ["t-1", "u-0", "u-1"]);
    }

    proptest! {
        #[test]
        fn every_partition_once_and_each_topic_within_one((members, parts) in group_strategy()) {
            let a = RangeAssignor.assign(&members, &parts).unwrap();
            assert_complete(&a, &members, &parts);
            for (topic, spread) in per_topic_spread(&a, &members, &parts) {
                prop_assert!(spread <= 1, "topic {topic} spread {spread}");
            }
            prop_assert_eq!(&a, &RangeAssignor.assign(&members, &parts).unwrap());
        }
    }
}
