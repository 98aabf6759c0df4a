//! Configs: describe (with synonyms and sources), incremental alter (set,
//! delete, append, subtract), and the legacy whole-set AlterConfigs that
//! stands in when a broker lacks IncrementalAlterConfigs.

use std::fmt;

use klamm_protocol::generated::alter_configs::request::{
    AlterConfigsResource as LegacyResource, AlterableConfig as LegacyConfig,
};
use klamm_protocol::generated::describe_configs::request::DescribeConfigsResource;
use klamm_protocol::generated::describe_configs::response::DescribeConfigsResult;
use klamm_protocol::generated::incremental_alter_configs::request::{
    AlterConfigsResource, AlterableConfig,
};
use klamm_protocol::generated::{
    AlterConfigsRequest, AlterConfigsResponse, DescribeConfigsRequest, DescribeConfigsResponse,
    IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse,
};

use super::call::{check, text};
use super::{Admin, ItemResults};
use crate::client::{Client, Target};
use crate::error::{Error, ErrorContext};

/// The kind of thing a config belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConfigResourceType {
    /// A topic (name: the topic).
    Topic,
    /// A broker (name: its id, or empty for the cluster-wide default).
    Broker,
    /// A broker's loggers (name: the broker id).
    BrokerLogger,
    /// Client metrics subscriptions.
    ClientMetrics,
    /// A consumer group.
    Group,
    /// A type this client does not know.
    Unknown(i8),
}

impl ConfigResourceType {
    /// Kafka's code for it.
    pub fn code(self) -> i8 {
        match self {
            Self::Topic => 2,
            Self::Broker => 4,
            Self::BrokerLogger => 8,
            Self::ClientMetrics => 16,
            Self::Group => 32,
            Self::Unknown(c) => c,
        }
    }

    /// The type for Kafka's code.
    pub fn from_code(code: i8) -> Self {
        match code {
            2 => Self::Topic,
            4 => Self::Broker,
            8 => Self::BrokerLogger,
            16 => Self::ClientMetrics,
            32 => Self::Group,
            c => Self::Unknown(c),
        }
    }
}

/// A thing that has configs: a topic, a broker, ...
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ConfigResource {
    /// Its type.
    pub resource_type: ConfigResourceType,
    /// Its name (topic name, broker id).
    pub name: String,
}

impl ConfigResource {
    /// A topic's configs.
    pub fn topic(name: impl Into<String>) -> Self {
        Self {
            resource_type: ConfigResourceType::Topic,
            name: name.into(),
        }
    }

    /// A broker's configs.
    pub fn broker(id: i32) -> Self {
        Self {
            resource_type: ConfigResourceType::Broker,
            name: id.to_string(),
        }
    }

    /// Broker and logger configs are read and written at that broker;
    /// everything else at any broker.
    fn target(&self) -> Target {
        match self.resource_type {
            ConfigResourceType::Broker | ConfigResourceType::BrokerLogger => {
                match self.name.parse::<i32>() {
                    Ok(id) => Target::Broker(id),
                    Err(_) => Target::AnyBroker,
                }
            }
            _ => Target::AnyBroker,
        }
    }

    fn context(&self) -> ErrorContext {
        match self.resource_type {
            ConfigResourceType::Topic => ErrorContext::default().with_topic(&self.name),
            ConfigResourceType::Broker | ConfigResourceType::BrokerLogger => {
                match self.name.parse::<i32>() {
                    Ok(id) => ErrorContext::broker(id),
                    Err(_) => ErrorContext::default(),
                }
            }
            _ => ErrorContext::default(),
        }
    }
}

impl fmt::Display for ConfigResource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} {}", self.resource_type, self.name)
    }
}

/// Where a config value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConfigSource {
    /// Not known (DescribeConfigs v0 reports no source).
    Unknown,
    /// Set on the topic.
    DynamicTopic,
    /// Set dynamically for this broker.
    DynamicBroker,
    /// Set dynamically as the cluster-wide broker default.
    DynamicDefaultBroker,
    /// From the broker's static configuration file.
    StaticBroker,
    /// Kafka's built-in default.
    Default,
    /// Set dynamically on a broker logger.
    DynamicBrokerLogger,
    /// A client metrics subscription.
    ClientMetrics,
    /// Set on a group.
    Group,
    /// A code this client does not know.
    Other(i8),
}

