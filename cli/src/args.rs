//! The command line: global options and one subcommand per job (clap derive).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Kafka from the command line, on the klamm client.
#[derive(Debug, Parser)]
#[command(
    name = "klamm",
    version,
    about = "Kafka from the command line: cluster, topics, offsets, produce, consume, groups, configs, perf, demo",
    after_help = "\
Examples:
  klamm -b localhost:9092 cluster
  klamm topics create orders -p 6
  echo 'k1:hello' | klamm produce orders -K: --report
  klamm consume orders -o beginning -e -f '%p/%o %k=%s\\n'
  klamm demo --count 10000
  klamm --tls --ca-file ca.pem -b broker:9093 topics list
  KLAMM_SASL_PASSWORD=secret klamm --sasl-mechanism SCRAM-SHA-512 --sasl-username alice topics list


The broker comes from -b, else the KLAMM_BOOTSTRAP environment variable.
Precedence: flags (-b, --tls, --sasl-..., a command's own flags) over -X,
-X over --config. The TLS and SASL flags only add to security.protocol.
Exit codes: 0 done, 1 the operation failed, 2 bad arguments or configuration,
3 the broker could not be reached."
)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) global: Global,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Options every subcommand takes.
#[derive(Debug, Args)]
pub(crate) struct Global {
    /// Bootstrap brokers, HOST:PORT[,HOST:PORT...] (default: $KLAMM_BOOTSTRAP).
    #[arg(short = 'b', long, global = true, value_name = "HOST:PORT")]
    pub(crate) bootstrap: Option<String>,
    /// Any client, producer or consumer property, e.g. -X linger.ms=5
    /// (repeatable; overrides --config).
    #[arg(short = 'X', value_name = "KEY=VALUE", global = true, value_parser = parse_key_value)]
    pub(crate) property: Vec<(String, String)>,
    /// A Java .properties file with client properties.
    #[arg(long, global = true, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// Print results as JSON (one object, or one per line for streams).
    #[arg(long, global = true)]
    pub(crate) json: bool,
    /// Log to stderr: -v info, -vv debug, -vvv trace (RUST_LOG overrides).
    #[arg(short = 'v', long = "verbose", action = clap::ArgAction::Count, global = true)]
    pub(crate) verbose: u8,
    #[command(flatten)]
    pub(crate) security: Security,
}

/// TLS and SASL flags: shorthands for Kafka's `security.protocol`, `ssl.*`
/// and `sasl.*` properties (see `crate::config::apply_security`).
#[derive(Debug, Default, Args)]
#[command(next_help_heading = "Security (TLS and SASL)")]
pub(crate) struct Security {
    /// Connect with TLS (security.protocol SSL, or SASL_SSL with SASL).
    /// Implied by --ca-file, --cert-file and --key-file.
    #[arg(long, global = true)]
    pub(crate) tls: bool,
    /// PEM file of the CA certificates to trust instead of the system's
    /// (ssl.ca.location).
    #[arg(long, global = true, value_name = "PEM")]
    pub(crate) ca_file: Option<PathBuf>,
    /// PEM client certificate chain (ssl.certificate.location); needs --key-file.
    #[arg(long, global = true, value_name = "PEM", requires = "key_file")]
    pub(crate) cert_file: Option<PathBuf>,
    /// PEM unencrypted private key of --cert-file (ssl.key.location).
    #[arg(long, global = true, value_name = "PEM", requires = "cert_file")]
    pub(crate) key_file: Option<PathBuf>,
    /// Skip checking that the broker's certificate names the host
    /// (ssl.endpoint.identification.algorithm empty); the chain is still verified.
    #[arg(long, global = true)]
    pub(crate) no_verify_hostname: bool,
    /// SASL mechanism (sasl.mechanism): turns SASL on (SASL_PLAINTEXT, or
    /// SASL_SSL with TLS).
    #[arg(
        long,
        global = true,
        value_enum,
        value_name = "MECHANISM",
        ignore_case = true
    )]
    pub(crate) sasl_mechanism: Option<SaslMechanismArg>,
    /// SASL user name (sasl.username); turns SASL on (PLAIN unless
    /// --sasl-mechanism says otherwise).
    #[arg(long, global = true, value_name = "NAME")]
    pub(crate) sasl_username: Option<String>,
    /// SASL password (sasl.password). Prefer the environment variable: a
    /// command line is visible to other users of the machine.
    #[arg(
        long,
        global = true,
        value_name = "PASSWORD",
        env = "KLAMM_SASL_PASSWORD",
        hide_env_values = true
    )]
    pub(crate) sasl_password: Option<String>,
}

