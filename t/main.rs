//! strait's integration tests: one binary (linking stays fast), a real
//! listening gateway process, a real etcd and in-process fake upstreams.
//!
//! Run with `cargo nextest run --test integration`; every test starts its own
//! etcd and gateway on free ports in its own temp dir, so they run in parallel.

#[macro_use]
mod common;
mod data_plane;
