//! JSON Schema validation (the draft-4/6/7 subset APISIX's schemas use) with the error
//! messages of api7/jsonschema, the Lua validator behind APISIX's Admin API.
//!
//! Users and tools match on APISIX's messages, so the wording here is theirs, e.g.
//! `property "upstream" validation failed: property "nodes" validation failed: …`.
//! A schema is compiled once (`compile.rs`: keyword checks, regexes, `$ref`s) into a flat
//! list of nodes; validation walks that list and only builds a message on failure.
//!
//! Order of checks within one schema (it decides which failure is reported first):
//! 1. `type`;
//! 2. objects: `required` (listed order), `properties` (key order of the schema map),
//!    `dependencies`, then per key of the value (in key order) `patternProperties`,
//!    `additionalProperties` and `propertyNames`, then `minProperties`/`maxProperties`;
//! 3. arrays: `minItems`, `maxItems`, `items`/`additionalItems`, `uniqueItems`;
//! 4. strings: `minLength`, `maxLength`, `pattern`;
//! 5. numbers: `minimum`, `exclusiveMinimum`, `maximum`, `exclusiveMaximum`, `multipleOf`;
//! 6. `enum`, `allOf`, `anyOf`, `oneOf`, `if`/`then`/`else`, `not`, `format`, `const`.
//!
//! Defaults are filled in by a second pass over a value that already validated, so a
//! branch that was tried and failed never leaves defaults behind.

mod compile;
mod lua;

use std::net::{Ipv4Addr, Ipv6Addr};

use regex::bytes::Regex;
use serde_json::{Map, Value};

use lua::{lua_number, lua_quote, lua_type};

/// Returns early with an error whose message is formatted only when `verbose`: callers
/// that just need a yes/no (oneOf, anyOf, not, if) get an empty, allocation-free error.
macro_rules! bail {
    ($verbose:expr, $($message:tt)+) => {
        return Err(if $verbose { format!($($message)+) } else { String::new() })
    };
}

/// Runs a nested check; on failure returns its error prefixed with where it happened.
macro_rules! nested {
    ($verbose:expr, $check:expr, $($head:tt)+) => {
        if let Err(e) = $check {
            return Err(if $verbose { format!($($head)+) + &e } else { e });
        }
    };
}

/// The name APISIX's validator gives a value's type in messages (`string`,
/// `number`, `table`, ...).
pub fn lua_type_name(value: &Value) -> &'static str {
    lua::lua_type(value)
}

/// A compiled schema (regexes compiled once; cheap to share behind Arc; Send + Sync).
#[derive(Debug)]
pub struct Schema {
    doc: Value,
    /// Node 0 is the root; children refer to each other by index so `$ref` may form cycles.
    nodes: Vec<Node>,
}

impl Schema {
    /// Compile a schema document; errors name the JSON pointer of the bad keyword.
    pub fn compile(doc: &Value) -> Result<Schema, String> {
        let nodes = compile::compile(doc)?;
        Ok(Schema {
            doc: doc.clone(),
            nodes,
        })
    }

    /// A schema that rejects every value (`false`), for when a document fails to compile.
    pub fn reject_everything() -> Schema {
        Schema {
            doc: Value::Bool(false),
            nodes: vec![Node::Never],
        }
    }

    /// The document it was compiled from (served as-is by the Admin API's schema endpoints).
    pub fn document(&self) -> &Value {
        &self.doc
    }

    /// Check `value`; the error is the APISIX-style message of the first failure.
    pub fn validate(&self, value: &Value) -> Result<(), String> {
        self.check(ROOT, value, true)
    }

    /// Check `value`, then fill in `default`s of absent properties, recursively through
    /// `properties`, `patternProperties`, `additionalProperties`, `items`, `allOf`, the
    /// first matching `anyOf` branch, the matching `oneOf` branch and the `then`/`else`
    /// branch taken. Nothing is inserted when validation fails.
    pub fn validate_and_default(&self, value: &mut Value) -> Result<(), String> {
        self.validate(value)?;
        self.fill(ROOT, value);
        Ok(())
    }

