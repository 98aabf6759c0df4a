//! [`AppConfig`]: where the app connects and how it names, creates and
//! commits; client properties pass through to Klamm's layers.

use std::collections::BTreeMap;
use std::time::Duration;

use klamm::ClientConfig;
use klamm::config::Properties;
use klamm::consumer::ConsumerConfig;
use klamm::producer::ProducerConfig;

use crate::error::AppError;
use crate::stream::check_name;

/// Settings of an [`App`](crate::App).
///
/// ```
/// use std::time::Duration;
/// use klamm_app::AppConfig;
/// let config = AppConfig::new("localhost:9092")
///     .topic_prefix("prod.")
///     .property("linger.ms", "5")
///     .auto_commit_interval(Duration::from_secs(1));
/// assert_eq!(config.topic_for("content.created"), "prod.content.created");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AppConfig {
    /// `host:port,...` of the brokers.
    pub bootstrap_servers: String,
    /// Prepended to every stream name to make its topic (e.g. `prod.`).
    pub topic_prefix: String,
    /// Kafka properties for the client, producer and consumers (Klamm's
    /// names, see the `klamm` README); `bootstrap.servers` and `group.id`
    /// come from the app. A property no layer knows is an error.
    pub properties: BTreeMap<String, String>,
    /// Commit what the handlers finished every `auto_commit_interval`
    /// (default true). Off: handlers commit with `Context::commit`.
    pub auto_commit: bool,
    /// How often auto-commit commits (default 5 s).
    pub auto_commit_interval: Duration,
    /// Replication factor of created topics (default min(brokers, 3)).
    pub replication_factor: Option<i16>,
    /// Partitions of created topics (default 3).
    pub partitions: i32,
}

impl AppConfig {
    /// Defaults, connecting to `bootstrap_servers`.
    pub fn new(bootstrap_servers: impl Into<String>) -> Self {
        Self {
            bootstrap_servers: bootstrap_servers.into(),
            topic_prefix: String::new(),
            properties: BTreeMap::new(),
            auto_commit: true,
            auto_commit_interval: Duration::from_secs(5),
            replication_factor: None,
            partitions: 3,
        }
    }

