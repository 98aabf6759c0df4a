//! The network side: one sink task per broker, plus a small metadata task.
//!
//! ```text
//! sink(broker) loop:
//!   metadata generation changed? ──▶ copy leaders into the accumulator
//!   idempotent and no producer id? ──▶ InitProducerId (one task at a time)
//!   expire batches past delivery.timeout.ms (not in flight)
//!   fewer than max.in.flight requests? ──▶ drain(broker) ──▶ build (compress
//!       once, stamp) ──▶ one Produce request with every drained batch
//!   wait: next response (in send order) | wake-up | next deadline
//!   response ──▶ per batch: ack / requeue in order (retriable) / fail
//! ```
//!
//! Responses are handled strictly in the order requests were sent
//! (`FuturesOrdered`), which keeps per-partition sequence handling simple:
//! when batch N is requeued, a later N+1 answered OUT_OF_ORDER_SEQUENCE is
//! a consequence of N, so it is requeued behind it rather than failed.
//! Even the first unacknowledged batch of a partition is resent (same
//! sequence) on OUT_OF_ORDER_SEQUENCE: a broker may refuse a pipelined
//! batch that is in order (tansu 0.6 sometimes does; tests/README.md), and
//! only repeated refusals renew the producer id.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::stream::FuturesOrdered;
use klamm_protocol::generated::{
    InitProducerIdRequest, ProduceRequest, ProduceResponse,
    produce::request::{PartitionProduceData, TopicProduceData},
};
use klamm_protocol::{ErrorCode, StrBytes};
use tokio::sync::Notify;

use super::accumulator::{Accumulator, TIMER_SLACK, reached};
use super::batch::{ProducerBatch, ProducerStamp};
use super::config::Acks;
use super::delivery::BatchAck;
use super::error::ProduceError;
use super::handle::{ProduceFailure, Shared};
use super::metrics::Metrics;
use crate::client::Target;
use crate::conn::ConnKind;
use crate::error::{Error, ErrorContext};
use crate::retry::classify_code;

/// Produce requests carry v2 record batches from version 3 on.
const MIN_PRODUCE_VERSION: i16 = 3;

/// Sends of a batch answered OUT_OF_ORDER_SEQUENCE_NUMBER with the same
/// sequence before the producer id is renewed.
const OUT_OF_ORDER_RESENDS: u32 = 3;

/// A request on its way and the batches it carries.
struct InFlight {
    batches: Vec<ProducerBatch>,
    /// `None`: an acks=0 request, written and not answered.
    result: Result<Option<ProduceResponse>, Error>,
}

type InFlightFuture = Pin<Box<dyn Future<Output = InFlight> + Send>>;

