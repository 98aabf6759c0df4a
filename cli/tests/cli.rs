//! End-to-end: the `klamm` binary against the harness's real broker
//! (`klamm_tests::broker()`), plus the documented errors and exit codes.

use std::io::{Read, Write};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use klamm_tests::{broker, unique_topic};

/// Runs `klamm ARGS` against the broker, with `stdin` piped in.
fn klamm(args: &[&str], stdin: &[u8]) -> Output {
    klamm_with(
        Command::new(env!("CARGO_BIN_EXE_klamm"))
            .args(["-b", broker()])
            .args(args),
        stdin,
    )
}

fn klamm_with(cmd: &mut Command, stdin: &[u8]) -> Output {
    let mut child = cmd
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the klamm binary runs");
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(stdin)
        .expect("stdin takes the input");
    // A hung command fails the test instead of hanging the suite.
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut out = child.stdout.take().expect("stdout is piped");
    let mut err = child.stderr.take().expect("stderr is piped");
    let out = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = out.read_to_end(&mut b);
        b
    });
    let err = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = err.read_to_end(&mut b);
        b
    });
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for klamm") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("klamm {cmd:?} did not finish within 120 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: out.join().expect("stdout reader"),
        stderr: err.join().expect("stderr reader"),
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts success, showing stderr when it failed.
fn ok(o: Output) -> Output {
    assert!(
        o.status.success(),
        "klamm failed: {:?}\n{}",
        o.status,
        stderr(&o)
    );
    o
}

fn create(topic: &str, partitions: &str) {
    ok(klamm(&["topics", "create", topic, "-p", partitions], b""));
}

#[test]
fn produce_then_consume_round_trip_with_format_string() {
    let topic = unique_topic("cli-roundtrip");
    create(&topic, "3");
    let produced = ok(klamm(
        &["produce", &topic, "-K", ":", "-H", "src=cli", "--report"],
        b"k1:v1\nk2:v2\nk3:v3\nnokey\n",
    ));
    assert_eq!(
        stdout(&produced)
            .lines()
            .filter(|l| l.contains("delivered to partition"))
            .count(),
        4,
        "{}",
        stdout(&produced)
    );
    let consumed = ok(klamm(
        &[
            "consume",
            &topic,
            "-o",
            "beginning",
            "-e",
            "-f",
            r"%k=%s|%h|%t\n",
        ],
        b"",
    ));
    let mut lines: Vec<String> = stdout(&consumed).lines().map(str::to_owned).collect();
    lines.sort();
    assert_eq!(
        lines,
        vec![
            format!("=nokey|src=cli|{topic}"),
            format!("k1=v1|src=cli|{topic}"),
            format!("k2=v2|src=cli|{topic}"),
            format!("k3=v3|src=cli|{topic}"),
        ]
    );
}

#[test]
fn consume_json_output_and_count() {
    let topic = unique_topic("cli-json");
    create(&topic, "1");
    // `-D` splits stdin; one record per run keeps offsets batch-aligned
    // (tansu answers a Fetch starting inside a batch with the next batch).
    ok(klamm(
        &["produce", &topic, "-D", "|", "-z", "lz4", "--acks", "all"],
        b"a|",
    ));
    ok(klamm(&["produce", &topic, "-D", r"\t"], b"b\t"));
    ok(klamm(&["produce", &topic, "-D", "|"], b"c"));
    let consumed = ok(klamm(
        &["--json", "consume", &topic, "-o", "1", "-c", "2"],
        b"",
    ));
    let values: Vec<serde_json::Value> = stdout(&consumed)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    assert_eq!(values.len(), 2);
    assert_eq!(values[0]["value"], "b");
    assert_eq!(values[0]["offset"], 1);
    assert_eq!(values[1]["value"], "c");
    assert_eq!(values[1]["topic"], topic.as_str());
    assert_eq!(values[1]["key"], serde_json::Value::Null);
}

