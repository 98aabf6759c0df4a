//! Producer settings: Kafka's producer properties, or a typed builder.
//!
//! ```
//! use klamm::config::Properties;
//! use klamm::producer::{Acks, ProducerConfig};
//! use std::time::Duration;
//!
//! let mut props: Properties = [("acks", "1"), ("linger.ms", "20"), ("compression.type", "lz4")]
//!     .into_iter()
//!     .collect();
//! let config = ProducerConfig::from_properties(&mut props).unwrap();
//! props.finish().unwrap(); // nothing unknown left
//! assert_eq!(config.acks(), Acks::Leader);
//! assert_eq!(config.linger(), Duration::from_millis(20));
//! // acks=1 conflicts with idempotence, which was only on by default: it is turned off.
//! assert!(!config.idempotence());
//! ```

use std::sync::Arc;
use std::time::Duration;

use klamm_protocol::compression::Compression;

use super::partitioner::{DefaultPartitioner, Murmur2Partitioner, Partitioner, StickyPartitioner};
use crate::config::Properties;
use crate::error::Error;

/// How many replicas must have a record before the broker answers (`acks`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acks {
    /// `acks=0`: the broker does not answer; offsets are unknown (`-1`).
    None,
    /// `acks=1`: the leader wrote it.
    Leader,
    /// `acks=all` (`-1`): every in-sync replica has it.
    All,
}

impl Acks {
    /// The value sent in a Produce request.
    pub fn wire(self) -> i16 {
        match self {
            Acks::None => 0,
            Acks::Leader => 1,
            Acks::All => -1,
        }
    }
}

/// The producer's settings (connection settings live in
/// [`crate::config::ClientConfig`], including `request.timeout.ms`, which is
/// also the Produce request's broker-side timeout).
#[derive(Debug, Clone)]
pub struct ProducerConfig {
    acks: Acks,
    linger: Duration,
    batch_size: usize,
    batch_size_explicit: bool,
    buffer_memory: usize,
    max_block: Duration,
    compression: Compression,
    compression_level: Option<i32>,
    idempotence: bool,
    idempotence_explicit: bool,
    max_in_flight: usize,
    retries: u32,
    retry_backoff: Duration,
    retry_backoff_max: Duration,
    delivery_timeout: Duration,
    max_request_size: usize,
    partitioner: Arc<dyn Partitioner>,
}

/// `batch.size` unless set: librdkafka's default. Under load, batches of
/// Java's 16 KiB make about 60 times more Produce requests, and each
/// request costs thread wake-ups and syscalls on both sides: the flat-out
/// benchmark in `client/README.md` spends a quarter to a third more CPU
/// per record with them and sends half as many records per second. A
/// batch is sent at `linger.ms` whether full or not, and its buffer grows
/// with what it holds (it is not allocated at this size), so a larger
/// limit costs neither latency at low rates nor memory; under moderate
/// load, smaller batches fill and leave before `linger.ms`, which is lower
/// latency for more requests.
pub const DEFAULT_BATCH_SIZE: usize = 1_000_000;

impl Default for ProducerConfig {
    /// Kafka 4.0's defaults (acks=all, idempotence on, linger 5 ms, 32 MiB
    /// of buffer, 1 MiB requests) except `batch.size`: librdkafka's
    /// 1,000,000 bytes rather than Java's 16 KiB (see
    /// [`ProducerConfigBuilder::batch_size`]).
    fn default() -> Self {
        ProducerConfig {
            acks: Acks::All,
            linger: Duration::from_millis(5),
            batch_size: DEFAULT_BATCH_SIZE,
            batch_size_explicit: false,
            buffer_memory: 32 * 1024 * 1024,
            max_block: Duration::from_secs(60),
            compression: Compression::None,
            compression_level: None,
            idempotence: true,
            idempotence_explicit: false,
            max_in_flight: 5,
            retries: i32::MAX as u32,
            retry_backoff: Duration::from_millis(100),
            retry_backoff_max: Duration::from_secs(1),
            delivery_timeout: Duration::from_secs(120),
            max_request_size: 1_048_576,
            partitioner: Arc::new(DefaultPartitioner),
        }
    }
}

