//! The dashboard's read-only JSON endpoints under `/ui/api/`: `whoami`,
//! `revision`, `overview`, `traffic` and `llm`. They take the Admin API's
//! keys (viewers too: everything here is a read) and answer its 401s.

use std::time::Duration;

use http::{HeaderValue, Method, Request, Response, StatusCode};
use serde_json::{json, Value};

use super::overview;
use super::sampler::unix_now;
use super::Dashboard;
use crate::admin::auth::Role;
use crate::admin::error::AdminError;
use crate::admin::AdminApi;
use crate::body::{json_response, ProxyBody};

/// Longest wait for etcd's revision; past it `etcd` is `null`.
const ETCD_PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// Default and largest `seconds` of `/ui/api/traffic`.
const TRAFFIC_SECONDS: (u64, u64) = (900, 3600);
/// Default and largest `seconds` of `/ui/api/llm`.
const LLM_SECONDS: (u64, u64) = (3600, 3600);

/// Answer `/ui/api/{endpoint}`.
pub async fn handle<B>(
    admin: &AdminApi,
    ui: &Dashboard,
    req: &Request<B>,
    endpoint: &str,
) -> Response<ProxyBody> {
    let mut resp = match answer(admin, ui, req, endpoint).await {
        Ok(v) => json_response(StatusCode::OK, &v),
        Err(e) => e.into_response(),
    };
    // As every Admin API answer, 401s included.
    resp.headers_mut()
        .insert("x-api-version", HeaderValue::from_static("v3"));
    resp
}

async fn answer<B>(
    admin: &AdminApi,
    ui: &Dashboard,
    req: &Request<B>,
    endpoint: &str,
) -> Result<Value, AdminError> {
    let query = req.uri().query();
    // Every endpoint reads, so a viewer key is as good as an admin one.
    let caller = admin
        .policy
        .check_request(&Method::GET, req.headers(), query)?;
    if req.method() != Method::GET {
        return Err(AdminError::WrongMethod(format!(
            "{} is not supported: the dashboard API is read-only (GET)",
            req.method()
        )));
    }
    match endpoint {
        "whoami" => Ok(json!({
            "name": caller.name,
            "role": match caller.role {
                Role::Admin => "admin",
                Role::Viewer => "viewer",
            },
        })),
        "revision" => {
            let applied = ui.shared.applied_revision();
            Ok(json!({"applied": applied, "etcd": etcd_revision(admin, applied).await}))
        }
        "overview" => Ok(overview::overview(ui, admin, unix_now())),
        "traffic" => {
            let seconds = seconds_arg(query, TRAFFIC_SECONDS)?;
            Ok(overview::traffic(ui, seconds, unix_now()))
        }
        "llm" => {
            let seconds = seconds_arg(query, LLM_SECONDS)?;
            Ok(overview::llm(ui, seconds, unix_now()))
        }
        _ => Err(AdminError::NotFound("not found".into())),
    }
}

/// etcd's newest change under the prefix, `None` when etcd does not answer soon.
async fn etcd_revision(admin: &AdminApi, applied: i64) -> Option<i64> {
    match tokio::time::timeout(ETCD_PROBE_TIMEOUT, admin.store.latest_change(applied)).await {
        Ok(Ok(rev)) => Some(rev),
        Ok(Err(e)) => {
            tracing::debug!("dashboard: etcd revision unavailable: {e}");
            None
        }
        Err(_) => None,
    }
}

/// The `seconds` query argument: `default` when absent, at most `max`.
fn seconds_arg(query: Option<&str>, (default, max): (u64, u64)) -> Result<u64, AdminError> {
    let raw = query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .find_map(|p| p.strip_prefix("seconds="));
    match raw {
        None => Ok(default),
        Some(v) => match v.parse::<u64>() {
            Ok(n) if n > 0 => Ok(n.min(max)),
            _ => Err(AdminError::BadRequest(format!(
                "seconds must be a whole number from 1 to {max}"
            ))),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_argument() {
        let t = TRAFFIC_SECONDS;
        assert_eq!(seconds_arg(None, t).unwrap(), 900);
        assert_eq!(seconds_arg(Some("api_key=x"), t).unwrap(), 900);
        assert_eq!(seconds_arg(Some("a=1&seconds=60"), t).unwrap(), 60);
        assert_eq!(seconds_arg(Some("seconds=99999"), t).unwrap(), 3600);
        assert!(seconds_arg(Some("seconds=0"), t).is_err());
        assert!(seconds_arg(Some("seconds=-5"), t).is_err());
        assert!(seconds_arg(Some("seconds=abc"), t).is_err());
    }
}
