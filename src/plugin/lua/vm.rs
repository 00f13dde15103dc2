//! One LuaJIT VM per worker thread (a request never waits for another
//! thread's VM), created on first use: the sandboxed globals, the host API
//! (`prelude.lua` over `host.rs`), a memory cap and a time budget per call.
//! Plugin modules are loaded into a VM on first use and again when their
//! file's generation changes; plugin configurations are converted to Lua
//! once per VM and instance.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use mlua::{chunk::ChunkMode, HookTriggers, Lua, LuaOptions, RegistryKey, StdLib, Table, VmState};

use super::module::ModuleSpec;
use super::settings::{self, Settings};
use crate::config::bootstrap::LuaAllow;

/// Instructions between two checks of the time budget.
const BUDGET_CHECK_INTERVAL: u32 = 1000;

/// A thread's Lua VM and what it has loaded.
pub struct Vm {
    /// The state.
    pub lua: Lua,
    /// When the running call must stop (`None` outside calls).
    pub deadline: Rc<Cell<Option<Instant>>>,
    /// The budget of one call.
    pub budget: Duration,
    /// `core.json.array_mt`.
    pub array_mt: RegistryKey,
    /// The prelude's `call_phase(fn, conf, carried)`: runs a phase function
    /// with a fresh `ctx` table and returns that table (or nil) first.
    pub call_phase: RegistryKey,
    /// The prelude's `forget_required()`: empties the `require` cache.
    forget_required: RegistryKey,
    /// The helper-module generation the `require` cache belongs to.
    helpers_seen: Cell<u64>,
    /// Loaded plugin modules by name.
    modules: RefCell<HashMap<Arc<str>, Loaded>>,
    /// Plugin configurations as Lua tables: instance id → (liveness, table).
    confs: RefCell<HashMap<u64, (Weak<()>, RegistryKey)>>,
    /// Size of `confs` after the last sweep of dead instances.
    swept_at: Cell<usize>,
    /// Size of `modules` after the last sweep of unused modules.
    modules_swept_at: Cell<usize>,
}

/// The registry name of the globals plugin environments read from.
const SANDBOX: &str = "strait.sandbox";

/// A fresh environment for one chunk (a plugin file, a required module):
/// its own globals, reading through to the sandbox's.
fn environment(lua: &Lua) -> mlua::Result<Table> {
    let env = lua.create_table()?;
    env.raw_set("_G", env.clone())?;
    let mt = lua.create_table()?;
    mt.raw_set("__index", lua.named_registry_value::<Table>(SANDBOX)?)?;
    // Plugins cannot reach (and change) the shared globals through it.
    mt.raw_set("__metatable", false)?;
    env.set_metatable(Some(mt))?;
    Ok(env)
}

/// A plugin module loaded into a VM.
struct Loaded {
    /// Gone once no configuration or registry entry uses the module.
    spec: Weak<ModuleSpec>,
    generation: u64,
    table: RegistryKey,
    /// Its phase functions, by [`super::module::phase`] bit.
    phases: Vec<(u8, RegistryKey)>,
}

/// Run Lua source text `source` (named `chunk_name` in errors) in a fresh
/// environment and return what it returns (under whatever budget is running).
pub fn eval_text(lua: &Lua, source: &str, chunk_name: &str) -> mlua::Result<mlua::Value> {
    lua.load(source)
        .set_name(format!("@{chunk_name}"))
        .set_mode(ChunkMode::Text)
        .set_environment(environment(lua)?)
        .eval::<mlua::Value>()
}

thread_local! {
    static VM: RefCell<Option<Rc<Vm>>> = const { RefCell::new(None) };
}

/// Run `f` with this thread's VM, creating it first if needed.
pub fn with_vm<R>(f: impl FnOnce(&Vm) -> Result<R, String>) -> Result<R, String> {
    let vm = VM.with(|cell| -> Result<Rc<Vm>, String> {
        if let Some(vm) = cell.borrow().as_ref() {
            return Ok(vm.clone());
        }
        let vm = Rc::new(Vm::new(&settings::get()).map_err(|e| format!("cannot start Lua: {e}"))?);
        *cell.borrow_mut() = Some(vm.clone());
        Ok(vm)
    })?;
    vm.forget_changed_helpers();
    f(&vm)
}

