//! A tokio task that runs a [`Membership`] on the client's connections: the
//! minimal I/O around the sans-io core, until the consumer owns it.
//!
//! ```text
//! GroupDriver ──commands (poll, subscribe, commit, close)──▶ task ── Membership
//!      ▲                                              │  poll_request ─▶ one spawned send per request
//!      └──────────── events (Assigned, Revoked...) ◀──┘  responses/errors ◀─┘   timers: poll_timeout
//! ```
//!
//! Requests to the coordinator use the `Group` connection, except Heartbeat
//! and LeaveGroup, which use the broker's `Other` connection: a broker works
//! through one connection's requests in order, so a JoinGroup the coordinator
//! holds for the whole rebalance would otherwise delay them.
//!
//! As leader, the task also watches the group's topics in the client's
//! metadata and rejoins when a partition count changes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use std::collections::BTreeSet;

use klamm_protocol::generated::{OffsetCommitRequest, OffsetCommitResponse};
use klamm_protocol::{ErrorCode, Request};
use tokio::sync::{mpsc, oneshot, watch};

use super::transmit::FitVersion;
use super::{
    Destination, Generation, GroupConfig, GroupConfigError, GroupEvent, GroupRequest,
    GroupResponse, Membership, PartitionCounts, RequestId, Transmit, commit_group_error,
};
use crate::conn::{ConnKind, Connection};
use crate::error::Error;
use crate::{Client, Target};

#[derive(Debug)]
enum Command {
    Poll,
    Subscribe(Vec<Arc<str>>),
    Commit(
        OffsetCommitRequest,
        oneshot::Sender<Result<OffsetCommitResponse, Error>>,
    ),
    Close,
}

/// What spawned sends report back to the task.
#[derive(Debug)]
enum Done {
    Request(RequestId, Result<GroupResponse, Error>),
    /// A commit came back with a membership error.
    CommitError(ErrorCode),
}

/// Runs one group member in a background task. Dropping it closes the
/// membership (LeaveGroup for a dynamic member) in the background.
#[derive(Debug)]
pub struct GroupDriver {
    commands: mpsc::UnboundedSender<Command>,
    events: mpsc::UnboundedReceiver<GroupEvent>,
    generation: watch::Receiver<Option<Generation>>,
    task: tokio::task::JoinHandle<()>,
}

impl GroupDriver {
    /// Starts a member of `config.group_id` subscribed to `topics`.
    pub fn spawn<T: Into<Arc<str>>>(
        client: Client,
        config: GroupConfig,
        topics: impl IntoIterator<Item = T>,
    ) -> Result<Self, GroupConfigError> {
        let timeouts = Timeouts {
            rebalance: config.rebalance_timeout + Duration::from_secs(5),
            request: config.request_timeout,
        };
        let membership = Membership::new(config, topics, Instant::now())?;
        // Both channels are unbounded on purpose: commands are tiny and few,
        // and events come once per rebalance; a bounded event channel would
        // let a slow application stall heartbeats.
        let (commands, command_rx) = mpsc::unbounded_channel();
        let (event_tx, events) = mpsc::unbounded_channel();
        let (generation_tx, generation) = watch::channel(None);
        let channels = Channels {
            commands: command_rx,
            events: event_tx,
            generation: generation_tx,
        };
        let task = tokio::spawn(run(client, membership, timeouts, channels));
        Ok(Self {
            commands,
            events,
            generation,
            task,
        })
    }

    /// The application asked for records (resets `max.poll.interval.ms`).
    pub fn notify_poll(&self) {
        let _ = self.commands.send(Command::Poll);
    }

    /// Changes the subscription.
    pub fn subscribe<T: Into<Arc<str>>>(&self, topics: impl IntoIterator<Item = T>) {
        let _ = self.commands.send(Command::Subscribe(
            topics.into_iter().map(Into::into).collect(),
        ));
    }

    /// The identity to build commits with ([`Offsets::build_commit`](super::Offsets::build_commit)),
    /// while the member holds a generation.
    pub fn generation(&self) -> Option<Generation> {
        self.generation.borrow().clone()
    }

