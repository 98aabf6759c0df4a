//! The client's error type and its context.
//!
//! Every error says where it happened (broker, API, topic, partition) so a log
//! line alone is enough to act on. Whether to retry is decided in one place,
//! [`crate::retry::classify`], never by matching on messages.

use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use klamm_protocol::{DecodeError, EncodeError, ErrorCode, VersionRange};

use crate::conn::FrameError;

/// Where an error happened, as far as the failing layer knows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ErrorContext {
    /// Topic the request was about.
    pub topic: Option<String>,
    /// Partition the request was about.
    pub partition: Option<i32>,
    /// Broker id the request went to.
    pub broker: Option<i32>,
}

impl ErrorContext {
    /// Context naming a broker.
    pub fn broker(id: i32) -> Self {
        Self {
            broker: Some(id),
            ..Self::default()
        }
    }

    /// Adds a topic.
    pub fn with_topic(mut self, topic: impl Into<String>) -> Self {
        self.topic = Some(topic.into());
        self
    }

    /// Adds a partition.
    pub fn with_partition(mut self, partition: i32) -> Self {
        self.partition = Some(partition);
        self
    }
}

impl fmt::Display for ErrorContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut sep = " (";
        if let Some(t) = &self.topic {
            write!(f, "{sep}topic {t}")?;
            sep = ", ";
        }
        if let Some(p) = self.partition {
            write!(f, "{sep}partition {p}")?;
            sep = ", ";
        }
        if let Some(b) = self.broker {
            write!(f, "{sep}broker {b}")?;
            sep = ", ";
        }
        if sep == ", " {
            f.write_str(")")
        } else {
            Ok(())
        }
    }
}

/// Everything that can go wrong in the client.
///
/// Errors are cheap to clone (sources sit behind `Arc`) because one failure,
/// such as a lost connection, is reported to every request it affected.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration property or builder value is invalid.
    #[error("invalid configuration `{property}`: {reason}")]
    Config {
        /// The property (Kafka's name) or builder field.
        property: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Resolving or connecting to an address failed.
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        /// `host:port` as configured or advertised.
        addr: String,
        /// The I/O error.
        source: Arc<io::Error>,
    },
    /// The connection broke (I/O error, bad frame, undecodable response, peer
    /// closed it) while this request was queued or in flight.
    #[error("connection to {broker} lost: {reason}")]
    ConnectionLost {
        /// The broker (`id N at host:port`).
        broker: String,
        /// Why the connection was dropped.
        reason: String,
    },
    /// The broker sent a frame the client refuses (negative or oversized
    /// length, unknown correlation id).
    #[error("bad frame from {broker}: {source}")]
    Frame {
        /// The broker.
        broker: String,
        /// What was wrong.
        source: FrameError,
    },
    /// No response arrived within `request.timeout.ms`.
    #[error("{api} request to {broker} timed out after {after:?}")]
    RequestTimeout {
        /// The broker.
        broker: String,
        /// The API's name.
        api: &'static str,
        /// The timeout that elapsed.
        after: Duration,
    },
    /// A response did not decode.
    #[error("cannot decode {api} v{version} response from {broker}: {source}")]
    Decode {
        /// The broker.
        broker: String,
        /// The API's name.
        api: &'static str,
        /// The version the request was sent at.
        version: i16,
        /// What was wrong.
        source: DecodeError,
    },
    /// A request did not encode at the negotiated version.
    #[error("cannot encode {api} v{version} request: {source}")]
    Encode {
        /// The API's name.
        api: &'static str,
        /// The negotiated version.
        version: i16,
        /// What was wrong.
        source: EncodeError,
    },
    /// The broker does not offer the API, or no version both sides support.
    #[error(
        "broker {broker} does not support {api} at any version we speak (ours {ours}, broker's {theirs})"
    )]
    UnsupportedApi {
        /// The broker.
        broker: String,
        /// The API's name.
        api: &'static str,
        /// Versions this client implements.
        ours: VersionRange,
        /// Versions the broker offers (`none` when it lacks the API).
        theirs: BrokerRange,
    },
    /// The broker answered with an error code.
    #[error("{api} failed: {code}{}{context}", message.as_deref().map(|m| format!(": {m}")).unwrap_or_default())]
    Broker {
        /// The API's name.
        api: &'static str,
        /// Kafka's error code.
        code: ErrorCode,
        /// The broker's error message, when it sent one.
        message: Option<String>,
        /// Topic, partition and broker the code applies to.
        context: ErrorContext,
    },
    /// The group coordinator refused an offset commit because of the
    /// member's standing (stale generation, unknown member, rebalance in
    /// progress, fenced static member). Nothing was committed; `advice` says
    /// what it means and what to do.
    #[error("offset commit failed with {code}: {advice}")]
    CommitFailed {
        /// The coordinator's error code.
        code: ErrorCode,
        /// What happened and what the application should do.
        advice: &'static str,
    },
    /// SASL authentication failed; retrying with the same credentials will not help.
    #[error("SASL {mechanism} authentication with {broker} failed: {reason}")]
    Authentication {
        /// The SASL mechanism.
        mechanism: String,
        /// The broker.
        broker: String,
        /// Why, as the broker or the client's verification said.
        reason: String,
    },
    /// The TLS handshake failed.
    #[error("TLS handshake with {broker} failed: {reason}")]
    Tls {
        /// The broker.
        broker: String,
        /// Why (unknown CA, name mismatch, ...).
        reason: String,
    },
    /// The request cannot be routed as asked.
    #[error("cannot route {api}: {reason}")]
    Routing {
        /// The API's name.
        api: &'static str,
        /// Why, and what to do instead.
        reason: String,
    },
    /// Metadata does not (yet) know what was asked for.
    #[error("metadata has no {what}")]
    MetadataMissing {
        /// What is missing (`broker 3`, `controller`, `topic t`).
        what: String,
    },
    /// The client was shut down.
    #[error("client is closed")]
    Closed,
    /// Fetched record data did not decode (CRC mismatch, bad codec data,
    /// malformed record); the partition stops at `offset` until a seek.
    #[error("corrupt records at offset {offset}{context}: {source}")]
    Records {
        /// Where the bad batch or record starts.
        offset: i64,
        /// Topic, partition and broker.
        context: ErrorContext,
        /// What was wrong.
        source: Arc<klamm_protocol::records::RecordsError>,
    },
    /// A broker's response left out an item the request asked about.
    #[error("the {api} response has no result for {item}")]
    MissingResult {
        /// The API's name.
        api: &'static str,
        /// The item (topic, group, resource...).
        item: String,
    },
}

