//! [`Router`]: schemas, streams and handlers declared without an app,
//! mounted into one later ([`App::mount`](crate::App::mount)).

use crate::error::AppError;
use crate::handler::Handler;
use crate::policy::FailurePolicy;
use crate::schema::{Schema, SchemaInfo};
use crate::stream::StreamDef;
use crate::subscription::SubscriptionDef;

/// Declarations waiting for an app. Building never fails; mistakes (a bad
/// pattern, one stream with two schemas) are reported by `App::mount`.
///
/// ```
/// # use serde::{Deserialize, Serialize};
/// # #[derive(Serialize, Deserialize)] struct Content { id: u64 }
/// # klamm_app::schema!(Content, "Content", 1);
/// use klamm_app::{FailurePolicy, Router};
///
/// async fn index(c: Content) {}
///
/// pub fn routes() -> Router {
///     Router::new()
///         .stream::<Content>("content.created")
///         .subscribe("content.*", "indexer", index)
/// }
/// ```
#[derive(Debug, Default)]
pub struct Router {
    schemas: Vec<SchemaInfo>,
    streams: Vec<StreamDef>,
    subscriptions: Vec<SubscriptionDef>,
    errors: Vec<String>,
}

impl Router {
    /// An empty router.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `T`'s schema.
    pub fn schema<T: Schema>(mut self) -> Self {
        self.schemas.push(SchemaInfo::of::<T>());
        self
    }

    /// Declares the stream `name` carrying `T`.
    pub fn stream<T: Schema>(self, name: &str) -> Self {
        self.stream_def(StreamDef::new::<T>(name))
    }

    /// Declares a stream with its topic options.
    pub fn stream_def(mut self, def: StreamDef) -> Self {
        self.streams.push(def);
        self
    }

    /// Adds a handler for the streams matching `pattern`, in `group`, with
    /// the default failure policy.
    pub fn subscribe<H: Handler<Args>, Args>(self, pattern: &str, group: &str, handler: H) -> Self {
        self.subscribe_with(pattern, group, FailurePolicy::default(), handler)
    }

    /// Adds a handler with an explicit failure policy.
    pub fn subscribe_with<H: Handler<Args>, Args>(
        mut self,
        pattern: &str,
        group: &str,
        policy: FailurePolicy,
        handler: H,
    ) -> Self {
        match SubscriptionDef::new(pattern, group, policy, handler) {
            Ok(def) => self.subscriptions.push(def),
            Err(e) => self.errors.push(e),
        }
        self
    }

    /// Adds another router's declarations.
    pub fn merge(mut self, other: Router) -> Self {
        self.schemas.extend(other.schemas);
        self.streams.extend(other.streams);
        self.subscriptions.extend(other.subscriptions);
        self.errors.extend(other.errors);
        self
    }

    pub(crate) fn into_parts(self) -> Result<RouterParts, AppError> {
        if let Some(e) = self.errors.into_iter().next() {
            return Err(AppError::Registration(e));
        }
        Ok(RouterParts {
            schemas: self.schemas,
            streams: self.streams,
            subscriptions: self.subscriptions,
        })
    }
}

/// A router's declarations, checked.
pub(crate) struct RouterParts {
    pub(crate) schemas: Vec<SchemaInfo>,
    pub(crate) streams: Vec<StreamDef>,
    pub(crate) subscriptions: Vec<SubscriptionDef>,
}
