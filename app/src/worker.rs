//! The worker: run every subscription until SIGINT/SIGTERM, then finish
//! the records in hand, commit, leave the groups and flush the producer.

use std::future::Future;

use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::app::App;
use crate::error::AppError;
use crate::subscription;

impl App {
    /// Runs every subscription until SIGINT or SIGTERM (see
    /// [`Self::run_until`]).
    pub async fn run(&self) -> Result<(), AppError> {
        self.run_until(shutdown_signal()).await
    }

    /// Runs every subscription until `shutdown` completes or one of them
    /// stops with an error (a `Stop` failure policy, a fatal group error).
    /// Either way all of them then finish the record in hand (a record
    /// waiting for a retry is left for the next start), commit what was
    /// handled (auto-commit mode), leave their groups, and the producer is
    /// flushed. Returns the first subscription error: a stopped
    /// subscription stops the worker, so a process supervisor can restart
    /// it and the failed record is handled again.
    pub async fn run_until(&self, shutdown: impl Future<Output = ()>) -> Result<(), AppError> {
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut tasks = JoinSet::new();
        for def in self.subscriptions() {
            tasks.spawn(subscription::run(self.clone(), def, stop_rx.clone()));
        }
        tokio::pin!(shutdown);
        let mut stopping = false;
        let mut first_error: Option<AppError> = None;
        loop {
            tokio::select! {
                () = &mut shutdown, if !stopping => {
                    tracing::info!("shutting down: finishing handlers, committing, leaving groups");
                    stopping = true;
                    let _ = stop_tx.send(true);
                }
                joined = tasks.join_next() => {
                    let error = match joined {
                        None => break,
                        Some(Ok(Ok(()))) => None,
                        Some(Ok(Err(e))) => Some(AppError::from(e)),
                        Some(Err(e)) => Some(AppError::Internal(format!("a subscription task failed: {e}"))),
                    };
                    if let Some(e) = error {
                        tracing::error!(error = %e, "subscription stopped; stopping the worker");
                        first_error.get_or_insert(e);
                        stopping = true;
                        let _ = stop_tx.send(true);
                    }
                }
            }
        }
        if !stopping {
            // No subscriptions: serve until told to stop.
            shutdown.await;
        }
        self.producer().flush().await;
        first_error.map_or(Ok(()), Err)
    }
}

/// Completes on SIGINT (Ctrl-C) or, on Unix, SIGTERM. If a handler cannot
/// be installed it waits for the other one only.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