    fn is_valid(&self, id: usize, value: &Value) -> bool {
        self.check(id, value, false).is_ok()
    }

    /// Validates `value` against node `id`; see `bail!` for `verbose`.
    fn check(&self, id: usize, value: &Value, verbose: bool) -> Result<(), String> {
        let rules = match &self.nodes[id] {
            Node::Any => return Ok(()),
            Node::Never => bail!(verbose, "expect false always"),
            Node::Ref(target) => return self.check(*target, value, verbose),
            Node::Rules(rules) => rules,
        };
        if let Some(types) = rules.types.as_ref().filter(|t| !t.accepts(value)) {
            let got = lua_type(value);
            bail!(
                verbose,
                "wrong type: expected {}, got {got}",
                types.expected
            );
        }
        match value {
            Value::Object(map) => self.check_object(rules, value, map, verbose)?,
            Value::Array(items) => self.check_array(rules, items, verbose)?,
            Value::String(s) => check_string(rules, s, verbose)?,
            Value::Number(n) => check_number(rules, n.as_f64().unwrap_or(f64::NAN), verbose)?,
            Value::Null | Value::Bool(_) => {}
        }
        self.check_generic(rules, value, verbose)
    }

    fn check_object(
        &self,
        rules: &Rules,
        value: &Value,
        map: &Map<String, Value>,
        verbose: bool,
    ) -> Result<(), String> {
        if let Some(name) = rules.required.iter().find(|n| !map.contains_key(*n)) {
            bail!(verbose, "property \"{name}\" is required");
        }
        for (name, child) in &rules.properties {
            if let Some(v) = map.get(name) {
                let check = self.check(*child, v, verbose);
                nested!(verbose, check, "property \"{name}\" validation failed: ");
            }
        }
        for (name, dependency) in rules.dependencies.iter().filter(|d| map.contains_key(&d.0)) {
            match dependency {
                Dependency::Properties(needed) => {
                    if let Some(missing) = needed.iter().find(|n| !map.contains_key(*n)) {
                        let (m, n) = (missing, name);
                        bail!(verbose, "property \"{m}\" is required when \"{n}\" is set");
                    }
                }
                Dependency::Schema(child) => {
                    let check = self.check(*child, value, verbose);
                    let head = "failed to validate dependent schema for";
                    nested!(verbose, check, "{head} \"{name}\": ");
                }
            }
        }
        if rules.walks_keys() {
            for (key, v) in map {
                self.check_key(rules, key, v, verbose)?;
            }
        }
        if let Some(min) = rules.min_properties.filter(|min| map.len() < *min) {
            bail!(verbose, "expect object to have at least {min} properties");
        }
        if let Some(max) = rules.max_properties.filter(|max| map.len() > *max) {
            bail!(verbose, "expect object to have at most {max} properties");
        }
        Ok(())
    }

    /// patternProperties, additionalProperties and propertyNames for one key of an object.
    fn check_key(&self, rules: &Rules, key: &str, v: &Value, verbose: bool) -> Result<(), String> {
        let mut matched = false;
        for pp in &rules.pattern_properties {
            if pp.regex.is_match(key.as_bytes()) {
                matched = true;
                let check = self.check(pp.node, v, verbose);
                let pattern = &pp.source;
                nested!(
                    verbose,
                    check,
                    "failed to validate {key} (matching \"{pattern}\"): "
                );
            }
        }
        if !matched && !rules.declares(key) {
            match rules.additional_properties {
                Extra::Allowed => {}
                Extra::Forbidden => bail!(verbose, "additional properties forbidden, found {key}"),
                Extra::Schema(child) => {
                    let check = self.check(child, v, verbose);
                    nested!(
                        verbose,
                        check,
                        "failed to validate additional property {key}: "
                    );
                }
            }
        }
        if let Some(names) = rules.property_names {
            // Rarely used, so the one String per key it costs is acceptable.
            let check = self.check(names, &Value::String(key.to_owned()), verbose);
            nested!(
                verbose,
                check,
                "property name \"{key}\" validation failed: "
            );
        }
        Ok(())
    }

