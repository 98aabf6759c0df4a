//! Choosing a record's partition: an explicit partition wins, then the
//! configured [`Partitioner`], then the sticky choice for records the
//! partitioner leaves open (keyless records with the default partitioner).
//!
//! ```text
//! record.partition ──Some──▶ that partition (checked against the count)
//!        │ None
//!        ▼
//! Partitioner::partition(topic, key, value, count) ──Some(p)──▶ p
//!        │ None ("any partition")
//!        ▼
//! StickyPartition: the same partition until its batch is sealed, then a
//! new random one among those with a leader (Kafka's sticky partitioning)
//! ```

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::BuildHasher;

use super::murmur2::key_partition;

/// Picks a partition for a record; implement it for custom partitioning.
///
/// ```
/// use klamm::producer::Partitioner;
///
/// /// Sends every record whose key starts with `audit-` to partition 0.
/// #[derive(Debug)]
/// struct Audit;
///
/// impl Partitioner for Audit {
///     fn partition(&self, _topic: &str, key: Option<&[u8]>, _value: Option<&[u8]>, _count: i32) -> Option<i32> {
///         match key {
///             Some(k) if k.starts_with(b"audit-") => Some(0),
///             _ => None, // let the producer stick to one partition per batch
///         }
///     }
/// }
/// assert_eq!(Audit.partition("t", Some(b"audit-1"), None, 6), Some(0));
/// ```
pub trait Partitioner: Send + Sync + fmt::Debug + 'static {
    /// The partition for a record of `topic`, which has `partition_count`
    /// partitions (always at least 1), or `None` to let the producer choose
    /// a sticky partition. A result outside `0..partition_count` fails the
    /// record with [`PartitionError::OutOfRange`].
    fn partition(
        &self,
        topic: &str,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        partition_count: i32,
    ) -> Option<i32>;
}

/// Kafka's default: murmur2 of the key, exactly as the Java client computes
/// it (`toPositive(murmur2(key)) % partitions`); keyless records are sticky.
/// librdkafka calls this `murmur2_random`.
#[derive(Debug, Default, Clone, Copy)]
pub struct DefaultPartitioner;

impl Partitioner for DefaultPartitioner {
    fn partition(
        &self,
        _topic: &str,
        key: Option<&[u8]>,
        _value: Option<&[u8]>,
        partition_count: i32,
    ) -> Option<i32> {
        key.map(|k| key_partition(k, partition_count))
    }
}

/// murmur2 of the key, with a null key hashed as empty bytes, so keyless
/// records all go to one fixed partition (librdkafka's `murmur2`).
#[derive(Debug, Default, Clone, Copy)]
pub struct Murmur2Partitioner;

impl Partitioner for Murmur2Partitioner {
    fn partition(
        &self,
        _topic: &str,
        key: Option<&[u8]>,
        _value: Option<&[u8]>,
        partition_count: i32,
    ) -> Option<i32> {
        Some(key_partition(key.unwrap_or_default(), partition_count))
    }
}

/// Ignores keys: every record without an explicit partition is sticky
/// (Java's `partitioner.ignore.keys=true`).
#[derive(Debug, Default, Clone, Copy)]
pub struct StickyPartitioner;

impl Partitioner for StickyPartitioner {
    fn partition(&self, _: &str, _: Option<&[u8]>, _: Option<&[u8]>, _: i32) -> Option<i32> {
        None
    }
}

/// Why no partition could be chosen for a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PartitionError {
    /// The record or the partitioner named a partition the topic lacks.
    #[error("partition {partition} does not exist: the topic has {partition_count} partitions")]
    OutOfRange {
        /// The partition asked for.
        partition: i32,
        /// How many the topic has.
        partition_count: i32,
    },
    /// The topic has no partitions (metadata says so).
    #[error("the topic has no partitions")]
    NoPartitions,
}

/// One topic's sticky partition: keyless records all go to it until its
/// batch is sealed, so they fill one batch at a time instead of spraying
/// small batches over every partition.
#[derive(Debug, Clone)]
pub(crate) struct StickyPartition {
    current: Option<i32>,
    rng: Rng,
}

/// A topic's partition count and the partitions that have a leader now
/// (sticky choices prefer those; the list may be empty).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Partitions<'a> {
    pub(crate) count: i32,
    pub(crate) available: &'a [i32],
}

impl StickyPartition {
    /// No sticky partition yet; choices are random per process.
    pub(crate) fn new() -> Self {
        Self::with_rng(Rng::from_entropy())
    }

