//! `GET …/v1/models` and `GET …/v1/models/{id}` on a route with
//! `ai-proxy` or `ai-proxy-multi`, answered by strait from the
//! configuration in OpenAI's list shape, without calling a provider (as
//! LiteLLM lists the models it is configured with). The models are the
//! instances' `options.model`, first instance first, each listed once and
//! owned by its instance's provider; an instance without one lets the
//! client choose and adds nothing, so a route where no model is configured
//! lists none. Instance names stay out of the answer: clients address
//! models, and the names are operators' labels (they show in metrics).
//! Other methods and paths are left to the call.

use http::{Method, StatusCode};
use serde_json::{json, Value};

use super::pool::InstancePool;
use crate::plugin::{Ctx, PluginResponse};

/// What a models request asks for.
#[derive(Debug, PartialEq, Eq)]
enum Wanted<'a> {
    /// The list.
    List,
    /// One model.
    One(&'a str),
}

/// The models request of `path`: a path ending in `/v1/models` (or, for
/// base URLs without a version, `/models`), or such a path and one more
/// part, the model id (which may hold `/`, as OpenRouter's ids do, after
/// `/v1/models/`).
fn wanted(path: &str) -> Option<Wanted<'_>> {
    if let Some(i) = path.rfind("/v1/models") {
        let rest = &path[i + "/v1/models".len()..];
        if rest.is_empty() {
            return Some(Wanted::List);
        }
        if let Some(id) = rest.strip_prefix('/').filter(|id| !id.is_empty()) {
            return Some(Wanted::One(id));
        }
    }
    if path.ends_with("/models") {
        return Some(Wanted::List);
    }
    let (head, id) = path.rsplit_once('/')?;
    (head.ends_with("/models") && !id.is_empty()).then_some(Wanted::One(id))
}

/// The configured models: (id, provider), each id once.
fn configured(pool: &InstancePool) -> Vec<(&str, &str)> {
    let mut out: Vec<(&str, &str)> = Vec::new();
    for inst in &pool.instances {
        let t = &inst.target;
        let Some(model) = t.options.get("model").and_then(Value::as_str) else {
            continue;
        };
        if !model.is_empty() && !out.iter().any(|(m, _)| *m == model) {
            out.push((model, t.provider.name()));
        }
    }
    out
}

fn model_object(id: &str, provider: &str) -> Value {
    json!({"id": id, "object": "model", "created": 0, "owned_by": provider})
}

/// The answer to a models request on `pool`'s route, or None when the
/// request is not one (not a GET of a models path).
pub fn answer(ctx: &Ctx, pool: &InstancePool) -> Option<PluginResponse> {
    if ctx.req.method != Method::GET {
        return None;
    }
    let wanted = wanted(&ctx.path)?;
    let models = configured(pool);
    Some(match wanted {
        Wanted::List => {
            let data: Vec<Value> = models.iter().map(|(m, p)| model_object(m, p)).collect();
            PluginResponse::json(StatusCode::OK, &json!({"object": "list", "data": data}))
        }
        Wanted::One(id) => match models.iter().find(|(m, _)| *m == id) {
            Some((m, p)) => PluginResponse::json(StatusCode::OK, &model_object(m, p)),
            // OpenAI's answer for an unknown model.
            None => PluginResponse::json(
                StatusCode::NOT_FOUND,
                &json!({"error": {
                    "message": format!("The model '{id}' does not exist"),
                    "type": "invalid_request_error",
                    "param": "model",
                    "code": "model_not_found",
                }}),
            ),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn models_paths() {
        assert_eq!(wanted("/v1/models"), Some(Wanted::List));
        assert_eq!(wanted("/team/v1/models"), Some(Wanted::List));
        assert_eq!(wanted("/models"), Some(Wanted::List));
        assert_eq!(wanted("/v1/models/gpt-4o"), Some(Wanted::One("gpt-4o")));
        assert_eq!(
            wanted("/v1/models/openai/gpt-4o"),
            Some(Wanted::One("openai/gpt-4o"))
        );
        assert_eq!(wanted("/x/models/m"), Some(Wanted::One("m")));
        assert_eq!(wanted("/v1/models/"), None);
        assert_eq!(wanted("/v1/chat/completions"), None);
        assert_eq!(wanted("/v1/embeddings"), None);
    }
}