    fn check_array(&self, rules: &Rules, items: &[Value], verbose: bool) -> Result<(), String> {
        if let Some(min) = rules.min_items.filter(|min| items.len() < *min) {
            bail!(verbose, "expect array to have at least {min} items");
        }
        if let Some(max) = rules.max_items.filter(|max| items.len() > *max) {
            bail!(verbose, "expect array to have at most {max} items");
        }
        let (tuple, rest) = rules.item_schemas();
        for (i, (child, item)) in tuple.iter().zip(items).enumerate() {
            let check = self.check(*child, item, verbose);
            nested!(verbose, check, "failed to validate item {}: ", i + 1);
        }
        let extra = items.iter().enumerate().skip(tuple.len());
        match rest {
            Extra::Allowed => {}
            Extra::Forbidden if items.len() > tuple.len() => {
                bail!(verbose, "found unexpected extra items in array")
            }
            Extra::Forbidden => {}
            // A list schema (`items: {}`) reads "item N", tuple overflow "additional item N".
            Extra::Schema(child) => {
                let what = if tuple.is_empty() { "" } else { "additional " };
                for (i, item) in extra {
                    let check = self.check(child, item, verbose);
                    nested!(verbose, check, "failed to validate {what}item {}: ", i + 1);
                }
            }
        }
        if rules.unique_items {
            if let Some((i, j)) = first_duplicate(items) {
                let (i, j) = (i + 1, j + 1);
                bail!(
                    verbose,
                    "expected unique items but items {i} and {j} are equal"
                );
            }
        }
        Ok(())
    }

    /// Keywords that apply to every JSON type, in api7/jsonschema's order.
    fn check_generic(&self, rules: &Rules, value: &Value, verbose: bool) -> Result<(), String> {
        if let Some(allowed) = &rules.enumeration {
            if !allowed.iter().any(|a| json_eq(a, value)) {
                bail!(verbose, "matches none of the enum values");
            }
        }
        for (i, child) in rules.all_of.iter().enumerate() {
            nested!(
                verbose,
                self.check(*child, value, verbose),
                "allOf {} failed: ",
                i + 1
            );
        }
        if !rules.any_of.is_empty() && !rules.any_of.iter().any(|c| self.is_valid(*c, value)) {
            bail!(verbose, "{}", rules.any_of_message);
        }
        if !rules.one_of.is_empty() {
            let mut matched = None;
            for (i, child) in rules.one_of.iter().enumerate() {
                if self.is_valid(*child, value) {
                    if let Some(first) = matched {
                        bail!(
                            verbose,
                            "value should match only one schema, but matches both schemas {} and {}",
                            first + 1,
                            i + 1
                        );
                    }
                    matched = Some(i);
                }
            }
            if matched.is_none() {
                bail!(
                    verbose,
                    "value should match only one schema, but matches none"
                );
            }
        }
        if let Some(cond) = &rules.conditional {
            // api7/jsonschema reports only which clause failed, not why.
            if self.is_valid(cond.when, value) {
                if cond.then.is_some_and(|t| !self.is_valid(t, value)) {
                    bail!(verbose, "then clause did not match");
                }
            } else if cond.otherwise.is_some_and(|e| !self.is_valid(e, value)) {
                bail!(verbose, "else clause did not match");
            }
        }
        if rules.not.is_some_and(|child| self.is_valid(child, value)) {
            bail!(verbose, "value wasn't supposed to match schema");
        }
        if let (Some(format), Value::String(s)) = (&rules.format, value) {
            if !format.accepts(s) {
                bail!(verbose, "expect valid {} format but got: {s}", format.name);
            }
        }
        if rules.constant.as_ref().is_some_and(|c| !json_eq(c, value)) {
            bail!(verbose, "failed to check const value");
        }
        Ok(())
    }

