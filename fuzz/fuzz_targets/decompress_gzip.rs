//! Any bytes through the gzip decompressor, with a small output cap: must
//! return data or a typed error, never panic, never exceed the cap.
#![no_main]

use klamm_protocol::compression::{Compression, decompress};
use libfuzzer_sys::fuzz_target;

const LIMIT: usize = 1 << 20;

fuzz_target!(|data: &[u8]| {
    if let Ok(out) = decompress(Compression::Gzip, data, LIMIT) {
        assert!(out.len() <= LIMIT);
    }
});
