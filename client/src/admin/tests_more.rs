//! The admin client on the mock cluster, part two: groups (assignments,
//! NON_EMPTY_GROUP, offsets old and new), cluster, ACLs and SCRAM.

use bytes::{BufMut, BytesMut};
use klamm_protocol::generated::any::{AnyRequest, AnyResponse};
use klamm_protocol::generated::consumer_protocol_assignment::TopicPartition as AssignedTopic;
use klamm_protocol::{ApiKey, Encodable, ErrorCode, VersionRange};

use super::tests::{admin, record, s};
use super::*;
use crate::error::Error;
use crate::mock::MockCluster;

fn assignment(version: i16, topics: &[(&str, &[i32])]) -> bytes::Bytes {
    let mut buf = BytesMut::new();
    buf.put_i16(version);
    klamm_protocol::generated::ConsumerProtocolAssignment::default()
        .with_assigned_partitions(
            topics
                .iter()
                .map(|(t, ps)| {
                    AssignedTopic::default()
                        .with_topic(s(t))
                        .with_partitions(ps.to_vec())
                })
                .collect(),
        )
        .encode(&mut buf, version)
        .unwrap();
    buf.freeze()
}

#[tokio::test]
async fn describe_groups_decodes_assignments_at_the_coordinator() {
    use klamm_protocol::generated::DescribeGroupsResponse;
    use klamm_protocol::generated::describe_groups::response::{
        DescribedGroup, DescribedGroupMember,
    };
    let cluster = MockCluster::start(3).await.unwrap();
    cluster.set_coordinator(0, "g", 3);
    let seen = record(&cluster, ApiKey::DescribeGroups, |_, _, request| {
        let AnyRequest::DescribeGroups(r) = request else {
            return None;
        };
        let groups = r
            .groups
            .iter()
            .map(|g| match g.as_str() {
                "g" => DescribedGroup::default()
                    .with_group_id(g.clone())
                    .with_group_state(s("Stable"))
                    .with_protocol_type(s("consumer"))
                    .with_protocol_data(s("range"))
                    .with_authorized_operations((1 << 3) | (1 << 8) | (1 << 2))
                    .with_members(vec![
                        DescribedGroupMember::default()
                            .with_member_id(s("m1"))
                            .with_client_id(s("c1"))
                            .with_client_host(s("/10.0.0.1"))
                            .with_member_assignment(assignment(0, &[("a", &[0, 2]), ("b", &[1])])),
                        DescribedGroupMember::default()
                            .with_member_id(s("m2"))
                            .with_group_instance_id(Some(s("static-2")))
                            .with_member_assignment(assignment(3, &[("a", &[1])])),
                    ]),
                _ => DescribedGroup::default()
                    .with_group_id(g.clone())
                    .with_error_code(ErrorCode::GroupAuthorizationFailed.code()),
            })
            .collect();
        Some(AnyResponse::DescribeGroups(Box::new(
            DescribeGroupsResponse::default().with_groups(groups),
        )))
    });
    let admin = admin(&cluster).await;
    let results = admin.describe_groups(&["g", "secret"]).await;
    let g = results.get("g").unwrap().as_ref().unwrap();
    assert_eq!(g.state, "Stable");
    assert_eq!(g.protocol, "range");
    assert_eq!(
        g.members[0].assignment,
        vec![("a".to_string(), vec![0, 2]), ("b".to_string(), vec![1])]
    );
    assert_eq!(g.members[0].client_host, "/10.0.0.1");
    assert_eq!(g.members[1].group_instance_id.as_deref(), Some("static-2"));
    assert_eq!(g.members[1].assignment, vec![("a".to_string(), vec![1])]);
    // ALL (bit 2) is a filter value, not an operation.
    assert_eq!(
        g.authorized_operations,
        Some(vec![AclOperation::Read, AclOperation::Describe])
    );
    let err = results.get("secret").unwrap().as_ref().unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::GroupAuthorizationFailed));
    let seen = seen.lock().unwrap();
    // Each group at its own coordinator: "g" at 3, "secret" at 1 (default).
    for (broker, _, request) in seen.iter() {
        let AnyRequest::DescribeGroups(r) = request else {
            panic!()
        };
        let expected = if r.groups[0].as_str() == "g" { 3 } else { 1 };
        assert_eq!((r.groups.len(), *broker), (1, expected), "{r:?}");
    }
    let AnyRequest::DescribeGroups(request) = &seen[0].2 else {
        panic!()
    };
    assert!(request.include_authorized_operations);
}

