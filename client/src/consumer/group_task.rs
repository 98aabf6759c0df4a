//! Group subscription: a task that drives the sans-io [`Membership`] on the
//! coordinator's connections and applies its events to the fetch state.
//!
//! ```text
//! Consumer ──Poll/Subscribe/Close──▶ group task ── Membership
//!     ▲                                 │ events first (Revoked: stop fetching,
//!     └──── GroupEvent (observable) ◀───┘  commit positions, then continue)
//!                                       │ poll_request ─▶ one spawned send per request
//!                                       └ timers: poll_timeout
//! ```
//!
//! Heartbeat and LeaveGroup use the coordinator's `Other` connection and
//! everything else its `Group` connection; fetches use `Fetch` connections,
//! so neither a held JoinGroup nor a long Fetch delays a heartbeat.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use tokio::sync::{mpsc, oneshot};

use super::commit::{CommitEntry, CommitIdentity, commit};
use super::pattern::TopicPattern;
use super::rebalance::RebalanceCall;
use super::shared::Shared;
use super::state::StartOffset;
use crate::error::Error;
use crate::group::{
    GroupEvent, GroupResponse, Membership, RequestId, Timeouts, TopicPartition,
    send_membership_request, sleep_until,
};
use klamm_protocol::ErrorCode;

/// What the consumer tells the group task.
#[derive(Debug)]
pub(crate) enum GroupCommand {
    /// The application asked for messages (`max.poll.interval.ms`).
    Poll,
    /// A new subscription to a topic list (ends any pattern subscription).
    Subscribe(Vec<Arc<str>>),
    /// A new subscription to every topic a pattern selects, re-evaluated
    /// on each metadata refresh.
    SubscribePattern(TopicPattern),
    /// Leave the group; answered once membership has closed.
    Close(oneshot::Sender<()>),
    /// A commit made in `generation_id` was refused with a membership error.
    CommitError { code: ErrorCode, generation_id: i32 },
}

/// Runs one member until it closes or fails. With a `pattern`, the
/// subscription follows the topics it selects in the client's metadata.
pub(crate) async fn run(
    shared: Arc<Shared>,
    mut m: Membership,
    mut pattern: Option<TopicPattern>,
    mut commands: mpsc::UnboundedReceiver<GroupCommand>,
    events: mpsc::UnboundedSender<GroupEvent>,
    calls: mpsc::UnboundedSender<RebalanceCall>,
) {
    // Revocations the application's callback is still handling: JoinGroup
    // waits until each has answered (or its consumer is gone).
    let mut gates: FuturesUnordered<oneshot::Receiver<()>> = FuturesUnordered::new();
    let mut metadata = shared.client.metadata_changes();
    let mut metadata_open = true;
    let (done_tx, mut done_rx) =
        mpsc::unbounded_channel::<(RequestId, Result<GroupResponse, Error>)>();
    let mut closing: Vec<oneshot::Sender<()>> = Vec::new();
    let mut commands_open = true;
    // The identity of the last generation: close() forgets the generation
    // before its Revoked event is read, yet that commit needs it.
    let mut identity: Option<CommitIdentity> = None;
    loop {
        let now = Instant::now();
        m.handle_timeout(now);
        remember_identity(&shared, &m, &mut identity);
        // Events before requests: a Revoked event is the last moment to
        // commit those partitions in this generation.
        while let Some(event) = m.poll_event() {
            let last = matches!(event, GroupEvent::Closed | GroupEvent::Fatal(_));
            if shared.listening.load(Ordering::Acquire) {
                if let Some(gate) = dispatch(&shared, &event, identity.as_ref(), &calls).await {
                    gates.push(gate);
                }
            } else {
                apply(&shared, &event, identity.as_ref()).await;
            }
            let _ = events.send(event);
            if last {
                for c in closing.drain(..) {
                    let _ = c.send(());
                }
                return;
            }
        }
        m.hold_join(!gates.is_empty());
        while let Some(t) = m.poll_request(Instant::now()) {
            let (client, done) = (shared.client.clone(), done_tx.clone());
            let timeouts = Timeouts {
                request: shared.client.config().request_timeout(),
                rebalance: shared.config.max_poll_interval + Duration::from_secs(5),
            };
            tokio::spawn(async move {
                let id = t.id;
                let result = send_membership_request(&client, t, timeouts).await;
                let _ = done.send((id, result));
            });
        }
        let wake = m.poll_timeout().map(tokio::time::Instant::from_std);
        tokio::select! {
            Some((id, result)) = done_rx.recv() => match result {
                Ok(response) => m.handle_response(id, response, Instant::now()),
                Err(error) => {
                    tracing::debug!(%error, "group request failed");
                    shared.client.report(&error);
                    m.handle_error(id, Instant::now());
                }
            },
            changed = metadata.changed(), if metadata_open && pattern.is_some() => match changed {
                Ok(()) => {
                    metadata.borrow_and_update();
                    if let Some(p) = &pattern {
                        follow_pattern(&shared, &mut m, p);
                    }
                }
                // The client is gone; nothing will refresh any more.
                Err(_) => metadata_open = false,
            },
            command = commands.recv(), if commands_open => match command {
                Some(GroupCommand::Poll) => m.notify_poll(Instant::now()),
                Some(GroupCommand::Subscribe(topics)) => {
                    pattern = None;
                    m.subscribe(topics, Instant::now());
                }
                Some(GroupCommand::SubscribePattern(p)) => {
                    follow_pattern(&shared, &mut m, &p);
                    pattern = Some(p);
                }
                Some(GroupCommand::CommitError { code, generation_id }) => {
                    // Generation errors of an older generation are stale: the
                    // member has rejoined since. Coordinator moves always count.
                    let current = m.generation().is_some_and(|g| g.generation_id == generation_id);
                    let generational = matches!(
                        code,
                        ErrorCode::IllegalGeneration
                            | ErrorCode::UnknownMemberId
                            | ErrorCode::RebalanceInProgress
                    );
                    if current || !generational {
                        tracing::info!(%code, "commit refused; membership acts on it");
                        m.handle_commit_error(code, Instant::now());
                    }
                }
                Some(GroupCommand::Close(done)) => {
                    closing.push(done);
                    m.close();
                }
                None => {
                    commands_open = false;
                    m.close();
                }
            },
            Some(_) = gates.next(), if !gates.is_empty() => {}
            () = sleep_until(wake) => {}
        }
    }
}