    /// Second pass of `validate_and_default`: `value` is known to be valid against `id`.
    fn fill(&self, id: usize, value: &mut Value) {
        let rules = match &self.nodes[id] {
            Node::Any | Node::Never => return,
            Node::Ref(target) => return self.fill(*target, value),
            Node::Rules(rules) => rules,
        };
        match value {
            Value::Object(map) => {
                for (name, child) in &rules.properties {
                    match map.get_mut(name) {
                        Some(v) => self.fill(*child, v),
                        None => {
                            if let Some(default) = self.default_of(*child) {
                                map.insert(name.clone(), default.clone());
                            }
                        }
                    }
                }
                for (key, v) in map.iter_mut() {
                    self.fill_key(rules, key, v);
                }
            }
            Value::Array(items) => {
                let (tuple, rest) = rules.item_schemas();
                for (child, v) in tuple.iter().zip(items.iter_mut()) {
                    self.fill(*child, v);
                }
                if let Extra::Schema(child) = rest {
                    for v in items.iter_mut().skip(tuple.len()) {
                        self.fill(child, v);
                    }
                }
            }
            _ => {}
        }
        // Branches are picked on the value as filled so far, as api7/jsonschema does
        // (it inserts property defaults before it evaluates the combinators).
        for (name, dependency) in &rules.dependencies {
            if let (Dependency::Schema(child), true) = (dependency, value.get(name).is_some()) {
                self.fill(*child, value);
            }
        }
        for child in &rules.all_of {
            self.fill(*child, value);
        }
        if let Some(child) = rules.any_of.iter().find(|c| self.is_valid(**c, value)) {
            self.fill(*child, value);
        }
        if let Some(child) = rules.one_of.iter().find(|c| self.is_valid(**c, value)) {
            self.fill(*child, value);
        }
        if let Some(cond) = &rules.conditional {
            let branch = if self.is_valid(cond.when, value) {
                cond.then
            } else {
                cond.otherwise
            };
            if let Some(child) = branch {
                self.fill(child, value);
            }
        }
    }

    fn fill_key(&self, rules: &Rules, key: &str, v: &mut Value) {
        if rules.declares(key) {
            return; // already filled through `properties`
        }
        let mut matched = false;
        for pp in &rules.pattern_properties {
            if pp.regex.is_match(key.as_bytes()) {
                matched = true;
                self.fill(pp.node, v);
            }
        }
        if let (false, Extra::Schema(child)) = (matched, rules.additional_properties) {
            self.fill(child, v);
        }
    }

    /// The `default` a property schema declares (through `$ref`s); null defaults are
    /// skipped as api7/jsonschema does.
    fn default_of(&self, id: usize) -> Option<&Value> {
        match &self.nodes[id] {
            Node::Ref(target) => self.default_of(*target),
            Node::Rules(rules) => rules.default.as_ref().filter(|d| !d.is_null()),
            Node::Any | Node::Never => None,
        }
    }
}

fn check_string(rules: &Rules, s: &str, verbose: bool) -> Result<(), String> {
    if rules.min_length.is_some() || rules.max_length.is_some() {
        // JSON Schema counts characters (Unicode scalar values), not bytes.
        let len = s.chars().count();
        if let Some(min) = rules.min_length.filter(|min| len < *min) {
            bail!(
                verbose,
                "string too short, expected at least {min}, got {len}"
            );
        }
        if let Some(max) = rules.max_length.filter(|max| len > *max) {
            bail!(
                verbose,
                "string too long, expected at most {max}, got {len}"
            );
        }
    }
    if let Some(pattern) = rules
        .pattern
        .as_ref()
        .filter(|p| !p.regex.is_match(s.as_bytes()))
    {
        // The one message that keeps Lua's `%q` escaping (see `lua.rs`).
        let (p, v) = (lua_quote(&pattern.source), lua_quote(s));
        bail!(verbose, "failed to match pattern {p} with {v}");
    }
    Ok(())
}

