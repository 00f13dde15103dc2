//! The Lua settings of this process (`strait.lua` in config.yaml), set once
//! at start; defaults until then (tests, `strait validate`).

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use crate::config::bootstrap::{LuaAllow, LuaSection};

/// `strait.lua`, resolved.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Plugin directories.
    pub plugin_dirs: Vec<PathBuf>,
    /// Allowed sandbox escapes.
    pub allow: Vec<LuaAllow>,
    /// Longest one phase call may run.
    pub time_budget: Duration,
    /// Memory cap per VM (0: none).
    pub memory_limit_bytes: usize,
    /// Whether serverless functions may run.
    pub serverless: bool,
}

impl From<&LuaSection> for Settings {
    fn from(s: &LuaSection) -> Settings {
        Settings {
            plugin_dirs: s.plugin_dirs.clone(),
            allow: s.allow.clone(),
            time_budget: Duration::from_millis(s.time_budget_ms.max(1)),
            memory_limit_bytes: s.memory_limit_mb.saturating_mul(1 << 20),
            serverless: s.serverless,
        }
    }
}

static SETTINGS: OnceLock<Settings> = OnceLock::new();

/// Set the settings (once, at start; later calls are ignored).
pub fn set(section: &LuaSection) {
    let _ = SETTINGS.set(Settings::from(section));
}

/// The settings in force.
pub fn get() -> Settings {
    SETTINGS
        .get()
        .cloned()
        .unwrap_or_else(|| Settings::from(&LuaSection::default()))
}
