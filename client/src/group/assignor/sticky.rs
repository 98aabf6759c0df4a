//! The cooperative-sticky assignor: as balanced as round-robin, while every
//! member keeps as much of what it owns as balance allows.
//!
//! Three steps, all deterministic:
//! 1. each member keeps the partitions it validly owns (newest generation wins
//!    a contested claim) of topics it still subscribes to;
//! 2. unowned partitions go, most constrained first, to the least loaded member
//!    that subscribes to their topic;
//! 3. while some member holds two more partitions than another member that
//!    could take one of them, one moves (partitions it did not own before
//!    first). Each move lowers the sum of squared loads, so this ends.
//!
//! With identical subscriptions the result is balanced within one and a member
//! loses owned partitions only down to its final share. With differing
//! subscriptions no single move can improve the balance.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::ownership::current_owners;
use super::{
    AssignError, Assignment, Assignor, MemberSubscription, PartitionCounts, RebalanceProtocol,
    subscribed_topics,
};
use crate::group::TopicPartition;

/// Kafka's `cooperative-sticky` assignor (KIP-429). Use it with the
/// cooperative protocol: only partitions that move are revoked.
#[derive(Debug, Clone, Copy, Default)]
pub struct CooperativeStickyAssignor;

impl Assignor for CooperativeStickyAssignor {
    fn name(&self) -> &str {
        "cooperative-sticky"
    }

    fn rebalance_protocol(&self) -> RebalanceProtocol {
        RebalanceProtocol::Cooperative
    }

    fn assign(
        &self,
        members: &[MemberSubscription],
        partitions: &PartitionCounts,
    ) -> Result<Assignment, AssignError> {
        let mut sorted: Vec<MemberSubscription> = members.to_vec();
        sorted.sort_by(|a, b| a.member_id.cmp(&b.member_id));
        let held = sticky_assign(&sorted, partitions);
        Ok(sorted
            .iter()
            .zip(held)
            .map(|(m, set)| (m.member_id.clone(), set.into_iter().collect()))
            .collect())
    }
}

fn sticky_assign(
    members: &[MemberSubscription],
    partitions: &PartitionCounts,
) -> Vec<BTreeSet<TopicPartition>> {
    // Which members (by index) may take each topic's partitions.
    let mut eligible: BTreeMap<Arc<str>, Vec<usize>> = BTreeMap::new();
    let mut all = Vec::new();
    for (topic, count) in subscribed_topics(members, partitions) {
        let takers: Vec<usize> = (0..members.len())
            .filter(|&i| members.get(i).is_some_and(|m| m.subscribes_to(topic)))
            .collect();
        eligible.insert(topic.clone(), takers);
        all.extend((0..count).map(|p| TopicPartition::new(topic.clone(), p)));
    }
    let takers = |tp: &TopicPartition| eligible.get(&tp.topic).map_or(&[][..], Vec::as_slice);

    let owners = current_owners(members);
    let owned_by = |tp: &TopicPartition, i: usize| owners.get(tp) == Some(&i);
    let mut held: Vec<BTreeSet<TopicPartition>> = vec![BTreeSet::new(); members.len()];

    // 1. keep valid ownership.
    let mut unowned = Vec::new();
    for tp in all {
        match owners.get(&tp) {
            Some(&i) if takers(&tp).contains(&i) => {
                if let Some(set) = held.get_mut(i) {
                    set.insert(tp);
                }
            }
            _ => unowned.push(tp),
        }
    }

    // 2. place the rest, the partitions with the fewest takers first.
    unowned.sort_by(|a, b| (takers(a).len(), a).cmp(&(takers(b).len(), b)));
    for tp in unowned {
        if let Some(i) = least_loaded(takers(&tp), &held, usize::MAX) {
            if let Some(set) = held.get_mut(i) {
                set.insert(tp);
            }
        }
    }

    // 3. move single partitions from heavy to light members until none helps.
    loop {
        let mut by_load: Vec<usize> = (0..held.len()).collect();
        by_load.sort_by_key(|&i| (std::cmp::Reverse(load(&held, i)), i));
        let mut chosen = None;
        'search: for &from in &by_load {
            let from_load = load(&held, from);
            if from_load < 2 {
                break;
            }
            let Some(set) = held.get(from) else { continue };
            let fresh = set.iter().filter(|tp| !owned_by(tp, from));
            // A member gives up its highest partitions first.
            let kept = set.iter().rev().filter(|tp| owned_by(tp, from));
            for tp in fresh.chain(kept) {
                if let Some(to) = least_loaded(takers(tp), &held, from) {
                    if load(&held, to) + 1 < from_load {
                        chosen = Some((from, to, tp.clone()));
                        break 'search;
                    }
                }
            }
        }
        let Some((from, to, tp)) = chosen else { break };
        if let Some(set) = held.get_mut(from) {
            set.remove(&tp);
        }
        if let Some(set) = held.get_mut(to) {
            set.insert(tp);
        }
    }
    held
}

fn load(held: &[BTreeSet<TopicPartition>], i: usize) -> usize {
    held.get(i).map_or(0, BTreeSet::len)
}

