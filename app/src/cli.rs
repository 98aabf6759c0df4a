//! Command-line flags of a worker process, for services built on the app.

use std::collections::BTreeMap;

use crate::config::AppConfig;
use crate::error::AppError;

/// The flags every worker takes. Flatten them into the service's own
/// `clap` parser:
///
/// ```
/// use clap::Parser;
/// use klamm_app::WorkerArgs;
///
/// #[derive(Parser)]
/// struct Cli {
///     #[command(flatten)]
///     worker: WorkerArgs,
/// }
///
/// let cli = Cli::parse_from([
///     "svc", "--bootstrap-servers", "k1:9092", "--topic-prefix", "prod.",
///     "--client-properties", r#"{"linger.ms": 5, "client.id": "svc"}"#,
///     "--replication-factor", "2",
/// ]);
/// let config = cli.worker.to_config().unwrap();
/// assert_eq!(config.topic_prefix, "prod.");
/// assert_eq!(config.properties["linger.ms"], "5");
/// assert_eq!(config.replication_factor, Some(2));
/// ```
#[derive(Debug, Clone, clap::Args)]
pub struct WorkerArgs {
    /// Brokers to bootstrap from, `host:port,...`.
    #[arg(long, env = "KLAMM_BOOTSTRAP", default_value = "localhost:9092")]
    pub bootstrap_servers: String,
    /// Kafka client properties as a JSON object, e.g. `{"linger.ms": 5}`
    /// (strings, numbers and booleans).
    #[arg(long, value_name = "JSON")]
    pub client_properties: Option<String>,
    /// Prefix of every stream's topic, e.g. `prod.`.
    #[arg(long, default_value = "")]
    pub topic_prefix: String,
    /// Replication factor of created topics (default: min(brokers, 3)).
    #[arg(long)]
    pub replication_factor: Option<i16>,
    /// Create the declared streams' topics before starting.
    #[arg(long)]
    pub create_topics: bool,
}

impl WorkerArgs {
    /// The app configuration these flags describe.
    pub fn to_config(&self) -> Result<AppConfig, AppError> {
        let mut config =
            AppConfig::new(self.bootstrap_servers.clone()).topic_prefix(self.topic_prefix.clone());
        config.replication_factor = self.replication_factor;
        if let Some(json) = &self.client_properties {
            config.properties = parse_properties(json)?;
        }
        Ok(config)
    }
}

/// A JSON object of properties; numbers and booleans become their text.
pub fn parse_properties(json: &str) -> Result<BTreeMap<String, String>, AppError> {
    let value: serde_json::Value = serde_json::from_str(json)
        .map_err(|e| AppError::config(format!("client properties are not JSON: {e}")))?;
    let serde_json::Value::Object(map) = value else {
        return Err(AppError::config(
            "client properties must be a JSON object of property names to values",
        ));
    };
    map.into_iter()
        .map(|(k, v)| {
            let text = match v {
                serde_json::Value::String(s) => s,
                serde_json::Value::Number(n) => n.to_string(),
                serde_json::Value::Bool(b) => b.to_string(),
                other => {
                    return Err(AppError::config(format!(
                        "client property `{k}` must be a string, number or boolean, not {other}"
                    )));
                }
            };
            Ok((k, text))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_json() {
        let p = parse_properties(r#"{"a": "x", "b": 5, "c": true}"#).unwrap();
        assert_eq!(p["a"], "x");
        assert_eq!(p["b"], "5");
        assert_eq!(p["c"], "true");
        assert!(parse_properties("[1]").is_err());
        assert!(parse_properties(r#"{"a": null}"#).is_err());
        assert!(parse_properties(r#"{"a": {"b": 1}}"#).is_err());
        assert!(parse_properties("{").is_err());
    }
}