impl ProducerConfig {
    /// A builder with Kafka's defaults.
    pub fn builder() -> ProducerConfigBuilder {
        ProducerConfigBuilder {
            config: ProducerConfig::default(),
        }
    }

    /// Takes the producer's properties out of `props` (the client layer
    /// takes its own; [`Properties::finish`] then names any unknown key).
    ///
    /// Known keys: `acks` (`0`, `1`, `all`/`-1`), `linger.ms`, `batch.size`,
    /// `buffer.memory`, `max.block.ms`, `compression.type` (`none`, `gzip`,
    /// `snappy`, `lz4`, `zstd`), `compression.level` and Java's
    /// `compression.{gzip,lz4,zstd}.level`, `enable.idempotence`,
    /// `max.in.flight.requests.per.connection`, `retries`,
    /// `retry.backoff.ms`, `retry.backoff.max.ms`, `delivery.timeout.ms`,
    /// `max.request.size`, `partitioner` (`murmur2_random` = default,
    /// `murmur2`, `sticky`).
    pub fn from_properties(props: &mut Properties) -> Result<Self, Error> {
        let mut b = Self::builder();
        if let Some(acks) = props.take_parsed("acks", |s| match s {
            "0" => Ok(Acks::None),
            "1" => Ok(Acks::Leader),
            "all" | "-1" => Ok(Acks::All),
            _ => Err(format!("`{s}` is not 0, 1, all or -1")),
        })? {
            b = b.acks(acks);
        }
        if let Some(d) = props.take_millis("linger.ms")? {
            b = b.linger(d);
        }
        if let Some(n) = props.take_usize("batch.size")? {
            b = b.batch_size(n);
        }
        if let Some(n) = props.take_usize("buffer.memory")? {
            b = b.buffer_memory(n);
        }
        if let Some(d) = props.take_millis("max.block.ms")? {
            b = b.max_block(d);
        }
        let codec = props.take_parsed("compression.type", |s| {
            Compression::ALL
                .into_iter()
                .find(|c| c.name() == s)
                .ok_or_else(|| format!("`{s}` is not none, gzip, snappy, lz4 or zstd"))
        })?;
        let codec = codec.unwrap_or(Compression::None);
        let parse_level = |s: &str| {
            s.parse::<i32>()
                .map_err(|e| format!("`{s}` is not an integer: {e}"))
        };
        let mut level = props.take_parsed("compression.level", parse_level)?;
        for c in [Compression::Gzip, Compression::Lz4, Compression::Zstd] {
            let key = format!("compression.{}.level", c.name());
            if let Some(l) = props.take_parsed(&key, parse_level)? {
                if c == codec {
                    level = Some(l);
                }
            }
        }
        b = b.compression(codec, level);
        if let Some(on) = props.take_bool("enable.idempotence")? {
            b = b.idempotence(on);
        }
        if let Some(n) = props.take_usize("max.in.flight.requests.per.connection")? {
            b = b.max_in_flight(n);
        }
        if let Some(n) = props.take_parsed("retries", |s| {
            s.parse::<u32>()
                .map_err(|e| format!("`{s}` is not a non-negative integer: {e}"))
        })? {
            b = b.retries(n);
        }
        if let Some(d) = props.take_millis("retry.backoff.ms")? {
            b = b.retry_backoff(d);
        }
        if let Some(d) = props.take_millis("retry.backoff.max.ms")? {
            b = b.retry_backoff_max(d);
        }
        if let Some(d) = props.take_millis("delivery.timeout.ms")? {
            b = b.delivery_timeout(d);
        }
        if let Some(n) = props.take_usize("max.request.size")? {
            b = b.max_request_size(n);
        }
        if let Some(p) =
            props.take_parsed("partitioner", |s| -> Result<Arc<dyn Partitioner>, String> {
                match s {
                    "murmur2_random" | "default" => Ok(Arc::new(DefaultPartitioner)),
                    "murmur2" => Ok(Arc::new(Murmur2Partitioner)),
                    "sticky" | "uniform_sticky" => Ok(Arc::new(StickyPartitioner)),
                    _ => Err(format!("`{s}` is not murmur2_random, murmur2 or sticky")),
                }
            })?
        {
            b = b.partitioner(p);
        }
        b.build()
    }

