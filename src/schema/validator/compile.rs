//! Turns a JSON Schema document into the validator's nodes: checks every keyword's value,
//! compiles regexes, resolves `$ref`s to `#/definitions/NAME`, and rejects unknown
//! keywords (a typo in a schema would otherwise silently accept anything). Errors read
//! `#/properties/uri/minLenght: unknown keyword`.

use std::collections::HashMap;

use regex::bytes::{Regex, RegexBuilder};
use serde_json::{Map, Value};

use super::{
    lua_number, Conditional, Dependency, Extra, Format, FormatCheck, Items, Limit, Node, Pattern,
    PatternProperty, Rules, Types, ROOT, T_ARRAY, T_BOOLEAN, T_INTEGER, T_NULL, T_NUMBER, T_OBJECT,
    T_STRING,
};

/// Keywords that carry no assertion; `x-*` keys are accepted as well.
const ANNOTATIONS: &[&str] = &[
    "$comment",
    "$id",
    "$schema",
    "deprecated",
    "description",
    "encrypt_fields",
    "examples",
    "id",
    "readOnly",
    "title",
    "writeOnly",
];

/// Compiles `doc`; node 0 of the result is the root.
pub(super) fn compile(doc: &Value) -> Result<Vec<Node>, String> {
    let mut c = Compiler {
        nodes: vec![Node::Any],
        pointers: vec![String::new()],
        definitions: HashMap::new(),
    };
    if let Some(defs) = doc.get("definitions") {
        let defs = object(defs, "/definitions")?;
        // Reserve every slot first so definitions may refer to each other in any order.
        let mut slots = Vec::with_capacity(defs.len());
        for (name, schema) in defs {
            let pointer = format!("/definitions/{}", escape(name));
            let slot = c.push(Node::Any, pointer.clone());
            c.definitions.insert(name.clone(), slot);
            slots.push((slot, schema, pointer));
        }
        for (slot, schema, pointer) in slots {
            c.nodes[slot] = c.node(schema, &pointer)?;
        }
    }
    c.nodes[ROOT] = c.node(doc, "")?;
    c.reject_cycles()?;
    Ok(c.nodes)
}

struct Compiler {
    nodes: Vec<Node>,
    /// JSON pointer of each node, for error messages only.
    pointers: Vec<String>,
    definitions: HashMap<String, usize>,
}

impl Compiler {
    fn push(&mut self, node: Node, pointer: String) -> usize {
        self.nodes.push(node);
        self.pointers.push(pointer);
        self.nodes.len() - 1
    }

    /// Compiles a subschema and returns its node index.
    fn child(&mut self, schema: &Value, pointer: String) -> Result<usize, String> {
        let node = self.node(schema, &pointer)?;
        Ok(self.push(node, pointer))
    }

    /// Compiles a non-empty array of subschemas (allOf, anyOf, oneOf, tuple items).
    fn children(&mut self, list: &Value, pointer: &str) -> Result<Vec<usize>, String> {
        let list = array(list, pointer)?;
        if list.is_empty() {
            return Err(at(pointer, "must not be empty"));
        }
        let mut out = Vec::with_capacity(list.len());
        for (i, schema) in list.iter().enumerate() {
            out.push(self.child(schema, format!("{pointer}/{i}"))?);
        }
        Ok(out)
    }

    fn node(&mut self, schema: &Value, pointer: &str) -> Result<Node, String> {
        match schema {
            Value::Bool(true) => Ok(Node::Any),
            Value::Bool(false) => Ok(Node::Never),
            Value::Object(obj) => match obj.get("$ref") {
                Some(target) => self.reference(obj, target, pointer),
                None => Ok(Node::Rules(Box::new(self.rules(obj, pointer)?))),
            },
            _ => Err(at(pointer, "a schema must be an object or a boolean")),
        }
    }

    fn reference(
        &self,
        obj: &Map<String, Value>,
        target: &Value,
        pointer: &str,
    ) -> Result<Node, String> {
        // JSON Schema ignores keywords beside `$ref`; reject them so none is lost unnoticed.
        let allowed =
            |k: &str| k == "$ref" || is_annotation(k) || (pointer.is_empty() && k == "definitions");
        if let Some(key) = obj.keys().find(|k| !allowed(k)) {
            return Err(at(
                &join(pointer, key),
                "keywords beside $ref are not supported",
            ));
        }
        let pointer = join(pointer, "$ref");
        let target = string(target, &pointer)?;
        let name = target
            .strip_prefix("#/definitions/")
            .filter(|name| !name.contains('/'))
            .ok_or_else(|| {
                at(
                    &pointer,
                    "only \"#/definitions/NAME\" references are supported",
                )
            })?;
        let name = name.replace("~1", "/").replace("~0", "~");
        match self.definitions.get(&name) {
            Some(slot) => Ok(Node::Ref(*slot)),
            None => Err(at(&pointer, &format!("no definition named \"{name}\""))),
        }
    }

