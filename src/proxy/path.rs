//! The path routes are matched on: nginx's `$uri` — percent-decoded, `.` and
//! `..` segments resolved, repeated slashes merged. The upstream still gets
//! the request's original path and query.

use std::borrow::Cow;

/// Normalize a request path; borrows when nothing needs changing (the common case).
pub fn normalize(raw: &str) -> Cow<'_, str> {
    let needs_work =
        raw.contains('%') || raw.contains("//") || raw.contains("/.") || !raw.starts_with('/');
    if !needs_work {
        return Cow::Borrowed(raw);
    }
    let decoded = percent_decode(raw, false);
    let mut segments: Vec<&str> = Vec::new();
    for seg in decoded.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut out = String::with_capacity(decoded.len() + 1);
    for s in &segments {
        out.push('/');
        out.push_str(s);
    }
    // Keep a trailing slash: `/hello/` and `/hello` are different routes.
    let ends_with_dir =
        decoded.ends_with('/') || decoded.ends_with("/.") || decoded.ends_with("/..");
    if out.is_empty() || ends_with_dir {
        out.push('/');
    }
    Cow::Owned(out)
}

/// Decode `%XX` escapes (invalid ones stay as written); `plus_as_space` also
/// turns `+` into a space, as query strings and forms encode it.
pub fn percent_decode(s: &str, plus_as_space: bool) -> Cow<'_, str> {
    if !(s.contains('%') || (plus_as_space && s.contains('+'))) {
        return Cow::Borrowed(s);
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match b[i] {
            b'+' if plus_as_space => out.push(b' '),
            b'%' => match (
                b.get(i + 1).and_then(|c| hex(*c)),
                b.get(i + 2).and_then(|c| hex(*c)),
            ) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

/// nginx's `ngx_escape_uri(…, NGX_ESCAPE_URI)`: controls, space, `#`, `%`,
/// `?`, DEL and non-ASCII bytes become `%XX`.
pub fn escape_uri(s: &str) -> String {
    escape_where(s, |b| {
        b <= 0x20 || b >= 0x7f || matches!(b, b'#' | b'%' | b'?')
    })
}

/// A query-string key or value: everything but RFC 3986's unreserved
/// characters becomes `%XX`.
pub fn encode_component(s: &str) -> String {
    escape_where(s, |b| {
        !(b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
    })
}

fn escape_where(s: &str, escape: impl Fn(u8) -> bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if escape(b) {
            out.push_str(&format!("%{b:02X}"));
        } else {
            out.push(char::from(b));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn cases() {
        let cases = [
            ("/hello", "/hello"),
            ("/hello/", "/hello/"),
            ("/a//b", "/a/b"),
            ("/a/./b", "/a/b"),
            ("/a/b/../c", "/a/c"),
            ("/../x", "/x"),
            ("/a%20b", "/a b"),
            ("/%41", "/A"),
            ("/bad%zz", "/bad%zz"),
            ("/end%2", "/end%2"),
            ("/a/..", "/"),
            ("/a/b/..", "/a/"),
        ];
        for (input, want) in cases {
            assert_eq!(normalize(input), want, "{input}");
        }
    }
}
