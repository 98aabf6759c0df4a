//! The admin client on the mock cluster: the requests it builds, where it
//! sends them, how it reads the answers, per-item errors, retries and the
//! deadline. Covers what the real broker (tansu) lacks or breaks.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use klamm_protocol::generated::any::{AnyRequest, AnyResponse};
use klamm_protocol::{ApiKey, ErrorCode, StrBytes};

use super::*;
use crate::client::Client;
use crate::config::ClientConfig;
use crate::error::Error;
use crate::mock::{Fault, FaultRule, MockCluster};

pub(super) fn s(v: &str) -> StrBytes {
    StrBytes::from(v)
}

pub(super) async fn admin(cluster: &MockCluster) -> Admin {
    let config = ClientConfig::builder()
        .bootstrap(cluster.bootstrap().split(','))
        .request_timeout(Duration::from_secs(2))
        .reconnect_backoff(Duration::from_millis(5))
        .reconnect_backoff_max(Duration::from_millis(20))
        .build()
        .unwrap();
    Admin::new(Client::connect(config).await.unwrap()).with_timeout(Duration::from_secs(5))
}

/// Requests a handler saw: (broker, version, request).
pub(super) type Seen = Arc<Mutex<Vec<(i32, i16, AnyRequest)>>>;

/// Registers `answer` for `api`, recording every request.
pub(super) fn record(
    cluster: &MockCluster,
    api: ApiKey,
    answer: impl Fn(i32, i16, &AnyRequest) -> Option<AnyResponse> + Send + Sync + 'static,
) -> Seen {
    let seen: Seen = Arc::default();
    let log = seen.clone();
    cluster.handle(api, move |ctx, request| {
        log.lock()
            .unwrap()
            .push((ctx.broker, ctx.version, request.clone()));
        answer(ctx.broker, ctx.version, request)
    });
    seen
}

#[tokio::test]
async fn create_topics_goes_to_the_controller_with_per_topic_errors() {
    let cluster = MockCluster::start(3).await.unwrap();
    cluster.set_controller(2);
    cluster.create_topic("exists", 1);
    let admin = admin(&cluster).await;
    let results = admin
        .create_topics(
            &[
                NewTopic::new("exists", 1, 1),
                NewTopic::new("fresh", 3, 1),
                NewTopic::new("bad", 0, 1),
            ],
            false,
        )
        .await;
    assert_eq!(results.len(), 3);
    assert_eq!(
        results.get("exists").unwrap().as_ref().unwrap_err().code(),
        Some(ErrorCode::TopicAlreadyExists)
    );
    let bad = results.get("bad").unwrap().as_ref().unwrap_err();
    assert_eq!(bad.code(), Some(ErrorCode::InvalidPartitions));
    assert!(bad.to_string().contains("topic bad"), "{bad}");
    assert_eq!(
        results
            .get("fresh")
            .unwrap()
            .as_ref()
            .unwrap()
            .num_partitions,
        3
    );
    assert_eq!(cluster.broker_request_count(2, ApiKey::CreateTopics), 1);
    // Only "fresh" exists now; validate_only creates nothing.
    admin
        .create_topics(&[NewTopic::new("dry", 2, 1)], true)
        .await
        .into_result()
        .unwrap();
    let described = admin.describe_topics(&["fresh", "dry"]).await;
    assert_eq!(
        described
            .get("fresh")
            .unwrap()
            .as_ref()
            .unwrap()
            .partitions
            .len(),
        3
    );
    assert_eq!(
        described.get("dry").unwrap().as_ref().unwrap_err().code(),
        Some(ErrorCode::UnknownTopicOrPartition)
    );
}

#[tokio::test]
async fn retriable_errors_are_retried_and_the_controller_rediscovered() {
    let cluster = MockCluster::start(2).await.unwrap();
    let admin = admin(&cluster).await;
    cluster.set_controller(2);
    // The client still thinks broker 1 leads: it answers NOT_CONTROLLER,
    // the admin refreshes metadata and resends to broker 2.
    let results = admin
        .create_topics(&[NewTopic::new("t", 1, 1)], false)
        .await;
    results.into_result().unwrap();
    assert_eq!(cluster.broker_request_count(1, ApiKey::CreateTopics), 1);
    assert_eq!(cluster.broker_request_count(2, ApiKey::CreateTopics), 1);
    // An injected retriable error, twice, then success.
    cluster.inject(
        FaultRule::new(
            ApiKey::CreateTopics,
            Fault::Error(ErrorCode::RequestTimedOut),
        )
        .times(2),
    );
    admin
        .create_topics(&[NewTopic::new("u", 1, 1)], false)
        .await
        .into_result()
        .unwrap();
    assert_eq!(cluster.request_count(ApiKey::CreateTopics), 5);
}