/// `--sasl-mechanism` values (Kafka's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum SaslMechanismArg {
    /// User name and password in the clear (use with --tls).
    #[value(name = "PLAIN")]
    Plain,
    /// Salted challenge-response with SHA-256.
    #[value(name = "SCRAM-SHA-256")]
    ScramSha256,
    /// Salted challenge-response with SHA-512.
    #[value(name = "SCRAM-SHA-512")]
    ScramSha512,
}

impl SaslMechanismArg {
    /// Kafka's `sasl.mechanism` value.
    pub(crate) fn property(self) -> &'static str {
        match self {
            SaslMechanismArg::Plain => "PLAIN",
            SaslMechanismArg::ScramSha256 => "SCRAM-SHA-256",
            SaslMechanismArg::ScramSha512 => "SCRAM-SHA-512",
        }
    }
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Brokers, controller and the API versions negotiated with each broker.
    #[command(after_help = "Examples:\n  klamm cluster\n  klamm cluster --json")]
    Cluster,
    /// List, describe, create and delete topics, add partitions.
    #[command(
        subcommand,
        after_help = "Examples:\n  klamm topics list\n  klamm topics create orders -p 6\n  klamm topics describe orders\n  klamm topics add-partitions orders --total 12\n  klamm topics delete orders"
    )]
    Topics(TopicsCommand),
    /// Earliest and latest offset of every partition of a topic.
    #[command(after_help = "Examples:\n  klamm offsets orders\n  klamm offsets orders --json")]
    Offsets {
        /// The topic.
        topic: String,
    },
    /// Produce records from stdin (one per line) or from --value.
    Produce(ProduceArgs),
    /// Consume records: assigned partitions, or as a group member (-g).
    Consume(ConsumeArgs),
    /// Create a topic, produce records, consume them back and verify them.
    Demo(DemoArgs),
    /// List, describe and delete consumer groups; reset their offsets.
    #[command(
        subcommand,
        after_help = "Examples:\n  klamm groups list\n  klamm groups describe billing\n  klamm groups reset-offsets billing --topic orders --to-earliest --execute\n  klamm groups delete billing"
    )]
    Groups(GroupsCommand),
    /// Describe, set and delete topic or broker configs.
    #[command(
        subcommand,
        after_help = "Examples:\n  klamm configs describe --topic orders\n  klamm configs set --topic orders retention.ms=600000\n  klamm configs delete --topic orders retention.ms"
    )]
    Configs(ConfigsCommand),
    /// Measure produce or consume throughput, latency and CPU time.
    #[command(
        subcommand,
        after_help = "Examples:\n  klamm perf produce bench --count 1000000 --size 100\n  klamm perf produce bench --duration 30s --throughput 50000\n  klamm --json perf consume bench --count 1000000"
    )]
    Perf(PerfCommand),
}

/// `klamm perf ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum PerfCommand {
    /// Produce records as fast as allowed; report throughput, send-to-ack
    /// latency percentiles and the client's CPU time.
    #[command(after_help = "\
Examples:
  klamm perf produce bench --count 1000000 --size 100
  klamm perf produce bench --duration 30s --throughput 50000 --acks 1
  klamm perf produce bench --count 500000 -z lz4 --linger-ms 20 --batch-size 262144
  klamm --json perf produce bench --count 100000

Stops after --count records or --duration, whichever comes first (default:
100000 records). Every delivery is awaited; latency is from just before
send to the delivery report. The flags override -X and --config.
--json prints one object: op, topic, records, bytes, failed, seconds,
records_per_second, mb_per_second, mib_per_second, latency_ms {p50, p95,
p99, max, mean}, cpu_user_seconds, cpu_system_seconds, cpu_percent and
config {acks, compression, linger_ms, batch_size, idempotence}.")]
    Produce(PerfProduceArgs),
    /// Read records from the beginning of every partition; report
    /// throughput and the client's CPU time.
    #[command(after_help = "\
Examples:
  klamm perf consume bench --count 1000000
  klamm perf consume bench --duration 10s
  klamm --json perf consume bench --count 100000 -X fetch.max.bytes=104857600

