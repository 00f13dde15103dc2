//! strait's integration tests: one binary (linking stays fast), a real
//! listening gateway process, a real etcd and in-process fake upstreams.
//!
//! Run with `cargo nextest run --test integration`; every test starts its own
//! etcd and gateway on free ports in its own temp dir, so they run in parallel.

// Test harness code may stop a test the quick way.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[macro_use]
mod common;
mod admin;
mod data_plane;
mod llm;
mod lua;
mod plugins;
mod tls;
