//! Parsing of uri patterns (exact, `prefix*`, `:param`, `*catchall`) and
//! matching of the dynamic part of a pattern against a request path.
//!
//! A pattern is split into a *static prefix* (the bytes before its first
//! dynamic segment, or before a trailing `*`) and a *tail* of tokens that
//! are checked against the rest of the path. Exact patterns have no tail.

use super::error::{to_u32, RouterError};
use super::params::Params;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Literal,
    Param,
    CatchAll,
}

#[derive(Clone, Copy)]
struct Token {
    kind: Kind,
    start: u32,
    len: u32,
}

/// How a parsed pattern is indexed.
pub(crate) enum Compiled<'s> {
    /// Matches exactly this path.
    Exact(&'s str),
    /// Indexed in the radix tree under `key`; `tail` is `None` for a plain
    /// prefix route, else the dynamic part to check.
    Tree {
        key: &'s str,
        tail: Option<TailSrc<'s>>,
    },
}

/// The validated dynamic part of a pattern, not yet tokenized. Equal
/// sources give equal tails, so a build can share one [`Tail`] among them.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct TailSrc<'s> {
    /// The pattern from its first dynamic segment on (with a trailing `*`).
    whole: &'s str,
    /// `whole` without a trailing `*`.
    rest: &'s str,
    /// Anything may follow once every token matched (pattern ended in `*`).
    prefix: bool,
}

/// The dynamic part of one pattern: tokens checked against the rest of the
/// path after the static prefix.
pub(crate) struct Tail {
    tokens: Box<[Token]>,
    text: Box<str>,
    prefix: bool,
}

fn bad(uri: &str, reason: &'static str) -> RouterError {
    RouterError::InvalidUri {
        uri: uri.to_owned(),
        reason,
    }
}

/// Parses and validates `uri`; a dynamic tail is returned as its source.
pub(crate) fn compile(uri: &str) -> Result<Compiled<'_>, RouterError> {
    if uri.is_empty() {
        return Err(bad(uri, "empty uri"));
    }
    if !uri.starts_with('/') {
        return Err(bad(uri, "uri must start with '/'"));
    }
    let last_seg = uri.rsplit('/').next().unwrap_or("");
    let catch_all_last = last_seg.len() > 1 && last_seg.starts_with('*');
    let (body, prefix) = match uri.strip_suffix('*') {
        Some(body) if !catch_all_last => (body, true),
        _ => (uri, false),
    };

    // Locate the first dynamic segment and validate all of them.
    let mut first_dynamic = None;
    let mut offset = 0usize;
    for seg in body.split('/') {
        let start = offset;
        offset += seg.len() + 1;
        let is_last = offset > body.len();
        if let Some(name) = seg.strip_prefix(':') {
            if name.is_empty() {
                return Err(bad(uri, "empty parameter name after ':'"));
            }
        } else if let Some(name) = seg.strip_prefix('*') {
            if !is_last || prefix {
                return Err(bad(uri, "'*' segment must be the last segment"));
            }
            if name.is_empty() || name.contains('*') {
                return Err(bad(uri, "invalid catch-all name after '*'"));
            }
        } else {
            continue;
        }
        if first_dynamic.is_none() {
            first_dynamic = Some(start);
        }
    }

    let Some(dyn_start) = first_dynamic else {
        return Ok(if prefix {
            Compiled::Tree {
                key: body,
                tail: None,
            }
        } else {
            Compiled::Exact(uri)
        });
    };
    Ok(Compiled::Tree {
        key: body.get(..dyn_start).unwrap_or(""),
        tail: Some(TailSrc {
            whole: uri.get(dyn_start..).unwrap_or(""),
            rest: body.get(dyn_start..).unwrap_or(""),
            prefix,
        }),
    })
}

impl<'s> TailSrc<'s> {
    /// The source text; equal texts give equal tails.
    pub(crate) fn text(&self) -> &'s str {
        self.whole
    }

    /// Tokenizes the tail.
    pub(crate) fn build(self) -> Result<Tail, RouterError> {
        let mut b = TailBuilder::default();
        for (i, seg) in self.rest.split('/').enumerate() {
            if i > 0 {
                b.push_literal("/")?;
            }
            if let Some(name) = seg.strip_prefix(':') {
                b.push_token(Kind::Param, name)?;
            } else if let Some(name) = seg.strip_prefix('*') {
                b.push_token(Kind::CatchAll, name)?;
            } else {
                b.push_literal(seg)?;
            }
        }
        Ok(Tail {
            tokens: b.tokens.into(),
            text: b.text.into(),
            prefix: self.prefix,
        })
    }
}

#[derive(Default)]
struct TailBuilder {
    tokens: Vec<Token>,
    text: String,
}

impl TailBuilder {
    fn push_token(&mut self, kind: Kind, s: &str) -> Result<(), RouterError> {
        let start = to_u32(self.text.len())?;
        let len = to_u32(s.len())?;
        to_u32(self.text.len() + s.len())?;
        self.text.push_str(s);
        self.tokens.push(Token { kind, start, len });
        Ok(())
    }

    fn push_literal(&mut self, s: &str) -> Result<(), RouterError> {
        if s.is_empty() {
            return Ok(());
        }
        let end = self.text.len();
        if let Some(last) = self.tokens.last_mut() {
            if last.kind == Kind::Literal && (last.start + last.len) as usize == end {
                last.len = to_u32(last.len as usize + s.len())?;
                to_u32(end + s.len())?;
                self.text.push_str(s);
                return Ok(());
            }
        }
        self.push_token(Kind::Literal, s)
    }
}

impl Tail {
    #[inline]
    fn text(&self, t: &Token) -> &str {
        let start = t.start as usize;
        self.text.get(start..start + t.len as usize).unwrap_or("")
    }

    /// Checks `path[pos..]` against this tail, pushing captures into
    /// `params` (which the caller clears between candidates).
    #[inline]
    pub(crate) fn matches<'a>(
        &'a self,
        path: &'a str,
        pos: usize,
        params: &mut Params<'a>,
    ) -> bool {
        let bytes = path.as_bytes();
        let mut p = pos;
        for tok in self.tokens.iter() {
            let Some(rest) = bytes.get(p..) else {
                return false;
            };
            match tok.kind {
                Kind::Literal => {
                    let lit = self.text(tok).as_bytes();
                    if !rest.starts_with(lit) {
                        return false;
                    }
                    p += lit.len();
                }
                Kind::Param => {
                    let n = rest.iter().position(|&b| b == b'/').unwrap_or(rest.len());
                    if n == 0 {
                        return false;
                    }
                    params.push(self.text(tok), p, p + n);
                    p += n;
                }
                Kind::CatchAll => {
                    params.push(self.text(tok), p, bytes.len());
                    p = bytes.len();
                }
            }
        }
        self.prefix || p == bytes.len()
    }
}
