//! OpenAI's chat answer as it arrives: a complete `chat.completion` or one
//! `chat.completion.chunk`, read into typed, borrowing structs instead of
//! a `serde_json::Value` tree (the hot path of every answer and every
//! streamed chunk: no map per object, no copy of unescaped strings).
//!
//! Providers differ in small ways, so reading is lenient the way
//! `Value::as_str` is: a scalar field of another type than expected reads
//! as absent instead of failing the answer ([`Scalar`]). Fields not named
//! here are skipped unread.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use crate::llm::model::Usage;

/// A complete answer or a stream chunk (`message` in one, `delta` in the other).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Completion<'a> {
    #[serde(borrow)]
    pub id: Scalar<'a>,
    #[serde(borrow)]
    pub model: Scalar<'a>,
    #[serde(borrow)]
    pub created: Scalar<'a>,
    #[serde(borrow)]
    pub choices: Option<Vec<Choice<'a>>>,
    pub usage: Option<WireUsage<'a>>,
    /// An error object (streams report failures this way); rare, so a tree.
    pub error: Option<serde_json::Value>,
}

/// One choice; strait reads the first.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Choice<'a> {
    #[serde(borrow)]
    pub message: Option<WireMessage<'a>>,
    #[serde(borrow)]
    pub delta: Option<WireMessage<'a>>,
    #[serde(borrow)]
    pub finish_reason: Scalar<'a>,
}

/// A message (complete answer) or a delta (chunk).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct WireMessage<'a> {
    #[serde(borrow)]
    pub content: Scalar<'a>,
    #[serde(borrow)]
    pub reasoning_content: Scalar<'a>,
    #[serde(borrow)]
    pub refusal: Scalar<'a>,
    #[serde(borrow)]
    pub tool_calls: Option<Vec<WireToolCall<'a>>>,
}

/// A tool call, or a piece of one in a chunk.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct WireToolCall<'a> {
    #[serde(borrow)]
    pub index: Scalar<'a>,
    #[serde(borrow)]
    pub id: Scalar<'a>,
    #[serde(borrow)]
    pub function: Option<WireFunction<'a>>,
}

/// A tool call's function name and arguments (a JSON string).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct WireFunction<'a> {
    #[serde(borrow)]
    pub name: Scalar<'a>,
    #[serde(borrow)]
    pub arguments: Scalar<'a>,
}

/// OpenAI's `usage` object.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct WireUsage<'a> {
    #[serde(borrow)]
    pub prompt_tokens: Scalar<'a>,
    #[serde(borrow)]
    pub completion_tokens: Scalar<'a>,
    pub prompt_tokens_details: Option<PromptDetails<'a>>,
    pub completion_tokens_details: Option<CompletionDetails<'a>>,
}

/// `usage.prompt_tokens_details`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PromptDetails<'a> {
    #[serde(borrow)]
    pub cached_tokens: Scalar<'a>,
    #[serde(borrow)]
    pub cache_creation_tokens: Scalar<'a>,
}

/// `usage.completion_tokens_details`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CompletionDetails<'a> {
    #[serde(borrow)]
    pub reasoning_tokens: Scalar<'a>,
}

impl WireUsage<'_> {
    /// The canonical usage; `None` unless it has token counts.
    pub fn usage(&self) -> Option<Usage> {
        if self.prompt_tokens.is_absent() && self.completion_tokens.is_absent() {
            return None;
        }
        let prompt = self.prompt_tokens_details.as_ref();
        let completion = self.completion_tokens_details.as_ref();
        Some(Usage {
            prompt_tokens: self.prompt_tokens.count(),
            completion_tokens: self.completion_tokens.count(),
            cached_tokens: prompt.map_or(0, |d| d.cached_tokens.count()),
            cache_creation_tokens: prompt.map_or(0, |d| d.cache_creation_tokens.count()),
            reasoning_tokens: completion.map_or(0, |d| d.reasoning_tokens.count()),
            estimated: false,
        })
    }
}

/// A scalar field read leniently: a string (borrowed from the input unless
/// it had escapes), a non-negative integer, or anything else, which reads
/// as neither. `null` and a missing field are [`Scalar::Absent`].
#[derive(Debug, Default, Clone, PartialEq)]
pub enum Scalar<'a> {
    /// Missing or `null`.
    #[default]
    Absent,
    /// A string.
    Str(Cow<'a, str>),
    /// A non-negative integer.
    Count(u64),
    /// A value of another type (skipped).
    Other,
}

impl Scalar<'_> {
    /// The string, if it is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Scalar::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The string, or `""`.
    pub fn text(&self) -> String {
        self.as_str().unwrap_or("").to_string()
    }

    /// The integer, or 0.
    pub fn count(&self) -> u64 {
        match self {
            Scalar::Count(n) => *n,
            _ => 0,
        }
    }

    /// Whether the field was missing or `null`.
    pub fn is_absent(&self) -> bool {
        matches!(self, Scalar::Absent)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Scalar<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ScalarVisitor)
    }
}

struct ScalarVisitor;

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Owned(v.to_string())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Owned(v)))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Scalar::Count(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(u64::try_from(v).map_or(Scalar::Other, Scalar::Count))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Scalar::Other)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Scalar::Other)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Scalar::Absent)
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Scalar::Absent)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Scalar::Other)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Scalar::Other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_of_another_type_read_as_absent_values_not_errors() {
        let c: Completion = serde_json::from_str(
            r#"{"id":7,"model":["x"],"created":-1,"choices":[{"message":{"content":[{"type":"text"}],"refusal":null},"finish_reason":{"a":1}}]}"#,
        )
        .expect("parses");
        assert_eq!(c.id, Scalar::Count(7));
        assert_eq!(c.model, Scalar::Other);
        assert_eq!(c.created, Scalar::Other);
        let choice = &c.choices.as_deref().unwrap_or_default()[0];
        let message = choice.message.as_ref();
        assert_eq!(message.map(|m| &m.content), Some(&Scalar::Other));
        assert_eq!(message.map(|m| m.refusal.is_absent()), Some(true));
        assert_eq!(choice.finish_reason, Scalar::Other);
    }

    #[test]
    fn strings_borrow_from_the_input_unless_escaped() {
        let c: Completion =
            serde_json::from_str(r#"{"id":"plain","model":"with \"quote\""}"#).expect("parses");
        assert!(matches!(c.id, Scalar::Str(Cow::Borrowed("plain"))));
        assert_eq!(c.model.as_str(), Some("with \"quote\""));
    }

    #[test]
    fn usage_needs_a_token_count() {
        let with: WireUsage = serde_json::from_str(
            r#"{"prompt_tokens":9,"completion_tokens":5,"prompt_tokens_details":{"cached_tokens":2},"completion_tokens_details":{"reasoning_tokens":1}}"#,
        )
        .expect("parses");
        let u = with.usage().expect("usage");
        assert_eq!(
            (
                u.prompt_tokens,
                u.completion_tokens,
                u.cached_tokens,
                u.reasoning_tokens
            ),
            (9, 5, 2, 1)
        );
        let without: WireUsage = serde_json::from_str(r#"{"total_tokens":3}"#).expect("parses");
        assert_eq!(without.usage(), None);
    }
}
