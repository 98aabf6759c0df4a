//! [`Consumer`]: assignment, receiving, seeking, pausing, lag and commits.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures_core::Stream;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::auto_commit::AutoCommitClock;
use super::commit::{CommitEntry, Committed, commit, fetch_committed};
use super::config::ConsumerConfig;
use super::group_task::{self, GroupCommand};
use super::message::Message;
use super::pattern::TopicPattern;
use super::rebalance::{ListenerSlot, RebalanceCall, RebalanceListener};
use super::shared::{Chunk, Fetched, Shared};
use super::state::StartOffset;
use super::supervisor;
use crate::client::Client;
use crate::config::{ClientConfig, Properties};
use crate::error::Error;
use crate::group::{
    Assignor, CooperativeStickyAssignor, GroupConfig, GroupEvent, Membership, RangeAssignor,
    RoundRobinAssignor, TopicPartition, sleep_until,
};

/// A Kafka consumer.
///
/// Manual assignment: [`Consumer::assign`] names the partitions and where
/// each starts; no group membership is involved. With a `group.id`,
/// offsets can be committed ([`Consumer::commit`]) as a "simple consumer"
/// (generation -1), and `enable.auto.commit` commits every
/// `auto.commit.interval.ms` from a background task (also while the
/// application is busy and not receiving) and on [`Consumer::close`].
///
/// Committed offsets only ever cover messages already handed to the
/// application (at-least-once).
///
/// Dropping the consumer stops its tasks without blocking; call
/// [`Consumer::close`] to commit first.
#[derive(Debug)]
pub struct Consumer {
    shared: Arc<Shared>,
    rx: mpsc::UnboundedReceiver<Fetched>,
    /// The chunk being handed out, drained without locking.
    current: Option<Chunk>,
    /// An error held back because a batch call already had messages.
    held_error: Option<Error>,
    committer: Option<mpsc::UnboundedSender<CommitJob>>,
    /// `enable.auto.commit` with a group: the committer task commits on a
    /// timer, and close() commits.
    auto_commit: bool,
    group: Option<GroupHandle>,
    /// The assignment epoch the current chunk was checked against.
    seen_epoch: u64,
    /// Application code run on rebalances.
    listener: Option<ListenerSlot>,
    /// close() has run the revocation callback itself.
    closing: bool,
}

/// The consumer's side of the group task.
#[derive(Debug)]
struct GroupHandle {
    commands: mpsc::UnboundedSender<GroupCommand>,
    events: mpsc::UnboundedReceiver<GroupEvent>,
    /// Last time the group task heard the application polled.
    notified: Instant,
    /// Rebalance callbacks to run (with a listener set).
    calls: mpsc::UnboundedReceiver<RebalanceCall>,
}

/// What waiting for fetched data ended with.
enum Waited {
    Item(Fetched),
    Closed,
    Timeout,
}

/// A commit queued to the committer task; commits run in call order.
#[derive(Debug)]
struct CommitJob {
    entries: Vec<CommitEntry>,
    done: Option<oneshot::Sender<Result<(), Error>>>,
}

/// A commit started by [`Consumer::commit_async`]. Await it for the
/// result, or drop it: the commit still happens.
#[derive(Debug)]
pub struct PendingCommit(Option<oneshot::Receiver<Result<(), Error>>>);

impl Future for PendingCommit {
    type Output = Result<(), Error>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        match self.0.as_mut() {
            None => std::task::Poll::Ready(Ok(())),
            Some(rx) => std::pin::Pin::new(rx)
                .poll(cx)
                .map(|r| r.unwrap_or(Err(Error::Closed))),
        }
    }
}

impl Consumer {
    /// Connects with `client` settings and `config`.
    pub async fn new(client: ClientConfig, config: ConsumerConfig) -> Result<Self, Error> {
        config.validate()?;
        let client = Client::connect(client).await?;
        Ok(Self::with_client(client, config))
    }

    /// Builds client and consumer settings from Kafka property names and
    /// connects; any property neither layer knows is an error naming it.
    pub async fn from_properties(mut props: Properties) -> Result<Self, Error> {
        let client = ClientConfig::from_properties(&mut props)?;
        let config = ConsumerConfig::from_properties(&mut props)?;
        props.finish()?;
        Self::new(client, config).await
    }