    /// `acks`.
    pub fn acks(&self) -> Acks {
        self.acks
    }
    /// `linger.ms`.
    pub fn linger(&self) -> Duration {
        self.linger
    }
    /// `batch.size` in bytes.
    pub fn batch_size(&self) -> usize {
        self.batch_size
    }
    /// `buffer.memory` in bytes.
    pub fn buffer_memory(&self) -> usize {
        self.buffer_memory
    }
    /// `max.block.ms`.
    pub fn max_block(&self) -> Duration {
        self.max_block
    }
    /// `compression.type`.
    pub fn compression(&self) -> Compression {
        self.compression
    }
    /// The codec's level (`None`: its default).
    pub fn compression_level(&self) -> Option<i32> {
        self.compression_level
    }
    /// `enable.idempotence` as finally decided.
    pub fn idempotence(&self) -> bool {
        self.idempotence
    }
    /// `max.in.flight.requests.per.connection`.
    pub fn max_in_flight(&self) -> usize {
        self.max_in_flight
    }
    /// `retries`.
    pub fn retries(&self) -> u32 {
        self.retries
    }
    /// `retry.backoff.ms`.
    pub fn retry_backoff(&self) -> Duration {
        self.retry_backoff
    }
    /// `retry.backoff.max.ms`.
    pub fn retry_backoff_max(&self) -> Duration {
        self.retry_backoff_max
    }
    /// `delivery.timeout.ms`.
    pub fn delivery_timeout(&self) -> Duration {
        self.delivery_timeout
    }
    /// `max.request.size` in bytes.
    pub fn max_request_size(&self) -> usize {
        self.max_request_size
    }
    /// The partitioner.
    pub fn partitioner(&self) -> &Arc<dyn Partitioner> {
        &self.partitioner
    }
}

/// Builder for [`ProducerConfig`].
#[derive(Debug, Clone)]
pub struct ProducerConfigBuilder {
    config: ProducerConfig,
}

impl ProducerConfigBuilder {
    /// `acks` (default all).
    pub fn acks(mut self, acks: Acks) -> Self {
        self.config.acks = acks;
        self
    }
    /// `linger.ms` (default 5 ms): how long a batch waits for more records.
    pub fn linger(mut self, d: Duration) -> Self {
        self.config.linger = d;
        self
    }
    /// `batch.size` (default [`DEFAULT_BATCH_SIZE`], 1,000,000 bytes as in
    /// librdkafka; Java's default is 16384): the most uncompressed bytes
    /// one partition's batch holds. Smaller batches leave sooner under
    /// moderate load (lower latency when they fill before `linger.ms`) at
    /// the cost of more requests; unless set, it is capped at
    /// `buffer.memory`.
    pub fn batch_size(mut self, bytes: usize) -> Self {
        self.config.batch_size = bytes;
        self.config.batch_size_explicit = true;
        self
    }
    /// `buffer.memory` (default 32 MiB): bytes queued before `send` waits.
    pub fn buffer_memory(mut self, bytes: usize) -> Self {
        self.config.buffer_memory = bytes;
        self
    }
    /// `max.block.ms` (default 60 s): how long `send` waits for buffer
    /// space or topic metadata.
    pub fn max_block(mut self, d: Duration) -> Self {
        self.config.max_block = d;
        self
    }
    /// `compression.type` and level (`None`: the codec's default).
    pub fn compression(mut self, codec: Compression, level: Option<i32>) -> Self {
        self.config.compression = codec;
        self.config.compression_level = level;
        self
    }
    /// `enable.idempotence` (default true).
    pub fn idempotence(mut self, on: bool) -> Self {
        self.config.idempotence = on;
        self.config.idempotence_explicit = true;
        self
    }
    /// `max.in.flight.requests.per.connection` (default 5).
    pub fn max_in_flight(mut self, n: usize) -> Self {
        self.config.max_in_flight = n;
        self
    }
    /// `retries` (default 2147483647; `delivery.timeout.ms` is the real bound).
    pub fn retries(mut self, n: u32) -> Self {
        self.config.retries = n;
        self
    }
    /// `retry.backoff.ms` (default 100 ms).
    pub fn retry_backoff(mut self, d: Duration) -> Self {
        self.config.retry_backoff = d;
        self
    }
    /// `retry.backoff.max.ms` (default 1 s).
    pub fn retry_backoff_max(mut self, d: Duration) -> Self {
        self.config.retry_backoff_max = d;
        self
    }
    /// `delivery.timeout.ms` (default 120 s): the bound on a record's whole
    /// journey, retries included.
    pub fn delivery_timeout(mut self, d: Duration) -> Self {
        self.config.delivery_timeout = d;
        self
    }
    /// `max.request.size` (default 1 MiB): the largest Produce request,
    /// and so the largest record.
    pub fn max_request_size(mut self, bytes: usize) -> Self {
        self.config.max_request_size = bytes;
        self
    }
    /// The partitioner (default [`DefaultPartitioner`]).
    pub fn partitioner(mut self, p: Arc<dyn Partitioner>) -> Self {
        self.config.partitioner = p;
        self
    }

