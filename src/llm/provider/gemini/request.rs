//! The canonical request as a Gemini `GenerateContentRequest`:
//! `systemInstruction`, `contents`, `tools`, `toolConfig` and
//! `generationConfig`. The choices are listed in `gemini.rs`.

use serde_json::{json, Map, Value};

use super::schema;
use super::wire::{signature_of, SIGNATURE_SENTINEL};
use crate::llm::model::{Message, Part, Role, ToolChoice};
use crate::llm::{ChatRequest, LlmError};

/// Thinking budgets for OpenAI's `reasoning_effort` (the figures of
/// Gemini's own OpenAI-compatible endpoint).
const EFFORT_BUDGETS: &[(&str, u64)] = &[
    ("none", 0),
    ("minimal", 1024),
    ("low", 1024),
    ("medium", 8192),
    ("high", 24576),
    ("xhigh", 24576),
];

/// Image types Gemini takes, by file extension (for URLs).
const IMAGE_TYPES: &[(&str, &str)] = &[
    ("png", "image/png"),
    ("jpg", "image/jpeg"),
    ("jpeg", "image/jpeg"),
    ("webp", "image/webp"),
    ("heic", "image/heic"),
    ("heif", "image/heif"),
];

/// The request body.
pub(super) fn body(req: &ChatRequest) -> Result<Map<String, Value>, LlmError> {
    let mut body = Map::new();
    let leading = req
        .messages
        .iter()
        .take_while(|m| m.role == Role::System)
        .count();
    let system: Vec<Value> = req.messages[..leading]
        .iter()
        .flat_map(|m| &m.content)
        .filter_map(|p| match p {
            Part::Text { text, .. } if !text.trim().is_empty() => Some(json!({"text": text})),
            _ => None,
        })
        .collect();
    if !system.is_empty() {
        body.insert("systemInstruction".into(), json!({"parts": system}));
    }
    body.insert(
        "contents".into(),
        Value::Array(contents(&req.messages, leading)?),
    );
    if !req.tools.is_empty() {
        let declarations: Vec<Value> = req
            .tools
            .iter()
            .map(|t| {
                let mut f = Map::new();
                f.insert("name".into(), json!(t.name));
                if let Some(d) = &t.description {
                    f.insert("description".into(), json!(d));
                }
                if let Some(p) = schema::parameters(&t.parameters) {
                    f.insert("parameters".into(), p);
                }
                Value::Object(f)
            })
            .collect();
        body.insert(
            "tools".into(),
            json!([{"functionDeclarations": declarations}]),
        );
        if let Some(choice) = &req.tool_choice {
            let config = match choice {
                ToolChoice::Auto => json!({"mode": "AUTO"}),
                ToolChoice::None => json!({"mode": "NONE"}),
                ToolChoice::Required => json!({"mode": "ANY"}),
                ToolChoice::Tool(name) => json!({"mode": "ANY", "allowedFunctionNames": [name]}),
            };
            body.insert(
                "toolConfig".into(),
                json!({"functionCallingConfig": config}),
            );
        }
    }
    let config = generation_config(req)?;
    if !config.is_empty() {
        body.insert("generationConfig".into(), Value::Object(config));
    }
    Ok(body)
}

