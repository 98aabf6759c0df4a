//! The admin client's cluster, ACL and SCRAM operations against the real
//! broker (tansu). Where tansu lacks an API the test checks the admin's
//! "unsupported" error names it; where tansu answers something the schema
//! forbids, the test states what tansu sends. Both paths are covered in
//! full on the mock cluster (client/src/admin/tests_more.rs).

use std::time::Duration;

use klamm::admin::{
    AclBinding, AclFilter, AclOperation, AclPermission, Admin, PatternType, ResourceType,
    ScramMechanism, ScramUpsert,
};
use klamm::{ClientConfig, Error};
use klamm_tests::{broker, unique_topic};

async fn admin() -> Admin {
    let config = ClientConfig::builder()
        .bootstrap([broker()])
        .client_id("klamm-admin-tests")
        .request_timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    Admin::connect(config)
        .await
        .unwrap()
        .with_timeout(Duration::from_secs(2))
}

fn assert_unsupported(err: &Error, api: &str) {
    match err {
        Error::UnsupportedApi {
            api: named, theirs, ..
        } => {
            assert_eq!(*named, api);
            assert!(theirs.0.is_none(), "{err}");
        }
        other => panic!("expected {api} unsupported, got {other:?}"),
    }
    assert!(err.to_string().contains(api), "{err}");
}

/// tansu answers some responses with a null `Results` array, which the
/// schema does not allow; klamm refuses it as a decode error naming the field.
fn assert_null_results(err: &Error, api: &str) {
    match err {
        Error::Decode {
            api: named, source, ..
        } => {
            assert_eq!(*named, api);
            assert!(source.to_string().contains("Results"), "{source}");
        }
        other => panic!("expected a decode error for {api}, got {other:?}"),
    }
}

#[tokio::test]
async fn describes_the_cluster() {
    let admin = admin().await;
    let cluster = admin.describe_cluster().await.unwrap();
    let meta = admin.client().metadata();
    assert!(
        cluster
            .cluster_id
            .as_deref()
            .is_some_and(|id| !id.is_empty())
    );
    let controller = cluster.controller.expect("a controller");
    assert!(cluster.brokers.iter().any(|b| b.id == controller));
    let ids: Vec<i32> = cluster.brokers.iter().map(|b| b.id).collect();
    assert_eq!(ids, meta.brokers.keys().copied().collect::<Vec<_>>());
    for b in &cluster.brokers {
        assert_eq!(meta.brokers[&b.id].addr.port, b.port);
    }
    // tansu does not report authorized operations.
    assert_eq!(cluster.authorized_operations, None);
}

#[tokio::test]
async fn apis_tansu_lacks_are_named() {
    // tansu 0.6.0 offers none of DescribeLogDirs, DescribeProducers,
    // ListTransactions, DescribeTransactions, DeleteAcls.
    let admin = admin().await;
    let id = *admin.client().metadata().brokers.keys().next().unwrap();
    let err = admin
        .describe_log_dirs(&[id])
        .await
        .into_result()
        .unwrap_err();
    assert_unsupported(&err, "DescribeLogDirs");
    let topic = unique_topic("admin-producers");
    admin
        .create_topics(&[klamm::admin::NewTopic::new(&topic, 1, 1)], false)
        .await
        .into_result()
        .unwrap();
    let err = admin
        .describe_producers(&[(topic.clone(), 0)])
        .await
        .into_result()
        .unwrap_err();
    assert_unsupported(&err, "DescribeProducers");
    let err = admin.list_transactions(&[], &[]).await.unwrap_err();
    assert_unsupported(&err, "ListTransactions");
    let err = admin
        .describe_transactions(&["txn"])
        .await
        .into_result()
        .unwrap_err();
    assert_unsupported(&err, "DescribeTransactions");
    let err = admin
        .delete_acls(&[AclFilter::any()])
        .await
        .into_result()
        .unwrap_err();
    assert_unsupported(&err, "DeleteAcls");
}

#[tokio::test]
async fn acls_on_tansu() {
    let admin = admin().await;
    // tansu keeps no ACLs: DescribeAcls answers none.
    assert_eq!(
        admin.describe_acls(&AclFilter::any()).await.unwrap(),
        vec![]
    );
    // CreateAcls: tansu answers a null `Results` array.
    let acl = AclBinding {
        resource_type: ResourceType::Topic,
        resource_name: unique_topic("admin-acl"),
        pattern_type: PatternType::Literal,
        principal: "User:alice".into(),
        host: "*".into(),
        operation: AclOperation::Read,
        permission: AclPermission::Allow,
    };
    let err = admin.create_acls(&[acl]).await.into_result().unwrap_err();
    assert_null_results(&err, "CreateAcls");
}

#[tokio::test]
async fn scram_credentials_on_tansu() {
    // tansu's memory storage acknowledges SCRAM upserts and deletions and
    // stores nothing (tests/README.md), and answers DescribeUserScram-
    // Credentials with a null `Results` array.
    let admin = admin().await;
    let user = unique_topic("admin-user");
    admin
        .upsert_user_scram_credentials(&[ScramUpsert {
            user: user.clone(),
            mechanism: ScramMechanism::Sha256,
            password: "secret".into(),
            iterations: 4096,
        }])
        .await
        .into_result()
        .unwrap();
    let err = admin
        .describe_user_scram_credentials(&[&user])
        .await
        .into_result()
        .unwrap_err();
    assert_null_results(&err, "DescribeUserScramCredentials");
    admin
        .delete_user_scram_credentials(&[(&user, ScramMechanism::Sha256)])
        .await
        .into_result()
        .unwrap();
}
