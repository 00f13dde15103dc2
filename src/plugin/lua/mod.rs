//! Lua plugins (ARCHITECTURE §3): every `*.lua` file of the plugin
//! directories (`strait.lua.plugin_dirs`, default `lua-plugins/`) is a plugin
//! in APISIX's module shape, enabled by the same `plugins:` list, validated
//! by its schema with the same engine as the Rust plugins, and run in the
//! same chain.
//!
//! - [`module`]: reading plugin files (identity, schemas, phases); a file
//!   that fails keeps its previous version.
//! - `vm`: one sandboxed LuaJIT VM per worker thread, a time budget per
//!   call and a memory cap per VM.
//! - `host` + `prelude.lua`: APISIX's `core` and the `ngx` subset.
//! - [`provider`]: LLM provider adapters in Lua (`ai-providers/*.lua`).
//! - this file: the factory and instance the registry and chains hold, and
//!   how a phase call maps to [`Step`].

mod convert;
mod host;
mod llm_host;
mod md5;
pub mod module;
pub mod provider;
mod require;
mod schema_cache;
pub mod serverless;
pub mod settings;
mod shared_dict;
mod vm;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::StatusCode;
use mlua::{MultiValue, Table, Value as LuaValue};
use serde_json::{Map, Value};

use host::{BodyArg, CallPhase, CallState, EXIT_SIGNAL};
use module::{phase, LoadReport, ModuleSpec};

use super::{registry, BuildEnv, Ctx, Plugin, PluginFactory, PluginResponse, Step};

/// Load (again) every Lua plugin file and put the result in the registry.
/// Files that fail keep their previous version; the report says why.
pub fn reload() -> LoadReport {
    // One reload at a time (the Admin API's and the file watcher's): each
    // decides from what the previous one left.
    static RELOADING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = RELOADING.lock().unwrap_or_else(|p| p.into_inner());
    let dirs = settings::get().plugin_dirs;
    // A changed helper module changes every plugin that may require it.
    let all = module::helpers_changed(&dirs);
    let loaded = vm::with_vm(|vm| {
        let mut report = module::load_all(vm, &dirs, all);
        report.errors.extend(provider::load_all(vm, &dirs, all));
        Ok(report)
    });
    let report = match loaded {
        Ok(r) => r,
        Err(e) => {
            tracing::error!("Lua plugins not loaded: {e}");
            return LoadReport {
                errors: vec![e],
                ..Default::default()
            };
        }
    };
    let regs = report
        .modules
        .values()
        .filter_map(|spec| registry::register(Box::new(LuaFactory { spec: spec.clone() })))
        .collect();
    registry::set_lua_plugins(regs);
    if !report.modules.is_empty() {
        tracing::info!(
            plugins = %report.modules.keys().cloned().collect::<Vec<_>>().join(","),
            "Lua plugins loaded"
        );
    }
    report
}

/// Reload the Lua plugins whenever a plugin file is added, changed or
/// removed (checked every second).
pub fn watch_files() -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let dirs = settings::get().plugin_dirs;
        let mut last = module::stamps(&dirs);
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
        loop {
            tick.tick().await;
            let now = module::stamps(&dirs);
            if now != last {
                last = now;
                reload();
            }
        }
    })
}

/// A Lua plugin kind.
pub struct LuaFactory {
    spec: Arc<ModuleSpec>,
}

impl PluginFactory for LuaFactory {
    fn name(&self) -> &str {
        &self.spec.name
    }

    fn is_lua(&self) -> bool {
        true
    }

    fn priority(&self) -> i64 {
        self.spec.priority
    }

    fn schema(&self) -> Value {
        self.spec.schema.clone()
    }

    fn consumer_schema(&self) -> Option<Value> {
        self.spec.consumer_schema.clone()
    }

    fn metadata_schema(&self) -> Option<Value> {
        self.spec.metadata_schema.clone()
    }

