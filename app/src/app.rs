//! [`App`]: the connected application: registry of schemas and streams,
//! publishing, and the subscriptions a worker runs.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, RwLock};

use bytes::Bytes;
use klamm::Client;
use klamm::consumer::Message;
use klamm::producer::{Producer, ProducerRecord, RecordMetadata};
use klamm::protocol::records::Header;

use crate::config::AppConfig;
use crate::context::RESERVED_HEADER_PREFIX;
use crate::envelope;
use crate::error::{AppError, HandlerError, PublishError};
use crate::handler::Handler;
use crate::policy::FailurePolicy;
use crate::router::Router;
use crate::schema::{Schema, SchemaInfo};
use crate::stream::{StreamDef, check_name};
use crate::subscription::SubscriptionDef;

/// A connected application: one client and producer, the registered
/// schemas and streams, and the subscriptions [`App::run`] runs. Cheap to
/// clone (one `Arc`).
///
/// Delivery is at least once: a record is committed only after its handler
/// finished (or it was dead-lettered), so after a crash or a rebalance a
/// handler may see a record again. Handlers must be idempotent.
#[derive(Clone)]
pub struct App {
    inner: Arc<Inner>,
}

struct Inner {
    config: AppConfig,
    client: Client,
    producer: Producer,
    registry: RwLock<Registry>,
    subscriptions: Mutex<Vec<SubscriptionDef>>,
}

impl fmt::Debug for App {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("App")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Default)]
struct Registry {
    /// By `ID:VERSION`.
    schemas: BTreeMap<String, SchemaInfo>,
    streams: BTreeMap<String, RegisteredStream>,
}

#[derive(Debug)]
struct RegisteredStream {
    def: StreamDef,
    topic: Arc<str>,
}

/// A record key: `()` for none, or text or bytes.
pub trait IntoKey {
    /// The key's bytes, `None` for no key.
    fn key_bytes(&self) -> Option<&[u8]>;
}

impl IntoKey for () {
    fn key_bytes(&self) -> Option<&[u8]> {
        None
    }
}

impl IntoKey for &str {
    fn key_bytes(&self) -> Option<&[u8]> {
        Some(self.as_bytes())
    }
}

impl IntoKey for String {
    fn key_bytes(&self) -> Option<&[u8]> {
        Some(self.as_bytes())
    }
}

impl IntoKey for &String {
    fn key_bytes(&self) -> Option<&[u8]> {
        Some(self.as_bytes())
    }
}

impl IntoKey for &[u8] {
    fn key_bytes(&self) -> Option<&[u8]> {
        Some(self)
    }
}

impl<const N: usize> IntoKey for &[u8; N] {
    fn key_bytes(&self) -> Option<&[u8]> {
        Some(&self[..])
    }
}

impl IntoKey for Vec<u8> {
    fn key_bytes(&self) -> Option<&[u8]> {
        Some(self)
    }
}

impl IntoKey for Bytes {
    fn key_bytes(&self) -> Option<&[u8]> {
        Some(self)
    }
}

impl<K: IntoKey> IntoKey for Option<K> {
    fn key_bytes(&self) -> Option<&[u8]> {
        self.as_ref().and_then(IntoKey::key_bytes)
    }
}

