//! Process-wide TLS listener settings from `conf/config.yaml`
//! (`apisix.ssl.ssl_protocols`, HTTP/2 on TLS), set once at start before the
//! first snapshot is built, and read whenever SSL objects are compiled into
//! handshake configurations.

use std::sync::{Arc, OnceLock};

use rustls::SupportedProtocolVersion;

/// What every TLS listener offers unless an SSL object says otherwise.
#[derive(Debug, Clone)]
pub struct ListenerTls {
    /// TLS versions (`apisix.ssl.ssl_protocols`).
    pub versions: Vec<&'static SupportedProtocolVersion>,
    /// Offer HTTP/2 through ALPN.
    pub http2: bool,
}

impl Default for ListenerTls {
    fn default() -> Self {
        ListenerTls {
            versions: vec![&rustls::version::TLS13, &rustls::version::TLS12],
            http2: true,
        }
    }
}

impl ListenerTls {
    /// The ALPN protocols offered, most preferred first.
    pub fn alpn(&self) -> Vec<Vec<u8>> {
        if self.http2 {
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        } else {
            vec![b"http/1.1".to_vec()]
        }
    }
}

fn slot() -> &'static OnceLock<Arc<ListenerTls>> {
    static SETTINGS: OnceLock<Arc<ListenerTls>> = OnceLock::new();
    &SETTINGS
}

/// Put the settings in service (the first call wins; start-up calls it once).
pub fn set(settings: ListenerTls) {
    let _ = slot().set(Arc::new(settings));
}

/// The settings in service (the defaults before [`set`]).
pub fn get() -> Arc<ListenerTls> {
    slot().get().cloned().unwrap_or_default()
}
