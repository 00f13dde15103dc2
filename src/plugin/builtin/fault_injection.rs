//! `fault-injection` (priority 11000, rewrite phase): delays requests
//! (`delay.duration` seconds, asynchronously — no thread is blocked) and/or
//! answers them instead of the upstream (`abort.http_status`, `abort.body`
//! and `abort.headers`, both with `$var` substitution). Each part applies to
//! `percentage` of requests (all by default) and, with `vars`, only to
//! requests matching one of the expressions. A delayed request that is also
//! aborted is answered after the delay.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, StatusCode};
use serde_json::{json, Value};

use super::template::resolve_vars;
use crate::expr::Expr;
use crate::plugin::{BuildEnv, Ctx, Decided, Plugin, PluginFactory, PluginResponse, Step};

/// The factory.
pub struct FaultInjectionFactory;

/// When a part applies.
struct Sampling {
    percentage: Option<u64>,
    /// Any one matching is enough; `None`: every request.
    vars: Option<Vec<Expr>>,
}

impl Sampling {
    fn from_conf(conf: &Value) -> Result<Sampling, String> {
        let vars = match conf.get("vars").and_then(Value::as_array) {
            Some(list) => Some(
                list.iter()
                    .map(|v| Expr::compile(v).map_err(|e| e.to_string()))
                    .collect::<Result<Vec<_>, _>>()?,
            ),
            None => None,
        };
        Ok(Sampling {
            percentage: conf.get("percentage").and_then(Value::as_u64),
            vars,
        })
    }

    fn hits(&self, ctx: &Ctx) -> bool {
        let vars_match = self
            .vars
            .as_ref()
            .is_none_or(|list| list.iter().any(|e| e.eval(ctx)));
        // APISIX's `random(1, 100) <= percentage`.
        vars_match && self.percentage.is_none_or(|p| fastrand::u64(1..=100) <= p)
    }
}

struct Abort {
    status: StatusCode,
    body: Option<String>,
    headers: Vec<(HeaderName, String)>,
    when: Sampling,
}

struct Delay {
    duration: Duration,
    when: Sampling,
}

struct FaultInjection {
    abort: Option<Abort>,
    delay: Option<Delay>,
}

fn sampling_schema() -> Value {
    json!({"type": "array", "maxItems": 20, "items": {"type": "array"}})
}

fn build_abort(conf: &Value) -> Result<Abort, String> {
    let code = conf
        .get("http_status")
        .and_then(Value::as_u64)
        .and_then(|c| u16::try_from(c).ok())
        .unwrap_or(200);
    let mut headers = Vec::new();
    for (k, v) in conf
        .get("headers")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let name = HeaderName::from_bytes(k.to_ascii_lowercase().as_bytes())
            .map_err(|e| format!("abort.headers: {k}: {e}"))?;
        let value = match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        headers.push((name, value));
    }
    Ok(Abort {
        status: StatusCode::from_u16(code).map_err(|e| e.to_string())?,
        body: conf.get("body").and_then(Value::as_str).map(String::from),
        headers,
        when: Sampling::from_conf(conf)?,
    })
}

impl PluginFactory for FaultInjectionFactory {
    fn name(&self) -> &'static str {
        "fault-injection"
    }
    fn priority(&self) -> i64 {
        11000
    }
    fn schema(&self) -> Value {
        json!({
            "type": "object",
            "properties": {
                "abort": {
                    "type": "object",
                    "properties": {
                        "http_status": {"type": "integer", "minimum": 200},
                        "body": {"type": "string", "minLength": 0},
                        "headers": {
                            "type": "object",
                            "minProperties": 1,
                            "patternProperties": {
                                "^[^:]+$": {"oneOf": [{"type": "string"}, {"type": "number"}]}
                            }
                        },
                        "percentage": {"type": "integer", "minimum": 0, "maximum": 100},
                        "vars": sampling_schema()
                    },
                    "required": ["http_status"]
                },
                "delay": {
                    "type": "object",
                    "properties": {
                        "duration": {"type": "number", "minimum": 0},
                        "percentage": {"type": "integer", "minimum": 0, "maximum": 100},
                        "vars": sampling_schema()
                    },
                    "required": ["duration"]
                }
            },
            "minProperties": 1
        })
    }
    fn check(&self, conf: &Value, _on_consumer: bool) -> Result<(), String> {
        for part in ["abort", "delay"] {
            if let Some(p) = conf.get(part) {
                Sampling::from_conf(p)?;
            }
        }
        if let Some(a) = conf.get("abort") {
            build_abort(a)?;
        }
        Ok(())
    }
    fn build(&self, conf: &Value, _env: &BuildEnv) -> Result<Arc<dyn Plugin>, String> {
        let abort = conf.get("abort").map(build_abort).transpose()?;
        let delay = match conf.get("delay") {
            Some(d) => {
                let secs = d.get("duration").and_then(Value::as_f64).unwrap_or(0.0);
                Some(Delay {
                    duration: Duration::try_from_secs_f64(secs).map_err(|e| e.to_string())?,
                    when: Sampling::from_conf(d)?,
                })
            }
            None => None,
        };
        Ok(Arc::new(FaultInjection { abort, delay }))
    }
}

impl Abort {
    fn response(&self, ctx: &Ctx) -> PluginResponse {
        let body = self
            .body
            .as_deref()
            .map(|b| Bytes::from(resolve_vars(b, ctx)))
            .unwrap_or_default();
        let mut r = PluginResponse::text(self.status, body);
        for (name, value) in &self.headers {
            if let Ok(v) = HeaderValue::from_str(&resolve_vars(value, ctx)) {
                r.headers.insert(name.clone(), v);
            }
        }
        r
    }
}

impl Plugin for FaultInjection {
    fn rewrite(&self, ctx: &mut Ctx) -> Step {
        // Both decisions are taken before the delay, as APISIX evaluates `vars` first.
        let delay = self
            .delay
            .as_ref()
            .filter(|d| d.when.hits(ctx))
            .map(|d| d.duration);
        let abort = self
            .abort
            .as_ref()
            .filter(|a| a.when.hits(ctx))
            .map(|a| a.response(ctx));
        match (delay, abort) {
            (Some(d), respond) => Step::Wait(Box::pin(async move {
                tokio::time::sleep(d).await;
                Decided {
                    respond,
                    response_headers: Vec::new(),
                }
            })),
            (None, Some(r)) => Step::Respond(r),
            (None, None) => Step::Continue,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::validator::Schema;

    #[test]
    fn schema_and_checks() {
        let f = FaultInjectionFactory;
        let s = Schema::compile(&f.schema()).unwrap();
        assert!(s.validate(&json!({})).is_err());
        assert!(s.validate(&json!({"abort": {}})).is_err());
        // The pattern leaves `a:b` unchecked; it is no header name.
        assert!(f
            .check(
                &json!({"abort": {"http_status": 200, "headers": {"a:b": "x"}}}),
                false
            )
            .is_err());
        assert!(s.validate(&json!({"delay": {"duration": 0.5}})).is_ok());
        assert!(f
            .check(
                &json!({"abort": {"http_status": 403, "vars": [["arg_x", "=", "1"]]}}),
                false
            )
            .is_err());
        assert!(f
            .check(
                &json!({"abort": {"http_status": 403, "vars": [[["arg_x", "==", "1"]]]}}),
                false
            )
            .is_ok());
    }
}
