//! `require` of Lua files: only from the plugin directories, by module name
//! (`a.b` → `<dir>/a/b.lua`), in a fresh environment, under the time budget.

use mlua::{Lua, Value as LuaValue};

use super::settings;

/// Load module `name` from the plugin directories.
pub fn load(lua: &Lua, name: &str) -> mlua::Result<LuaValue> {
    let valid = !name.is_empty()
        && name.split('.').all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        });
    if !valid {
        return Err(mlua::Error::runtime(format!(
            "module '{name}' not found: only modules in the Lua plugin directories can be required"
        )));
    }
    let rel = format!("{}.lua", name.replace('.', "/"));
    for dir in settings::get().plugin_dirs {
        let path = dir.join(&rel);
        if let Ok(source) = std::fs::read_to_string(&path) {
            // Under the budget of the call that requires it.
            return super::vm::eval_text(lua, &source, &path.display().to_string()).map(|v| {
                if v.is_nil() {
                    LuaValue::Boolean(true)
                } else {
                    v
                }
            });
        }
    }
    Err(mlua::Error::runtime(format!(
        "module '{name}' not found in the Lua plugin directories"
    )))
}
