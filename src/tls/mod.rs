//! TLS: certificates from `ssls` served by SNI on the HTTPS listener,
//! client-certificate verification, and the handshake itself (rustls).
//!
//! SSL objects are compiled with the other items of a snapshot
//! ([`ssl_object`]); the snapshot carries the SNI index built from them
//! ([`store`]), so a certificate change is served from the next handshake
//! on, atomically with the rest of the configuration.

pub mod acceptor;
pub mod certs;
pub mod client_auth;
pub mod files;
pub mod session;
pub mod settings;
pub mod ssl_object;
pub mod store;
pub mod trust;

pub use acceptor::{HandshakeError, TlsTerminator};
pub use session::TlsSession;
pub use ssl_object::SslObject;
pub use store::TlsStore;
