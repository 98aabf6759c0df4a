//! Reading an OffsetFetch answer whatever its version's shape: v8 and later
//! answer per group, older versions at the top level. The group membership,
//! the consumer and the admin all read committed offsets through here, so the
//! version split lives in one place.

use klamm_protocol::generated::OffsetFetchResponse;

/// One partition of an OffsetFetch answer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FetchedOffset<'a> {
    pub(crate) topic: &'a str,
    pub(crate) partition: i32,
    /// `-1` when the group has committed nothing for the partition.
    pub(crate) offset: i64,
    /// `-1` when unknown.
    pub(crate) leader_epoch: i32,
    pub(crate) metadata: Option<&'a str>,
    pub(crate) error_code: i16,
}

/// The answer for `group`: its group-level error code and its partitions.
///
/// `per_group` says the answer has the v8+ shape; then `None` means the
/// broker left `group` out, which callers must treat as an error rather
/// than as "nothing committed" (that would reset positions).
pub(crate) fn offset_fetch_rows<'a>(
    response: &'a OffsetFetchResponse,
    per_group: bool,
    group: &str,
) -> Option<(i16, impl Iterator<Item = FetchedOffset<'a>> + use<'a>)> {
    // Exactly one of the two shapes is populated; chaining both avoids
    // boxing either iterator.
    let (code, per_group_topics) = if per_group {
        let g = response
            .groups
            .iter()
            .find(|g| g.group_id.as_str() == group)?;
        (g.error_code, g.topics.as_slice())
    } else {
        (response.error_code, &[][..])
    };
    let top_level = response
        .topics
        .iter()
        .filter(move |_| !per_group)
        .flat_map(|t| {
            t.partitions.iter().map(move |p| FetchedOffset {
                topic: t.name.as_str(),
                partition: p.partition_index,
                offset: p.committed_offset,
                leader_epoch: p.committed_leader_epoch,
                metadata: p.metadata.as_deref(),
                error_code: p.error_code,
            })
        });
    let grouped = per_group_topics.iter().flat_map(|t| {
        t.partitions.iter().map(move |p| FetchedOffset {
            topic: t.name.as_str(),
            partition: p.partition_index,
            offset: p.committed_offset,
            leader_epoch: p.committed_leader_epoch,
            metadata: p.metadata.as_deref(),
            error_code: p.error_code,
        })
    });
    Some((code, top_level.chain(grouped)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use klamm_protocol::StrBytes;
    use klamm_protocol::generated::offset_fetch::response::{
        OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
        OffsetFetchResponseTopic, OffsetFetchResponseTopics,
    };

    #[test]
    fn reads_the_top_level_shape() {
        let r = OffsetFetchResponse::default()
            .with_error_code(0)
            .with_topics(vec![
                OffsetFetchResponseTopic::default()
                    .with_name(StrBytes::from("t"))
                    .with_partitions(vec![
                        OffsetFetchResponsePartition::default()
                            .with_partition_index(2)
                            .with_committed_offset(7)
                            .with_committed_leader_epoch(3),
                    ]),
            ]);
        let (code, rows) = offset_fetch_rows(&r, false, "g").expect("top level");
        let rows: Vec<_> = rows
            .map(|f| (f.topic, f.partition, f.offset, f.leader_epoch))
            .collect();
        assert_eq!(code, 0);
        assert_eq!(rows, vec![("t", 2, 7, 3)]);
    }

    #[test]
    fn reads_the_named_group_and_reports_a_missing_one() {
        let group = |id: &str, offset: i64, code: i16| {
            OffsetFetchResponseGroup::default()
                .with_group_id(StrBytes::from(id.to_owned()))
                .with_error_code(code)
                .with_topics(vec![
                    OffsetFetchResponseTopics::default()
                        .with_name(StrBytes::from("t"))
                        .with_partitions(vec![
                            OffsetFetchResponsePartitions::default()
                                .with_partition_index(0)
                                .with_committed_offset(offset),
                        ]),
                ])
        };
        let r = OffsetFetchResponse::default()
            .with_groups(vec![group("other", 1, 0), group("g", 9, 15)]);
        let (code, rows) = offset_fetch_rows(&r, true, "g").expect("group present");
        assert_eq!(code, 15);
        assert_eq!(rows.map(|f| f.offset).collect::<Vec<_>>(), vec![9]);
        assert!(offset_fetch_rows(&r, true, "absent").is_none());
    }
}
