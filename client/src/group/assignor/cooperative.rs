//! KIP-429's leader-side step for the cooperative protocol: a partition that
//! moves between members is first revoked by its owner and only handed to the
//! new member in the next rebalance, so no partition is ever consumed by two
//! members at once.

use std::collections::BTreeSet;

use super::{Assignment, MemberSubscription};
use crate::group::TopicPartition;

/// Removes from `assignment` every partition that some member owns now and
/// must give up, so that its owner revokes it this round and nobody gets it
/// until the owner has rejoined without it. Returns the withheld partitions
/// (sorted); when the list is not empty the owners rejoin at once and the next
/// rebalance assigns them.
pub fn withhold_moving_partitions(
    assignment: &mut Assignment,
    members: &[MemberSubscription],
) -> Vec<TopicPartition> {
    // Custom assignors need not sort their lists; the lookups below do.
    for list in assignment.values_mut() {
        list.sort();
    }
    let empty = Vec::new();
    let mut withheld = BTreeSet::new();
    for m in members {
        let assigned = assignment.get(&m.member_id).unwrap_or(&empty);
        for tp in &m.owned_partitions {
            if assigned.binary_search(tp).is_err() {
                withheld.insert(tp.clone());
            }
        }
    }
    if !withheld.is_empty() {
        for list in assignment.values_mut() {
            list.retain(|tp| !withheld.contains(tp));
        }
    }
    withheld.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moved_partition_goes_to_nobody_this_round() {
        let tp = |p| TopicPartition::new("t", p);
        let members = vec![
            MemberSubscription::new("a", ["t"]).with_owned(vec![tp(0), tp(1)], 1),
            MemberSubscription::new("b", ["t"]),
        ];
        let mut a: Assignment =
            [("a".to_owned(), vec![tp(0)]), ("b".to_owned(), vec![tp(1)])].into();
        let withheld = withhold_moving_partitions(&mut a, &members);
        assert_eq!(withheld, vec![tp(1)]);
        assert_eq!(a["a"], vec![tp(0)]);
        assert!(a["b"].is_empty());
    }
}
