//! Parsing of uri patterns (exact, `prefix*`, `:param`, `*catchall`) and
//! matching of the dynamic part of a pattern against a request path.
//!
//! A pattern is split into a *static prefix* (the bytes before its first
//! dynamic segment, or before a trailing `*`) and a *tail* of tokens that
//! are checked against the rest of the path. Exact patterns have no tail.

use super::error::{to_u32, RouterError};
use super::params::Params;

/// Tail index meaning "no dynamic part": the static prefix alone decides.
pub(crate) const NO_TAIL: u32 = u32::MAX;

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

#[derive(Clone, Copy)]
struct Tail {
    first: u32,
    count: u32,
    /// Anything may follow once every token matched (pattern ended in `*`).
    prefix: bool,
}

/// How a compiled pattern is indexed.
pub(crate) enum Compiled<'s> {
    /// Matches exactly this path.
    Exact(&'s str),
    /// Indexed in the radix tree under `key`; `tail` is [`NO_TAIL`] for a
    /// plain prefix route, else the dynamic part to check.
    Tree { key: &'s str, tail: u32 },
}

/// Arena holding the tails of every pattern of one router.
#[derive(Default)]
pub(crate) struct Tails {
    tails: Vec<Tail>,
    tokens: Vec<Token>,
    text: String,
}

fn bad(uri: &str, reason: &'static str) -> RouterError {
    RouterError::InvalidUri {
        uri: uri.to_owned(),
        reason,
    }
}

impl Tails {
    /// Parses `uri`, storing its tail (if any) in the arena.
    pub(crate) fn compile<'s>(&mut self, uri: &'s str) -> Result<Compiled<'s>, RouterError> {
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
                    tail: NO_TAIL,
                }
            } else {
                Compiled::Exact(uri)
            });
        };
        let key = body.get(..dyn_start).unwrap_or("");
        let rest = body.get(dyn_start..).unwrap_or("");

        let first = to_u32(self.tokens.len())?;
        for (i, seg) in rest.split('/').enumerate() {
            if i > 0 {
                self.push_literal("/")?;
            }
            if let Some(name) = seg.strip_prefix(':') {
                self.push_token(Kind::Param, name)?;
            } else if let Some(name) = seg.strip_prefix('*') {
                self.push_token(Kind::CatchAll, name)?;
            } else {
                self.push_literal(seg)?;
            }
        }
        let count = to_u32(self.tokens.len())? - first;
        let tail = to_u32(self.tails.len())?;
        self.tails.push(Tail {
            first,
            count,
            prefix,
        });
        Ok(Compiled::Tree { key, tail })
    }

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

    #[inline]
    fn text(&self, t: &Token) -> &str {
        let start = t.start as usize;
        self.text.get(start..start + t.len as usize).unwrap_or("")
    }

    /// Checks `path[pos..]` against tail `tail`, pushing captures into
    /// `params` (which the caller clears between candidates).
    #[inline]
    pub(crate) fn matches<'a>(
        &'a self,
        tail: u32,
        path: &'a str,
        pos: usize,
        params: &mut Params<'a>,
    ) -> bool {
        let Some(t) = self.tails.get(tail as usize) else {
            return false;
        };
        let first = t.first as usize;
        let Some(tokens) = self.tokens.get(first..first + t.count as usize) else {
            return false;
        };
        let bytes = path.as_bytes();
        let mut p = pos;
        for tok in tokens {
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
        t.prefix || p == bytes.len()
    }
}