/// A broker's version range for an API, or `none` when it lacks the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BrokerRange(pub Option<VersionRange>);

impl fmt::Display for BrokerRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(r) => write!(f, "{r}"),
            None => f.write_str("none"),
        }
    }
}

impl Error {
    /// A configuration error naming the property.
    pub fn config(property: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Config {
            property: property.into(),
            reason: reason.into(),
        }
    }

    /// Turns an error code from a response body into a result: `Ok` for
    /// NONE, otherwise [`Error::Broker`] with the message and context.
    ///
    /// ```
    /// use klamm::{Error, ErrorContext};
    /// assert!(Error::check("Produce", 0, None, ErrorContext::default()).is_ok());
    /// let err = Error::check("Produce", 6, Some("moved"), ErrorContext::broker(1).with_topic("t"))
    ///     .unwrap_err();
    /// assert!(err.is_retriable());
    /// assert!(err.to_string().contains("NOT_LEADER_OR_FOLLOWER (6)"), "{err}");
    /// ```
    pub fn check(
        api: &'static str,
        code: i16,
        message: Option<&str>,
        context: ErrorContext,
    ) -> Result<(), Self> {
        match ErrorCode::from_code(code) {
            ErrorCode::None => Ok(()),
            code => Err(Self::Broker {
                api,
                code,
                message: message.map(str::to_owned),
                context,
            }),
        }
    }

    /// The Kafka error code, when the broker sent one.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Self::Broker { code, .. } | Self::CommitFailed { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// Whether retrying may succeed; see [`crate::retry::classify`] for why.
    pub fn is_retriable(&self) -> bool {
        crate::retry::classify(self).retriable
    }
}

/// Result with the client's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_display_lists_what_is_known() {
        assert_eq!(ErrorContext::default().to_string(), "");
        let ctx = ErrorContext::broker(2).with_topic("t").with_partition(7);
        assert_eq!(ctx.to_string(), " (topic t, partition 7, broker 2)");
    }

    #[test]
    fn config_error_names_property() {
        let e = Error::config("sasl.mechanism", "unknown mechanism `FOO`");
        assert_eq!(
            e.to_string(),
            "invalid configuration `sasl.mechanism`: unknown mechanism `FOO`"
        );
    }
}
