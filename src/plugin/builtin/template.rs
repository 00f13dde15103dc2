//! Request variables in configured text, as APISIX substitutes them:
//! [`resolve_vars`] is `core.utils.resolve_var` (`$name`, `${name}`,
//! `${name ?? default}`, `\$` escapes; `fault-injection`, …) and
//! [`redirect_uri`] is `redirect`'s own, older template syntax.

use crate::expr::{VarLookup, VarName};

fn is_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

fn lookup(vars: &impl VarLookup, name: &str) -> Option<String> {
    vars.get(&VarName::parse(name)).map(|v| v.into_owned())
}

/// `${name}` / `${name ?? default}` / `$name` (word characters and dots)
/// replaced by the variable's value (empty when unset and no default);
/// `\$` is left as written.
pub fn resolve_vars(tpl: &str, vars: &impl VarLookup) -> String {
    if !tpl.contains('$') {
        return tpl.to_string();
    }
    let mut out = String::with_capacity(tpl.len());
    let mut rest = tpl;
    let mut prev: Option<char> = None;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let escaped = match i {
            0 => prev == Some('\\'),
            _ => rest[..i].ends_with('\\'),
        };
        let after = &rest[i + 1..];
        let (var, used) = if escaped {
            (None, 0)
        } else if let Some(inner) = after.strip_prefix('{') {
            match inner.find('}') {
                Some(end) if end > 0 => (Some(inner[..end].trim()), end + 2),
                _ => (None, 0),
            }
        } else {
            let end = after
                .char_indices()
                .find(|(_, c)| !(is_word(*c) || *c == '.'))
                .map_or(after.len(), |(j, _)| j);
            (after.get(..end).filter(|n| !n.is_empty()), end)
        };
        match var {
            Some(spec) => {
                let (name, default) = match spec.split_once("??") {
                    Some((n, d)) => (n.trim(), Some(d.trim())),
                    None => (spec, None),
                };
                match (lookup(vars, name), default) {
                    (Some(v), _) => out.push_str(&v),
                    (None, Some(d)) => out.push_str(d),
                    (None, None) => {}
                }
                rest = &after[used..];
                prev = None;
            }
            None => {
                out.push('$');
                rest = after;
                prev = Some('$');
            }
        }
    }
    out.push_str(rest);
    out
}

/// `redirect`'s `uri` template: `$name` and `${name}` (letters, digits,
/// `_`) become the variable's value (empty when unset); `\$name` is kept
/// literally, backslash included; any other backslash is dropped, as
/// APISIX's segment regex skips it.
pub fn redirect_uri(tpl: &str, vars: &impl VarLookup) -> String {
    let word_len = |s: &str| s.find(|c: char| !is_word(c)).unwrap_or(s.len());
    let mut out = String::with_capacity(tpl.len());
    let mut rest = tpl;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("\\$") {
            let n = word_len(after);
            if n > 0 {
                out.push_str(&rest[..2 + n]);
                rest = &after[n..];
            } else {
                rest = &rest[1..];
            }
        } else if let Some(after) = rest.strip_prefix('$') {
            let braced = after
                .strip_prefix('{')
                .map(|inner| (inner, word_len(inner)))
                .filter(|(inner, n)| *n > 0 && inner[*n..].starts_with('}'));
            let n = word_len(after);
            if let Some((inner, n)) = braced {
                out.push_str(&lookup(vars, &inner[..n]).unwrap_or_default());
                rest = &inner[n + 1..];
            } else if n > 0 {
                out.push_str(&lookup(vars, &after[..n]).unwrap_or_default());
                rest = &after[n..];
            } else {
                out.push('$');
                rest = after;
            }
        } else if let Some(after) = rest.strip_prefix('\\') {
            rest = after;
        } else {
            let n = rest.find(['$', '\\']).unwrap_or(rest.len());
            out.push_str(&rest[..n]);
            rest = &rest[n..];
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    struct Vars;
    impl VarLookup for Vars {
        fn get(&self, var: &VarName) -> Option<Cow<'_, str>> {
            match var.as_str() {
                "host" => Some(Cow::Borrowed("example.com")),
                "uri" => Some(Cow::Borrowed("/a")),
                "arg_x" => Some(Cow::Borrowed("1")),
                _ => None,
            }
        }
        fn get_all(&self, var: &VarName) -> Vec<Cow<'_, str>> {
            self.get(var).into_iter().collect()
        }
    }

    #[test]
    fn resolve_var_syntax() {
        assert_eq!(resolve_vars("no vars", &Vars), "no vars");
        assert_eq!(
            resolve_vars("h=$host u=${ uri }", &Vars),
            "h=example.com u=/a"
        );
        assert_eq!(resolve_vars("$nope|${nope ?? dflt}", &Vars), "|dflt");
        assert_eq!(resolve_vars("\\$host $ ${", &Vars), "\\$host $ ${");
        assert_eq!(resolve_vars("$arg_x$host", &Vars), "1example.com");
    }

    #[test]
    fn redirect_syntax() {
        assert_eq!(
            redirect_uri("https://$host${uri}?x=$arg_x", &Vars),
            "https://example.com/a?x=1"
        );
        assert_eq!(
            redirect_uri("/\\$host/$nope/$/${x", &Vars),
            "/\\$host//$/${x"
        );
        assert_eq!(redirect_uri("/a\\b", &Vars), "/ab");
    }
}