    fn rules(&mut self, obj: &Map<String, Value>, pointer: &str) -> Result<Rules, String> {
        let mut r = Rules::default();
        let (mut exclusive_min, mut exclusive_max) = (false, false);
        let (mut when, mut then, mut otherwise) = (None, None, None);
        for (key, v) in obj {
            let p = join(pointer, key);
            match key.as_str() {
                "type" => r.types = Some(types(v, &p)?),
                "required" => r.required = strings(v, &p)?,
                "properties" => {
                    for (name, schema) in object(v, &p)? {
                        let child = self.child(schema, join(&p, name))?;
                        r.properties.push((name.clone(), child));
                    }
                    let mut index: Vec<usize> = (0..r.properties.len()).collect();
                    index.sort_by(|a, b| r.properties[*a].0.cmp(&r.properties[*b].0));
                    r.property_index = index;
                }
                "dependencies" => {
                    for (name, dep) in object(v, &p)? {
                        let dp = join(&p, name);
                        let dep = match dep {
                            Value::Array(_) => Dependency::Properties(strings(dep, &dp)?),
                            _ => Dependency::Schema(self.child(dep, dp)?),
                        };
                        r.dependencies.push((name.clone(), dep));
                    }
                }
                "patternProperties" => {
                    for (source, schema) in object(v, &p)? {
                        let pp = join(&p, source);
                        let regex = regex(source, &pp)?;
                        let node = self.child(schema, pp)?;
                        let source = source.clone();
                        r.pattern_properties.push(PatternProperty {
                            source,
                            regex,
                            node,
                        });
                    }
                }
                "additionalProperties" => r.additional_properties = self.extra(v, p)?,
                "propertyNames" => r.property_names = Some(self.child(v, p)?),
                "minProperties" => r.min_properties = Some(count(v, &p)?),
                "maxProperties" => r.max_properties = Some(count(v, &p)?),
                "items" => {
                    r.items = match v {
                        Value::Array(_) => Items::Tuple(self.children(v, &p)?),
                        _ => Items::All(self.child(v, p)?),
                    }
                }
                "additionalItems" => r.additional_items = self.extra(v, p)?,
                "minItems" => r.min_items = Some(count(v, &p)?),
                "maxItems" => r.max_items = Some(count(v, &p)?),
                "uniqueItems" => r.unique_items = boolean(v, &p)?,
                "minLength" => r.min_length = Some(count(v, &p)?),
                "maxLength" => r.max_length = Some(count(v, &p)?),
                "pattern" => {
                    let source = string(v, &p)?;
                    let regex = regex(source, &p)?;
                    let source = source.to_owned();
                    r.pattern = Some(Pattern { source, regex });
                }
                "format" => r.format = format(string(v, &p)?, &p)?,
                "minimum" => r.minimum = Some(limit(v, &p)?),
                "maximum" => r.maximum = Some(limit(v, &p)?),
                // Draft 4 writes these as booleans that make minimum/maximum exclusive.
                "exclusiveMinimum" => match v {
                    Value::Bool(b) => exclusive_min = *b,
                    _ => r.exclusive_minimum = Some(limit(v, &p)?),
                },
                "exclusiveMaximum" => match v {
                    Value::Bool(b) => exclusive_max = *b,
                    _ => r.exclusive_maximum = Some(limit(v, &p)?),
                },
                "multipleOf" => {
                    let l = limit(v, &p)?;
                    if l.value <= 0.0 {
                        return Err(at(&p, "must be greater than 0"));
                    }
                    r.multiple_of = Some(l);
                }
                "enum" => r.enumeration = Some(array(v, &p)?.clone()),
                "const" => r.constant = Some(v.clone()),
                "allOf" => r.all_of = self.children(v, &p)?,
                "anyOf" => {
                    r.any_of = self.children(v, &p)?;
                    r.any_of_message = any_of_message(v);
                }
                "oneOf" => r.one_of = self.children(v, &p)?,
                "not" => r.not = Some(self.child(v, p)?),
                "if" => when = Some(self.child(v, p)?),
                "then" => then = Some(self.child(v, p)?),
                "else" => otherwise = Some(self.child(v, p)?),
                "default" => r.default = Some(v.clone()),
                "definitions" if pointer.is_empty() => {}
                "definitions" => return Err(at(&p, "only supported at the document root")),
                k if is_annotation(k) => {}
                _ => return Err(at(&p, "unknown keyword")),
            }
        }
        if exclusive_min {
            r.exclusive_minimum = r.minimum.take();
            if r.exclusive_minimum.is_none() {
                return Err(at(
                    &join(pointer, "exclusiveMinimum"),
                    "true needs \"minimum\"",
                ));
            }
        }
        if exclusive_max {
            r.exclusive_maximum = r.maximum.take();
            if r.exclusive_maximum.is_none() {
                return Err(at(
                    &join(pointer, "exclusiveMaximum"),
                    "true needs \"maximum\"",
                ));
            }
        }
        match when {
            Some(when) => {
                r.conditional = Some(Conditional {
                    when,
                    then,
                    otherwise,
                })
            }
            None if then.is_some() || otherwise.is_some() => {
                let key = if then.is_some() { "then" } else { "else" };
                return Err(at(&join(pointer, key), "needs \"if\""));
            }
            None => {}
        }
        Ok(r)
    }

