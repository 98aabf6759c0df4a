//! Golden frames captured from real peers (librdkafka, kafka-python and the
//! tansu broker; see `fixtures/messages/capture.sh`). Every fixture must
//! decode (header and body, no trailing bytes), re-encode to the very same
//! bytes, and carry the values the capture session put there.

use std::collections::BTreeMap;
use std::path::PathBuf;

use bytes::{Buf, Bytes, BytesMut};
use klamm_protocol::generated::{
    AnyRequest, AnyResponse, ConsumerProtocolAssignment, ConsumerProtocolSubscription,
};
use klamm_protocol::{
    ApiKey, Decodable, DecodeErrorKind, Encodable, ErrorCode, RequestHeader, ResponseHeader,
};

/// One `.hex` fixture: its `# key: value` annotations and its bytes.
struct Fixture {
    name: String,
    meta: BTreeMap<String, String>,
    data: Bytes,
}

impl Fixture {
    fn get(&self, key: &str) -> &str {
        self.meta
            .get(key)
            .unwrap_or_else(|| panic!("{}: no `{key}` annotation", self.name))
    }

    fn num(&self, key: &str) -> i32 {
        self.get(key)
            .parse()
            .unwrap_or_else(|e| panic!("{}: {key}: {e}", self.name))
    }
}

fn fixtures() -> Vec<Fixture> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/messages");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("fixture directory")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "hex"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).expect("fixture text");
            let mut meta = BTreeMap::new();
            let mut hex = String::new();
            for line in text.lines() {
                if let Some(c) = line.strip_prefix("# ") {
                    if let Some((k, v)) = c.split_once(": ") {
                        meta.insert(k.to_string(), v.to_string());
                    }
                } else {
                    hex.push_str(line);
                    hex.push(' ');
                }
            }
            let data: Vec<u8> = hex
                .split_whitespace()
                .map(|b| u8::from_str_radix(b, 16).expect("hex byte"))
                .collect();
            Fixture {
                name: p.file_name().unwrap().to_string_lossy().into_owned(),
                meta,
                data: Bytes::from(data),
            }
        })
        .collect()
}

/// Frames where the peer itself sent something our decoder must refuse.
/// tansu 0.6.0 answers ListOffsets v0 without the `OldStyleOffsets` array
/// (the response ends after the partition's error code).
fn known_bad(f: &Fixture) -> Option<(&'static str, &'static str)> {
    (f.get("api") == "ListOffsets" && f.num("api_version") == 0 && f.get("direction") == "response")
        .then_some(("ListOffsetsPartitionResponse", "OldStyleOffsets"))
}

enum Body {
    Request(AnyRequest),
    Response(AnyResponse),
}

/// Decodes header + body, checks no bytes are left and that re-encoding
/// reproduces the frame exactly.
fn decode_frame(f: &Fixture) -> Result<Body, klamm_protocol::DecodeError> {
    let key = ApiKey::from_i16(f.num("api_key") as i16).expect("known API key");
    let version = f.num("api_version") as i16;
    let mut buf = f.data.clone();
    let mut out = BytesMut::new();
    let body = if f.get("direction") == "request" {
        let hv = key.request_header_version(version);
        let header = RequestHeader::decode(&mut buf, hv)?;
        assert_eq!(header.request_api_key, key.as_i16(), "{}", f.name);
        assert_eq!(header.request_api_version, version, "{}", f.name);
        assert_eq!(header.correlation_id, f.num("correlation_id"), "{}", f.name);
        assert_eq!(
            header.client_id.as_deref(),
            Some(f.get("client_id")),
            "{}",
            f.name
        );
        let body = AnyRequest::decode(key, &mut buf, version)?;
        header.encode(&mut out, hv).expect("header re-encodes");
        body.encode(&mut out, version).expect("body re-encodes");
        Body::Request(body)
    } else {
        let hv = key.response_header_version(version);
        let header = ResponseHeader::decode(&mut buf, hv)?;
        assert_eq!(header.correlation_id, f.num("correlation_id"), "{}", f.name);
        let body = AnyResponse::decode(key, &mut buf, version)?;
        header.encode(&mut out, hv).expect("header re-encodes");
        body.encode(&mut out, version).expect("body re-encodes");
        Body::Response(body)
    };
    assert_eq!(buf.remaining(), 0, "{}: trailing bytes", f.name);
    assert_eq!(&out[..], &f.data[..], "{}: re-encoded bytes differ", f.name);
    Ok(body)
}

