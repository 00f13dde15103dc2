//! The built-in plugins, one file each, named after the plugin
//! (`key-auth` → `key_auth.rs`).

pub mod batch;
mod file_logger;
mod http_logger;
mod key_auth;
pub mod log_entry;
mod prometheus;
pub mod request_util;

use super::PluginFactory;

/// Every built-in plugin factory.
pub fn factories() -> Vec<Box<dyn PluginFactory>> {
    vec![
        Box::new(key_auth::KeyAuthFactory),
        Box::new(prometheus::PrometheusFactory),
        Box::new(http_logger::HttpLoggerFactory),
        Box::new(file_logger::FileLoggerFactory),
    ]
}