/// With a rebalance listener: hands the event to the consumer, which runs
/// the callback inside its receive calls. A revocation returns the gate
/// that holds JoinGroup back until the consumer has committed, run the
/// callback and removed the partitions. Without a consumer to answer, the
/// event is applied here as without a listener.
async fn dispatch(
    shared: &Shared,
    event: &GroupEvent,
    identity: Option<&CommitIdentity>,
    calls: &mpsc::UnboundedSender<RebalanceCall>,
) -> Option<oneshot::Receiver<()>> {
    match event {
        GroupEvent::Revoked { partitions, .. } => {
            tracing::info!(
                ?partitions,
                "partitions revoked, waiting for the rebalance listener"
            );
            let (done, gate) = oneshot::channel();
            let call = RebalanceCall::Revoked {
                partitions: partitions.clone(),
                done,
            };
            if calls.send(call).is_ok() {
                return Some(gate);
            }
            apply(shared, event, identity).await;
        }
        GroupEvent::Assigned { partitions, .. } => {
            apply(shared, event, identity).await;
            let _ = calls.send(RebalanceCall::Assigned {
                partitions: partitions.clone(),
            });
        }
        GroupEvent::Lost { partitions, .. } => {
            apply(shared, event, identity).await;
            let _ = calls.send(RebalanceCall::Lost {
                partitions: partitions.clone(),
            });
        }
        _ => apply(shared, event, identity).await,
    }
    None
}

/// Subscribes to the topics `pattern` selects in the latest metadata;
/// `Membership::subscribe` rejoins only if the set changed.
fn follow_pattern(shared: &Shared, m: &mut Membership, pattern: &TopicPattern) {
    let topics = pattern.select(&shared.client.metadata());
    if m.subscribed_topics() != topics.as_slice() {
        tracing::info!(
            pattern = pattern.as_str(),
            ?topics,
            "pattern subscription changed"
        );
        m.subscribe(topics, Instant::now());
    }
}

fn remember_identity(shared: &Shared, m: &Membership, identity: &mut Option<CommitIdentity>) {
    let Some(g) = m.generation() else {
        return;
    };
    let Some(group_id) = shared.config.group_id.clone() else {
        return;
    };
    let next = CommitIdentity {
        group_id,
        generation_id: g.generation_id,
        member_id: g.member_id,
        group_instance_id: g.group_instance_id,
    };
    if identity.as_ref() != Some(&next) {
        shared.set_identity(next.clone());
        *identity = Some(next);
    }
}

/// Applies a membership event to the fetch state.
async fn apply(shared: &Shared, event: &GroupEvent, identity: Option<&CommitIdentity>) {
    match event {
        GroupEvent::Assigned { partitions, .. } => {
            tracing::info!(?partitions, "partitions assigned");
            shared.lock().add(
                partitions
                    .iter()
                    .map(|tp| (tp.clone(), StartOffset::Committed)),
            );
            shared.wake();
        }
        GroupEvent::Revoked { partitions, .. } => {
            let positions = stop(shared, partitions);
            tracing::info!(?partitions, "partitions revoked");
            if shared.config.enable_auto_commit {
                if let Some(who) = identity {
                    if let Err(e) =
                        commit(&shared.client, who, &positions, shared.config.retry_backoff).await
                    {
                        shared.report_commit_error(&e, who);
                        tracing::warn!(error = %e, "commit on revoke failed");
                    }
                }
            }
        }
        GroupEvent::Lost { partitions, .. } => {
            tracing::warn!(?partitions, "partitions lost");
            stop(shared, partitions);
        }
        _ => {}
    }
}

/// Stops fetching `partitions`, drops their buffered data and returns
/// their positions.
fn stop(shared: &Shared, partitions: &[TopicPartition]) -> Vec<CommitEntry> {
    let positions = shared.remove_partitions(partitions);
    shared.assignment_epoch.fetch_add(1, Ordering::Release);
    shared.wake();
    positions
}
