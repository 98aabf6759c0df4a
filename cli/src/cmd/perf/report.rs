//! The result of a perf run, printed as text or JSON.

use std::time::Duration;

use serde_json::{Value, json};

use crate::cpu::CpuTime;
use crate::latency::Summary;
use crate::output::out;

/// What a run measured.
#[derive(Debug)]
pub(super) struct Report {
    /// `produce` or `consume`.
    pub(super) op: &'static str,
    /// The topic.
    pub(super) topic: String,
    /// Records delivered (produce) or read (consume).
    pub(super) records: u64,
    /// Value bytes of those records.
    pub(super) bytes: u64,
    /// Records that failed (produce).
    pub(super) failed: u64,
    /// Wall time from the first send (or read) to the last acknowledgement
    /// (or record).
    pub(super) elapsed: Duration,
    /// Send-to-ack latency (produce).
    pub(super) latency: Option<Summary>,
    /// CPU time the process used over `elapsed`.
    pub(super) cpu: Option<CpuTime>,
    /// The settings that shaped the run (produce).
    pub(super) config: Option<Value>,
}

impl Report {
    fn secs(&self) -> f64 {
        self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Records per second.
    pub(super) fn rate(&self) -> f64 {
        self.records as f64 / self.secs()
    }

    /// The JSON object `--json` prints (documented in `perf produce --help`).
    pub(super) fn json(&self) -> Value {
        let ms = |us: u64| us as f64 / 1000.0;
        let cpu_secs = |d: Option<Duration>| d.map(|d| d.as_secs_f64());
        json!({
            "op": self.op,
            "topic": self.topic,
            "records": self.records,
            "bytes": self.bytes,
            "failed": self.failed,
            "seconds": self.secs(),
            "records_per_second": self.rate(),
            "mb_per_second": self.bytes as f64 / self.secs() / 1e6,
            "mib_per_second": self.bytes as f64 / self.secs() / 1_048_576.0,
            "latency_ms": self.latency.map(|l| json!({
                "p50": ms(l.p50), "p95": ms(l.p95), "p99": ms(l.p99),
                "max": ms(l.max), "mean": l.mean / 1000.0,
            })),
            "cpu_user_seconds": cpu_secs(self.cpu.map(|c| c.user)),
            "cpu_system_seconds": cpu_secs(self.cpu.map(|c| c.system)),
            "cpu_percent": self.cpu.map(|c| c.total().as_secs_f64() / self.secs() * 100.0),
            "config": self.config,
        })
    }

    /// Prints the report.
    pub(super) fn print(&self, json: bool) {
        if json {
            super::super::print_json(&self.json());
            return;
        }
        out!(
            "{}: {} records, {} bytes in {:.2} s: {:.0} records/s, {:.2} MB/s ({:.2} MiB/s){}",
            self.op,
            self.records,
            self.bytes,
            self.secs(),
            self.rate(),
            self.bytes as f64 / self.secs() / 1e6,
            self.bytes as f64 / self.secs() / 1_048_576.0,
            if self.failed > 0 {
                format!(", {} failed", self.failed)
            } else {
                String::new()
            }
        );
        if let Some(l) = self.latency {
            let ms = |us: u64| us as f64 / 1000.0;
            out!(
                "latency send to ack (ms): p50 {:.2}, p95 {:.2}, p99 {:.2}, max {:.2}, mean {:.2}",
                ms(l.p50),
                ms(l.p95),
                ms(l.p99),
                ms(l.max),
                l.mean / 1000.0
            );
        }
        if let Some(c) = self.cpu {
            out!(
                "client CPU: {:.2} s user + {:.2} s system = {:.0}% of one core",
                c.user.as_secs_f64(),
                c.system.as_secs_f64(),
                c.total().as_secs_f64() / self.secs() * 100.0
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_has_the_documented_fields() {
        let r = Report {
            op: "produce",
            topic: "t".into(),
            records: 1000,
            bytes: 2_000_000,
            failed: 0,
            elapsed: Duration::from_secs(2),
            latency: Some(Summary {
                count: 1000,
                p50: 1500,
                p95: 2000,
                p99: 3000,
                max: 9000,
                mean: 1600.0,
            }),
            cpu: Some(CpuTime {
                user: Duration::from_millis(500),
                system: Duration::from_millis(250),
            }),
            config: Some(json!({"acks": "all"})),
        };
        let j = r.json();
        assert_eq!(j["records_per_second"], 500.0);
        assert_eq!(j["mb_per_second"], 1.0);
        assert_eq!(j["latency_ms"]["p50"], 1.5);
        assert_eq!(j["latency_ms"]["p99"], 3.0);
        assert_eq!(j["latency_ms"]["max"], 9.0);
        assert_eq!(j["cpu_user_seconds"], 0.5);
        assert_eq!(j["cpu_percent"], 37.5);
        assert_eq!(j["config"]["acks"], "all");
        let consume = Report {
            op: "consume",
            latency: None,
            config: None,
            ..r
        };
        assert!(consume.json()["latency_ms"].is_null());
    }
}