#[test]
fn a_truncated_assignment_is_a_decode_error() {
    let bytes = assignment(1, &[("a", &[0, 1])]);
    let cut = bytes.slice(..bytes.len() - 3);
    assert!(groups::decode_assignment(&cut).is_err());
    assert!(groups::decode_assignment(&bytes.slice(..1)).is_err());
    assert_eq!(
        groups::decode_assignment(&bytes::Bytes::new()).unwrap(),
        vec![]
    );
}

#[tokio::test]
async fn delete_groups_reports_non_empty_groups() {
    use klamm_protocol::generated::DeleteGroupsResponse;
    use klamm_protocol::generated::delete_groups::response::DeletableGroupResult;
    let cluster = MockCluster::start(2).await.unwrap();
    cluster.set_coordinator(0, "busy", 2);
    record(&cluster, ApiKey::DeleteGroups, |_, _, request| {
        let AnyRequest::DeleteGroups(r) = request else {
            return None;
        };
        let results = r
            .groups_names
            .iter()
            .map(|g| {
                DeletableGroupResult::default()
                    .with_group_id(g.clone())
                    .with_error_code(if g.as_str() == "busy" {
                        ErrorCode::NonEmptyGroup.code()
                    } else {
                        0
                    })
            })
            .collect();
        Some(AnyResponse::DeleteGroups(Box::new(
            DeleteGroupsResponse::default().with_results(results),
        )))
    });
    let admin = admin(&cluster).await;
    let results = admin.delete_groups(&["busy", "idle"]).await;
    assert!(results.get("idle").unwrap().is_ok());
    let err = results.get("busy").unwrap().as_ref().unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::NonEmptyGroup));
    assert!(matches!(
        err,
        Error::Broker {
            api: "DeleteGroups",
            ..
        }
    ));
    assert_eq!(cluster.broker_request_count(2, ApiKey::DeleteGroups), 1);
    assert_eq!(cluster.broker_request_count(1, ApiKey::DeleteGroups), 1);
}

fn offset_fetch_answer(version: i16, request: &AnyRequest) -> Option<AnyResponse> {
    use klamm_protocol::generated::OffsetFetchResponse;
    use klamm_protocol::generated::offset_fetch::response::*;
    let AnyRequest::OffsetFetch(_) = request else {
        return None;
    };
    let response = if version >= 8 {
        OffsetFetchResponse::default().with_groups(vec![
            OffsetFetchResponseGroup::default()
                .with_group_id(s("g"))
                .with_topics(vec![
                    OffsetFetchResponseTopics::default()
                        .with_name(s("t"))
                        .with_partitions(vec![
                            OffsetFetchResponsePartitions::default()
                                .with_partition_index(1)
                                .with_committed_offset(7)
                                .with_committed_leader_epoch(2)
                                .with_metadata(Some(s("meta"))),
                            OffsetFetchResponsePartitions::default()
                                .with_partition_index(0)
                                .with_committed_offset(5),
                        ]),
                ]),
        ])
    } else {
        OffsetFetchResponse::default().with_topics(vec![
            OffsetFetchResponseTopic::default()
                .with_name(s("t"))
                .with_partitions(vec![
                    OffsetFetchResponsePartition::default()
                        .with_partition_index(1)
                        .with_committed_offset(7)
                        .with_committed_leader_epoch(2)
                        .with_metadata(Some(s("meta"))),
                    OffsetFetchResponsePartition::default()
                        .with_partition_index(0)
                        .with_committed_offset(5),
                ]),
        ])
    };
    Some(AnyResponse::OffsetFetch(Box::new(response)))
}