    fn with_rng(rng: Rng) -> Self {
        StickyPartition { current: None, rng }
    }

    /// Chooses the partition for one record; see the module docs for the
    /// order. The flag says whether the choice was the sticky one.
    pub(crate) fn choose(
        &mut self,
        partitioner: &dyn Partitioner,
        topic: &str,
        explicit: Option<i32>,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        partitions: Partitions<'_>,
    ) -> Result<(i32, bool), PartitionError> {
        let count = partitions.count;
        if count <= 0 {
            return Err(PartitionError::NoPartitions);
        }
        let chosen = match explicit {
            Some(p) => (p, false),
            None => match partitioner.partition(topic, key, value, count) {
                Some(p) => (p, false),
                None => (self.current(count, partitions.available), true),
            },
        };
        if (0..count).contains(&chosen.0) {
            Ok(chosen)
        } else {
            Err(PartitionError::OutOfRange {
                partition: chosen.0,
                partition_count: count,
            })
        }
    }

    /// The partition keyless records go to now, choosing one if needed.
    pub(crate) fn current(&mut self, partition_count: i32, available: &[i32]) -> i32 {
        match self.current {
            Some(p) if p < partition_count => p,
            _ => {
                let p = pick(partition_count, available, None, &mut self.rng);
                self.current = Some(p);
                p
            }
        }
    }

    /// A batch of `partition` was sealed: if it was the sticky one, move on
    /// to another partition (a different one whenever there is a choice).
    pub(crate) fn batch_sealed(&mut self, partition: i32, partitions: Partitions<'_>) {
        if self.current == Some(partition) && partitions.count > 0 {
            self.current = Some(pick(
                partitions.count,
                partitions.available,
                Some(partition),
                &mut self.rng,
            ));
        }
    }
}

/// A random partition, from `available` when it lists any in range,
/// avoiding `not` when another choice exists.
fn pick(partition_count: i32, available: &[i32], not: Option<i32>, rng: &mut Rng) -> i32 {
    let in_range = |p: &&i32| (0..partition_count).contains(*p) && Some(**p) != not;
    let candidates = available.iter().filter(in_range).count();
    if candidates > 0 {
        let nth = rng.below(candidates as u64) as usize;
        if let Some(&p) = available.iter().filter(in_range).nth(nth) {
            return p;
        }
    }
    // The old partition is the only one with a leader: staying beats
    // stalling records on a leaderless partition.
    if let Some(n) = not {
        if available.contains(&n) && (0..partition_count).contains(&n) {
            return n;
        }
    }
    let count = partition_count.max(1) as u64;
    match not {
        Some(n) if count > 1 && (0..partition_count).contains(&n) => {
            // Uniform over the other count-1 partitions.
            let r = rng.below(count - 1) as i32;
            if r >= n { r + 1 } else { r }
        }
        _ => rng.below(count) as i32,
    }
}

