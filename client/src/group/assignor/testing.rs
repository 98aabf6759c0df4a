//! Shared test helpers for the assignors: random groups and the invariants
//! every assignment must satisfy.

use std::collections::BTreeMap;
use std::sync::Arc;

use proptest::prelude::*;

use super::{Assignment, MemberSubscription, PartitionCounts};
use crate::group::TopicPartition;

const TOPICS: [&str; 4] = ["alpha", "beta", "gamma", "delta"];

pub(crate) fn counts(v: &[(&str, i32)]) -> PartitionCounts {
    v.iter().map(|(t, n)| (Arc::from(*t), *n)).collect()
}

fn partitions_strategy() -> impl Strategy<Value = PartitionCounts> {
    // Some subscribed topics may not exist (None): they must be skipped.
    proptest::collection::vec(proptest::option::of(0i32..12), TOPICS.len()).prop_map(|v| {
        TOPICS
            .iter()
            .zip(v)
            .filter_map(|(t, n)| n.map(|n| (Arc::from(*t), n)))
            .collect()
    })
}

/// 1-8 members, each subscribed to a random non-empty subset of four topics.
pub(crate) fn group_strategy() -> impl Strategy<Value = (Vec<MemberSubscription>, PartitionCounts)>
{
    let member = proptest::collection::vec(any::<bool>(), TOPICS.len()).prop_map(|mask| {
        let topics: Vec<&str> = TOPICS
            .iter()
            .zip(&mask)
            .filter(|(_, on)| **on)
            .map(|(t, _)| *t)
            .collect();
        if topics.is_empty() {
            vec!["alpha"]
        } else {
            topics
        }
    });
    (
        proptest::collection::vec(member, 1..8),
        partitions_strategy(),
    )
        .prop_map(|(subs, parts)| {
            let members = subs
                .into_iter()
                .enumerate()
                .map(|(i, topics)| MemberSubscription::new(format!("member-{i}"), topics))
                .collect();
            (members, parts)
        })
}

/// 1-8 members all subscribed to the same topics.
pub(crate) fn homogeneous_group_strategy()
-> impl Strategy<Value = (Vec<MemberSubscription>, PartitionCounts)> {
    (1usize..8, 1usize..=TOPICS.len(), partitions_strategy()).prop_map(|(n, t, parts)| {
        let topics = &TOPICS[..t];
        let members = (0..n)
            .map(|i| MemberSubscription::new(format!("m{i:02}"), topics.iter().copied()))
            .collect();
        (members, parts)
    })
}

/// Like [`homogeneous_group_strategy`], with a random prior owner (or none)
/// for every partition, as members report after an earlier generation.
pub(crate) fn homogeneous_with_owners_strategy()
-> impl Strategy<Value = (Vec<MemberSubscription>, PartitionCounts)> {
    homogeneous_group_strategy().prop_flat_map(|(members, parts)| {
        let all = all_partitions(&members, &parts);
        let n = members.len();
        proptest::collection::vec(proptest::option::of(0..n), all.len()).prop_map(move |owner| {
            let mut members = members.clone();
            for (tp, o) in all.iter().zip(owner) {
                if let Some(m) = o.and_then(|o| members.get_mut(o)) {
                    m.owned_partitions.push(tp.clone());
                    m.generation_id = 7;
                }
            }
            (members, parts.clone())
        })
    })
}

/// Every existing partition of a topic some member subscribes to.
pub(crate) fn all_partitions(
    members: &[MemberSubscription],
    parts: &PartitionCounts,
) -> Vec<TopicPartition> {
    super::subscribed_topics(members, parts)
        .into_iter()
        .flat_map(|(t, n)| (0..n).map(move |p| TopicPartition::new(t.clone(), p)))
        .collect()
}

/// Every member has an entry; every subscribed partition is assigned exactly
/// once, to a member that subscribes to its topic.
pub(crate) fn assert_complete(
    a: &Assignment,
    members: &[MemberSubscription],
    parts: &PartitionCounts,
) {
    assert_eq!(a.len(), members.len(), "one entry per member: {a:?}");
    super::validate_assignment(a, members, parts).expect("valid assignment");
    let assigned: usize = a.values().map(Vec::len).sum();
    assert_eq!(
        assigned,
        all_partitions(members, parts).len(),
        "every partition once: {a:?}"
    );
}

/// Largest minus smallest number of partitions per member.
pub(crate) fn spread(a: &Assignment) -> usize {
    let sizes = a.values().map(Vec::len);
    sizes.clone().max().unwrap_or(0) - sizes.min().unwrap_or(0)
}

/// For each topic: largest minus smallest share among its subscribers.
pub(crate) fn per_topic_spread(
    a: &Assignment,
    members: &[MemberSubscription],
    parts: &PartitionCounts,
) -> BTreeMap<Arc<str>, usize> {
    super::subscribed_topics(members, parts)
        .into_iter()
        .map(|(t, _)| {
            let shares: Vec<usize> = members
                .iter()
                .filter(|m| m.subscribes_to(t))
                .map(|m| a[&m.member_id].iter().filter(|p| p.topic == *t).count())
                .collect();
            let max = shares.iter().max().copied().unwrap_or(0);
            let min = shares.iter().min().copied().unwrap_or(0);
            (t.clone(), max - min)
        })
        .collect()
}
