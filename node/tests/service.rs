//! `KeyService` in process: every answer and refusal against a test double of the chain
//! (`handler`), the HTTP API on a real socket (`http`), the OpenAPI document (`openapi`), the
//! libp2p transport (`p2p`), and the whole gate against a real FileRegistry on anvil (`chain`,
//! `replay_flood`).
//!
//! One test binary for these (each is a module in `service/`): fewer binaries to link.
#![allow(clippy::unwrap_used)] // tests may unwrap; a panic is a failure

mod common;
mod p2p_common;

#[path = "service/chain.rs"]
mod chain;
#[path = "service/handler.rs"]
mod handler;
#[path = "service/http.rs"]
mod http;
#[path = "service/openapi.rs"]
mod openapi;
#[path = "service/p2p.rs"]
mod p2p;
#[path = "service/replay_flood.rs"]
mod replay_flood;