impl ConfigSource {
    /// The source for Kafka's code.
    pub fn from_i8(code: i8) -> Self {
        match code {
            0 => Self::Unknown,
            1 => Self::DynamicTopic,
            2 => Self::DynamicBroker,
            3 => Self::DynamicDefaultBroker,
            4 => Self::StaticBroker,
            5 => Self::Default,
            6 => Self::DynamicBrokerLogger,
            7 => Self::ClientMetrics,
            8 => Self::Group,
            c => Self::Other(c),
        }
    }

    /// Whether the value was set on the resource itself (what the legacy
    /// AlterConfigs must resend to keep it).
    fn set_on(self, resource: ConfigResourceType) -> bool {
        matches!(
            (self, resource),
            (Self::DynamicTopic, ConfigResourceType::Topic)
                | (Self::DynamicBroker, ConfigResourceType::Broker)
                | (Self::DynamicDefaultBroker, ConfigResourceType::Broker)
                | (Self::DynamicBrokerLogger, ConfigResourceType::BrokerLogger)
                | (Self::Group, ConfigResourceType::Group)
                | (Self::ClientMetrics, ConfigResourceType::ClientMetrics)
        )
    }
}

/// Another value a config has at a lower precedence.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConfigSynonym {
    /// The synonym's name (e.g. `log.retention.ms` for `retention.ms`).
    pub name: String,
    /// Its value (`None` when sensitive).
    pub value: Option<String>,
    /// Where it comes from.
    pub source: ConfigSource,
}

/// One config of a resource.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConfigEntry {
    /// The config's name.
    pub name: String,
    /// Its value (`None` when sensitive or unset).
    pub value: Option<String>,
    /// Whether it cannot be changed.
    pub read_only: bool,
    /// Whether the value is hidden.
    pub sensitive: bool,
    /// Where the value comes from.
    pub source: ConfigSource,
    /// Values at lower precedence, highest first (when asked for).
    pub synonyms: Vec<ConfigSynonym>,
}

/// One change of an incremental alter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlterConfigOp {
    /// Sets a value.
    Set(String, String),
    /// Removes the value set on the resource (back to its default).
    Delete(String),
    /// Adds to a list-valued config.
    Append(String, String),
    /// Removes from a list-valued config.
    Subtract(String, String),
}

impl AlterConfigOp {
    fn name(&self) -> &str {
        match self {
            Self::Set(n, _) | Self::Delete(n) | Self::Append(n, _) | Self::Subtract(n, _) => n,
        }
    }

    fn to_request(&self) -> AlterableConfig {
        let (code, value) = match self {
            Self::Set(_, v) => (0, Some(v)),
            Self::Delete(_) => (1, None),
            Self::Append(_, v) => (2, Some(v)),
            Self::Subtract(_, v) => (3, Some(v)),
        };
        AlterableConfig::default()
            .with_name(text(self.name()))
            .with_config_operation(code)
            .with_value(value.map(|v| text(v)))
    }

    /// Applies the change to a current value, as the broker would for a
    /// list config (comma-separated).
    fn apply(&self, current: Option<&str>) -> Option<String> {
        let items = |v: Option<&str>| -> Vec<String> {
            v.unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        };
        match self {
            Self::Set(_, v) => Some(v.clone()),
            Self::Delete(_) => None,
            Self::Append(_, v) => {
                let mut list = items(current);
                for item in items(Some(v)) {
                    if !list.contains(&item) {
                        list.push(item);
                    }
                }
                Some(list.join(","))
            }
            Self::Subtract(_, v) => {
                let remove = items(Some(v));
                let list: Vec<String> = items(current)
                    .into_iter()
                    .filter(|i| !remove.contains(i))
                    .collect();
                Some(list.join(","))
            }
        }
    }
}

fn route(_: &Client, resource: &ConfigResource) -> Result<Target, Error> {
    Ok(resource.target())
}

