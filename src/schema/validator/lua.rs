//! Renders values the way LuaJIT does, so messages match api7/jsonschema byte for byte:
//! `%q` quoting, `tostring` of numbers and `type()` names.
//!
//! Other names in messages (`property "a" is required`) are plain: api7/jsonschema puts
//! `%q` output into generated Lua source, whose string literal unescapes it again.

use std::fmt::Write as _;

use serde_json::Value;

/// Lua's `type()` of the decoded value, which api7/jsonschema prints after `got`. Lua
/// has no distinct object/array type (`table`); null is reported as `null` rather than
/// cjson's `userdata`, which would mean nothing to a user.
pub(super) fn lua_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) | Value::Object(_) => "table",
    }
}

/// Quotes like LuaJIT's `string.format("%q", s)`, as api7/jsonschema's `pattern`
/// message shows both the pattern and the string.
pub(super) fn lua_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' | '\\' | '\n' => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                // Decimal escape; padded to three digits when a digit follows.
                let code = c as u32;
                let _ = if chars.peek().is_some_and(char::is_ascii_digit) {
                    write!(out, "\\{code:03}")
                } else {
                    write!(out, "\\{code}")
                };
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Formats a number as Lua's `tostring` does (`%.14g`): `70000`, `0.5`, `1e+20`.
pub(super) fn lua_number(x: f64) -> String {
    if x.is_nan() {
        return "nan".to_owned();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.to_owned();
    }
    if x == 0.0 {
        return if x.is_sign_negative() { "-0" } else { "0" }.to_owned();
    }
    let sci = format!("{x:.13e}");
    let Some((mantissa, exp)) = sci.split_once('e') else {
        return x.to_string();
    };
    let Ok(exp) = exp.parse::<i32>() else {
        return x.to_string();
    };
    if !(-4..14).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        let mantissa = trim_fraction(mantissa);
        format!("{mantissa}e{sign}{:02}", exp.abs())
    } else {
        let decimals = usize::try_from(13 - exp).unwrap_or(0);
        trim_fraction(&format!("{x:.decimals$}")).to_owned()
    }
}

/// Drops trailing zeros of a fraction, and the dot when nothing is left after it.
fn trim_fraction(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}