/// The sink for `broker`; exits once the producer is closed and nothing is
/// left for this broker.
pub(crate) async fn run(shared: Arc<Shared>, broker: i32, notify: Arc<Notify>) {
    let mut inflight: FuturesOrdered<InFlightFuture> = FuturesOrdered::new();
    let mut throttled_until: Option<Instant> = None;
    let mut generation = 0;
    let max_in_flight = shared.config.max_in_flight();
    tracing::debug!(broker, "producer sink started");
    // One timer for the sink's life, moved only when its deadline changes
    // (a new timer per pass cost a timer-wheel insert and removal).
    let far = || tokio::time::Instant::now() + Duration::from_secs(3600);
    let sleep = tokio::time::sleep_until(far());
    tokio::pin!(sleep);
    // The deadline the timer is set to; `None` after it fired (a fired
    // timer stays ready until reset, even for "no deadline").
    let mut armed: Option<Option<Instant>> = Some(None);
    loop {
        Metrics::add(&shared.metrics.sender_wakeups, 1);
        let meta = shared.client.metadata();
        if meta.generation != generation {
            generation = meta.generation;
            shared.apply_metadata(&meta, None);
        }
        if shared.config.idempotence() && shared.acc().producer().is_none() {
            ensure_producer_id(&shared).await;
        }
        let now = Instant::now();
        let throttle = throttled_until.filter(|&t| !reached(now, t));
        if throttle.is_none() {
            throttled_until = None;
        }
        let slot_free = inflight.len() < max_in_flight;
        let can_send = slot_free && throttle.is_none();
        // One pass under one lock: expire, drain, and if nothing goes out,
        // the next deadline and the sleep state appends consult.
        let (expired, batches, deadline) = {
            let mut acc = shared.acc();
            acc.sink_running(broker);
            let expired = acc.expire(now);
            let batches = if can_send {
                acc.drain(now, broker, shared.config.max_request_size())
            } else {
                Vec::new()
            };
            let mut deadline = None;
            if batches.is_empty() {
                // While no request may be sent (every slot taken, or
                // throttled) only delivery timeouts wake the sink, besides
                // a response, the throttle's end and new records: a linger
                // or backoff end already past would make it spin.
                deadline = acc.next_deadline(broker, can_send);
                if let Some(t) = throttle.filter(|_| slot_free) {
                    deadline = Some(deadline.map_or(t, |d| d.min(t)));
                }
                acc.sink_sleeps(broker, can_send, deadline);
            }
            (expired, batches, deadline)
        };
        for b in expired {
            let error = ProduceError::DeliveryTimeout {
                topic: b.topic.to_string(),
                partition: b.partition,
                after: shared.config.delivery_timeout(),
                last_error: b.last_error.clone(),
            };
            fail(&shared, b, error);
        }
        if !batches.is_empty() {
            inflight.push_back(Box::pin(send(shared.clone(), broker, batches)));
            continue;
        }
        if inflight.is_empty() && shared.closed.load(Ordering::SeqCst) {
            let mut acc = shared.acc();
            if !acc.brokers_with_data().contains(&broker) {
                acc.sink_gone(broker);
                drop(acc);
                shared.sink_exited(broker);
                tracing::debug!(broker, "producer sink stopped");
                return;
            }
        }
        if armed != Some(deadline) {
            armed = Some(deadline);
            // TIMER_SLACK early: the timer fires up to a tick late, and
            // every deadline counts as reached that early.
            let at = deadline.map(|d| d.checked_sub(TIMER_SLACK).unwrap_or(d));
            sleep
                .as_mut()
                .reset(at.map(tokio::time::Instant::from_std).unwrap_or_else(far));
        }
        tokio::select! {
            done = inflight.next(), if !inflight.is_empty() => {
                if let Some(done) = done {
                    if let Some(throttle) = handle_response(&shared, done) {
                        throttled_until = Some(Instant::now() + throttle);
                    }
                }
            }
            _ = notify.notified() => {}
            _ = &mut sleep => {
                // Fired: re-arm at the next pass whatever it computes.
                armed = None;
            }
        }
    }
}

/// Builds and sends one Produce request; batches that cannot be built
/// fail here.
async fn send(shared: Arc<Shared>, broker: i32, batches: Vec<ProducerBatch>) -> InFlight {
    let mut topics: Vec<TopicProduceData> = Vec::new();
    let mut sent = Vec::with_capacity(batches.len());
    for mut b in batches {
        let stamp = b.stamp.unwrap_or(ProducerStamp::NONE);
        match b.wire_bytes(stamp) {
            Ok(bytes) => {
                let data = PartitionProduceData::default()
                    .with_index(b.partition)
                    .with_records(Some(bytes));
                match topics.iter_mut().find(|t| t.name.as_str() == &*b.topic) {
                    Some(t) => t.partition_data.push(data),
                    None => topics.push(
                        TopicProduceData::default()
                            .with_name(StrBytes::from(&*b.topic))
                            .with_partition_data(vec![data]),
                    ),
                }
                sent.push(b);
            }
            Err(e) => {
                fail(&shared, b, ProduceError::Records(Arc::new(e)));
            }
        }
    }
    if sent.is_empty() {
        return InFlight {
            batches: sent,
            result: Ok(Some(ProduceResponse::default())),
        };
    }
    let timeout = shared.client.config().request_timeout();
    let request = ProduceRequest::default()
        .with_acks(shared.config.acks().wire())
        .with_timeout_ms(i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX))
        .with_topic_data(topics);
    Metrics::add(&shared.metrics.requests, 1);
    Metrics::add(&shared.metrics.in_flight_requests, 1);
    let started = Instant::now();
    // A request never answered must not hold its batches past their
    // delivery timeout (request.timeout.ms may be longer): at the earliest
    // batch's deadline the wait is abandoned (the driver drops a late
    // answer), the expired batches fail with DeliveryTimeout and the others
    // are retried. Never both: a batch is settled once, from this result.
    let delivery_deadline = sent
        .iter()
        .map(|b| b.created + shared.config.delivery_timeout())
        .min()
        .unwrap_or(started + timeout);
    let request_future = async {
        let conn = shared.client.connection(broker, ConnKind::Produce).await?;
        let version = conn.version_for::<ProduceRequest>()?;
        if version < MIN_PRODUCE_VERSION {
            return Err(Error::UnsupportedApi {
                broker: conn.broker().label(),
                api: "Produce",
                ours: klamm_protocol::VersionRange::new(MIN_PRODUCE_VERSION, 11),
                theirs: crate::error::BrokerRange(
                    conn.versions().get(klamm_protocol::ApiKey::Produce),
                ),
            });
        }
        if shared.config.acks() == Acks::None {
            // Kafka does not answer acks=0: the batches are done once written.
            conn.send_one_way(&request).await.map(|()| None)
        } else {
            conn.send_at(&request, version, timeout).await.map(Some)
        }
    };
    let result = match tokio::time::timeout_at(delivery_deadline.into(), request_future).await {
        Ok(r) => r,
        Err(_) => Err(Error::RequestTimeout {
            broker: format!("id {broker}"),
            api: "Produce",
            after: started.elapsed(),
        }),
    };
    Metrics::sub(&shared.metrics.in_flight_requests, 1);
    shared.metrics.latency(started.elapsed());
    tracing::trace!(
        broker,
        batches = sent.len(),
        ok = result.is_ok(),
        "produce response"
    );
    InFlight {
        batches: sent,
        result,
    }
}

