//! Lua plugin tests: plugin files written to a temporary plugin directory,
//! loaded by a real gateway (`strait.lua.plugin_dirs`), configured through
//! the Admin API and exercised through the proxy.

mod ai_prompt;
mod body;
mod phases;
mod reload;
mod sandbox;
mod serverless;
mod surface;

use std::path::Path;

use crate::plugins::Env;

/// A gateway whose Lua plugin directory holds `files` (name, source).
pub async fn lua_env(files: &[(&str, &str)]) -> (Env, tempfile::TempDir) {
    lua_env_with(files, "").await
}

/// [`lua_env`] with more `strait.lua` settings (YAML lines indented by 4).
pub async fn lua_env_with(files: &[(&str, &str)], more: &str) -> (Env, tempfile::TempDir) {
    start(files, &[], more).await
}

/// A gateway with plugin directories: a temporary one holding `files`, then `dirs`.
async fn start(files: &[(&str, &str)], dirs: &[&Path], more: &str) -> (Env, tempfile::TempDir) {
    let dir = tempfile::Builder::new()
        .prefix("strait-lua-")
        .tempdir()
        .expect("plugin dir");
    for (name, source) in files {
        write_plugin(dir.path(), name, source);
    }
    let all: Vec<String> = std::iter::once(dir.path())
        .chain(dirs.iter().copied())
        .map(|d| format!("{:?}", d.display().to_string()))
        .collect();
    let yaml = format!(
        "  lua:\n    plugin_dirs: [{}]\n    time_budget_ms: 200\n    memory_limit_mb: 64\n{more}",
        all.join(", ")
    );
    let env = Env::start_with(|o| o.extra_yaml(&yaml)).await;
    (env, dir)
}

/// Write plugin `name` (`<dir>/<name>.lua`; a name with `/` is in a subdirectory).
pub fn write_plugin(dir: &Path, name: &str, source: &str) {
    let path = dir.join(format!("{name}.lua"));
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("plugin subdirectory");
    }
    std::fs::write(path, source).expect("write plugin file");
}

/// A gateway whose Lua plugin directories are a temporary one and the
/// repository's `lua-plugins/` (the shipped plugins).
pub async fn shipped_env() -> (Env, tempfile::TempDir) {
    shipped_env_with(&[]).await
}

/// [`shipped_env`] with `files` (name, source) in the temporary directory.
pub async fn shipped_env_with(files: &[(&str, &str)]) -> (Env, tempfile::TempDir) {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("lua-plugins");
    start(files, &[&shipped], "").await
}
