//! Offsets and records: list offsets (earliest, latest, by timestamp, max
//! timestamp) and delete records up to an offset, each at the partition's
//! leader.

use klamm_protocol::generated::delete_records::request::{
    DeleteRecordsPartition, DeleteRecordsTopic,
};
use klamm_protocol::generated::list_offsets::request::{ListOffsetsPartition, ListOffsetsTopic};
use klamm_protocol::generated::{
    DeleteRecordsRequest, DeleteRecordsResponse, ListOffsetsRequest, ListOffsetsResponse,
};
use klamm_protocol::{Message, VersionRange};

use super::call::{check, leader, text};
use super::{Admin, ItemResults};
use crate::error::{BrokerRange, Error, ErrorContext};

/// A topic and partition.
pub type TopicPartition = (String, i32);

/// Which offset [`Admin::list_offsets`] asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetSpec {
    /// The log start offset.
    Earliest,
    /// The log end offset (the next offset to be written).
    Latest,
    /// The offset and timestamp of the record with the largest timestamp
    /// (ListOffsets v7+).
    MaxTimestamp,
    /// The first offset whose timestamp is at or after this many
    /// milliseconds since the epoch.
    Timestamp(i64),
}

impl OffsetSpec {
    /// The `timestamp` field Kafka reads for it.
    fn wire(self) -> i64 {
        match self {
            Self::Earliest => -2,
            Self::Latest => -1,
            Self::MaxTimestamp => -3,
            Self::Timestamp(t) => t,
        }
    }
}

/// An offset [`Admin::list_offsets`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListedOffset {
    /// The offset (`-1` when no record matches a timestamp).
    pub offset: i64,
    /// The timestamp of the record at that offset (`-1` when not known).
    pub timestamp: i64,
    /// The leader epoch of that record, when the broker says (v4+).
    pub leader_epoch: Option<i32>,
}

/// An error for a feature that needs a newer version of an API than the
/// broker speaks.
pub(crate) fn needs_version<M: Message>(feature: &'static str, min: i16, version: i16) -> Error {
    Error::UnsupportedApi {
        broker: "the broker".into(),
        api: feature,
        ours: VersionRange::new(min, M::VERSIONS.max),
        theirs: BrokerRange(Some(VersionRange::new(0, version))),
    }
}

fn context((topic, partition): &TopicPartition) -> ErrorContext {
    ErrorContext::default()
        .with_topic(topic)
        .with_partition(*partition)
}