    fn check(&self, conf: &Value, on_consumer: bool) -> Result<(), String> {
        if !self.spec.has_check_schema {
            return Ok(());
        }
        vm::with_vm(|vm| {
            let module = vm.module(&self.spec)?;
            let check: mlua::Function = module.get("check_schema").map_err(|e| e.to_string())?;
            let mt: Table = vm
                .lua
                .registry_value(&vm.array_mt)
                .map_err(|e| e.to_string())?;
            let conf = convert::to_lua(&vm.lua, conf, &mt).map_err(|e| e.to_string())?;
            let schema_type = if on_consumer {
                LuaValue::Integer(1)
            } else {
                LuaValue::Nil
            };
            vm.deadline.set(Some(Instant::now() + vm.budget));
            let r = check.call::<(LuaValue, LuaValue)>((conf, schema_type));
            vm.deadline.set(None);
            match r {
                Ok((LuaValue::Boolean(false) | LuaValue::Nil, err)) => Err(match err {
                    LuaValue::String(s) => s.to_string_lossy(),
                    LuaValue::Nil => "check_schema failed".to_string(),
                    other => convert::from_lua(&other, Some(&mt))
                        .map(|v| v.to_string())
                        .unwrap_or_else(|e| e),
                }),
                Ok(_) => Ok(()),
                Err(e) => Err(format!("check_schema raised an error: {e}")),
            }
        })
    }

    fn build(&self, conf: &Value, _env: &BuildEnv) -> Result<Arc<dyn Plugin>, String> {
        Ok(Arc::new(LuaPlugin::new(self.spec.clone(), conf.clone())))
    }
}

/// One configured Lua plugin.
pub struct LuaPlugin {
    spec: Arc<ModuleSpec>,
    conf: Value,
    /// Identifies this instance's configuration table in each VM.
    id: u64,
    /// Dropped with the instance: VMs forget its configuration table.
    alive: Arc<()>,
}

/// What the Lua `ctx` table of a request holds between phases (a VM is per
/// thread, and a request may move between threads between phases).
#[derive(Debug, Clone, Default)]
struct CarriedCtx(Map<String, Value>);

/// The request (and response parts) a phase call can reach.
enum Handles<'a> {
    Request(&'a mut Ctx),
    HeaderFilter(&'a mut Ctx, &'a mut http::response::Parts),
    BodyFilter(&'a mut Ctx, &'a mut BodyArg),
    Log(&'a Ctx),
}

impl Handles<'_> {
    fn ctx(&self) -> &Ctx {
        match self {
            Handles::Request(c) | Handles::HeaderFilter(c, _) | Handles::BodyFilter(c, _) => c,
            Handles::Log(c) => c,
        }
    }

    fn phase(&self) -> CallPhase {
        match self {
            Handles::Request(_) => CallPhase::Request,
            Handles::HeaderFilter(..) => CallPhase::HeaderFilter,
            Handles::BodyFilter(..) => CallPhase::BodyFilter,
            Handles::Log(_) => CallPhase::Log,
        }
    }
}

impl LuaPlugin {
    /// An instance of `spec` configured with `conf`.
    pub fn new(spec: Arc<ModuleSpec>, conf: Value) -> LuaPlugin {
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        LuaPlugin {
            spec,
            conf,
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            alive: Arc::new(()),
        }
    }

    fn request_phase(&self, name: &str, bit: u8, ctx: &mut Ctx) -> Step {
        if !self.spec.has(bit) {
            return Step::Continue;
        }
        match self.call(bit, Handles::Request(ctx)) {
            Ok(None) => Step::Continue,
            Ok(Some(answer)) => Step::Respond(answer),
            Err(e) => {
                self.failed(name, &e);
                Step::Respond(PluginResponse::json(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    &serde_json::json!({"error_msg": "500 Internal Server Error"}),
                ))
            }
        }
    }

    fn failed(&self, phase: &str, error: &str) {
        tracing::error!(plugin = %self.spec.name, phase, "Lua plugin failed: {error}");
        crate::metrics::global()
            .lua_errors
            .get_or_create(&crate::metrics::LuaErrorLabels {
                plugin: self.spec.name.to_string(),
                phase: phase.to_string(),
            })
            .inc();
    }

