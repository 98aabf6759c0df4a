//! Topic pre-creation from the declared streams.

use std::collections::BTreeSet;

use klamm::admin::{Admin, NewTopic};
use klamm::protocol::ErrorCode;

use crate::app::App;
use crate::error::AppError;
use crate::policy::Exhausted;

/// Kafka's usual ceiling for a default replication factor.
const MAX_DEFAULT_REPLICATION: usize = 3;

impl App {
    /// Creates the topic of every declared stream and of every dead-letter
    /// stream the subscriptions name, skipping those that exist. Each gets
    /// its stream's partitions, replication factor and retention, else the
    /// app's partitions and replication factor, else min(brokers, 3)
    /// replicas. Returns the topics created.
    pub async fn create_topics(&self) -> Result<Vec<String>, AppError> {
        let config = self.config();
        let mut brokers = self.client().metadata().brokers.len();
        if brokers == 0 {
            brokers = self.client().refresh_metadata().await?.brokers.len();
        }
        let default_rf = config
            .replication_factor
            .unwrap_or(brokers.clamp(1, MAX_DEFAULT_REPLICATION) as i16);
        let mut topics = Vec::new();
        let mut names = BTreeSet::new();
        for def in self.streams() {
            let name = config.topic_for(def.name());
            let mut topic = NewTopic::new(
                name.clone(),
                def.partition_count().unwrap_or(config.partitions),
                def.replication().unwrap_or(default_rf),
            );
            if let Some(retention) = def.retention_time() {
                topic = topic.config("retention.ms", retention.as_millis().to_string());
            }
            for (k, v) in def.configs() {
                topic = topic.config(k.clone(), v.clone());
            }
            names.insert(name);
            topics.push(topic);
        }
        for sub in self.subscriptions() {
            if let Exhausted::DeadLetter(stream) = sub.policy.exhausted() {
                let name = config.topic_for(stream);
                if names.insert(name.clone()) {
                    topics.push(NewTopic::new(name, config.partitions, default_rf));
                }
            }
        }
        if topics.is_empty() {
            return Ok(Vec::new());
        }
        let admin = Admin::new(self.client().clone());
        let mut created = Vec::new();
        for (topic, result) in admin.create_topics(&topics, false).await.iter() {
            match result {
                Ok(_) => created.push(topic.clone()),
                Err(e) if e.code() == Some(ErrorCode::TopicAlreadyExists) => {}
                Err(e) => {
                    return Err(AppError::CreateTopic {
                        topic: topic.clone(),
                        source: Box::new(e.clone()),
                    });
                }
            }
        }
        if !created.is_empty() {
            tracing::info!(topics = ?created, "created stream topics");
        }
        Ok(created)
    }
}
