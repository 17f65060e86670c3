//! What a share-holder node decodes from any peer: a `KeyRequest`, then its checks that
//! need no chain (signature recovery, times), for every kind of request. Nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zgvault_proto::wire::{KeyRequest, decode_request, encode_request};

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = decode_request(data) {
        // Whatever decodes must encode again and decode to the same thing.
        let again = decode_request(&encode_request(&request)).expect("re-encoded request decodes");
        assert_eq!(format!("{again:?}"), format!("{request:?}"));
        let now = 1_700_000_000;
        match &request {
            KeyRequest::Access(access) => {
                let _ = access.verify(&access.request().file.domain(), now);
            }
            KeyRequest::Deposit(deposit) => {
                let _ = deposit.verify(&deposit.deposit().file.domain(), now);
            }
            KeyRequest::KeyDeposit(deposit) => {
                let _ = deposit.verify(&deposit.deposit().file.domain(), now);
            }
            KeyRequest::Shred(shred) => {
                let _ = shred.verify(&shred.shred().file.domain(), now);
            }
        }
    }
});
