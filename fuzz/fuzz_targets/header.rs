//! Sealed-file header decoding: structure checks, authentication, and the metadata block.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zgvault_proto::{FileKey, SealedHeader, seal::decode_metadata_block_for_fuzzing};

fuzz_target!(|data: &[u8]| {
    if let Ok(header) = SealedHeader::decode(data) {
        // Random bytes cannot forge the MAC, so this must fail, and must not panic.
        let key = FileKey::from_slice(&[0x42; 32]).expect("32-byte key");
        assert!(header.open_metadata(&key).is_err());
    }
    // The decoder behind the MAC, fed directly.
    let _ = decode_metadata_block_for_fuzzing(data);
});
