//! Behaviour of the generated codecs that round trips alone do not show:
//! exact bytes, version gates, null rules, unknown tagged fields and
//! hostile input.

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::{DecodeErrorKind, EncodeErrorKind};
use crate::generated::fixtures::klamm_every_type_message::{KlammEveryTypeMessage, SharedStruct};
use crate::generated::metadata::request::MetadataRequestTopic;
use crate::generated::{
    AnyRequest, AnyResponse, ApiKey, ApiVersionsRequest, ErrorCode, FetchRequest, MetadataRequest,
    RequestHeader,
};
use crate::message::{Decodable, Encodable, decode_request};
use crate::primitives::{RawTaggedField, StrBytes};

fn encode<T: Encodable>(value: &T, version: i16) -> Vec<u8> {
    let mut buf = BytesMut::new();
    value.encode(&mut buf, version).unwrap();
    buf.to_vec()
}

#[test]
fn classic_and_compact_bytes_match_the_wire_format() {
    let req = ApiVersionsRequest::default()
        .with_client_software_name(StrBytes::from_static("a"))
        .with_client_software_version(StrBytes::from_static("b"));
    // v3: compact strings (length + 1) and an empty tagged-field section.
    assert_eq!(encode(&req, 3), [2, b'a', 2, b'b', 0]);
    // v0 has neither field; they are ignorable, so they are dropped.
    assert_eq!(encode(&req, 0), [] as [u8; 0]);

    let topic = MetadataRequestTopic::default().with_name(Some(StrBytes::from_static("t")));
    let md = MetadataRequest::default().with_topics(Some(vec![topic]));
    assert_eq!(encode(&md, 0), [0, 0, 0, 1, 0, 1, b't']);
    // v1+: null topics means "all topics" (int32 -1).
    let all = MetadataRequest::default().with_topics(None);
    assert_eq!(encode(&all, 1), [0xff, 0xff, 0xff, 0xff]);
    // v9: compact null array (0), allow auto create, both include flags, no tags.
    assert_eq!(encode(&all, 9), [0, 1, 0, 0, 0]);

    let header = RequestHeader::default()
        .with_request_api_key(18)
        .with_request_api_version(3)
        .with_correlation_id(7)
        .with_client_id(Some(StrBytes::from_static("c")));
    // Header v2 keeps the client id as a classic (non-compact) string.
    assert_eq!(encode(&header, 2), [0, 18, 0, 3, 0, 0, 0, 7, 0, 1, b'c', 0]);
}

#[test]
fn encode_rejects_what_the_version_cannot_carry() {
    let null_topics = MetadataRequest::default().with_topics(None);
    let err = null_topics.encode(&mut BytesMut::new(), 0).unwrap_err();
    assert_eq!(
        (err.message, err.field, err.version),
        ("MetadataRequest", "Topics", 0)
    );
    assert_eq!(err.kind, EncodeErrorKind::NullNotAllowed);

    // AllowAutoTopicCreation exists from v4 and is not ignorable.
    let no_auto = MetadataRequest::default().with_allow_auto_topic_creation(false);
    let err = no_auto.encode(&mut BytesMut::new(), 3).unwrap_err();
    assert_eq!(err.field, "AllowAutoTopicCreation");
    assert_eq!(err.kind, EncodeErrorKind::FieldNotInVersion);
    assert!(no_auto.encode(&mut BytesMut::new(), 4).is_ok());

    // MaxBytes exists from v3 and is ignorable: silently dropped before.
    let fetch = FetchRequest::default().with_max_bytes(1000);
    assert_eq!(encode(&fetch, 2), encode(&FetchRequest::default(), 2));

    let err = MetadataRequest::default()
        .encode(&mut BytesMut::new(), 99)
        .unwrap_err();
    assert_eq!(err.kind, EncodeErrorKind::UnsupportedVersion);

    // A non-null nested struct field holding null where not nullable (v1 of the fixture).
    let inner_null = KlammEveryTypeMessage::default()
        .with_inner(None)
        .with_medium(1);
    let err = inner_null.encode(&mut BytesMut::new(), 1).unwrap_err();
    assert_eq!(
        (err.field, err.kind),
        ("Inner", EncodeErrorKind::NullNotAllowed)
    );
}

