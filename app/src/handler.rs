//! Handlers: async functions whose parameters say what they receive.
//!
//! The first parameter implements [`FromRecord`] (typed message, raw
//! bytes, raw record, untyped JSON); up to three more implement
//! [`FromContext`] (the [`Context`], the [`App`](crate::App), the
//! headers, the record's metadata). This is axum's extractor pattern: one
//! `Handler` impl per arity, chosen by the function's signature.
//!
//! ```
//! # use serde::{Deserialize, Serialize};
//! # #[derive(Serialize, Deserialize)] struct Content { id: u64 }
//! # klamm_app::schema!(Content, "Content", 1);
//! use klamm_app::{Context, Headers, Router};
//!
//! async fn typed(c: Content) {}
//! async fn with_context(c: Content, ctx: Context) -> Result<(), std::io::Error> { Ok(()) }
//! async fn raw(value: bytes::Bytes, headers: Headers) {}
//! async fn untyped(v: serde_json::Value) {}
//!
//! let router = Router::new()
//!     .subscribe("content.*", "typed", typed)
//!     .subscribe("content.*", "ctx", with_context)
//!     .subscribe("content.*", "raw", raw)
//!     .subscribe("content.*", "untyped", untyped);
//! ```

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use klamm::consumer::Message;

use crate::context::Context;
use crate::error::{BoxError, HandlerError};
use crate::extract::{FromContext, FromRecord};

/// A boxed, sendable future.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// Something that handles one consumed record. Implemented for async
/// functions and closures `Fn(M, C1, .., Cn) -> impl Future` with
/// `M: FromRecord`, `Ci: FromContext`, n ≤ 3, returning `()` or
/// `Result<(), E>`. `Args` only tells the impls apart.
pub trait Handler<Args>: Clone + Send + Sync + 'static {
    /// Extracts the parameters and runs the function.
    fn call(&self, message: Message, ctx: Context) -> BoxFuture<Result<(), HandlerError>>;
}

/// What a handler may return: `()` (always success) or `Result<(), E>`.
pub trait IntoHandlerResult {
    /// The outcome as the runtime sees it.
    fn into_handler_result(self) -> Result<(), HandlerError>;
}

impl IntoHandlerResult for () {
    fn into_handler_result(self) -> Result<(), HandlerError> {
        Ok(())
    }
}

impl<E: Into<BoxError>> IntoHandlerResult for Result<(), E> {
    fn into_handler_result(self) -> Result<(), HandlerError> {
        self.map_err(|e| HandlerError::Failed(e.into()))
    }
}

macro_rules! impl_handler {
    ($($c:ident),*) => {
        impl<F, Fut, R, M, $($c,)*> Handler<(M, $($c,)*)> for F
        where
            F: Fn(M, $($c,)*) -> Fut + Clone + Send + Sync + 'static,
            Fut: Future<Output = R> + Send + 'static,
            R: IntoHandlerResult,
            M: FromRecord,
            $($c: FromContext,)*
        {
            #[allow(non_snake_case)]
            #[allow(unused_variables)]
            fn call(&self, message: Message, ctx: Context) -> BoxFuture<Result<(), HandlerError>> {
                let m = match M::from_record(&message) {
                    Ok(m) => m,
                    Err(e) => return Box::pin(std::future::ready(Err(HandlerError::Decode(e)))),
                };
                $(let $c = $c::from_context(&ctx);)*
                let fut = (self)(m, $($c,)*);
                Box::pin(async move { fut.await.into_handler_result() })
            }
        }
    };
}

impl_handler!();
impl_handler!(C1);
impl_handler!(C1, C2);
impl_handler!(C1, C2, C3);

/// A handler with its parameter types erased, as subscriptions keep it.
pub(crate) type ErasedHandler =
    Arc<dyn Fn(Message, Context) -> BoxFuture<Result<(), HandlerError>> + Send + Sync>;

/// Erases `handler`'s parameter types.
pub(crate) fn erase<H: Handler<Args>, Args>(handler: H) -> ErasedHandler {
    Arc::new(move |message, ctx| handler.call(message, ctx))
}
