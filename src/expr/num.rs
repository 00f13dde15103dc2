//! Lua's number conversions, reproduced so comparisons agree with
//! lua-resty-expr running on LuaJIT: [`lua_tonumber`] is `tonumber(s)` on a
//! string (LuaJIT `lj_strscan_scan`), [`lua_number_string`] is `tostring(n)`
//! (`"%.14g"`), which `string.lower`/`ngx.re.find` apply to a number argument.

/// LuaJIT's `lj_char_isspace`: space, `\t`, `\n`, `\v`, `\f`, `\r`.
fn is_lua_space(c: u8) -> bool {
    c == b' ' || (b'\t'..=b'\r').contains(&c)
}

/// LuaJIT refuses exponents from this size on (`STRSCAN_MAXEXP`).
const MAX_EXP: i64 = 1 << 20;

/// `tonumber(s)` for a string `s`, as LuaJIT 2.1 parses it (`src/lj_strscan.c`,
/// `lj_strscan_scan`): surrounding whitespace allowed; optional sign; decimal
/// with optional fraction and `e` exponent; `0x` hex with optional fraction
/// and `p` exponent; `0b` binary; `inf`, `infinity`, `nan` in any case.
/// Anything else (including C suffixes like `10ll`) is `None`. Never allocates.
pub(crate) fn lua_tonumber(s: &str) -> Option<f64> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() && is_lua_space(b[i]) {
        i += 1;
    }
    let start = i;
    let mut neg = false;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        neg = b[i] == b'-';
        i += 1;
    }
    if i < b.len() && b[i] >= b'A' {
        return special(&b[i..], neg);
    }

    let mut base = 10u32;
    if b.get(i) == Some(&b'0') {
        match b.get(i + 1) {
            Some(b'x' | b'X') => {
                base = 16;
                i += 2;
            }
            Some(b'b' | b'B') => {
                base = 2;
                i += 2;
            }
            _ => {}
        }
    }
    let mant = i;
    let mut digits = 0usize;
    let mut dot = None;
    while i < b.len() {
        let c = b[i];
        let is_digit = if base == 16 {
            c.is_ascii_hexdigit()
        } else {
            c.is_ascii_digit()
        };
        if is_digit {
            digits += 1;
        } else if c == b'.' {
            if dot.is_some() {
                return None;
            }
            dot = Some(i);
        } else {
            break;
        }
        i += 1;
    }
    if digits == 0 || (base == 2 && dot.is_some()) {
        return None;
    }
    let mant_end = i;
    let mut exp = 0i64;
    let exp_char = if base == 16 { b'p' } else { b'e' };
    if base != 2 && i < b.len() && b[i].to_ascii_lowercase() == exp_char {
        i += 1;
        let mut exp_neg = false;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            exp_neg = b[i] == b'-';
            i += 1;
        }
        if i >= b.len() || !b[i].is_ascii_digit() {
            return None;
        }
        while i < b.len() && b[i].is_ascii_digit() {
            exp = exp * 10 + i64::from(b[i] - b'0');
            if exp >= MAX_EXP {
                return None;
            }
            i += 1;
        }
        if exp_neg {
            exp = -exp;
        }
    }
    let num_end = i;
    while i < b.len() && is_lua_space(b[i]) {
        i += 1;
    }
    if i != b.len() {
        return None;
    }

    let v = match base {
        10 => s.get(start..num_end)?.parse::<f64>().ok()?,
        16 => {
            let v = hex_value(&b[mant..mant_end], exp);
            if neg {
                -v
            } else {
                v
            }
        }
        _ => {
            // lj_strscan.c strscan_bin: only 0/1, at most 64 digits.
            if digits > 64 || b[mant..mant_end].iter().any(|&c| c > b'1') {
                return None;
            }
            let x = b[mant..mant_end]
                .iter()
                .fold(0u64, |x, &c| (x << 1) | u64::from(c - b'0'));
            let v = x as f64;
            if neg {
                -v
            } else {
                v
            }
        }
    };
    Some(v)
}

/// `inf`, `infinity` or `nan` (any case) followed only by whitespace.
fn special(rest: &[u8], neg: bool) -> Option<f64> {
    let starts =
        |word: &[u8]| rest.len() >= word.len() && rest[..word.len()].eq_ignore_ascii_case(word);
    let (v, len) = if starts(b"infinity") {
        (f64::INFINITY, 8)
    } else if starts(b"inf") {
        (f64::INFINITY, 3)
    } else if starts(b"nan") {
        (f64::NAN, 3)
    } else {
        return None;
    };
    if !rest[len..].iter().all(|&c| is_lua_space(c)) {
        return None;
    }
    Some(if neg { -v } else { v })
}

/// Hex mantissa digits (with an optional `.`) times `2^p_exp`, keeping the
/// first 16 significant digits and a sticky bit for the rest (strscan_hex).
fn hex_value(mant: &[u8], p_exp: i64) -> f64 {
    let mut x = 0u64;
    let mut sig = 0u32;
    let mut exp2 = p_exp;
    let mut in_frac = false;
    for &c in mant {
        if c == b'.' {
            in_frac = true;
            continue;
        }
        let d = u64::from(match c {
            b'0'..=b'9' => c - b'0',
            _ => c.to_ascii_lowercase() - b'a' + 10,
        });
        if in_frac {
            exp2 -= 4;
        }
        if sig == 0 && d == 0 {
            continue;
        }
        if sig < 16 {
            x = (x << 4) | d;
            sig += 1;
        } else {
            x |= u64::from(d != 0);
            exp2 += 4;
        }
    }
    ldexp(x as f64, exp2)
}

/// `v * 2^e` without overflowing the intermediate power.
fn ldexp(mut v: f64, mut e: i64) -> f64 {
    while e > 0 && v.is_finite() && v != 0.0 {
        let step = e.min(1000);
        v *= 2f64.powi(step as i32);
        e -= step;
    }
    while e < 0 && v != 0.0 {
        let step = e.max(-1000);
        v *= 2f64.powi(step as i32);
        e -= step;
    }
    v
}

/// `tostring(n)` in LuaJIT: `"%.14g"`, with `inf`, `-inf`, `nan`.
pub(crate) fn lua_number_string(n: f64) -> String {
    if n.is_nan() {
        return "nan".into();
    }
    if n.is_infinite() {
        return if n > 0.0 { "inf".into() } else { "-inf".into() };
    }
    // %g with precision P=14: take the exponent X of the %e form rounded to
    // P significant digits; fixed notation with P-1-X decimals if -4 <= X < P.
    let sci = format!("{n:.13e}");
    let Some((mantissa, exp)) = sci.split_once('e') else {
        return sci;
    };
    let x: i32 = exp.parse().unwrap_or(0);
    if (-4..14).contains(&x) {
        let decimals = usize::try_from(13 - x).unwrap_or(0);
        let fixed = format!("{n:.decimals$}");
        trim_fraction(&fixed).to_string()
    } else {
        let sign = if x < 0 { '-' } else { '+' };
        format!("{}e{sign}{:02}", trim_fraction(mantissa), x.unsigned_abs())
    }
}

/// Drop trailing zeros of a fraction, and the point if nothing is left.
fn trim_fraction(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}