    /// Call phase function `bit` ([`phase`]); `Some` when it answers the request.
    fn call(&self, bit: u8, mut handles: Handles<'_>) -> Result<Option<PluginResponse>, String> {
        vm::with_vm(|vm| {
            let lua = &vm.lua;
            let err = |e: mlua::Error| e.to_string();
            let func = vm.phase_function(&self.spec, bit)?;
            let conf = vm.conf(self.id, &self.alive, &self.conf)?;
            let call_phase: mlua::Function = lua.registry_value(&vm.call_phase).map_err(err)?;
            // What earlier phases left in the request's ctx table.
            let carried = match handles.ctx().extensions.get::<CarriedCtx>() {
                Some(c) if !c.0.is_empty() => {
                    let array_mt: Table = lua.registry_value(&vm.array_mt).map_err(err)?;
                    convert::to_lua(lua, &Value::Object(c.0.clone()), &array_mt).map_err(err)?
                }
                _ => LuaValue::Nil,
            };

            // The call owns the request (and response parts) while it runs.
            let phase = handles.phase();
            {
                let mut st = lua
                    .app_data_mut::<CallState>()
                    .ok_or("the Lua host is not initialised")?;
                st.phase = phase;
                st.plugin = self.spec.name.clone();
                st.exit = None;
                st.printed.clear();
                match &mut handles {
                    Handles::Request(ctx) => st.ctx = Some(ctx.take()),
                    Handles::HeaderFilter(ctx, parts) => {
                        st.ctx = Some(ctx.take());
                        st.resp = Some(std::mem::replace(
                            &mut **parts,
                            http::Response::new(()).into_parts().0,
                        ));
                    }
                    Handles::BodyFilter(ctx, arg) => {
                        st.ctx = Some(ctx.take());
                        st.body = Some(std::mem::take(&mut **arg));
                    }
                    Handles::Log(_) => {}
                }
            }
            vm.deadline.set(Some(Instant::now() + vm.budget));
            let result = match &handles {
                Handles::Log(ctx) => lua.scope(|scope| {
                    let ud = scope.create_any_userdata_ref(&**ctx)?;
                    set_log_ctx(lua, LuaValue::UserData(ud))?;
                    let r = call_phase.call::<MultiValue>((&func, &conf, &carried));
                    set_log_ctx(lua, LuaValue::Nil)?;
                    r
                }),
                _ => call_phase.call::<MultiValue>((&func, &conf, &carried)),
            };
            vm.deadline.set(None);
            let (exit, printed) = {
                let mut st = lua
                    .app_data_mut::<CallState>()
                    .ok_or("the Lua host is not initialised")?;
                st.phase = CallPhase::Outside;
                match &mut handles {
                    Handles::Request(ctx) => restore(ctx, st.ctx.take()),
                    Handles::HeaderFilter(ctx, parts) => {
                        restore(ctx, st.ctx.take());
                        if let Some(p) = st.resp.take() {
                            **parts = p;
                        }
                    }
                    Handles::BodyFilter(ctx, arg) => {
                        restore(ctx, st.ctx.take());
                        if let Some(a) = st.body.take() {
                            **arg = a;
                        }
                    }
                    Handles::Log(_) => {}
                }
                (st.exit.take(), std::mem::take(&mut st.printed))
            };

            // The ctx table comes back first (nil when empty).
            let mut result = result.map(|mut values| (values.pop_front(), values));
            if let Ok((ctx_table, _)) = &mut result {
                if let Handles::Request(ctx)
                | Handles::HeaderFilter(ctx, _)
                | Handles::BodyFilter(ctx, _) = &mut handles
                {
                    let table = match ctx_table.take() {
                        Some(LuaValue::Table(t)) => Some(t),
                        _ => None,
                    };
                    carry(ctx, table.as_ref(), lua, &vm.array_mt, &self.spec.name);
                }
            }

            if let Some(exit) = exit {
                return Ok(Some(PluginResponse::text(
                    exit.status
                        .and_then(|s| StatusCode::from_u16(s).ok())
                        .unwrap_or(StatusCode::OK),
                    exit.body.unwrap_or_default(),
                )));
            }
            let values = match result {
                Ok((_, v)) => v,
                Err(e) => {
                    let msg = e.to_string();
                    if msg.contains(EXIT_SIGNAL) {
                        return Ok(None);
                    }
                    return Err(msg);
                }
            };
            if phase != CallPhase::Request {
                return Ok(None);
            }
            let Some((code, body)) = host::returned(values) else {
                return Ok(None);
            };
            let status = StatusCode::from_u16(code)
                .map_err(|_| format!("returned an invalid status code {code}"))?;
            let mut bytes = printed;
            match body {
                None | Some(LuaValue::Nil) => {}
                Some(LuaValue::Table(t)) => {
                    let array_mt: Table = lua.registry_value(&vm.array_mt).map_err(err)?;
                    let v = convert::from_lua(&LuaValue::Table(t), Some(&array_mt))?;
                    bytes.extend_from_slice(v.to_string().as_bytes());
                    bytes.push(b'\n');
                }
                Some(LuaValue::String(s)) => bytes.extend_from_slice(&s.as_bytes()),
                Some(other) => {
                    bytes.extend_from_slice(convert::from_lua(&other, None)?.to_string().as_bytes())
                }
            }
            Ok(Some(PluginResponse::text(status, Bytes::from(bytes))))
        })
    }
}