    /// Sends an OffsetCommit to the coordinator on the group connection.
    /// A membership error in the answer (e.g. `REBALANCE_IN_PROGRESS`) is
    /// also fed to the membership.
    pub async fn commit(
        &self,
        request: OffsetCommitRequest,
    ) -> Result<OffsetCommitResponse, Error> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::Commit(request, reply))
            .map_err(|_| Error::Closed)?;
        answer.await.map_err(|_| Error::Closed)?
    }

    /// The next event; `None` once the member has closed or failed and every
    /// event was read.
    pub async fn next_event(&mut self) -> Option<GroupEvent> {
        self.events.recv().await
    }

    /// Leaves the group and returns the events up to and including
    /// [`GroupEvent::Closed`] (or the fatal error).
    pub async fn close(mut self) -> Vec<GroupEvent> {
        let _ = self.commands.send(Command::Close);
        let mut out = Vec::new();
        while let Some(event) = self.events.recv().await {
            out.push(event);
        }
        let _ = (&mut self.task).await;
        out
    }
}

/// How long a membership request may take: JoinGroup and SyncGroup wait up
/// to the rebalance timeout, everything else up to the request timeout.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timeouts {
    pub(crate) rebalance: Duration,
    pub(crate) request: Duration,
}

struct Channels {
    commands: mpsc::UnboundedReceiver<Command>,
    events: mpsc::UnboundedSender<GroupEvent>,
    generation: watch::Sender<Option<Generation>>,
}

async fn run(client: Client, mut m: Membership, timeouts: Timeouts, mut ch: Channels) {
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Done>();
    let mut commands_open = true;
    let mut watched: BTreeSet<Arc<str>> = BTreeSet::new();
    let mut seen_metadata = None;
    loop {
        let now = Instant::now();
        m.handle_timeout(now);
        watch_partition_counts(&client, &mut m, &mut watched, &mut seen_metadata, now);
        while let Some(t) = m.poll_request(now) {
            let (client, done) = (client.clone(), done_tx.clone());
            tokio::spawn(async move {
                let id = t.id;
                let result = send(&client, t, timeouts).await;
                let _ = done.send(Done::Request(id, result));
            });
        }
        ch.generation.send_if_modified(|g| {
            let now = m.generation();
            let changed = *g != now;
            *g = now;
            changed
        });
        while let Some(event) = m.poll_event() {
            let last = matches!(event, GroupEvent::Closed | GroupEvent::Fatal(_));
            let _ = ch.events.send(event);
            if last {
                return;
            }
        }
        let wake = m.poll_timeout().map(tokio::time::Instant::from_std);
        tokio::select! {
            Some(done) = done_rx.recv() => match done {
                Done::Request(id, Ok(response)) => m.handle_response(id, response, Instant::now()),
                Done::Request(id, Err(error)) => {
                    tracing::debug!(%error, "group request failed");
                    m.handle_error(id, Instant::now());
                }
                Done::CommitError(code) => m.handle_commit_error(code, Instant::now()),
            },
            command = ch.commands.recv(), if commands_open => match command {
                Some(Command::Poll) => m.notify_poll(Instant::now()),
                Some(Command::Subscribe(topics)) => m.subscribe(topics, Instant::now()),
                Some(Command::Commit(request, reply)) => {
                    commit(&client, &m, request, reply, done_tx.clone(), timeouts.request);
                }
                Some(Command::Close) => m.close(),
                None => {
                    commands_open = false;
                    m.close();
                }
            },
            () = sleep_until(wake) => {}
        }
    }
}