    /// Builds from `(property, value)` pairs (see [`Self::from_properties`]).
    pub async fn from_pairs<K, V>(pairs: impl IntoIterator<Item = (K, V)>) -> Result<Self, Error>
    where
        K: Into<String>,
        V: Into<String>,
    {
        Self::from_properties(pairs.into_iter().collect()).await
    }

    /// A consumer on an existing client (sharing its connections).
    pub fn with_client(client: Client, config: ConsumerConfig) -> Self {
        let config = Arc::new(config);
        let (shared, rx) = Shared::new(client.clone(), config.clone());
        tokio::spawn(supervisor::run(shared.clone()));
        let committer = config.group_id.is_some().then(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(run_committer(shared.clone(), rx));
            tx
        });
        let auto_commit = config.enable_auto_commit && committer.is_some();
        Self {
            shared,
            rx,
            current: None,
            held_error: None,
            committer,
            auto_commit,
            group: None,
            seen_epoch: 0,
            listener: None,
            closing: false,
        }
    }

    /// Joins the consumer group (`group.id`) subscribed to `topics`; the
    /// group's assignment replaces any manual one. Later calls change the
    /// subscription (and end a pattern subscription). Partitions start at
    /// the group's committed offsets (`auto.offset.reset` where none); with
    /// `enable.auto.commit`, revoked partitions are committed before they
    /// are given up, and [`Self::close`] commits and leaves the group.
    pub async fn subscribe<S: Into<String>>(
        &mut self,
        topics: impl IntoIterator<Item = S>,
    ) -> Result<(), Error> {
        let topics: Vec<String> = topics.into_iter().map(Into::into).collect();
        let config = self.group_config()?;
        self.shared.client.add_topics(topics.clone()).await?;
        let names: Vec<Arc<str>> = topics.iter().map(|t| Arc::from(t.as_str())).collect();
        if let Some(g) = &self.group {
            let _ = g.commands.send(GroupCommand::Subscribe(names));
            return Ok(());
        }
        self.start_group(config, names, None)
    }

    /// Joins the consumer group (`group.id`) subscribed to every topic whose
    /// whole name matches the regular expression `pattern` (Java's
    /// semantics: `orders` selects only `orders`, `orders-.*` selects
    /// `orders-eu`). Internal topics (`__consumer_offsets`, any name
    /// starting with `__`) are never selected.
    ///
    /// The selection is evaluated on every metadata refresh, at the latest
    /// every `metadata.max.age.ms`: a matching topic created later joins the
    /// subscription (the member rejoins and the leader assigns it), a deleted
    /// one leaves it. The client's metadata covers every topic from then on.
    ///
    /// An invalid expression is an [`Error::Config`] naming it. Later calls
    /// to this method or [`Self::subscribe`] replace the subscription.
    pub async fn subscribe_pattern(&mut self, pattern: &str) -> Result<(), Error> {
        let pattern = TopicPattern::new(pattern)?;
        let config = self.group_config()?;
        let metadata = self.shared.client.track_all_topics().await?;
        if let Some(g) = &self.group {
            let _ = g.commands.send(GroupCommand::SubscribePattern(pattern));
            return Ok(());
        }
        let topics = pattern.select(&metadata);
        tracing::info!(
            pattern = pattern.as_str(),
            ?topics,
            "subscribing by pattern"
        );
        self.start_group(config, topics, Some(pattern))
    }

    /// Starts the group task: membership of `config.group_id` subscribed to
    /// `topics`, following `pattern` if any.
    fn start_group(
        &mut self,
        config: GroupConfig,
        topics: Vec<Arc<str>>,
        pattern: Option<TopicPattern>,
    ) -> Result<(), Error> {
        let membership = Membership::new(config, topics, std::time::Instant::now())
            .map_err(|e| Error::config("group", e.to_string()))?;
        self.current = None;
        self.shared.lock().assign(std::iter::empty());
        let (commands, command_rx) = mpsc::unbounded_channel();
        let (event_tx, events) = mpsc::unbounded_channel();
        let (call_tx, calls) = mpsc::unbounded_channel();
        tokio::spawn(group_task::run(
            self.shared.clone(),
            membership,
            pattern,
            command_rx,
            event_tx,
            call_tx,
        ));
        self.shared.set_group(&commands);
        self.group = Some(GroupHandle {
            commands,
            events,
            notified: Instant::now(),
            calls,
        });
        Ok(())
    }

    /// Sets application code to run on rebalances, with the consumer in
    /// hand (see [`RebalanceListener`]). Callbacks run inside [`Self::recv`],
    /// [`Self::recv_batch`], [`Self::stream`] and [`Self::close`], as in
    /// Java's consumer: keep receiving during a rebalance. A revocation holds
    /// the next JoinGroup back until its callback returns (the revocation
    /// gate), so commits made there count. Events stay readable through
    /// [`Self::poll_rebalance_event`] as well.
    pub fn set_rebalance_listener(&mut self, listener: impl RebalanceListener + 'static) {
        self.listener = Some(ListenerSlot(Arc::new(tokio::sync::Mutex::new(Box::new(
            listener,
        )))));
        self.shared.listening.store(true, Ordering::Release);
    }

    /// Runs the rebalance callbacks already queued.
    async fn run_calls(&mut self) {
        loop {
            let Some(call) = self.group.as_mut().and_then(|g| g.calls.try_recv().ok()) else {
                return;
            };
            self.handle_call(call).await;
        }
    }

    /// Runs one rebalance call from the group task.
    async fn handle_call(&mut self, call: RebalanceCall) {
        match call {
            RebalanceCall::Revoked { partitions, done } => {
                // Stop handing out and fetching them, but keep their
                // cursors: the callback may commit their positions.
                for tp in &partitions {
                    self.drop_current_of(tp);
                }
                {
                    let mut state = self.shared.lock();
                    for tp in &partitions {
                        state.pause(tp);
                    }
                }
                self.shared.assignment_epoch.fetch_add(1, Ordering::Release);
                self.shared.wake();
                // Finishes the revocation even if this future is dropped
                // mid-callback (a receive call under a timeout): the
                // partitions go and the JoinGroup gate opens.
                let finish = FinishRevocation {
                    shared: self.shared.clone(),
                    partitions,
                    done: Some(done),
                };
                if !self.closing {
                    if self.auto_commit {
                        let entries: Vec<CommitEntry> = self
                            .positions()
                            .into_iter()
                            .filter(|e| finish.partitions.contains(&e.tp))
                            .collect();
                        if let Err(e) = self.queue_commit(entries).await {
                            tracing::warn!(error = %e, "commit on revoke failed");
                        }
                    }
                    if let Some(slot) = self.listener.clone() {
                        // A callback that receives again finds the slot
                        // busy and does not run itself twice.
                        if let Ok(mut listener) = slot.0.try_lock() {
                            listener
                                .on_partitions_revoked(self, &finish.partitions)
                                .await;
                        }
                    }
                }
                drop(finish);
            }
            RebalanceCall::Assigned { partitions } => {
                if let Some(slot) = self.listener.clone() {
                    if let Ok(mut listener) = slot.0.try_lock() {
                        listener.on_partitions_assigned(self, &partitions).await;
                    }
                }
            }
            RebalanceCall::Lost { partitions } => {
                if let Some(slot) = self.listener.clone() {
                    if let Ok(mut listener) = slot.0.try_lock() {
                        listener.on_partitions_lost(self, &partitions).await;
                    }
                }
            }
        }
    }

    /// Waits for the next fetched item until `deadline`, running rebalance
    /// callbacks that arrive meanwhile. Cancel-safe.
    async fn wait(&mut self, deadline: Option<Instant>) -> Waited {
        loop {
            let call = {
                let calls = self.group.as_mut().map(|g| &mut g.calls);
                tokio::select! {
                    item = self.rx.recv() => return match item {
                        Some(item) => Waited::Item(item),
                        None => Waited::Closed,
                    },
                    Some(call) = next_call(calls) => call,
                    () = sleep_until(deadline) => return Waited::Timeout,
                }
            };
            self.handle_call(call).await;
        }
    }

    /// The next rebalance event (assigned, revoked, lost, ...) not yet
    /// read, without waiting. Group mode only.
    pub fn poll_rebalance_event(&mut self) -> Option<GroupEvent> {
        self.group.as_mut()?.events.try_recv().ok()
    }

    fn group_config(&self) -> Result<GroupConfig, Error> {
        let c = &self.shared.config;
        let group = c
            .group_id
            .clone()
            .ok_or_else(|| Error::config("group.id", "subscribing needs a group.id"))?;
        let assignors: Vec<Arc<dyn Assignor>> = c
            .assignment_strategies
            .iter()
            .map(|name| -> Arc<dyn Assignor> {
                match name.as_str() {
                    "roundrobin" => Arc::new(RoundRobinAssignor),
                    "cooperative-sticky" => Arc::new(CooperativeStickyAssignor),
                    _ => Arc::new(RangeAssignor),
                }
            })
            .collect();
        let config = GroupConfig::new(group)
            .with_group_instance_id(c.group_instance_id.clone())
            .with_rack_id(c.client_rack.clone())
            .with_session_timeout(c.session_timeout)
            .with_heartbeat_interval(c.heartbeat_interval)
            .with_max_poll_interval(c.max_poll_interval)
            .with_retry_backoff(c.retry_backoff)
            .with_request_timeout(self.shared.client.config().request_timeout())
            .with_assignors(assignors);
        config
            .validate()
            .map_err(|e| Error::config("group", e.to_string()))?;
        Ok(config)
    }

    /// Tells the group task the application polls, at most once a second.
    fn notify_poll(&mut self) {
        if let Some(g) = &mut self.group {
            let now = Instant::now();
            if now >= g.notified + Duration::from_secs(1) {
                g.notified = now;
                let _ = g.commands.send(GroupCommand::Poll);
            }
        }
    }

    /// The client underneath.
    pub fn client(&self) -> &Client {
        &self.shared.client
    }

    /// The consumer's settings.
    pub fn config(&self) -> &ConsumerConfig {
        &self.shared.config
    }

    /// Replaces the assignment: these partitions, each starting where
    /// given. Partitions no longer assigned stop at once and their
    /// buffered messages are dropped.
    pub async fn assign(
        &mut self,
        partitions: impl IntoIterator<Item = (TopicPartition, StartOffset)>,
    ) -> Result<(), Error> {
        let partitions: Vec<(TopicPartition, StartOffset)> = partitions.into_iter().collect();
        let topics: Vec<String> = partitions
            .iter()
            .map(|(tp, _)| tp.topic.to_string())
            .collect();
        self.shared.client.add_topics(topics).await?;
        self.sync_current();
        self.current = None;
        self.shared.lock().assign(partitions);
        self.shared.wake();
        Ok(())
    }

    /// Adds partitions to the assignment (librdkafka's incremental assign);
    /// a partition already assigned moves to the given start.
    pub async fn incremental_assign(
        &mut self,
        partitions: impl IntoIterator<Item = (TopicPartition, StartOffset)>,
    ) -> Result<(), Error> {
        let partitions: Vec<(TopicPartition, StartOffset)> = partitions.into_iter().collect();
        let topics: Vec<String> = partitions
            .iter()
            .map(|(tp, _)| tp.topic.to_string())
            .collect();
        self.shared.client.add_topics(topics).await?;
        for (tp, _) in &partitions {
            self.drop_current_of(tp);
        }
        self.shared.lock().add(partitions);
        self.shared.wake();
        Ok(())
    }

    /// Removes partitions from the assignment; returns the positions they
    /// had (what the application consumed), e.g. to commit them.
    pub fn incremental_unassign(&mut self, tps: &[TopicPartition]) -> Vec<(TopicPartition, i64)> {
        for tp in tps {
            self.drop_current_of(tp);
        }
        let removed = self.shared.lock().remove(tps);
        self.shared.wake();
        removed
            .into_iter()
            .map(|(tp, offset, _)| (tp, offset))
            .collect()
    }

    /// The assigned partitions.
    pub fn assignment(&self) -> Vec<TopicPartition> {
        self.shared.lock().cursors.keys().cloned().collect()
    }

    /// The next message. Waits until one arrives; errors are per partition
    /// (the partition stops, the others go on) unless the consumer closed.
    ///
    /// Cancel-safe: dropping the future loses no message.
    pub async fn recv(&mut self) -> Result<Message, Error> {
        loop {
            if let Some(e) = self.held_error.take() {
                return Err(e);
            }
            self.notify_poll();
            if self.group.is_some() {
                self.run_calls().await;
            }
            if let Some(m) = self.next_buffered() {
                return Ok(m);
            }
            let item = match self.wait(None).await {
                Waited::Item(item) => item,
                Waited::Closed | Waited::Timeout => return Err(Error::Closed),
            };
            if let Some(e) = self.accept(item) {
                return Err(e);
            }
        }
    }

    /// Up to `max` messages (at most `max.poll.records`): returns as soon as
    /// at least one is there and nothing more is buffered, or when
    /// `timeout` passes (possibly with none).
    pub async fn recv_batch(
        &mut self,
        max: usize,
        timeout: Duration,
    ) -> Result<Vec<Message>, Error> {
        let max = max.min(self.shared.config.max_poll_records).max(1);
        let deadline = Instant::now() + timeout;
        let mut out = Vec::with_capacity(max.min(1024));
        while out.len() < max {
            if let Some(e) = self.held_error.take() {
                if out.is_empty() {
                    return Err(e);
                }
                self.held_error = Some(e);
                break;
            }
            self.notify_poll();
            if self.group.is_some() {
                self.run_calls().await;
            }
            if let Some(m) = self.next_buffered() {
                out.push(m);
                continue;
            }
            // Drain what is already queued without waiting.
            let item = match self.rx.try_recv() {
                Ok(item) => item,
                Err(mpsc::error::TryRecvError::Disconnected) => return Err(Error::Closed),
                Err(mpsc::error::TryRecvError::Empty) => {
                    if !out.is_empty() {
                        break;
                    }
                    match self.wait(Some(deadline)).await {
                        Waited::Timeout => break,
                        Waited::Closed => return Err(Error::Closed),
                        Waited::Item(item) => item,
                    }
                }
            };
            if let Some(e) = self.accept(item) {
                if out.is_empty() {
                    return Err(e);
                }
                self.held_error = Some(e);
                break;
            }
        }
        Ok(out)
    }

    /// The messages as a [`Stream`]; it ends only if the consumer closes.
    pub fn stream(&mut self) -> impl Stream<Item = Result<Message, Error>> + '_ {
        futures_util::stream::unfold(self, |c| async move {
            match c.recv().await {
                Err(Error::Closed) => None,
                r => Some((r, c)),
            }
        })
    }

    /// Moves a partition to `offset`: the next message handed out is the
    /// first at or after it. Buffered messages of the partition are dropped.
    pub fn seek(&mut self, tp: &TopicPartition, offset: i64) -> Result<(), Error> {
        self.seek_to(tp, StartOffset::At(offset))
    }

    /// Moves a partition to any [`StartOffset`] (resolved in the background).
    pub fn seek_to(&mut self, tp: &TopicPartition, start: StartOffset) -> Result<(), Error> {
        self.drop_current_of(tp);
        if !self.shared.lock().seek(tp, start) {
            return Err(not_assigned(tp));
        }
        self.shared.wake();
        Ok(())
    }

    /// Moves partitions to the start of their logs.
    pub fn seek_to_beginning(&mut self, tps: &[TopicPartition]) -> Result<(), Error> {
        tps.iter()
            .try_for_each(|tp| self.seek_to(tp, StartOffset::Beginning))
    }

    /// Moves partitions to the end of their logs.
    pub fn seek_to_end(&mut self, tps: &[TopicPartition]) -> Result<(), Error> {
        tps.iter()
            .try_for_each(|tp| self.seek_to(tp, StartOffset::End))
    }

    /// The offset of the next message this partition hands out. Waits
    /// (up to `request.timeout.ms`) while a start is still being resolved.
    pub async fn position(&mut self, tp: &TopicPartition) -> Result<i64, Error> {
        self.sync_current();
        let deadline = Instant::now() + self.shared.client.config().request_timeout();
        let mut changes = self.shared.subscribe();
        loop {
            changes.borrow_and_update();
            {
                let state = self.shared.lock();
                let c = state.cursors.get(tp).ok_or_else(|| not_assigned(tp))?;
                if let Some(p) = c.position {
                    return Ok(p);
                }
            }
            if Instant::now() >= deadline {
                return Err(Error::MetadataMissing {
                    what: format!("resolved position for {tp} within request.timeout.ms"),
                });
            }
            let _ = tokio::time::timeout_at(deadline, changes.changed()).await;
        }
    }

    /// Stops fetching partitions; their buffered messages are dropped and
    /// fetching resumes from the position on [`Self::resume`].
    pub fn pause(&mut self, tps: &[TopicPartition]) -> Result<(), Error> {
        for tp in tps {
            self.drop_current_of(tp);
            if !self.shared.lock().pause(tp) {
                return Err(not_assigned(tp));
            }
        }
        self.shared.wake();
        Ok(())
    }

    /// Resumes paused partitions.
    pub fn resume(&mut self, tps: &[TopicPartition]) -> Result<(), Error> {
        for tp in tps {
            if !self.shared.lock().resume(tp) {
                return Err(not_assigned(tp));
            }
        }
        self.shared.wake();
        Ok(())
    }

    /// The paused partitions.
    pub fn paused(&self) -> Vec<TopicPartition> {
        let state = self.shared.lock();
        state
            .cursors
            .iter()
            .filter(|(_, c)| c.paused)
            .map(|(tp, _)| tp.clone())
            .collect()
    }

    /// Messages between the position and the high watermark of the last
    /// fetch response; `None` before the first response or while the
    /// position is unresolved.
    pub fn lag(&mut self, tp: &TopicPartition) -> Option<i64> {
        self.sync_current();
        self.shared.lock().cursors.get(tp)?.lag()
    }

    /// The high watermark from the last fetch response (-1 before one).
    pub fn high_watermark(&self, tp: &TopicPartition) -> Option<i64> {
        Some(self.shared.lock().cursors.get(tp)?.high_watermark)
    }

    /// Commits the position of every assigned partition (what was handed
    /// to the application) and waits for the broker.
    pub async fn commit(&mut self) -> Result<(), Error> {
        self.commit_async().await
    }

    /// Starts committing every position; commits run in call order.
    pub fn commit_async(&mut self) -> PendingCommit {
        let entries = self.positions();
        self.queue_commit(entries)
    }

    /// Commits explicit offsets (the next offset to consume, per partition).
    pub async fn commit_offsets(
        &mut self,
        offsets: impl IntoIterator<Item = (TopicPartition, i64)>,
    ) -> Result<(), Error> {
        let entries = offsets
            .into_iter()
            .map(|(tp, offset)| CommitEntry {
                tp,
                offset,
                leader_epoch: None,
            })
            .collect();
        self.queue_commit(entries).await
    }

    /// The group's committed offsets for `tps` (`None`: never committed).
    pub async fn committed(
        &self,
        tps: &[TopicPartition],
    ) -> Result<BTreeMap<TopicPartition, Option<Committed>>, Error> {
        let group = self
            .shared
            .config
            .group_id
            .as_deref()
            .ok_or_else(no_group)?;
        fetch_committed(
            &self.shared.client,
            group,
            tps,
            self.shared.config.retry_backoff,
        )
        .await
    }

    /// Commits (when auto-commit is on), leaves the group (group mode)
    /// and stops every task.
    pub async fn close(mut self) -> Result<(), Error> {
        let result = if self.auto_commit {
            self.commit().await
        } else {
            Ok(())
        };
        if self.group.is_some() {
            self.run_calls().await;
            // The partitions are given up by LeaveGroup: the listener's
            // revocation callback runs before it, once.
            let assigned = self.assignment();
            if let Some(slot) = self.listener.clone() {
                if !assigned.is_empty() {
                    let mut listener = slot.0.lock().await;
                    listener.on_partitions_revoked(&mut self, &assigned).await;
                }
            }
            self.closing = true;
        }
        if let Some(mut g) = self.group.take() {
            let (tx, mut rx) = oneshot::channel();
            if g.commands.send(GroupCommand::Close(tx)).is_ok() {
                let wait = self.shared.client.config().request_timeout() * 2;
                let deadline = Instant::now() + wait;
                // Revocations queued meanwhile only remove partitions.
                loop {
                    tokio::select! {
                        _ = &mut rx => break,
                        Some(call) = g.calls.recv() => {
                            if let RebalanceCall::Revoked { partitions, done } = call {
                                self.shared.remove_partitions(&partitions);
                                let _ = done.send(());
                            }
                        }
                        () = tokio::time::sleep_until(deadline) => break,
                    }
                }
            }
        }
        self.shutdown();
        result
    }

    fn shutdown(&mut self) {
        self.shared.lock().closed = true;
        self.shared.wake();
        self.committer = None;
    }

    /// The next message of the current chunk, if any; a drained chunk
    /// moves the partition's position and frees its budget.
    fn next_buffered(&mut self) -> Option<Message> {
        let epoch = self.shared.assignment_epoch.load(Ordering::Acquire);
        if epoch != self.seen_epoch {
            // Partitions were revoked: is the chunk's partition still ours?
            self.seen_epoch = epoch;
            if let Some(chunk) = &self.current {
                let current = self
                    .shared
                    .lock()
                    .cursors
                    .get(&chunk.tp)
                    .is_some_and(|c| c.version == chunk.version);
                if !current {
                    if let Some(chunk) = self.current.take() {
                        self.release(chunk.bytes);
                    }
                }
            }
        }
        let chunk = self.current.as_mut()?;
        if let Some(m) = chunk.messages.next() {
            // After the chunk's last message the position is the chunk's
            // next offset: past trailing control batches and aborted data,
            // so a commit or position() then does not stop on a marker.
            let next = if chunk.messages.as_slice().is_empty() {
                chunk.next_offset
            } else {
                m.offset() + 1
            };
            chunk.consumed = Some((next, m.leader_epoch()));
            self.shared.handed.handed(next);
            return Some(m);
        }
        if let Some(mut chunk) = self.current.take() {
            let epoch = chunk.consumed.and_then(|(_, e)| e);
            chunk.consumed = Some((chunk.next_offset, epoch));
            self.finish(chunk);
        }
        None
    }

    /// Takes an item from a fetch task: a current chunk becomes the one
    /// handed out; a stale one is dropped. Returns an error to surface.
    fn accept(&mut self, item: Fetched) -> Option<Error> {
        match item {
            Fetched::Chunk(chunk) => {
                let current = {
                    let state = self.shared.lock();
                    state
                        .cursors
                        .get(&chunk.tp)
                        .is_some_and(|c| c.version == chunk.version && !c.paused)
                };
                if current {
                    let epoch = chunk
                        .messages
                        .as_slice()
                        .first()
                        .and_then(Message::leader_epoch);
                    self.shared
                        .handed
                        .start_chunk(&chunk.tp, chunk.version, epoch);
                    self.current = Some(chunk);
                } else {
                    self.release(chunk.bytes);
                }
                None
            }
            Fetched::Error { tp, version, error } => {
                let state = self.shared.lock();
                state
                    .cursors
                    .get(&tp)
                    .is_some_and(|c| c.version == version)
                    .then_some(error)
            }
        }
    }

    /// Writes the current chunk's progress to its cursor.
    fn sync_current(&mut self) {
        let Some(chunk) = self.current.as_ref() else {
            return;
        };
        if let Some((offset, epoch)) = chunk.consumed {
            let mut state = self.shared.lock();
            if let Some(c) = state.cursors.get_mut(&chunk.tp) {
                if c.version == chunk.version {
                    c.position = Some(offset);
                    c.position_epoch = epoch.or(c.position_epoch);
                }
            }
        }
    }

    fn finish(&mut self, chunk: Chunk) {
        if let Some((offset, epoch)) = chunk.consumed {
            let mut state = self.shared.lock();
            if let Some(c) = state.cursors.get_mut(&chunk.tp) {
                if c.version == chunk.version {
                    c.position = Some(offset);
                    c.position_epoch = epoch.or(c.position_epoch);
                }
            }
        }
        self.release(chunk.bytes);
    }

    fn release(&self, bytes: usize) {
        let was_full = {
            let mut state = self.shared.lock();
            let was_full = !state.has_budget();
            state.buffered_bytes = state.buffered_bytes.saturating_sub(bytes);
            was_full && state.has_budget()
        };
        if was_full {
            self.shared.wake();
        }
    }

    /// Drops the chunk being handed out if it belongs to `tp` (before a
    /// seek or pause), keeping the progress made so far.
    fn drop_current_of(&mut self, tp: &TopicPartition) {
        if self.current.as_ref().is_some_and(|c| &c.tp == tp) {
            self.sync_current();
            if let Some(chunk) = self.current.take() {
                self.release(chunk.bytes);
            }
        }
    }

    /// Every assigned partition's position, for a commit.
    fn positions(&mut self) -> Vec<CommitEntry> {
        self.sync_current();
        self.shared.lock().positions()
    }

    fn queue_commit(&mut self, entries: Vec<CommitEntry>) -> PendingCommit {
        let (tx, rx) = oneshot::channel();
        match &self.committer {
            None => {
                let _ = tx.send(Err(no_group()));
            }
            Some(committer) => {
                let job = CommitJob {
                    entries,
                    done: Some(tx),
                };
                if let Err(mpsc::error::SendError(job)) = committer.send(job) {
                    if let Some(done) = job.done {
                        let _ = done.send(Err(Error::Closed));
                    }
                }
            }
        }
        PendingCommit(Some(rx))
    }
}

