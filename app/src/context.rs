//! [`Context`]: what a handler may ask for besides the message.

use std::sync::Arc;

use klamm::consumer::Message;
use klamm::producer::RecordMetadata;
use klamm::protocol::records::{Header, HeadersIter};
use tokio::sync::{mpsc, oneshot};

use crate::app::{App, IntoKey};
use crate::error::{CommitError, PublishError};
use crate::schema::Schema;

/// Headers the app itself writes (dead-letter details); they describe one
/// record and are never propagated to what a handler publishes.
pub const RESERVED_HEADER_PREFIX: &str = "klamm.";

/// A handler's request to commit, answered by its subscription.
pub(crate) type CommitRequest = oneshot::Sender<Result<(), klamm::Error>>;

/// The handler's view of the app and of the record being handled. Cheap
/// to clone.
#[derive(Debug, Clone)]
pub struct Context {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    app: App,
    message: Message,
    stream: String,
    /// `None` in auto-commit mode.
    commit: Option<mpsc::UnboundedSender<CommitRequest>>,
}

impl Context {
    pub(crate) fn new(
        app: App,
        message: Message,
        commit: Option<mpsc::UnboundedSender<CommitRequest>>,
    ) -> Self {
        let stream = message
            .topic()
            .strip_prefix(app.config().topic_prefix.as_str())
            .unwrap_or(message.topic())
            .to_owned();
        Self {
            inner: Arc::new(Inner {
                app,
                message,
                stream,
                commit,
            }),
        }
    }

    /// The app.
    pub fn app(&self) -> &App {
        &self.inner.app
    }

    /// The raw record being handled.
    pub fn message(&self) -> &Message {
        &self.inner.message
    }

    /// The stream it came from (its topic without the app's prefix).
    pub fn stream(&self) -> &str {
        &self.inner.stream
    }

    /// The record's headers.
    pub fn headers(&self) -> HeadersIter<'_> {
        self.inner.message.headers()
    }

    /// The value of the last header named `key`, if any (`Some(None)`: a
    /// null value).
    pub fn header(&self, key: &str) -> Option<Option<&[u8]>> {
        self.headers()
            .filter(|h| h.key == key.as_bytes())
            .last()
            .map(|h| h.value)
    }

    /// The headers [`Self::publish`] carries over: every header of the
    /// consumed record (trace ids, correlation ids, ...) except the app's
    /// own `klamm.*` headers.
    pub fn propagated_headers(&self) -> Vec<Header> {
        self.headers()
            .filter(|h| !h.key.starts_with(RESERVED_HEADER_PREFIX.as_bytes()))
            .map(|h| Header {
                key: bytes::Bytes::copy_from_slice(h.key),
                value: h.value.map(bytes::Bytes::copy_from_slice),
            })
            .collect()
    }

    /// Publishes like [`App::publish`], carrying over the consumed
    /// record's headers ([`Self::propagated_headers`]).
    pub async fn publish<T: Schema>(
        &self,
        stream: &str,
        message: &T,
        key: impl IntoKey,
    ) -> Result<RecordMetadata, PublishError> {
        let headers = self.propagated_headers();
        self.inner
            .app
            .publish_with_headers(stream, message, key, &headers)
            .await
    }

    /// Manual commit mode: commits, for every partition of this
    /// subscription, everything handled so far including this record, and
    /// waits for the broker. In auto-commit mode it is an error
    /// ([`CommitError::AutoCommit`]).
    pub async fn commit(&self) -> Result<(), CommitError> {
        let Some(commit) = &self.inner.commit else {
            return Err(CommitError::AutoCommit);
        };
        let (tx, rx) = oneshot::channel();
        commit.send(tx).map_err(|_| CommitError::Gone)?;
        rx.await.map_err(|_| CommitError::Gone)?.map_err(Into::into)
    }
}
