//! Consumer settings, from Kafka's property names or typed setters.
//!
//! [`ConsumerConfig::from_properties`] takes the consumer's keys out of the
//! shared [`Properties`] bag after the client layer took its own; the caller
//! ends with [`Properties::finish`], so a typo is an error naming the key.

use std::time::Duration;

use crate::config::Properties;
use crate::error::Error;

/// Where a partition starts when it has no committed offset, or when its
/// position falls outside the log (OFFSET_OUT_OF_RANGE).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum OffsetReset {
    /// The log start offset.
    Earliest,
    /// The log end offset (only records produced from now on).
    Latest,
    /// No reset: the application gets an error for that partition and
    /// decides (for example with a seek).
    None,
}

/// Which records a consumer sees from transactional producers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum IsolationLevel {
    /// Every record, including those of open and aborted transactions.
    ReadUncommitted,
    /// Only records of committed transactions (and non-transactional ones),
    /// up to the last stable offset.
    ReadCommitted,
}

impl IsolationLevel {
    /// The wire value of Fetch and ListOffsets.
    pub fn as_i8(self) -> i8 {
        match self {
            Self::ReadUncommitted => 0,
            Self::ReadCommitted => 1,
        }
    }
}

/// Settings of a [`Consumer`](super::Consumer). Defaults follow Kafka's Java
/// consumer, except where a comment says why not.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ConsumerConfig {
    /// `group.id`: needed for commits and for group subscription.
    pub group_id: Option<String>,
    /// `group.instance.id`: static membership (group mode).
    pub group_instance_id: Option<String>,
    /// `auto.offset.reset` (default latest).
    pub auto_offset_reset: OffsetReset,
    /// `enable.auto.commit` (default true; only acts with a `group.id`).
    pub enable_auto_commit: bool,
    /// `auto.commit.interval.ms` (default 5 s).
    pub auto_commit_interval: Duration,
    /// `fetch.min.bytes` (default 1).
    pub fetch_min_bytes: i32,
    /// `fetch.max.bytes`: per Fetch response (default 50 MiB).
    pub fetch_max_bytes: i32,
    /// `max.partition.fetch.bytes`: per partition in a Fetch (default 1 MiB).
    pub max_partition_fetch_bytes: i32,
    /// `fetch.max.wait.ms`: how long the broker may hold a Fetch waiting for
    /// `fetch.min.bytes` (default 500 ms).
    pub fetch_max_wait: Duration,
    /// `queued.max.messages.kbytes` (librdkafka's name), in bytes here: the
    /// most fetched data buffered ahead of the application (default 64 MiB).
    /// Fetching pauses while the buffer is above it.
    pub queued_max_bytes: usize,
    /// `isolation.level` (default read_uncommitted).
    pub isolation_level: IsolationLevel,
    /// `check.crcs` (default true).
    pub check_crcs: bool,
    /// `session.timeout.ms` (group mode, default 45 s).
    pub session_timeout: Duration,
    /// `heartbeat.interval.ms` (group mode, default 3 s).
    pub heartbeat_interval: Duration,
    /// `max.poll.interval.ms` (group mode, default 5 min).
    pub max_poll_interval: Duration,
    /// `partition.assignment.strategy`, as assignor names in preference
    /// order (`range`, `roundrobin`, `cooperative-sticky`; Java class names
    /// are accepted). Default: range, cooperative-sticky.
    pub assignment_strategies: Vec<String>,
    /// `client.rack`, sent to the broker in Fetch (KIP-392: the leader may
    /// name a replica in this rack to read from) and to assignors.
    pub client_rack: Option<String>,
    /// `max.poll.records`: the most messages one [`recv_batch`] returns when
    /// the caller asks for more (default 500).
    ///
    /// [`recv_batch`]: super::Consumer::recv_batch
    pub max_poll_records: usize,
    /// `retry.backoff.ms`: pause after a failed fetch or commit (default 100 ms).
    pub retry_backoff: Duration,
}

impl Default for ConsumerConfig {
    fn default() -> Self {
        Self {
            group_id: None,
            group_instance_id: None,
            auto_offset_reset: OffsetReset::Latest,
            enable_auto_commit: true,
            auto_commit_interval: Duration::from_secs(5),
            fetch_min_bytes: 1,
            fetch_max_bytes: 50 * 1024 * 1024,
            max_partition_fetch_bytes: 1024 * 1024,
            fetch_max_wait: Duration::from_millis(500),
            queued_max_bytes: 64 * 1024 * 1024,
            isolation_level: IsolationLevel::ReadUncommitted,
            check_crcs: true,
            session_timeout: Duration::from_secs(45),
            heartbeat_interval: Duration::from_secs(3),
            max_poll_interval: Duration::from_secs(300),
            assignment_strategies: vec!["range".into(), "cooperative-sticky".into()],
            client_rack: None,
            max_poll_records: 500,
            retry_backoff: Duration::from_millis(100),
        }
    }
}

