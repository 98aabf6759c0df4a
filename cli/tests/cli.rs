//! End-to-end: the `klamm` binary against the harness's real broker
//! (`klamm_tests::broker()`), plus the documented errors and exit codes.

use std::io::{Read, Write};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use klamm_tests::{broker, broker_sasl, broker_tls, unique_topic};

/// Runs `klamm ARGS` against the broker, with `stdin` piped in.
fn klamm(args: &[&str], stdin: &[u8]) -> Output {
    klamm_with(
        Command::new(env!("CARGO_BIN_EXE_klamm"))
            .args(["-b", broker()])
            .args(args),
        stdin,
    )
}

/// Runs `klamm -b BOOTSTRAP ARGS` with extra environment variables.
fn klamm_at(bootstrap: &str, args: &[&str], env: &[(&str, &str)], stdin: &[u8]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_klamm"));
    cmd.env_remove("KLAMM_SASL_PASSWORD")
        .args(["-b", bootstrap])
        .args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    klamm_with(&mut cmd, stdin)
}

/// Parses stdout as one JSON value.
fn json_out(o: &Output) -> serde_json::Value {
    serde_json::from_str(&stdout(o)).unwrap_or_else(|e| panic!("{e}: {}", stdout(o)))
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
fn demo_verifies_a_small_count_through_a_consumer_group() {
    let group = unique_topic("cli-demo-g");
    let topic = unique_topic("cli-demo");
    let out = ok(klamm(
        &[
            "demo",
            "--count",
            "2000",
            "--partitions",
            "2",
            "--topic",
            &topic,
            "--group",
            &group,
            "--keep",
        ],
        b"",
    ));
    let text = stdout(&out);
    assert!(text.contains("produced 2000 records"), "{text}");
    assert!(
        text.contains(&format!("consumed 2000 records in group {group}")),
        "{text}"
    );
    assert!(
        text.contains("verified: every record arrived exactly once"),
        "{text}"
    );
    // No progress bar when stderr is not a terminal.
    assert!(!stderr(&out).contains('\r'), "{}", stderr(&out));
    // The group read (and committed) every record: the offsets add up.
    let described = json_out(&ok(klamm(&["--json", "groups", "describe", &group], b"")));
    let committed: i64 = described[0]["offsets"]
        .as_array()
        .expect("offsets")
        .iter()
        .map(|o| o["offset"].as_i64().unwrap_or(0))
        .sum();
    assert_eq!(committed, 2000, "{described}");
    ok(klamm(&["groups", "delete", &group], b""));
    ok(klamm(&["topics", "delete", &topic], b""));

    // JSON summary; the default group and topic are deleted afterwards.
    let out = ok(klamm(&["--json", "demo", "--count", "300"], b""));
    let json = json_out(&out);
    assert_eq!(json["verified"], true, "{json}");
    assert_eq!(json["records"], 300);
    let group = json["group"].as_str().expect("group").to_owned();
    assert!(group.starts_with("klamm-demo-"), "{json}");
    let listed = ok(klamm(&["groups", "list"], b""));
    assert!(
        !stdout(&listed).lines().any(|l| l.starts_with(&group)),
        "{}",
        stdout(&listed)
    );
}

#[test]
fn demo_with_a_zero_count_is_a_usage_error() {
    let out = klamm(&["demo", "--count", "0"], b"");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).starts_with("klamm: bad --count"),
        "{}",
        stderr(&out)
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

#[test]
fn perf_produce_then_consume() {
    let topic = unique_topic("cli-perf");
    create(&topic, "2");
    let produced = ok(klamm(
        &[
            "--json",
            "perf",
            "produce",
            &topic,
            "--count",
            "3000",
            "--size",
            "10",
            "--acks",
            "1",
            "-z",
            "lz4",
            "--linger-ms",
            "7",
            "--batch-size",
            "32768",
        ],
        b"",
    ));
    let json = json_out(&produced);
    assert_eq!(json["op"], "produce");
    assert_eq!(json["records"], 3000);
    assert_eq!(json["bytes"], 30000);
    assert_eq!(json["failed"], 0);
    let lat = &json["latency_ms"];
    let (p50, p95, p99, max) = (
        lat["p50"].as_f64().expect("p50"),
        lat["p95"].as_f64().expect("p95"),
        lat["p99"].as_f64().expect("p99"),
        lat["max"].as_f64().expect("max"),
    );
    assert!(0.0 < p50 && p50 <= p95 && p95 <= p99 && p99 <= max, "{lat}");
    // The kernel splits precise CPU time into user and system by sampled
    // ticks, so on a short run either part may be zero; the sum is not.
    let cpu = json["cpu_user_seconds"].as_f64().expect("user CPU")
        + json["cpu_system_seconds"].as_f64().expect("system CPU");
    assert!(cpu > 0.0, "{json}");
    // The flags reached the producer.
    let config = &json["config"];
    assert_eq!(config["acks"], "1", "{config}");
    assert_eq!(config["compression"], "lz4", "{config}");
    assert_eq!(config["linger_ms"], 7, "{config}");
    assert_eq!(config["batch_size"], 32768, "{config}");
    assert_eq!(config["idempotence"], false, "{config}");

    let consumed = ok(klamm(
        &["--json", "perf", "consume", &topic, "--count", "3000"],
        b"",
    ));
    let json = json_out(&consumed);
    assert_eq!(json["op"], "consume");
    assert_eq!(json["records"], 3000);
    assert_eq!(json["bytes"], 30000);
    assert!(json["latency_ms"].is_null());
    assert!(json["cpu_user_seconds"].as_f64().is_some(), "{json}");

    // Text output names the same figures.
    let text = stdout(&ok(klamm(
        &["perf", "produce", &topic, "--count", "500"],
        b"",
    )));
    assert!(
        text.starts_with("produce: 500 records, 50000 bytes"),
        "{text}"
    );
    assert!(text.contains("latency send to ack (ms): p50 "), "{text}");
    assert!(text.contains("client CPU: "), "{text}");
}

#[test]
fn perf_throughput_cap_and_duration() {
    let topic = unique_topic("cli-perf-cap");
    create(&topic, "1");
    // 100 records at 200/s cannot take less than (100 - 1) / 200 s.
    let capped = json_out(&ok(klamm(
        &[
            "--json",
            "perf",
            "produce",
            &topic,
            "--count",
            "100",
            "--throughput",
            "200",
        ],
        b"",
    )));
    assert_eq!(capped["records"], 100);
    assert!(
        capped["seconds"].as_f64().expect("seconds") >= 0.49 - 0.002,
        "{capped}"
    );
    // --duration without --count: runs about that long, then stops.
    let timed = json_out(&ok(klamm(
        &[
            "--json",
            "perf",
            "produce",
            &topic,
            "--duration",
            "1s",
            "--throughput",
            "500",
        ],
        b"",
    )));
    let records = timed["records"].as_u64().expect("records");
    // Records are due every 2 ms; none is sent that is due after 1 s.
    assert!(records > 0 && records <= 500, "{timed}");
    // ... and the pace held: the last one went out no more than the
    // pacer's 1 ms tolerance before it was due.
    let seconds = timed["seconds"].as_f64().expect("seconds");
    assert!(seconds >= (records - 1) as f64 / 500.0 - 0.002, "{timed}");
    let read = json_out(&ok(klamm(
        &["--json", "perf", "consume", &topic, "--duration", "2s"],
        b"",
    )));
    assert_eq!(read["records"].as_u64(), Some(100 + records), "{read}");
    // Bad values are usage errors.
    let out = klamm(&["perf", "produce", &topic, "--throughput", "0"], b"");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let out = klamm(&["perf", "produce", &topic, "--duration", "soon"], b"");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

#[test]
fn tls_flags_reach_the_tls_listener() {
    let tls = broker_tls();
    let ca = tls.ca_pem.to_str().expect("UTF-8 path");
    let topic = unique_topic("cli-tls");
    let secure = |args: &[&str], stdin: &[u8]| {
        let mut all = vec!["--tls", "--ca-file", ca];
        all.extend_from_slice(args);
        klamm_at(&tls.bootstrap, &all, &[], stdin)
    };
    ok(secure(&["topics", "create", &topic], b""));
    ok(secure(&["produce", &topic], b"over tls\n"));
    let consumed = ok(secure(&["consume", &topic, "-o", "beginning", "-e"], b""));
    assert_eq!(stdout(&consumed), "over tls\n");
    // --ca-file alone implies --tls.
    let listed = ok(klamm_at(
        &tls.bootstrap,
        &["--ca-file", ca, "topics", "list"],
        &[],
        b"",
    ));
    assert!(
        stdout(&listed).lines().any(|l| l == topic),
        "{}",
        stdout(&listed)
    );
    // Without the CA the system roots do not trust the broker: one line, a hint.
    let out = klamm_at(&tls.bootstrap, &["--tls", "topics", "list"], &[], b"");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("TLS") && err.contains("--ca-file"), "{err}");
    // -X says the same as the flags.
    let x_ca = format!("ssl.ca.location={ca}");
    ok(klamm_at(
        &tls.bootstrap,
        &["-X", "security.protocol=SSL", "-X", &x_ca, "topics", "list"],
        &[],
        b"",
    ));
}

#[test]
fn sasl_flags_authenticate_with_each_mechanism() {
    let sasl = broker_sasl();
    for mechanism in ["PLAIN", "SCRAM-SHA-256", "scram-sha-512"] {
        let topic = unique_topic("cli-sasl");
        let env = [("KLAMM_SASL_PASSWORD", sasl.password.as_str())];
        let authed = |args: &[&str], stdin: &[u8]| {
            let mut all = vec![
                "--sasl-mechanism",
                mechanism,
                "--sasl-username",
                sasl.username.as_str(),
            ];
            all.extend_from_slice(args);
            klamm_at(&sasl.bootstrap, &all, &env, stdin)
        };
        ok(authed(&["topics", "create", &topic], b""));
        ok(authed(&["produce", &topic, "-K", ":"], b"k:v\n"));
        let consumed = ok(authed(
            &["consume", &topic, "-o", "beginning", "-e", "-f", "%k=%s\\n"],
            b"",
        ));
        assert_eq!(stdout(&consumed), "k=v\n", "{mechanism}");
        // A wrong password, from the flag this time: exit 1, one line, a hint.
        let out = klamm_at(
            &sasl.bootstrap,
            &[
                "--sasl-mechanism",
                mechanism,
                "--sasl-username",
                sasl.username.as_str(),
                "--sasl-password",
                "not-the-password",
                "topics",
                "list",
            ],
            &env,
            b"",
        );
        assert_eq!(out.status.code(), Some(1), "{mechanism}: {}", stderr(&out));
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.contains("authentication") && err.contains("--sasl-password"),
            "{mechanism}: {err}"
        );
    }
    // The password variable alone does not turn SASL on: a plaintext broker
    // still works with it set.
    ok(klamm_at(
        broker(),
        &["topics", "list"],
        &[("KLAMM_SASL_PASSWORD", "unused")],
        b"",
    ));
}

