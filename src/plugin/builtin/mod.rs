//! The built-in plugins, one file each, named after the plugin
//! (`key-auth` → `key_auth.rs`).

use super::PluginFactory;

/// Every built-in plugin factory.
pub fn factories() -> Vec<Box<dyn PluginFactory>> {
    vec![]
}
