//! The five `POST /items` variants, one route each, plus `GET /stats`.
//!
//! | route | what the handler does | answer |
//! | --- | --- | --- |
//! | `/noop/items` | validates the body, produces nothing (baseline) | 202 |
//! | `/fire-and-forget/items` | `try_send`, drops the delivery future | 202 |
//! | `/callback/items` | `send_tagged`; the producer's one delivery handler counts and logs failures | 202 |
//! | `/callback-task/items` | `send_with_callback`; the callback hands the outcome to an app task | 202 |
//! | `/await/items` | `try_send`, then awaits the delivery | 201 `{partition, offset, timestamp}` or 500 |
//!
//! Memory stays bounded under overload: `try_send` never waits (a full
//! `buffer.memory` is an immediate 503), and `send_tagged` and
//! `send_with_callback` (which have no `try_` form) wait at most
//! `max.block.ms` for buffer space, which the
//! service sets low (see `config.rs`), then 503. Nothing is queued outside
//! the producer's buffer, and there is no task per request besides hyper's
//! own connection tasks.

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use klamm::producer::{Delivery, ProduceError, Producer, ProducerRecord};
use serde::Serialize;

use crate::error::ApiError;
use crate::item::ValidItem;
use crate::outcomes::{self, Outcome, OutcomeSender};
use crate::stats::{Stats, StatsSnapshot};

/// Largest request body read (a valid item is far smaller).
pub const BODY_LIMIT: usize = 16 * 1024;

/// What every handler shares.
#[derive(Debug)]
pub struct AppState {
    /// The one producer, created at start-up.
    pub producer: Producer,
    /// Where items go.
    pub topic: String,
    /// Counters.
    pub stats: Arc<Stats>,
    /// Variant 4's channel to the outcome task.
    pub outcomes: OutcomeSender,
}

/// The routes, over `state`.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/noop/items", post(noop))
        .route("/fire-and-forget/items", post(fire_and_forget))
        .route("/callback/items", post(callback))
        .route("/callback-task/items", post(callback_task))
        .route("/await/items", post(awaitable))
        .route("/stats", get(stats))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}

/// The 202 answer of the variants that do not wait for the broker.
#[derive(Debug, Serialize)]
struct Accepted<'a> {
    id: &'a str,
}

/// The awaitable variant's 201 answer.
#[derive(Debug, Serialize)]
struct Published<'a> {
    id: &'a str,
    partition: i32,
    offset: i64,
    timestamp: i64,
}

fn accepted(item: &ValidItem) -> Response {
    (StatusCode::ACCEPTED, Json(Accepted { id: &item.id })).into_response()
}

fn record<'a>(state: &'a AppState, item: &'a ValidItem) -> ProducerRecord<'a> {
    ProducerRecord::new(&state.topic)
        .key(&item.id)
        .value(&item.body[..])
}

/// Counts a refusal to enqueue and turns it into the HTTP error.
fn refused(state: &AppState, e: ProduceError) -> ApiError {
    let e = ApiError::from_enqueue(e);
    if e.status() == StatusCode::SERVICE_UNAVAILABLE {
        Stats::bump(&state.stats.rejected_busy);
    }
    e
}

/// `try_send`, except that the first records after start-up (before the
/// producer has the topic's metadata) wait for it, bounded by
/// `max.block.ms`.
async fn enqueue(state: &AppState, item: &ValidItem) -> Result<Delivery, ApiError> {
    match state.producer.try_send(record(state, item)) {
        Ok(d) => Ok(d),
        Err(ProduceError::MetadataPending { .. }) => state
            .producer
            .send(record(state, item))
            .await
            .map_err(|e| refused(state, e)),
        Err(e) => Err(refused(state, e)),
    }
}

/// Variant 1: the baseline. Same parsing and validation, no producer.
async fn noop(item: ValidItem) -> Response {
    accepted(&item)
}

/// Variant 2: fire-and-forget. The delivery future is dropped; a failure
/// reaches the producer's error hook (set in `service.rs`), which logs it.
async fn fire_and_forget(
    State(state): State<Arc<AppState>>,
    item: ValidItem,
) -> Result<Response, ApiError> {
    drop(enqueue(&state, &item).await?);
    Ok(accepted(&item))
}

/// Variant 3: a callback off the request path that only counts and logs.
/// It is the producer's one delivery handler (set in `service.rs`, run on
/// the producer's sink task when the batch completes); the request only
/// gives its record a tag, a request number for the log, so nothing is
/// allocated per request for the callback.
async fn callback(
    State(state): State<Arc<AppState>>,
    item: ValidItem,
) -> Result<Response, ApiError> {
    let tag = state.stats.next_tag();
    state
        .producer
        .send_tagged(record(&state, &item), tag)
        .await
        .map_err(|e| refused(&state, e))?;
    Ok(accepted(&item))
}

/// Variant 4: a callback that hands the outcome to the application's task
/// (`outcomes.rs`) through a bounded channel.
async fn callback_task(
    State(state): State<Arc<AppState>>,
    item: ValidItem,
) -> Result<Response, ApiError> {
    let tx = state.outcomes.clone();
    let stats = state.stats.clone();
    let id = item.id.clone();
    state
        .producer
        .send_with_callback(record(&state, &item), move |result| {
            outcomes::hand_over(&tx, &stats, Outcome { id, result });
        })
        .await
        .map_err(|e| refused(&state, e))?;
    Ok(accepted(&item))
}

/// Variant 5: awaits the broker's acknowledgement and answers where the
/// record landed, or 500 with the error text.
async fn awaitable(
    State(state): State<Arc<AppState>>,
    item: ValidItem,
) -> Result<Response, ApiError> {
    let delivery = enqueue(&state, &item).await?;
    let meta = delivery
        .await
        .map_err(|e| ApiError::Failed(e.to_string()))?;
    Ok((
        StatusCode::CREATED,
        Json(Published {
            id: &item.id,
            partition: meta.partition,
            offset: meta.offset,
            timestamp: meta.timestamp,
        }),
    )
        .into_response())
}

/// `GET /stats`: the counters and the producer's.
async fn stats(State(state): State<Arc<AppState>>) -> Json<StatsSnapshot> {
    Json(state.stats.snapshot(&state.producer.metrics()))
}