impl Vm {
    /// A new sandboxed VM with the host API.
    pub fn new(settings: &Settings) -> mlua::Result<Vm> {
        let allow = |a: LuaAllow| settings.allow.contains(&a);
        let mut libs = StdLib::TABLE | StdLib::STRING | StdLib::MATH | StdLib::BIT | StdLib::JIT;
        if allow(LuaAllow::Io) {
            libs |= StdLib::IO;
        }
        libs |= StdLib::OS;
        if allow(LuaAllow::Debug) {
            libs |= StdLib::DEBUG;
        }
        if allow(LuaAllow::Ffi) {
            libs |= StdLib::FFI;
        }
        let lua = if allow(LuaAllow::Debug) || allow(LuaAllow::Ffi) {
            // SAFETY: `debug` and `ffi` let Lua code break memory safety; mlua
            // only loads them through this constructor. The operator turned them
            // on explicitly (`strait.lua.allow`), accepting exactly that.
            unsafe { Lua::unsafe_new_with(libs, LuaOptions::default()) }
        } else {
            Lua::new_with(libs, LuaOptions::default())?
        };
        // The JIT compiler would run loops the time budget cannot interrupt
        // (compiled traces do not call hooks): plugins run in LuaJIT's interpreter.
        lua.load("jit.off(); jit.flush()").exec()?;
        if settings.memory_limit_bytes > 0 {
            // Not available when LuaJIT uses its own allocator; then only the budget applies.
            if let Err(e) = lua.set_memory_limit(settings.memory_limit_bytes) {
                tracing::warn!("Lua memory limit unavailable: {e}");
            }
        }
        let deadline: Rc<Cell<Option<Instant>>> = Rc::new(Cell::new(None));
        let budget = settings.time_budget;
        {
            let deadline = deadline.clone();
            lua.set_hook(
                HookTriggers::new().every_nth_instruction(BUDGET_CHECK_INTERVAL),
                move |_, _| match deadline.get() {
                    Some(d) if Instant::now() > d => Err(mlua::Error::runtime(format!(
                        "time budget of {} ms exceeded",
                        budget.as_millis()
                    ))),
                    _ => Ok(VmState::Continue),
                },
            )?;
        }
        let sandbox = sandbox_globals(&lua, settings)?;
        let host = super::host::table(&lua, settings)?;
        let array_mt: Table = host.get("array_mt")?;
        let (_core, _ngx, call_phase, forget_required): (
            Table,
            Table,
            mlua::Function,
            mlua::Function,
        ) = lua
            .load(include_str!("prelude.lua"))
            .set_name("=strait/prelude.lua")
            .set_mode(ChunkMode::Text)
            .call((host, sandbox.clone()))?;
        lua.set_named_registry_value(SANDBOX, sandbox)?;
        Ok(Vm {
            array_mt: lua.create_registry_value(array_mt)?,
            call_phase: lua.create_registry_value(call_phase)?,
            forget_required: lua.create_registry_value(forget_required)?,
            helpers_seen: Cell::new(super::module::helpers_generation()),
            deadline,
            budget,
            modules: RefCell::new(HashMap::new()),
            confs: RefCell::new(HashMap::new()),
            swept_at: Cell::new(0),
            modules_swept_at: Cell::new(0),
            lua,
        })
    }

    /// Run `source` (named `chunk_name`) in a fresh environment under the
    /// time budget and return what it returns.
    pub fn eval_chunk(&self, source: &str, chunk_name: &str) -> mlua::Result<mlua::Value> {
        self.deadline.set(Some(Instant::now() + self.budget));
        let r = eval_text(&self.lua, source, chunk_name);
        self.deadline.set(None);
        r
    }

    /// Empty the `require` cache when helper modules changed since it filled.
    fn forget_changed_helpers(&self) {
        let now = super::module::helpers_generation();
        if self.helpers_seen.get() == now {
            return;
        }
        self.helpers_seen.set(now);
        let forget = self
            .lua
            .registry_value::<mlua::Function>(&self.forget_required);
        if let Err(e) = forget.and_then(|f| f.call::<()>(())) {
            tracing::warn!("Lua require cache not emptied: {e}");
        }
    }

