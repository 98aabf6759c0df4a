//! A consumer-group member run as a child process by the group failover
//! test (tests/tests/group_failover.rs), so the test can SIGKILL it: a
//! killed process sends no LeaveGroup and no last commit, which dropping a
//! consumer inside the test process could not guarantee.
//!
//! Usage: `group_member BOOTSTRAP GROUP TOPIC SESSION_TIMEOUT_MS STRATEGY`
//! (STRATEGY: `partition.assignment.strategy`, e.g. `range`).
//!
//! It subscribes with auto-commit off, and after every batch it receives
//! commits exactly the offsets it has seen (`commit_offsets`), so the test
//! knows what the group has committed. One line per event on stdout,
//! flushed at once:
//! - `A p,p,...` its assignment changed (the partitions it owns now);
//! - `R p o` a message at partition `p`, offset `o` was handed to it;
//! - `C p o` the commit of next offset `o` for partition `p` succeeded;
//! - `E text` an error (the member goes on);
//! - `V event` a rebalance event (assigned, revoked, lost...), for the log.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

use klamm::consumer::Consumer;
use klamm::group::TopicPartition;

fn line(text: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    // The test reads stdout; a closed pipe means it is gone, so stop.
    if writeln!(out, "{text}").and_then(|()| out.flush()).is_err() {
        std::process::exit(0);
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [bootstrap, group, topic, session_ms, strategy] = args.as_slice() else {
        eprintln!("usage: group_member BOOTSTRAP GROUP TOPIC SESSION_TIMEOUT_MS STRATEGY");
        std::process::exit(2);
    };
    let props: klamm::config::Properties = [
        ("bootstrap.servers", bootstrap.as_str()),
        ("client.id", "klamm-group-member"),
        ("request.timeout.ms", "10000"),
        ("group.id", group.as_str()),
        ("auto.offset.reset", "earliest"),
        ("enable.auto.commit", "false"),
        ("fetch.max.wait.ms", "10"),
        ("session.timeout.ms", session_ms.as_str()),
        ("heartbeat.interval.ms", "200"),
        ("max.poll.interval.ms", "30000"),
        ("max.poll.records", "5"),
        ("partition.assignment.strategy", strategy.as_str()),
    ]
    .into_iter()
    .collect();
    let mut consumer = match Consumer::from_properties(props).await {
        Ok(c) => c,
        Err(e) => {
            line(format_args!("E connect: {e}"));
            std::process::exit(1);
        }
    };
    if let Err(e) = consumer.subscribe([topic.as_str()]).await {
        line(format_args!("E subscribe: {e}"));
        std::process::exit(1);
    }
    let mut owned: Vec<TopicPartition> = Vec::new();
    loop {
        let batch = match consumer.recv_batch(5, Duration::from_millis(50)).await {
            Ok(b) => b,
            Err(e) => {
                line(format_args!("E recv: {e}"));
                continue;
            }
        };
        while let Some(event) = consumer.poll_rebalance_event() {
            if !matches!(event, klamm::group::GroupEvent::CommittedOffsets { .. }) {
                line(format_args!("V {event:?}"));
            }
        }
        let now = consumer.assignment();
        if now != owned {
            owned = now;
            let list: Vec<String> = owned.iter().map(|tp| tp.partition.to_string()).collect();
            line(format_args!("A {}", list.join(",")));
        }
        if batch.is_empty() {
            continue;
        }
        let mut next: BTreeMap<i32, i64> = BTreeMap::new();
        for m in &batch {
            line(format_args!("R {} {}", m.partition(), m.offset()));
            next.insert(m.partition(), m.offset() + 1);
        }
        let offsets: Vec<(TopicPartition, i64)> = next
            .iter()
            .map(|(p, o)| (TopicPartition::new(topic.as_str(), *p), *o))
            .collect();
        match consumer.commit_offsets(offsets).await {
            Ok(()) => {
                for (p, o) in &next {
                    line(format_args!("C {p} {o}"));
                }
            }
            Err(e) => line(format_args!("E commit: {e}")),
        }
        // Slow enough that the test can kill it in the middle of the topic.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