/// Assignor names Klamm knows, with the Java class names that mean them.
const ASSIGNORS: [(&str, &str); 3] = [
    ("range", "org.apache.kafka.clients.consumer.RangeAssignor"),
    (
        "roundrobin",
        "org.apache.kafka.clients.consumer.RoundRobinAssignor",
    ),
    (
        "cooperative-sticky",
        "org.apache.kafka.clients.consumer.CooperativeStickyAssignor",
    ),
];

impl ConsumerConfig {
    /// Takes the consumer's properties out of `props`.
    ///
    /// Known keys: `group.id`, `group.instance.id`, `auto.offset.reset`,
    /// `enable.auto.commit`, `auto.commit.interval.ms`, `fetch.min.bytes`,
    /// `fetch.max.bytes`, `max.partition.fetch.bytes`, `fetch.max.wait.ms`,
    /// `queued.max.messages.kbytes`, `isolation.level`, `check.crcs`,
    /// `session.timeout.ms`, `heartbeat.interval.ms`, `max.poll.interval.ms`,
    /// `partition.assignment.strategy`, `client.rack`, `max.poll.records`,
    /// `retry.backoff.ms`.
    pub fn from_properties(props: &mut Properties) -> Result<Self, Error> {
        let mut c = Self {
            group_id: props.take("group.id").filter(|s| !s.is_empty()),
            group_instance_id: props.take("group.instance.id").filter(|s| !s.is_empty()),
            ..Self::default()
        };
        if let Some(r) = props.take_parsed("auto.offset.reset", |s| {
            match s.to_ascii_lowercase().as_str() {
                "earliest" | "smallest" | "beginning" => Ok(OffsetReset::Earliest),
                "latest" | "largest" | "end" => Ok(OffsetReset::Latest),
                "none" | "error" => Ok(OffsetReset::None),
                _ => Err(format!("`{s}` is not earliest, latest or none")),
            }
        })? {
            c.auto_offset_reset = r;
        }
        if let Some(b) = props.take_bool("enable.auto.commit")? {
            c.enable_auto_commit = b;
        }
        if let Some(d) = props.take_millis("auto.commit.interval.ms")? {
            c.auto_commit_interval = d;
        }
        if let Some(n) = take_i32(props, "fetch.min.bytes", 0)? {
            c.fetch_min_bytes = n;
        }
        if let Some(n) = take_i32(props, "fetch.max.bytes", 1)? {
            c.fetch_max_bytes = n;
        }
        if let Some(n) = take_i32(props, "max.partition.fetch.bytes", 1)? {
            c.max_partition_fetch_bytes = n;
        }
        if let Some(d) = props.take_millis("fetch.max.wait.ms")? {
            c.fetch_max_wait = d;
        }
        if let Some(kb) = props.take_usize("queued.max.messages.kbytes")? {
            c.queued_max_bytes = kb.saturating_mul(1024);
        }
        if let Some(l) = props.take_parsed("isolation.level", |s| {
            match s.to_ascii_lowercase().as_str() {
                "read_uncommitted" => Ok(IsolationLevel::ReadUncommitted),
                "read_committed" => Ok(IsolationLevel::ReadCommitted),
                _ => Err(format!("`{s}` is not read_uncommitted or read_committed")),
            }
        })? {
            c.isolation_level = l;
        }
        if let Some(b) = props.take_bool("check.crcs")? {
            c.check_crcs = b;
        }
        if let Some(d) = props.take_millis("session.timeout.ms")? {
            c.session_timeout = d;
        }
        if let Some(d) = props.take_millis("heartbeat.interval.ms")? {
            c.heartbeat_interval = d;
        }
        if let Some(d) = props.take_millis("max.poll.interval.ms")? {
            c.max_poll_interval = d;
        }
        if let Some(list) = props.take_parsed("partition.assignment.strategy", parse_strategies)? {
            c.assignment_strategies = list;
        }
        c.client_rack = props.take("client.rack").filter(|s| !s.is_empty());
        if let Some(n) = props.take_usize("max.poll.records")? {
            c.max_poll_records = n;
        }
        if let Some(d) = props.take_millis("retry.backoff.ms")? {
            c.retry_backoff = d;
        }
        c.validate()?;
        Ok(c)
    }

    /// Checks the settings against each other; errors name the property.
    pub fn validate(&self) -> Result<(), Error> {
        if self.max_poll_records == 0 {
            return Err(Error::config("max.poll.records", "must be at least 1"));
        }
        if self.queued_max_bytes == 0 {
            return Err(Error::config(
                "queued.max.messages.kbytes",
                "must be at least 1",
            ));
        }
        if i32::try_from(self.fetch_max_wait.as_millis()).is_err() {
            return Err(Error::config("fetch.max.wait.ms", "does not fit in an i32"));
        }
        if self.group_id.is_none() && self.group_instance_id.is_some() {
            return Err(Error::config(
                "group.instance.id",
                "needs a group.id as well",
            ));
        }
        if self.heartbeat_interval.is_zero() || self.heartbeat_interval >= self.session_timeout {
            return Err(Error::config(
                "heartbeat.interval.ms",
                "must be above zero and below session.timeout.ms",
            ));
        }
        if self.assignment_strategies.is_empty() {
            return Err(Error::config(
                "partition.assignment.strategy",
                "needs at least one assignor",
            ));
        }
        Ok(())
    }
}