    /// additionalProperties / additionalItems: a boolean or a schema.
    fn extra(&mut self, v: &Value, pointer: String) -> Result<Extra, String> {
        Ok(match v {
            Value::Bool(true) => Extra::Allowed,
            Value::Bool(false) => Extra::Forbidden,
            _ => Extra::Schema(self.child(v, pointer)?),
        })
    }

    /// Rejects schemas that reach themselves without descending into the value
    /// (`{"allOf": [{"$ref": "#/definitions/me"}]}` inside `me`): validating with them
    /// would recurse forever.
    fn reject_cycles(&self) -> Result<(), String> {
        let edges: Vec<Vec<usize>> = self.nodes.iter().map(same_value_children).collect();
        // 0 = unseen, 1 = on the current path, 2 = finished.
        let mut state = vec![0u8; self.nodes.len()];
        for start in 0..self.nodes.len() {
            if state[start] != 0 {
                continue;
            }
            let mut stack = vec![(start, 0usize)];
            state[start] = 1;
            while let Some((node, next)) = stack.pop() {
                let Some(&child) = edges[node].get(next) else {
                    state[node] = 2;
                    continue;
                };
                stack.push((node, next + 1));
                match state[child] {
                    0 => {
                        state[child] = 1;
                        stack.push((child, 0));
                    }
                    1 => {
                        let msg = "schema refers to itself without descending into the value";
                        return Err(at(&self.pointers[child], msg));
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    }
}

/// Subschemas applied to the same value as their parent (as opposed to a property or item).
fn same_value_children(node: &Node) -> Vec<usize> {
    let rules = match node {
        Node::Ref(target) => return vec![*target],
        Node::Rules(rules) => rules,
        Node::Any | Node::Never => return Vec::new(),
    };
    let mut out: Vec<usize> = rules
        .all_of
        .iter()
        .chain(&rules.any_of)
        .chain(&rules.one_of)
        .copied()
        .collect();
    out.extend(rules.not);
    if let Some(c) = &rules.conditional {
        out.push(c.when);
        out.extend(c.then);
        out.extend(c.otherwise);
    }
    for (_, dep) in &rules.dependencies {
        if let Dependency::Schema(child) = dep {
            out.push(*child);
        }
    }
    out
}

/// api7/jsonschema's anyOf message: it lists the `required` sets of the branches, the
/// usual way APISIX schemas say "one of these fields", e.g.
/// `object matches none of the required: ["uri"] or ["uris"]`.
fn any_of_message(branches: &Value) -> String {
    let required: Vec<String> = branches
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|b| b.get("required"))
        .map(Value::to_string)
        .collect();
    if required.is_empty() {
        "object matches none of the required".to_owned()
    } else {
        format!(
            "object matches none of the required: {}",
            required.join(" or ")
        )
    }
}

fn types(v: &Value, pointer: &str) -> Result<Types, String> {
    let names: Vec<&str> = match v {
        Value::String(name) => vec![name],
        Value::Array(list) if !list.is_empty() => list
            .iter()
            .map(|n| {
                n.as_str()
                    .ok_or_else(|| at(pointer, "type names must be strings"))
            })
            .collect::<Result<_, _>>()?,
        _ => {
            return Err(at(
                pointer,
                "must be a type name or a non-empty array of them",
            ));
        }
    };
    let mut mask = 0;
    for name in &names {
        mask |= match *name {
            "null" => T_NULL,
            "boolean" => T_BOOLEAN,
            "object" => T_OBJECT,
            "array" => T_ARRAY,
            "number" => T_NUMBER,
            "string" => T_STRING,
            "integer" => T_INTEGER,
            other => return Err(at(pointer, &format!("unknown type \"{other}\""))),
        };
    }
    let expected = match names.as_slice() {
        [one] => (*one).to_owned(),
        many => format!("one of {}", many.join(", ")),
    };
    Ok(Types { mask, expected })
}

/// PCRE, which APISIX runs, matches bytes with ASCII classes (`\w`, `\d`, `.` = one byte)
/// unless told otherwise; so do we. Patterns that only make sense with Unicode (`\p{L}`,
/// non-ASCII in a class) are compiled in Unicode mode instead.
fn regex(source: &str, pointer: &str) -> Result<Regex, String> {
    RegexBuilder::new(source)
        .unicode(false)
        .build()
        .or_else(|_| RegexBuilder::new(source).build())
        .map_err(|e| at(pointer, &format!("invalid regex: {e}")))
}

/// The formats api7/jsonschema checks; any other format is an annotation.
fn format(name: &str, pointer: &str) -> Result<Option<Format>, String> {
    const DATE: &str = "[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])";
    let (name, pattern) = match name {
        "ipv4" => {
            return Ok(Some(Format {
                name: "ipv4",
                check: FormatCheck::Ipv4,
            }));
        }
        "ipv6" => {
            return Ok(Some(Format {
                name: "ipv6",
                check: FormatCheck::Ipv6,
            }));
        }
        "email" => (
            "email",
            r"^[A-Za-z0-9_.\-]+@[A-Za-z0-9_.\-]+\.[A-Za-z]{2,4}$".to_owned(),
        ),
        "hostname" => ("hostname", r"^[a-zA-Z0-9.\-]+$".to_owned()),
        "uuid" => (
            "uuid",
            "^[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}$".to_owned(),
        ),
        "date" => ("date", format!("^{DATE}$")),
        "date-time" => (
            "date-time",
            format!(
                "^{DATE}[Tt]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]+)?\
                 ([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$"
            ),
        ),
        "uri" => ("uri", r"^[a-zA-Z][a-zA-Z0-9+.\-]*:[^\s]*$".to_owned()),
        _ => return Ok(None),
    };
    let check = FormatCheck::Regex(regex(&pattern, pointer)?);
    Ok(Some(Format { name, check }))
}

fn limit(v: &Value, pointer: &str) -> Result<Limit, String> {
    let value = v.as_f64().ok_or_else(|| at(pointer, "must be a number"))?;
    Ok(Limit {
        value,
        text: lua_number(value),
    })
}

/// A non-negative integer (1.0 accepted, as JSON does not tell them apart).
fn count(v: &Value, pointer: &str) -> Result<usize, String> {
    v.as_u64()
        .or_else(|| {
            v.as_f64()
                .filter(|f| *f >= 0.0 && f.fract() == 0.0)
                .map(|f| f as u64)
        })
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| at(pointer, "must be a non-negative integer"))
}

fn boolean(v: &Value, pointer: &str) -> Result<bool, String> {
    v.as_bool().ok_or_else(|| at(pointer, "must be a boolean"))
}

fn string<'a>(v: &'a Value, pointer: &str) -> Result<&'a str, String> {
    v.as_str().ok_or_else(|| at(pointer, "must be a string"))
}