#[tokio::test]
async fn a_persistent_retriable_error_ends_at_the_deadline() {
    let cluster = MockCluster::start(1).await.unwrap();
    let admin = admin(&cluster)
        .await
        .with_timeout(Duration::from_millis(600));
    cluster.inject(FaultRule::new(
        ApiKey::CreateTopics,
        Fault::Error(ErrorCode::RequestTimedOut),
    ));
    let started = std::time::Instant::now();
    let err = admin
        .create_topics(&[NewTopic::new("t", 1, 1)], false)
        .await
        .into_result()
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::RequestTimedOut));
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(cluster.request_count(ApiKey::CreateTopics) >= 2);
}

#[tokio::test]
async fn an_api_the_broker_lacks_is_named() {
    let cluster = MockCluster::start(1).await.unwrap();
    cluster.set_api_versions(ApiKey::CreatePartitions, None);
    let admin = admin(&cluster).await;
    let err = admin
        .create_partitions(&[NewPartitions::increase_to("t", 4)], false)
        .await
        .into_result()
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::UnsupportedApi {
                api: "CreatePartitions",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("CreatePartitions"), "{err}");
}

#[tokio::test]
async fn create_partitions_builds_counts_and_assignments() {
    use klamm_protocol::generated::CreatePartitionsResponse;
    use klamm_protocol::generated::create_partitions::response::CreatePartitionsTopicResult;
    let cluster = MockCluster::start(2).await.unwrap();
    let seen = record(&cluster, ApiKey::CreatePartitions, |_, _, request| {
        let AnyRequest::CreatePartitions(r) = request else {
            return None;
        };
        let results = r
            .topics
            .iter()
            .map(|t| {
                let failed = t.name.as_str() == "small";
                CreatePartitionsTopicResult::default()
                    .with_name(t.name.clone())
                    .with_error_code(if failed {
                        ErrorCode::InvalidPartitions.code()
                    } else {
                        0
                    })
                    .with_error_message(failed.then(|| s("Topic currently has 3 partitions")))
            })
            .collect();
        Some(AnyResponse::CreatePartitions(Box::new(
            CreatePartitionsResponse::default().with_results(results),
        )))
    });
    let admin = admin(&cluster).await;
    let results = admin
        .create_partitions(
            &[
                NewPartitions::increase_to("grow", 4).with_assignment(vec![vec![1], vec![2]]),
                NewPartitions::increase_to("small", 2),
            ],
            true,
        )
        .await;
    assert!(results.get("grow").unwrap().is_ok());
    let err = results.get("small").unwrap().as_ref().unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::InvalidPartitions));
    assert!(
        err.to_string().contains("currently has 3 partitions"),
        "{err}"
    );
    let seen = seen.lock().unwrap();
    let (broker, _, AnyRequest::CreatePartitions(request)) = &seen[0] else {
        panic!()
    };
    assert_eq!(*broker, 1, "the controller");
    assert!(request.validate_only);
    let grow = &request.topics[0];
    assert_eq!(grow.count, 4);
    let assignment: Vec<Vec<i32>> = grow
        .assignments
        .as_ref()
        .unwrap()
        .iter()
        .map(|a| a.broker_ids.clone())
        .collect();
    assert_eq!(assignment, vec![vec![1], vec![2]]);
    assert!(request.topics[1].assignments.is_none());
}

#[tokio::test]
async fn delete_topics_by_name_and_id() {
    use klamm_protocol::Uuid;
    use klamm_protocol::generated::DeleteTopicsResponse;
    use klamm_protocol::generated::delete_topics::response::DeletableTopicResult;
    let cluster = MockCluster::start(1).await.unwrap();
    let id = Uuid::from_bytes([7; 16]);
    let seen = record(&cluster, ApiKey::DeleteTopics, move |_, _, request| {
        let AnyRequest::DeleteTopics(r) = request else {
            return None;
        };
        let results = r
            .topics
            .iter()
            .map(|t| match &t.name {
                Some(name) => DeletableTopicResult::default()
                    .with_name(Some(name.clone()))
                    .with_error_code(ErrorCode::UnknownTopicOrPartition.code()),
                None => DeletableTopicResult::default()
                    .with_name(None)
                    .with_topic_id(t.topic_id),
            })
            .collect();
        Some(AnyResponse::DeleteTopics(Box::new(
            DeleteTopicsResponse::default().with_responses(results),
        )))
    });
    let admin = admin(&cluster).await;
    let results = admin
        .delete_topics(&[TopicRef::from("gone"), TopicRef::Id(id)])
        .await;
    assert!(results.get(&TopicRef::Id(id)).unwrap().is_ok());
    let err = results.get("gone").unwrap().as_ref().unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::UnknownTopicOrPartition));
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1, "unknown topics are not retried");
    let (_, version, AnyRequest::DeleteTopics(request)) = &seen[0] else {
        panic!()
    };
    assert!(*version >= 6);
    assert_eq!(request.topics[1].topic_id, id);
}