fn check_number(rules: &Rules, x: f64, verbose: bool) -> Result<(), String> {
    /// A bound, the words of its message, and the test that `x` breaks it.
    type Bound<'a> = (&'a Option<Limit>, &'static str, fn(f64, f64) -> bool);
    let checks: [Bound; 4] = [
        (&rules.minimum, "at least", |x, l| x < l),
        (&rules.exclusive_minimum, "greater than", |x, l| x <= l),
        (&rules.maximum, "at most", |x, l| x > l),
        (&rules.exclusive_maximum, "smaller than", |x, l| x >= l),
    ];
    for (limit, words, out_of_range) in checks {
        if let Some(l) = limit.as_ref().filter(|l| out_of_range(x, l.value)) {
            bail!(
                verbose,
                "expected {} to be {words} {}",
                lua_number(x),
                l.text
            );
        }
    }
    if let Some(l) = &rules.multiple_of {
        let off = if l.value.fract() == 0.0 {
            x % l.value != 0.0
        } else {
            // Relative tolerance, so 1.13 is a multiple of 0.01 despite IEEE 754.
            let quotient = x / l.value;
            let rounded = quotient.round();
            (quotient - rounded).abs() > 1e-12 * rounded.abs().max(1.0)
        };
        if off {
            bail!(
                verbose,
                "expected {} to be a multiple of {}",
                lua_number(x),
                l.text
            );
        }
    }
    Ok(())
}

const ROOT: usize = 0;

/// One compiled (sub)schema.
#[derive(Debug)]
enum Node {
    /// `true` or `{}`-like schemas with no assertion.
    Any,
    /// `false`.
    Never,
    /// `{"$ref": "#/definitions/NAME"}`, pointing at the definition's node.
    Ref(usize),
    Rules(Box<Rules>),
}

/// The assertions of one schema object; child schemas are node indexes.
#[derive(Debug, Default)]
struct Rules {
    types: Option<Types>,
    required: Vec<String>,
    properties: Vec<(String, usize)>,
    /// Indexes into `properties` sorted by name, for `declares`.
    property_index: Vec<usize>,
    dependencies: Vec<(String, Dependency)>,
    pattern_properties: Vec<PatternProperty>,
    additional_properties: Extra,
    property_names: Option<usize>,
    min_properties: Option<usize>,
    max_properties: Option<usize>,
    min_items: Option<usize>,
    max_items: Option<usize>,
    items: Items,
    additional_items: Extra,
    unique_items: bool,
    min_length: Option<usize>,
    max_length: Option<usize>,
    pattern: Option<Pattern>,
    format: Option<Format>,
    minimum: Option<Limit>,
    exclusive_minimum: Option<Limit>,
    maximum: Option<Limit>,
    exclusive_maximum: Option<Limit>,
    multiple_of: Option<Limit>,
    enumeration: Option<Vec<Value>>,
    constant: Option<Value>,
    all_of: Vec<usize>,
    any_of: Vec<usize>,
    /// Built at compile time: names the `required` sets of the anyOf branches.
    any_of_message: String,
    one_of: Vec<usize>,
    conditional: Option<Conditional>,
    not: Option<usize>,
    default: Option<Value>,
}

impl Rules {
    /// Whether `properties` names `key`.
    fn declares(&self, key: &str) -> bool {
        self.property_index
            .binary_search_by(|i| self.properties[*i].0.as_str().cmp(key))
            .is_ok()
    }

    /// The schemas of the leading items (tuple form) and of the items after them.
    fn item_schemas(&self) -> (&[usize], Extra) {
        match &self.items {
            Items::Any => (&[], Extra::Allowed),
            Items::All(child) => (&[], Extra::Schema(*child)),
            Items::Tuple(children) => (children, self.additional_items),
        }
    }

    /// Whether each key of an object has to be looked at (skipped for plain `properties`).
    fn walks_keys(&self) -> bool {
        !self.pattern_properties.is_empty()
            || !matches!(self.additional_properties, Extra::Allowed)
            || self.property_names.is_some()
    }
}

/// The `type` keyword: a bit per JSON type plus the text used in messages.
#[derive(Debug)]
struct Types {
    mask: u8,
    /// `string` for one type, `one of string, number` for several.
    expected: String,
}

const T_NULL: u8 = 1;
const T_BOOLEAN: u8 = 2;
const T_OBJECT: u8 = 4;
const T_ARRAY: u8 = 8;
const T_NUMBER: u8 = 16;
const T_STRING: u8 = 32;
const T_INTEGER: u8 = 64;

