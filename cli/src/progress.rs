//! A live status line on stderr, redrawn once a second, only when stderr is
//! a terminal (scripts and logs never see carriage returns).

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::task::JoinHandle;

/// A running status line; [`Ticker::stop`] clears it.
#[derive(Debug)]
pub(crate) struct Ticker {
    stop: Arc<AtomicBool>,
    task: Option<JoinHandle<()>>,
}

impl Ticker {
    /// Redraws `line()` every `every` on a terminal; does nothing otherwise.
    pub(crate) fn start(every: Duration, line: impl Fn() -> String + Send + 'static) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        if !std::io::stderr().is_terminal() {
            return Self { stop, task: None };
        }
        let stopped = stop.clone();
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await; // the first tick is immediate
            loop {
                tick.tick().await;
                if stopped.load(Ordering::Relaxed) {
                    break;
                }
                let mut err = std::io::stderr().lock();
                // \r and "erase to end of line": the new line replaces the old.
                let _ = write!(err, "\r{}\x1b[K", line());
                let _ = err.flush();
            }
        });
        Self {
            stop,
            task: Some(task),
        }
    }

    /// Stops redrawing and erases the line.
    pub(crate) async fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[K");
            let _ = err.flush();
        }
    }
}
