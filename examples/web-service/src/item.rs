//! The `POST /items` body: parsed, validated, and kept as received.
//!
//! The record sent to Kafka is keyed by the item's `id` and its value is the
//! request body exactly as received (after validation), so nothing is
//! serialized twice on the request path.

use axum::extract::{FromRequest, Request};
use bytes::Bytes;
use serde::Deserialize;

use crate::error::ApiError;

/// Longest accepted `id`, in bytes.
pub const MAX_ID_LEN: usize = 64;
/// Longest accepted `name`, in bytes.
pub const MAX_NAME_LEN: usize = 200;
/// Largest accepted `quantity`.
pub const MAX_QUANTITY: u32 = 1_000_000;

/// The JSON body: `{"id": "...", "name": "...", "quantity": N}` and an
/// optional `"price_cents": N`. Unknown fields are refused.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ItemBody<'a> {
    #[serde(borrow)]
    id: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    name: std::borrow::Cow<'a, str>,
    quantity: u32,
    #[serde(default)]
    price_cents: Option<u64>,
}

/// A body that passed validation.
#[derive(Debug, Clone)]
pub struct ValidItem {
    /// The item's id: the record's key.
    pub id: String,
    /// The body as received: the record's value.
    pub body: Bytes,
}

impl ValidItem {
    /// Parses and validates `body`; the error says what was wrong.
    pub fn parse(body: Bytes) -> Result<Self, String> {
        let item: ItemBody<'_> =
            serde_json::from_slice(&body).map_err(|e| format!("invalid JSON body: {e}"))?;
        let id = item.id.trim();
        if id.is_empty() || id.len() > MAX_ID_LEN {
            return Err(format!("id must be 1 to {MAX_ID_LEN} bytes, not blank"));
        }
        if id.chars().any(char::is_control) {
            return Err("id must not contain control characters".into());
        }
        let name = item.name.trim();
        if name.is_empty() || name.len() > MAX_NAME_LEN {
            return Err(format!("name must be 1 to {MAX_NAME_LEN} bytes, not blank"));
        }
        if item.quantity == 0 || item.quantity > MAX_QUANTITY {
            return Err(format!("quantity must be 1 to {MAX_QUANTITY}"));
        }
        if item.price_cents == Some(0) {
            return Err("price_cents, when given, must be positive".into());
        }
        let id = id.to_owned();
        Ok(ValidItem { id, body })
    }
}

impl<S: Send + Sync> FromRequest<S> for ValidItem {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let body = Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiError::BadRequest(format!("cannot read body: {e}")))?;
        ValidItem::parse(body).map_err(ApiError::BadRequest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<ValidItem, String> {
        ValidItem::parse(Bytes::copy_from_slice(s.as_bytes()))
    }

    #[test]
    fn a_valid_body_keeps_its_bytes_and_trimmed_id() {
        let raw = r#"{"id":" a-1 ","name":"chair","quantity":2,"price_cents":1999}"#;
        let item = parse(raw).unwrap();
        assert_eq!(item.id, "a-1");
        assert_eq!(&item.body[..], raw.as_bytes());
        // Escapes in the id are decoded (the key is the decoded id).
        assert_eq!(
            parse(r#"{"id":"x\u0041","name":"n","quantity":1}"#)
                .unwrap()
                .id,
            "xA"
        );
    }

    #[test]
    fn invalid_bodies_say_what_is_wrong() {
        for (body, needle) in [
            ("not json", "invalid JSON"),
            (r#"{"id":"a","name":"n"}"#, "missing field `quantity`"),
            (
                r#"{"id":"a","name":"n","quantity":1,"x":1}"#,
                "unknown field",
            ),
            (r#"{"id":"","name":"n","quantity":1}"#, "id must be"),
            (r#"{"id":"a\u0007","name":"n","quantity":1}"#, "control"),
            (r#"{"id":"a","name":"   ","quantity":1}"#, "name must be"),
            (r#"{"id":"a","name":"n","quantity":0}"#, "quantity must be"),
            (r#"{"id":"a","name":"n","quantity":-3}"#, "invalid JSON"),
            (
                r#"{"id":"a","name":"n","quantity":1,"price_cents":0}"#,
                "price_cents",
            ),
        ] {
            let err = parse(body).unwrap_err();
            assert!(err.contains(needle), "{body}: {err}");
        }
        let long = format!(r#"{{"id":"{}","name":"n","quantity":1}}"#, "x".repeat(65));
        assert!(parse(&long).unwrap_err().contains("id must be"));
    }
}