    /// Checks the settings. Idempotence needs `acks=all`, at most 5
    /// requests in flight and retries; when it is only on by default, a
    /// conflicting setting turns it off (as Kafka's Java client does), when
    /// it was asked for, the conflict is an error.
    pub fn build(self) -> Result<ProducerConfig, Error> {
        let mut c = self.config;
        if c.batch_size == 0 {
            return Err(Error::config("batch.size", "must be positive"));
        }
        if c.max_in_flight == 0 {
            return Err(Error::config(
                "max.in.flight.requests.per.connection",
                "must be at least 1",
            ));
        }
        if c.max_request_size < 100 || c.max_request_size > i32::MAX as usize {
            return Err(Error::config(
                "max.request.size",
                format!("{} is outside 100..=2147483647", c.max_request_size),
            ));
        }
        if !c.batch_size_explicit {
            c.batch_size = c.batch_size.min(c.buffer_memory.max(1));
        }
        if c.buffer_memory < c.batch_size.min(c.max_request_size) {
            return Err(Error::config(
                "buffer.memory",
                "is smaller than batch.size: not even one batch would fit",
            ));
        }
        if c.delivery_timeout < c.linger {
            return Err(Error::config(
                "delivery.timeout.ms",
                "is shorter than linger.ms",
            ));
        }
        if c.retry_backoff_max < c.retry_backoff {
            return Err(Error::config(
                "retry.backoff.max.ms",
                "is smaller than retry.backoff.ms",
            ));
        }
        if c.idempotence {
            let conflict = if c.acks != Acks::All {
                Some(("acks", "idempotence needs acks=all"))
            } else if c.max_in_flight > 5 {
                Some((
                    "max.in.flight.requests.per.connection",
                    "idempotence allows at most 5 requests in flight",
                ))
            } else if c.retries == 0 {
                Some(("retries", "idempotence needs retries"))
            } else {
                None
            };
            if let Some((property, reason)) = conflict {
                if c.idempotence_explicit {
                    return Err(Error::config(property, reason));
                }
                tracing::info!(property, reason, "idempotence turned off");
                c.idempotence = false;
            }
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(pairs: &[(&str, &str)]) -> Result<ProducerConfig, Error> {
        let mut props: Properties = pairs.iter().copied().collect();
        let c = ProducerConfig::from_properties(&mut props)?;
        props.finish()?;
        Ok(c)
    }

    #[test]
    fn defaults_are_kafkas() {
        let c = from(&[]).unwrap();
        assert_eq!(c.acks(), Acks::All);
        assert!(c.idempotence());
        assert_eq!(c.batch_size(), DEFAULT_BATCH_SIZE);
        assert_eq!(c.buffer_memory(), 32 << 20);
        assert_eq!(c.max_in_flight(), 5);
        assert_eq!(c.delivery_timeout(), Duration::from_secs(120));
        assert_eq!(c.max_request_size(), 1 << 20);
    }

    #[test]
    fn every_property_maps_to_its_setting() {
        let c = from(&[
            ("acks", "all"),
            ("linger.ms", "7"),
            ("batch.size", "1000"),
            ("buffer.memory", "100000"),
            ("max.block.ms", "250"),
            ("compression.type", "zstd"),
            ("compression.zstd.level", "3"),
            ("compression.gzip.level", "9"),
            ("enable.idempotence", "true"),
            ("max.in.flight.requests.per.connection", "3"),
            ("retries", "4"),
            ("retry.backoff.ms", "20"),
            ("retry.backoff.max.ms", "200"),
            ("delivery.timeout.ms", "9000"),
            ("max.request.size", "50000"),
            ("partitioner", "murmur2"),
        ])
        .unwrap();
        assert_eq!(c.linger(), Duration::from_millis(7));
        assert_eq!(c.batch_size(), 1000);
        assert_eq!(c.buffer_memory(), 100_000);
        assert_eq!(c.max_block(), Duration::from_millis(250));
        assert_eq!(
            (c.compression(), c.compression_level()),
            (Compression::Zstd, Some(3))
        );
        assert_eq!(c.max_in_flight(), 3);
        assert_eq!(c.retries(), 4);
        assert_eq!(c.retry_backoff(), Duration::from_millis(20));
        assert_eq!(c.retry_backoff_max(), Duration::from_millis(200));
        assert_eq!(c.delivery_timeout(), Duration::from_secs(9));
        assert_eq!(c.max_request_size(), 50_000);
        // murmur2 hashes a null key as empty bytes: partition 3 of 6.
        assert_eq!(c.partitioner().partition("t", None, None, 6), Some(3));
        assert_eq!(from(&[("acks", "0")]).unwrap().acks(), Acks::None);
        assert_eq!(from(&[("acks", "-1")]).unwrap().acks(), Acks::All);
    }

    #[test]
    fn idempotence_conflicts() {
        // Default idempotence gives way...
        let c = from(&[("acks", "1")]).unwrap();
        assert!(!c.idempotence());
        let c = from(&[("max.in.flight.requests.per.connection", "6")]).unwrap();
        assert!(!c.idempotence());
        // ...asked-for idempotence does not.
        let e = from(&[("acks", "1"), ("enable.idempotence", "true")]).unwrap_err();
        assert!(e.to_string().contains("acks"), "{e}");
        let e = from(&[("retries", "0"), ("enable.idempotence", "true")]).unwrap_err();
        assert!(e.to_string().contains("retries"), "{e}");
    }

    #[test]
    fn bad_values_name_the_property() {
        for (k, v) in [
            ("acks", "2"),
            ("compression.type", "brotli"),
            ("partitioner", "random"),
            ("batch.size", "0"),
            ("linger.ms", "-1"),
            ("max.request.size", "10"),
            ("compression.level", "high"),
        ] {
            let e = from(&[(k, v)]).unwrap_err();
            assert!(e.to_string().contains(k), "{k}: {e}");
        }
        let e = from(&[("buffer.memory", "10"), ("batch.size", "100")]).unwrap_err();
        assert!(e.to_string().contains("buffer.memory"), "{e}");
        // The default batch.size gives way to a smaller buffer.
        let c = from(&[("buffer.memory", "65536")]).unwrap();
        assert_eq!(c.batch_size(), 65_536);
        let e = from(&[("lingr.ms", "5")]).unwrap_err();
        assert!(e.to_string().contains("lingr.ms"), "{e}");
    }
}
