//! Generates the prost types for `proto/zgvault/v1/keys.proto`.
//!
//! protox parses the `.proto` in pure Rust, so building needs no `protoc` on the machine.

use std::error::Error;

const PROTO_ROOT: &str = "proto";
const PROTO_FILES: &[&str] = &["zgvault/v1/keys.proto"];

fn main() -> Result<(), Box<dyn Error>> {
    println!("cargo:rerun-if-changed={PROTO_ROOT}");
    let fds = protox::compile(PROTO_FILES, [PROTO_ROOT])?;
    prost_build::Config::new().compile_fds(fds)?;
    Ok(())
}
