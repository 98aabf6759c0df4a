//! One fetch task per partition leader: takes the fetchable partitions it
//! leads, sends one Fetch, decodes each partition outside the lock and
//! hands the messages to the consumer in order.
//!
//! ```text
//! loop: take_fetchable(me) ─▶ Fetch (own Fetch connection) ─▶ per partition:
//!         none      → decode → Chunk ─▶ consumer      (budget += bytes)
//!         out of range → reset per auto.offset.reset, or an error for the app
//!         not leader / fenced epoch / unknown → leader cleared, metadata refresh
//!         other     → retriable: back off · fatal: error for the app
//! ```
//!
//! Each task keeps a fetch session (KIP-227, `fetch_session.rs`) with its
//! broker: after a full fetch, requests carry only the partitions whose
//! offset or leader epoch changed and the ones to forget (paused, revoked,
//! backing off); the broker leaves out partitions with nothing new. A
//! broker that answers session id 0 (tansu 0.6.0 does) gets full fetches.
//! On close the session is closed (epoch -1).
//!
//! With `client.rack` the request names the rack (v11+); a partition the
//! leader answers with a `preferred_read_replica` moves to that broker's
//! task until `metadata.max.age.ms` passes or the replica errs (KIP-392).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use klamm_protocol::ErrorCode;
use klamm_protocol::compression::DEFAULT_MAX_DECOMPRESSED;
use klamm_protocol::generated::FetchRequest;
use klamm_protocol::generated::fetch::request::{FetchPartition, FetchTopic, ForgottenTopic};
use klamm_protocol::generated::fetch::response::PartitionData;
use tokio::time::Instant;

use super::config::IsolationLevel;
use super::decode::{Aborted, DecodeInput, decode};
use super::fetch_session::{FetchSession, SessionRequest};
use super::shared::{Chunk, Fetched, Shared};
use super::state::FetchPlan;
use crate::conn::ConnKind;
use crate::error::{Error, ErrorContext};

/// Highest Fetch version used: v13 replaced topic names with topic ids,
/// which this client does not track per cursor yet; v12 has everything
/// else a consumer needs (leader epochs, aborted transactions, log start).
const MAX_FETCH_VERSION: i16 = 12;

/// Runs until the consumer closes.
pub(crate) async fn run(shared: Arc<Shared>, broker: i32) {
    let mut changes = shared.subscribe();
    let mut session = FetchSession::default();
    loop {
        changes.borrow_and_update();
        if shared.lock().closed {
            close_session(&shared, broker, &mut session).await;
            return;
        }
        let (plans, next_backoff) = {
            let mut state = shared.lock();
            let plans = state.take_fetchable(broker, Instant::now());
            (plans, state.next_backoff())
        };
        if plans.is_empty() {
            let wake_at = next_backoff.unwrap_or_else(|| Instant::now() + Duration::from_secs(1));
            tokio::select! {
                r = changes.changed() => if r.is_err() { return },
                _ = tokio::time::sleep_until(wake_at) => {}
            }
            continue;
        }
        fetch_once(&shared, broker, &mut session, plans).await;
    }
}

/// Closes the broker's fetch session, if one is open (best effort: the
/// broker also expires idle sessions).
async fn close_session(shared: &Shared, broker: i32, session: &mut FetchSession) {
    let Some((session_id, epoch)) = session.close() else {
        return;
    };
    let client = &shared.client;
    let result = async {
        let conn = client.connection(broker, ConnKind::Fetch).await?;
        let version = conn.version_for::<FetchRequest>()?.min(MAX_FETCH_VERSION);
        let request = FetchRequest::default()
            .with_max_wait_ms(0)
            .with_session_id(session_id)
            .with_session_epoch(epoch);
        conn.send_at(&request, version, client.config().request_timeout())
            .await
    };
    match tokio::time::timeout(CLOSE_TIMEOUT, result).await {
        Ok(Ok(_)) => tracing::debug!(broker, session_id, "fetch session closed"),
        Ok(Err(e)) => tracing::debug!(broker, error = %e, "closing the fetch session failed"),
        Err(_) => tracing::debug!(broker, "closing the fetch session timed out"),
    }
}

