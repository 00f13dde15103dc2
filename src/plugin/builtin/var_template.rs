//! `$var` templates as APISIX's `core.utils.resolve_var` reads them:
//! `$name`, `$name.sub` and `${name}` / `${name ?? default}` are replaced by
//! the request variable (empty when missing), `\$` is not a reference. Used by
//! the limit plugins' `var_combination` keys, `proxy-rewrite` and
//! `response-rewrite`. Compiled once per configuration.

use crate::expr::{VarLookup, VarName};

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Text(String),
    Var {
        name: VarName,
        default: Option<String>,
    },
}

/// A compiled template.
#[derive(Debug, Clone, PartialEq)]
pub struct VarTemplate {
    parts: Vec<Part>,
}

fn is_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '.'
}

impl VarTemplate {
    /// Compile `tpl`.
    pub fn new(tpl: &str) -> VarTemplate {
        let mut parts = Vec::new();
        let mut text = String::new();
        let chars: Vec<char> = tpl.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            let escaped = i > 0 && chars[i - 1] == '\\';
            if c != '$' || escaped {
                text.push(c);
                i += 1;
                continue;
            }
            // `${ name ?? default }`
            if chars.get(i + 1) == Some(&'{') {
                if let Some(len) = chars[i + 2..].iter().position(|&c| c == '}') {
                    let inner: String = chars[i + 2..i + 2 + len].iter().collect();
                    if !inner.trim().is_empty() {
                        let (name, default) = match inner.split_once("??") {
                            Some((n, d)) => (n.trim(), Some(d.trim().to_string())),
                            None => (inner.trim(), None),
                        };
                        flush(&mut parts, &mut text);
                        parts.push(Part::Var {
                            name: VarName::parse(name),
                            default,
                        });
                        i += len + 3;
                        continue;
                    }
                }
            }
            let len = chars[i + 1..].iter().take_while(|&&c| is_word(c)).count();
            if len == 0 {
                text.push(c);
                i += 1;
                continue;
            }
            let name: String = chars[i + 1..i + 1 + len].iter().collect();
            flush(&mut parts, &mut text);
            parts.push(Part::Var {
                name: VarName::parse(&name),
                default: None,
            });
            i += len + 1;
        }
        flush(&mut parts, &mut text);
        VarTemplate { parts }
    }

    /// Whether the template references no variable.
    #[cfg(test)]
    pub fn is_plain(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, Part::Text(_)))
    }

    /// Resolve against `vars`: the text and how many references had a value
    /// (APISIX treats a `var_combination` key with none as absent).
    pub fn render(&self, vars: &dyn VarLookup) -> (String, usize) {
        self.render_with(vars, |s| s.to_string())
    }

    /// Like [`VarTemplate::render`], passing each substituted value through `escape`.
    pub fn render_with(
        &self,
        vars: &dyn VarLookup,
        escape: impl Fn(&str) -> String,
    ) -> (String, usize) {
        let mut out = String::new();
        let mut resolved = 0;
        for p in &self.parts {
            match p {
                Part::Text(t) => out.push_str(t),
                Part::Var { name, default } => match (vars.get(name), default) {
                    (Some(v), _) => {
                        resolved += 1;
                        out.push_str(&escape(&v));
                    }
                    (None, Some(d)) => {
                        resolved += 1;
                        out.push_str(&escape(d));
                    }
                    (None, None) => {}
                },
            }
        }
        (out, resolved)
    }
}

/// Expand an `ngx.re.sub` replacement template: `$0`…`$N`, `${N}`, `$$`;
/// any other `$` is literal.
pub fn expand_captures(template: &str, caps: &regex::Captures<'_>) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < template.len() {
        let Some(n) = template[i..].find('$') else {
            out.push_str(&template[i..]);
            break;
        };
        out.push_str(&template[i..i + n]);
        i += n;
        let rest = &template[i + 1..];
        if rest.starts_with('$') {
            out.push('$');
            i += 2;
            continue;
        }
        let (digits, used) = match rest.strip_prefix('{') {
            Some(r) => match r.find('}') {
                Some(end) if end > 0 && r[..end].bytes().all(|c| c.is_ascii_digit()) => {
                    (&r[..end], end + 2)
                }
                _ => ("", 0),
            },
            None => {
                let n = rest.bytes().take_while(u8::is_ascii_digit).count();
                (&rest[..n], n)
            }
        };
        match digits.parse::<usize>() {
            Ok(g) => {
                out.push_str(caps.get(g).map_or("", |m| m.as_str()));
                i += 1 + used;
            }
            Err(_) => {
                out.push('$');
                i += 1;
            }
        }
    }
    out
}

fn flush(parts: &mut Vec<Part>, text: &mut String) {
    if !text.is_empty() {
        parts.push(Part::Text(std::mem::take(text)));
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::borrow::Cow;
    use std::collections::HashMap;

    /// A lookup over a fixed map, for unit tests.
    pub struct MapVars(pub HashMap<&'static str, &'static str>);

    impl VarLookup for MapVars {
        fn get(&self, var: &VarName) -> Option<Cow<'_, str>> {
            self.0.get(var.as_str()).map(|v| Cow::Borrowed(*v))
        }
    }

    #[test]
    fn renders_references() {
        let vars = MapVars(HashMap::from([("remote_addr", "1.2.3.4"), ("arg_a", "x")]));
        let t = VarTemplate::new("$remote_addr-${ arg_a }-$arg_b-${arg_c ?? dflt}");
        assert_eq!(t.render(&vars), ("1.2.3.4-x--dflt".to_string(), 3));
        let t = VarTemplate::new("plain \\$remote_addr $ {}");
        assert!(t.is_plain());
        assert_eq!(t.render(&vars).0, "plain \\$remote_addr $ {}");
        let t = VarTemplate::new("$nope");
        assert_eq!(t.render(&vars), (String::new(), 0));
    }
}
