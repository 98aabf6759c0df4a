#![doc = include_str!("../README.md")]

mod app;
mod cli;
mod config;
mod context;
pub mod envelope;
mod error;
mod extract;
mod handler;
mod log_layer;
mod policy;
mod router;
pub mod schema;
mod stream;
mod subscription;
mod topics;
mod worker;

pub use app::{App, IntoKey};
pub use cli::{WorkerArgs, parse_properties};
pub use config::AppConfig;
pub use context::{Context, RESERVED_HEADER_PREFIX};
pub use envelope::DecodeError;
pub use error::{AppError, BoxError, CommitError, HandlerError, PublishError, SubscriptionError};
pub use extract::{FromContext, FromRecord, Headers, RecordMeta, Untyped};
pub use handler::{BoxFuture, Handler, IntoHandlerResult};
pub use log_layer::{LogEvent, LogLayer, LogPublisher, LogStats};
pub use policy::{Exhausted, FailurePolicy};
pub use router::Router;
pub use schema::{Schema, SchemaInfo, SchemaRef, SchemaRefError};
pub use stream::{StreamDef, StreamPattern};
pub use worker::shutdown_signal;

/// Re-exports for the [`schema!`] macro; not a stable API.
#[doc(hidden)]
pub mod __private {
    pub use serde_json;
}
