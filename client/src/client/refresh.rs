//! Metadata refreshes: one background task does every Metadata request;
//! callers only trigger it and wait, so concurrent refreshes coalesce.
//!
//! The trigger is a channel of capacity one: while a token waits, further
//! triggers are no-ops. A caller waits for the first refresh that *started*
//! after it asked, so it never accepts data fetched before it saw a problem.

use std::sync::{Arc, Weak};

use klamm_protocol::StrBytes;
use klamm_protocol::generated::MetadataRequest;
use klamm_protocol::generated::metadata::request::MetadataRequestTopic;
use tokio::sync::mpsc;

use super::{Inner, Interest, any_connection};
use crate::backoff::Backoff;
use crate::conn::ConnKind;
use crate::error::Error;
use crate::metadata::ClusterMetadata;

/// What the refresh task publishes.
#[derive(Debug, Clone)]
pub(crate) struct Snapshot {
    pub(crate) metadata: Arc<ClusterMetadata>,
    /// Refresh attempts started so far.
    started: u64,
    /// Refresh attempts finished so far.
    completed: u64,
    /// The error of the last finished attempt, if it failed.
    last_error: Option<Error>,
}

impl Snapshot {
    pub(crate) fn initial() -> Self {
        Self {
            metadata: Arc::new(ClusterMetadata::empty()),
            started: 0,
            completed: 0,
            last_error: None,
        }
    }
}

/// Asks for a refresh without waiting.
pub(super) fn trigger(inner: &Inner) {
    let _ = inner.trigger.try_send(());
}

/// Asks for a refresh and waits for one that started after this call.
pub(super) async fn refresh(inner: &Inner) -> Result<Arc<ClusterMetadata>, Error> {
    let mut rx = inner.snapshot.subscribe();
    let wanted = {
        let s = rx.borrow_and_update();
        s.started.max(s.completed) + 1
    };
    trigger(inner);
    // Every step of a refresh is bounded; this bound only guards against a
    // refresh task that is gone, so that nothing ever waits forever.
    let bound = (inner.config.connect_timeout() + inner.config.request_timeout())
        * (inner.bootstrap.len() as u32 + 2);
    let wait = async {
        loop {
            {
                let s = rx.borrow_and_update();
                if s.completed >= wanted {
                    return match &s.last_error {
                        None => Ok(s.metadata.clone()),
                        Some(e) => Err(e.clone()),
                    };
                }
            }
            rx.changed().await.map_err(|_| Error::Closed)?;
        }
    };
    tokio::time::timeout(bound, wait).await.unwrap_or_else(|_| {
        Err(Error::RequestTimeout {
            broker: "any broker".into(),
            api: "Metadata",
            after: bound,
        })
    })
}

/// The refresh task: waits for a trigger or `metadata.max.age.ms`, refreshes,
/// publishes. Failed refreshes retry with backoff. Ends when the client is dropped.
pub(super) async fn run(weak: Weak<Inner>, mut trigger: mpsc::Receiver<()>) {
    let mut backoff = None;
    let mut retry_failed = false;
    loop {
        let wait = {
            let Some(inner) = weak.upgrade() else { return };
            let config = &inner.config;
            let backoff = backoff.get_or_insert_with(|| {
                Backoff::new(config.reconnect_backoff(), config.reconnect_backoff_max())
            });
            if retry_failed {
                backoff.next_delay().min(config.metadata_max_age())
            } else {
                config.metadata_max_age()
            }
        };
        tokio::select! {
            token = trigger.recv() => if token.is_none() { return },
            () = tokio::time::sleep(wait) => {}
        }
        let Some(inner) = weak.upgrade() else { return };
        inner.snapshot.send_modify(|s| s.started += 1);
        let generation = inner.snapshot.borrow().metadata.generation + 1;
        let result = fetch(&inner, generation).await;
        retry_failed = result.is_err();
        match &result {
            Ok(m) => {
                tracing::debug!(
                    generation,
                    brokers = m.brokers.len(),
                    topics = m.topics.len(),
                    "metadata refreshed"
                );
                if let Some(b) = backoff.as_mut() {
                    b.reset();
                }
            }
            Err(e) => tracing::warn!(error = %e, "metadata refresh failed"),
        }
        inner.snapshot.send_modify(|s| {
            s.completed = s.started;
            match result {
                Ok(m) => {
                    s.metadata = Arc::new(m);
                    s.last_error = None;
                }
                Err(e) => s.last_error = Some(e),
            }
        });
    }
}

/// One Metadata request, trying other brokers while errors are retriable.
async fn fetch(inner: &Inner, generation: u64) -> Result<ClusterMetadata, Error> {
    let topics = match &*inner.interest.lock().unwrap_or_else(|p| p.into_inner()) {
        Interest::All => None,
        Interest::Topics(set) => Some(
            set.iter()
                .map(|name| {
                    MetadataRequestTopic::default().with_name(Some(StrBytes::from(name.as_str())))
                })
                .collect(),
        ),
    };
    let request = MetadataRequest::default()
        .with_topics(topics)
        .with_allow_auto_topic_creation(false);
    let attempts = inner.bootstrap.len() + inner.snapshot.borrow().metadata.brokers.len();
    let mut last = None;
    for _ in 0..attempts.max(1) {
        let result = async {
            let conn = any_connection(inner, ConnKind::Other).await?;
            conn.send(&request).await
        }
        .await;
        match result {
            Ok(response) => return Ok(ClusterMetadata::from_response(&response, generation)),
            Err(e) if crate::retry::classify(&e).retriable => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or(Error::MetadataMissing {
        what: "reachable broker".into(),
    }))
}