impl App {
    /// Validates `config`, connects and starts the producer.
    pub async fn connect(config: AppConfig) -> Result<App, AppError> {
        let (client_config, producer_config) = config.layers()?;
        let client = Client::connect(client_config).await?;
        let producer = Producer::new(client.clone(), producer_config);
        Ok(App {
            inner: Arc::new(Inner {
                config,
                client,
                producer,
                registry: RwLock::new(Registry::default()),
                subscriptions: Mutex::new(Vec::new()),
            }),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &AppConfig {
        &self.inner.config
    }

    /// The client (admin calls, metadata).
    pub fn client(&self) -> &Client {
        &self.inner.client
    }

    /// The producer every publish goes through.
    pub fn producer(&self) -> &Producer {
        &self.inner.producer
    }

    /// Registers `T`'s schema (id, version, JSON Schema).
    pub fn schema<T: Schema>(&self) -> Result<(), AppError> {
        self.add_schema(SchemaInfo::of::<T>())
    }

    /// Registers a schema. The same id and version registered again must
    /// describe the same JSON Schema.
    pub fn add_schema(&self, info: SchemaInfo) -> Result<(), AppError> {
        let mut reg = self.write();
        register_schema(&mut reg, info)
    }

    /// Declares the stream `name` carrying `T` messages.
    pub fn stream<T: Schema>(&self, name: &str) -> Result<(), AppError> {
        self.add_stream(StreamDef::new::<T>(name))
    }

    /// Declares a stream (and registers its schema). One schema per
    /// stream: declaring it again with another schema is an error.
    pub fn add_stream(&self, def: StreamDef) -> Result<(), AppError> {
        check_name("stream name", def.name(), false).map_err(AppError::Registration)?;
        let topic: Arc<str> = self.inner.config.topic_for(def.name()).into();
        check_name("topic", &topic, false).map_err(AppError::Registration)?;
        let mut reg = self.write();
        if let Some(existing) = reg.streams.get(def.name()) {
            if existing.def.schema().schema != def.schema().schema {
                return Err(AppError::Registration(format!(
                    "stream `{}` already carries {}, not {}",
                    def.name(),
                    existing.def.schema().schema,
                    def.schema().schema
                )));
            }
            return Ok(());
        }
        register_schema(&mut reg, def.schema().clone())?;
        reg.streams
            .insert(def.name().to_owned(), RegisteredStream { def, topic });
        Ok(())
    }

    /// The registered schemas, by id and version.
    pub fn schemas(&self) -> Vec<SchemaInfo> {
        self.read().schemas.values().cloned().collect()
    }

    /// The declared streams, by name.
    pub fn streams(&self) -> Vec<StreamDef> {
        self.read()
            .streams
            .values()
            .map(|s| s.def.clone())
            .collect()
    }

    /// Adds `handler` for the streams matching `pattern` (a glob, see
    /// [`StreamPattern`](crate::StreamPattern)) as a member of `group`, with the default
    /// [`FailurePolicy`]. Topics created later that match join the
    /// subscription.
    pub fn subscribe<H: Handler<Args>, Args>(
        &self,
        pattern: &str,
        group: &str,
        handler: H,
    ) -> Result<(), AppError> {
        self.subscribe_with(pattern, group, FailurePolicy::default(), handler)
    }

    /// Like [`Self::subscribe`] with an explicit failure policy.
    pub fn subscribe_with<H: Handler<Args>, Args>(
        &self,
        pattern: &str,
        group: &str,
        policy: FailurePolicy,
        handler: H,
    ) -> Result<(), AppError> {
        let def = SubscriptionDef::new(pattern, group, policy, handler)
            .map_err(AppError::Registration)?;
        self.add_subscription(def)
    }

    pub(crate) fn add_subscription(&self, def: SubscriptionDef) -> Result<(), AppError> {
        if let crate::policy::Exhausted::DeadLetter(stream) = def.policy.exhausted() {
            check_name("dead-letter stream", stream, false).map_err(AppError::Registration)?;
        }
        self.inner
            .subscriptions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(def);
        Ok(())
    }

    /// The subscriptions [`Self::run`] will run.
    pub(crate) fn subscriptions(&self) -> Vec<SubscriptionDef> {
        self.inner
            .subscriptions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Adds a router's schemas, streams and subscriptions. Nothing is added
    /// if any of them is refused.
    pub fn mount(&self, router: Router) -> Result<(), AppError> {
        let crate::router::RouterParts {
            schemas,
            streams,
            subscriptions,
        } = router.into_parts()?;
        // Check everything against a copy first, so a refusal adds nothing.
        {
            let reg = self.read();
            let mut trial = Registry {
                schemas: reg.schemas.clone(),
                streams: BTreeMap::new(),
            };
            let mut seen: BTreeMap<String, SchemaInfo> = reg
                .streams
                .iter()
                .map(|(k, v)| (k.clone(), v.def.schema().clone()))
                .collect();
            for info in &schemas {
                register_schema(&mut trial, info.clone())?;
            }
            for def in &streams {
                register_schema(&mut trial, def.schema().clone())?;
                if let Some(prev) = seen.insert(def.name().to_owned(), def.schema().clone()) {
                    if prev.schema != def.schema().schema {
                        return Err(AppError::Registration(format!(
                            "stream `{}` already carries {}, not {}",
                            def.name(),
                            prev.schema,
                            def.schema().schema
                        )));
                    }
                }
            }
        }
        for info in schemas {
            self.add_schema(info)?;
        }
        for def in streams {
            self.add_stream(def)?;
        }
        for def in subscriptions {
            self.add_subscription(def)?;
        }
        Ok(())
    }

    /// Publishes `message` on `stream` (which must carry `T`'s schema),
    /// keyed by `key` (`()` for none), and waits for the broker's
    /// acknowledgement.
    pub async fn publish<T: Schema>(
        &self,
        stream: &str,
        message: &T,
        key: impl IntoKey,
    ) -> Result<RecordMetadata, PublishError> {
        self.publish_with_headers(stream, message, key, &[]).await
    }

    /// Like [`Self::publish`] with record headers.
    pub async fn publish_with_headers<T: Schema>(
        &self,
        stream: &str,
        message: &T,
        key: impl IntoKey,
        headers: &[Header],
    ) -> Result<RecordMetadata, PublishError> {
        let topic = self.topic_checked::<T>(stream)?;
        let value = envelope::encode(message).map_err(PublishError::Encode)?;
        let mut record = ProducerRecord::new(&topic).value(&value).headers(headers);
        if let Some(k) = key.key_bytes() {
            record = record.key(k);
        }
        let delivery = self.inner.producer.send(record).await?;
        Ok(delivery.await?)
    }

    /// The topic of `stream`, after checking it carries `T`.
    pub(crate) fn topic_checked<T: Schema>(&self, stream: &str) -> Result<Arc<str>, PublishError> {
        let reg = self.read();
        let s = reg
            .streams
            .get(stream)
            .ok_or_else(|| PublishError::UnknownStream(stream.to_owned()))?;
        let schema = &s.def.schema().schema;
        if schema.id() != T::ID || schema.version() != T::VERSION {
            return Err(PublishError::WrongSchema {
                stream: stream.to_owned(),
                stream_schema: schema.clone(),
                message_schema: T::schema_ref(),
            });
        }
        Ok(s.topic.clone())
    }

    /// Forwards a record that failed to the dead-letter `stream`: same key,
    /// value and headers, plus `klamm.error` (the error), `klamm.error.kind`
    /// (`decode` or `handler`), `klamm.source.topic`,
    /// `klamm.source.partition`, `klamm.source.offset`, `klamm.attempts` and
    /// `klamm.group`.
    pub(crate) async fn dead_letter(
        &self,
        stream: &str,
        message: &Message,
        error: &HandlerError,
        attempts: u32,
        group: &str,
    ) -> Result<RecordMetadata, PublishError> {
        let topic = self.inner.config.topic_for(stream);
        let mut headers: Vec<Header> = message
            .headers()
            .filter(|h| !h.key.starts_with(RESERVED_HEADER_PREFIX.as_bytes()))
            .map(|h| Header {
                key: Bytes::copy_from_slice(h.key),
                value: h.value.map(Bytes::copy_from_slice),
            })
            .collect();
        let mut add = |k: &'static str, v: String| {
            headers.push(Header {
                key: Bytes::from_static(k.as_bytes()),
                value: Some(Bytes::from(v)),
            });
        };
        add("klamm.error", error_chain(error));
        add("klamm.error.kind", error.kind().to_owned());
        add("klamm.source.topic", message.topic().to_owned());
        add("klamm.source.partition", message.partition().to_string());
        add("klamm.source.offset", message.offset().to_string());
        add("klamm.attempts", attempts.to_string());
        add("klamm.group", group.to_owned());
        let mut record = ProducerRecord::new(&topic).headers(&headers);
        if let Some(k) = message.key() {
            record = record.key(k);
        }
        if let Some(v) = message.value() {
            record = record.value(v);
        }
        let delivery = self.inner.producer.send(record).await?;
        Ok(delivery.await?)
    }

    /// Sends everything queued and closes the producer (waiting at most
    /// `timeout`); true if everything was delivered.
    pub async fn close(&self, timeout: std::time::Duration) -> bool {
        self.inner.producer.close(timeout).await
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Registry> {
        self.inner
            .registry
            .read()
            .unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Registry> {
        self.inner
            .registry
            .write()
            .unwrap_or_else(|p| p.into_inner())
    }
}

fn register_schema(reg: &mut Registry, info: SchemaInfo) -> Result<(), AppError> {
    crate::schema::check_id(info.schema.id())
        .map_err(|reason| AppError::Registration(format!("schema {}: {reason}", info.schema)))?;
    let key = info.schema.to_string();
    match reg.schemas.get_mut(&key) {
        None => {
            reg.schemas.insert(key, info);
        }
        Some(existing) => match (&existing.json_schema, &info.json_schema) {
            (Some(a), Some(b)) if a != b => {
                return Err(AppError::Registration(format!(
                    "schema {key} is registered with another JSON Schema: \
                     a changed shape needs a new version"
                )));
            }
            (None, Some(_)) => *existing = info,
            _ => {}
        },
    }
    Ok(())
}

/// The error and its sources, `: `-separated.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(s) = source {
        let next = s.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = s.source();
    }
    text
}
