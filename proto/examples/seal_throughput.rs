//! Seal and open throughput, compared with the raw AEAD over the same bytes.
//!
//! `cargo run -p zgvault-proto --release --example seal_throughput [MiB]` (default 256 MiB).
//! Prints a table; timings are for reading, not for asserting.

use std::{
    io::{self, Write},
    time::Instant,
};

use chacha20poly1305::{
    XChaCha20Poly1305,
    aead::{AeadInOut, KeyInit, array::Array},
};
use zgvault_proto::{FileKey, Metadata, OpenReader, SealWriter, Suite, sealed_len};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mib: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(256);
    let len = mib * 1024 * 1024;
    // Write in 1 MiB pieces, as a file reader would.
    let piece: Vec<u8> = (0..1024 * 1024).map(|i| (i % 251) as u8).collect();
    let key = FileKey::generate()?;
    let rate = |secs: f64| len as f64 / secs / 1e6;

    println!("{:<34} {:>10}", format!("operation ({mib} MiB)"), "MB/s");
    for suite in Suite::ALL {
        let meta = Metadata::new("bench.bin", "application/octet-stream", len as u64);
        let start = Instant::now();
        let mut w = SealWriter::with_suite(io::sink(), &key, suite, &meta)?;
        for _ in 0..mib {
            w.write_all(&piece)?;
        }
        w.finish()?;
        println!(
            "{:<34} {:>10.0}",
            format!("seal {}", suite.name()),
            rate(start.elapsed().as_secs_f64())
        );

        // Open from memory: seal once into a buffer, then time only the open.
        let mut sealed = Vec::with_capacity(usize::try_from(sealed_len(len as u64)?)?);
        let mut w = SealWriter::with_suite(&mut sealed, &key, suite, &meta)?;
        for _ in 0..mib {
            w.write_all(&piece)?;
        }
        w.finish()?;
        let start = Instant::now();
        let mut r = OpenReader::new(&sealed[..], &key)?;
        let mut total = 0usize;
        while let Some(chunk) = r.next_chunk()? {
            total += chunk.len();
        }
        assert_eq!(total, len);
        println!(
            "{:<34} {:>10.0}",
            format!("open {}", suite.name()),
            rate(start.elapsed().as_secs_f64())
        );
    }

    // Baseline: the bare AEAD over 64 KiB buffers, no framing, no I/O.
    let aead = XChaCha20Poly1305::new(&Array::from([7u8; 32]));
    let nonce = Array::from([0u8; 24]);
    let mut buf = vec![0u8; 64 * 1024];
    let start = Instant::now();
    for _ in 0..len / buf.len() {
        let tag = aead
            .encrypt_inout_detached(&nonce, b"", buf.as_mut_slice().into())
            .map_err(|_| "encrypt failed")?;
        std::hint::black_box(tag);
    }
    println!(
        "{:<34} {:>10.0}",
        "raw XChaCha20-Poly1305 (64 KiB)",
        rate(start.elapsed().as_secs_f64())
    );
    Ok(())
}