impl Drop for Consumer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Runs queued commits one at a time, in order, with the identity of the
/// moment (simple consumer, or the group generation); with
/// `enable.auto.commit`, also commits every `auto.commit.interval.ms` the
/// positions of messages already handed out, whether or not the
/// application is receiving.
async fn run_committer(shared: Arc<Shared>, mut rx: mpsc::UnboundedReceiver<CommitJob>) {
    let mut clock = shared
        .config
        .enable_auto_commit
        .then(|| AutoCommitClock::new(shared.config.auto_commit_interval, Instant::now()));
    loop {
        let wake = clock.as_ref().map(AutoCommitClock::deadline);
        tokio::select! {
            job = rx.recv() => {
                let Some(job) = job else { return };
                let result = commit_now(&shared, &job.entries).await;
                if let (Ok(()), Some(clock)) = (&result, clock.as_mut()) {
                    clock.committed(&job.entries);
                }
                if let Some(done) = job.done {
                    let _ = done.send(result);
                }
            }
            () = sleep_until(wake) => {
                let Some(clock) = clock.as_mut() else { continue };
                if !clock.due(Instant::now()) {
                    continue;
                }
                let entries = clock.changed(shared.handed_positions());
                if entries.is_empty() {
                    continue;
                }
                tracing::debug!(partitions = entries.len(), "auto-commit");
                if commit_now(&shared, &entries).await.is_ok() {
                    clock.committed(&entries);
                }
            }
        }
    }
}