/// As leader, keeps the group's topics in the client's metadata and rejoins
/// when their partition counts change.
fn watch_partition_counts(
    client: &Client,
    m: &mut Membership,
    watched: &mut BTreeSet<Arc<str>>,
    seen: &mut Option<u64>,
    now: Instant,
) {
    let Some(topics) = m.leader_watch_topics() else {
        return;
    };
    if topics != watched {
        *watched = topics.clone();
        let (client, names) = (
            client.clone(),
            topics.iter().map(|t| t.to_string()).collect::<Vec<_>>(),
        );
        tokio::spawn(async move {
            if let Err(error) = client.add_topics(names).await {
                tracing::debug!(%error, "metadata refresh for the group's topics failed");
            }
        });
    }
    let meta = client.metadata();
    if *seen == Some(meta.generation) {
        return;
    }
    *seen = Some(meta.generation);
    let counts: PartitionCounts = topics
        .iter()
        .filter_map(|t| {
            let tm = meta.topic(t).filter(|tm| tm.error == ErrorCode::None)?;
            Some((t.clone(), i32::try_from(tm.partitions.len()).ok()?))
        })
        .collect();
    m.check_partition_counts(&counts, now);
}

/// Sends a commit to the coordinator in the background; membership errors in
/// the answer come back to the task.
fn commit(
    client: &Client,
    m: &Membership,
    request: OffsetCommitRequest,
    reply: oneshot::Sender<Result<OffsetCommitResponse, Error>>,
    done: mpsc::UnboundedSender<Done>,
    timeout: Duration,
) {
    let Some(coordinator) = m.coordinator().cloned() else {
        let _ = reply.send(Err(Error::Broker {
            api: "OffsetCommit",
            code: ErrorCode::CoordinatorNotAvailable,
            message: Some("the group coordinator is not known yet".into()),
            context: crate::error::ErrorContext::default(),
        }));
        return;
    };
    let client = client.clone();
    tokio::spawn(async move {
        let result = async {
            let conn = client
                .connection(coordinator.node_id, ConnKind::Group)
                .await?;
            let version = conn.version_for::<OffsetCommitRequest>()?;
            conn.send_at(&request, version, timeout).await
        }
        .await;
        if let Ok(response) = &result {
            if let Some(code) = commit_group_error(response) {
                let _ = done.send(Done::CommitError(code));
            }
        }
        let _ = reply.send(result);
    });
}

/// Sleeps until `at`, or forever when there is no deadline.
pub(crate) async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Sends one membership request where it must go, on the right connection.
pub(crate) async fn send(
    client: &Client,
    t: Transmit,
    timeouts: Timeouts,
) -> Result<GroupResponse, Error> {
    let conn = match &t.destination {
        Destination::AnyBroker => {
            client
                .connection_for(&Target::AnyBroker, ConnKind::Other)
                .await?
        }
        Destination::Coordinator(c) => {
            let kind = match t.request {
                GroupRequest::Heartbeat(_) | GroupRequest::LeaveGroup(_) => ConnKind::Other,
                _ => ConnKind::Group,
            };
            client.connection(c.node_id, kind).await?
        }
    };
    let (short, long) = (timeouts.request, timeouts.rebalance);
    Ok(match t.request {
        GroupRequest::FindCoordinator(r) => {
            GroupResponse::FindCoordinator(call(&conn, r, short).await?)
        }
        GroupRequest::JoinGroup(r) => GroupResponse::JoinGroup(call(&conn, r, long).await?),
        GroupRequest::SyncGroup(r) => GroupResponse::SyncGroup(call(&conn, r, long).await?),
        GroupRequest::Heartbeat(r) => GroupResponse::Heartbeat(call(&conn, r, short).await?),
        GroupRequest::LeaveGroup(r) => GroupResponse::LeaveGroup(call(&conn, r, short).await?),
        GroupRequest::OffsetFetch(r) => GroupResponse::OffsetFetch(call(&conn, r, short).await?),
        GroupRequest::Metadata(r) => GroupResponse::Metadata(call(&conn, r, short).await?),
    })
}

/// Sends `request` at the version negotiated on `conn`, reshaped for it.
async fn call<R: Request + FitVersion>(
    conn: &Connection,
    mut request: R,
    timeout: Duration,
) -> Result<R::Response, Error> {
    let version = conn.version_for::<R>()?;
    request.fit_version(version);
    conn.send_at(&request, version, timeout).await
}