/// Settles every batch of one response; returns the throttle to honour.
fn handle_response(shared: &Arc<Shared>, done: InFlight) -> Option<Duration> {
    let InFlight { batches, result } = done;
    let response = match result {
        Ok(Some(r)) => r,
        Ok(None) => {
            let ack = BatchAck {
                base_offset: -1,
                log_append_time: -1,
            };
            for b in batches {
                succeed(shared, b, ack);
            }
            return None;
        }
        Err(e) => {
            // The connection failed or timed out: the broker may or may not
            // have written the batches. Retrying keeps their sequence
            // numbers, so an idempotent broker drops a duplicate.
            shared.client.report(&e);
            for b in batches {
                retry_or_fail(shared, b, e.clone(), false);
            }
            return None;
        }
    };
    let throttle = (response.throttle_time_ms > 0).then(|| {
        Metrics::add(&shared.metrics.throttled_responses, 1);
        Duration::from_millis(response.throttle_time_ms as u64)
    });
    let mut refresh = false;
    for b in batches {
        let part = response
            .responses
            .iter()
            .filter(|t| t.name.as_str() == &*b.topic)
            .flat_map(|t| t.partition_responses.iter())
            .find(|p| p.index == b.partition);
        let context = ErrorContext::default()
            .with_topic(&*b.topic)
            .with_partition(b.partition);
        let Some(p) = part else {
            let e = Error::Broker {
                api: "Produce",
                code: ErrorCode::UnknownServerError,
                message: Some("the response does not mention this partition".into()),
                context,
            };
            fail(shared, b, ProduceError::Client(e));
            continue;
        };
        let code = ErrorCode::from_code(p.error_code);
        let ack = BatchAck {
            base_offset: if shared.config.acks() == Acks::None {
                -1
            } else {
                p.base_offset
            },
            log_append_time: p.log_append_time_ms,
        };
        match code {
            ErrorCode::None => succeed(shared, b, ack),
            // The broker already has this batch (a retry after a lost
            // response): it was delivered once, which is what we report.
            ErrorCode::DuplicateSequenceNumber => succeed(shared, b, ack),
            _ => {
                let error = Error::Broker {
                    api: "Produce",
                    code,
                    message: p.error_message.as_ref().map(|m| m.as_str().to_owned()),
                    context,
                };
                match code {
                    ErrorCode::OutOfOrderSequenceNumber if follows_a_gap(shared, &b) => {
                        // An earlier batch of this partition is being
                        // retried, or failed and the producer id was reset:
                        // this one only failed because of that.
                        retry_or_fail(shared, b, error, true);
                    }
                    ErrorCode::UnknownProducerId => {
                        // The broker forgot us (e.g. the log was truncated):
                        // bump the epoch (KIP-360), which restarts the
                        // sequences, and resend.
                        bump_epoch(shared, &b);
                        retry_or_fail(shared, b, error, true);
                    }
                    ErrorCode::OutOfOrderSequenceNumber => {
                        // The first unacknowledged batch of its partition,
                        // refused as out of order. Our requests leave in
                        // sequence order, so the broker saw them out of
                        // order or refused an in-order batch (tansu 0.6
                        // sometimes does with pipelined requests), and the
                        // predecessor has landed by now: resend with the
                        // same sequence, which the broker appends or answers
                        // DUPLICATE_SEQUENCE_NUMBER. Only if that keeps
                        // failing is the sequence state really broken; then,
                        // like Kafka's clients (KIP-360), bump the epoch,
                        // which restarts the sequences, and resend rather
                        // than fail records.
                        if b.attempts >= OUT_OF_ORDER_RESENDS {
                            bump_epoch(shared, &b);
                        }
                        retry_or_fail(shared, b, error, true);
                    }
                    ErrorCode::InvalidProducerEpoch | ErrorCode::ProducerFenced => {
                        shared.acc().clear_producer();
                        fail(shared, b, ProduceError::Client(error));
                    }
                    _ => {
                        let advice = classify_code(code);
                        refresh |= advice.refresh_metadata;
                        if advice.retriable {
                            retry_or_fail(shared, b, error, false);
                        } else {
                            fail(shared, b, ProduceError::Client(error));
                        }
                    }
                }
            }
        }
    }
    if refresh {
        shared.metadata_wanted.notify_one();
    }
    throttle
}