/// A small, fast, non-cryptographic generator (xorshift64*) for sticky
/// choices: they need spread, not secrecy, and must not cost a syscall.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    /// Seeded from the process's random hasher keys (different per run).
    fn from_entropy() -> Self {
        Self::seeded(RandomState::new().hash_one(0x006b_6c61_6d6d_u64))
    }

    /// A fixed seed (tests).
    fn seeded(seed: u64) -> Self {
        // xorshift must never hold 0.
        Rng(seed | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..n` (`n` > 0); the modulo bias is irrelevant here.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sticky(seed: u64) -> StickyPartition {
        StickyPartition::with_rng(Rng::seeded(seed))
    }

    fn all(count: i32) -> Partitions<'static> {
        Partitions {
            count,
            available: &[],
        }
    }

    fn choose(
        explicit: Option<i32>,
        p: &dyn Partitioner,
        s: &mut StickyPartition,
        key: Option<&[u8]>,
        count: i32,
    ) -> Result<i32, PartitionError> {
        s.choose(p, "t", explicit, key, None, all(count))
            .map(|(p, _)| p)
    }

    #[test]
    fn explicit_partition_wins_and_is_checked() {
        let mut s = sticky(1);
        assert_eq!(
            choose(Some(4), &DefaultPartitioner, &mut s, Some(b"k"), 6),
            Ok(4)
        );
        assert_eq!(
            choose(Some(6), &DefaultPartitioner, &mut s, None, 6),
            Err(PartitionError::OutOfRange {
                partition: 6,
                partition_count: 6
            })
        );
        assert_eq!(
            choose(Some(-1), &DefaultPartitioner, &mut s, None, 6),
            Err(PartitionError::OutOfRange {
                partition: -1,
                partition_count: 6
            })
        );
        assert_eq!(
            choose(None, &DefaultPartitioner, &mut s, None, 0),
            Err(PartitionError::NoPartitions)
        );
    }

    #[test]
    fn a_custom_partitioner_out_of_range_fails_the_record() {
        #[derive(Debug)]
        struct Bad;
        impl Partitioner for Bad {
            fn partition(
                &self,
                _: &str,
                _: Option<&[u8]>,
                _: Option<&[u8]>,
                n: i32,
            ) -> Option<i32> {
                Some(n)
            }
        }
        assert_eq!(
            choose(None, &Bad, &mut sticky(1), None, 3),
            Err(PartitionError::OutOfRange {
                partition: 3,
                partition_count: 3
            })
        );
    }

    #[test]
    fn keys_hash_like_java_and_keyless_records_stick() {
        let mut s = sticky(2);
        // murmur2("foobar") % 6 == 0, murmur2("key-42") % 6 == 3 (see murmur2.rs).
        assert_eq!(
            choose(None, &DefaultPartitioner, &mut s, Some(b"foobar"), 6),
            Ok(0)
        );
        assert_eq!(
            choose(None, &DefaultPartitioner, &mut s, Some(b"key-42"), 6),
            Ok(3)
        );
        let first = choose(None, &DefaultPartitioner, &mut s, None, 6).unwrap();
        for _ in 0..100 {
            assert_eq!(
                choose(None, &DefaultPartitioner, &mut s, None, 6),
                Ok(first)
            );
        }
        // Keys still hash while a sticky partition is set.
        assert_eq!(
            choose(None, &DefaultPartitioner, &mut s, Some(b"foobar"), 6),
            Ok(0)
        );
    }

    #[test]
    fn murmur2_partitioner_hashes_null_keys_as_empty() {
        let mut s = sticky(3);
        // murmur2(b"") % 6 == 3.
        for _ in 0..10 {
            assert_eq!(choose(None, &Murmur2Partitioner, &mut s, None, 6), Ok(3));
        }
    }

    #[test]
    fn sticky_partitioner_ignores_keys() {
        let mut s = sticky(4);
        let a = choose(None, &StickyPartitioner, &mut s, Some(b"foobar"), 6).unwrap();
        let b = choose(None, &StickyPartitioner, &mut s, Some(b"key-42"), 6).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn sealing_the_sticky_batch_moves_to_another_partition() {
        let mut s = sticky(99);
        let mut seen = [0u32; 6];
        let mut p = s.current(6, &[]);
        for _ in 0..600 {
            s.batch_sealed(p, all(6));
            let next = s.current(6, &[]);
            assert_ne!(next, p, "switched to the same partition");
            p = next;
            seen[p as usize] += 1;
        }
        // Every partition gets used, none hogs the traffic.
        assert!(seen.iter().all(|&n| n > 50), "{seen:?}");
        // Sealing some other partition's batch keeps the sticky one.
        let other = (p + 1) % 6;
        s.batch_sealed(other, all(6));
        assert_eq!(s.current(6, &[]), p);
    }

    #[test]
    fn sticky_choices_prefer_partitions_with_a_leader() {
        let mut s = sticky(3);
        let available = Partitions {
            count: 6,
            available: &[2, 5],
        };
        let mut p = s.current(6, available.available);
        assert!(available.available.contains(&p));
        for _ in 0..20 {
            s.batch_sealed(p, available);
            let next = s.current(6, available.available);
            assert!(
                available.available.contains(&next) && next != p,
                "{p} -> {next}"
            );
            p = next;
        }
        // Only one partition has a leader: stay on it rather than pick a leaderless one.
        let mut s = sticky(8);
        let only4 = Partitions {
            count: 6,
            available: &[4],
        };
        assert_eq!(s.current(6, only4.available), 4);
        s.batch_sealed(4, only4);
        assert_eq!(s.current(6, only4.available), 4);
    }

    #[test]
    fn single_partition_topics_stay_on_partition_zero() {
        let mut s = sticky(1);
        assert_eq!(s.current(1, &[]), 0);
        s.batch_sealed(0, all(1));
        assert_eq!(s.current(1, &[]), 0);
    }

    #[test]
    fn a_shrunken_partition_count_resets_the_sticky_choice() {
        let mut s = sticky(5);
        s.current = Some(9);
        assert!(s.current(3, &[]) < 3);
    }
}
