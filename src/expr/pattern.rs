//! Compiling the `~~` / `~*` patterns with the `regex` crate so they behave
//! like lua-resty-expr's `ngx.re.find(l_v, r_v, "jo")` / `"joi"` (PCRE).
//!
//! Those flags do not include `u`, so PCRE runs in byte mode: `.` is one
//! byte, `\w`, `\d`, `\s`, `\b` and `~*`'s case folding are ASCII-only. The
//! pattern is therefore built with `regex::bytes` and Unicode off, which has
//! the same meaning; a pattern that needs Unicode mode to compile (a
//! non-ASCII character class such as `[é]`, or `\p{L}`) is built with Unicode
//! on instead, matching characters rather than bytes.
//!
//! PCRE features the `regex` crate lacks are compile errors, never a silent
//! difference: look-around (`(?=`, `(?!`, `(?<=`, `(?<!`), backreferences
//! (`\1`), atomic groups (`(?>`), possessive quantifiers (`a*+`), `\K`, `\Z`,
//! recursion and conditionals. Also different, and accepted: PCRE's `$` also
//! matches before a final `\n` (here only at the very end), and PCRE reads a
//! `{` that does not start a valid `{n,m}` as a literal (here an error).

use regex::bytes::{Regex, RegexBuilder};

/// Compile `pattern`; the error is a one-line reason.
pub(crate) fn compile(pattern: &str, case_insensitive: bool) -> Result<Regex, String> {
    if let Some(reason) = pcre_only(pattern) {
        return Err(reason.to_string());
    }
    let build = |unicode: bool| {
        RegexBuilder::new(pattern)
            .case_insensitive(case_insensitive)
            .unicode(unicode)
            .build()
    };
    match build(false) {
        Ok(re) => Ok(re),
        Err(_) => build(true).map_err(|e| one_line(&e)),
    }
}

/// Reduce the regex crate's multi-line report (pattern, caret line, `error:`
/// line) to "<reason> at offset N".
fn one_line(err: &regex::Error) -> String {
    let text = err.to_string();
    let mut reason = None;
    let mut offset = None;
    for line in text.lines() {
        if let Some(r) = line.trim_start().strip_prefix("error: ") {
            reason = Some(r.to_string());
        } else if offset.is_none() && line.trim_start().starts_with('^') {
            // The caret line is indented by the same 4 spaces as the pattern.
            offset = line.find('^').map(|i| i.saturating_sub(4));
        }
    }
    match (reason, offset) {
        (Some(r), Some(o)) => format!("{r} at offset {o}"),
        (Some(r), None) => r,
        _ => text.split_whitespace().collect::<Vec<_>>().join(" "),
    }
}

/// Detect PCRE-only syntax the regex crate would reject with an unhelpful
/// message (atomic groups, recursion, conditionals) or would accept with a
/// different meaning (possessive quantifiers).
fn pcre_only(pattern: &str) -> Option<&'static str> {
    let b = pattern.as_bytes();
    let mut i = 0;
    let mut in_class = false;
    // Whether the previous token was a quantifier that `+` would make possessive.
    let mut after_quantifier = false;
    // Inside `{...}`, which closes a counted repetition.
    let mut in_braces = false;
    while i < b.len() {
        let c = b[i];
        if c == b'\\' {
            if !in_class {
                match b.get(i + 1) {
                    Some(b'K') => return Some("\\K (match reset) is not supported"),
                    Some(b'Z') => return Some("\\Z is not supported; use \\z or $"),
                    _ => {}
                }
            }
            i += 2;
            after_quantifier = false;
            continue;
        }
        if in_class {
            if c == b']' {
                in_class = false;
            } else if c == b'[' && b.get(i + 1) == Some(&b':') {
                // POSIX class like [:alpha:] inside a bracket expression.
                if let Some(end) = pattern[i + 2..].find(":]") {
                    i += end + 4;
                    continue;
                }
            }
            i += 1;
            continue;
        }
        match c {
            b'[' => {
                in_class = true;
                i += 1;
                // A `]` right after `[` or `[^` is a literal member.
                if b.get(i) == Some(&b'^') {
                    i += 1;
                }
                if b.get(i) == Some(&b']') {
                    i += 1;
                }
                after_quantifier = false;
                continue;
            }
            b'(' if b.get(i + 1) == Some(&b'?') => {
                match b.get(i + 2) {
                    Some(b'>') => return Some("atomic groups (?>...) are not supported"),
                    Some(b'R' | b'0'..=b'9' | b'+' | b'&') => {
                        return Some("recursion and subroutine calls are not supported")
                    }
                    Some(b'(') => return Some("conditional groups (?(...)...) are not supported"),
                    Some(b'|') => return Some("branch reset groups (?|...) are not supported"),
                    _ => {}
                }
                // Skip `(?` so its `?` is not read as a quantifier.
                i += 2;
                after_quantifier = false;
                continue;
            }
            b'*' | b'?' => {
                if after_quantifier && c == b'?' {
                    // Lazy suffix: `a*?` is fine, a following `+` is not possessive.
                    after_quantifier = false;
                } else {
                    after_quantifier = true;
                }
            }
            b'+' => {
                if after_quantifier {
                    return Some("possessive quantifiers (e.g. a*+) are not supported");
                }
                after_quantifier = true;
            }
            b'{' => {
                in_braces = true;
                after_quantifier = false;
            }
            b'}' => {
                after_quantifier = in_braces;
                in_braces = false;
            }
            _ => after_quantifier = false,
        }
        i += 1;
    }
    None
}