fn array<'a>(v: &'a Value, pointer: &str) -> Result<&'a Vec<Value>, String> {
    v.as_array().ok_or_else(|| at(pointer, "must be an array"))
}

fn object<'a>(v: &'a Value, pointer: &str) -> Result<&'a Map<String, Value>, String> {
    v.as_object()
        .ok_or_else(|| at(pointer, "must be an object"))
}

/// An array of distinct strings (`required`, property dependencies).
fn strings(v: &Value, pointer: &str) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    for (i, item) in array(v, pointer)?.iter().enumerate() {
        let s = string(item, &format!("{pointer}/{i}"))?;
        if out.iter().any(|seen| seen == s) {
            return Err(at(&format!("{pointer}/{i}"), "duplicate entry"));
        }
        out.push(s.to_owned());
    }
    Ok(out)
}

fn is_annotation(key: &str) -> bool {
    ANNOTATIONS.contains(&key) || key.starts_with("x-")
}

/// Appends one reference token to a JSON pointer.
fn join(pointer: &str, token: &str) -> String {
    format!("{pointer}/{}", escape(token))
}

fn escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// An error located at a JSON pointer, written as a URI fragment (`#` is the root).
fn at(pointer: &str, message: &str) -> String {
    format!("#{pointer}: {message}")
}
