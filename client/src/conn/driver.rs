//! The tokio half of a connection: one task owns the socket, writes whole
//! frames handed to it, reads responses and routes them to their callers.
//!
//! ```text
//!  callers ──Command(frame, reply)──▶ [requests channel] ─┐
//!  handshake/re-auth ──Control──────▶ [control channel] ──┤
//!                                                         ▼
//!                                   driver task: Codec + out buffer + deadlines
//!                                     │ write()                 ▲ read_buf()
//!                                     ▼                         │
//!                                   socket ────────────────────┘
//! ```
//! Callers never touch the socket, so dropping a caller's future can never
//! leave half a frame on the wire. Any I/O error, bad frame, undecodable
//! response (reported back by the caller) or timeout *poisons* the
//! connection: every request in flight or queued fails with a retriable error
//! and the task ends; the pool then builds a new connection on next use.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};
use tokio::time::{Instant, sleep_until};

use super::codec::Codec;
use super::frame::FrameError;
use super::outbox::Outbox;
use crate::error::Error;

/// Stop taking new requests while this many bytes wait to be written.
const OUT_HIGH_WATER: usize = 1 << 20;

/// One request for the driver.
#[derive(Debug)]
pub(crate) struct Command {
    /// The complete request frame; the driver stamps the correlation id.
    pub(crate) frame: BytesMut,
    /// The API's name, for errors and logs.
    pub(crate) api: &'static str,
    /// How long to wait for the response once the frame is written.
    pub(crate) timeout: Duration,
    /// Where the response frame (from the response header on) goes.
    pub(crate) reply: oneshot::Sender<Result<Bytes, Error>>,
    /// No response is expected (acks=0 Produce): `reply` gets an empty
    /// frame as soon as the request is queued for writing.
    pub(crate) one_way: bool,
}

/// Out-of-band messages for the driver.
#[derive(Debug)]
pub(crate) enum Control {
    /// A handshake or re-authentication request: bypasses pause and limit.
    Auth(Command),
    /// Stop taking ordinary requests (re-authentication starts).
    Pause,
    /// Take ordinary requests again.
    Resume,
    /// A caller could not decode its response: drop the connection.
    Poison(String),
}

/// Settings for one driver.
#[derive(Debug, Clone)]
pub(crate) struct DriverConfig {
    /// `id N at host:port`, for errors and logs.
    pub(crate) broker: Arc<str>,
    pub(crate) max_frame_size: usize,
    pub(crate) pipeline_limit: usize,
    pub(crate) idle_timeout: Option<Duration>,
}

/// The callers' side of a driver.
#[derive(Debug, Clone)]
pub(crate) struct DriverHandle {
    requests: mpsc::Sender<Command>,
    control: mpsc::UnboundedSender<Control>,
    broker: Arc<str>,
}

/// A handle that does not keep the driver alive (for background tasks).
#[derive(Debug, Clone)]
pub(crate) struct WeakDriverHandle {
    requests: mpsc::WeakSender<Command>,
    control: mpsc::WeakUnboundedSender<Control>,
    broker: Arc<str>,
}

impl WeakDriverHandle {
    /// The handle, if any strong handle still exists.
    pub(crate) fn upgrade(&self) -> Option<DriverHandle> {
        Some(DriverHandle {
            requests: self.requests.upgrade()?,
            control: self.control.upgrade()?,
            broker: self.broker.clone(),
        })
    }
}

struct Pending {
    api: &'static str,
    timeout: Duration,
    reply: oneshot::Sender<Result<Bytes, Error>>,
}

/// Starts a driver task for `stream` and returns its handle.
pub(crate) fn spawn<S>(stream: S, config: DriverConfig) -> DriverHandle
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (requests, requests_rx) = mpsc::channel(config.pipeline_limit.max(1));
    let (control, control_rx) = mpsc::unbounded_channel();
    let handle = DriverHandle {
        requests,
        control,
        broker: config.broker.clone(),
    };
    tokio::spawn(run(stream, config, requests_rx, control_rx));
    handle
}

impl DriverHandle {
    /// The broker label.
    pub(crate) fn broker(&self) -> &Arc<str> {
        &self.broker
    }

    /// A handle that does not keep the driver alive.
    pub(crate) fn downgrade(&self) -> WeakDriverHandle {
        WeakDriverHandle {
            requests: self.requests.downgrade(),
            control: self.control.downgrade(),
            broker: self.broker.clone(),
        }
    }

    /// True once the driver has stopped (poisoned, idle, or closed).
    pub(crate) fn is_closed(&self) -> bool {
        self.requests.is_closed()
    }