Stops after --count records or --duration, whichever comes first (default:
100000 records); fails if no record arrives for 30 s before --count.
--json prints one object: op, topic, records, bytes (values), seconds,
records_per_second, mb_per_second, mib_per_second, latency_ms (null),
cpu_user_seconds, cpu_system_seconds, cpu_percent.")]
    Consume(PerfConsumeArgs),
}

/// When a perf run stops.
#[derive(Debug, Args)]
pub(crate) struct PerfLimit {
    /// Records to produce or read (default 100000 unless --duration).
    #[arg(long)]
    pub(crate) count: Option<u64>,
    /// How long to run, e.g. 30s, 500ms, 2m (a bare number is seconds).
    #[arg(long, value_parser = parse_duration)]
    pub(crate) duration: Option<std::time::Duration>,
}

impl PerfLimit {
    /// The record limit: --count, or 100000 when neither is given.
    pub(crate) fn count(&self) -> u64 {
        match (self.count, self.duration) {
            (Some(n), _) => n,
            (None, Some(_)) => u64::MAX,
            (None, None) => 100_000,
        }
    }
}

/// `klamm perf produce`.
#[derive(Debug, Args)]
pub(crate) struct PerfProduceArgs {
    /// The topic (must exist).
    pub(crate) topic: String,
    #[command(flatten)]
    pub(crate) limit: PerfLimit,
    /// Value size in bytes (no key).
    #[arg(long, default_value_t = 100)]
    pub(crate) size: usize,
    /// At most this many records per second (default: no cap).
    #[arg(long, value_name = "RECORDS_PER_SEC")]
    pub(crate) throughput: Option<f64>,
    /// Acknowledgements to wait for (acks=0|1 turn default idempotence off).
    #[arg(long, value_enum)]
    pub(crate) acks: Option<AcksArg>,
    /// Compression codec (compression.type).
    #[arg(short = 'z', long, value_enum)]
    pub(crate) compression: Option<Codec>,
    /// How long a batch waits for more records (linger.ms).
    #[arg(long, value_name = "MS")]
    pub(crate) linger_ms: Option<u64>,
    /// Largest batch in bytes per partition (batch.size).
    #[arg(long, value_name = "BYTES")]
    pub(crate) batch_size: Option<usize>,
}

/// `klamm perf consume`.
#[derive(Debug, Args)]
pub(crate) struct PerfConsumeArgs {
    /// The topic.
    pub(crate) topic: String,
    #[command(flatten)]
    pub(crate) limit: PerfLimit,
}

/// `klamm groups ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum GroupsCommand {
    /// List the cluster's groups.
    #[command(after_help = "Examples:\n  klamm groups list\n  klamm groups list --json")]
    List,
    /// State, members and committed offsets of groups.
    #[command(
        after_help = "Examples:\n  klamm groups describe billing\n  klamm groups describe billing audit --json"
    )]
    Describe {
        /// The groups.
        #[arg(required = true)]
        groups: Vec<String>,
    },
    /// Move a group's committed offsets (prints the plan; --execute applies it).
    #[command(
        after_help = "Examples:\n  klamm groups reset-offsets billing --topic orders --to-earliest\n  klamm groups reset-offsets billing --topic orders --to-offset 42 --execute\n\nThe group must have no active members when executing."
    )]
    ResetOffsets {
        /// The group.
        group: String,
        /// The topic whose partitions move (all of them).
        #[arg(long)]
        topic: String,
        #[command(flatten)]
        to: ResetTo,
        /// Apply the plan (without it: dry run).
        #[arg(long)]
        execute: bool,
    },
    /// Delete groups (they must have no members).
    #[command(after_help = "Example:\n  klamm groups delete billing")]
    Delete {
        /// The groups.
        #[arg(required = true)]
        groups: Vec<String>,
    },
}

/// Where `groups reset-offsets` moves the offsets.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub(crate) struct ResetTo {
    /// The log start of each partition.
    #[arg(long)]
    pub(crate) to_earliest: bool,
    /// The log end of each partition.
    #[arg(long)]
    pub(crate) to_latest: bool,
    /// This offset in every partition.
    #[arg(long, value_name = "OFFSET")]
    pub(crate) to_offset: Option<i64>,
}

