//! APISIX `vars` expressions (lua-resty-expr v1 semantics): the public API.
//!
//! An expression such as
//! `[["arg_name", "==", "json"], ["http_user_agent", "~*", "android"]]`
//! is compiled once with [`Expr::compile`] (patterns, numbers and IP sets are
//! prepared then) and evaluated per request with [`Expr::eval`] against a
//! [`VarLookup`], which reads variables named by [`VarName`] from the live
//! request. [`IpSet`] is the CIDR matcher behind `ipmatch`, also usable on
//! its own (a route's `remote_addrs`).
//!
//! Layout: `compile.rs` (JSON to tree, with the lua-resty-expr rules),
//! `eval.rs` (the tree and its evaluation), `var.rs` (variable names and the
//! lookup trait), `num.rs` (Lua number conversions), `pattern.rs` (PCRE
//! compatibility of `~~`/`~*`), `cidr.rs` (IP sets), `tests.rs`.

mod cidr;
mod compile;
mod eval;
mod num;
mod pattern;
mod var;

#[cfg(test)]
mod tests;

use std::sync::Arc;

pub use cidr::{CidrError, IpSet};
pub use var::{Keyed, VarLookup, VarName};

/// Why a `vars` expression does not compile. Messages use lua-resty-expr's
/// wording; `at` is the index path of the offending rule inside the
/// expression (`[1][0]`: the first rule of the second element), or
/// `top level`.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum ExprError {
    /// The expression is JSON `null`.
    #[error("missing argument rule")]
    MissingRule,
    /// The expression is neither a list nor empty.
    #[error("the expression should be an array, got {found}")]
    NotArray {
        /// JSON type found.
        found: &'static str,
    },
    /// The top-level list starts with neither a rule list nor a logic
    /// operator, e.g. `["arg_k", "==", "v"]`.
    #[error("rule should be wrapped inside brackets")]
    NotWrapped,
    /// A nested rule is not a list.
    #[error("rule should be wrapped inside brackets (at {at})")]
    RuleNotArray {
        /// Position of the rule.
        at: String,
    },
    /// An empty rule, or a logic group with fewer than two rules.
    #[error("rule too short (at {at})")]
    TooShort {
        /// Position of the rule.
        at: String,
    },
    /// Groups nested deeper than the compiler allows.
    #[error("rule nested too deeply (at {at})")]
    TooDeep {
        /// Position of the rule.
        at: String,
    },
    /// A rule with a variable but no operator or value, e.g. `["arg_k"]`.
    #[error("invalid expression (at {at})")]
    InvalidExpression {
        /// Position of the rule.
        at: String,
    },
    /// A four-element rule whose second element is not `"!"`.
    #[error("bad 'not' expression (at {at})")]
    BadNot {
        /// Position of the rule.
        at: String,
    },
    /// An unknown operator, e.g. `=`.
    #[error("invalid operator '{op}' (at {at})")]
    InvalidOperator {
        /// Position of the rule.
        at: String,
        /// The operator as written (lower-cased).
        op: String,
    },
    /// The variable name is not a string.
    #[error("invalid expression: the variable name should be a string, got {found} (at {at})")]
    InvalidVariable {
        /// Position of the rule.
        at: String,
        /// JSON type found.
        found: &'static str,
    },
    /// A `~~` / `~*` pattern that is not a string or does not compile.
    #[error("invalid regex \"{pattern}\": {reason} (at {at})")]
    InvalidRegex {
        /// Position of the rule.
        at: String,
        /// The pattern (JSON text if it is not a string).
        pattern: String,
        /// Why it was rejected.
        reason: String,
    },
    /// `ipmatch` without addresses (missing, `""`, `[]`).
    #[error("invalid ip address (at {at})")]
    MissingIp {
        /// Position of the rule.
        at: String,
    },
    /// An `ipmatch` address or CIDR that does not parse.
    #[error("{source} (at {at})")]
    InvalidIp {
        /// Position of the rule.
        at: String,
        /// The rejected item.
        source: CidrError,
    },
}

#[derive(Debug)]
struct Inner {
    /// `None`: the empty expression, always true.
    root: Option<eval::Node>,
    vars: Box<[VarName]>,
}

/// A compiled `vars` expression; cheap to clone and shareable across threads.
#[derive(Debug, Clone)]
pub struct Expr {
    inner: Arc<Inner>,
}

impl Expr {
    /// Compile an APISIX `vars` JSON value; errors name the position and
    /// reason, phrased like APISIX ("rule should be wrapped inside brackets",
    /// "invalid operator '='", "invalid regex ...").
    ///
    /// # Errors
    /// [`ExprError`] for a malformed rule, an unknown operator, a pattern the
    /// `regex` crate cannot express, or an `ipmatch` address that does not parse.
    pub fn compile(vars: &serde_json::Value) -> Result<Expr, ExprError> {
        let compiled = compile::compile(vars)?;
        Ok(Expr {
            inner: Arc::new(Inner {
                root: compiled.root,
                vars: compiled.vars.into(),
            }),
        })
    }

    /// Evaluate against a request's variables.
    pub fn eval(&self, vars: &dyn VarLookup) -> bool {
        match &self.inner.root {
            None => true,
            Some(node) => node.eval(vars),
        }
    }

    /// Variable names the expression reads, each once, in order of first
    /// appearance (so callers know e.g. whether it needs cookies/body).
    pub fn vars(&self) -> impl Iterator<Item = &VarName> {
        self.inner.vars.iter()
    }

    /// Whether the expression is empty (`[]`) and so always true.
    pub fn is_empty(&self) -> bool {
        self.inner.root.is_none()
    }
}