    /// Sends a frame and waits for its response frame.
    pub(crate) async fn round_trip(
        &self,
        frame: BytesMut,
        api: &'static str,
        timeout: Duration,
        auth: bool,
    ) -> Result<Bytes, Error> {
        let (reply, response) = oneshot::channel();
        let command = Command {
            frame,
            api,
            timeout,
            reply,
            one_way: false,
        };
        // The driver enforces `timeout` from the moment the frame is written;
        // this outer bound also covers waiting in the queue, with slack so the
        // driver's own deadline normally fires first.
        let outer = timeout + Duration::from_secs(1);
        let work = async {
            if auth {
                self.control
                    .send(Control::Auth(command))
                    .map_err(|_| self.lost("connection closed"))?;
            } else {
                self.requests
                    .send(command)
                    .await
                    .map_err(|_| self.lost("connection closed"))?;
            }
            response
                .await
                .map_err(|_| self.lost("connection closed before the response"))?
        };
        match tokio::time::timeout(outer, work).await {
            Ok(result) => result,
            Err(_) => Err(Error::RequestTimeout {
                broker: self.broker.to_string(),
                api,
                after: timeout,
            }),
        }
    }

    /// Drops the connection, failing everything in flight.
    pub(crate) fn poison(&self, reason: String) {
        let _ = self.control.send(Control::Poison(reason));
    }

    /// Pauses ordinary requests (re-authentication).
    pub(crate) fn pause(&self) {
        let _ = self.control.send(Control::Pause);
    }

    /// Resumes ordinary requests.
    pub(crate) fn resume(&self) {
        let _ = self.control.send(Control::Resume);
    }

    /// Sends a frame that gets no response (acks=0 Produce); returns once
    /// it is queued for writing on the socket.
    pub(crate) async fn one_way(
        &self,
        frame: BytesMut,
        api: &'static str,
        timeout: Duration,
    ) -> Result<(), Error> {
        let (reply, queued) = oneshot::channel();
        let command = Command {
            frame,
            api,
            timeout,
            reply,
            one_way: true,
        };
        let work = async {
            self.requests
                .send(command)
                .await
                .map_err(|_| self.lost("connection closed"))?;
            queued
                .await
                .map_err(|_| self.lost("connection closed before the request was written"))?
                .map(drop)
        };
        match tokio::time::timeout(timeout, work).await {
            Ok(result) => result,
            Err(_) => Err(Error::RequestTimeout {
                broker: self.broker.to_string(),
                api,
                after: timeout,
            }),
        }
    }

    fn lost(&self, reason: &str) -> Error {
        Error::ConnectionLost {
            broker: self.broker.to_string(),
            reason: reason.to_owned(),
        }
    }
}

/// Why the driver stopped.
enum Exit {
    /// Nobody holds a handle and nothing is in flight, or idle too long.
    Quiet(&'static str),
    /// A failure every pending request must hear about.
    Failed(String),
    /// A request timed out: it gets a timeout error, the rest a lost connection.
    TimedOut(Pending),
}

async fn run<S>(
    stream: S,
    config: DriverConfig,
    mut requests: mpsc::Receiver<Command>,
    mut control: mpsc::UnboundedReceiver<Control>,
) where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let broker = config.broker.clone();
    let (mut rd, mut wr) = tokio::io::split(stream);
    let mut codec: Codec<Pending> = Codec::new(config.max_frame_size);
    let mut deadlines: BinaryHeap<Reverse<(Instant, i32)>> = BinaryHeap::new();
    let mut out = Outbox::default();
    let mut needs_flush = false;
    let mut paused = false;
    let mut requests_open = true;
    let mut control_open = true;
    let mut last_activity = Instant::now();
    tracing::debug!(%broker, "connection driver started");

    let exit = loop {
        // Forget deadlines of requests that already completed.
        while let Some(Reverse((_, id))) = deadlines.peek() {
            if codec.is_in_flight(*id) {
                break;
            }
            deadlines.pop();
        }
        let next_deadline = deadlines.peek().map(|Reverse((at, _))| *at);
        let quiet = codec.in_flight() == 0 && out.is_empty();
        if quiet && !requests_open && !control_open {
            break Exit::Quiet("all handles dropped");
        }
        let idle_at = match config.idle_timeout {
            Some(idle) if quiet => Some(last_activity + idle),
            _ => None,
        };
        let can_take = requests_open
            && !paused
            && codec.in_flight() < config.pipeline_limit
            && out.len() < OUT_HIGH_WATER;

        tokio::select! {
            biased;
            msg = control.recv(), if control_open => match msg {
                Some(Control::Auth(cmd)) => enqueue(&mut codec, &mut deadlines, &mut out, cmd),
                Some(Control::Pause) => paused = true,
                Some(Control::Resume) => paused = false,
                Some(Control::Poison(reason)) => break Exit::Failed(reason),
                None => control_open = false,
            },
            read = rd.read_buf(codec.read_buffer()) => match read {
                Ok(0) => break Exit::Failed("the broker closed the connection".into()),
                Ok(_) => {
                    last_activity = Instant::now();
                    if let Err(e) = deliver(&mut codec, &broker) {
                        break Exit::Failed(format!("bad frame: {e}"));
                    }
                }
                Err(e) => break Exit::Failed(format!("read failed: {e}")),
            },
            // Write pending bytes, then flush (TLS buffers records). One branch,
            // because both need the writer; `write` and `flush` are both safe
            // to cancel and resume.
            io = write_or_flush(&mut wr, out.front()), if !out.is_empty() || needs_flush => match io {
                Ok(Some(0)) => break Exit::Failed("socket accepted no bytes".into()),
                Ok(Some(n)) => {
                    out.advance(n);
                    needs_flush = true;
                    last_activity = Instant::now();
                }
                Ok(None) => needs_flush = false,
                Err(e) => break Exit::Failed(format!("write failed: {e}")),
            },
            cmd = requests.recv(), if can_take => match cmd {
                Some(cmd) => {
                    enqueue(&mut codec, &mut deadlines, &mut out, cmd);
                    // Take whatever else is queued so one write carries many frames.
                    while codec.in_flight() < config.pipeline_limit && out.len() < OUT_HIGH_WATER {
                        match requests.try_recv() {
                            Ok(cmd) => enqueue(&mut codec, &mut deadlines, &mut out, cmd),
                            Err(_) => break,
                        }
                    }
                }
                None => requests_open = false,
            },
            () = sleep_until(next_deadline.unwrap_or_else(Instant::now)), if next_deadline.is_some() => {
                if let Some(Reverse((_, id))) = deadlines.pop() {
                    if let Some(pending) = codec.take(id) {
                        break Exit::TimedOut(pending);
                    }
                }
            },
            () = sleep_until(idle_at.unwrap_or_else(Instant::now)), if idle_at.is_some() => {
                break Exit::Quiet("idle for connections.max.idle.ms");
            },
        }
    };