pub(super) fn build_describe(resources: &[ConfigResource], version: i16) -> DescribeConfigsRequest {
    DescribeConfigsRequest::default()
        .with_resources(
            resources
                .iter()
                .map(|r| {
                    DescribeConfigsResource::default()
                        .with_resource_type(r.resource_type.code())
                        .with_resource_name(text(&r.name))
                        .with_configuration_keys(None)
                })
                .collect(),
        )
        .with_include_synonyms(version >= 1)
}

pub(super) fn parse_describe(
    result: DescribeConfigsResult,
) -> (ConfigResource, Result<Vec<ConfigEntry>, Error>) {
    let resource = ConfigResource {
        resource_type: ConfigResourceType::from_code(result.resource_type),
        name: result.resource_name.as_str().to_owned(),
    };
    let outcome = check(
        "DescribeConfigs",
        result.error_code,
        result.error_message.as_ref(),
        resource.context(),
    )
    .map(|()| {
        let mut entries: Vec<ConfigEntry> = result
            .configs
            .into_iter()
            .map(|c| ConfigEntry {
                name: c.name.as_str().to_owned(),
                value: c.value.map(|v| v.as_str().to_owned()),
                read_only: c.read_only,
                sensitive: c.is_sensitive,
                // v0 sends `is_default` instead of a source.
                source: match ConfigSource::from_i8(c.config_source) {
                    ConfigSource::Unknown if c.is_default => ConfigSource::Default,
                    s => s,
                },
                synonyms: c
                    .synonyms
                    .into_iter()
                    .map(|s| ConfigSynonym {
                        name: s.name.as_str().to_owned(),
                        value: s.value.map(|v| v.as_str().to_owned()),
                        source: ConfigSource::from_i8(s.source),
                    })
                    .collect(),
            })
            .collect();
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        entries
    });
    (resource, outcome)
}

fn resource_key(resource_type: i8, name: &str) -> ConfigResource {
    ConfigResource {
        resource_type: ConfigResourceType::from_code(resource_type),
        name: name.to_owned(),
    }
}

pub(super) fn build_incremental(
    changes: &[(ConfigResource, Vec<AlterConfigOp>)],
    keys: &[ConfigResource],
    validate_only: bool,
) -> IncrementalAlterConfigsRequest {
    IncrementalAlterConfigsRequest::default()
        .with_resources(
            changes
                .iter()
                .filter(|(r, _)| keys.contains(r))
                .map(|(r, ops)| {
                    AlterConfigsResource::default()
                        .with_resource_type(r.resource_type.code())
                        .with_resource_name(text(&r.name))
                        .with_configs(ops.iter().map(AlterConfigOp::to_request).collect())
                })
                .collect(),
        )
        .with_validate_only(validate_only)
}

/// The whole set of configs to send with the legacy AlterConfigs so that
/// only `ops` change: the values set on the resource now, with `ops` applied.
pub(super) fn legacy_config_set(
    resource: &ConfigResource,
    current: &[ConfigEntry],
    ops: &[AlterConfigOp],
) -> Vec<(String, String)> {
    let mut set: Vec<(String, Option<String>)> = current
        .iter()
        .filter(|e| e.source.set_on(resource.resource_type) && !e.read_only)
        .map(|e| (e.name.clone(), e.value.clone()))
        .collect();
    for op in ops {
        let name = op.name();
        let now = set
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.clone())
            .or_else(|| {
                // Append and subtract start from the effective value.
                current
                    .iter()
                    .find(|e| e.name == name)
                    .and_then(|e| e.value.clone())
            });
        let next = op.apply(now.as_deref());
        set.retain(|(n, _)| n != name);
        set.push((name.to_owned(), next));
    }
    set.into_iter()
        .filter_map(|(n, v)| v.map(|v| (n, v)))
        .collect()
}

impl Admin {
    /// Describes the configs of topics and brokers, with synonyms and
    /// sources (DescribeConfigs; a broker's configs are asked of that broker).
    pub async fn describe_configs(
        &self,
        resources: &[ConfigResource],
    ) -> ItemResults<ConfigResource, Vec<ConfigEntry>> {
        self.call(
            resources.to_vec(),
            route,
            |keys, version| Ok(build_describe(keys, version)),
            |_, response: DescribeConfigsResponse, _| {
                response.results.into_iter().map(parse_describe).collect()
            },
        )
        .await
    }