/// Commits `entries` with the identity of the moment.
async fn commit_now(shared: &Shared, entries: &[CommitEntry]) -> Result<(), Error> {
    let who = shared.identity().ok_or_else(no_group)?;
    let result = commit(&shared.client, &who, entries, shared.config.retry_backoff).await;
    if let Err(e) = &result {
        shared.report_commit_error(e, &who);
        tracing::warn!(group = who.group_id, error = %e, "commit failed");
    }
    result
}

/// Removes revoked partitions and opens the JoinGroup gate when dropped,
/// whether the revocation callback finished or was cancelled.
struct FinishRevocation {
    shared: Arc<Shared>,
    partitions: Vec<TopicPartition>,
    done: Option<oneshot::Sender<()>>,
}

impl Drop for FinishRevocation {
    fn drop(&mut self) {
        self.shared.remove_partitions(&self.partitions);
        self.shared.assignment_epoch.fetch_add(1, Ordering::Release);
        self.shared.wake();
        if let Some(done) = self.done.take() {
            let _ = done.send(());
        }
    }
}

/// The next rebalance call, or never without a group.
async fn next_call(
    calls: Option<&mut mpsc::UnboundedReceiver<RebalanceCall>>,
) -> Option<RebalanceCall> {
    match calls {
        Some(calls) => calls.recv().await,
        None => std::future::pending().await,
    }
}

fn not_assigned(tp: &TopicPartition) -> Error {
    Error::config(
        "assignment",
        format!("partition {tp} is not assigned to this consumer"),
    )
}

fn no_group() -> Error {
    Error::config("group.id", "committing offsets needs a group.id")
}
