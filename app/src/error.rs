//! Errors of the application layer.

use klamm::producer::ProduceError;

use crate::envelope::DecodeError;
use crate::schema::SchemaRef;

/// Any error a handler returns.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why publishing failed.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// No stream of that name is registered.
    #[error("unknown stream `{0}`: register it (App::stream or Router::stream) before publishing")]
    UnknownStream(String),
    /// The stream carries another schema than the message's type.
    #[error("stream `{stream}` carries {stream_schema}, not {message_schema}")]
    WrongSchema {
        /// The stream.
        stream: String,
        /// Its registered schema.
        stream_schema: SchemaRef,
        /// The message type's schema.
        message_schema: SchemaRef,
    },
    /// The message did not serialize to JSON.
    #[error("cannot encode the message as JSON: {0}")]
    Encode(#[source] serde_json::Error),
    /// The producer failed to deliver it.
    #[error("delivery failed: {0}")]
    Produce(#[from] ProduceError),
}

/// Why a handler did not finish a message.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// The record did not decode into what the handler asks for (schema
    /// mismatch, not JSON, wrong data). Retrying cannot help, so the
    /// failure policy's final step applies at once.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The handler returned an error (retried per the failure policy).
    #[error("handler failed: {0}")]
    Failed(#[source] BoxError),
}

impl HandlerError {
    /// Whether another attempt may succeed.
    pub fn is_retriable(&self) -> bool {
        matches!(self, Self::Failed(_))
    }

    /// A short name of the kind, for dead-letter headers.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Decode(_) => "decode",
            Self::Failed(_) => "handler",
        }
    }
}

/// Why a subscription stopped.
#[derive(Debug, thiserror::Error)]
pub enum SubscriptionError {
    /// The consumer could not be created or subscribed, or it closed.
    #[error("subscription `{pattern}` of group `{group}`: consumer failed: {source}")]
    Consumer {
        /// The stream pattern.
        pattern: String,
        /// The group.
        group: String,
        /// The client's error.
        #[source]
        source: klamm::Error,
    },
    /// A message failed after its retries and the policy is to stop.
    #[error(
        "subscription `{pattern}` of group `{group}` stopped at {topic}/{partition}@{offset} \
         after {attempts} attempt(s): {source}"
    )]
    Handler {
        /// The stream pattern.
        pattern: String,
        /// The group.
        group: String,
        /// The record's topic.
        topic: String,
        /// Its partition.
        partition: i32,
        /// Its offset (not committed: a restart handles it again).
        offset: i64,
        /// How many times the handler ran.
        attempts: u32,
        /// The last failure.
        #[source]
        source: HandlerError,
    },
    /// Forwarding a failed message to the dead-letter stream failed too.
    #[error(
        "subscription `{pattern}` of group `{group}`: cannot dead-letter {topic}/{partition}@{offset} \
         to `{dead_letter}` ({handler_error}): {source}"
    )]
    DeadLetter {
        /// The stream pattern.
        pattern: String,
        /// The group.
        group: String,
        /// The record's topic.
        topic: String,
        /// Its partition.
        partition: i32,
        /// Its offset.
        offset: i64,
        /// The dead-letter stream.
        dead_letter: String,
        /// What the handler failed with.
        handler_error: String,
        /// Why forwarding failed.
        #[source]
        source: PublishError,
    },
}

/// Errors of the app as a whole: configuration, connecting, registration,
/// topic creation, and the first subscription that stopped.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The configuration is invalid.
    #[error("invalid app configuration: {0}")]
    Config(String),
    /// A registration conflicts with an earlier one.
    #[error("registration refused: {0}")]
    Registration(String),
    /// The client failed (connecting, properties, admin calls).
    #[error(transparent)]
    Client(Box<klamm::Error>),
    /// Creating a stream's topic failed.
    #[error("cannot create topic `{topic}`: {source}")]
    CreateTopic {
        /// The topic.
        topic: String,
        /// The broker's or client's error.
        #[source]
        source: Box<klamm::Error>,
    },
    /// A subscription stopped with an error.
    #[error(transparent)]
    Subscription(Box<SubscriptionError>),
    /// Publishing failed.
    #[error(transparent)]
    Publish(Box<PublishError>),
    /// A task of the app failed unexpectedly.
    #[error("internal error: {0}")]
    Internal(String),
}

// Boxed: the client's errors are large, and registration calls return
// `Result<(), AppError>` on every path.
impl From<klamm::Error> for AppError {
    fn from(e: klamm::Error) -> Self {
        Self::Client(Box::new(e))
    }
}

impl From<SubscriptionError> for AppError {
    fn from(e: SubscriptionError) -> Self {
        Self::Subscription(Box::new(e))
    }
}

impl From<PublishError> for AppError {
    fn from(e: PublishError) -> Self {
        Self::Publish(Box::new(e))
    }
}

impl AppError {
    pub(crate) fn config(reason: impl Into<String>) -> Self {
        Self::Config(reason.into())
    }
}

/// Why [`Context::commit`](crate::Context::commit) failed.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    /// The app commits by itself; `commit()` is for manual commit mode.
    #[error("commit() needs manual commit mode (AppConfig::auto_commit(false))")]
    AutoCommit,
    /// The subscription that delivered the message has stopped.
    #[error("the subscription that delivered this message has stopped")]
    Gone,
    /// The broker refused the commit or could not be reached.
    #[error("commit failed: {0}")]
    Client(#[from] klamm::Error),
}
