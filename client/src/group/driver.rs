//! A tokio task that runs a [`Membership`] on the client's connections: the
//! minimal I/O around the sans-io core, until the consumer owns it.
//!
//! ```text
//! GroupDriver ──commands (poll, subscribe, close)──▶ task ── Membership
//!      ▲                                              │  poll_request ─▶ one spawned send per request
//!      └──────────── events (Assigned, Revoked...) ◀──┘  responses/errors ◀─┘   timers: poll_timeout
//! ```
//!
//! Requests to the coordinator use the `Group` connection, except Heartbeat
//! and LeaveGroup, which use the broker's `Other` connection: a broker works
//! through one connection's requests in order, so a JoinGroup the coordinator
//! holds for the whole rebalance would otherwise delay them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use klamm_protocol::Request;
use tokio::sync::mpsc;

use super::transmit::FitVersion;
use super::{
    Destination, GroupConfig, GroupConfigError, GroupEvent, GroupRequest, GroupResponse,
    Membership, RequestId, Transmit,
};
use crate::conn::{ConnKind, Connection};
use crate::error::Error;
use crate::{Client, Target};

#[derive(Debug)]
enum Command {
    Poll,
    Subscribe(Vec<Arc<str>>),
    Close,
}

/// Runs one group member in a background task. Dropping it closes the
/// membership (LeaveGroup for a dynamic member) in the background.
#[derive(Debug)]
pub struct GroupDriver {
    commands: mpsc::UnboundedSender<Command>,
    events: mpsc::UnboundedReceiver<GroupEvent>,
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
        let task = tokio::spawn(run(client, membership, timeouts, command_rx, event_tx));
        Ok(Self {
            commands,
            events,
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

#[derive(Debug, Clone, Copy)]
struct Timeouts {
    rebalance: Duration,
    request: Duration,
}

async fn run(
    client: Client,
    mut m: Membership,
    timeouts: Timeouts,
    mut commands: mpsc::UnboundedReceiver<Command>,
    events: mpsc::UnboundedSender<GroupEvent>,
) {
    let (done_tx, mut done_rx) =
        mpsc::unbounded_channel::<(RequestId, Result<GroupResponse, Error>)>();
    let mut commands_open = true;
    loop {
        let now = Instant::now();
        m.handle_timeout(now);
        while let Some(t) = m.poll_request(now) {
            let (client, done) = (client.clone(), done_tx.clone());
            tokio::spawn(async move {
                let id = t.id;
                let result = send(&client, t, timeouts).await;
                let _ = done.send((id, result));
            });
        }
        while let Some(event) = m.poll_event() {
            let last = matches!(event, GroupEvent::Closed | GroupEvent::Fatal(_));
            let _ = events.send(event);
            if last {
                return;
            }
        }
        let wake = m.poll_timeout().map(tokio::time::Instant::from_std);
        tokio::select! {
            Some((id, result)) = done_rx.recv() => match result {
                Ok(response) => m.handle_response(id, response, Instant::now()),
                Err(error) => {
                    tracing::debug!(%error, "group request failed");
                    m.handle_error(id, Instant::now());
                }
            },
            command = commands.recv(), if commands_open => match command {
                Some(Command::Poll) => m.notify_poll(Instant::now()),
                Some(Command::Subscribe(topics)) => m.subscribe(topics, Instant::now()),
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

async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

async fn send(client: &Client, t: Transmit, timeouts: Timeouts) -> Result<GroupResponse, Error> {
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