/// Which resource a config command is about.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub(crate) struct ConfigTarget {
    /// A topic.
    #[arg(long)]
    pub(crate) topic: Option<String>,
    /// A broker, by id.
    #[arg(long)]
    pub(crate) broker: Option<i32>,
}

/// `klamm configs ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum ConfigsCommand {
    /// Show configs and where each value comes from.
    #[command(
        after_help = "Examples:\n  klamm configs describe --topic orders\n  klamm configs describe --broker 1 --json"
    )]
    Describe {
        #[command(flatten)]
        target: ConfigTarget,
    },
    /// Set configs (IncrementalAlterConfigs).
    #[command(
        after_help = "Example:\n  klamm configs set --topic orders retention.ms=600000 cleanup.policy=compact"
    )]
    Set {
        #[command(flatten)]
        target: ConfigTarget,
        /// KEY=VALUE pairs.
        #[arg(required = true, value_parser = parse_key_value)]
        configs: Vec<(String, String)>,
    },
    /// Remove configs set on the resource (back to the default).
    #[command(after_help = "Example:\n  klamm configs delete --topic orders retention.ms")]
    Delete {
        #[command(flatten)]
        target: ConfigTarget,
        /// Config names.
        #[arg(required = true)]
        names: Vec<String>,
    },
}

/// `klamm topics ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum TopicsCommand {
    /// List the cluster's topics.
    #[command(after_help = "Examples:\n  klamm topics list\n  klamm topics list --internal --json")]
    List {
        /// Include internal topics.
        #[arg(long)]
        internal: bool,
    },
    /// Partitions, leaders, replicas and ISR of topics.
    #[command(
        after_help = "Examples:\n  klamm topics describe orders\n  klamm topics describe orders payments --json"
    )]
    Describe {
        /// The topics.
        #[arg(required = true)]
        topics: Vec<String>,
    },
    /// Create a topic.
    #[command(
        after_help = "Examples:\n  klamm topics create orders -p 6\n  klamm topics create compacted -p 3 -c cleanup.policy=compact"
    )]
    Create {
        /// The topic.
        topic: String,
        /// Number of partitions.
        #[arg(short = 'p', long, default_value_t = 1)]
        partitions: i32,
        /// Replication factor.
        #[arg(short = 'r', long, default_value_t = 1)]
        replication: i16,
        /// A topic config, e.g. -c retention.ms=60000 (repeatable).
        #[arg(short = 'c', long = "topic-config", value_name = "KEY=VALUE", value_parser = parse_key_value)]
        configs: Vec<(String, String)>,
        /// Succeed when the topic already exists.
        #[arg(long)]
        if_not_exists: bool,
    },
    /// Delete topics.
    #[command(after_help = "Examples:\n  klamm topics delete orders\n  klamm topics delete a b c")]
    Delete {
        /// The topics.
        #[arg(required = true)]
        topics: Vec<String>,
    },
    /// Raise a topic's partition count.
    #[command(after_help = "Example:\n  klamm topics add-partitions orders --total 12")]
    AddPartitions {
        /// The topic.
        topic: String,
        /// The new total number of partitions.
        #[arg(long)]
        total: i32,
    },
}

/// Compression codecs for `-z`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum Codec {
    /// No compression.
    None,
    /// gzip.
    Gzip,
    /// Snappy.
    Snappy,
    /// LZ4.
    Lz4,
    /// Zstandard.
    Zstd,
}

impl Codec {
    /// Kafka's `compression.type` value.
    pub(crate) fn property(self) -> &'static str {
        match self {
            Codec::None => "none",
            Codec::Gzip => "gzip",
            Codec::Snappy => "snappy",
            Codec::Lz4 => "lz4",
            Codec::Zstd => "zstd",
        }
    }
}

/// `--acks` values.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum AcksArg {
    /// No acknowledgement.
    #[value(name = "0")]
    Zero,
    /// The leader wrote it.
    #[value(name = "1")]
    One,
    /// All in-sync replicas have it.
    All,
}

impl AcksArg {
    /// Kafka's `acks` value.
    pub(crate) fn property(self) -> &'static str {
        match self {
            AcksArg::Zero => "0",
            AcksArg::One => "1",
            AcksArg::All => "all",
        }
    }
}

