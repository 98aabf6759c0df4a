//! The bytes inside JoinGroup and SyncGroup for protocol type `consumer`:
//! a member's subscription and the assignment the leader sends it.
//!
//! Each is an `i16` version followed by the schema at that version. We write
//! the newest version we know (3: owned partitions, generation, rack). A peer
//! may write a newer one: its prefix is the fields we know, so we read it as
//! our newest and ignore what follows, as Kafka's own clients do.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use klamm_protocol::generated::consumer_protocol_assignment as assignment_schema;
use klamm_protocol::generated::consumer_protocol_subscription as subscription_schema;
use klamm_protocol::generated::{ConsumerProtocolAssignment, ConsumerProtocolSubscription};
use klamm_protocol::{Decodable, DecodeError, Encodable, EncodeError, StrBytes};

use super::{MemberSubscription, TopicPartition};

/// The subscription and assignment version we write.
pub const CONSUMER_PROTOCOL_VERSION: i16 = 3;

/// The JoinGroup protocol type of consumer groups.
pub const CONSUMER_PROTOCOL_TYPE: &str = "consumer";

/// Why subscription or assignment bytes could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConsumerProtocolError {
    /// Fewer than two bytes: no version prefix.
    #[error("{what}: missing version prefix")]
    MissingVersion {
        /// `subscription` or `assignment`.
        what: &'static str,
    },
    /// A negative version prefix.
    #[error("{what}: invalid version {version}")]
    InvalidVersion {
        /// `subscription` or `assignment`.
        what: &'static str,
        /// The version read.
        version: i16,
    },
    /// A partition index below zero.
    #[error("{what}: negative partition {partition} of topic {topic}")]
    NegativePartition {
        /// `subscription` or `assignment`.
        what: &'static str,
        /// The topic.
        topic: String,
        /// The index read.
        partition: i32,
    },
    /// The body did not decode.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The body did not encode.
    #[error(transparent)]
    Encode(#[from] EncodeError),
}

/// This member's subscription, written into JoinGroup's protocol metadata.
pub fn encode_subscription(
    topics: &[Arc<str>],
    owned: &[TopicPartition],
    generation_id: i32,
    rack_id: Option<&str>,
    user_data: Option<Bytes>,
) -> Result<Bytes, ConsumerProtocolError> {
    let owned = group_by_topic(owned)
        .into_iter()
        .map(|(topic, partitions)| {
            subscription_schema::TopicPartition::default()
                .with_topic(StrBytes::from(&*topic))
                .with_partitions(partitions)
        })
        .collect();
    let body = ConsumerProtocolSubscription::default()
        .with_topics(topics.iter().map(|t| StrBytes::from(&**t)).collect())
        .with_user_data(user_data)
        .with_owned_partitions(owned)
        .with_generation_id(generation_id)
        .with_rack_id(rack_id.map(StrBytes::from));
    let mut buf = BytesMut::with_capacity(64);
    buf.put_i16(CONSUMER_PROTOCOL_VERSION);
    body.encode(&mut buf, CONSUMER_PROTOCOL_VERSION)?;
    Ok(buf.freeze())
}

/// Reads a member's subscription from JoinGroup's member metadata (leader side).
pub fn decode_subscription(
    member_id: &str,
    group_instance_id: Option<&str>,
    metadata: Bytes,
) -> Result<MemberSubscription, ConsumerProtocolError> {
    const WHAT: &str = "subscription";
    let (version, mut body) = split_version(metadata, WHAT)?;
    let sub = ConsumerProtocolSubscription::decode(&mut body, version)?;
    let mut owned = Vec::new();
    for tp in &sub.owned_partitions {
        owned.extend(partitions_of(&tp.topic, &tp.partitions, WHAT)?);
    }
    owned.sort();
    Ok(
        MemberSubscription::new(member_id, sub.topics.iter().map(|t| t.as_str()))
            .with_owned(owned, sub.generation_id)
            .with_group_instance_id(group_instance_id.map(str::to_owned))
            .with_rack_id(sub.rack_id.map(|r| r.as_str().to_owned()))
            .with_user_data(sub.user_data),
    )
}

/// One member's assignment, written into SyncGroup by the leader.
pub fn encode_assignment(
    partitions: &[TopicPartition],
    user_data: Option<Bytes>,
) -> Result<Bytes, ConsumerProtocolError> {
    let assigned = group_by_topic(partitions)
        .into_iter()
        .map(|(topic, partitions)| {
            assignment_schema::TopicPartition::default()
                .with_topic(StrBytes::from(&*topic))
                .with_partitions(partitions)
        })
        .collect();
    let body = ConsumerProtocolAssignment::default()
        .with_assigned_partitions(assigned)
        .with_user_data(user_data);
    let mut buf = BytesMut::with_capacity(32);
    buf.put_i16(CONSUMER_PROTOCOL_VERSION);
    body.encode(&mut buf, CONSUMER_PROTOCOL_VERSION)?;
    Ok(buf.freeze())
}

/// Reads this member's assignment from SyncGroup's response. Empty bytes are
/// an empty assignment (the coordinator sends them to members the leader
/// gave nothing, and on errors).
pub fn decode_assignment(
    assignment: Bytes,
) -> Result<(Vec<TopicPartition>, Option<Bytes>), ConsumerProtocolError> {
    const WHAT: &str = "assignment";
    if assignment.is_empty() {
        return Ok((Vec::new(), None));
    }
    let (version, mut body) = split_version(assignment, WHAT)?;
    let a = ConsumerProtocolAssignment::decode(&mut body, version)?;
    let mut out = Vec::new();
    for tp in &a.assigned_partitions {
        out.extend(partitions_of(&tp.topic, &tp.partitions, WHAT)?);
    }
    out.sort();
    out.dedup();
    Ok((out, a.user_data))
}