#[tokio::test]
async fn describe_configs_reads_sources_and_synonyms_and_routes_brokers() {
    use klamm_protocol::generated::DescribeConfigsResponse;
    use klamm_protocol::generated::describe_configs::response::{
        DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
    };
    let cluster = MockCluster::start(2).await.unwrap();
    let seen = record(&cluster, ApiKey::DescribeConfigs, |broker, _, request| {
        let AnyRequest::DescribeConfigs(r) = request else {
            return None;
        };
        let results = r
            .resources
            .iter()
            .map(|res| {
                let entry = DescribeConfigsResourceResult::default()
                    .with_name(s("retention.ms"))
                    .with_value(Some(s("1000")))
                    .with_config_source(1)
                    .with_synonyms(vec![
                        DescribeConfigsSynonym::default()
                            .with_name(s("retention.ms"))
                            .with_value(Some(s("1000")))
                            .with_source(1),
                        DescribeConfigsSynonym::default()
                            .with_name(s("log.retention.ms"))
                            .with_value(Some(s(&format!("{broker}"))))
                            .with_source(4),
                    ]);
                DescribeConfigsResult::default()
                    .with_resource_type(res.resource_type)
                    .with_resource_name(res.resource_name.clone())
                    .with_configs(vec![entry])
            })
            .collect();
        Some(AnyResponse::DescribeConfigs(Box::new(
            DescribeConfigsResponse::default().with_results(results),
        )))
    });
    let admin = admin(&cluster).await;
    let results = admin
        .describe_configs(&[ConfigResource::topic("t"), ConfigResource::broker(2)])
        .await;
    let topic = results
        .get(&ConfigResource::topic("t"))
        .unwrap()
        .as_ref()
        .unwrap();
    assert_eq!(topic[0].source, ConfigSource::DynamicTopic);
    assert_eq!(topic[0].synonyms.len(), 2);
    assert_eq!(topic[0].synonyms[1].name, "log.retention.ms");
    assert_eq!(topic[0].synonyms[1].source, ConfigSource::StaticBroker);
    let broker = results
        .get(&ConfigResource::broker(2))
        .unwrap()
        .as_ref()
        .unwrap();
    // Answered by broker 2 itself.
    assert_eq!(broker[0].synonyms[1].value.as_deref(), Some("2"));
    let seen = seen.lock().unwrap();
    let AnyRequest::DescribeConfigs(request) = &seen[0].2 else {
        panic!()
    };
    assert!(request.include_synonyms);
    assert!(seen.iter().any(|(b, _, _)| *b == 2));
}