    /// Call `f` with `args` under the time budget.
    pub fn call_budgeted<R: mlua::FromLuaMulti>(
        &self,
        f: &mlua::Function,
        args: impl mlua::IntoLuaMulti,
    ) -> mlua::Result<R> {
        self.deadline.set(Some(Instant::now() + self.budget));
        let r = f.call(args);
        self.deadline.set(None);
        r
    }

    /// The module table of `spec` in this VM, loading it (and calling its
    /// `init`) when absent or of another generation.
    pub fn module(&self, spec: &Arc<ModuleSpec>) -> Result<Table, String> {
        self.loaded(spec, |lua, loaded| lua.registry_value(&loaded.table))
    }

    /// Phase function `bit` of `spec` (loaded as by [`Vm::module`]).
    pub fn phase_function(
        &self,
        spec: &Arc<ModuleSpec>,
        bit: u8,
    ) -> Result<mlua::Function, String> {
        self.loaded(spec, |lua, loaded| {
            let key = loaded
                .phases
                .iter()
                .find(|(b, _)| *b == bit)
                .map(|(_, k)| k)
                .ok_or_else(|| mlua::Error::runtime("the module has no such phase"))?;
            lua.registry_value(key)
        })
    }

    fn loaded<R>(
        &self,
        spec: &Arc<ModuleSpec>,
        read: impl Fn(&Lua, &Loaded) -> mlua::Result<R>,
    ) -> Result<R, String> {
        if let Some(loaded) = self.modules.borrow().get(&spec.name) {
            if loaded.generation == spec.generation {
                return read(&self.lua, loaded).map_err(|e| e.to_string());
            }
        }
        let loaded = self.load(spec)?;
        let r = read(&self.lua, &loaded).map_err(|e| e.to_string());
        let old = self.modules.borrow_mut().insert(spec.name.clone(), loaded);
        if let Some(old) = old {
            self.destroy(&spec.name, old);
        }
        self.sweep_modules();
        r
    }

    /// Forget modules nothing uses any more (replaced files, configurations
    /// of serverless functions that were changed).
    fn sweep_modules(&self) {
        let len = self.modules.borrow().len();
        if len <= 32 || len <= 2 * self.modules_swept_at.get() {
            return;
        }
        let dead: Vec<(Arc<str>, Loaded)> = {
            let mut modules = self.modules.borrow_mut();
            let names: Vec<Arc<str>> = modules
                .iter()
                .filter(|(_, l)| l.spec.strong_count() == 0)
                .map(|(n, _)| n.clone())
                .collect();
            names
                .into_iter()
                .filter_map(|n| modules.remove(&n).map(|l| (n, l)))
                .collect()
        };
        for (name, loaded) in dead {
            self.destroy(&name, loaded);
        }
        self.modules_swept_at.set(self.modules.borrow().len());
    }

    fn load(&self, spec: &Arc<ModuleSpec>) -> Result<Loaded, String> {
        let value = self
            .eval_chunk(&spec.source, &spec.path.display().to_string())
            .map_err(|e| e.to_string())?;
        let mlua::Value::Table(module) = value else {
            return Err(format!("{} does not return a table", spec.path.display()));
        };
        if let Ok(mlua::Value::Function(init)) = module.get::<mlua::Value>("init") {
            if let Err(e) = self.call_budgeted::<()>(&init, ()) {
                tracing::error!(plugin = %spec.name, "Lua plugin init failed: {e}");
            }
        }
        let mut phases = Vec::new();
        for (name, bit) in super::module::phase::ALL {
            if let Ok(mlua::Value::Function(f)) = module.get::<mlua::Value>(name) {
                phases.push((
                    bit,
                    self.lua
                        .create_registry_value(f)
                        .map_err(|e| e.to_string())?,
                ));
            }
        }
        Ok(Loaded {
            spec: Arc::downgrade(spec),
            generation: spec.generation,
            table: self
                .lua
                .create_registry_value(module)
                .map_err(|e| e.to_string())?,
            phases,
        })
    }