    // Shut down: refuse new work, then fail whatever is left.
    requests.close();
    let reason = match exit {
        Exit::Quiet(why) => {
            tracing::debug!(%broker, reason = why, "connection closed");
            why.to_owned()
        }
        Exit::Failed(why) => {
            tracing::warn!(%broker, reason = %why, in_flight = codec.in_flight(), "connection poisoned");
            why
        }
        Exit::TimedOut(pending) => {
            let why = format!(
                "{} request timed out after {:?}",
                pending.api, pending.timeout
            );
            tracing::warn!(%broker, reason = %why, in_flight = codec.in_flight(), "connection poisoned");
            let _ = pending.reply.send(Err(Error::RequestTimeout {
                broker: broker.to_string(),
                api: pending.api,
                after: pending.timeout,
            }));
            why
        }
    };
    let lost = Error::ConnectionLost {
        broker: broker.to_string(),
        reason,
    };
    for pending in codec.drain() {
        let _ = pending.reply.send(Err(lost.clone()));
    }
    while let Ok(cmd) = requests.try_recv() {
        let _ = cmd.reply.send(Err(lost.clone()));
    }
    control.close();
    while let Ok(msg) = control.try_recv() {
        if let Control::Auth(cmd) = msg {
            let _ = cmd.reply.send(Err(lost.clone()));
        }
    }
    let _ = wr.shutdown().await;
}

/// Writes some of `out` (`Some(bytes written)`), or flushes when it is empty (`None`).
async fn write_or_flush<W: AsyncWrite + Unpin>(
    wr: &mut W,
    out: &[u8],
) -> std::io::Result<Option<usize>> {
    if out.is_empty() {
        wr.flush().await.map(|()| None)
    } else {
        wr.write(out).await.map(Some)
    }
}

/// Records a command and queues its frame, unless its caller already gave up.
fn enqueue(
    codec: &mut Codec<Pending>,
    deadlines: &mut BinaryHeap<Reverse<(Instant, i32)>>,
    out: &mut Outbox,
    cmd: Command,
) {
    if cmd.reply.is_closed() {
        return; // cancelled before a byte was written: skip it whole
    }
    let Command {
        mut frame,
        api,
        timeout,
        reply,
        one_way,
    } = cmd;
    let pending = Pending {
        api,
        timeout,
        reply,
    };
    match codec.start(&mut frame, pending) {
        Some(id) => {
            tracing::debug!(api, correlation_id = id, bytes = frame.len(), "request");
            out.push(frame);
            if one_way {
                if let Some(pending) = codec.forget(id) {
                    let _ = pending.reply.send(Ok(Bytes::new()));
                }
            } else {
                deadlines.push(Reverse((Instant::now() + timeout, id)));
            }
        }
        None => {
            // Only a bug in the encoder can produce this; fail just this request.
            tracing::warn!(api, "refusing a request frame shorter than its header");
        }
    }
}

/// Routes every complete response to its caller.
fn deliver(codec: &mut Codec<Pending>, broker: &Arc<str>) -> Result<(), FrameError> {
    while let Some((id, pending, frame)) = codec.next_response()? {
        tracing::debug!(%broker, api = pending.api, correlation_id = id, bytes = frame.len(), "response");
        // A caller that went away (cancelled) simply misses its response.
        let _ = pending.reply.send(Ok(frame));
    }
    Ok(())
}

#[cfg(test)]
#[path = "driver_tests.rs"]
mod tests;