#[tokio::test]
async fn incremental_alter_sends_each_operation() {
    use klamm_protocol::generated::IncrementalAlterConfigsResponse;
    use klamm_protocol::generated::incremental_alter_configs::response::AlterConfigsResourceResponse;
    let cluster = MockCluster::start(1).await.unwrap();
    let seen = record(
        &cluster,
        ApiKey::IncrementalAlterConfigs,
        |_, _, request| {
            let AnyRequest::IncrementalAlterConfigs(r) = request else {
                return None;
            };
            let responses = r
                .resources
                .iter()
                .map(|res| {
                    let denied = res.resource_name.as_str() == "locked";
                    AlterConfigsResourceResponse::default()
                        .with_resource_type(res.resource_type)
                        .with_resource_name(res.resource_name.clone())
                        .with_error_code(if denied {
                            ErrorCode::PolicyViolation.code()
                        } else {
                            0
                        })
                        .with_error_message(denied.then(|| s("policy says no")))
                })
                .collect();
            Some(AnyResponse::IncrementalAlterConfigs(Box::new(
                IncrementalAlterConfigsResponse::default().with_responses(responses),
            )))
        },
    );
    let admin = admin(&cluster).await;
    let results = admin
        .incremental_alter_configs(
            &[
                (
                    ConfigResource::topic("t"),
                    vec![
                        AlterConfigOp::Set("retention.ms".into(), "5".into()),
                        AlterConfigOp::Delete("segment.ms".into()),
                        AlterConfigOp::Append("cleanup.policy".into(), "compact".into()),
                        AlterConfigOp::Subtract("cleanup.policy".into(), "delete".into()),
                    ],
                ),
                (
                    ConfigResource::topic("locked"),
                    vec![AlterConfigOp::Delete("x".into())],
                ),
            ],
            false,
        )
        .await;
    assert!(results.get(&ConfigResource::topic("t")).unwrap().is_ok());
    let err = results
        .get(&ConfigResource::topic("locked"))
        .unwrap()
        .as_ref()
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::PolicyViolation));
    assert!(err.to_string().contains("policy says no"), "{err}");
    let seen = seen.lock().unwrap();
    let AnyRequest::IncrementalAlterConfigs(request) = &seen[0].2 else {
        panic!()
    };
    let ops: Vec<(i8, Option<&str>)> = request.resources[0]
        .configs
        .iter()
        .map(|c| (c.config_operation, c.value.as_ref().map(|v| v.as_str())))
        .collect();
    assert_eq!(
        ops,
        vec![
            (0, Some("5")),
            (1, None),
            (2, Some("compact")),
            (3, Some("delete"))
        ]
    );
}

#[tokio::test]
async fn legacy_alter_configs_stands_in_for_incremental() {
    use klamm_protocol::generated::alter_configs::response::AlterConfigsResourceResponse;
    use klamm_protocol::generated::describe_configs::response::{
        DescribeConfigsResourceResult, DescribeConfigsResult,
    };
    use klamm_protocol::generated::{AlterConfigsResponse, DescribeConfigsResponse};
    let cluster = MockCluster::start(1).await.unwrap();
    cluster.set_api_versions(ApiKey::IncrementalAlterConfigs, None);
    record(&cluster, ApiKey::DescribeConfigs, |_, _, request| {
        let AnyRequest::DescribeConfigs(r) = request else {
            return None;
        };
        let entry = |name: &str, value: &str, source: i8| {
            DescribeConfigsResourceResult::default()
                .with_name(s(name))
                .with_value(Some(s(value)))
                .with_config_source(source)
        };
        Some(AnyResponse::DescribeConfigs(Box::new(
            DescribeConfigsResponse::default().with_results(vec![
                DescribeConfigsResult::default()
                    .with_resource_type(r.resources[0].resource_type)
                    .with_resource_name(r.resources[0].resource_name.clone())
                    .with_configs(vec![
                        entry("cleanup.policy", "delete", 1),
                        entry("segment.ms", "100", 1),
                        entry("retention.ms", "604800000", 5),
                    ]),
            ]),
        )))
    });
    let seen = record(&cluster, ApiKey::AlterConfigs, |_, _, request| {
        let AnyRequest::AlterConfigs(r) = request else {
            return None;
        };
        Some(AnyResponse::AlterConfigs(Box::new(
            AlterConfigsResponse::default().with_responses(
                r.resources
                    .iter()
                    .map(|res| {
                        AlterConfigsResourceResponse::default()
                            .with_resource_type(res.resource_type)
                            .with_resource_name(res.resource_name.clone())
                    })
                    .collect(),
            ),
        )))
    });
    let admin = admin(&cluster).await;
    admin
        .incremental_alter_configs(
            &[(
                ConfigResource::topic("t"),
                vec![
                    AlterConfigOp::Append("cleanup.policy".into(), "compact".into()),
                    AlterConfigOp::Delete("segment.ms".into()),
                    AlterConfigOp::Set("max.message.bytes".into(), "10".into()),
                ],
            )],
            false,
        )
        .await
        .into_result()
        .unwrap();
    let seen = seen.lock().unwrap();
    let AnyRequest::AlterConfigs(request) = &seen[0].2 else {
        panic!()
    };
    let mut sent: Vec<(String, String)> = request.resources[0]
        .configs
        .iter()
        .map(|c| (c.name.to_string(), c.value.as_ref().unwrap().to_string()))
        .collect();
    sent.sort();
    // Kept what was set on the topic, applied the changes, left defaults out.
    assert_eq!(
        sent,
        vec![
            ("cleanup.policy".to_string(), "delete,compact".to_string()),
            ("max.message.bytes".to_string(), "10".to_string()),
        ]
    );
}

