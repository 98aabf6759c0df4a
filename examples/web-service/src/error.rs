//! How the endpoints answer when something went wrong.
//!
//! | case | status |
//! | --- | --- |
//! | body is not a valid item | 400 |
//! | record larger than the producer accepts | 413 |
//! | producer buffer full, metadata not there in time, shutting down | 503 (+ `Retry-After: 1`) |
//! | the broker did not take the record (awaitable endpoint only) | 500 |
//!
//! Every error body is `{"error": "<text>"}`.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use klamm::producer::ProduceError;

/// An endpoint's failure; see the module docs for the status codes.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    /// The request body is not a valid item.
    #[error("{0}")]
    BadRequest(String),
    /// The service cannot take the record now (buffer full, shutting down).
    #[error("{0}")]
    Unavailable(String),
    /// The record can never be taken (too large).
    #[error("{0}")]
    TooLarge(String),
    /// Delivery failed.
    #[error("{0}")]
    Failed(String),
}

impl ApiError {
    /// Classifies an error from enqueueing a record (`try_send`, `send`,
    /// `send_with_callback`): overload and shutdown are 503, a record too
    /// large 413, anything else (a bad partition) 500.
    pub fn from_enqueue(e: ProduceError) -> Self {
        match e {
            ProduceError::QueueFull { .. }
            | ProduceError::MaxBlock { .. }
            | ProduceError::MetadataPending { .. }
            | ProduceError::Closed => ApiError::Unavailable(e.to_string()),
            ProduceError::RecordTooLarge { .. } => ApiError::TooLarge(e.to_string()),
            other => ApiError::Failed(other.to_string()),
        }
    }

    /// The HTTP status this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Failed(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut response = (
            status,
            Json(serde_json::json!({ "error": self.to_string() })),
        )
            .into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn overload_is_503_and_delivery_failures_500() {
        let full = ApiError::from_enqueue(ProduceError::QueueFull {
            buffered: 10,
            limit: 10,
        });
        assert_eq!(full.status(), StatusCode::SERVICE_UNAVAILABLE);
        let blocked = ApiError::from_enqueue(ProduceError::MaxBlock {
            what: "buffer space (buffer.memory)",
            after: Duration::from_millis(5),
        });
        assert_eq!(blocked.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(blocked.to_string().contains("buffer.memory"));
        let large = ApiError::from_enqueue(ProduceError::RecordTooLarge {
            size: 9,
            limit: 1,
            property: "max.request.size",
        });
        assert_eq!(large.status(), StatusCode::PAYLOAD_TOO_LARGE);
        let r = ApiError::Unavailable("x".into()).into_response();
        assert_eq!(r.headers().get(header::RETRY_AFTER).unwrap(), "1");
        let r = ApiError::Failed("broker said no".into()).into_response();
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(r.headers().get(header::RETRY_AFTER).is_none());
    }
}