/// How long a closing consumer's fetch task waits to close its session.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// Sends one Fetch for `plans` and handles the response.
async fn fetch_once(
    shared: &Shared,
    broker: i32,
    session: &mut FetchSession,
    plans: Vec<FetchPlan>,
) {
    let config = &shared.config;
    let client = &shared.client;
    let result = async {
        let conn = client.connection(broker, ConnKind::Fetch).await?;
        let version = conn.version_for::<FetchRequest>()?.min(MAX_FETCH_VERSION);
        let planned = session.build(&plans, version);
        let request = build_request(shared, &plans, &planned, version);
        let timeout = client.config().request_timeout() + config.fetch_max_wait;
        conn.send_at(&request, version, timeout)
            .await
            .map(|r| (r, planned))
    }
    .await;
    let (response, planned) = match result {
        Ok(r) => r,
        Err(e) => {
            tracing::debug!(broker, error = %e, "fetch failed");
            client.report(&e);
            session.reset();
            let mut state = shared.lock();
            state.leave_read_replica(&plans, broker);
            state.release(&plans, Instant::now() + config.retry_backoff);
            drop(state);
            shared.wake();
            return;
        }
    };
    let top = ErrorCode::from_code(response.error_code);
    session.handle_response(&planned, &plans, top, response.session_id);
    if matches!(
        top,
        ErrorCode::FetchSessionIdNotFound | ErrorCode::InvalidFetchSessionEpoch
    ) {
        // The session is gone: fetch everything again at once, in full.
        tracing::debug!(broker, error = %top, "fetch session lost; next fetch is full");
        shared.lock().release(&plans, Instant::now());
        shared.wake();
        return;
    }
    if top != ErrorCode::None {
        let e = Error::Broker {
            api: "Fetch",
            code: top,
            message: None,
            context: ErrorContext::broker(broker),
        };
        tracing::debug!(broker, error = %e, "fetch refused");
        client.report(&e);
        shared
            .lock()
            .release(&plans, Instant::now() + config.retry_backoff);
        shared.wake();
        return;
    }
    let index: HashMap<(&str, i32), usize> = plans
        .iter()
        .enumerate()
        .map(|(i, p)| ((&*p.tp.topic, p.tp.partition), i))
        .collect();
    let mut answered = vec![false; plans.len()];
    let mut refresh = false;
    for topic in &response.responses {
        for data in &topic.partitions {
            let Some(&i) = index.get(&(topic.topic.as_str(), data.partition_index)) else {
                continue;
            };
            if std::mem::replace(&mut answered[i], true) {
                continue;
            }
            refresh |= handle_partition(shared, broker, &plans[i], data);
        }
    }
    // Partitions the broker left out (in an incremental fetch: those with
    // nothing new) are simply fetched again.
    let unanswered: Vec<FetchPlan> = plans
        .iter()
        .zip(&answered)
        .filter(|(_, a)| !**a)
        .map(|(p, _)| p.clone())
        .collect();
    if !unanswered.is_empty() {
        shared.lock().release(&unanswered, Instant::now());
    }
    if refresh {
        shared.wake();
    }
}

fn build_request(
    shared: &Shared,
    plans: &[FetchPlan],
    planned: &SessionRequest,
    version: i16,
) -> FetchRequest {
    let config = &shared.config;
    let mut topics: Vec<FetchTopic> = Vec::new();
    for p in planned.send.iter().filter_map(|&i| plans.get(i)) {
        let mut part = FetchPartition::default()
            .with_partition(p.tp.partition)
            .with_fetch_offset(p.fetch_offset)
            .with_partition_max_bytes(config.max_partition_fetch_bytes);
        if version >= 9 {
            part = part.with_current_leader_epoch(p.leader_epoch);
        }
        // Consecutive plans of one topic share an entry; a topic may appear
        // twice after rotation, which brokers accept.
        match topics.last_mut() {
            Some(t) if t.topic.as_str() == &*p.tp.topic => t.partitions.push(part),
            _ => topics.push(
                FetchTopic::default()
                    .with_topic(klamm_protocol::StrBytes::from(&*p.tp.topic))
                    .with_partitions(vec![part]),
            ),
        }
    }
    let max_wait = i32::try_from(config.fetch_max_wait.as_millis()).unwrap_or(i32::MAX);
    let mut request = FetchRequest::default()
        .with_max_wait_ms(max_wait)
        .with_min_bytes(config.fetch_min_bytes)
        .with_topics(topics);
    if version >= 3 {
        request = request.with_max_bytes(config.fetch_max_bytes);
    }
    if version >= 4 {
        request = request.with_isolation_level(config.isolation_level.as_i8());
    }
    if version >= 7 {
        let mut forgotten: Vec<ForgottenTopic> = Vec::new();
        for tp in &planned.forgotten {
            match forgotten.last_mut() {
                Some(t) if t.topic.as_str() == &*tp.topic => t.partitions.push(tp.partition),
                _ => forgotten.push(
                    ForgottenTopic::default()
                        .with_topic(klamm_protocol::StrBytes::from(&*tp.topic))
                        .with_partitions(vec![tp.partition]),
                ),
            }
        }
        request = request
            .with_session_id(planned.session_id)
            .with_session_epoch(planned.epoch)
            .with_forgotten_topics_data(forgotten);
    }
    if version >= 11 {
        // KIP-392: the leader may name a replica in our rack to read from.
        if let Some(rack) = &config.client_rack {
            request = request.with_rack_id(klamm_protocol::StrBytes::from(rack.as_str()));
        }
    }
    request
}