#[tokio::test]
async fn list_offsets_goes_to_each_leader_and_follows_moves() {
    use klamm_protocol::generated::ListOffsetsResponse;
    use klamm_protocol::generated::list_offsets::response::{
        ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
    };
    let cluster = MockCluster::start(3).await.unwrap();
    cluster.create_topic("t", 3);
    let fail_once = Arc::new(Mutex::new(true));
    let seen = record(&cluster, ApiKey::ListOffsets, move |broker, _, request| {
        let AnyRequest::ListOffsets(r) = request else {
            return None;
        };
        let topics = r
            .topics
            .iter()
            .map(|t| {
                ListOffsetsTopicResponse::default()
                    .with_name(t.name.clone())
                    .with_partitions(
                        t.partitions
                            .iter()
                            .map(|p| {
                                let stale = p.partition_index == 2
                                    && std::mem::take(&mut *fail_once.lock().unwrap());
                                ListOffsetsPartitionResponse::default()
                                    .with_partition_index(p.partition_index)
                                    .with_error_code(if stale {
                                        ErrorCode::NotLeaderOrFollower.code()
                                    } else {
                                        0
                                    })
                                    // Offset says who answered and what was asked.
                                    .with_offset(i64::from(broker) * 1000 + p.timestamp.abs())
                                    .with_timestamp(77)
                                    .with_leader_epoch(4)
                            })
                            .collect(),
                    )
            })
            .collect();
        Some(AnyResponse::ListOffsets(Box::new(
            ListOffsetsResponse::default().with_topics(topics),
        )))
    });
    let admin = admin(&cluster).await;
    admin.client().add_topics(["t"]).await.unwrap();
    // Partition 2 moves to broker 1; the client learns after NOT_LEADER.
    cluster.set_leader("t", 2, 1);
    let results = admin
        .list_offsets(&[
            (("t".into(), 0), OffsetSpec::Earliest),
            (("t".into(), 1), OffsetSpec::Latest),
            (("t".into(), 2), OffsetSpec::MaxTimestamp),
        ])
        .await;
    let offsets: Vec<i64> = results
        .into_result()
        .unwrap()
        .iter()
        .map(|o| o.offset)
        .collect();
    assert_eq!(offsets, vec![1002, 2001, 1003]);
    let seen = seen.lock().unwrap();
    for (_, version, request) in seen.iter() {
        let AnyRequest::ListOffsets(r) = request else {
            panic!()
        };
        assert_eq!(r.replica_id, -1);
        assert!(*version >= 7);
    }
}

#[tokio::test]
async fn delete_records_reports_low_watermarks_per_partition() {
    use klamm_protocol::generated::DeleteRecordsResponse;
    use klamm_protocol::generated::delete_records::response::{
        DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
    };
    let cluster = MockCluster::start(2).await.unwrap();
    cluster.create_topic("t", 2);
    let seen = record(&cluster, ApiKey::DeleteRecords, |_, _, request| {
        let AnyRequest::DeleteRecords(r) = request else {
            return None;
        };
        let topics = r
            .topics
            .iter()
            .map(|t| {
                DeleteRecordsTopicResult::default()
                    .with_name(t.name.clone())
                    .with_partitions(
                        t.partitions
                            .iter()
                            .map(|p| {
                                let out_of_range = p.offset > 100;
                                DeleteRecordsPartitionResult::default()
                                    .with_partition_index(p.partition_index)
                                    .with_low_watermark(if out_of_range { -1 } else { p.offset })
                                    .with_error_code(if out_of_range {
                                        ErrorCode::OffsetOutOfRange.code()
                                    } else {
                                        0
                                    })
                            })
                            .collect(),
                    )
            })
            .collect();
        Some(AnyResponse::DeleteRecords(Box::new(
            DeleteRecordsResponse::default().with_topics(topics),
        )))
    });
    let admin = admin(&cluster).await;
    let results = admin
        .delete_records(&[(("t".into(), 0), 42), (("t".into(), 1), 500)])
        .await;
    assert_eq!(
        *results
            .get(&("t".to_string(), 0))
            .unwrap()
            .as_ref()
            .unwrap(),
        42
    );
    let err = results
        .get(&("t".to_string(), 1))
        .unwrap()
        .as_ref()
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::OffsetOutOfRange));
    assert!(err.to_string().contains("partition 1"), "{err}");
    let seen = seen.lock().unwrap();
    let mut brokers: Vec<i32> = seen.iter().map(|(b, _, _)| *b).collect();
    brokers.sort();
    assert_eq!(brokers, vec![1, 2], "one request per leader");
}
