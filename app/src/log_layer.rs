//! A `tracing` layer that publishes log events as [`LogEvent`] messages to
//! a stream.
//!
//! ```text
//! tracing::info!(..) ─▶ LogLayer::on_event ─ try_send ─▶ bounded queue ─▶ LogPublisher task ─▶ producer
//!                          (never blocks: full → dropped += 1)
//! ```
//!
//! Klamm's own events (targets `klamm`, `klamm::*`, `klamm_*`) are not
//! published: the producer logs while publishing, and those events would
//! feed back into the stream.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use klamm::producer::ProducerRecord;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context as LayerContext, Layer};

use crate::app::App;
use crate::envelope;
use crate::error::AppError;

/// One log event, schema `klamm.LogEvent:1`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LogEvent {
    /// When it happened, ms since the Unix epoch.
    pub timestamp_ms: i64,
    /// `TRACE`, `DEBUG`, `INFO`, `WARN` or `ERROR`.
    pub level: String,
    /// The event's target (usually its module path).
    pub target: String,
    /// The `message` field (the format string's text), empty if none.
    pub message: String,
    /// Every other field: numbers and booleans as such, the rest as text.
    pub fields: BTreeMap<String, serde_json::Value>,
    /// Source file, when known.
    pub file: Option<String>,
    /// Source line, when known.
    pub line: Option<u32>,
}
crate::schema!(LogEvent, "klamm.LogEvent", 1, json_schema);

#[derive(Debug, Default)]
struct Stats {
    queued: AtomicU64,
    dropped: AtomicU64,
    published: AtomicU64,
    failed: AtomicU64,
}

/// Counters of a [`LogLayer`]: how many events were queued, dropped
/// because the queue was full (or the publisher gone), published
/// (acknowledged), and failed to publish.
#[derive(Debug, Clone)]
pub struct LogStats(Arc<Stats>);

impl LogStats {
    /// Events accepted into the queue.
    pub fn queued(&self) -> u64 {
        self.0.queued.load(Ordering::Relaxed)
    }

    /// Events dropped: the queue was full or the publisher had stopped.
    pub fn dropped(&self) -> u64 {
        self.0.dropped.load(Ordering::Relaxed)
    }

    /// Events the broker acknowledged.
    pub fn published(&self) -> u64 {
        self.0.published.load(Ordering::Relaxed)
    }

    /// Events whose delivery failed.
    pub fn failed(&self) -> u64 {
        self.0.failed.load(Ordering::Relaxed)
    }
}

/// The layer: turns events into [`LogEvent`]s and queues them without
/// ever waiting.
pub struct LogLayer {
    tx: mpsc::Sender<LogEvent>,
    stats: Arc<Stats>,
}

impl fmt::Debug for LogLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogLayer")
            .field("capacity", &self.tx.max_capacity())
            .field("stats", &self.stats)
            .finish()
    }
}

/// The other end of the queue: publishes the events once started with an
/// app ([`LogPublisher::spawn`]). Events logged before that wait in the
/// queue (up to its capacity).
#[derive(Debug)]
pub struct LogPublisher {
    rx: mpsc::Receiver<LogEvent>,
    stats: Arc<Stats>,
}

impl LogLayer {
    /// A layer with a queue of `capacity` events (at least 1) and its
    /// publisher.
    ///
    /// ```no_run
    /// # async fn demo(app: klamm_app::App) -> Result<(), klamm_app::AppError> {
    /// use tracing_subscriber::prelude::*;
    /// let (layer, publisher) = klamm_app::LogLayer::new(10_000);
    /// let stats = layer.stats();
    /// tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer)).unwrap();
    /// publisher.spawn(app, "logs")?;
    /// tracing::info!(user = 7, "signed in");
    /// println!("dropped so far: {}", stats.dropped());
    /// # Ok(()) }
    /// ```
    pub fn new(capacity: usize) -> (LogLayer, LogPublisher) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let stats = Arc::new(Stats::default());
        (
            LogLayer {
                tx,
                stats: stats.clone(),
            },
            LogPublisher { rx, stats },
        )
    }

    /// The layer's counters.
    pub fn stats(&self) -> LogStats {
        LogStats(self.stats.clone())
    }
}

/// Targets whose events are never published (Klamm's own).
fn is_own(target: &str) -> bool {
    target == "klamm" || target.starts_with("klamm::") || target.starts_with("klamm_")
}

