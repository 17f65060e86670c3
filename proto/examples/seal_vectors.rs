//! Rewrites the sealed-format known-answer vectors, `proto/tests/vectors/seal.json`:
//!
//! ```sh
//! cargo run -p zgvault-proto --example seal_vectors
//! ```
//!
//! Run it only when the format changes on purpose, together with a version bump, and review
//! the diff; `tests/vectors.rs` checks the file, and `tests/vectors/check_vectors.py` (a
//! second implementation) must reproduce it. A command of its own, so that no test run can
//! rewrite the vectors it is meant to check.
#![allow(clippy::unwrap_used, clippy::print_stdout)]

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../tests/support/seal_vectors.rs"]
mod seal_vectors;

fn main() {
    seal_vectors::regenerate();
    println!("wrote {}", seal_vectors::vectors_path().display());
}
