//! Compiling an APISIX `vars` JSON value into the tree of `eval.rs`,
//! following lua-resty-expr v1 (`lib/resty/expr/v1.lua`, referred to below
//! as v1.lua with its line numbers, release 1.3.2):
//!
//! * `_M.new` (v1.lua:283-306): an empty list is always true; otherwise the
//!   first element must be a list or a logic operator, else "rule should be
//!   wrapped inside brackets".
//! * `compile` (v1.lua:237-280): a list whose first element is a list is an
//!   implicit AND of all its elements; one whose first element is `AND`, `OR`,
//!   `!AND` or `!OR` (any case: `str_upper`) is a group of the rest, which
//!   needs at least two rules ("rule too short"); anything else is a rule.
//! * `compile_expr` (v1.lua:163-226): `[var, op, value]`; four elements
//!   need `"!"` second ("bad 'not' expression") and negate; the operator is
//!   lower-cased (`str_lower`), so `IN`, `Has`, `IPMATCH` are accepted; with
//!   no third element and an operator that is not one, the rule is the old
//!   `[var, value]` form meaning `==` — and the value compared is the
//!   lower-cased one (v1.lua:178-185 lower-case before the fallback).
//! * `compare_funcs` (v1.lua:71-147) define each operator; how each one is
//!   prepared is noted at [`Compiler::test`].
//!
//! JSON arrays and objects are both Lua tables after decoding; an object has
//! no array part (`#t == 0`), so as a rule it is "rule too short".
//! Where lua-resty-expr would raise a Lua error at compile or request time
//! (a non-string operator, a non-string pattern, a non-string variable),
//! this is a compile error instead.

use serde_json::Value;

use super::cidr::{CidrError, IpSet};
use super::eval::{Cmp, Logic, Node, NumOrd, Test};
use super::num::{lua_number_string, lua_tonumber};
use super::pattern;
use super::var::VarName;
use super::ExprError;

/// Deeper nesting than this is rejected rather than risking the stack.
const MAX_DEPTH: usize = 64;

/// The operators of `compare_funcs` (v1.lua:71-147), after lower-casing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Cmp(NumOrd),
    Regex { case_insensitive: bool },
    In,
    Has,
    IpMatch,
}

impl Op {
    fn parse(op: &str) -> Option<Op> {
        Some(match op {
            "==" => Op::Eq,
            "~=" => Op::Ne,
            ">" => Op::Cmp(NumOrd::Gt),
            ">=" => Op::Cmp(NumOrd::Ge),
            "<" => Op::Cmp(NumOrd::Lt),
            "<=" => Op::Cmp(NumOrd::Le),
            "~~" => Op::Regex {
                case_insensitive: false,
            },
            "~*" => Op::Regex {
                case_insensitive: true,
            },
            "in" => Op::In,
            "has" => Op::Has,
            "ipmatch" => Op::IpMatch,
            _ => return None,
        })
    }
}

/// The right-hand side as lua-resty-expr's `compare_val` sees it.
enum RValue<'a> {
    /// Lua `nil`: no value, or JSON `null` (`ngx.null`, turned into `nil` by
    /// `compare_val`, v1.lua:151-153).
    Nil,
    /// A JSON value.
    Json(&'a Value),
    /// The lower-cased value of the two-element form.
    Text(String),
}

/// The result of compiling: the tree (`None`: always true) and the
/// variables it reads, each once, in order of appearance.
pub(crate) struct Compiled {
    pub(crate) root: Option<Node>,
    pub(crate) vars: Vec<VarName>,
}

/// Compile a `vars` value.
pub(crate) fn compile(vars: &Value) -> Result<Compiled, ExprError> {
    let mut c = Compiler {
        vars: Vec::new(),
        path: Vec::new(),
    };
    let root = c.top(vars)?;
    Ok(Compiled { root, vars: c.vars })
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// A Lua table: what `type(x) == "table"` is true for.
fn is_table(v: &Value) -> bool {
    matches!(v, Value::Array(_) | Value::Object(_))
}

/// `logic_ops[str_upper(v)]` (v1.lua:229-234).
fn logic_op(v: &Value) -> Option<Logic> {
    let Value::String(s) = v else {
        return None;
    };
    [
        ("AND", Logic::And),
        ("OR", Logic::Or),
        ("!AND", Logic::NotAnd),
        ("!OR", Logic::NotOr),
    ]
    .into_iter()
    .find(|(name, _)| s.eq_ignore_ascii_case(name))
    .map(|(_, l)| l)
}

/// A JSON number as the Lua double cjson decodes it to.
fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        _ => None,
    }
}

struct Compiler {
    vars: Vec<VarName>,
    /// Index path of the rule being compiled, for error positions.
    path: Vec<usize>,
}