impl<S: Subscriber> Layer<S> for LogLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: LayerContext<'_, S>) {
        let meta = event.metadata();
        if is_own(meta.target()) {
            return;
        }
        let mut visitor = Fields::default();
        event.record(&mut visitor);
        let timestamp_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        let log = LogEvent {
            timestamp_ms,
            level: meta.level().to_string(),
            target: meta.target().to_owned(),
            message: visitor.message,
            fields: visitor.fields,
            file: meta.file().map(str::to_owned),
            line: meta.line(),
        };
        match self.tx.try_send(log) {
            Ok(()) => self.stats.queued.fetch_add(1, Ordering::Relaxed),
            Err(_) => self.stats.dropped.fetch_add(1, Ordering::Relaxed),
        };
    }
}

#[derive(Default)]
struct Fields {
    message: String,
    fields: BTreeMap<String, serde_json::Value>,
}

impl Fields {
    fn put(&mut self, field: &Field, value: serde_json::Value) {
        if field.name() == "message" {
            self.message = match value {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            };
        } else {
            self.fields.insert(field.name().to_owned(), value);
        }
    }
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field, serde_json::Value::String(format!("{value:?}")));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, serde_json::Value::String(value.to_owned()));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, value.into());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, value.into());
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, value.into());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, value.into());
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.put(field, serde_json::Value::String(value.to_string()));
    }
}

impl LogPublisher {
    /// Declares `stream` (schema `klamm.LogEvent:1`) on `app` and starts
    /// publishing the queued events to it. Publishing does not wait for
    /// acknowledgements; the counters say what was delivered. The task
    /// ends when the layer is dropped and the queue is empty.
    pub fn spawn(self, app: App, stream: &str) -> Result<JoinHandle<()>, AppError> {
        app.stream::<LogEvent>(stream)?;
        let topic = app.topic_checked::<LogEvent>(stream)?;
        Ok(tokio::spawn(self.run(app, topic)))
    }

    async fn run(mut self, app: App, topic: Arc<str>) {
        let mut buf = Vec::with_capacity(256);
        while let Some(event) = self.rx.recv().await {
            buf.clear();
            if envelope::encode_into(&event, &mut buf).is_err() {
                // Only strings, numbers and booleans: cannot fail, but a
                // failure must still be counted, never lost silently.
                self.stats.failed.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            let stats = self.stats.clone();
            let sent = app
                .producer()
                .send_with_callback(ProducerRecord::new(&topic).value(&buf), move |r| {
                    let counter = if r.is_ok() {
                        &stats.published
                    } else {
                        &stats.failed
                    };
                    counter.fetch_add(1, Ordering::Relaxed);
                })
                .await;
            if sent.is_err() {
                self.stats.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::prelude::*;

    #[test]
    fn events_become_log_messages_and_a_full_queue_drops() {
        let (layer, mut publisher) = LogLayer::new(2);
        let stats = layer.stats();
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(target: "svc", user = 7, ok = true, name = "ann", "signed {}", "in");
            tracing::warn!(target: "klamm::producer", "own events are not published");
            tracing::error!(target: "svc", ratio = 0.5, "second");
            tracing::error!(target: "svc", "third: the queue holds two");
        });
        assert_eq!(stats.queued(), 2);
        assert_eq!(stats.dropped(), 1);
        let first = publisher.rx.try_recv().unwrap();
        assert_eq!(first.level, "INFO");
        assert_eq!(first.target, "svc");
        assert_eq!(first.message, "signed in");
        assert_eq!(first.fields["user"], 7);
        assert_eq!(first.fields["ok"], true);
        assert_eq!(first.fields["name"], "ann");
        assert!(first.line.is_some());
        let second = publisher.rx.try_recv().unwrap();
        assert_eq!(second.fields["ratio"], 0.5);
        assert!(publisher.rx.try_recv().is_err());
        // The wire form is the usual envelope.
        let bytes = envelope::encode(&second).unwrap();
        let back: LogEvent = envelope::decode(Some(&bytes)).unwrap();
        assert_eq!(back, second);
    }

    #[test]
    fn a_gone_publisher_counts_drops() {
        let (layer, publisher) = LogLayer::new(4);
        drop(publisher);
        let stats = layer.stats();
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
            tracing::info!(target: "svc", "nobody listens");
        });
        assert_eq!((stats.queued(), stats.dropped()), (0, 1));
    }
}
