//! strait: an edge proxy and AI gateway with Apache APISIX's operating model.
//!
//! Configuration lives in etcd (or a standalone YAML file), is compiled into an
//! immutable [`config::Snapshot`] and published with one atomic swap; every
//! request pins the snapshot it started with.

pub mod admin;
pub mod body;
pub mod config;
pub mod error;
pub mod expr;
pub mod llm;
pub mod metrics;
pub mod plugin;
pub mod proxy;
pub mod router;
pub mod schema;
pub mod server;
pub mod status;
pub mod tls;
pub mod upstream;
