//! Command-line flags (each also an environment variable) and the producer
//! properties the service starts from.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use clap::Parser;

/// Producer properties the service sets unless `-X` overrides them.
///
/// `max.block.ms`: how long `send_tagged` and `send_with_callback`
/// (variants 3 and 4) may wait for buffer space or topic metadata before
/// the request is answered 503. Kafka's default of 60 s would hold HTTP requests (and their memory) for
/// a minute under overload; a short bound turns overload into quick 503s.
///
/// `linger.ms`: 1 instead of the producer's 5. An awaiting request waits
/// for its batch to leave, so the linger is added to its latency, and with
/// a fixed number of clients each waiting for its answer the latency caps
/// the request rate (400 connections at 400 connections / latency): the
/// await endpoint served 53,000 requests/s at 5 ms and 87,000 at 1 ms in
/// the load test, while the other endpoints, which do not wait, batch as
/// well at 1 ms under load (README, "Results").
pub const SERVICE_DEFAULTS: &[(&str, &str)] = &[("max.block.ms", "100"), ("linger.ms", "1")];

/// Produce to Kafka from an HTTP endpoint, five ways.
#[derive(Debug, Clone, Parser)]
#[command(version, about)]
pub struct Args {
    /// Kafka bootstrap servers, `host:port[,host:port...]`.
    #[arg(long, env = "KLAMM_BOOTSTRAP", default_value = "127.0.0.1:9092")]
    pub bootstrap: String,
    /// Topic the items are produced to (it must exist).
    #[arg(long, env = "WEB_TOPIC", default_value = "items")]
    pub topic: String,
    /// Address to listen on.
    #[arg(long, env = "WEB_HOST", default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    pub host: IpAddr,
    /// Port to listen on (0: any free port; the chosen one is printed).
    #[arg(long, env = "WEB_PORT", default_value_t = 8080)]
    pub port: u16,
    /// A producer or client property, `name=value` (Kafka's names, e.g.
    /// `linger.ms=5`, `acks=1`, `buffer.memory=1048576`); repeat the flag,
    /// or give a comma-separated list in the variable.
    #[arg(short = 'X', long = "property", env = "WEB_PRODUCER_PROPERTIES", value_delimiter = ',', value_parser = parse_property)]
    pub properties: Vec<(String, String)>,
    /// Create the topic with this many partitions (replication factor 1)
    /// at start-up if it does not exist yet.
    #[arg(long, env = "WEB_CREATE_TOPIC", value_name = "PARTITIONS")]
    pub create_topic: Option<i32>,
    /// Tokio worker threads (default: one per core).
    #[arg(long, env = "WEB_WORKERS")]
    pub workers: Option<usize>,
    /// How long shutdown waits for queued records to be delivered.
    #[arg(long, env = "WEB_CLOSE_TIMEOUT_MS", default_value_t = 10_000)]
    pub close_timeout_ms: u64,
    /// Capacity of the channel from callbacks to the outcome task (variant 4).
    #[arg(long, env = "WEB_OUTCOME_CAPACITY", default_value_t = 65_536)]
    pub outcome_capacity: usize,
    /// Log level (`error`, `warn`, `info`, `debug`, `trace`).
    #[arg(long, env = "WEB_LOG", default_value = "info")]
    pub log: tracing::Level,
}

fn parse_property(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.trim().to_owned())),
        _ => Err(format!("expected name=value, got {s:?}")),
    }
}

/// What [`crate::service::run`] needs, independent of how it was given.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Kafka bootstrap servers.
    pub bootstrap: String,
    /// The topic.
    pub topic: String,
    /// Extra producer/client properties, applied over [`SERVICE_DEFAULTS`].
    pub properties: Vec<(String, String)>,
    /// Shutdown's wait for queued records.
    pub close_timeout: Duration,
    /// Variant 4's channel capacity.
    pub outcome_capacity: usize,
    /// Create the topic with this many partitions if it is missing.
    pub create_partitions: Option<i32>,
}

impl Settings {
    /// Settings for `bootstrap` and `topic` with the service's defaults.
    pub fn new(bootstrap: impl Into<String>, topic: impl Into<String>) -> Self {
        Settings {
            bootstrap: bootstrap.into(),
            topic: topic.into(),
            properties: Vec::new(),
            close_timeout: Duration::from_secs(10),
            outcome_capacity: 65_536,
            create_partitions: None,
        }
    }

    /// Adds a producer/client property (later ones win).
    pub fn property(mut self, name: &str, value: &str) -> Self {
        self.properties.push((name.to_owned(), value.to_owned()));
        self
    }

    /// The properties the producer is built from: bootstrap, the service's
    /// defaults, then the user's, each name once (the last value wins).
    pub fn producer_pairs(&self) -> Vec<(String, String)> {
        let mut pairs: Vec<(String, String)> =
            vec![("bootstrap.servers".into(), self.bootstrap.clone())];
        let given = SERVICE_DEFAULTS
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .chain(self.properties.iter().cloned());
        for (k, v) in given {
            match pairs.iter_mut().find(|(name, _)| *name == k) {
                Some(slot) => slot.1 = v,
                None => pairs.push((k, v)),
            }
        }
        pairs
    }
}

impl From<&Args> for Settings {
    fn from(a: &Args) -> Self {
        Settings {
            bootstrap: a.bootstrap.clone(),
            topic: a.topic.clone(),
            properties: a.properties.clone(),
            close_timeout: Duration::from_millis(a.close_timeout_ms),
            outcome_capacity: a.outcome_capacity,
            create_partitions: a.create_topic,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_and_properties_parse_and_user_values_win() {
        let args = Args::try_parse_from([
            "svc",
            "--bootstrap",
            "k:9092",
            "-X",
            "linger.ms=1",
            "-X",
            "max.block.ms = 7",
            "--port",
            "0",
        ])
        .unwrap();
        let s = Settings::from(&args);
        assert_eq!(args.port, 0);
        assert_eq!(
            s.producer_pairs(),
            vec![
                ("bootstrap.servers".to_owned(), "k:9092".to_owned()),
                ("max.block.ms".to_owned(), "7".to_owned()),
                ("linger.ms".to_owned(), "1".to_owned()),
            ]
        );
        assert!(Args::try_parse_from(["svc", "-X", "novalue"]).is_err());
        assert!(Args::try_parse_from(["svc", "-X", "=1"]).is_err());
    }
}