#[test]
fn group_member_with_e_stops_at_the_end_of_its_own_partitions() {
    let topic = unique_topic("cli-group-e");
    let group = unique_topic("cli-group-e-g");
    create(&topic, "2");
    ok(klamm(&["produce", &topic, "-p", "0"], b"a0\na1\n"));
    ok(klamm(&["produce", &topic, "-p", "1"], b"b0\nb1\n"));
    // A member that never exits holds the group first.
    let mut holder = Command::new(env!("CARGO_BIN_EXE_klamm"))
        .args([
            "-b",
            broker(),
            "consume",
            &topic,
            "-g",
            &group,
            "-o",
            "beginning",
        ])
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the klamm binary runs");
    // Wait until it is the group's one member, holding both partitions.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let d = json_out(&ok(klamm(&["--json", "groups", "describe", &group], b"")));
        // (tansu's DescribeGroups leaves assignments empty: the state says it.)
        if d[0]["members"].as_array().map(Vec::len) == Some(1) && d[0]["state"] == "Stable" {
            break;
        }
        assert!(Instant::now() < deadline, "the holder never joined: {d}");
        std::thread::sleep(Duration::from_millis(200));
    }
    // A second member gets one partition: with -e it must exit once that
    // one is read to its end, though it never holds every partition.
    let member = ok(klamm(
        &["consume", &topic, "-g", &group, "-o", "beginning", "-e"],
        b"",
    ));
    let still_running = holder.try_wait().expect("waiting for the holder").is_none();
    let _ = holder.kill();
    let _ = holder.wait();
    assert!(
        still_running,
        "the holder left early, so the member held everything"
    );
    for line in stdout(&member).lines() {
        assert!(["a0", "a1", "b0", "b1"].contains(&line), "{line}");
    }
}