impl Compiler {
    fn at(&self) -> String {
        if self.path.is_empty() {
            return "top level".into();
        }
        self.path.iter().map(|i| format!("[{i}]")).collect()
    }

    /// `_M.new` (v1.lua:283-306).
    fn top(&mut self, v: &Value) -> Result<Option<Node>, ExprError> {
        let items = match v {
            Value::Array(items) => items,
            Value::Null => return Err(ExprError::MissingRule),
            // `{}` decodes to the same empty table as `[]`.
            Value::Object(o) if o.is_empty() => return Ok(None),
            other => {
                return Err(ExprError::NotArray {
                    found: type_name(other),
                })
            }
        };
        let Some(first) = items.first() else {
            return Ok(None);
        };
        if !is_table(first) && logic_op(first).is_none() {
            return Err(ExprError::NotWrapped);
        }
        self.rules(items, 0).map(Some)
    }

    /// `compile` (v1.lua:237-280) on the elements of one list.
    fn rules(&mut self, items: &[Value], depth: usize) -> Result<Node, ExprError> {
        if depth > MAX_DEPTH {
            return Err(ExprError::TooDeep { at: self.at() });
        }
        let Some(first) = items.first() else {
            return Err(ExprError::TooShort { at: self.at() });
        };
        if is_table(first) {
            let children = items
                .iter()
                .enumerate()
                .map(|(i, item)| self.nested(i, item, depth))
                .collect::<Result<Vec<_>, _>>()?;
            return Ok(Node::Group {
                logic: Logic::And,
                children: children.into(),
            });
        }
        if let Some(logic) = logic_op(first) {
            if items.len() <= 2 {
                return Err(ExprError::TooShort { at: self.at() });
            }
            let children = items
                .iter()
                .enumerate()
                .skip(1)
                .map(|(i, item)| self.nested(i, item, depth))
                .collect::<Result<Vec<_>, _>>()?;
            return Ok(Node::Group {
                logic,
                children: children.into(),
            });
        }
        self.rule(items).map(Node::Cmp)
    }

    /// One element of a list of rules, at index `i`.
    fn nested(&mut self, i: usize, item: &Value, depth: usize) -> Result<Node, ExprError> {
        self.path.push(i);
        let node = match item {
            Value::Array(items) => self.rules(items, depth + 1),
            // A table without an array part: `#rules == 0`.
            Value::Object(_) => Err(ExprError::TooShort { at: self.at() }),
            _ => Err(ExprError::RuleNotArray { at: self.at() }),
        };
        self.path.pop();
        node
    }

    /// `compile_expr` (v1.lua:163-226).
    fn rule(&mut self, items: &[Value]) -> Result<Cmp, ExprError> {
        let (var, op, value, negate) = if items.len() == 4 {
            if items[1].as_str() != Some("!") {
                return Err(ExprError::BadNot { at: self.at() });
            }
            (&items[0], items.get(2), items.get(3), true)
        } else {
            // Elements past the third are ignored, as in v1.lua:175.
            (&items[0], items.get(1), items.get(2), false)
        };
        // `op = str_lower(op)`: Lua turns a number into its string first.
        let op = match op {
            None => None,
            Some(Value::String(s)) => Some(s.to_ascii_lowercase()),
            Some(Value::Number(n)) => Some(lua_number_string(n.as_f64().unwrap_or(f64::NAN))),
            Some(other) => {
                return Err(ExprError::InvalidOperator {
                    at: self.at(),
                    op: other.to_string(),
                })
            }
        };
        let parsed = op.as_deref().and_then(Op::parse);
        let (op, value) = match (parsed, value) {
            (Some(op), None) => (op, RValue::Nil),
            (Some(op), Some(Value::Null)) => (op, RValue::Nil),
            (Some(op), Some(v)) => (op, RValue::Json(v)),
            // The two-element form `[var, value]` (v1.lua:182-190).
            (None, None) => match op {
                Some(text) => (Op::Eq, RValue::Text(text)),
                None => return Err(ExprError::InvalidExpression { at: self.at() }),
            },
            (None, Some(_)) => {
                return Err(ExprError::InvalidOperator {
                    at: self.at(),
                    op: op.unwrap_or_default(),
                })
            }
        };
        let Value::String(name) = var else {
            return Err(ExprError::InvalidVariable {
                at: self.at(),
                found: type_name(var),
            });
        };
        let var = VarName::parse(name);
        if !self.vars.contains(&var) {
            self.vars.push(var.clone());
        }
        let test = self.test(op, value)?;
        Ok(Cmp { var, negate, test })
    }

