//! Shared pieces of the app's broker tests: message types, an app on a
//! fresh topic prefix, a worker running in the background, and waiting.

#![allow(dead_code, unreachable_pub)]

use std::future::Future;
use std::time::Duration;

use klamm_app::{App, AppConfig, AppError};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// How long any one wait may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Content {
    pub id: u64,
    pub title: String,
}
klamm_app::schema!(Content, "Content", 1, json_schema);

/// The same id, a newer version with another shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContentV2 {
    pub id: u64,
    pub headline: String,
}
klamm_app::schema!(ContentV2, "Content", 2);

pub fn content(id: u64) -> Content {
    Content {
        id,
        title: format!("title {id}"),
    }
}

/// A configuration on the test broker with a topic prefix of its own, so
/// that tests never see each other's streams; short waits everywhere.
pub fn config(prefix: &str) -> AppConfig {
    AppConfig::new(klamm_tests::broker())
        .topic_prefix(prefix)
        .partitions(2)
        .auto_commit_interval(Duration::from_millis(200))
        .property("fetch.max.wait.ms", "10")
        .property("metadata.max.age.ms", "1000")
        .property("session.timeout.ms", "10000")
        .property("heartbeat.interval.ms", "300")
        .property("request.timeout.ms", "10000")
        .property("linger.ms", "1")
}

/// A fresh topic prefix (`app-NAME-...-.`).
pub fn prefix(name: &str) -> String {
    format!("{}.", klamm_tests::unique_topic(&format!("app-{name}")))
}

pub async fn connect(config: AppConfig) -> App {
    App::connect(config).await.expect("app connects")
}

/// A worker running `app`'s subscriptions in the background.
pub struct Worker {
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), AppError>>,
}

impl Worker {
    pub fn start(app: &App) -> Worker {
        let (stop, stopped) = oneshot::channel::<()>();
        let app = app.clone();
        let task = tokio::spawn(async move {
            app.run_until(async {
                let _ = stopped.await;
            })
            .await
        });
        Worker {
            stop: Some(stop),
            task,
        }
    }

    /// Asks it to stop (like SIGTERM) and waits for it.
    pub async fn stop(mut self) -> Result<(), AppError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.join().await
    }

    /// Waits for it to end by itself.
    pub async fn join(self) -> Result<(), AppError> {
        tokio::time::timeout(WAIT, self.task)
            .await
            .expect("worker ends in time")
            .expect("worker task")
    }
}

/// The next item, or a failed test after [`WAIT`].
pub async fn next<T>(rx: &mut mpsc::UnboundedReceiver<T>) -> T {
    tokio::time::timeout(WAIT, rx.recv())
        .await
        .expect("an item arrives in time")
        .expect("channel open")
}

/// Asserts nothing more arrives within `quiet`.
pub async fn nothing_more<T: std::fmt::Debug>(
    rx: &mut mpsc::UnboundedReceiver<T>,
    quiet: Duration,
) {
    if let Ok(Some(item)) = tokio::time::timeout(quiet, rx.recv()).await {
        panic!("unexpected item {item:?}");
    }
}

/// Waits until `f` is true, polling.
pub async fn eventually<F: FnMut() -> Fut, Fut: Future<Output = bool>>(what: &str, mut f: F) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !f().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