    /// Changes configs one by one (IncrementalAlterConfigs). On a broker
    /// without IncrementalAlterConfigs, falls back to the legacy
    /// AlterConfigs: reads each resource's current configs and sends the
    /// whole set with the changes applied (not atomic against concurrent
    /// alters, as with Kafka's own tools on such brokers).
    pub async fn incremental_alter_configs(
        &self,
        changes: &[(ConfigResource, Vec<AlterConfigOp>)],
        validate_only: bool,
    ) -> ItemResults<ConfigResource, ()> {
        let results = self
            .call(
                changes.iter().map(|(r, _)| r.clone()).collect(),
                route,
                |keys, _| Ok(build_incremental(changes, keys, validate_only)),
                |_, response: IncrementalAlterConfigsResponse, _| {
                    response
                        .responses
                        .into_iter()
                        .map(|r| {
                            let key = resource_key(r.resource_type, r.resource_name.as_str());
                            let context = key.context();
                            let outcome = check(
                                "IncrementalAlterConfigs",
                                r.error_code,
                                r.error_message.as_ref(),
                                context,
                            );
                            (key, outcome)
                        })
                        .collect()
                },
            )
            .await;
        let lacks_incremental = results.iter().any(|(_, r)| {
            matches!(r, Err(Error::UnsupportedApi { api: "IncrementalAlterConfigs", theirs, .. }) if theirs.0.is_none())
        });
        if !lacks_incremental {
            return results;
        }
        let current = self
            .describe_configs(&changes.iter().map(|(r, _)| r.clone()).collect::<Vec<_>>())
            .await;
        let mut legacy = Vec::with_capacity(changes.len());
        let mut failed = Vec::new();
        for (resource, ops) in changes {
            match current.get(resource) {
                Some(Ok(entries)) => {
                    legacy.push((resource.clone(), legacy_config_set(resource, entries, ops)))
                }
                Some(Err(e)) => failed.push((resource.clone(), Err(e.clone()))),
                None => failed.push((
                    resource.clone(),
                    Err(Error::MissingResult {
                        api: "DescribeConfigs",
                        item: resource.to_string(),
                    }),
                )),
            }
        }
        let altered = self.alter_configs_legacy(&legacy, validate_only).await;
        let mut merged: Vec<(ConfigResource, Result<(), Error>)> =
            altered.into_iter().chain(failed).collect();
        merged.sort_by_key(|(r, _)| changes.iter().position(|(c, _)| c == r));
        ItemResults::new(merged)
    }

    /// Replaces the whole set of configs set on each resource (the legacy
    /// AlterConfigs): configs left out return to their defaults.
    pub async fn alter_configs_legacy(
        &self,
        configs: &[(ConfigResource, Vec<(String, String)>)],
        validate_only: bool,
    ) -> ItemResults<ConfigResource, ()> {
        self.call(
            configs.iter().map(|(r, _)| r.clone()).collect(),
            route,
            |keys, _| Ok(build_legacy(configs, keys, validate_only)),
            |_, response: AlterConfigsResponse, _| {
                response
                    .responses
                    .into_iter()
                    .map(|r| {
                        let key = resource_key(r.resource_type, r.resource_name.as_str());
                        let context = key.context();
                        let outcome = check(
                            "AlterConfigs",
                            r.error_code,
                            r.error_message.as_ref(),
                            context,
                        );
                        (key, outcome)
                    })
                    .collect()
            },
        )
        .await
    }
}

pub(super) fn build_legacy(
    configs: &[(ConfigResource, Vec<(String, String)>)],
    keys: &[ConfigResource],
    validate_only: bool,
) -> AlterConfigsRequest {
    AlterConfigsRequest::default()
        .with_resources(
            configs
                .iter()
                .filter(|(r, _)| keys.contains(r))
                .map(|(r, set)| {
                    LegacyResource::default()
                        .with_resource_type(r.resource_type.code())
                        .with_resource_name(text(&r.name))
                        .with_configs(
                            set.iter()
                                .map(|(k, v)| {
                                    LegacyConfig::default()
                                        .with_name(text(k))
                                        .with_value(Some(text(v)))
                                })
                                .collect(),
                        )
                })
                .collect(),
        )
        .with_validate_only(validate_only)
}
