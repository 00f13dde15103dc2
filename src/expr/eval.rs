//! The compiled expression tree and its evaluation against a [`VarLookup`].
//!
//! Every comparison was reduced at compile time to one [`Test`] whose
//! outcome for an absent variable and for each value type is fixed (see
//! `compile.rs`), so evaluation only reads the variable and compares:
//! no parsing of the right-hand side, no regex compilation, no allocation
//! (apart from `has`, which asks for the list of values).

use regex::bytes::Regex;

use super::cidr::IpSet;
use super::num::lua_tonumber;
use super::var::{VarLookup, VarName};

/// How a group combines its children (lua-resty-expr `logic_ops`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Logic {
    /// All children true (also the implicit combination of a rule list).
    And,
    /// Any child true.
    Or,
    /// Not all children true.
    NotAnd,
    /// No child true.
    NotOr,
}

/// A numeric ordering operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NumOrd {
    Gt,
    Ge,
    Lt,
    Le,
}

/// One prepared comparison of a variable's value.
#[derive(Debug)]
pub(crate) enum Test {
    /// A fixed outcome: the right-hand side can never (or always) match,
    /// whatever the variable holds.
    Const(bool),
    /// `== null`: the variable is absent.
    Absent,
    /// `~= null`: the variable is present.
    Present,
    /// `==` a string: present and byte-equal.
    StrEq(Box<str>),
    /// `~=` a string: absent or different.
    StrNe(Box<str>),
    /// `==` a number: present, converts with `tonumber`, and is equal.
    NumEq(f64),
    /// `~=` a number: absent, not a number, or different.
    NumNe(f64),
    /// `>`, `>=`, `<`, `<=`: present, converts, and compares true.
    NumCmp(NumOrd, f64),
    /// `~~` / `~*`: present and the pattern is found anywhere in it.
    Regex(Regex),
    /// `in`: present and equal to one of these (sorted) strings.
    In(Box<[Box<str>]>),
    /// `has`: one of the variable's values equals this string.
    Has(Box<str>),
    /// `ipmatch`: present, an IP address, and in the set.
    Ip(Box<IpSet>),
}

/// A comparison rule: a variable, a test and the `!` flag.
#[derive(Debug)]
pub(crate) struct Cmp {
    pub(crate) var: VarName,
    pub(crate) negate: bool,
    pub(crate) test: Test,
}

/// A node of the expression tree.
#[derive(Debug)]
pub(crate) enum Node {
    /// A logical group of nested rules.
    Group { logic: Logic, children: Box<[Node]> },
    /// A single comparison.
    Cmp(Cmp),
}

impl Node {
    pub(crate) fn eval(&self, vars: &dyn VarLookup) -> bool {
        match self {
            Node::Cmp(c) => c.eval(vars),
            Node::Group { logic, children } => match logic {
                Logic::And => children.iter().all(|n| n.eval(vars)),
                Logic::Or => children.iter().any(|n| n.eval(vars)),
                Logic::NotAnd => !children.iter().all(|n| n.eval(vars)),
                Logic::NotOr => !children.iter().any(|n| n.eval(vars)),
            },
        }
    }
}

impl Cmp {
    fn eval(&self, vars: &dyn VarLookup) -> bool {
        self.test(vars) != self.negate
    }

    fn test(&self, vars: &dyn VarLookup) -> bool {
        let value = match &self.test {
            Test::Const(b) => return *b,
            Test::Has(want) => {
                return vars
                    .get_all(&self.var)
                    .iter()
                    .any(|v| v.as_ref() == want.as_ref())
            }
            _ => vars.get(&self.var),
        };
        let Some(v) = value else {
            // An absent variable: true only for `== null`, `~= <string>`
            // and `~= <number>` (nil ~= x; tonumber(nil) fails).
            return matches!(self.test, Test::Absent | Test::StrNe(_) | Test::NumNe(_));
        };
        let v: &str = &v;
        match &self.test {
            Test::Const(b) => *b,
            Test::Absent => false,
            Test::Present => true,
            Test::StrEq(s) => v == s.as_ref(),
            Test::StrNe(s) => v != s.as_ref(),
            Test::NumEq(n) => lua_tonumber(v).is_some_and(|x| x == *n),
            Test::NumNe(n) => lua_tonumber(v).is_none_or(|x| x != *n),
            Test::NumCmp(op, n) => lua_tonumber(v).is_some_and(|x| match op {
                NumOrd::Gt => x > *n,
                NumOrd::Ge => x >= *n,
                NumOrd::Lt => x < *n,
                NumOrd::Le => x <= *n,
            }),
            Test::Regex(re) => re.is_match(v.as_bytes()),
            Test::In(set) => set.binary_search_by(|s| s.as_ref().cmp(v)).is_ok(),
            Test::Has(want) => v == want.as_ref(),
            Test::Ip(set) => set.contains_str(v),
        }
    }
}
