//! Lua plugin files: each `*.lua` of the plugin directories is a module in
//! APISIX's shape (`_M = {version, priority, name, schema, …}` plus phase
//! functions). Loading runs the file once in a sandboxed VM to read its
//! identity and schemas; the source is then loaded into each worker's VM on
//! first use. A file that fails to load keeps its previous version in
//! service.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use mlua::Table;
use serde_json::Value;

use super::convert;
use super::vm::Vm;

/// The phases a module defines, as bits.
pub mod phase {
    /// `rewrite`.
    pub const REWRITE: u8 = 1;
    /// `access`.
    pub const ACCESS: u8 = 2;
    /// `before_proxy`.
    pub const BEFORE_PROXY: u8 = 4;
    /// `header_filter`.
    pub const HEADER_FILTER: u8 = 8;
    /// `body_filter`.
    pub const BODY_FILTER: u8 = 16;
    /// `log`.
    pub const LOG: u8 = 32;
    /// Every phase with its name.
    pub const ALL: [(&str, u8); 6] = [
        ("rewrite", REWRITE),
        ("access", ACCESS),
        ("before_proxy", BEFORE_PROXY),
        ("header_filter", HEADER_FILTER),
        ("body_filter", BODY_FILTER),
        ("log", LOG),
    ];
}

/// One loaded plugin file.
#[derive(Debug)]
pub struct ModuleSpec {
    /// The plugin's name: the file name without `.lua`.
    pub name: Arc<str>,
    /// Where it came from.
    pub path: PathBuf,
    /// Its source.
    pub source: Arc<str>,
    /// Changes whenever the file is loaded again.
    pub generation: u64,
    /// `_M.version`.
    pub version: Value,
    /// `_M.priority`.
    pub priority: i64,
    /// `_M.schema`.
    pub schema: Value,
    /// `_M.consumer_schema`.
    pub consumer_schema: Option<Value>,
    /// `_M.metadata_schema`.
    pub metadata_schema: Option<Value>,
    /// Whether `_M.check_schema` exists.
    pub has_check_schema: bool,
    /// The phases it defines ([`phase`] bits).
    pub phases: u8,
    /// Whether its source calls a request-body API (then the body is read
    /// before its chain runs).
    pub reads_body: bool,
}

/// The calls that read the request body (`core.request.*`, `ngx.req.*`).
const BODY_APIS: [&str; 6] = [
    "get_body",
    "read_body",
    "get_json_request_body_table",
    "get_request_body_table",
    "get_post_args",
    "set_body_data",
];

impl ModuleSpec {
    /// A module that is not a plugin (a Lua provider adapter): `name` keys
    /// it in each VM, so it must not be a plugin's name.
    pub fn library(name: String, path: &Path, source: String) -> ModuleSpec {
        ModuleSpec {
            name: Arc::from(name),
            path: path.to_path_buf(),
            source: Arc::from(source),
            generation: GENERATION.fetch_add(1, Ordering::Relaxed),
            version: Value::Null,
            priority: 0,
            schema: Value::Object(Default::default()),
            consumer_schema: None,
            metadata_schema: None,
            has_check_schema: false,
            phases: 0,
            reads_body: false,
        }
    }

    /// Whether this module was read from `path` and the file still holds
    /// the same source (then reloading it would change nothing).
    pub fn unchanged_at(&self, path: &Path) -> bool {
        self.path == path && std::fs::read_to_string(path).is_ok_and(|t| *self.source == *t)
    }

    /// Whether the module defines `bit` ([`phase`]).
    pub fn has(&self, bit: u8) -> bool {
        self.phases & bit != 0
    }
}

static GENERATION: AtomicU64 = AtomicU64::new(1);