#[tokio::test]
async fn group_offsets_read_at_old_and_new_versions() {
    for range in [VersionRange::new(0, 7), VersionRange::new(0, 9)] {
        let cluster = MockCluster::start(1).await.unwrap();
        cluster.set_api_versions(ApiKey::OffsetFetch, Some(range));
        let seen = record(&cluster, ApiKey::OffsetFetch, |_, version, request| {
            offset_fetch_answer(version, request)
        });
        let admin = admin(&cluster).await;
        let offsets = admin.list_group_offsets("g", None).await.unwrap();
        let got: Vec<(i32, i64, Option<i32>)> = offsets
            .iter()
            .map(|o| (o.partition, o.offset, o.leader_epoch))
            .collect();
        assert_eq!(got, vec![(0, 5, None), (1, 7, Some(2))], "{range}");
        assert_eq!(offsets[1].metadata.as_deref(), Some("meta"));
        let seen = seen.lock().unwrap();
        let (_, version, AnyRequest::OffsetFetch(request)) = &seen[0] else {
            panic!()
        };
        if *version >= 8 {
            assert_eq!(request.groups[0].group_id.as_str(), "g");
            assert!(request.groups[0].topics.is_none(), "all partitions");
        } else {
            assert_eq!(request.group_id.as_str(), "g");
            assert!(request.topics.is_none(), "all partitions");
        }
    }
}

#[tokio::test]
async fn alter_and_delete_group_offsets_per_partition() {
    use klamm_protocol::generated::offset_commit::response::{
        OffsetCommitResponsePartition, OffsetCommitResponseTopic,
    };
    use klamm_protocol::generated::offset_delete::response::{
        OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
    };
    use klamm_protocol::generated::{OffsetCommitResponse, OffsetDeleteResponse};
    let cluster = MockCluster::start(1).await.unwrap();
    let commits = record(&cluster, ApiKey::OffsetCommit, |_, _, request| {
        let AnyRequest::OffsetCommit(r) = request else {
            return None;
        };
        Some(AnyResponse::OffsetCommit(Box::new(
            OffsetCommitResponse::default().with_topics(
                r.topics
                    .iter()
                    .map(|t| {
                        OffsetCommitResponseTopic::default()
                            .with_name(t.name.clone())
                            .with_partitions(
                                t.partitions
                                    .iter()
                                    .map(|p| {
                                        OffsetCommitResponsePartition::default()
                                            .with_partition_index(p.partition_index)
                                            .with_error_code(if p.partition_index == 1 {
                                                ErrorCode::UnknownMemberId.code()
                                            } else {
                                                0
                                            })
                                    })
                                    .collect(),
                            )
                    })
                    .collect(),
            ),
        )))
    });
    record(&cluster, ApiKey::OffsetDelete, |_, _, request| {
        let AnyRequest::OffsetDelete(r) = request else {
            return None;
        };
        Some(AnyResponse::OffsetDelete(Box::new(
            OffsetDeleteResponse::default().with_topics(
                r.topics
                    .iter()
                    .map(|t| {
                        OffsetDeleteResponseTopic::default()
                            .with_name(t.name.clone())
                            .with_partitions(
                                t.partitions
                                    .iter()
                                    .map(|p| {
                                        OffsetDeleteResponsePartition::default()
                                            .with_partition_index(p.partition_index)
                                            .with_error_code(if p.partition_index == 0 {
                                                ErrorCode::GroupSubscribedToTopic.code()
                                            } else {
                                                0
                                            })
                                    })
                                    .collect(),
                            )
                    })
                    .collect(),
            ),
        )))
    });
    let admin = admin(&cluster).await;
    let altered = admin
        .alter_group_offsets("g", &[(("t".into(), 0), 10), (("t".into(), 1), 20)])
        .await;
    assert!(altered.get(&("t".to_string(), 0)).unwrap().is_ok());
    assert_eq!(
        altered
            .get(&("t".to_string(), 1))
            .unwrap()
            .as_ref()
            .unwrap_err()
            .code(),
        Some(ErrorCode::UnknownMemberId)
    );
    {
        let seen = commits.lock().unwrap();
        let AnyRequest::OffsetCommit(request) = &seen[0].2 else {
            panic!()
        };
        assert_eq!(request.generation_id_or_member_epoch, -1);
        assert_eq!(request.member_id.as_str(), "");
        let sent: Vec<(i32, i64)> = request.topics[0]
            .partitions
            .iter()
            .map(|p| (p.partition_index, p.committed_offset))
            .collect();
        assert_eq!(sent, vec![(0, 10), (1, 20)]);
    }
    let deleted = admin
        .delete_group_offsets("g", &[("t".into(), 0), ("t".into(), 1)])
        .await;
    assert_eq!(
        deleted
            .get(&("t".to_string(), 0))
            .unwrap()
            .as_ref()
            .unwrap_err()
            .code(),
        Some(ErrorCode::GroupSubscribedToTopic)
    );
    assert!(deleted.get(&("t".to_string(), 1)).unwrap().is_ok());
}

