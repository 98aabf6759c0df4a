//! Who owns what, as the members claim it in their subscriptions.

use std::collections::BTreeMap;

use super::MemberSubscription;
use crate::group::TopicPartition;

/// The owner of each partition some member claims. A claim from a newer
/// generation beats an older one (the older claimant missed a rebalance); two
/// claims from the same generation cancel, so neither claimant keeps the
/// partition by right of ownership.
pub(super) fn current_owners(members: &[MemberSubscription]) -> BTreeMap<TopicPartition, usize> {
    // partition -> (generation, Some(member index) or None when contested)
    let mut best: BTreeMap<&TopicPartition, (i32, Option<usize>)> = BTreeMap::new();
    for (i, m) in members.iter().enumerate() {
        for tp in &m.owned_partitions {
            match best.get_mut(tp) {
                None => {
                    best.insert(tp, (m.generation_id, Some(i)));
                }
                Some(entry) if m.generation_id > entry.0 => *entry = (m.generation_id, Some(i)),
                Some(entry) if m.generation_id == entry.0 && entry.1 != Some(i) => entry.1 = None,
                Some(_) => {}
            }
        }
    }
    best.into_iter()
        .filter_map(|(tp, (_, owner))| owner.map(|i| (tp.clone(), i)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newer_generation_wins_and_equal_generations_cancel() {
        let tp = |p| TopicPartition::new("t", p);
        let members = vec![
            MemberSubscription::new("a", ["t"]).with_owned(vec![tp(0), tp(1)], 3),
            MemberSubscription::new("b", ["t"]).with_owned(vec![tp(0), tp(2)], 4),
            MemberSubscription::new("c", ["t"]).with_owned(vec![tp(2), tp(3)], 4),
        ];
        let owners = current_owners(&members);
        assert_eq!(owners.get(&tp(0)), Some(&1));
        assert_eq!(owners.get(&tp(1)), Some(&0));
        assert_eq!(owners.get(&tp(2)), None);
        assert_eq!(owners.get(&tp(3)), Some(&2));
    }
}
