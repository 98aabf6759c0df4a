//! Shared assertions for the generated round-trip tests.

use bytes::BytesMut;

use crate::message::{Decodable, Encodable};

/// Encodes `value`, decodes it back, and checks the result is equal, the
/// decoder consumed every byte, and re-encoding gives identical bytes.
pub(crate) fn assert_round_trip<T: Encodable + Decodable + PartialEq + std::fmt::Debug>(
    value: &T,
    version: i16,
) {
    let mut first = BytesMut::new();
    value
        .encode(&mut first, version)
        .unwrap_or_else(|e| panic!("encode v{version}: {e}"));
    let first = first.freeze();
    let mut input = first.clone();
    let decoded =
        T::decode(&mut input, version).unwrap_or_else(|e| panic!("decode v{version}: {e}"));
    assert!(
        input.is_empty(),
        "v{version}: {} bytes left after decode",
        input.len()
    );
    assert_eq!(&decoded, value, "v{version}: decoded value differs");
    let mut second = BytesMut::new();
    decoded
        .encode(&mut second, version)
        .unwrap_or_else(|e| panic!("re-encode v{version}: {e}"));
    assert_eq!(
        &second[..],
        &first[..],
        "v{version}: re-encoded bytes differ"
    );
    // Every strict prefix must fail cleanly, never panic.
    for cut in [0, first.len() / 2, first.len().saturating_sub(1)] {
        if cut < first.len() {
            let mut short = first.slice(..cut);
            assert!(
                T::decode(&mut short, version).is_err(),
                "v{version}: {cut}-byte prefix decoded"
            );
        }
    }
}
