//! The client's connection reader (frame splitting and correlation matching)
//! on hostile broker bytes, delivered in chunks chosen by the input.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    klamm::conn::fuzz_response_stream(data);
});
