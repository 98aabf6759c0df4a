//! Decodes any generated request or response from hostile bytes.
//!
//! Input layout: byte 0 picks the API (index into `ApiKey::ALL`), byte 1
//! the version (valid ones plus one past the top), byte 2 bit 0 request (0)
//! or response (1); the rest is the body. Decoding must never panic; when
//! it succeeds, re-encoding must succeed and be stable.

#![no_main]

use bytes::{Bytes, BytesMut};
use klamm_protocol::ApiKey;
use klamm_protocol::generated::{AnyRequest, AnyResponse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [k, v, flags, body @ ..] = data else {
        return;
    };
    let Some(&key) = ApiKey::ALL.get(usize::from(*k) % ApiKey::ALL.len()) else {
        return;
    };
    let range = key.valid_versions();
    let version = i16::from(*v) % (range.max + 2);
    let mut input = Bytes::copy_from_slice(body);
    if flags & 1 == 0 {
        if let Ok(msg) = AnyRequest::decode(key, &mut input, version) {
            let mut first = BytesMut::new();
            msg.encode(&mut first, version).expect("a decoded request re-encodes");
            let again = AnyRequest::decode(key, &mut first.clone().freeze(), version).expect("re-encoded request decodes");
            let mut second = BytesMut::new();
            again.encode(&mut second, version).expect("second encode");
            assert_eq!(first, second, "encoding is not stable");
        }
    } else if let Ok(msg) = AnyResponse::decode(key, &mut input, version) {
        let mut first = BytesMut::new();
        msg.encode(&mut first, version).expect("a decoded response re-encodes");
        let again = AnyResponse::decode(key, &mut first.clone().freeze(), version).expect("re-encoded response decodes");
        let mut second = BytesMut::new();
        again.encode(&mut second, version).expect("second encode");
        assert_eq!(first, second, "encoding is not stable");
    }
});
