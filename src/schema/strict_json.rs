//! Parses request bodies into `serde_json::Value`, rejecting duplicate object keys.
//!
//! Two parsers that resolve `{"a":1,"a":2}` differently (first wins vs last wins) let a
//! body pass validation and then mean something else (APISIX's CVE-2022-25757), so strait
//! refuses such bodies outright. This is one pass of serde_json's own parser with a
//! stricter visitor: numbers, escapes, the nesting limit and error messages are exactly
//! those of `serde_json::from_slice`.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::map::Entry;
use serde_json::{Map, Number, Value};

/// Parse `bytes` as one JSON value; duplicate keys anywhere are an error.
pub fn parse(bytes: &[u8]) -> Result<Value, String> {
    let mut duplicate = None;
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let parsed = StrictValue {
        duplicate: &mut duplicate,
    }
    .deserialize(&mut de)
    .and_then(|value| de.end().map(|()| value));
    match (parsed, duplicate) {
        (_, Some(duplicate)) => Err(duplicate.to_string()),
        (Ok(value), None) => Ok(value),
        (Err(e), None) => Err(e.to_string()),
    }
}

/// Where the first duplicate key was found. serde's error type cannot carry it, so the
/// visitors record it beside the parse and the path is collected while the error unwinds
/// (nothing is tracked on the success path).
#[derive(Debug)]
struct Duplicate {
    key: String,
    /// Innermost first.
    path: Vec<Token>,
}

#[derive(Debug)]
enum Token {
    Key(String),
    Index(usize),
}

impl fmt::Display for Duplicate {
    /// `duplicate key "a" at /x/0/y`: the JSON pointer of the object holding the key
    /// (`/` for the top level).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "duplicate key {} at ", Value::String(self.key.clone()))?;
        if self.path.is_empty() {
            return f.write_str("/");
        }
        for token in self.path.iter().rev() {
            match token {
                Token::Key(key) => write!(f, "/{}", key.replace('~', "~0").replace('/', "~1"))?,
                Token::Index(i) => write!(f, "/{i}")?,
            }
        }
        Ok(())
    }
}

/// Builds a `Value` like serde_json's own visitor, but fails on a repeated key.
struct StrictValue<'a> {
    duplicate: &'a mut Option<Duplicate>,
}

impl StrictValue<'_> {
    fn nested(&mut self) -> StrictValue<'_> {
        StrictValue {
            duplicate: &mut *self.duplicate,
        }
    }

    /// Adds one level to the path of a duplicate found below it.
    fn note(&mut self, token: impl FnOnce() -> Token) {
        if let Some(duplicate) = self.duplicate.as_mut() {
            duplicate.path.push(token());
        }
    }
}