#[test]
fn topics_create_describe_delete() {
    let topic = unique_topic("cli-topics");
    create(&topic, "4");
    let described = ok(klamm(&["--json", "topics", "describe", &topic], b""));
    let json: serde_json::Value = serde_json::from_str(&stdout(&described)).expect("JSON");
    assert_eq!(json[0]["name"], topic.as_str());
    assert_eq!(json[0]["partitions"].as_array().map(Vec::len), Some(4));
    let listed = ok(klamm(&["topics", "list"], b""));
    assert!(
        stdout(&listed).lines().any(|l| l == topic),
        "{}",
        stdout(&listed)
    );

    let again = klamm(&["topics", "create", &topic], b"");
    assert_eq!(again.status.code(), Some(1));
    assert!(
        stderr(&again).contains("TOPIC_ALREADY_EXISTS"),
        "{}",
        stderr(&again)
    );
    ok(klamm(&["topics", "create", &topic, "--if-not-exists"], b""));

    let offsets = ok(klamm(&["--json", "offsets", &topic], b""));
    let json: serde_json::Value = serde_json::from_str(&stdout(&offsets)).expect("JSON");
    assert_eq!(json["partitions"].as_array().map(Vec::len), Some(4));
    assert_eq!(json["partitions"][0]["earliest"], 0);

    ok(klamm(&["topics", "delete", &topic], b""));
    let gone = klamm(&["topics", "describe", &topic], b"");
    assert_eq!(gone.status.code(), Some(1));
    let err = stderr(&gone);
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(
        err.starts_with(&format!("klamm: describing topic {topic}: ")),
        "{err}"
    );
}

#[test]
fn cluster_shows_brokers_and_negotiated_versions() {
    let out = ok(klamm(&["--json", "cluster"], b""));
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    let brokers = json["brokers"].as_array().expect("brokers");
    assert!(!brokers.is_empty());
    let apis = brokers[0]["apis"].as_array().expect("apis");
    let metadata = apis
        .iter()
        .find(|a| a["api"] == "Metadata")
        .expect("Metadata negotiated");
    assert!(metadata["version"].as_i64().is_some(), "{metadata}");
}

#[test]
fn demo_verifies_a_small_count() {
    let out = ok(klamm(
        &["demo", "--count", "2000", "--partitions", "2"],
        b"",
    ));
    let text = stdout(&out);
    assert!(text.contains("produced 2000 records"), "{text}");
    assert!(
        text.contains("verified: every record arrived exactly once"),
        "{text}"
    );
}

#[test]
fn produce_to_a_missing_partition_fails_with_usage_error() {
    let topic = unique_topic("cli-badpart");
    create(&topic, "1");
    let out = klamm(&["produce", &topic, "-p", "5", "--value", "x"], b"");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("no such partition"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn bad_arguments_exit_2() {
    // clap: a missing required argument.
    let out = klamm(&["consume"], b"");
    assert_eq!(out.status.code(), Some(2));
    // An unknown property, named.
    let out = klamm(&["-X", "no.such.property=1", "topics", "list"], b"");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("no.such.property"),
        "{}",
        stderr(&out)
    );
    // A bad -f token.
    let out = klamm(&["consume", "t", "-f", "%z"], b"");
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("%z"), "{}", stderr(&out));
}

#[test]
fn no_broker_given_says_how_to_start_one() {
    let out = klamm_with(
        Command::new(env!("CARGO_BIN_EXE_klamm"))
            .env_remove("KLAMM_BOOTSTRAP")
            .args(["cluster"]),
        b"",
    );
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("KLAMM_BOOTSTRAP") && err.contains("scripts/broker.sh"),
        "{err}"
    );
}

#[test]
fn unreachable_broker_exits_3() {
    // Port 1 on loopback: nothing listens there.
    let out = klamm_with(
        Command::new(env!("CARGO_BIN_EXE_klamm")).args(["-b", "127.0.0.1:1", "topics", "list"]),
        b"",
    );
    assert_eq!(out.status.code(), Some(3));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("klamm: connecting to the cluster: "),
        "{err}"
    );
}

