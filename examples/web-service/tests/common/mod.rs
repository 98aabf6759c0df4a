//! Starting the service in-process on a free port, and a minimal HTTP/1.1
//! client (one request per connection) so the tests need no HTTP client
//! crate.

#![allow(unreachable_pub, dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use klamm_web_service::{ServiceError, Settings, Summary, run};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A running service.
pub struct Running {
    pub addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<Summary, ServiceError>>,
}

impl Running {
    /// Starts the service on 127.0.0.1 with a free port, and waits until it
    /// answers.
    pub async fn start(settings: Settings) -> Running {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(run(settings, listener, async move {
            let _ = stopped.await;
        }));
        // The listener is bound before `run` starts, so connections queue
        // until it serves; the first answer means the producer is up and the
        // topic checked. If `run` fails instead, say why.
        let mut task = task;
        let probe = tokio::spawn(request(addr, "GET", "/stats", ""));
        tokio::select! {
            r = tokio::time::timeout(Duration::from_secs(30), probe) => {
                let r = r.expect("service answers within 30 s").expect("probe");
                assert_eq!(r.status, 200, "{}", r.body);
            }
            ended = &mut task => match ended {
                Ok(Ok(_)) => panic!("service stopped at once"),
                Ok(Err(e)) => panic!("service did not start: {e}"),
                Err(e) => panic!("service task: {e}"),
            },
        }
        Running { addr, stop, task }
    }

    /// Stops it (graceful shutdown) and returns how shutdown went.
    pub async fn stop(self) -> Summary {
        let _ = self.stop.send(());
        tokio::time::timeout(Duration::from_secs(60), self.task)
            .await
            .expect("service stops within 60 s")
            .expect("service task")
            .expect("service ran")
    }

    pub async fn post(&self, path: &str, body: &str) -> HttpResponse {
        request(self.addr, "POST", path, body).await
    }

    pub async fn get(&self, path: &str) -> HttpResponse {
        request(self.addr, "GET", path, "").await
    }

    pub async fn stats(&self) -> serde_json::Value {
        let r = self.get("/stats").await;
        assert_eq!(r.status, 200);
        serde_json::from_str(&r.body).expect("stats JSON")
    }
}

/// What came back.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    /// Header lines, lower-cased names.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpResponse {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One request on a fresh connection (`Connection: close`, so the body is
/// everything after the head).
pub async fn request(addr: SocketAddr, method: &str, path: &str, body: &str) -> HttpResponse {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.expect("write head");
    s.write_all(body.as_bytes()).await.expect("write body");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.expect("read response");
    let text = String::from_utf8(raw).expect("UTF-8 response");
    let (head, body) = text.split_once("\r\n\r\n").expect("response head");
    let mut lines = head.lines();
    let status_line = lines.next().expect("status line");
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    HttpResponse {
        status,
        headers,
        body: body.to_owned(),
    }
}

/// A valid item body.
pub fn item(id: &str, quantity: u32) -> String {
    format!(r#"{{"id":"{id}","name":"chair {id}","quantity":{quantity}}}"#)
}

/// The five variants' routes.
pub const ROUTES: [&str; 5] = [
    "/noop/items",
    "/fire-and-forget/items",
    "/callback/items",
    "/callback-task/items",
    "/await/items",
];