fn generation_config(req: &ChatRequest) -> Result<Map<String, Value>, LlmError> {
    let mut c = Map::new();
    let stops: Vec<&String> = req.stop.iter().filter(|s| !s.is_empty()).collect();
    if !stops.is_empty() {
        c.insert("stopSequences".into(), json!(stops));
    }
    if let Some(n) = req.max_tokens {
        c.insert("maxOutputTokens".into(), json!(n));
    }
    if let Some(t) = req.temperature {
        c.insert("temperature".into(), json!(t));
    }
    if let Some(p) = req.top_p {
        c.insert("topP".into(), json!(p));
    }
    if let Some(k) = req.top_k {
        c.insert("topK".into(), json!(k));
    }
    // OpenAI fields the canonical model keeps in `extra`.
    match req.extra.get("n") {
        None | Some(Value::Null) => {}
        Some(n) if n.as_u64() == Some(1) => {}
        Some(_) => {
            return Err(LlmError::invalid(
                "`n`: only one choice per request is supported with Gemini",
            ))
        }
    }
    for (from, to) in [
        ("seed", "seed"),
        ("presence_penalty", "presencePenalty"),
        ("frequency_penalty", "frequencyPenalty"),
    ] {
        if let Some(v) = req.extra.get(from).filter(|v| v.is_number()) {
            c.insert(to.into(), v.clone());
        }
    }
    if let Some(format) = &req.response_format {
        match format.get("type").and_then(Value::as_str) {
            Some("text") => {}
            Some("json_object") => {
                c.insert("responseMimeType".into(), json!("application/json"));
            }
            Some("json_schema") => {
                c.insert("responseMimeType".into(), json!("application/json"));
                if let Some(s) = format.pointer("/json_schema/schema") {
                    c.insert("responseSchema".into(), schema::to_gemini(s));
                }
            }
            other => {
                return Err(LlmError::invalid(format!(
                    "`response_format.type` {} is not supported with Gemini (text, json_object, json_schema)",
                    other.map_or("(missing)".to_string(), |t| format!("{t:?}"))
                )))
            }
        }
    }
    if let Some(budget) = req.thinking_budget {
        c.insert(
            "thinkingConfig".into(),
            json!({"thinkingBudget": budget, "includeThoughts": true}),
        );
    } else if let Some(effort) = &req.reasoning_effort {
        let budget = EFFORT_BUDGETS
            .iter()
            .find(|(name, _)| name == effort)
            .map(|(_, b)| *b)
            .ok_or_else(|| {
                LlmError::invalid(format!(
                    "`reasoning_effort` {effort:?} has no Gemini thinking budget (none, minimal, low, medium, high)"
                ))
            })?;
        c.insert("thinkingConfig".into(), json!({"thinkingBudget": budget}));
    }
    Ok(c)
}

/// The conversation after the leading system messages, as Gemini turns:
/// assistant turns are `model`, everything else `user`, consecutive turns
/// of one role merged.
fn contents(messages: &[Message], skip: usize) -> Result<Vec<Value>, LlmError> {
    let mut turns: Vec<(&'static str, Vec<Value>)> = Vec::new();
    for (i, msg) in messages.iter().enumerate().skip(skip) {
        let role = if msg.role == Role::Assistant {
            "model"
        } else {
            "user"
        };
        let mut parts = Vec::with_capacity(msg.content.len());
        for part in &msg.content {
            if msg.role == Role::System && !matches!(part, Part::Text { .. }) {
                continue;
            }
            if let Some(p) = wire_part(part, messages, i, msg)? {
                parts.push(p);
            }
        }
        if parts.is_empty() {
            continue;
        }
        match turns.last_mut() {
            Some((last, content)) if *last == role => content.extend(parts),
            _ => turns.push((role, parts)),
        }
    }
    Ok(turns
        .into_iter()
        .map(|(role, mut parts)| {
            if role == "model" {
                sign_calls(&mut parts);
            }
            json!({"role": role, "parts": parts})
        })
        .collect())
}

/// A model turn whose function calls carry no thought signature gets the
/// documented sentinel on its first call (Gemini 3 rejects it otherwise).
fn sign_calls(parts: &mut [Value]) {
    let calls = || parts.iter().filter(|p| p.get("functionCall").is_some());
    if calls().count() == 0 || calls().any(|p| p.get("thoughtSignature").is_some()) {
        return;
    }
    if let Some(Value::Object(first)) = parts.iter_mut().find(|p| p.get("functionCall").is_some()) {
        first.insert("thoughtSignature".into(), json!(SIGNATURE_SENTINEL));
    }
}

/// The Gemini part of a canonical part of `messages[index]`, if any.
fn wire_part(
    part: &Part,
    messages: &[Message],
    index: usize,
    msg: &Message,
) -> Result<Option<Value>, LlmError> {
    let at = |e: String| LlmError::invalid(format!("messages[{index}]: {e}"));
    Ok(Some(match part {
        Part::Text { text, .. } if text.trim().is_empty() => return Ok(None),
        Part::Text { text, .. } => json!({"text": text}),
        Part::Image { url, .. } => image_part(url).map_err(at)?,
        Part::ToolCall {
            id,
            name,
            arguments,
        } => {
            let args: Value = if arguments.trim().is_empty() {
                json!({})
            } else {
                serde_json::from_str(arguments)
                    .ok()
                    .filter(Value::is_object)
                    .ok_or_else(|| {
                        at(format!(
                            "tool call {id}: its arguments are not a JSON object"
                        ))
                    })?
            };
            let mut p = json!({"functionCall": {"name": name, "args": args}});
            if let Some(sig) = signature_of(id) {
                p["thoughtSignature"] = json!(sig);
            }
            p
        }
        Part::ToolResult {
            tool_call_id,
            content,
            is_error,
        } => {
            let name = called_function(&messages[..index], tool_call_id)
                .or(msg.name.as_deref())
                .ok_or_else(|| {
                    at(format!(
                        "the tool result for {tool_call_id:?} answers no earlier tool call; \
                         Gemini needs the function's name"
                    ))
                })?;
            let response = if *is_error {
                json!({"error": content})
            } else {
                match serde_json::from_str::<Value>(content) {
                    Ok(obj @ Value::Object(_)) => obj,
                    _ => json!({"output": content}),
                }
            };
            json!({"functionResponse": {"name": name, "response": response}})
        }
        // Gemini takes no thoughts back (their signatures ride on the calls).
        Part::Thinking { .. } | Part::RedactedThinking { .. } => return Ok(None),
    }))
}

/// The function an earlier assistant tool call with `id` called (the
/// latest one, as ids like `call_0` repeat across answers).
fn called_function<'a>(earlier: &'a [Message], id: &str) -> Option<&'a str> {
    earlier
        .iter()
        .rev()
        .filter(|m| m.role == Role::Assistant)
        .flat_map(|m| m.content.iter().rev())
        .find_map(|p| match p {
            Part::ToolCall { id: call, name, .. } if call == id => Some(name.as_str()),
            _ => None,
        })
}

