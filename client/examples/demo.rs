//! Connects to a broker, shows the negotiated API versions, creates a topic
//! through the generic request API and prints the cluster metadata.
//!
//! ```sh
//! KLAMM_BOOTSTRAP=127.0.0.1:9092 cargo run --release -p klamm --example demo
//! ```

use std::time::Duration;

use klamm::protocol::generated::CreateTopicsRequest;
use klamm::protocol::generated::create_topics::request::CreatableTopic;
use klamm::protocol::{ApiKey, ErrorCode, StrBytes};
use klamm::{Client, ClientConfig, ConnKind};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let bootstrap = std::env::var("KLAMM_BOOTSTRAP").unwrap_or_else(|_| "127.0.0.1:9092".into());
    let topic = std::env::var("KLAMM_DEMO_TOPIC").unwrap_or_else(|_| "klamm-demo".into());
    let config = ClientConfig::builder()
        .bootstrap(bootstrap.split(','))
        .client_id("klamm-demo")
        .request_timeout(Duration::from_secs(10))
        .build()?;

    let client = Client::connect(config).await?;
    let meta = client.metadata();
    let first = *meta
        .brokers
        .keys()
        .next()
        .ok_or("the cluster lists no broker")?;
    let conn = client.connection(first, ConnKind::Other).await?;
    println!("connected to broker {}", conn.broker().label());
    println!("negotiated versions (ours ∩ broker's → used):");
    for (key, theirs) in conn.versions().iter() {
        let Some(api) = ApiKey::from_i16(key) else {
            continue;
        };
        let ours = api.valid_versions();
        match ours.highest_common(&theirs) {
            Some(v) => println!(
                "  {:<28} ours {:<6} broker {:<6} → v{v}",
                api.name(),
                ours.to_string(),
                theirs.to_string()
            ),
            None => println!(
                "  {:<28} ours {:<6} broker {:<6} → none",
                api.name(),
                ours.to_string(),
                theirs.to_string()
            ),
        }
    }

    let request = CreateTopicsRequest::default()
        .with_topics(vec![
            CreatableTopic::default()
                .with_name(StrBytes::from(topic.as_str()))
                .with_num_partitions(3)
                .with_replication_factor(1),
        ])
        .with_timeout_ms(10_000);
    // CreateTopics routes to the controller (`Request::ROUTE`).
    let response = client.send(&request).await?;
    for result in &response.topics {
        match ErrorCode::from_code(result.error_code) {
            ErrorCode::None => println!("created topic {}", result.name),
            ErrorCode::TopicAlreadyExists => println!("topic {} already exists", result.name),
            code => println!("creating {} failed: {}", result.name, code.name()),
        }
    }

    let meta = client.add_topics([topic.as_str()]).await?;
    println!("\n{meta}");
    Ok(())
}