fn backoff(shared: &Shared, attempts: u32) -> Duration {
    let base = shared.config.retry_backoff();
    base.saturating_mul(1u32 << attempts.saturating_sub(1).min(16))
        .min(shared.config.retry_backoff_max())
}

/// Whether `b`'s OUT_OF_ORDER_SEQUENCE_NUMBER is explained by an earlier
/// batch: one waiting to be resent, or a reset producer id (after a batch
/// failed for good) that `b` was not stamped with.
fn follows_a_gap(shared: &Shared, b: &ProducerBatch) -> bool {
    let mut acc = shared.acc();
    let current = acc.producer();
    let stamped = b.stamp.map(|s| (s.producer_id, s.producer_epoch));
    acc.has_earlier_queued(b) || current != stamped
}

/// Requeues `b` unless it is out of retries or time (or the error is not
/// retriable and `force` is off).
fn retry_or_fail(shared: &Arc<Shared>, b: ProducerBatch, error: Error, force: bool) {
    let out_of_time = b.created.elapsed() >= shared.config.delivery_timeout();
    let out_of_retries = b.attempts > shared.config.retries();
    if !(force || error.is_retriable()) || out_of_retries {
        fail(shared, b, ProduceError::Client(error));
    } else if out_of_time {
        let e = ProduceError::DeliveryTimeout {
            topic: b.topic.to_string(),
            partition: b.partition,
            after: shared.config.delivery_timeout(),
            last_error: Some(error.to_string()),
        };
        fail(shared, b, e);
    } else {
        requeue(shared, b, &error);
    }
}

fn requeue(shared: &Arc<Shared>, mut b: ProducerBatch, error: &Error) {
    tracing::debug!(topic = %b.topic, partition = b.partition, attempts = b.attempts, %error, "retrying batch");
    Metrics::add(&shared.metrics.retries, 1);
    b.last_error = Some(error.to_string());
    let delay = backoff(shared, b.attempts);
    shared.acc().retry(b, Instant::now(), delay);
}

fn succeed(shared: &Arc<Shared>, mut b: ProducerBatch, ack: BatchAck) {
    let m = &shared.metrics;
    Metrics::add(&m.records_sent, u64::from(b.record_count()));
    Metrics::add(&m.bytes_sent, b.size() as u64);
    Metrics::add(&m.batches_sent, 1);
    b.finish(Ok(ack));
    settled(shared, &mut b, Accumulator::acked);
}

/// After `b` finished: `account` it in the accumulator (acked or failed),
/// then wake senders waiting for memory if enough is free, and flushes.
fn settled(
    shared: &Shared,
    b: &mut ProducerBatch,
    account: fn(&mut Accumulator, &mut ProducerBatch),
) {
    let memory = {
        let mut acc = shared.acc();
        account(&mut acc, b);
        acc.memory_wanted()
    };
    if memory {
        shared.memory.notify_waiters();
    }
    shared.completed.notify_waiters();
}

/// Fails `b` for good: futures and callbacks get the error, the error hook
/// and the counters see it.
pub(crate) fn fail(shared: &Arc<Shared>, mut b: ProducerBatch, error: ProduceError) {
    // The batch had a sequence number the broker will never see: later
    // batches would be refused as out of order. An epoch bump restarts
    // every sequence at 0, as Kafka's clients do.
    bump_epoch(shared, &b);
    shared.report_failure(&ProduceFailure {
        topic: b.topic.clone(),
        partition: b.partition,
        records: b.record_count(),
        error: error.clone(),
    });
    b.finish(Err(error));
    settled(shared, &mut b, Accumulator::failed);
}