fn ok(code: i16) -> bool {
    ErrorCode::from_code(code) == ErrorCode::None
}

/// The embedded consumer-protocol blobs start with their own int16 version.
fn versioned<T: Decodable>(blob: &Bytes) -> T {
    let mut b = blob.clone();
    let version = b.get_i16();
    let value = T::decode(&mut b, version).expect("consumer protocol blob decodes");
    assert!(b.is_empty(), "trailing bytes in consumer protocol blob");
    value
}

/// Field checks: what the capture scripts did must be visible in the frames.
fn check_fields(f: &Fixture, body: &Body) {
    let golden = |s: &str| s.starts_with("golden-");
    match body {
        Body::Request(AnyRequest::CreateTopics(r)) => {
            assert!(r.topics.iter().all(|t| golden(&t.name)) && r.topics[0].num_partitions == 1)
        }
        Body::Response(AnyResponse::CreateTopics(r)) => {
            assert!(r.topics.iter().all(|t| golden(&t.name) && ok(t.error_code)))
        }
        Body::Response(AnyResponse::ApiVersions(r)) => {
            assert!(ok(r.error_code));
            let produce = r
                .api_keys
                .iter()
                .find(|k| k.api_key == 0)
                .expect("Produce listed");
            assert!(produce.min_version <= 3 && produce.max_version >= 9);
            assert!(
                r.api_keys
                    .iter()
                    .any(|k| k.api_key == ApiKey::ApiVersions.as_i16())
            );
        }
        Body::Response(AnyResponse::Metadata(r)) => {
            assert!(!r.brokers.is_empty() && r.brokers.iter().all(|b| b.port > 0));
            assert!(
                r.topics
                    .iter()
                    .all(|t| t.name.as_deref().is_some_and(golden))
            );
        }
        Body::Request(AnyRequest::Produce(r)) => {
            let p = &r.topic_data[0];
            assert!(golden(&p.name));
            let records = p.partition_data[0].records.as_ref().expect("records");
            // A v2 record batch: magic byte at offset 16.
            assert_eq!(records.get(16), Some(&2), "{}", f.name);
        }
        Body::Response(AnyResponse::Produce(r)) => {
            let p = &r.responses[0].partition_responses[0];
            assert!(ok(p.error_code) && p.base_offset >= 0, "{}", f.name);
        }
        Body::Request(AnyRequest::Fetch(r)) => {
            assert!(
                r.topics
                    .iter()
                    .all(|t| golden(&t.topic) || !t.topic_id.is_nil())
            );
        }
        Body::Response(AnyResponse::Fetch(r)) => {
            assert!(ok(r.error_code));
            for p in r.responses.iter().flat_map(|t| &t.partitions) {
                assert!(ok(p.error_code) && p.high_watermark >= 0, "{}", f.name);
            }
        }
        Body::Request(AnyRequest::ListOffsets(r)) => assert!(golden(&r.topics[0].name)),
        Body::Response(AnyResponse::ListOffsets(r)) => {
            let p = &r.topics[0].partitions[0];
            assert!(golden(&r.topics[0].name) && ok(p.error_code));
        }
        Body::Request(AnyRequest::FindCoordinator(r)) => {
            assert!(golden(&r.key) || r.coordinator_keys.iter().all(|k| golden(k)));
        }
        Body::Response(AnyResponse::FindCoordinator(r)) => {
            assert!(ok(r.error_code));
            assert!(
                r.port > 0
                    || r.coordinators
                        .iter()
                        .all(|c| c.port > 0 && ok(c.error_code))
            );
        }
        Body::Request(AnyRequest::JoinGroup(r)) => {
            assert!(golden(&r.group_id) && r.protocol_type == "consumer");
            for p in &r.protocols {
                let sub: ConsumerProtocolSubscription = versioned(&p.metadata);
                assert!(sub.topics.iter().all(|t| golden(t)), "{}", f.name);
            }
        }
        Body::Response(AnyResponse::JoinGroup(r)) => {
            let code = ErrorCode::from_code(r.error_code);
            assert!(
                code == ErrorCode::None || code == ErrorCode::MemberIdRequired,
                "{code}"
            );
            for m in &r.members {
                let sub: ConsumerProtocolSubscription = versioned(&m.metadata);
                assert!(!sub.topics.is_empty());
            }
        }
        Body::Request(AnyRequest::SyncGroup(r)) => {
            assert!(golden(&r.group_id));
            for a in &r.assignments {
                let asg: ConsumerProtocolAssignment = versioned(&a.assignment);
                assert!(asg.assigned_partitions.iter().all(|t| golden(&t.topic)));
            }
        }
        Body::Response(AnyResponse::SyncGroup(r)) => {
            assert!(ok(r.error_code));
            let asg: ConsumerProtocolAssignment = versioned(&r.assignment);
            assert_eq!(asg.assigned_partitions[0].partitions, [0], "{}", f.name);
        }
        Body::Request(AnyRequest::OffsetCommit(r)) => {
            let p = &r.topics[0].partitions[0];
            assert!(golden(&r.group_id) && golden(&r.topics[0].name) && p.committed_offset == 3);
        }
        Body::Response(AnyResponse::OffsetCommit(r)) => {
            assert!(
                r.topics
                    .iter()
                    .flat_map(|t| &t.partitions)
                    .all(|p| ok(p.error_code))
            )
        }
        _ => {}
    }
}