fn split_version(
    mut bytes: Bytes,
    what: &'static str,
) -> Result<(i16, Bytes), ConsumerProtocolError> {
    if bytes.remaining() < 2 {
        return Err(ConsumerProtocolError::MissingVersion { what });
    }
    let version = bytes.get_i16();
    if version < 0 {
        return Err(ConsumerProtocolError::InvalidVersion { what, version });
    }
    // A newer version starts with the fields of ours; trailing bytes are the
    // fields we do not know, deliberately not checked.
    Ok((version.min(CONSUMER_PROTOCOL_VERSION), bytes))
}

fn partitions_of(
    topic: &StrBytes,
    partitions: &[i32],
    what: &'static str,
) -> Result<Vec<TopicPartition>, ConsumerProtocolError> {
    let name: Arc<str> = Arc::from(topic.as_str());
    partitions
        .iter()
        .map(|&p| {
            if p < 0 {
                Err(ConsumerProtocolError::NegativePartition {
                    what,
                    topic: name.to_string(),
                    partition: p,
                })
            } else {
                Ok(TopicPartition::new(name.clone(), p))
            }
        })
        .collect()
}

fn group_by_topic(partitions: &[TopicPartition]) -> BTreeMap<Arc<str>, Vec<i32>> {
    let mut by_topic: BTreeMap<Arc<str>, Vec<i32>> = BTreeMap::new();
    for tp in partitions {
        by_topic
            .entry(tp.topic.clone())
            .or_default()
            .push(tp.partition);
    }
    for list in by_topic.values_mut() {
        list.sort_unstable();
        list.dedup();
    }
    by_topic
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn subscription_round_trip_keeps_owned_generation_and_rack() {
        let topics: Vec<Arc<str>> = vec!["b".into(), "a".into()];
        let owned = vec![TopicPartition::new("a", 2), TopicPartition::new("a", 0)];
        let bytes = encode_subscription(
            &topics,
            &owned,
            9,
            Some("r1"),
            Some(Bytes::from_static(b"u")),
        )
        .unwrap();
        assert_eq!(&bytes[..2], &[0, 3]);
        let sub = decode_subscription("m-1", Some("i-1"), bytes).unwrap();
        assert_eq!(sub.member_id, "m-1");
        assert_eq!(sub.group_instance_id.as_deref(), Some("i-1"));
        assert_eq!(sub.topics, topics);
        assert_eq!(
            sub.owned_partitions,
            vec![TopicPartition::new("a", 0), TopicPartition::new("a", 2)]
        );
        assert_eq!(sub.generation_id, 9);
        assert_eq!(sub.rack_id.as_deref(), Some("r1"));
        assert_eq!(sub.user_data.as_deref(), Some(&b"u"[..]));
    }

    #[test]
    fn reads_version_zero_written_by_an_old_client() {
        // v0: topics ["t"], user data null.
        let bytes = Bytes::from_static(&[0, 0, 0, 0, 0, 1, 0, 1, b't', 0xff, 0xff, 0xff, 0xff]);
        let sub = decode_subscription("m", None, bytes).unwrap();
        assert_eq!(sub.topics, vec![Arc::<str>::from("t")]);
        assert!(sub.owned_partitions.is_empty());
        assert_eq!(sub.generation_id, -1);
    }

    #[test]
    fn reads_a_newer_version_as_ours_ignoring_the_rest() {
        let mut buf =
            BytesMut::from(&encode_assignment(&[TopicPartition::new("t", 1)], None).unwrap()[..]);
        buf[1] = 9; // pretend version 9
        buf.extend_from_slice(b"future fields");
        let (parts, _) = decode_assignment(buf.freeze()).unwrap();
        assert_eq!(parts, vec![TopicPartition::new("t", 1)]);
    }

    #[test]
    fn rejects_short_negative_version_and_negative_partition() {
        assert!(matches!(
            decode_assignment(Bytes::from_static(&[0])),
            Err(ConsumerProtocolError::MissingVersion { .. })
        ));
        assert!(matches!(
            decode_subscription("m", None, Bytes::from_static(&[0xff, 0xff])),
            Err(ConsumerProtocolError::InvalidVersion { version: -1, .. })
        ));
        // v0 assignment: one topic "t" with partition -1.
        let bad = Bytes::from_static(&[
            0, 0, 0, 0, 0, 1, 0, 1, b't', 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            0xff,
        ]);
        assert!(matches!(
            decode_assignment(bad),
            Err(ConsumerProtocolError::NegativePartition { partition: -1, .. })
        ));
        // A count that claims more elements than bytes remain.
        let huge = Bytes::from_static(&[0, 0, 0x7f, 0xff, 0xff, 0xff]);
        assert!(matches!(
            decode_assignment(huge),
            Err(ConsumerProtocolError::Decode(_))
        ));
    }

    #[test]
    fn empty_assignment_bytes_mean_nothing_assigned() {
        assert_eq!(decode_assignment(Bytes::new()).unwrap(), (Vec::new(), None));
    }

    proptest! {
        #[test]
        fn assignment_round_trips(parts in proptest::collection::btree_set(("[a-c]{1,3}", 0i32..50), 0..40)) {
            let parts: Vec<TopicPartition> = parts.into_iter().map(|(t, p)| TopicPartition::new(t, p)).collect();
            let (back, user) = decode_assignment(encode_assignment(&parts, None).unwrap()).unwrap();
            prop_assert_eq!(back, parts);
            prop_assert_eq!(user, None);
        }

        #[test]
        fn decoders_never_panic_on_garbage(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode_assignment(Bytes::from(bytes.clone()));
            let _ = decode_subscription("m", None, Bytes::from(bytes));
        }
    }
}