/// Asks for an epoch bump if `b` was sent with a sequence under the current
/// producer id and epoch (an older stamp was already dealt with).
fn bump_epoch(shared: &Shared, b: &ProducerBatch) {
    if let Some(s) = b.stamp.filter(|s| s.base_sequence >= 0) {
        shared
            .acc()
            .request_epoch_bump((s.producer_id, s.producer_epoch));
    }
}

/// Fetches a producer id (InitProducerId) unless one is known; one task at
/// a time. An epoch bump (KIP-360) sends the current id and epoch with
/// InitProducerId v3+, and the broker answers the same id with the next
/// epoch; on older versions, or if the broker refuses the bump, a new
/// producer id is fetched instead. Either way every sequence restarts at 0.
/// (Apache Kafka itself answers a non-transactional InitProducerId with a
/// new id even when one is given; both outcomes are handled the same.) tansu 0.6 rejects InitProducerId v2+, so after a failure at the
/// negotiated version the request is retried at v1 (the fields a
/// non-transactional producer needs exist in every version).
async fn ensure_producer_id(shared: &Arc<Shared>) {
    let _guard = shared.init_lock.lock().await;
    let mut cap: Option<i16> = None;
    let mut attempts = 0u32;
    while shared.acc().producer().is_none() {
        attempts += 1;
        let bump = shared.acc().epoch_bump_from();
        let result = async {
            let conn = shared
                .client
                .connection_for(&Target::AnyBroker, ConnKind::Other)
                .await?;
            let mut version = conn.version_for::<InitProducerIdRequest>()?;
            if let Some(c) = cap {
                version = version.min(c);
            }
            let mut request = InitProducerIdRequest::default()
                .with_transactional_id(None)
                .with_transaction_timeout_ms(60_000);
            // The id and epoch fields exist from v3 on (KIP-360).
            let bumping = bump.filter(|_| version >= 3);
            if let Some((id, epoch)) = bumping {
                request = request.with_producer_id(id).with_producer_epoch(epoch);
            }
            conn.send_at(&request, version, shared.client.config().request_timeout())
                .await
                .map(|r| (r, version, bumping))
        }
        .await;
        match result {
            Ok((r, version, bumping)) => match ErrorCode::from_code(r.error_code) {
                ErrorCode::None => {
                    tracing::info!(
                        producer_id = r.producer_id,
                        epoch = r.producer_epoch,
                        version,
                        bumped_from = ?bumping,
                        "producer id"
                    );
                    shared.acc().set_producer(r.producer_id, r.producer_epoch);
                    break;
                }
                code if bumping.is_some() && !classify_code(code).retriable => {
                    // The broker will not bump this id (fenced, epoch
                    // exhausted, ...): fall back to a new producer id.
                    tracing::warn!(?code, version, "epoch bump refused; new producer id");
                    shared.acc().clear_producer();
                    continue;
                }
                code => {
                    tracing::warn!(?code, version, "InitProducerId failed");
                    if !classify_code(code).retriable {
                        cap = Some(1);
                    }
                }
            },
            Err(e) => {
                tracing::warn!(error = %e, "InitProducerId failed");
                shared.client.report(&e);
                if cap.is_none() {
                    cap = Some(1);
                    continue;
                }
            }
        }
        if shared.closed.load(Ordering::SeqCst) && shared.acc().incomplete_batches() == 0 {
            return;
        }
        tokio::time::sleep(backoff(shared, attempts)).await;
    }
}

/// Refreshes metadata when the producer asks for it (unknown leaders,
/// stale-metadata errors) and checks leaderless partitions every second.
pub(crate) async fn metadata_task(weak: Weak<Shared>) {
    loop {
        let Some(shared) = weak.upgrade() else {
            return;
        };
        if shared.closed.load(Ordering::SeqCst) && shared.acc().incomplete_batches() == 0 {
            return;
        }
        let leaderless = shared.acc().leaderless();
        if !leaderless.is_empty() {
            match shared.client.refresh_metadata().await {
                Ok(meta) => {
                    shared.apply_metadata(&meta, None);
                }
                Err(e) => tracing::debug!(error = %e, "producer metadata refresh failed"),
            }
        }
        let wanted = shared.metadata_wanted.notified();
        tokio::select! {
            _ = wanted => {
                if let Ok(meta) = shared.client.refresh_metadata().await {
                    shared.apply_metadata(&meta, None);
                }
            }
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}