#[test]
fn golden_frames_decode_and_reencode_identically() {
    let all = fixtures();
    assert!(all.len() >= 40, "only {} fixtures", all.len());
    for f in &all {
        match (decode_frame(f), known_bad(f)) {
            (Ok(body), None) => check_fields(f, &body),
            (Err(e), Some((message, field))) => {
                assert_eq!((e.message, e.field), (message, field), "{}", f.name);
                assert!(
                    matches!(e.kind, DecodeErrorKind::Truncated { .. }),
                    "{}: {e}",
                    f.name
                );
            }
            (Ok(_), Some(_)) => panic!("{}: expected the known peer bug, decoded fine", f.name),
            (Err(e), None) => panic!("{}: {e}", f.name),
        }
    }
}

#[test]
fn the_ten_core_apis_have_a_legacy_and_a_flexible_capture() {
    let all = fixtures();
    for api in [
        ApiKey::ApiVersions,
        ApiKey::Metadata,
        ApiKey::Produce,
        ApiKey::Fetch,
        ApiKey::ListOffsets,
        ApiKey::FindCoordinator,
        ApiKey::JoinGroup,
        ApiKey::SyncGroup,
        ApiKey::OffsetCommit,
        ApiKey::CreateTopics,
    ] {
        for direction in ["request", "response"] {
            let versions: Vec<i16> = all
                .iter()
                .filter(|f| f.get("api") == api.name() && f.get("direction") == direction)
                .map(|f| f.num("api_version") as i16)
                .collect();
            assert!(
                versions.iter().any(|&v| api.is_flexible(v)),
                "{} {direction}: no flexible capture",
                api.name()
            );
            assert!(
                versions.iter().any(|&v| !api.is_flexible(v)),
                "{} {direction}: no legacy capture",
                api.name()
            );
        }
    }
}