impl Types {
    fn accepts(&self, value: &Value) -> bool {
        let bit = match value {
            Value::Null => T_NULL,
            Value::Bool(_) => T_BOOLEAN,
            Value::Object(_) => T_OBJECT,
            Value::Array(_) => T_ARRAY,
            Value::String(_) => T_STRING,
            // 1.0 and 1e3 are integers too, as in api7/jsonschema (`x % 1.0 == 0.0`).
            Value::Number(n) if n.is_i64() || n.is_u64() => T_NUMBER | T_INTEGER,
            Value::Number(n) if n.as_f64().is_some_and(|f| f.fract() == 0.0) => {
                T_NUMBER | T_INTEGER
            }
            Value::Number(_) => T_NUMBER,
        };
        self.mask & bit != 0
    }
}

#[derive(Debug, Default, Clone, Copy)]
enum Extra {
    #[default]
    Allowed,
    Forbidden,
    Schema(usize),
}

#[derive(Debug, Default)]
enum Items {
    #[default]
    Any,
    All(usize),
    Tuple(Vec<usize>),
}

#[derive(Debug)]
enum Dependency {
    Properties(Vec<String>),
    Schema(usize),
}

#[derive(Debug)]
struct PatternProperty {
    source: String,
    regex: Regex,
    node: usize,
}

#[derive(Debug)]
struct Pattern {
    source: String,
    regex: Regex,
}

/// A numeric bound and its text as Lua prints it (the message shows the schema's number).
#[derive(Debug)]
struct Limit {
    value: f64,
    text: String,
}

#[derive(Debug)]
struct Conditional {
    when: usize,
    then: Option<usize>,
    otherwise: Option<usize>,
}

/// A `format` api7/jsonschema checks; other formats are annotations.
#[derive(Debug)]
struct Format {
    name: &'static str,
    check: FormatCheck,
}

#[derive(Debug)]
enum FormatCheck {
    Ipv4,
    Ipv6,
    Regex(Regex),
}

impl Format {
    fn accepts(&self, s: &str) -> bool {
        match &self.check {
            FormatCheck::Ipv4 => s.parse::<Ipv4Addr>().is_ok(),
            FormatCheck::Ipv6 => s.parse::<Ipv6Addr>().is_ok(),
            FormatCheck::Regex(re) => re.is_match(s.as_bytes()),
        }
    }
}

/// JSON equality where numbers compare by value (`1 == 1.0`), as in Lua.
fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            if let (Some(x), Some(y)) = (x.as_i64(), y.as_i64()) {
                x == y
            } else if let (Some(x), Some(y)) = (x.as_u64(), y.as_u64()) {
                x == y
            } else {
                x.as_f64() == y.as_f64()
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| json_eq(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

/// The first pair (i < j, smallest j) of equal items. Arrays of strings (the
/// common case: `uris`, `hosts`, `methods`) are checked with a hash set, so a
/// large array costs linear time; other arrays compare pairwise.
fn first_duplicate(items: &[Value]) -> Option<(usize, usize)> {
    if items.iter().all(Value::is_string) {
        let mut seen: std::collections::HashMap<&str, usize> =
            std::collections::HashMap::with_capacity(items.len());
        for (j, v) in items.iter().enumerate() {
            let s = v.as_str().unwrap_or_default();
            if let Some(i) = seen.insert(s, j) {
                return Some((i, j));
            }
        }
        return None;
    }
    if items.iter().all(Value::is_number) {
        let mut seen: std::collections::HashMap<u64, usize> =
            std::collections::HashMap::with_capacity(items.len());
        for (j, v) in items.iter().enumerate() {
            // Equal JSON numbers (1 and 1.0) have equal f64 bits; -0.0 is 0.0.
            let f = v.as_f64().unwrap_or_default() + 0.0;
            if let Some(i) = seen.insert(f.to_bits(), j) {
                if json_eq(&items[i], v) {
                    return Some((i, j));
                }
            }
        }
        return None;
    }
    (1..items.len()).find_map(|j| {
        (0..j)
            .find(|i| json_eq(&items[*i], &items[j]))
            .map(|i| (i, j))
    })
}

#[cfg(test)]
mod tests;
