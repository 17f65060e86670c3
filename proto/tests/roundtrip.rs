//! Round trips and the writer/reader contract callers rely on.

// Helpers outside `#[test]` fns unwrap too; clippy.toml's allow-unwrap-in-tests does not
// reach them.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};

use common::*;
use sha2::{Digest, Sha256};
use zgvault_proto::{
    Error, FileKey, Metadata, OpenReader, SealWriter, SealedHeader, Suite, open, open_bytes, seal,
    seal::{HEADER_LEN, MAX_MEDIA_TYPE_LEN, MAX_NAME_LEN},
    seal_bytes, sealed_len,
};

const SIZES: [usize; 9] = [0, 1, 100, C - 1, C, C + 1, 2 * C, 3 * C, 3 * C + 17];

#[test]
fn round_trip_all_sizes_both_suites() {
    let key = FileKey::generate().unwrap();
    for suite in Suite::ALL {
        for size in SIZES {
            let plain = pattern(size);
            let sealed = seal_bytes(&key, suite, "a.csv", "text/csv", &plain).unwrap();
            assert_eq!(
                sealed.len() as u64,
                sealed_len(size as u64).unwrap(),
                "{suite:?} {size}"
            );
            let (meta, out) = open_bytes(&key, &sealed).unwrap();
            assert_eq!(out, plain, "{suite:?} {size}");
            assert_eq!(meta, Metadata::new("a.csv", "text/csv", size as u64));
            let header = SealedHeader::decode(&sealed).unwrap();
            assert_eq!(header.suite(), suite);
        }
    }
}

#[test]
fn default_suite_is_xchacha() {
    let key = FileKey::generate().unwrap();
    let w = SealWriter::new(Vec::new(), &key, &Metadata::default()).unwrap();
    assert_eq!(w.header().suite(), Suite::XChaCha20Poly1305);
    let sealed = w.finish().unwrap();
    assert_eq!(sealed[zgvault_proto::seal::SUITE_OFFSET], 1);
}

#[test]
fn two_seals_of_the_same_input_differ() {
    let key = FileKey::generate().unwrap();
    let a = seal_random(&key, Suite::default(), b"same");
    let b = seal_random(&key, Suite::default(), b"same");
    assert_ne!(a, b, "the salt must be fresh for every file");
}

#[test]
fn metadata_limits_are_enforced() {
    let key = FileKey::generate().unwrap();
    let long = "n".repeat(MAX_NAME_LEN + 1);
    let err = seal_bytes(&key, Suite::default(), &long, "", b"").unwrap_err();
    assert!(matches!(
        err,
        Error::MetadataTooLong {
            field: "file name",
            len: 256,
            max: 255
        }
    ));
    let long = "t".repeat(MAX_MEDIA_TYPE_LEN + 1);
    let err = seal_bytes(&key, Suite::default(), "", &long, b"").unwrap_err();
    assert!(matches!(
        err,
        Error::MetadataTooLong {
            field: "media type",
            ..
        }
    ));
    // The longest allowed values fit, including multi-byte UTF-8.
    let name = "é".repeat(MAX_NAME_LEN / 2);
    let media = "m".repeat(MAX_MEDIA_TYPE_LEN);
    let sealed = seal_bytes(&key, Suite::Aes256Gcm, &name, &media, b"x").unwrap();
    let (meta, _) = open_bytes(&key, &sealed).unwrap();
    assert_eq!(
        (meta.name.as_str(), meta.media_type.as_str()),
        (name.as_str(), media.as_str())
    );
}

#[test]
fn dropping_the_writer_without_finish_is_not_a_valid_file() {
    let key = FileKey::generate().unwrap();
    for size in [0, 5, C, 2 * C] {
        let mut out = Vec::new();
        {
            let meta = Metadata::new("x", "", size as u64);
            let mut w = SealWriter::new(&mut out, &key, &meta).unwrap();
            w.write_all(&pattern(size)).unwrap();
            // dropped here
        }
        let err = open_err(&key, &out);
        assert!(
            matches!(err, Error::Truncated { .. }),
            "size {size}: {err:?}"
        );
    }
}

#[test]
fn writer_enforces_the_declared_size() {
    let key = FileKey::generate().unwrap();
    let meta = Metadata::new("x", "", 10);
    let mut w = SealWriter::new(Vec::new(), &key, &meta).unwrap();
    w.write_all(&[1; 9]).unwrap();
    let err = w.finish().unwrap_err();
    assert!(matches!(
        err,
        Error::SizeMismatch {
            declared: 10,
            written: 9
        }
    ));

    let mut w = SealWriter::new(Vec::new(), &key, &meta).unwrap();
    let io = w.write_all(&[1; 11]).unwrap_err();
    assert!(matches!(
        Error::from_io(io),
        Error::SizeMismatch {
            declared: 10,
            written: 11
        }
    ));
    // Poisoned after the failure.
    let io = w.write_all(&[1; 1]).unwrap_err();
    assert!(matches!(Error::from_io(io), Error::WriterFailed));
    assert!(matches!(w.finish(), Err(Error::WriterFailed)));

    // The streaming `seal` helper reports a size that does not match the input.
    let err = seal(&key, Suite::default(), &meta, &[0u8; 3][..], Vec::new()).unwrap_err();
    assert!(matches!(
        err,
        Error::SizeMismatch {
            declared: 10,
            written: 3
        }
    ));
}