/// Read `path` as a plugin module.
pub fn load_file(vm: &Vm, path: &Path) -> Result<ModuleSpec, String> {
    let name = path
        .file_stem()
        .and_then(|s| s.to_str())
        .ok_or("the file name is not UTF-8")?
        .to_string();
    let source = std::fs::read_to_string(path).map_err(|e| format!("cannot read: {e}"))?;
    let value = vm
        .eval_chunk(&source, &path.display().to_string())
        .map_err(|e| e.to_string())?;
    let mlua::Value::Table(m) = value else {
        return Err("the file must return the plugin's module table (`return _M`)".into());
    };
    let version = field(&m, "version")?.ok_or("missing field: version")?;
    let priority = match m
        .get::<mlua::Value>("priority")
        .map_err(|e| e.to_string())?
    {
        mlua::Value::Integer(i) => i,
        mlua::Value::Number(f) if f.fract() == 0.0 => f as i64,
        mlua::Value::Nil => return Err("missing field: priority".into()),
        _ => return Err("field priority must be an integer".into()),
    };
    let schema = match field(&m, "schema")? {
        Some(Value::Object(o)) => Value::Object(o),
        Some(Value::Array(a)) if a.is_empty() => Value::Object(Default::default()),
        Some(_) => return Err("field schema must be a table".into()),
        None => return Err("missing field: schema".into()),
    };
    if schema.pointer("/properties/_meta").is_some() {
        return Err("the schema must not declare `_meta`: every plugin gets it".into());
    }
    let mut phases = 0;
    for (fname, bit) in phase::ALL {
        if matches!(m.get::<mlua::Value>(fname), Ok(mlua::Value::Function(_))) {
            phases |= bit;
        }
    }
    Ok(ModuleSpec {
        name: Arc::from(name),
        path: path.to_path_buf(),
        source: Arc::from(source.as_str()),
        generation: GENERATION.fetch_add(1, Ordering::Relaxed),
        version,
        priority,
        schema,
        consumer_schema: field(&m, "consumer_schema")?,
        metadata_schema: field(&m, "metadata_schema")?,
        has_check_schema: matches!(
            m.get::<mlua::Value>("check_schema"),
            Ok(mlua::Value::Function(_))
        ),
        phases,
        reads_body: BODY_APIS.iter().any(|api| source.contains(api)),
    })
}

fn field(m: &Table, name: &str) -> Result<Option<Value>, String> {
    let v: mlua::Value = m.get(name).map_err(|e| e.to_string())?;
    if v.is_nil() {
        return Ok(None);
    }
    let converted = if name == "version" {
        convert::from_lua(&v, None)
    } else {
        convert::schema_from_lua(&v, None)
    };
    converted
        .map(Some)
        .map_err(|e| format!("field {name}: {e}"))
}

/// The `*.lua` files of `dirs`, by plugin name (the first directory wins).
fn plugin_files(dirs: &[PathBuf]) -> (BTreeMap<String, PathBuf>, Vec<String>) {
    lua_files(dirs, None)
}

/// The `*.lua` files directly in `dirs` (or in their subdirectory `sub`),
/// by file stem (the first directory wins). A missing `sub` is no problem.
pub fn lua_files(dirs: &[PathBuf], sub: Option<&str>) -> (BTreeMap<String, PathBuf>, Vec<String>) {
    let mut files = BTreeMap::new();
    let mut problems = Vec::new();
    for dir in dirs {
        let dir = match sub {
            Some(s) => dir.join(s),
            None => dir.clone(),
        };
        let entries = match std::fs::read_dir(&dir) {
            Err(e) if sub.is_some() && e.kind() == std::io::ErrorKind::NotFound => continue,
            Ok(e) => e,
            Err(e) => {
                problems.push(format!("{}: {e}", dir.display()));
                continue;
            }
        };
        let mut paths: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "lua") && p.is_file())
            .collect();
        paths.sort();
        for p in paths {
            if let Some(stem) = p.file_stem().and_then(|s| s.to_str()) {
                files.entry(stem.to_string()).or_insert(p);
            }
        }
    }
    (files, problems)
}

/// A file's identity for change detection: path, length, modification time.
pub type Stamp = (PathBuf, u64, Option<std::time::SystemTime>);

/// The stamps of every Lua file of `dirs`: plugins, provider adapters and
/// the helper modules plugins `require`.
pub fn stamps(dirs: &[PathBuf]) -> Vec<Stamp> {
    let (files, _) = plugin_files(dirs);
    let (providers, _) = lua_files(dirs, Some(super::provider::DIR));
    let mut all: Vec<Stamp> = files
        .into_values()
        .chain(providers.into_values())
        .map(|p| stamp(&p))
        .collect();
    all.extend(helper_stamps(dirs));
    all
}

