//! Test support: the one ListOffsets handler the consumer's mock brokers
//! share. "Earliest" (-2) is always offset 0 (mock logs are never
//! truncated); anything else is the log end that the caller's `end` gives
//! for the topic, partition and isolation level (read_committed's "latest"
//! is the last stable offset).

use klamm_protocol::ApiKey;
use klamm_protocol::generated::list_offsets::response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use klamm_protocol::generated::{AnyRequest, AnyResponse, ListOffsetsResponse};

use crate::mock::MockCluster;

/// ListOffsets' special timestamp for the log start.
const EARLIEST: i64 = -2;

/// Installs a ListOffsets handler on `cluster` answering from `end(topic,
/// partition, isolation_level)`.
pub(super) fn install(
    cluster: &MockCluster,
    end: impl Fn(&str, i32, i8) -> i64 + Send + Sync + 'static,
) {
    cluster.handle(ApiKey::ListOffsets, move |_ctx, req| {
        let AnyRequest::ListOffsets(req) = req else {
            return None;
        };
        let topics = req
            .topics
            .iter()
            .map(|t| {
                let parts = t
                    .partitions
                    .iter()
                    .map(|p| {
                        let offset = if p.timestamp == EARLIEST {
                            0
                        } else {
                            end(t.name.as_str(), p.partition_index, req.isolation_level)
                        };
                        ListOffsetsPartitionResponse::default()
                            .with_partition_index(p.partition_index)
                            .with_offset(offset)
                            .with_timestamp(-1)
                    })
                    .collect();
                ListOffsetsTopicResponse::default()
                    .with_name(t.name.clone())
                    .with_partitions(parts)
            })
            .collect();
        Some(AnyResponse::ListOffsets(Box::new(
            ListOffsetsResponse::default().with_topics(topics),
        )))
    });
}
