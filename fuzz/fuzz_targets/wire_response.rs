//! What a client decodes from any node: a `KeyResponse`. Nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zgvault_proto::wire::{decode_response, encode_response};

fuzz_target!(|data: &[u8]| {
    if let Ok(response) = decode_response(data) {
        let again = decode_response(&encode_response(&response)).expect("re-encoded response decodes");
        assert_eq!(format!("{again:?}"), format!("{response:?}"));
    }
});
