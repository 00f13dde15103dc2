//! An instance's `options` applied over a request that was already
//! decoded: when `ai-proxy-multi` falls back to another instance, the
//! request plugins may have changed is sent again with that instance's
//! options (its `model` above all), the fields only the previous
//! instance's options set put back as the client sent them. The first
//! instance's options are set on the client's JSON before decoding
//! instead, as APISIX does.

use serde_json::{Map, Value};

use super::ChatRequest;

/// Set `options` over `req`: the fields the canonical request holds by
/// their OpenAI or Anthropic names, the rest in [`ChatRequest::extra`].
pub fn apply_options(req: &mut ChatRequest, options: &Map<String, Value>) {
    for (name, value) in options {
        match name.as_str() {
            "model" => {
                if let Some(m) = value.as_str() {
                    req.model = m.to_string();
                }
            }
            "max_tokens" | "max_completion_tokens" => req.max_tokens = value.as_u64(),
            "temperature" => req.temperature = value.as_f64(),
            "top_p" => req.top_p = value.as_f64(),
            "top_k" => req.top_k = value.as_u64(),
            "stop" | "stop_sequences" => {
                req.stop = match value {
                    Value::String(s) => vec![s.clone()],
                    Value::Array(a) => a
                        .iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect(),
                    _ => Vec::new(),
                }
            }
            "reasoning_effort" => req.reasoning_effort = value.as_str().map(str::to_string),
            "response_format" => req.response_format = Some(value.clone()),
            "parallel_tool_calls" => req.parallel_tool_calls = value.as_bool(),
            "user" => req.user = value.as_str().map(str::to_string),
            // A stream is the client's choice, not an instance's.
            "stream" | "stream_options" | "messages" => {}
            _ => {
                req.extra.insert(name.clone(), value.clone());
            }
        }
    }
}

/// Put back, for each option name in `names`, the value `client` (the
/// client's request as it came, before any instance's options) has: what
/// the previous instance's options set and the next one's do not.
pub fn restore<'a>(
    req: &mut ChatRequest,
    client: &ChatRequest,
    names: impl IntoIterator<Item = &'a str>,
) {
    for name in names {
        match name {
            "model" => req.model = client.model.clone(),
            "max_tokens" | "max_completion_tokens" => req.max_tokens = client.max_tokens,
            "temperature" => req.temperature = client.temperature,
            "top_p" => req.top_p = client.top_p,
            "top_k" => req.top_k = client.top_k,
            "stop" | "stop_sequences" => req.stop = client.stop.clone(),
            "reasoning_effort" => req.reasoning_effort = client.reasoning_effort.clone(),
            "response_format" => req.response_format = client.response_format.clone(),
            "parallel_tool_calls" => req.parallel_tool_calls = client.parallel_tool_calls,
            "user" => req.user = client.user.clone(),
            "stream" | "stream_options" | "messages" => {}
            other => match client.extra.get(other) {
                Some(v) => {
                    req.extra.insert(other.to_string(), v.clone());
                }
                None => {
                    req.extra.remove(other);
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn known_fields_and_extra() {
        let mut req = ChatRequest {
            model: "gpt-4o".into(),
            temperature: Some(0.2),
            stream: true,
            ..Default::default()
        };
        let options = json!({
            "model": "deepseek-chat",
            "max_completion_tokens": 64,
            "stop": "END",
            "stream": false,
            "seed": 7,
        });
        apply_options(&mut req, options.as_object().unwrap());
        assert_eq!(req.model, "deepseek-chat");
        assert_eq!(req.max_tokens, Some(64));
        assert_eq!(req.stop, ["END"]);
        assert_eq!(req.temperature, Some(0.2), "not in the options: kept");
        assert!(req.stream, "the client's choice");
        assert_eq!(req.extra.get("seed"), Some(&json!(7)));

        // The next instance names no seed and no stop: the client's come back.
        let client = ChatRequest {
            model: "client".into(),
            ..Default::default()
        };
        restore(&mut req, &client, ["seed", "stop", "model"]);
        assert!(!req.extra.contains_key("seed"));
        assert!(req.stop.is_empty());
        assert_eq!(req.model, "client");
    }
}