/// Groups partitions by topic, keeping the order of first appearance.
fn by_topic<'a, V: Copy + 'a>(
    items: impl Iterator<Item = (&'a TopicPartition, V)>,
) -> Vec<(&'a str, Vec<(i32, V)>)> {
    let mut topics: Vec<(&str, Vec<(i32, V)>)> = Vec::new();
    for ((topic, partition), value) in items {
        match topics.iter_mut().find(|(t, _)| t == topic) {
            Some((_, ps)) => ps.push((*partition, value)),
            None => topics.push((topic, vec![(*partition, value)])),
        }
    }
    topics
}

pub(super) fn build_list_offsets(
    specs: &[(TopicPartition, OffsetSpec)],
    keys: &[TopicPartition],
    version: i16,
) -> Result<ListOffsetsRequest, Error> {
    let wanted = specs.iter().filter(|(k, _)| keys.contains(k));
    if version < 7 && wanted.clone().any(|(_, s)| *s == OffsetSpec::MaxTimestamp) {
        return Err(needs_version::<ListOffsetsRequest>(
            "ListOffsets max timestamp",
            7,
            version,
        ));
    }
    let topics = by_topic(wanted.map(|(k, s)| (k, *s)))
        .into_iter()
        .map(|(topic, partitions)| {
            ListOffsetsTopic::default()
                .with_name(text(topic))
                .with_partitions(
                    partitions
                        .into_iter()
                        .map(|(p, spec)| {
                            ListOffsetsPartition::default()
                                .with_partition_index(p)
                                .with_timestamp(spec.wire())
                                .with_max_num_offsets(1)
                        })
                        .collect(),
                )
        })
        .collect();
    Ok(ListOffsetsRequest::default()
        .with_replica_id(-1)
        .with_topics(topics))
}

pub(super) fn parse_list_offsets(
    response: ListOffsetsResponse,
    version: i16,
) -> Vec<(TopicPartition, Result<ListedOffset, Error>)> {
    let mut out = Vec::new();
    for topic in response.topics {
        for p in topic.partitions {
            let key = (topic.name.as_str().to_owned(), p.partition_index);
            let outcome = check("ListOffsets", p.error_code, None, context(&key)).map(|()| {
                if version == 0 {
                    ListedOffset {
                        offset: p.old_style_offsets.first().copied().unwrap_or(-1),
                        timestamp: -1,
                        leader_epoch: None,
                    }
                } else {
                    ListedOffset {
                        offset: p.offset,
                        timestamp: p.timestamp,
                        leader_epoch: (p.leader_epoch >= 0).then_some(p.leader_epoch),
                    }
                }
            });
            out.push((key, outcome));
        }
    }
    out
}

pub(super) fn build_delete_records(
    offsets: &[(TopicPartition, i64)],
    keys: &[TopicPartition],
    timeout_ms: i32,
) -> DeleteRecordsRequest {
    let wanted = offsets.iter().filter(|(k, _)| keys.contains(k));
    DeleteRecordsRequest::default()
        .with_topics(
            by_topic(wanted.map(|(k, o)| (k, *o)))
                .into_iter()
                .map(|(topic, partitions)| {
                    DeleteRecordsTopic::default()
                        .with_name(text(topic))
                        .with_partitions(
                            partitions
                                .into_iter()
                                .map(|(p, offset)| {
                                    DeleteRecordsPartition::default()
                                        .with_partition_index(p)
                                        .with_offset(offset)
                                })
                                .collect(),
                        )
                })
                .collect(),
        )
        .with_timeout_ms(timeout_ms)
}

pub(super) fn parse_delete_records(
    response: DeleteRecordsResponse,
) -> Vec<(TopicPartition, Result<i64, Error>)> {
    let mut out = Vec::new();
    for topic in response.topics {
        for p in topic.partitions {
            let key = (topic.name.as_str().to_owned(), p.partition_index);
            let outcome =
                check("DeleteRecords", p.error_code, None, context(&key)).map(|()| p.low_watermark);
            out.push((key, outcome));
        }
    }
    out
}

impl Admin {
    /// Makes sure metadata knows these topics' leaders.
    pub(crate) async fn learn_topics<'a>(&self, topics: impl Iterator<Item = &'a str>) {
        let mut names: Vec<&str> = topics.collect();
        names.sort_unstable();
        names.dedup();
        // A failure shows up as a routing error for the partitions concerned.
        let _ = self.client.add_topics(names).await;
    }

    /// Looks up offsets (ListOffsets, at each partition's leader).
    pub async fn list_offsets(
        &self,
        specs: &[(TopicPartition, OffsetSpec)],
    ) -> ItemResults<TopicPartition, ListedOffset> {
        self.learn_topics(specs.iter().map(|((t, _), _)| t.as_str()))
            .await;
        self.call(
            specs.iter().map(|(k, _)| k.clone()).collect(),
            |client, (topic, partition)| leader(client, topic, *partition),
            |keys, version| build_list_offsets(specs, keys, version),
            |_, response: ListOffsetsResponse, version| parse_list_offsets(response, version),
        )
        .await
    }

    /// Deletes every record before the given offset in each partition
    /// (DeleteRecords, at each partition's leader); `-1` means up to the
    /// high watermark. Answers each partition's new low watermark.
    pub async fn delete_records(
        &self,
        offsets: &[(TopicPartition, i64)],
    ) -> ItemResults<TopicPartition, i64> {
        self.learn_topics(offsets.iter().map(|((t, _), _)| t.as_str()))
            .await;
        let timeout_ms = self.broker_timeout_ms();
        self.call(
            offsets.iter().map(|(k, _)| k.clone()).collect(),
            |client, (topic, partition)| leader(client, topic, *partition),
            |keys, _| Ok(build_delete_records(offsets, keys, timeout_ms)),
            |_, response: DeleteRecordsResponse, _| parse_delete_records(response),
        )
        .await
    }
}
