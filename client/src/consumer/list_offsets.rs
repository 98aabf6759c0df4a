//! ListOffsets: turning "beginning", "end" and "timestamp" into offsets,
//! one request per partition leader.

use std::collections::BTreeMap;

use klamm_protocol::generated::ListOffsetsRequest;
use klamm_protocol::generated::list_offsets::request::{ListOffsetsPartition, ListOffsetsTopic};
use klamm_protocol::{ErrorCode, StrBytes};

use crate::client::Client;
use crate::conn::ConnKind;
use crate::error::{Error, ErrorContext};
use crate::group::TopicPartition;

use super::config::IsolationLevel;

/// ListOffsets' special timestamp for the log end offset.
pub(crate) const LATEST: i64 = -1;
/// ListOffsets' special timestamp for the log start offset.
pub(crate) const EARLIEST: i64 = -2;

/// What one partition asks for: `timestamp` is [`LATEST`], [`EARLIEST`] or
/// a time in ms.
#[derive(Debug, Clone)]
pub(crate) struct OffsetQuery {
    pub(crate) tp: TopicPartition,
    pub(crate) timestamp: i64,
    pub(crate) leader_epoch: i32,
}

/// The answer for one partition: the offset, or `None` when a timestamp
/// query found no record at or after the time.
pub(crate) type OffsetAnswer = Result<Option<i64>, Error>;

/// Sends one ListOffsets to `leader` for `queries` and returns an answer
/// per partition. A request-level failure is returned as the outer error.
pub(crate) async fn list_offsets(
    client: &Client,
    leader: i32,
    isolation: IsolationLevel,
    queries: &[OffsetQuery],
) -> Result<BTreeMap<TopicPartition, OffsetAnswer>, Error> {
    let conn = client.connection(leader, ConnKind::Other).await?;
    let version = conn.version_for::<ListOffsetsRequest>()?;
    let mut topics: Vec<ListOffsetsTopic> = Vec::new();
    for q in queries {
        let mut part = ListOffsetsPartition::default()
            .with_partition_index(q.tp.partition)
            .with_timestamp(q.timestamp);
        if version >= 4 {
            part = part.with_current_leader_epoch(q.leader_epoch);
        }
        match topics.iter_mut().find(|t| t.name.as_str() == &*q.tp.topic) {
            Some(t) => t.partitions.push(part),
            None => topics.push(
                ListOffsetsTopic::default()
                    .with_name(StrBytes::from(&*q.tp.topic))
                    .with_partitions(vec![part]),
            ),
        }
    }
    let mut request = ListOffsetsRequest::default().with_topics(topics);
    if version >= 2 {
        request = request.with_isolation_level(isolation.as_i8());
    }
    let response = conn
        .send_at(&request, version, client.config().request_timeout())
        .await
        .inspect_err(|e| client.report(e))?;
    let mut out = BTreeMap::new();
    for t in &response.topics {
        for p in &t.partitions {
            let Some(q) = queries
                .iter()
                .find(|q| &*q.tp.topic == t.name.as_str() && q.tp.partition == p.partition_index)
            else {
                continue;
            };
            let code = ErrorCode::from_code(p.error_code);
            let answer = if code != ErrorCode::None {
                let e = Error::Broker {
                    api: "ListOffsets",
                    code,
                    message: None,
                    context: ErrorContext::broker(leader)
                        .with_topic(&*q.tp.topic)
                        .with_partition(q.tp.partition),
                };
                client.report(&e);
                Err(e)
            } else {
                let offset = if version == 0 {
                    p.old_style_offsets.first().copied().unwrap_or(-1)
                } else {
                    p.offset
                };
                Ok((offset >= 0).then_some(offset))
            };
            out.insert(q.tp.clone(), answer);
        }
    }
    for q in queries {
        out.entry(q.tp.clone()).or_insert_with(|| {
            Err(Error::MetadataMissing {
                what: format!("{} in the ListOffsets response", q.tp),
            })
        });
    }
    Ok(out)
}
