//! Finding or starting the brokers the tests talk to.
//!
//! Each accessor first looks at the environment (`scripts/test.sh` exports
//! one broker per kind for the whole run). Otherwise it runs
//! `scripts/broker.sh serve --KIND`, reads the `KEY=VALUE` lines it prints
//! before `READY`, and keeps the script's stdin open for the life of the test
//! process: when the process exits (or is killed) the pipe closes and the
//! script stops its brokers. The result is cached per process, failures
//! included, so every test that needs a broker fails with the same one-line
//! reason.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};

/// A TLS listener: a server certificate for `localhost` and `127.0.0.1`,
/// signed by the CA in `ca_pem`.
#[derive(Debug, Clone)]
pub struct TlsListener {
    /// `HOST:PORT` to connect to with TLS.
    pub bootstrap: String,
    /// PEM file of the CA that signed the broker's certificate.
    pub ca_pem: PathBuf,
}

/// A SASL listener (plain TCP): PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 with
/// one user.
#[derive(Debug, Clone)]
pub struct SaslListener {
    /// `HOST:PORT`; every request but ApiVersions needs authentication first.
    pub bootstrap: String,
    /// The user's name.
    pub username: String,
    /// The user's password (random per run when the harness made it).
    pub password: String,
}

/// The repository root (where `scripts/` and `tests/peer/` live).
pub fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or(Path::new(env!("CARGO_MANIFEST_DIR")))
}

/// Bootstrap address (`HOST:PORT`) of a plaintext broker. Panics with one
/// line saying why if there is none.
pub fn broker() -> &'static str {
    static PLAIN: OnceLock<Result<String, String>> = OnceLock::new();
    let found = PLAIN.get_or_init(|| {
        if let Some(addr) = env_var("KLAMM_BOOTSTRAP") {
            return Ok(addr);
        }
        serve("--plain").and_then(|vars| required(&vars, "KLAMM_BOOTSTRAP"))
    });
    match found {
        Ok(addr) => addr,
        Err(why) => no_broker(why),
    }
}

/// A TLS listener. Panics with one line saying why if there is none.
pub fn broker_tls() -> &'static TlsListener {
    static TLS: OnceLock<Result<TlsListener, String>> = OnceLock::new();
    let found = TLS.get_or_init(|| {
        let vars = match env_var("KLAMM_BOOTSTRAP_TLS") {
            Some(_) => std::env::vars().collect(),
            None => serve("--tls")?,
        };
        Ok(TlsListener {
            bootstrap: required(&vars, "KLAMM_BOOTSTRAP_TLS")?,
            ca_pem: required(&vars, "KLAMM_TLS_CA")?.into(),
        })
    });
    match found {
        Ok(listener) => listener,
        Err(why) => no_broker(why),
    }
}

/// A SASL listener. Panics with one line saying why if there is none.
pub fn broker_sasl() -> &'static SaslListener {
    static SASL: OnceLock<Result<SaslListener, String>> = OnceLock::new();
    let found = SASL.get_or_init(|| {
        let vars = match env_var("KLAMM_BOOTSTRAP_SASL") {
            Some(_) => std::env::vars().collect(),
            None => serve("--sasl")?,
        };
        Ok(SaslListener {
            bootstrap: required(&vars, "KLAMM_BOOTSTRAP_SASL")?,
            username: required(&vars, "KLAMM_SASL_USERNAME")?,
            password: required(&vars, "KLAMM_SASL_PASSWORD")?,
        })
    });
    match found {
        Ok(listener) => listener,
        Err(why) => no_broker(why),
    }
}

fn no_broker(why: &str) -> ! {
    panic!("klamm-tests: no broker: {why}")
}

fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn required(vars: &HashMap<String, String>, name: &str) -> Result<String, String> {
    vars.get(name)
        .filter(|v| !v.is_empty())
        .cloned()
        .ok_or_else(|| format!("{name} is not set"))
}

/// The broker scripts this process started, kept alive until it exits. Their
/// stdin pipes closing is what stops them.
static SERVED: Mutex<Vec<(Child, ChildStdin)>> = Mutex::new(Vec::new());

fn serve(kind: &str) -> Result<HashMap<String, String>, String> {
    let script = workspace_root().join("scripts/broker.sh");
    let mut child = Command::new("bash")
        .arg(&script)
        .args(["serve", kind])
        // A test must not start a 13-minute broker build: scripts/test.sh
        // does that once, up front.
        .env("KLAMM_NO_INSTALL", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    let (Some(stdin), Some(stdout), Some(mut stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        return Err("broker.sh started without its pipes".into());
    };

    let mut vars = HashMap::new();
    let mut ready = false;
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        if line == "READY" {
            ready = true;
            break;
        }
        if let Some((key, value)) = line.split_once('=') {
            vars.insert(key.to_owned(), value.to_owned());
        }
    }
    if !ready {
        let mut err = String::new();
        let _ = stderr.read_to_string(&mut err);
        let _ = child.wait();
        let why = err
            .lines()
            .rev()
            .find(|l| l.starts_with("klamm:"))
            .or_else(|| err.lines().last())
            .unwrap_or("scripts/broker.sh exited without a word");
        return Err(why.trim().to_owned());
    }
    // Keep forwarding what the script says later (e.g. where logs were kept).
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stderr).lines();
        while let Some(Ok(line)) = lines.next() {
            eprintln!("{line}");
        }
    });
    SERVED
        .lock()
        .map_err(|_| "broker registry poisoned".to_owned())?
        .push((child, stdin));
    Ok(vars)
}