    fn destroy(&self, name: &str, loaded: Loaded) {
        if let Ok(old) = self.lua.registry_value::<Table>(&loaded.table) {
            if let Ok(mlua::Value::Function(destroy)) = old.get::<mlua::Value>("destroy") {
                if let Err(e) = self.call_budgeted::<()>(&destroy, ()) {
                    tracing::warn!(plugin = name, "Lua plugin destroy failed: {e}");
                }
            }
        }
        let _ = self.lua.remove_registry_value(loaded.table);
        for (_, key) in loaded.phases {
            let _ = self.lua.remove_registry_value(key);
        }
    }

    /// The configuration of instance `id` as a Lua table (converted once).
    pub fn conf(
        &self,
        id: u64,
        alive: &Arc<()>,
        conf: &serde_json::Value,
    ) -> Result<mlua::Value, String> {
        if let Some((_, key)) = self.confs.borrow().get(&id) {
            return self.lua.registry_value(key).map_err(|e| e.to_string());
        }
        let array_mt: Table = self
            .lua
            .registry_value(&self.array_mt)
            .map_err(|e| e.to_string())?;
        let value =
            super::convert::to_lua(&self.lua, conf, &array_mt).map_err(|e| e.to_string())?;
        let key = self
            .lua
            .create_registry_value(value.clone())
            .map_err(|e| e.to_string())?;
        let mut confs = self.confs.borrow_mut();
        confs.insert(id, (Arc::downgrade(alive), key));
        if confs.len() > 64 && confs.len() > 2 * self.swept_at.get() {
            // Instances of replaced snapshots are gone: forget their tables.
            let dead: Vec<u64> = confs
                .iter()
                .filter(|(_, (w, _))| w.strong_count() == 0)
                .map(|(k, _)| *k)
                .collect();
            for k in dead {
                if let Some((_, key)) = confs.remove(&k) {
                    let _ = self.lua.remove_registry_value(key);
                }
            }
            self.swept_at.set(confs.len());
        }
        Ok(value)
    }
}

/// The globals every plugin environment reads: the safe standard library,
/// minus what `strait.lua.allow` does not allow.
fn sandbox_globals(lua: &Lua, settings: &Settings) -> mlua::Result<Table> {
    let allow = |a: LuaAllow| settings.allow.contains(&a);
    let g = lua.globals();
    let sandbox = lua.create_table()?;
    let mut names = vec![
        "assert",
        "error",
        "ipairs",
        "next",
        "pairs",
        "pcall",
        "xpcall",
        "print",
        "rawequal",
        "rawget",
        "rawset",
        "rawlen",
        "select",
        "setmetatable",
        "getmetatable",
        "tonumber",
        "tostring",
        "type",
        "unpack",
        "_VERSION",
        "newproxy",
        "table",
        "string",
        "math",
        "bit",
        "collectgarbage",
    ];
    if allow(LuaAllow::Load) {
        names.extend(["load", "loadstring", "dofile", "loadfile"]);
    }
    if allow(LuaAllow::Debug) {
        names.extend(["debug", "getfenv", "setfenv"]);
    }
    if allow(LuaAllow::Io) {
        names.push("io");
    }
    if allow(LuaAllow::Ffi) {
        names.extend(["ffi", "jit"]);
    }
    for name in names {
        let v: mlua::Value = g.raw_get(name)?;
        sandbox.raw_set(name, v)?;
    }
    // `string.dump` would hand out bytecode, which LuaJIT loads unchecked.
    if !allow(LuaAllow::Load) {
        let string: Table = g.raw_get("string")?;
        string.raw_set("dump", mlua::Value::Nil)?;
    }
    let os: Table = g.raw_get("os")?;
    if allow(LuaAllow::Os) {
        sandbox.raw_set("os", os)?;
    } else {
        let safe = lua.create_table()?;
        for name in ["time", "clock", "date", "difftime"] {
            safe.raw_set(name, os.raw_get::<mlua::Value>(name)?)?;
        }
        sandbox.raw_set("os", safe)?;
    }
    Ok(sandbox)
}