fn take_i32(props: &mut Properties, key: &str, min: i32) -> Result<Option<i32>, Error> {
    props.take_parsed(key, |s| {
        s.parse::<i32>()
            .ok()
            .filter(|n| *n >= min)
            .ok_or_else(|| format!("`{s}` is not an integer between {min} and {}", i32::MAX))
    })
}

fn parse_strategies(s: &str) -> Result<Vec<String>, String> {
    s.split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(|name| {
            ASSIGNORS
                .iter()
                .find(|(short, class)| name.eq_ignore_ascii_case(short) || name == *class)
                .map(|(short, _)| (*short).to_owned())
                .ok_or_else(|| {
                    format!(
                        "unknown assignor `{name}` (known: range, roundrobin, cooperative-sticky)"
                    )
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(pairs: &[(&str, &str)]) -> Result<ConsumerConfig, Error> {
        let mut props: Properties = pairs.iter().copied().collect();
        let c = ConsumerConfig::from_properties(&mut props)?;
        props.finish()?;
        Ok(c)
    }

    #[test]
    fn defaults_follow_the_java_consumer() {
        let c = parse(&[]).unwrap();
        assert_eq!(c.auto_offset_reset, OffsetReset::Latest);
        assert!(c.enable_auto_commit);
        assert_eq!(c.fetch_max_wait, Duration::from_millis(500));
        assert_eq!(c.max_partition_fetch_bytes, 1 << 20);
        assert_eq!(c.isolation_level, IsolationLevel::ReadUncommitted);
        assert_eq!(c.assignment_strategies, ["range", "cooperative-sticky"]);
    }

    #[test]
    fn every_key_is_read() {
        let c = parse(&[
            ("group.id", "g"),
            ("group.instance.id", "i-1"),
            ("auto.offset.reset", "earliest"),
            ("enable.auto.commit", "false"),
            ("auto.commit.interval.ms", "250"),
            ("fetch.min.bytes", "10"),
            ("fetch.max.bytes", "1000"),
            ("max.partition.fetch.bytes", "100"),
            ("fetch.max.wait.ms", "10"),
            ("queued.max.messages.kbytes", "2"),
            ("isolation.level", "read_committed"),
            ("check.crcs", "false"),
            ("session.timeout.ms", "10000"),
            ("heartbeat.interval.ms", "1000"),
            ("max.poll.interval.ms", "20000"),
            (
                "partition.assignment.strategy",
                "org.apache.kafka.clients.consumer.RoundRobinAssignor, range",
            ),
            ("client.rack", "r1"),
            ("max.poll.records", "7"),
            ("retry.backoff.ms", "5"),
        ])
        .unwrap();
        assert_eq!(c.group_id.as_deref(), Some("g"));
        assert_eq!(c.group_instance_id.as_deref(), Some("i-1"));
        assert_eq!(c.auto_offset_reset, OffsetReset::Earliest);
        assert!(!c.enable_auto_commit);
        assert_eq!(c.auto_commit_interval, Duration::from_millis(250));
        assert_eq!(
            (
                c.fetch_min_bytes,
                c.fetch_max_bytes,
                c.max_partition_fetch_bytes
            ),
            (10, 1000, 100)
        );
        assert_eq!(c.fetch_max_wait, Duration::from_millis(10));
        assert_eq!(c.queued_max_bytes, 2048);
        assert_eq!(c.isolation_level, IsolationLevel::ReadCommitted);
        assert!(!c.check_crcs);
        assert_eq!(c.session_timeout, Duration::from_secs(10));
        assert_eq!(c.heartbeat_interval, Duration::from_secs(1));
        assert_eq!(c.max_poll_interval, Duration::from_secs(20));
        assert_eq!(c.assignment_strategies, ["roundrobin", "range"]);
        assert_eq!(c.client_rack.as_deref(), Some("r1"));
        assert_eq!(c.max_poll_records, 7);
        assert_eq!(c.retry_backoff, Duration::from_millis(5));
    }

    #[test]
    fn unknown_and_invalid_properties_are_named() {
        let err = parse(&[("fetch.max.wait", "10")]).unwrap_err().to_string();
        assert!(err.contains("fetch.max.wait"), "{err}");
        let err = parse(&[("auto.offset.reset", "sometimes")])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("auto.offset.reset") && err.contains("sometimes"),
            "{err}"
        );
        let err = parse(&[("partition.assignment.strategy", "sticky")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown assignor `sticky`"), "{err}");
        let err = parse(&[("heartbeat.interval.ms", "60000")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("heartbeat.interval.ms"), "{err}");
        let err = parse(&[("group.instance.id", "x")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("group.instance.id"), "{err}");
        let err = parse(&[("fetch.max.bytes", "-1")]).unwrap_err().to_string();
        assert!(err.contains("fetch.max.bytes"), "{err}");
    }
}
