//! The admin client's config operations against the real broker (tansu).
//!
//! Not sent here, on purpose: IncrementalAlterConfigs APPEND and SUBTRACT.
//! tansu 0.6.0's memory storage answers them with `todo!()` (dynostore.rs,
//! `alter_topic`): the broker thread panics, the connection drops, and every
//! later DescribeConfigs for that broker panics too, which would break the
//! other tests sharing the broker. Apache Kafka applies them to list
//! configs; the requests built and the responses read are tested on the mock
//! cluster (client/src/admin/tests), and the legacy fallback's list
//! arithmetic in client/src/admin/configs.rs's unit tests.

use std::time::Duration;

use klamm::ClientConfig;
use klamm::admin::{Admin, AlterConfigOp, ConfigResource, ConfigSource, NewTopic};
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
        .with_timeout(Duration::from_secs(15))
}

fn value(entries: &[klamm::admin::ConfigEntry], name: &str) -> Option<String> {
    entries
        .iter()
        .find(|e| e.name == name)
        .and_then(|e| e.value.clone())
}

#[tokio::test]
async fn describes_and_alters_topic_configs_incrementally() {
    let admin = admin().await;
    let topic = unique_topic("admin-configs");
    admin
        .create_topics(
            &[NewTopic::new(&topic, 1, 1).config("cleanup.policy", "compact")],
            false,
        )
        .await
        .into_result()
        .unwrap();
    let resource = ConfigResource::topic(&topic);
    let described = admin
        .describe_configs(std::slice::from_ref(&resource))
        .await;
    let entries = described.get(&resource).unwrap().as_ref().unwrap();
    assert_eq!(value(entries, "cleanup.policy").as_deref(), Some("compact"));
    let entry = entries.iter().find(|e| e.name == "cleanup.policy").unwrap();
    assert!(!entry.read_only && !entry.sensitive);
    // Apache Kafka reports a value set on the topic as DYNAMIC_TOPIC_CONFIG
    // with its broker-level synonyms; tansu 0.6.0 lists only the values set
    // on the topic, reports their source as DEFAULT_CONFIG and sends no
    // synonyms. Source and synonym decoding is tested on the mock cluster.
    assert_eq!(entry.source, ConfigSource::Default);

    admin
        .incremental_alter_configs(
            &[(
                resource.clone(),
                vec![
                    AlterConfigOp::Set("retention.ms".into(), "1234".into()),
                    AlterConfigOp::Delete("cleanup.policy".into()),
                ],
            )],
            false,
        )
        .await
        .into_result()
        .unwrap();
    let described = admin
        .describe_configs(std::slice::from_ref(&resource))
        .await;
    let entries = described.into_result().unwrap().remove(0);
    assert_eq!(value(&entries, "retention.ms").as_deref(), Some("1234"));
    assert_eq!(value(&entries, "cleanup.policy"), None);
}

#[tokio::test]
async fn describes_broker_configs() {
    let admin = admin().await;
    let broker_id = *admin.client().metadata().brokers.keys().next().unwrap();
    let resource = ConfigResource::broker(broker_id);
    let described = admin
        .describe_configs(std::slice::from_ref(&resource))
        .await;
    let entries = described.get(&resource).unwrap().as_ref().unwrap();
    // Apache Kafka lists every broker config with its source; tansu 0.6.0
    // answers a broker resource with no error and no configs. Broker config
    // decoding is tested on the mock cluster.
    assert!(entries.is_empty(), "{entries:?}");
}