/// A base64 `data:` URI becomes `inlineData`; an `http(s)` URL becomes
/// `fileData` (with its media type when the extension tells it; Gemini's
/// Files API URLs need none).
fn image_part(url: &str) -> Result<Value, String> {
    if let Some(rest) = url.strip_prefix("data:") {
        let (meta, data) = rest
            .split_once(',')
            .ok_or_else(|| "the image's data URI has no `,`".to_string())?;
        let mime = meta
            .strip_suffix(";base64")
            .filter(|m| !m.is_empty())
            .ok_or_else(|| "the image's data URI must be base64 with a media type".to_string())?;
        return Ok(json!({"inlineData": {"mimeType": mime, "data": data}}));
    }
    let lower = url.to_ascii_lowercase();
    if !(lower.starts_with("https://") || lower.starts_with("http://")) {
        return Err("an image must be a base64 data: URI or an http(s) URL".to_string());
    }
    let path = lower.split(['?', '#']).next().unwrap_or_default();
    let mime = path
        .rsplit_once('.')
        .and_then(|(_, ext)| IMAGE_TYPES.iter().find(|(e, _)| *e == ext))
        .map(|(_, m)| *m);
    let mut file = json!({"fileUri": url});
    if let Some(m) = mime {
        file["mimeType"] = json!(m);
    }
    Ok(json!({"fileData": file}))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::model::Tool;

    fn msg(role: Role, content: Vec<Part>) -> Message {
        Message {
            role,
            content,
            name: None,
        }
    }

    fn call(id: &str, name: &str) -> Part {
        Part::ToolCall {
            id: id.into(),
            name: name.into(),
            arguments: "{\"x\":1}".into(),
        }
    }

    fn result(id: &str, content: &str) -> Message {
        msg(
            Role::Tool,
            vec![Part::ToolResult {
                tool_call_id: id.into(),
                content: content.into(),
                is_error: false,
            }],
        )
    }

    #[test]
    fn tool_results_name_the_latest_call_with_their_id() {
        let req = ChatRequest {
            messages: vec![
                Message::text(Role::User, "a"),
                msg(Role::Assistant, vec![call("call_0", "first")]),
                result("call_0", "{\"ok\":true}"),
                msg(
                    Role::Assistant,
                    vec![call("call_0", "second"), call("call_1__sig_c2ln", "third")],
                ),
                result("call_0", "plain"),
                result("call_1__sig_c2ln", "[1]"),
            ],
            ..ChatRequest::default()
        };
        let body = body(&req).unwrap();
        assert_eq!(
            body["contents"],
            json!([
                {"role": "user", "parts": [{"text": "a"}]},
                {"role": "model", "parts": [{"functionCall": {"name": "first", "args": {"x": 1}},
                                             "thoughtSignature": SIGNATURE_SENTINEL}]},
                {"role": "user", "parts": [{"functionResponse": {"name": "first", "response": {"ok": true}}}]},
                {"role": "model", "parts": [
                    {"functionCall": {"name": "second", "args": {"x": 1}}},
                    {"functionCall": {"name": "third", "args": {"x": 1}}, "thoughtSignature": "c2ln"}]},
                {"role": "user", "parts": [
                    {"functionResponse": {"name": "second", "response": {"output": "plain"}}},
                    {"functionResponse": {"name": "third", "response": {"output": "[1]"}}}]}
            ])
        );
    }

    #[test]
    fn an_unknown_tool_result_is_a_400_unless_named() {
        let mut req = ChatRequest {
            messages: vec![result("nope", "x")],
            ..ChatRequest::default()
        };
        let err = body(&req).unwrap_err();
        assert_eq!(err.status, 400);
        assert!(err
            .message
            .starts_with("messages[0]: the tool result for \"nope\""));
        req.messages[0].name = Some("f".into());
        assert_eq!(
            body(&req).unwrap()["contents"][0]["parts"][0]["functionResponse"]["name"],
            "f"
        );
    }

    #[test]
    fn images() {
        assert_eq!(
            image_part("data:image/png;base64,AAAA").unwrap(),
            json!({"inlineData": {"mimeType": "image/png", "data": "AAAA"}})
        );
        assert_eq!(
            image_part("https://x.test/a/cat.JPG?size=2").unwrap(),
            json!({"fileData": {"fileUri": "https://x.test/a/cat.JPG?size=2", "mimeType": "image/jpeg"}})
        );
        assert_eq!(
            image_part("https://generativelanguage.googleapis.com/v1beta/files/abc").unwrap(),
            json!({"fileData": {"fileUri": "https://generativelanguage.googleapis.com/v1beta/files/abc"}})
        );
        assert!(image_part("data:image/png,AAAA").is_err());
        assert!(image_part("file:///etc/passwd").is_err());
    }

    #[test]
    fn options_and_their_limits() {
        let mut req = ChatRequest {
            tools: vec![Tool {
                name: "f".into(),
                description: None,
                parameters: json!({"type": "object", "properties": {}}),
            }],
            tool_choice: Some(ToolChoice::Tool("f".into())),
            reasoning_effort: Some("low".into()),
            stop: vec!["".into(), "END".into()],
            ..ChatRequest::default()
        };
        req.extra.insert("seed".into(), json!(7));
        req.extra.insert("n".into(), json!(1));
        let b = body(&req).unwrap();
        assert_eq!(
            b["tools"],
            json!([{"functionDeclarations": [{"name": "f"}]}])
        );
        assert_eq!(
            b["toolConfig"],
            json!({"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["f"]}})
        );
        assert_eq!(
            b["generationConfig"],
            json!({"stopSequences": ["END"], "seed": 7, "thinkingConfig": {"thinkingBudget": 1024}})
        );
        req.extra.insert("n".into(), json!(2));
        assert!(body(&req).unwrap_err().message.starts_with("`n`"));
        req.extra.remove("n");
        req.reasoning_effort = Some("max".into());
        assert!(body(&req).unwrap_err().message.contains("reasoning_effort"));
        req.reasoning_effort = None;
        req.response_format = Some(json!({"type": "grammar"}));
        assert!(body(&req).unwrap_err().message.contains("\"grammar\""));
    }
}
