//! "Seal and hash in the same stream": the sealed bytes go to a file and to the hasher at
//! once, and the root equals the root of the sealed file read back.
#![allow(clippy::unwrap_used)] // tests may unwrap; a panic is a failure

mod common;

use std::io::Write;

use common::xorshift;
use zgvault_client::zg::{FragmentHasher, RootHasher, Tee, root_of_bytes};
use zgvault_proto::{FileKey, Metadata, SealWriter};

#[test]
fn sealing_through_a_tee_hashes_exactly_the_sealed_file() {
    let dir = tempfile::tempdir().unwrap();
    let sealed_path = dir.path().join("f.sealed");
    let plaintext = xorshift(700_001, 9);
    let key = FileKey::generate().unwrap();
    let meta = Metadata::new("f.bin", "application/octet-stream", plaintext.len() as u64);

    let file = std::fs::File::create(&sealed_path).unwrap();
    let mut writer = SealWriter::new(Tee::new(file, RootHasher::new()), &key, &meta).unwrap();
    for piece in plaintext.chunks(100_000) {
        writer.write_all(piece).unwrap();
    }
    let (mut file, hasher) = writer.finish().unwrap().into_inner();
    file.flush().unwrap();
    let root = hasher.finish().unwrap();

    let sealed = std::fs::read(&sealed_path).unwrap();
    assert!(sealed.len() > plaintext.len());
    assert_eq!(root.size(), sealed.len() as u64);
    assert_eq!(root, root_of_bytes(&sealed).unwrap());
}

#[test]
fn sealing_into_a_fragment_hasher() {
    let plaintext = xorshift(5000, 1);
    let key = FileKey::generate().unwrap();
    let meta = Metadata::new("", "", plaintext.len() as u64);
    let mut writer =
        SealWriter::new(Tee::new(Vec::new(), FragmentHasher::new(1024)), &key, &meta).unwrap();
    writer.write_all(&plaintext).unwrap();
    let (sealed, hasher) = writer.finish().unwrap().into_inner();
    let roots = hasher.finish().unwrap();
    assert_eq!(roots.len(), sealed.len().div_ceil(1024));
    for r in roots {
        let start = r.fragment.offset as usize;
        let part = &sealed[start..start + r.fragment.len as usize];
        assert_eq!(r.root, root_of_bytes(part).unwrap());
    }
}
