//! `serverless-pre-function` (priority 10000) and `serverless-post-function`
//! (-2000): Lua functions supplied through the Admin API, run in one phase.
//! Admin-supplied code was APISIX's main remote-code-execution path, so both
//! are refused unless the operator sets `strait.lua.serverless: true`; when
//! allowed they run in the same sandbox and under the same budget as plugin
//! files.
//!
//! Each configuration becomes a small generated module (the functions in
//! order, the first that returns a code or body ends the phase, as in
//! APISIX), loaded into each worker's VM like a plugin file.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde_json::{json, Value};

use super::module::{phase, ModuleSpec};
use super::{settings, vm, LuaPlugin};
use crate::plugin::{BuildEnv, Plugin, PluginFactory};

/// The phases a function may run in (APISIX's enum).
const PHASES: [&str; 6] = [
    "rewrite",
    "access",
    "header_filter",
    "body_filter",
    "log",
    "before_proxy",
];

/// One of the two serverless plugins.
pub struct ServerlessFactory {
    name: &'static str,
    priority: i64,
}

impl ServerlessFactory {
    /// `serverless-pre-function`.
    pub fn pre() -> ServerlessFactory {
        ServerlessFactory {
            name: "serverless-pre-function",
            priority: 10000,
        }
    }

    /// `serverless-post-function`.
    pub fn post() -> ServerlessFactory {
        ServerlessFactory {
            name: "serverless-post-function",
            priority: -2000,
        }
    }
}

fn functions(conf: &Value) -> Vec<&str> {
    conf.get("functions")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// The generated module for `functions` running in `phase_name`.
fn module_source(phase_name: &str, functions: &[&str]) -> String {
    let mut src = String::from("local fns = {}\n");
    for (i, f) in functions.iter().enumerate() {
        // A chunk and a function body share one grammar: each string runs
        // as the body of a vararg function, as `loadstring(s)()` would.
        src.push_str(&format!("fns[{}] = (function(...)\n{f}\nend)()\n", i + 1));
    }
    src.push_str(&format!(
        "local _M = {{ version = 0.1, priority = 0, schema = {{}} }}\n\
         function _M.{phase_name}(conf, ctx)\n\
           for i = 1, #fns do\n\
             local code, body = fns[i](conf, ctx)\n\
             if code or body then return code, body end\n\
           end\n\
         end\n\
         return _M\n"
    ));
    src
}

impl PluginFactory for ServerlessFactory {
    fn name(&self) -> &str {
        self.name
    }

    fn priority(&self) -> i64 {
        self.priority
    }

    fn schema(&self) -> Value {
        json!({
            "type": "object",
            "properties": {
                "phase": {"type": "string", "enum": PHASES, "default": "access"},
                "functions": {"type": "array", "items": {"type": "string"}, "minItems": 1},
            },
            "required": ["functions"],
        })
    }

    fn check(&self, conf: &Value, _on_consumer: bool) -> Result<(), String> {
        if !settings::get().serverless {
            return Err(format!(
                "{} runs Lua code given through the Admin API and is disabled; \
                 set strait.lua.serverless: true in conf/config.yaml to allow it",
                self.name
            ));
        }
        vm::with_vm(|vm| {
            for (i, f) in functions(conf).into_iter().enumerate() {
                let chunk_name = format!("{}.functions[{}]", self.name, i + 1);
                let value = vm.eval_chunk(f, &chunk_name).map_err(|e| match e {
                    mlua::Error::SyntaxError { message, .. } => {
                        format!("failed to loadstring: {message}")
                    }
                    other => format!("pcall error: {other}"),
                })?;
                if !matches!(value, mlua::Value::Function(_)) {
                    // As Lua's `type()` names it.
                    let type_name = match value {
                        mlua::Value::Integer(_) | mlua::Value::Number(_) => "number",
                        ref other => other.type_name(),
                    };
                    return Err(format!(
                        "only accept Lua function, the input code type is {type_name}"
                    ));
                }
            }
            Ok(())
        })
    }

    fn build(&self, conf: &Value, _env: &BuildEnv) -> Result<Arc<dyn Plugin>, String> {
        static GENERATION: AtomicU64 = AtomicU64::new(1);
        let phase_name = conf
            .get("phase")
            .and_then(Value::as_str)
            .unwrap_or("access");
        let bit = phase::ALL
            .iter()
            .find(|(n, _)| *n == phase_name)
            .map(|(_, b)| *b)
            .ok_or_else(|| format!("unknown phase {phase_name}"))?;
        let generation = GENERATION.fetch_add(1, Ordering::Relaxed);
        let spec = ModuleSpec {
            // One module per configuration: its own name in every VM.
            name: Arc::from(format!("{}#{generation}", self.name)),
            path: format!("{}#{generation}", self.name).into(),
            source: Arc::from(module_source(phase_name, &functions(conf))),
            generation,
            version: json!(0.1),
            priority: self.priority,
            schema: self.schema(),
            consumer_schema: None,
            metadata_schema: None,
            has_check_schema: false,
            phases: bit,
            reads_body: false,
        };
        Ok(Arc::new(LuaPlugin::new(Arc::new(spec), conf.clone())))
    }
}