/// The taker with the fewest partitions (lowest index on ties), other than `except`.
fn least_loaded(
    takers: &[usize],
    held: &[BTreeSet<TopicPartition>],
    except: usize,
) -> Option<usize> {
    takers
        .iter()
        .copied()
        .filter(|&i| i != except)
        .min_by_key(|&i| (load(held, i), i))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::group::assignor::testing::{
        assert_complete, counts, group_strategy, homogeneous_with_owners_strategy, spread,
    };
    use crate::group::assignor::withhold_moving_partitions;
    use proptest::prelude::*;

    fn tp(p: i32) -> TopicPartition {
        TopicPartition::new("t", p)
    }

    #[test]
    fn a_joining_member_takes_only_the_surplus() {
        let members = vec![
            MemberSubscription::new("a", ["t"]).with_owned((0..3).map(tp).collect(), 5),
            MemberSubscription::new("b", ["t"]).with_owned((3..6).map(tp).collect(), 5),
            MemberSubscription::new("c", ["t"]),
        ];
        let a = CooperativeStickyAssignor
            .assign(&members, &counts(&[("t", 6)]))
            .unwrap();
        assert_eq!(a["a"].len(), 2);
        assert_eq!(a["b"].len(), 2);
        assert_eq!(a["c"].len(), 2);
        assert!(a["a"].iter().all(|p| p.partition < 3));
        assert!(a["b"].iter().all(|p| p.partition >= 3));
    }

    #[test]
    fn a_leaving_member_only_frees_its_own_partitions() {
        let members = vec![
            MemberSubscription::new("a", ["t"]).with_owned(vec![tp(0), tp(1)], 2),
            MemberSubscription::new("b", ["t"]).with_owned(vec![tp(2), tp(3)], 2),
        ];
        // c owned 4 and 5 and left.
        let a = CooperativeStickyAssignor
            .assign(&members, &counts(&[("t", 6)]))
            .unwrap();
        assert_eq!(a["a"], vec![tp(0), tp(1), tp(4)]);
        assert_eq!(a["b"], vec![tp(2), tp(3), tp(5)]);
    }

    #[test]
    fn stale_claims_lose_to_newer_generation() {
        let members = vec![
            MemberSubscription::new("a", ["t"]).with_owned(vec![tp(0), tp(1)], 1),
            MemberSubscription::new("b", ["t"]).with_owned(vec![tp(0)], 2),
        ];
        let a = CooperativeStickyAssignor
            .assign(&members, &counts(&[("t", 2)]))
            .unwrap();
        assert_eq!(a["a"], vec![tp(1)]);
        assert_eq!(a["b"], vec![tp(0)]);
    }

    proptest! {
        #[test]
        fn complete_deterministic_and_locally_balanced((members, parts) in group_strategy()) {
            let a = CooperativeStickyAssignor.assign(&members, &parts).unwrap();
            assert_complete(&a, &members, &parts);
            prop_assert_eq!(&a, &CooperativeStickyAssignor.assign(&members, &parts).unwrap());
            // No single move to a subscribed member could improve the balance.
            for (holder, list) in &a {
                for p in list {
                    for m in members.iter().filter(|m| m.subscribes_to(&p.topic)) {
                        prop_assert!(a[&m.member_id].len() + 1 >= list.len(),
                            "{p} on {holder} ({}) could move to {} ({})",
                            list.len(), m.member_id, a[&m.member_id].len());
                    }
                }
            }
        }

        #[test]
        fn sticky_and_balanced_for_identical_subscriptions((members, parts) in homogeneous_with_owners_strategy()) {
            let a = CooperativeStickyAssignor.assign(&members, &parts).unwrap();
            assert_complete(&a, &members, &parts);
            prop_assert!(spread(&a) <= 1);
            for m in &members {
                let new = &a[&m.member_id];
                let kept = m.owned_partitions.iter().filter(|p| new.contains(p)).count();
                prop_assert_eq!(kept, m.owned_partitions.len().min(new.len()),
                    "member {} owned {:?} got {:?}", &m.member_id, &m.owned_partitions, new);
            }
            // A balanced, complete assignment fed back in comes out unchanged.
            let again: Vec<MemberSubscription> = members.iter()
                .map(|m| m.clone().with_owned(a[&m.member_id].clone(), m.generation_id + 1))
                .collect();
            prop_assert_eq!(&a, &CooperativeStickyAssignor.assign(&again, &parts).unwrap());
        }

        #[test]
        fn cooperative_rounds_never_hand_over_directly_and_converge((members, parts) in homogeneous_with_owners_strategy()) {
            let mut round1 = CooperativeStickyAssignor.assign(&members, &parts).unwrap();
            let withheld = withhold_moving_partitions(&mut round1, &members);
            for m in &members {
                let others_own = |p: &TopicPartition| members.iter()
                    .any(|o| o.member_id != m.member_id && o.owned_partitions.contains(p));
                prop_assert!(round1[&m.member_id].iter().all(|p| !others_own(p)));
                // A member only ever loses here what it had to revoke.
                for p in &m.owned_partitions {
                    prop_assert!(round1[&m.member_id].contains(p) || withheld.contains(p));
                }
            }
            // Round two: everyone owns what round one gave; nothing is withheld
            // and every partition is assigned.
            let members2: Vec<MemberSubscription> = members.iter()
                .map(|m| m.clone().with_owned(round1[&m.member_id].clone(), m.generation_id + 1))
                .collect();
            let mut round2 = CooperativeStickyAssignor.assign(&members2, &parts).unwrap();
            prop_assert!(withhold_moving_partitions(&mut round2, &members2).is_empty());
            assert_complete(&round2, &members2, &parts);
            prop_assert!(spread(&round2) <= 1);
        }
    }
}