#[test]
fn group_mode_resumes_from_committed_offsets() {
    let topic = unique_topic("cli-group");
    let group = unique_topic("cli-group-g");
    create(&topic, "2");
    ok(klamm(&["produce", &topic, "-p", "0"], b"a\nb\n"));
    let first = ok(klamm(
        &["consume", &topic, "-g", &group, "-o", "beginning", "-e"],
        b"",
    ));
    let text = stdout(&first);
    let mut lines: Vec<&str> = text.lines().collect();
    lines.sort_unstable();
    assert_eq!(lines, ["a", "b"], "{}", stderr(&first));
    // The group committed on exit: a second run sees only the new record.
    ok(klamm(&["produce", &topic, "-p", "1"], b"c\n"));
    let second = ok(klamm(
        &["consume", &topic, "-g", &group, "-o", "beginning", "-e"],
        b"",
    ));
    assert_eq!(stdout(&second), "c\n", "{}", stderr(&second));
    // `groups describe` shows what the group committed.
    let described = ok(klamm(&["--json", "groups", "describe", &group], b""));
    let json: serde_json::Value = serde_json::from_str(&stdout(&described)).expect("JSON");
    let committed: Vec<(i64, i64)> = json[0]["offsets"]
        .as_array()
        .expect("offsets")
        .iter()
        .map(|o| {
            (
                o["partition"].as_i64().unwrap_or(-1),
                o["offset"].as_i64().unwrap_or(-1),
            )
        })
        .collect();
    assert!(
        committed.contains(&(0, 2)) && committed.contains(&(1, 1)),
        "{committed:?}"
    );
    let listed = ok(klamm(&["groups", "list"], b""));
    assert!(
        stdout(&listed).lines().any(|l| l.starts_with(&group)),
        "{}",
        stdout(&listed)
    );
    // reset-offsets: a dry run changes nothing, --execute moves them.
    let committed_at = |p: i64| {
        let d = ok(klamm(&["--json", "groups", "describe", &group], b""));
        let json: serde_json::Value = serde_json::from_str(&stdout(&d)).expect("JSON");
        json[0]["offsets"]
            .as_array()
            .expect("offsets")
            .iter()
            .find(|o| o["partition"] == p)
            .and_then(|o| o["offset"].as_i64())
    };
    let dry = ok(klamm(
        &[
            "groups",
            "reset-offsets",
            &group,
            "--topic",
            &topic,
            "--to-earliest",
        ],
        b"",
    ));
    assert!(stdout(&dry).contains("dry run"), "{}", stdout(&dry));
    assert_eq!(committed_at(0), Some(2));
    ok(klamm(
        &[
            "groups",
            "reset-offsets",
            &group,
            "--topic",
            &topic,
            "--to-earliest",
            "--execute",
        ],
        b"",
    ));
    assert_eq!(committed_at(0), Some(0));
    assert_eq!(committed_at(1), Some(0));
    // An explicit offset makes no sense for a group.
    let bad = klamm(&["consume", &topic, "-g", &group, "-o", "5"], b"");
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn configs_set_and_describe() {
    let topic = unique_topic("cli-configs");
    create(&topic, "1");
    ok(klamm(
        &["configs", "set", "--topic", &topic, "retention.ms=600000"],
        b"",
    ));
    let described = ok(klamm(
        &["--json", "configs", "describe", "--topic", &topic],
        b"",
    ));
    let json: serde_json::Value = serde_json::from_str(&stdout(&described)).expect("JSON");
    let retention = json
        .as_array()
        .expect("entries")
        .iter()
        .find(|e| e["name"] == "retention.ms")
        .expect("retention.ms is described");
    assert_eq!(retention["value"], "600000");
    // Exactly one of --topic / --broker.
    let out = klamm(&["configs", "describe"], b"");
    assert_eq!(out.status.code(), Some(2));
}