    /// Sets the topic prefix.
    pub fn topic_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.topic_prefix = prefix.into();
        self
    }

    /// Sets one Kafka property.
    pub fn property(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.properties.insert(key.into(), value.into());
        self
    }

    /// Turns auto-commit on or off.
    pub fn auto_commit(mut self, on: bool) -> Self {
        self.auto_commit = on;
        self
    }

    /// Sets the auto-commit interval.
    pub fn auto_commit_interval(mut self, interval: Duration) -> Self {
        self.auto_commit_interval = interval;
        self
    }

    /// Sets the replication factor of created topics.
    pub fn replication_factor(mut self, factor: i16) -> Self {
        self.replication_factor = Some(factor);
        self
    }

    /// Sets the partitions of created topics.
    pub fn partitions(mut self, partitions: i32) -> Self {
        self.partitions = partitions;
        self
    }

    /// The topic of `stream`.
    pub fn topic_for(&self, stream: &str) -> String {
        format!("{}{stream}", self.topic_prefix)
    }

    /// Validates everything and splits the properties into the client's
    /// and the producer's settings; consumers take theirs per subscription
    /// ([`Self::consumer_config`]).
    pub(crate) fn layers(&self) -> Result<(ClientConfig, ProducerConfig), AppError> {
        check_name("topic prefix", &self.topic_prefix, true).map_err(AppError::config)?;
        if self.partitions < 1 {
            return Err(AppError::config(format!(
                "partitions must be at least 1, not {}",
                self.partitions
            )));
        }
        if let Some(rf) = self.replication_factor {
            if rf < 1 {
                return Err(AppError::config(format!(
                    "replication factor must be at least 1, not {rf}"
                )));
            }
        }
        for owned in ["bootstrap.servers", "group.id", "enable.auto.commit"] {
            if self.properties.contains_key(owned) {
                return Err(AppError::config(format!(
                    "property `{owned}` is set by the app (bootstrap servers, \
                     the subscription's group, auto-commit), not by client properties"
                )));
            }
        }
        let mut props = self.bag();
        let client = ClientConfig::from_properties(&mut props)?;
        // Producer and consumer share some names (retry.backoff.ms): each
        // layer reads its own copy, and a key is unknown only if neither
        // took it.
        let mut for_consumer = props.clone();
        let producer = ProducerConfig::from_properties(&mut props)?;
        ConsumerConfig::from_properties(&mut for_consumer)?;
        for key in self.properties.keys() {
            if props.take(key).is_some() && for_consumer.take(key).is_some() {
                return Err(klamm::Error::config(key.clone(), "unknown property").into());
            }
        }
        Ok((client, producer))
    }

    /// The settings of a subscription's consumer in `group`. The app
    /// commits itself (only what handlers finished), so the consumer's
    /// auto-commit is off; a new group starts at the beginning of each
    /// stream unless `auto.offset.reset` says otherwise.
    pub(crate) fn consumer_config(
        &self,
        group: &str,
    ) -> Result<(ClientConfig, ConsumerConfig), klamm::Error> {
        let mut props = self.bag();
        if !self.properties.contains_key("auto.offset.reset") {
            props.set("auto.offset.reset", "earliest");
        }
        props.set("group.id", group);
        props.set("enable.auto.commit", "false");
        let client = ClientConfig::from_properties(&mut props)?;
        let consumer = ConsumerConfig::from_properties(&mut props)?;
        consumer.validate()?;
        Ok((client, consumer))
    }

    fn bag(&self) -> Properties {
        let mut props: Properties = self.properties.clone().into_iter().collect();
        props.set("bootstrap.servers", self.bootstrap_servers.clone());
        props
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_reach_their_layers_and_typos_fail() {
        let config = AppConfig::new("127.0.0.1:1")
            .property("linger.ms", "7")
            .property("fetch.max.wait.ms", "10")
            .property("retry.backoff.ms", "250")
            .property("client.id", "svc");
        let (client, producer) = config.layers().unwrap();
        assert_eq!(client.client_id(), "svc");
        assert_eq!(producer.linger(), Duration::from_millis(7));
        assert_eq!(producer.retry_backoff(), Duration::from_millis(250));
        let (_, consumer) = config.consumer_config("g").unwrap();
        assert_eq!(consumer.fetch_max_wait, Duration::from_millis(10));
        assert_eq!(consumer.retry_backoff, Duration::from_millis(250));
        assert_eq!(consumer.group_id.as_deref(), Some("g"));
        assert!(!consumer.enable_auto_commit);
        assert_eq!(
            consumer.auto_offset_reset,
            klamm::consumer::OffsetReset::Earliest
        );

        let typo = AppConfig::new("127.0.0.1:1").property("lingr.ms", "7");
        let err = typo.layers().unwrap_err().to_string();
        assert!(err.contains("lingr.ms"), "{err}");
    }

    #[test]
    fn app_owned_properties_and_bad_values_are_refused() {
        for key in ["group.id", "bootstrap.servers", "enable.auto.commit"] {
            let c = AppConfig::new("h:1").property(key, "x");
            assert!(c.layers().unwrap_err().to_string().contains(key));
        }
        assert!(AppConfig::new("h:1").topic_prefix("a b").layers().is_err());
        assert!(AppConfig::new("h:1").partitions(0).layers().is_err());
        assert!(
            AppConfig::new("h:1")
                .replication_factor(0)
                .layers()
                .is_err()
        );
        let bad_value = AppConfig::new("h:1").property("linger.ms", "soon");
        assert!(
            bad_value
                .layers()
                .unwrap_err()
                .to_string()
                .contains("linger.ms")
        );
    }
}