/// Handles one partition of a response; true when metadata looks stale.
fn handle_partition(shared: &Shared, broker: i32, plan: &FetchPlan, data: &PartitionData) -> bool {
    let config = &shared.config;
    let code = ErrorCode::from_code(data.error_code);
    let context = || {
        ErrorContext::broker(broker)
            .with_topic(&*plan.tp.topic)
            .with_partition(plan.tp.partition)
    };
    if code == ErrorCode::None {
        // Decode outside the lock: this is the expensive part.
        let records = data.records.clone().unwrap_or_default();
        let bytes = records.len();
        let aborted = (config.isolation_level == IsolationLevel::ReadCommitted).then(|| {
            data.aborted_transactions
                .iter()
                .flatten()
                .map(|a| Aborted {
                    producer_id: a.producer_id,
                    first_offset: a.first_offset,
                })
                .collect()
        });
        let decoded = decode(DecodeInput {
            topic: &plan.tp.topic,
            partition: plan.tp.partition,
            fetch_offset: plan.fetch_offset,
            records,
            aborted,
            check_crcs: config.check_crcs,
            max_decompressed: DEFAULT_MAX_DECOMPRESSED,
        });
        let mut state = shared.lock();
        let Some(cursor) = state.current(plan) else {
            return false;
        };
        if data.preferred_read_replica >= 0 && data.preferred_read_replica != broker {
            // KIP-392: read from that replica until metadata.max.age.ms
            // passes or it answers an error; the supervisor starts its
            // fetch task.
            let until = Instant::now() + shared.client.config().metadata_max_age();
            tracing::debug!(tp = %plan.tp, replica = data.preferred_read_replica, "reading from the preferred replica");
            cursor.read_replica = Some((data.preferred_read_replica, until));
            drop(state);
            shared.wake();
            state = shared.lock();
        }
        let Some(cursor) = state.current_unchecked(plan) else {
            return false;
        };
        cursor.high_watermark = data.high_watermark;
        cursor.last_stable_offset = data.last_stable_offset;
        cursor.log_start_offset = data.log_start_offset;
        let advanced = decoded.next_offset > plan.fetch_offset;
        if advanced {
            cursor.fetch_offset = Some(decoded.next_offset);
        }
        if let Some((offset, e)) = &decoded.error {
            cursor.failed = true;
            tracing::warn!(tp = %plan.tp, offset, error = %e, "corrupt data; partition stopped");
        }
        let error = decoded.error.map(|(offset, source)| Fetched::Error {
            tp: plan.tp.clone(),
            version: plan.version,
            error: Error::Records {
                offset,
                context: context(),
                source: Arc::new(source),
            },
        });
        if advanced || !decoded.messages.is_empty() {
            state.buffered_bytes += bytes;
            let _ = shared.tx.send(Fetched::Chunk(Chunk {
                tp: plan.tp.clone(),
                version: plan.version,
                messages: decoded.messages.into_iter(),
                next_offset: decoded.next_offset,
                bytes,
                consumed: None,
            }));
        }
        if let Some(e) = error {
            let _ = shared.tx.send(e);
        }
        return false;
    }
    let error = Error::Broker {
        api: "Fetch",
        code,
        message: None,
        context: context(),
    };
    let advice = crate::retry::classify(&error);
    let mut state = shared.lock();
    let Some(cursor) = state.current(plan) else {
        return false;
    };
    if cursor.read_replica.is_some_and(|(r, _)| r == broker) {
        // Any error from a read replica (lagging, moved, out of range on
        // it): back to the leader, which decides.
        tracing::debug!(tp = %plan.tp, broker, %error, "read replica failed; back to the leader");
        cursor.read_replica = None;
        drop(state);
        shared.wake();
        return false;
    }
    if code == ErrorCode::OffsetOutOfRange {
        if cursor.out_of_range(config.auto_offset_reset) {
            tracing::info!(tp = %plan.tp, offset = plan.fetch_offset, "offset out of range, resetting");
            drop(state);
            shared.wake();
        } else {
            let _ = shared.tx.send(Fetched::Error {
                tp: plan.tp.clone(),
                version: plan.version,
                error,
            });
        }
        return false;
    }
    if advice.refresh_metadata {
        tracing::debug!(tp = %plan.tp, %error, "leader moved or unknown; refreshing metadata");
        cursor.leader = None;
        cursor.backoff_until = Some(Instant::now() + config.retry_backoff);
        drop(state);
        shared.client.report(&error);
        return true;
    }
    if advice.retriable {
        cursor.backoff_until = Some(Instant::now() + config.retry_backoff);
        return false;
    }
    cursor.failed = true;
    let _ = shared.tx.send(Fetched::Error {
        tp: plan.tp.clone(),
        version: plan.version,
        error,
    });
    false
}