    /// Prepare one operator's right-hand side (v1.lua:71-147); a variable
    /// value is always a string (or absent) here.
    fn test(&self, op: Op, value: RValue<'_>) -> Result<Test, ExprError> {
        Ok(match op {
            // v1.lua:72-80: a number right side converts the variable with
            // `tonumber` (failure: false); otherwise raw Lua equality, so a
            // string compares bytes, `nil` is "absent", and a boolean, list
            // or object never equals a string.
            Op::Eq => match value {
                RValue::Nil => Test::Absent,
                RValue::Text(s) => Test::StrEq(s.into()),
                RValue::Json(Value::String(s)) => Test::StrEq(s.as_str().into()),
                RValue::Json(v) => match number(v) {
                    Some(n) => Test::NumEq(n),
                    None => Test::Const(false),
                },
            },
            // v1.lua:81-89: the mirror image; a variable that is not a
            // number is "not equal" to a number, and an absent one is not
            // equal to anything but `nil`.
            Op::Ne => match value {
                RValue::Nil => Test::Present,
                RValue::Text(s) => Test::StrNe(s.into()),
                RValue::Json(Value::String(s)) => Test::StrNe(s.as_str().into()),
                RValue::Json(v) => match number(v) {
                    Some(n) => Test::NumNe(n),
                    None => Test::Const(true),
                },
            },
            // v1.lua:90-121: both sides go through `tonumber`, so "10" on the
            // right is the number 10; either failing makes the rule false.
            Op::Cmp(ord) => {
                let n = match &value {
                    RValue::Json(Value::String(s)) => lua_tonumber(s),
                    RValue::Json(v) => number(v),
                    RValue::Text(s) => lua_tonumber(s),
                    RValue::Nil => None,
                };
                match n {
                    Some(n) => Test::NumCmp(ord, n),
                    None => Test::Const(false),
                }
            }
            // v1.lua:122-143: `ngx.re.find(l_v, r_v, "jo")` / `"joi"`, false
            // when the variable is absent. A number pattern is stringified
            // by ngx.re; anything else would be a Lua error on every request.
            Op::Regex { case_insensitive } => {
                let pattern = match &value {
                    RValue::Json(Value::String(s)) => s.clone(),
                    RValue::Json(Value::Number(n)) => {
                        lua_number_string(n.as_f64().unwrap_or(f64::NAN))
                    }
                    RValue::Json(v) => return Err(self.bad_pattern(v.to_string())),
                    RValue::Text(s) => s.clone(),
                    RValue::Nil => return Err(self.bad_pattern("null".into())),
                };
                match pattern::compile(&pattern, case_insensitive) {
                    Ok(re) => Test::Regex(re),
                    Err(reason) => {
                        return Err(ExprError::InvalidRegex {
                            at: self.at(),
                            pattern,
                            reason,
                        })
                    }
                }
            }
            // v1.lua:38-47: the right side must be a list; each element is
            // compared with raw equality, so only its strings can ever equal
            // a variable's string value.
            Op::In => match value {
                RValue::Json(Value::Array(items)) => {
                    let mut set: Vec<Box<str>> = items
                        .iter()
                        .filter_map(|v| v.as_str().map(Box::from))
                        .collect();
                    set.sort_unstable();
                    set.dedup();
                    if set.is_empty() {
                        Test::Const(false)
                    } else {
                        Test::In(set.into())
                    }
                }
                _ => Test::Const(false),
            },
            // v1.lua:50-62: the variable's list has an element equal to the
            // value; a non-string value never equals a (string) element.
            Op::Has => match value {
                RValue::Json(Value::String(s)) => Test::Has(s.as_str().into()),
                _ => Test::Const(false),
            },
            // v1.lua:200-218: a CIDR string or a non-empty list of them, fed
            // to resty.ipmatcher; "" and empty lists are "invalid ip address".
            Op::IpMatch => {
                let items: Vec<&str> = match &value {
                    RValue::Json(Value::String(s)) if !s.is_empty() => vec![s.as_str()],
                    RValue::Json(Value::Array(list)) if !list.is_empty() => list
                        .iter()
                        .map(|v| {
                            v.as_str().ok_or_else(|| ExprError::InvalidIp {
                                at: self.at(),
                                source: CidrError::InvalidAddress {
                                    item: v.to_string(),
                                },
                            })
                        })
                        .collect::<Result<_, _>>()?,
                    RValue::Json(v @ (Value::Number(_) | Value::Bool(_))) => {
                        return Err(ExprError::InvalidIp {
                            at: self.at(),
                            source: CidrError::InvalidAddress {
                                item: v.to_string(),
                            },
                        })
                    }
                    _ => return Err(ExprError::MissingIp { at: self.at() }),
                };
                let set = IpSet::parse(items).map_err(|source| ExprError::InvalidIp {
                    at: self.at(),
                    source,
                })?;
                Test::Ip(Box::new(set))
            }
        })
    }

    fn bad_pattern(&self, pattern: String) -> ExprError {
        ExprError::InvalidRegex {
            at: self.at(),
            pattern,
            reason: "the pattern must be a string".into(),
        }
    }
}