#[test]
fn writer_output_errors_poison_it() {
    struct FailAfter(usize);
    impl Write for FailAfter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if self.0 < buf.len() {
                return Err(std::io::Error::other("disk full"));
            }
            self.0 -= buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let key = FileKey::generate().unwrap();
    let meta = Metadata::new("x", "", 3 * C as u64);
    let mut w = SealWriter::new(FailAfter(HEADER_LEN + 10), &key, &meta).unwrap();
    let err = Error::from_io(w.write_all(&pattern(2 * C)).unwrap_err());
    assert!(matches!(err, Error::Io { .. }), "{err:?}");
    assert!(matches!(w.finish(), Err(Error::WriterFailed)));
    // The header itself failing is reported by the constructor.
    let err = SealWriter::new(FailAfter(3), &key, &meta).unwrap_err();
    assert!(matches!(err, Error::Io { .. }));
}

/// The client wraps the writer's output in a hasher to compute the 0G root while sealing.
#[test]
fn output_can_be_hashed_while_sealing() {
    struct Hashing<W> {
        inner: W,
        hash: Sha256,
        len: u64,
    }
    impl<W: Write> Write for Hashing<W> {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let n = self.inner.write(buf)?;
            self.hash.update(&buf[..n]);
            self.len += n as u64;
            Ok(n)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            self.inner.flush()
        }
    }
    let key = FileKey::generate().unwrap();
    let plain = pattern(2 * C + 3);
    let meta = Metadata::new("h", "", plain.len() as u64);
    let out = Hashing {
        inner: Vec::new(),
        hash: Sha256::new(),
        len: 0,
    };
    let mut w = SealWriter::new(out, &key, &meta).unwrap();
    assert_eq!(
        w.sealed_len().unwrap(),
        sealed_len(plain.len() as u64).unwrap()
    );
    w.write_all(&plain).unwrap();
    let out = w.finish().unwrap();
    assert_eq!(out.len, out.inner.len() as u64);
    assert_eq!(out.len, sealed_len(plain.len() as u64).unwrap());
    assert_eq!(
        out.hash.finalize().to_vec(),
        Sha256::digest(&out.inner).to_vec()
    );
}

#[test]
fn streaming_helpers_round_trip() {
    let key = FileKey::generate().unwrap();
    let plain = pattern(2 * C + 99);
    let meta = Metadata::new("s.json", "application/json", plain.len() as u64);
    let sealed = seal(&key, Suite::Aes256Gcm, &meta, &plain[..], Vec::new()).unwrap();
    let mut out = Vec::new();
    let got = open(&key, &sealed[..], &mut out).unwrap();
    assert_eq!((got, out), (meta, plain));
}

#[test]
fn reader_serves_odd_read_sizes_and_reports_metadata_first() {
    let key = FileKey::generate().unwrap();
    let plain = pattern(C + 1000);
    let sealed = seal_random(&key, Suite::XChaCha20Poly1305, &plain);
    let mut r = OpenReader::new(&sealed[..], &key).unwrap();
    assert_eq!(r.metadata().size, plain.len() as u64);
    assert_eq!(r.sealed_len(), sealed.len() as u64);
    let mut out = Vec::new();
    let mut buf = [0u8; 777];
    loop {
        let n = r.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    assert_eq!(out, plain);
    assert_eq!(r.read(&mut buf).unwrap(), 0, "EOF stays EOF");
}

#[test]
fn header_metadata_can_be_read_without_the_body() {
    let key = FileKey::generate().unwrap();
    let sealed = seal_bytes(
        &key,
        Suite::default(),
        "n.txt",
        "text/plain",
        &pattern(5 * C),
    )
    .unwrap();
    let header = SealedHeader::decode(&sealed[..HEADER_LEN]).unwrap();
    let meta = header.open_metadata(&key).unwrap();
    assert_eq!(meta, Metadata::new("n.txt", "text/plain", 5 * C as u64));
    assert!(matches!(
        header.open_metadata(&other_key()),
        Err(Error::WrongKey)
    ));
}

/// The client runs sealing on a blocking thread, so the stream types must be `Send`.
#[test]
fn stream_types_are_send() {
    fn send<T: Send>() {}
    send::<SealWriter<std::fs::File>>();
    send::<OpenReader<std::fs::File>>();
    send::<FileKey>();
    send::<Error>();
}

#[test]
fn errors_say_what_to_do_next() {
    let key = FileKey::generate().unwrap();
    let sealed = seal_random(&key, Suite::default(), &pattern(10));
    let msg = open_err(&other_key(), &sealed).to_string();
    assert!(msg.contains("wrong key") && msg.contains("check"), "{msg}");
    let msg = open_err(&key, &sealed[..sealed.len() - 1]).to_string();
    assert!(
        msg.contains("truncated") && msg.contains("fetch it again"),
        "{msg}"
    );
}