#[test]
fn decode_errors_name_the_field() {
    let check = |bytes: &[u8], version: i16, message: &str, field: &str, kind: DecodeErrorKind| {
        let err = MetadataRequest::decode(&mut Bytes::copy_from_slice(bytes), version).unwrap_err();
        assert_eq!(
            (err.message, err.field, err.version, err.kind),
            (message, field, version, kind)
        );
    };
    check(
        &[0, 0, 0, 1, 0],
        1,
        "MetadataRequestTopic",
        "Name",
        DecodeErrorKind::Truncated {
            needed: 2,
            remaining: 1,
        },
    );
    check(
        &[0, 0, 0, 1, 0xff, 0xff],
        0,
        "MetadataRequestTopic",
        "Name",
        DecodeErrorKind::NegativeLength(-1),
    );
    check(
        &[0xff, 0xff, 0xff, 0xff],
        0,
        "MetadataRequest",
        "Topics",
        DecodeErrorKind::NegativeLength(-1),
    );
    check(
        &[0x7f, 0xff, 0xff, 0xff, 0, 0],
        1,
        "MetadataRequest",
        "Topics",
        DecodeErrorKind::TooManyElements {
            count: 0x7fff_ffff,
            needed: 0x7fff_ffff,
            remaining: 2,
        },
    );
    check(
        &[],
        4,
        "MetadataRequest",
        "Topics",
        DecodeErrorKind::Truncated {
            needed: 4,
            remaining: 0,
        },
    );
    let err = MetadataRequest::decode(&mut Bytes::new(), -1).unwrap_err();
    assert_eq!(err.kind, DecodeErrorKind::UnsupportedVersion);

    // A compact null where null is not allowed: v9 topic names are not nullable.
    let err = MetadataRequest::decode(&mut Bytes::from_static(&[2, 0]), 9).unwrap_err();
    assert_eq!(
        (err.field, err.kind),
        ("Name", DecodeErrorKind::NegativeLength(-1))
    );
}

#[test]
fn unknown_tagged_fields_survive_and_keep_their_order() {
    let unknown = |tag: u32, data: &'static [u8]| RawTaggedField {
        tag,
        data: Bytes::from_static(data),
    };
    let msg = KlammEveryTypeMessage::default()
        .with_tagged_count(9)
        .with_tagged_struct(SharedStruct::default().with_x(1))
        .with_unknown_tagged_fields(vec![unknown(1, b"a"), unknown(3, b"bc"), unknown(70, b"")]);
    let bytes = encode(&msg, 4);
    let decoded = KlammEveryTypeMessage::decode(&mut Bytes::from(bytes.clone()), 4).unwrap();
    assert_eq!(decoded, msg);
    assert_eq!(encode(&decoded, 4), bytes);
    // The tagged section is the tail: 5 fields, in tag order 0, 1, 2, 3, 70.
    // Tag 2 holds SharedStruct { x: 1, y: "" } plus its own empty tag section.
    let tail = [
        5u8, 0, 4, 0, 0, 0, 9, 1, 1, b'a', 2, 6, 0, 0, 0, 1, 1, 0, 3, 2, b'b', b'c', 70, 0,
    ];
    assert!(bytes.ends_with(&tail), "{bytes:?}");
}

#[test]
fn known_tagged_field_with_a_wrong_size_is_an_error() {
    let mut bytes = BytesMut::from(&encode(&KlammEveryTypeMessage::default(), 3)[..]);
    // Replace the empty tagged section (last byte) with tag 0 declaring 5 bytes.
    bytes.truncate(bytes.len() - 1);
    bytes.put_slice(&[1, 0, 5, 0, 0, 0, 1, 9]);
    let err = KlammEveryTypeMessage::decode(&mut bytes.freeze(), 3).unwrap_err();
    assert_eq!(err.field, "TaggedCount");
    assert_eq!(
        err.kind,
        DecodeErrorKind::TaggedFieldSize {
            tag: 0,
            declared: 5,
            left: 1
        }
    );
}

#[test]
fn fields_absent_in_a_version_decode_as_their_defaults() {
    let v0 = KlammEveryTypeMessage::decode(
        &mut Bytes::from(encode(&KlammEveryTypeMessage::default(), 0)),
        0,
    )
    .unwrap();
    assert_eq!(v0.medium, 0x7fff_ffff);
    assert_eq!(v0.port, 9092);
    assert!(v0.flag);
    assert_eq!(v0.ratio, 0.25);
    assert_eq!(v0.tagged_count, -1);
    assert_eq!(v0.shared.x, 7);
    assert_eq!(v0.names, Some(vec![]));
    assert_eq!(v0.inner, Some(Default::default()));
}

