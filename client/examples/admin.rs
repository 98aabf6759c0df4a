//! The admin client against a running broker: creates a topic, describes
//! it and its configs, lists offsets, describes the cluster, deletes the
//! topic.
//!
//! ```sh
//! KLAMM_BOOTSTRAP=127.0.0.1:9092 cargo run -p klamm --example admin
//! ```

use klamm::ClientConfig;
use klamm::admin::{Admin, ConfigResource, NewTopic, OffsetSpec, TopicRef};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), klamm::Error> {
    let bootstrap = std::env::var("KLAMM_BOOTSTRAP").unwrap_or_else(|_| "127.0.0.1:9092".into());
    let admin = Admin::connect(ClientConfig::from_pairs([(
        "bootstrap.servers",
        bootstrap.as_str(),
    )])?)
    .await?;

    let cluster = admin.describe_cluster().await?;
    println!(
        "cluster {:?}, controller {:?}",
        cluster.cluster_id, cluster.controller
    );
    for broker in &cluster.brokers {
        println!("  broker {} at {}:{}", broker.id, broker.host, broker.port);
    }

    let topic = format!("klamm-admin-example-{}", std::process::id());
    let created = admin
        .create_topics(
            &[NewTopic::new(&topic, 3, 1).config("retention.ms", "3600000")],
            false,
        )
        .await;
    for (name, outcome) in created.iter() {
        match outcome {
            Ok(t) => println!("created {name} (id {})", t.topic_id),
            Err(e) => println!("{name}: {e}"),
        }
    }

    for description in admin.describe_topics(&[&topic]).await.into_result()? {
        for p in &description.partitions {
            println!(
                "  partition {} leader {:?} replicas {:?} isr {:?}",
                p.partition, p.leader, p.replicas, p.isr
            );
        }
    }
    for entries in admin
        .describe_configs(&[ConfigResource::topic(&topic)])
        .await
        .into_result()?
    {
        for e in entries {
            println!("  {} = {:?} ({:?})", e.name, e.value, e.source);
        }
    }
    let specs: Vec<_> = (0..3)
        .map(|p| ((topic.clone(), p), OffsetSpec::Latest))
        .collect();
    for ((t, p), outcome) in admin.list_offsets(&specs).await {
        println!("  {t}-{p} latest: {:?}", outcome.map(|o| o.offset));
    }

    admin
        .delete_topics(&[TopicRef::from(topic.as_str())])
        .await
        .into_result()?;
    println!("deleted {topic}");
    Ok(())
}