#[tokio::test]
async fn remove_members_by_member_and_instance_id() {
    use klamm_protocol::generated::LeaveGroupResponse;
    use klamm_protocol::generated::leave_group::response::MemberResponse;
    let cluster = MockCluster::start(1).await.unwrap();
    let seen = record(&cluster, ApiKey::LeaveGroup, |_, _, request| {
        let AnyRequest::LeaveGroup(r) = request else {
            return None;
        };
        Some(AnyResponse::LeaveGroup(Box::new(
            LeaveGroupResponse::default().with_members(
                r.members
                    .iter()
                    .map(|m| {
                        let known = m.group_instance_id.is_some();
                        MemberResponse::default()
                            // The coordinator fills in a static member's id.
                            .with_member_id(if known {
                                s("assigned-id")
                            } else {
                                m.member_id.clone()
                            })
                            .with_group_instance_id(m.group_instance_id.clone())
                            .with_error_code(if known {
                                0
                            } else {
                                ErrorCode::UnknownMemberId.code()
                            })
                    })
                    .collect(),
            ),
        )))
    });
    let admin = admin(&cluster).await;
    let results = admin
        .remove_members(
            "g",
            &[
                MemberToRemove::instance("static-1"),
                MemberToRemove::member("ghost"),
            ],
        )
        .await;
    assert!(
        results
            .get(&MemberToRemove::instance("static-1"))
            .unwrap()
            .is_ok()
    );
    assert_eq!(
        results
            .get(&MemberToRemove::member("ghost"))
            .unwrap()
            .as_ref()
            .unwrap_err()
            .code(),
        Some(ErrorCode::UnknownMemberId)
    );
    let seen = seen.lock().unwrap();
    let (_, version, AnyRequest::LeaveGroup(request)) = &seen[0] else {
        panic!()
    };
    assert!(*version >= 3);
    assert_eq!(request.members.len(), 2);
}

#[tokio::test]
async fn list_groups_asks_every_broker_and_filters() {
    use klamm_protocol::generated::ListGroupsResponse;
    use klamm_protocol::generated::list_groups::response::ListedGroup;
    let cluster = MockCluster::start(2).await.unwrap();
    let seen = record(&cluster, ApiKey::ListGroups, |broker, _, _| {
        let group = |id: &str, state: &str| {
            ListedGroup::default()
                .with_group_id(s(id))
                .with_protocol_type(s("consumer"))
                .with_group_state(s(state))
                .with_group_type(s("classic"))
        };
        // Broker 2 ignores the filter, as an old broker would.
        let groups = if broker == 1 {
            vec![group("a", "Stable")]
        } else {
            vec![group("b", "Stable"), group("c", "Empty")]
        };
        Some(AnyResponse::ListGroups(Box::new(
            ListGroupsResponse::default().with_groups(groups),
        )))
    });
    let admin = admin(&cluster).await;
    let groups = admin.list_groups(&["Stable"], &[]).await.unwrap();
    let ids: Vec<(&str, i32)> = groups
        .iter()
        .map(|g| (g.group_id.as_str(), g.coordinator))
        .collect();
    assert_eq!(ids, vec![("a", 1), ("b", 2)]);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2);
    let AnyRequest::ListGroups(request) = &seen[0].2 else {
        panic!()
    };
    assert_eq!(request.states_filter, vec![s("Stable")]);
}

