//! Any bytes as a `records` string: walk every batch (all magics), decode
//! every record, read control markers. Must never panic or allocate without
//! bound. Seeds: protocol/tests/fixtures/records/*.bin.
#![no_main]

use bytes::Bytes;
use klamm_protocol::records::{BatchReader, ControlRecord};
use libfuzzer_sys::fuzz_target;

/// Small cap so inflating inputs are cut early.
const MAX_DECOMPRESSED: usize = 1 << 20;

fuzz_target!(|data: &[u8]| {
    for batch in BatchReader::new(Bytes::copy_from_slice(data)).verify_crc(false) {
        let Ok(batch) = batch else { break };
        let control = batch.is_control();
        let Ok(records) = batch.records(MAX_DECOMPRESSED) else {
            continue;
        };
        for r in records {
            let Ok(r) = r else { break };
            let _ = (r.key(), r.value_bytes(), r.headers_vec());
            for h in r.headers() {
                let _ = h.key_str();
            }
            if control {
                let _ = ControlRecord::parse(&r);
            }
        }
    }
});