/// `klamm produce`.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  printf 'a\\nb\\n' | klamm produce orders
  printf 'k1:v1\\nk2:v2\\n' | klamm produce orders -K: --report
  klamm produce orders --key user-1 --value clicked -H source=web -p 0
  cat records.bin | klamm produce orders -D '|' -z zstd --acks all

Exits 1 if any record was not delivered, naming the first failures.")]
pub(crate) struct ProduceArgs {
    /// The topic.
    pub(crate) topic: String,
    /// Produce this one value instead of reading stdin.
    #[arg(long)]
    pub(crate) value: Option<String>,
    /// The key for --value (or for every stdin record without -K).
    #[arg(short = 'k', long)]
    pub(crate) key: Option<String>,
    /// Record delimiter on stdin (default: newline). Escapes \n, \t, \0 work.
    #[arg(short = 'D', long, value_name = "DELIM")]
    pub(crate) delimiter: Option<String>,
    /// Split each stdin record into key and value at the first DELIM.
    #[arg(short = 'K', long = "key-delimiter", value_name = "DELIM")]
    pub(crate) key_delimiter: Option<String>,
    /// A header, e.g. -H source=web (repeatable).
    #[arg(short = 'H', long = "header", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub(crate) headers: Vec<(String, String)>,
    /// Send every record to this partition.
    #[arg(short = 'p', long)]
    pub(crate) partition: Option<i32>,
    /// Compression codec.
    #[arg(short = 'z', long, value_enum)]
    pub(crate) compression: Option<Codec>,
    /// Acknowledgements to wait for.
    #[arg(long, value_enum)]
    pub(crate) acks: Option<AcksArg>,
    /// Turn idempotence off (on by default).
    #[arg(long)]
    pub(crate) no_idempotence: bool,
    /// Print a delivery report per record (partition, offset or error).
    #[arg(long)]
    pub(crate) report: bool,
}

/// Where `klamm consume` starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Start {
    /// The log start.
    Beginning,
    /// The log end (only new records).
    End,
    /// An absolute offset.
    At(i64),
}

/// Output formats of `klamm consume`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum OutputFormat {
    /// The value only, one per line.
    Raw,
    /// One JSON object per record.
    Json,
}

/// `klamm consume`.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  klamm consume orders -o beginning -e
  klamm consume orders -p 0 -o 42 -c 10 --output json
  klamm consume orders payments -o end
  klamm consume orders -g billing -o beginning -e
  klamm consume orders -e -f 'Topic %t [%p] at offset %o: key %k: %s\\n'

Format string (-f): %t topic, %p partition, %o offset, %k key, %s value,
%S value length, %K key length, %T timestamp (ms), %h headers (k=v,...),
%% a percent sign; \\n \\t \\\\ escapes.")]
pub(crate) struct ConsumeArgs {
    /// The topics.
    #[arg(required = true)]
    pub(crate) topics: Vec<String>,
    /// Only these partitions (repeatable; default: all).
    #[arg(short = 'p', long)]
    pub(crate) partition: Vec<i32>,
    /// Consume as a member of this consumer group (subscribe; commits on
    /// exit). -o beginning|end then applies where the group has no
    /// committed offset.
    #[arg(short = 'g', long, value_name = "GROUP")]
    pub(crate) group: Option<String>,
    /// Start at beginning, end, or an offset.
    #[arg(short = 'o', long, default_value = "end", value_parser = parse_start)]
    pub(crate) offset: Start,
    /// Stop after this many records.
    #[arg(short = 'c', long)]
    pub(crate) count: Option<u64>,
    /// Exit when every partition is read to its end.
    #[arg(short = 'e', long)]
    pub(crate) exit_at_end: bool,
    /// Output format (--json implies json).
    #[arg(long, value_enum, default_value = "raw")]
    pub(crate) output: OutputFormat,
    /// kcat-style format string (overrides --output).
    #[arg(short = 'f', long, value_name = "FORMAT")]
    pub(crate) format: Option<String>,
}

/// `klamm demo`.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  klamm demo
  klamm demo --count 1000 --partitions 3
  scripts/demo.sh            (starts a local broker first)

