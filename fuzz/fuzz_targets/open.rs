//! The full open path. With the first byte odd, the input is prefixed with a genuine header
//! (for a size taken from the input) so the fuzzer exercises the chunk reader, not only the
//! header checks.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zgvault_proto::{FileKey, Metadata, SealWriter, Suite, open_bytes};

fuzz_target!(|data: &[u8]| {
    let key = FileKey::from_slice(&[7; 32]).expect("32-byte key");
    let input = match data.split_first() {
        Some((&selector, rest)) if selector & 1 == 1 => {
            let size = u64::from(selector >> 1) * 1031 + rest.len() as u64 % 70_000;
            let suite = if selector & 2 == 0 { Suite::XChaCha20Poly1305 } else { Suite::Aes256Gcm };
            let mut file = Vec::new();
            let meta = Metadata::new("fuzz", "", size);
            // Fixed salt keeps the target deterministic. Writes only the header; the writer is
            // dropped without `finish` on purpose.
            let salt = [selector; 32];
            let writer = SealWriter::with_fixed_salt_for_tests(&mut file, &key, suite, &meta, &salt);
            drop(writer.expect("header"));
            file.extend_from_slice(rest);
            file
        }
        _ => data.to_vec(),
    };
    // Random bodies never authenticate; anything but an error is a bug.
    assert!(open_bytes(&key, &input).is_err());
});