#[test]
fn decoded_strings_share_the_input_buffer() {
    let md = MetadataRequest::default().with_topics(Some(vec![
        MetadataRequestTopic::default().with_name(Some(StrBytes::from_static("orders"))),
    ]));
    let input = Bytes::from(encode(&md, 4));
    let decoded: MetadataRequest = decode_request(input.clone(), 4).unwrap();
    let name = decoded.topics.unwrap()[0].name.clone().unwrap();
    assert_eq!(name.as_bytes().as_ptr(), input[6..].as_ptr());
}

#[test]
fn error_codes() {
    assert_eq!(ErrorCode::from_code(3), ErrorCode::UnknownTopicOrPartition);
    assert_eq!(
        ErrorCode::UnknownTopicOrPartition.name(),
        "UNKNOWN_TOPIC_OR_PARTITION"
    );
    assert!(ErrorCode::UnknownTopicOrPartition.is_retriable());
    assert!(!ErrorCode::TopicAuthorizationFailed.is_retriable());
    assert_eq!(ErrorCode::from_code(-1), ErrorCode::UnknownServerError);
    assert_eq!(ErrorCode::from_code(0), ErrorCode::None);
    assert!(!ErrorCode::None.is_error());
    assert_eq!(ErrorCode::from_code(31_000), ErrorCode::Unknown(31_000));
    assert_eq!(ErrorCode::Unknown(31_000).code(), 31_000);
    assert_eq!(
        ErrorCode::NotLeaderOrFollower.to_string(),
        "NOT_LEADER_OR_FOLLOWER (6)"
    );
}

/// xorshift64*: a tiny deterministic generator for mutation tests.
fn next(state: &mut u64) -> u64 {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    state.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

#[test]
fn mutated_and_truncated_input_never_panics() {
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    for &key in ApiKey::ALL.iter().filter(|k| k.has_messages()) {
        let versions = key.valid_versions();
        for version in versions.min..=versions.max {
            for request in [true, false] {
                let mut buf = BytesMut::new();
                if request {
                    AnyRequest::sample(key, version, 1)
                        .unwrap()
                        .encode(&mut buf, version)
                        .unwrap();
                } else {
                    AnyResponse::sample(key, version, 1)
                        .unwrap()
                        .encode(&mut buf, version)
                        .unwrap();
                }
                let good = buf.freeze();
                for _ in 0..24 {
                    let mut bytes = good.to_vec();
                    match next(&mut rng) % 3 {
                        0 => bytes.truncate((next(&mut rng) as usize) % (bytes.len() + 1)),
                        1 => {
                            if !bytes.is_empty() {
                                let i = (next(&mut rng) as usize) % bytes.len();
                                bytes[i] = next(&mut rng) as u8;
                            }
                        }
                        _ => {
                            if !bytes.is_empty() {
                                let i = (next(&mut rng) as usize) % bytes.len();
                                bytes[i] = 0xff;
                            }
                        }
                    }
                    let mut input = Bytes::from(bytes);
                    // Only the absence of panics (and termination) is asserted.
                    let _ = if request {
                        AnyRequest::decode(key, &mut input, version).map(|_| ())
                    } else {
                        AnyResponse::decode(key, &mut input, version).map(|_| ())
                    };
                }
            }
        }
    }
}

#[test]
fn known_tagged_fields_sent_with_default_values_re_encode_identically() {
    // Some peers write known tagged fields even when they hold the default:
    // TaggedCount (tag 0) = -1, its default. Kafka would omit it.
    let mut bytes = BytesMut::from(&encode(&KlammEveryTypeMessage::default(), 3)[..]);
    bytes.truncate(bytes.len() - 1);
    bytes.put_slice(&[1, 0, 4, 0xff, 0xff, 0xff, 0xff]);
    let bytes = bytes.freeze();
    let decoded = KlammEveryTypeMessage::decode(&mut bytes.clone(), 3).unwrap();
    assert_eq!(decoded.tagged_count, -1);
    assert!(decoded.tagged_fields_seen.contains(0));
    assert_eq!(decoded, KlammEveryTypeMessage::default());
    assert_eq!(encode(&decoded, 3), bytes.to_vec());
    // A value built in code still omits it.
    assert_eq!(
        encode(&KlammEveryTypeMessage::default(), 3).len(),
        bytes.len() - 6
    );
}
