//! The built-in plugins, one file each, named after the plugin
//! (`key-auth` → `key_auth.rs`).

mod key_auth;
mod prometheus;
pub mod request_util;

use super::PluginFactory;

/// Every built-in plugin factory.
pub fn factories() -> Vec<Box<dyn PluginFactory>> {
    vec![
        Box::new(key_auth::KeyAuthFactory),
        Box::new(prometheus::PrometheusFactory),
    ]
}