impl<'de> DeserializeSeed<'de> for StrictValue<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrictValue<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any valid JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        // Same as serde_json: a non-finite float (impossible in JSON text) becomes null.
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        loop {
            match seq.next_element_seed(self.nested()) {
                Ok(Some(item)) => items.push(item),
                Ok(None) => return Ok(Value::Array(items)),
                Err(e) => {
                    self.note(|| Token::Index(items.len()));
                    return Err(e);
                }
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            let slot = match map.entry(key) {
                Entry::Vacant(slot) => slot,
                Entry::Occupied(taken) => {
                    let key = taken.key().clone();
                    *self.duplicate = Some(Duplicate {
                        key,
                        path: Vec::new(),
                    });
                    return Err(de::Error::custom("duplicate key"));
                }
            };
            match access.next_value_seed(self.nested()) {
                Ok(value) => {
                    slot.insert(value);
                }
                Err(e) => {
                    self.note(|| Token::Key(slot.key().clone()));
                    return Err(e);
                }
            }
        }
        Ok(Value::Object(map))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn err(body: &str) -> String {
        parse(body.as_bytes()).unwrap_err()
    }

    #[test]
    fn parses_like_serde_json() {
        let body = r#"{"a":[1,-2,3.5,18446744073709551615,-9223372036854775808,1e3,null,true,"x\u00e9\n"],"b":{}}"#;
        let strict = parse(body.as_bytes()).unwrap();
        let reference: Value = serde_json::from_str(body).unwrap();
        assert_eq!(strict, reference);
        let a = strict["a"].as_array().unwrap();
        assert!(a[0].is_u64());
        assert!(a[1].is_i64());
        assert!(a[2].is_f64());
        assert_eq!(a[3].as_u64(), Some(u64::MAX));
        assert_eq!(a[4].as_i64(), Some(i64::MIN));
        assert!(a[5].is_f64(), "1e3 stays a float, as in serde_json");
        assert_eq!(a[8], "x\u{e9}\n");
    }

    #[test]
    fn scalars_and_whitespace() {
        assert_eq!(parse(b" 1 ").unwrap(), json!(1));
        assert_eq!(parse(b"\"s\"").unwrap(), json!("s"));
        assert_eq!(parse(b"null").unwrap(), Value::Null);
        assert_eq!(parse(b"[]").unwrap(), json!([]));
    }

    #[test]
    fn duplicate_at_top_level() {
        assert_eq!(err(r#"{"a":1,"a":2}"#), r#"duplicate key "a" at /"#);
        assert_eq!(err(r#"{"a":1,"b":2,"a":1}"#), r#"duplicate key "a" at /"#);
    }

    #[test]
    fn duplicate_at_depth_names_the_object() {
        assert_eq!(
            err(r#"{"x":{"y":{"a":1,"a":2}}}"#),
            r#"duplicate key "a" at /x/y"#
        );
        assert_eq!(
            err(r#"{"x":[0,{"k":[{"a":1,"b":{},"b":[]}]}]}"#),
            r#"duplicate key "b" at /x/1/k/0"#
        );
        assert_eq!(err(r#"[[{"q":1,"q":1}]]"#), r#"duplicate key "q" at /0/0"#);
    }

    #[test]
    fn pointer_and_key_are_escaped() {
        assert_eq!(
            err(r#"{"a/b":{"c~d":{"\"":1,"\"":2}}}"#),
            r#"duplicate key "\"" at /a~1b/c~0d"#
        );
    }

    #[test]
    fn same_key_in_sibling_objects_is_fine() {
        let v = parse(br#"{"a":{"k":1},"b":{"k":2},"c":[{"k":1},{"k":1}]}"#).unwrap();
        assert_eq!(v["c"][1]["k"], 1);
    }

    #[test]
    fn duplicate_found_after_escape_decoding() {
        // "\u0061" is "a": the same key spelled differently is still a duplicate.
        assert_eq!(err(r#"{"a":1,"\u0061":2}"#), r#"duplicate key "a" at /"#);
    }

    #[test]
    fn malformed_json_keeps_serde_messages() {
        assert_eq!(err(""), "EOF while parsing a value at line 1 column 0");
        assert_eq!(err("x"), "expected value at line 1 column 1");
        assert_eq!(err(r#"{"a":1,}"#), "trailing comma at line 1 column 8");
        assert_eq!(err(r#"{"a" 1}"#), "expected `:` at line 1 column 6");
    }

    #[test]
    fn trailing_garbage_is_rejected() {
        assert_eq!(err("{} x"), "trailing characters at line 1 column 4");
        assert_eq!(err("1 2"), "trailing characters at line 1 column 3");
        assert!(parse(b"{}\n\t ").is_ok());
    }

    #[test]
    fn nesting_limit_of_serde_json_applies() {
        let deep = "[".repeat(200) + &"]".repeat(200);
        assert!(err(&deep).starts_with("recursion limit exceeded"));
        let ok = "[".repeat(100) + &"]".repeat(100);
        assert!(parse(ok.as_bytes()).is_ok());
    }

    #[test]
    fn invalid_utf8_is_rejected() {
        assert!(parse(b"\"\xff\"").unwrap_err().contains("invalid unicode"));
    }
}