/// Put the context a call owned back in place.
fn restore(slot: &mut Ctx, owned: Option<Ctx>) {
    if let Some(ctx) = owned {
        *slot = ctx;
    }
}

/// Point the host's read-only log-phase handle at `value`.
fn set_log_ctx(lua: &mlua::Lua, value: LuaValue) -> mlua::Result<()> {
    let mut st = lua
        .app_data_mut::<CallState>()
        .ok_or_else(|| mlua::Error::runtime("the Lua host is not initialised"))?;
    lua.replace_registry_value(&mut st.log_ctx, value)
}

/// Move the fields a plugin set on its `ctx` table (`None`: it set none)
/// into the request, for the next phases and plugins.
fn carry(
    ctx: &mut Ctx,
    table: Option<&Table>,
    lua: &mlua::Lua,
    array_mt: &mlua::RegistryKey,
    plugin: &str,
) {
    let Some(table) = table else {
        if ctx.extensions.get::<CarriedCtx>().is_some() {
            ctx.extensions.insert(CarriedCtx::default());
        }
        return;
    };
    let array_mt: Option<Table> = lua.registry_value(array_mt).ok();
    let mut fields = Map::new();
    for pair in table.pairs::<LuaValue, LuaValue>() {
        let Ok((LuaValue::String(k), v)) = pair else {
            continue;
        };
        match convert::from_lua(&v, array_mt.as_ref()) {
            Ok(v) => {
                fields.insert(k.to_string_lossy(), v);
            }
            Err(e) => tracing::debug!(
                plugin,
                field = %k.to_string_lossy(),
                "ctx field not kept for later phases: {e}"
            ),
        }
    }
    ctx.extensions.insert(CarriedCtx(fields));
}

impl Plugin for LuaPlugin {
    fn rewrite(&self, ctx: &mut Ctx) -> Step {
        self.request_phase("rewrite", phase::REWRITE, ctx)
    }

    fn access(&self, ctx: &mut Ctx) -> Step {
        self.request_phase("access", phase::ACCESS, ctx)
    }

    fn before_proxy(&self, ctx: &mut Ctx) -> Step {
        self.request_phase("before_proxy", phase::BEFORE_PROXY, ctx)
    }

    fn header_filter(&self, ctx: &mut Ctx, resp: &mut http::response::Parts) {
        if self.spec.has(phase::HEADER_FILTER) {
            if let Err(e) = self.call(phase::HEADER_FILTER, Handles::HeaderFilter(ctx, resp)) {
                self.failed("header_filter", &e);
            }
        }
    }

    fn body_filter(&self, ctx: &mut Ctx, chunk: &mut Bytes, eof: bool) {
        if !self.spec.has(phase::BODY_FILTER) {
            return;
        }
        let mut arg = BodyArg {
            chunk: std::mem::take(chunk),
            eof,
        };
        let original = arg.chunk.clone();
        match self.call(phase::BODY_FILTER, Handles::BodyFilter(ctx, &mut arg)) {
            Ok(_) => *chunk = arg.chunk,
            Err(e) => {
                self.failed("body_filter", &e);
                *chunk = original;
            }
        }
    }

    fn filters_body(&self) -> bool {
        self.spec.has(phase::BODY_FILTER)
    }

    fn reads_request_body(&self) -> bool {
        self.spec.reads_body
    }

    fn log(&self, ctx: &Ctx) {
        if self.spec.has(phase::LOG) {
            if let Err(e) = self.call(phase::LOG, Handles::Log(ctx)) {
                self.failed("log", &e);
            }
        }
    }
}