#[tokio::test]
async fn describe_cluster_and_its_metadata_fallback() {
    let cluster = MockCluster::start(3).await.unwrap();
    cluster.set_controller(2);
    cluster.set_api_versions(ApiKey::DescribeCluster, None);
    let admin = admin(&cluster).await;
    let described = admin.describe_cluster().await.unwrap();
    assert_eq!(described.cluster_id.as_deref(), Some("klamm-mock"));
    assert_eq!(described.controller, Some(2));
    assert_eq!(
        described.brokers.iter().map(|b| b.id).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
}

#[tokio::test]
async fn describe_cluster_reads_the_response() {
    use klamm_protocol::generated::DescribeClusterResponse;
    use klamm_protocol::generated::describe_cluster::response::DescribeClusterBroker;
    let cluster = MockCluster::start(1).await.unwrap();
    record(&cluster, ApiKey::DescribeCluster, |_, _, _| {
        Some(AnyResponse::DescribeCluster(Box::new(
            DescribeClusterResponse::default()
                .with_cluster_id(s("abc"))
                .with_controller_id(9)
                .with_cluster_authorized_operations(1 << 7)
                .with_brokers(vec![
                    DescribeClusterBroker::default()
                        .with_broker_id(9)
                        .with_host(s("h9"))
                        .with_port(9092)
                        .with_rack(Some(s("r1"))),
                    DescribeClusterBroker::default()
                        .with_broker_id(4)
                        .with_host(s("h4"))
                        .with_port(9093),
                ]),
        )))
    });
    let admin = admin(&cluster).await;
    let d = admin.describe_cluster().await.unwrap();
    assert_eq!(d.cluster_id.as_deref(), Some("abc"));
    assert_eq!(d.controller, Some(9));
    assert_eq!(d.brokers[0].id, 4);
    assert_eq!(d.brokers[1].rack.as_deref(), Some("r1"));
    assert_eq!(d.authorized_operations, Some(vec![AclOperation::Alter]));
}

#[tokio::test]
async fn log_dirs_producers_and_transactions() {
    use klamm_protocol::generated::describe_log_dirs::response::*;
    use klamm_protocol::generated::describe_producers::response::*;
    use klamm_protocol::generated::describe_transactions::response::{
        TopicData, TransactionState as Described,
    };
    use klamm_protocol::generated::list_transactions::response::TransactionState as Listed;
    use klamm_protocol::generated::{
        DescribeLogDirsResponse, DescribeProducersResponse, DescribeTransactionsResponse,
        ListTransactionsResponse,
    };
    let cluster = MockCluster::start(2).await.unwrap();
    cluster.create_topic("t", 2);
    cluster.set_coordinator(1, "tx", 2);
    record(&cluster, ApiKey::DescribeLogDirs, |broker, _, _| {
        Some(AnyResponse::DescribeLogDirs(Box::new(
            DescribeLogDirsResponse::default().with_results(vec![
                DescribeLogDirsResult::default()
                    .with_log_dir(s(&format!("/data/{broker}")))
                    .with_total_bytes(100)
                    .with_usable_bytes(40)
                    .with_topics(vec![
                        DescribeLogDirsTopic::default()
                            .with_name(s("t"))
                            .with_partitions(vec![
                                DescribeLogDirsPartition::default()
                                    .with_partition_index(broker - 1)
                                    .with_partition_size(12),
                            ]),
                    ]),
                DescribeLogDirsResult::default()
                    .with_log_dir(s("/bad"))
                    .with_error_code(ErrorCode::KafkaStorageError.code()),
            ]),
        )))
    });
    record(&cluster, ApiKey::DescribeProducers, |broker, _, request| {
        let AnyRequest::DescribeProducers(r) = request else {
            return None;
        };
        Some(AnyResponse::DescribeProducers(Box::new(
            DescribeProducersResponse::default().with_topics(
                r.topics
                    .iter()
                    .map(|t| {
                        TopicResponse::default()
                            .with_name(t.name.clone())
                            .with_partitions(
                                t.partition_indexes
                                    .iter()
                                    .map(|p| {
                                        PartitionResponse::default()
                                            .with_partition_index(*p)
                                            .with_active_producers(vec![
                                                ProducerState::default()
                                                    .with_producer_id(i64::from(broker))
                                                    .with_current_txn_start_offset(-1),
                                            ])
                                    })
                                    .collect(),
                            )
                    })
                    .collect(),
            ),
        )))
    });
    record(&cluster, ApiKey::ListTransactions, |broker, _, _| {
        Some(AnyResponse::ListTransactions(Box::new(
            ListTransactionsResponse::default().with_transaction_states(vec![
                Listed::default()
                    .with_transactional_id(s(&format!("tx{broker}")))
                    .with_producer_id(i64::from(broker))
                    .with_transaction_state(s("Ongoing")),
            ]),
        )))
    });
    let described = record(&cluster, ApiKey::DescribeTransactions, |_, _, _| {
        Some(AnyResponse::DescribeTransactions(Box::new(
            DescribeTransactionsResponse::default().with_transaction_states(vec![
                Described::default()
                    .with_transactional_id(s("tx"))
                    .with_transaction_state(s("Ongoing"))
                    .with_producer_id(5)
                    .with_producer_epoch(1)
                    .with_transaction_timeout_ms(60_000)
                    .with_topics(vec![
                        TopicData::default()
                            .with_topic(s("t"))
                            .with_partitions(vec![0, 1]),
                    ]),
            ]),
        )))
    });
    let admin = admin(&cluster).await;
    let dirs = admin.describe_log_dirs(&[1, 2]).await;
    let two = dirs.get(&2).unwrap().as_ref().unwrap();
    assert_eq!(two[0].path, "/data/2");
    assert_eq!(two[0].partitions[0].partition, 1);
    assert_eq!(two[0].partitions[0].size, 12);
    assert_eq!(two[1].error, Some(ErrorCode::KafkaStorageError));

    let producers = admin
        .describe_producers(&[("t".into(), 0), ("t".into(), 1)])
        .await;
    // Each partition answered by its leader (partition p led by broker p+1).
    assert_eq!(
        producers
            .get(&("t".to_string(), 0))
            .unwrap()
            .as_ref()
            .unwrap()[0]
            .producer_id,
        1
    );
    assert_eq!(
        producers
            .get(&("t".to_string(), 1))
            .unwrap()
            .as_ref()
            .unwrap()[0]
            .producer_id,
        2
    );
    assert_eq!(
        producers
            .get(&("t".to_string(), 1))
            .unwrap()
            .as_ref()
            .unwrap()[0]
            .current_txn_start_offset,
        None
    );

    let listed = admin.list_transactions(&[], &[]).await.unwrap();
    let ids: Vec<&str> = listed.iter().map(|t| t.transactional_id.as_str()).collect();
    assert_eq!(ids, vec!["tx1", "tx2"]);

    let tx = admin
        .describe_transactions(&["tx"])
        .await
        .into_result()
        .unwrap()
        .remove(0);
    assert_eq!(
        tx.partitions,
        vec![("t".to_string(), 0), ("t".to_string(), 1)]
    );
    assert_eq!(tx.producer_id, 5);
    assert!(
        described.lock().unwrap().iter().all(|(b, _, _)| *b == 2),
        "at the txn coordinator"
    );
}

#[tokio::test]
async fn acls_create_describe_delete() {
    use klamm_protocol::generated::create_acls::response::AclCreationResult;
    use klamm_protocol::generated::delete_acls::response::{
        DeleteAclsFilterResult, DeleteAclsMatchingAcl,
    };
    use klamm_protocol::generated::describe_acls::response::{
        AclDescription, DescribeAclsResource,
    };
    use klamm_protocol::generated::{CreateAclsResponse, DeleteAclsResponse, DescribeAclsResponse};
    let cluster = MockCluster::start(1).await.unwrap();
    let created = record(&cluster, ApiKey::CreateAcls, |_, _, request| {
        let AnyRequest::CreateAcls(r) = request else {
            return None;
        };
        Some(AnyResponse::CreateAcls(Box::new(
            CreateAclsResponse::default().with_results(
                r.creations
                    .iter()
                    .map(|c| {
                        let bad = c.principal.as_str() == "nobody";
                        AclCreationResult::default()
                            .with_error_code(if bad {
                                ErrorCode::InvalidRequest.code()
                            } else {
                                0
                            })
                            .with_error_message(bad.then(|| s("principal must be Type:name")))
                    })
                    .collect(),
            ),
        )))
    });
    let described = record(&cluster, ApiKey::DescribeAcls, |_, _, _| {
        Some(AnyResponse::DescribeAcls(Box::new(
            DescribeAclsResponse::default().with_resources(vec![
                DescribeAclsResource::default()
                    .with_resource_type(2)
                    .with_resource_name(s("t"))
                    .with_pattern_type(3)
                    .with_acls(vec![
                        AclDescription::default()
                            .with_principal(s("User:alice"))
                            .with_host(s("*"))
                            .with_operation(3)
                            .with_permission_type(3),
                    ]),
            ]),
        )))
    });
    record(&cluster, ApiKey::DeleteAcls, |_, _, _| {
        Some(AnyResponse::DeleteAcls(Box::new(
            DeleteAclsResponse::default().with_filter_results(vec![
                DeleteAclsFilterResult::default().with_matching_acls(vec![
                    DeleteAclsMatchingAcl::default()
                        .with_resource_type(2)
                        .with_resource_name(s("t"))
                        .with_pattern_type(3)
                        .with_principal(s("User:alice"))
                        .with_host(s("*"))
                        .with_operation(3)
                        .with_permission_type(3),
                ]),
                DeleteAclsFilterResult::default()
                    .with_error_code(ErrorCode::SecurityDisabled.code())
                    .with_error_message(Some(s("no authorizer"))),
            ]),
        )))
    });
    let admin = admin(&cluster).await;
    let alice = AclBinding {
        resource_type: ResourceType::Topic,
        resource_name: "t".into(),
        pattern_type: PatternType::Literal,
        principal: "User:alice".into(),
        host: "*".into(),
        operation: AclOperation::Read,
        permission: AclPermission::Allow,
    };
    let nobody = AclBinding {
        principal: "nobody".into(),
        ..alice.clone()
    };
    let results = admin.create_acls(&[alice.clone(), nobody.clone()]).await;
    assert!(results.get(&alice).unwrap().is_ok());
    let err = results.get(&nobody).unwrap().as_ref().unwrap_err();
    assert!(
        err.to_string().contains("principal must be Type:name"),
        "{err}"
    );
    {
        let seen = created.lock().unwrap();
        let AnyRequest::CreateAcls(request) = &seen[0].2 else {
            panic!()
        };
        let c = &request.creations[0];
        assert_eq!(
            (
                c.resource_type,
                c.resource_pattern_type,
                c.operation,
                c.permission_type
            ),
            (2, 3, 3, 3)
        );
    }
    let filter = AclFilter {
        resource_name: Some("t".into()),
        ..AclFilter::any()
    };
    assert_eq!(
        admin.describe_acls(&filter).await.unwrap(),
        vec![alice.clone()]
    );
    {
        let seen = described.lock().unwrap();
        let AnyRequest::DescribeAcls(request) = &seen[0].2 else {
            panic!()
        };
        assert_eq!(request.resource_type_filter, 1);
        assert_eq!(
            request.resource_name_filter.as_ref().map(|n| n.as_str()),
            Some("t")
        );
        assert!(request.principal_filter.is_none());
    }
    let exact = AclFilter::exact(&alice);
    let deleted = admin.delete_acls(&[exact.clone(), AclFilter::any()]).await;
    assert_eq!(deleted.get(&exact).unwrap().as_ref().unwrap(), &vec![alice]);
    assert_eq!(
        deleted
            .get(&AclFilter::any())
            .unwrap()
            .as_ref()
            .unwrap_err()
            .code(),
        Some(ErrorCode::SecurityDisabled)
    );
}

#[tokio::test]
async fn scram_upsert_sends_the_salted_password_and_describe_reads_credentials() {
    use klamm_protocol::generated::alter_user_scram_credentials::response::AlterUserScramCredentialsResult;
    use klamm_protocol::generated::describe_user_scram_credentials::response::{
        CredentialInfo, DescribeUserScramCredentialsResult,
    };
    use klamm_protocol::generated::{
        AlterUserScramCredentialsResponse, DescribeUserScramCredentialsResponse,
    };
    let cluster = MockCluster::start(1).await.unwrap();
    let altered = record(
        &cluster,
        ApiKey::AlterUserScramCredentials,
        |_, _, request| {
            let AnyRequest::AlterUserScramCredentials(r) = request else {
                return None;
            };
            let users = r
                .upsertions
                .iter()
                .map(|u| u.name.clone())
                .chain(r.deletions.iter().map(|d| d.name.clone()));
            Some(AnyResponse::AlterUserScramCredentials(Box::new(
                AlterUserScramCredentialsResponse::default().with_results(
                    users
                        .map(|u| {
                            let missing = u.as_str() == "ghost";
                            AlterUserScramCredentialsResult::default()
                                .with_user(u)
                                .with_error_code(if missing {
                                    ErrorCode::ResourceNotFound.code()
                                } else {
                                    0
                                })
                                .with_error_message(missing.then(|| s("no such user")))
                        })
                        .collect(),
                ),
            )))
        },
    );
    record(
        &cluster,
        ApiKey::DescribeUserScramCredentials,
        |_, _, request| {
            let AnyRequest::DescribeUserScramCredentials(r) = request else {
                return None;
            };
            Some(AnyResponse::DescribeUserScramCredentials(Box::new(
                DescribeUserScramCredentialsResponse::default().with_results(
                    r.users
                        .clone()
                        .unwrap_or_default()
                        .iter()
                        .map(|u| match u.name.as_str() {
                            "alice" => DescribeUserScramCredentialsResult::default()
                                .with_user(u.name.clone())
                                .with_credential_infos(vec![
                                    CredentialInfo::default()
                                        .with_mechanism(1)
                                        .with_iterations(4096),
                                    CredentialInfo::default()
                                        .with_mechanism(2)
                                        .with_iterations(8192),
                                ]),
                            _ => DescribeUserScramCredentialsResult::default()
                                .with_user(u.name.clone())
                                .with_error_code(ErrorCode::ResourceNotFound.code())
                                .with_error_message(Some(s(
                                    "attempt to describe a user credential that does not exist",
                                ))),
                        })
                        .collect(),
                ),
            )))
        },
    );
    let admin = admin(&cluster).await;
    admin
        .upsert_user_scram_credentials(&[ScramUpsert {
            user: "alice".into(),
            mechanism: ScramMechanism::Sha512,
            password: "pencil".into(),
            iterations: 4096,
        }])
        .await
        .into_result()
        .unwrap();
    {
        let seen = altered.lock().unwrap();
        let AnyRequest::AlterUserScramCredentials(request) = &seen[0].2 else {
            panic!()
        };
        let u = &request.upsertions[0];
        assert_eq!((u.mechanism, u.iterations), (2, 4096));
        assert!(u.salt.len() >= 20);
        // RFC 5802: SaltedPassword := Hi(password, salt, i), PBKDF2 with HMAC.
        let expected = pbkdf2::pbkdf2_hmac_array::<sha2::Sha512, 64>(b"pencil", &u.salt, 4096);
        assert_eq!(&u.salted_password[..], &expected[..]);
        assert!(!u.salted_password.windows(6).any(|w| w == b"pencil"));
    }
    let deleted = admin
        .delete_user_scram_credentials(&[("ghost", ScramMechanism::Sha256)])
        .await;
    let err = deleted.get("ghost").unwrap().as_ref().unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::ResourceNotFound));
    assert!(err.to_string().contains("no such user"), "{err}");

    let described = admin
        .describe_user_scram_credentials(&["alice", "bob"])
        .await;
    let alice = described.get("alice").unwrap().as_ref().unwrap();
    assert_eq!(alice[0].mechanism, ScramMechanism::Sha256);
    assert_eq!(alice[1].iterations, 8192);
    assert_eq!(
        described.get("bob").unwrap().as_ref().unwrap_err().code(),
        Some(ErrorCode::ResourceNotFound)
    );
}