fn stamp(path: &Path) -> Stamp {
    let meta = std::fs::metadata(path).ok();
    let len = meta.as_ref().map_or(0, |m| m.len());
    let modified = meta.and_then(|m| m.modified().ok());
    (path.to_path_buf(), len, modified)
}

/// Deepest subdirectory searched for helper modules.
const MAX_DEPTH: usize = 8;

/// The stamps of the `*.lua` files in the subdirectories of `dirs` (helper
/// modules; provider adapters excepted), sorted. Symbolic links to
/// directories are not followed.
fn helper_stamps(dirs: &[PathBuf]) -> Vec<Stamp> {
    fn walk(dir: &Path, depth: usize, out: &mut Vec<Stamp>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.filter_map(Result::ok) {
            let Ok(kind) = e.file_type() else { continue };
            let path = e.path();
            let providers = depth == 0 && e.file_name() == super::provider::DIR;
            if kind.is_dir() && depth < MAX_DEPTH && !providers {
                walk(&path, depth + 1, out);
            } else if depth > 0 && path.extension().is_some_and(|x| x == "lua") {
                out.push(stamp(&path));
            }
        }
    }
    let mut out = Vec::new();
    for dir in dirs {
        walk(dir, 0, &mut out);
    }
    out.sort();
    out
}

static HELPERS: Mutex<Vec<Stamp>> = Mutex::new(Vec::new());
static HELPERS_GENERATION: AtomicU64 = AtomicU64::new(0);

/// Changes whenever a helper module file changes; each VM then empties its
/// `require` cache.
pub fn helpers_generation() -> u64 {
    HELPERS_GENERATION.load(Ordering::Acquire)
}

/// Whether the helper modules of `dirs` changed since the last call (the
/// first call counts as a change only when there are helpers).
pub fn helpers_changed(dirs: &[PathBuf]) -> bool {
    let now = helper_stamps(dirs);
    let mut seen = HELPERS.lock().unwrap_or_else(|p| p.into_inner());
    if *seen == now {
        return false;
    }
    *seen = now;
    HELPERS_GENERATION.fetch_add(1, Ordering::AcqRel);
    true
}

/// What the last load produced: the modules in service, and the problems.
#[derive(Debug, Default, Clone)]
pub struct LoadReport {
    /// Modules in service, by name.
    pub modules: BTreeMap<String, Arc<ModuleSpec>>,
    /// `file: reason` for each file that failed (its previous version, if
    /// any, stays in service).
    pub errors: Vec<String>,
}

static CURRENT: Mutex<Option<LoadReport>> = Mutex::new(None);

/// Load every plugin file of `dirs`; a file that fails keeps its previous
/// version. Files whose content did not change keep their generation,
/// unless `all` (the helper modules they may require changed).
pub fn load_all(vm: &Vm, dirs: &[PathBuf], all: bool) -> LoadReport {
    let previous = CURRENT
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone()
        .unwrap_or_default();
    let (files, mut errors) = plugin_files(dirs);
    let mut modules = BTreeMap::new();
    for (name, path) in files {
        let unchanged = previous
            .modules
            .get(&name)
            .filter(|old| !all && old.unchanged_at(&path));
        if let Some(old) = unchanged {
            modules.insert(name, old.clone());
            continue;
        }
        match load_file(vm, &path) {
            Ok(spec) => {
                modules.insert(name, Arc::new(spec));
            }
            Err(e) => {
                tracing::error!(plugin = %name, file = %path.display(), "Lua plugin not loaded: {e}");
                errors.push(format!("{}: {e}", path.display()));
                if let Some(old) = previous.modules.get(&name) {
                    modules.insert(name, old.clone());
                }
            }
        }
    }
    let report = LoadReport { modules, errors };
    *CURRENT.lock().unwrap_or_else(|p| p.into_inner()) = Some(report.clone());
    report
}