The records are read back by a new consumer group (one member, subscribed to
the topic, starting at the beginning). Exits 0 only if every record came back
exactly once with its key, value and headers; 1 if not (naming the first
problem).")]
pub(crate) struct DemoArgs {
    /// Records to produce and verify.
    #[arg(long, default_value_t = 100_000)]
    pub(crate) count: u64,
    /// The topic (default: a new klamm-demo-<time> topic).
    #[arg(long)]
    pub(crate) topic: Option<String>,
    /// Partitions of the new topic.
    #[arg(long, default_value_t = 3)]
    pub(crate) partitions: i32,
    /// Bytes of padding in each value.
    #[arg(long, default_value_t = 64)]
    pub(crate) value_size: usize,
    /// The consumer group that reads the records back (default: a new
    /// klamm-demo-<time> group).
    #[arg(short = 'g', long, value_name = "GROUP")]
    pub(crate) group: Option<String>,
    /// Keep the topic and the group afterwards (both are deleted by default).
    #[arg(long)]
    pub(crate) keep: bool,
}

/// `KEY=VALUE` → `(KEY, VALUE)`.
pub(crate) fn parse_key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.to_owned())),
        _ => Err(format!("`{s}` is not KEY=VALUE")),
    }
}

/// `30s`, `500ms`, `2m`, `1h` or a bare number of seconds (fractions allowed).
pub(crate) fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let n: f64 = number
        .parse()
        .map_err(|_| format!("`{s}` is not a duration like 30s, 500ms or 2m"))?;
    let scale = match unit.trim() {
        "" | "s" => 1.0,
        "ms" => 0.001,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        other => return Err(format!("`{other}` is not a unit: use ms, s, m or h")),
    };
    std::time::Duration::try_from_secs_f64(n * scale)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("`{s}` is not a positive duration"))
}

/// `beginning` | `end` | an offset.
pub(crate) fn parse_start(s: &str) -> Result<Start, String> {
    match s {
        "beginning" | "earliest" => Ok(Start::Beginning),
        "end" | "latest" => Ok(Start::End),
        n => n
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .map(Start::At)
            .ok_or_else(|| format!("`{s}` is not beginning, end or a non-negative offset")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_command_has_examples_in_its_help() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            let path = format!("{path} {}", cmd.get_name());
            let help = cmd.get_after_help().map(ToString::to_string);
            if !help.is_some_and(|h| h.contains("Example")) {
                missing.push(path.clone());
            }
            for sub in cmd.get_subcommands() {
                if sub.get_name() != "help" {
                    walk(sub, &path, missing);
                }
            }
        }
        let mut missing = Vec::new();
        walk(&Cli::command(), "", &mut missing);
        assert!(missing.is_empty(), "no examples in --help of: {missing:?}");
    }

    #[test]
    fn key_value_and_start_parse() {
        assert_eq!(
            parse_key_value("linger.ms=5").unwrap(),
            ("linger.ms".to_owned(), "5".to_owned())
        );
        assert_eq!(parse_key_value("a=b=c").unwrap().1, "b=c");
        assert!(parse_key_value("novalue").is_err());
        assert!(parse_key_value("=x").is_err());
        assert_eq!(parse_start("beginning").unwrap(), Start::Beginning);
        assert_eq!(parse_start("latest").unwrap(), Start::End);
        assert_eq!(parse_start("42").unwrap(), Start::At(42));
        assert!(parse_start("-1").is_err());
        assert!(parse_start("soon").is_err());
    }

    #[test]
    fn durations_parse_with_units() {
        use std::time::Duration;
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("1.5").unwrap(), Duration::from_millis(1500));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("10 parsecs").is_err());
        assert!(parse_duration("fast").is_err());
        assert!(parse_duration("-1s").is_err());
    }

    #[test]
    fn perf_limit_defaults_to_a_count() {
        let cli = Cli::try_parse_from(["klamm", "perf", "produce", "t"]).unwrap();
        let Command::Perf(PerfCommand::Produce(p)) = cli.command else {
            panic!("parsed as {:?}", cli.command);
        };
        assert_eq!(p.limit.count(), 100_000);
        let cli =
            Cli::try_parse_from(["klamm", "perf", "consume", "t", "--duration", "5s"]).unwrap();
        let Command::Perf(PerfCommand::Consume(c)) = cli.command else {
            panic!("parsed as {:?}", cli.command);
        };
        assert_eq!(c.limit.count(), u64::MAX);
        assert_eq!(c.limit.duration, Some(std::time::Duration::from_secs(5)));
    }
}
