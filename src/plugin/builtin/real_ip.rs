//! `real-ip` (priority 23000, rewrite phase): replaces the client address
//! with one a trusted proxy reported in `source` — a variable such as
//! `http_x_real_ip` or `arg_realip`, or `http_x_forwarded_for`, whose last
//! address is taken (with `recursive` and `trusted_addresses`: the last one
//! that is not a trusted proxy). With `trusted_addresses`, only requests from
//! those addresses are trusted. The address may carry a port, which then
//! replaces the client port; otherwise the port is kept. Later plugins,
//! variables (`remote_addr`) and the upstream's `X-Real-IP`/`X-Forwarded-For`
//! see the new address. A missing or malformed address changes nothing.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use serde_json::{json, Value};

use crate::expr::{IpSet, VarLookup, VarName};
use crate::plugin::{BuildEnv, Ctx, Plugin, PluginFactory, Step};
use crate::schema::resources::ip_forms;

/// The factory.
pub struct RealIpFactory;

struct RealIp {
    source: VarName,
    forwarded_for: bool,
    trusted: Option<IpSet>,
    recursive: bool,
}

fn trusted(conf: &Value) -> Result<Option<IpSet>, String> {
    match conf.get("trusted_addresses").and_then(Value::as_array) {
        Some(a) => IpSet::parse(a.iter().filter_map(Value::as_str))
            .map(Some)
            .map_err(|e| e.to_string()),
        None => Ok(None),
    }
}

impl PluginFactory for RealIpFactory {
    fn name(&self) -> &'static str {
        "real-ip"
    }
    fn priority(&self) -> i64 {
        23000
    }
    fn schema(&self) -> Value {
        json!({
            "type": "object",
            "properties": {
                "trusted_addresses": {"type": "array", "items": {"anyOf": ip_forms()}, "minItems": 1},
                "source": {"type": "string", "minLength": 1},
                "recursive": {"type": "boolean", "default": false}
            },
            "required": ["source"]
        })
    }
    fn check(&self, conf: &Value, _on_consumer: bool) -> Result<(), String> {
        trusted(conf).map(|_| ())
    }
    fn build(&self, conf: &Value, _env: &BuildEnv) -> Result<Arc<dyn Plugin>, String> {
        let source = conf
            .get("source")
            .and_then(Value::as_str)
            .unwrap_or_default();
        Ok(Arc::new(RealIp {
            source: VarName::parse(source),
            forwarded_for: source == "http_x_forwarded_for",
            trusted: trusted(conf)?,
            recursive: conf
                .get("recursive")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        }))
    }
}

/// An address with an optional port: `1.2.3.4`, `1.2.3.4:80`, `::1`,
/// `[::1]`, `[::1]:80`. A port of 0 is refused.
fn parse_addr(text: &str) -> Option<(IpAddr, Option<u16>)> {
    let text = text.trim();
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some((ip, None));
    }
    if let Some(inner) = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
        return inner.parse::<IpAddr>().ok().map(|ip| (ip, None));
    }
    let sa = text.parse::<SocketAddr>().ok()?;
    (sa.port() != 0).then_some((sa.ip(), Some(sa.port())))
}

impl RealIp {
    /// The address `X-Forwarded-For` reports (its last header line).
    fn forwarded_for_addr(&self, xff: &str) -> String {
        let parts: Vec<&str> = xff.split(',').map(str::trim).collect();
        if let (true, Some(set)) = (self.recursive, &self.trusted) {
            // Walk back over trusted proxies; the first address is the fallback.
            for p in parts.iter().skip(1).rev() {
                if !set.contains_str(p) {
                    return (*p).to_string();
                }
            }
            return parts.first().map(|s| (*s).to_string()).unwrap_or_default();
        }
        parts.last().map(|s| (*s).to_string()).unwrap_or_default()
    }

    fn source_addr(&self, ctx: &Ctx) -> Option<String> {
        if self.forwarded_for {
            let last = ctx
                .req
                .headers
                .get_all("x-forwarded-for")
                .iter()
                .next_back()?;
            return Some(self.forwarded_for_addr(last.to_str().ok()?));
        }
        ctx.get(&self.source).map(|v| v.into_owned())
    }
}

impl Plugin for RealIp {
    fn rewrite(&self, ctx: &mut Ctx) -> Step {
        if let Some(set) = &self.trusted {
            if !set.contains(ctx.conn.remote.ip()) {
                return Step::Continue;
            }
        }
        let Some(addr) = self.source_addr(ctx) else {
            tracing::debug!("real-ip: missing real address");
            return Step::Continue;
        };
        let Some((ip, port)) = parse_addr(&addr) else {
            tracing::warn!("real-ip: bad address: {addr}");
            return Step::Continue;
        };
        let port = port.unwrap_or(ctx.conn.remote.port());
        ctx.conn.remote = SocketAddr::new(ip, port);
        Step::Continue
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(parse_addr("1.2.3.4"), Some((ip("1.2.3.4"), None)));
        assert_eq!(parse_addr(" 1.2.3.4:81"), Some((ip("1.2.3.4"), Some(81))));
        assert_eq!(parse_addr("::1"), Some((ip("::1"), None)));
        assert_eq!(parse_addr("[::1]"), Some((ip("::1"), None)));
        assert_eq!(parse_addr("[::1]:8080"), Some((ip("::1"), Some(8080))));
        assert_eq!(parse_addr("1.2.3.4:0"), None);
        assert_eq!(parse_addr("example.com"), None);
    }

    #[test]
    fn forwarded_for() {
        let mut p = RealIp {
            source: VarName::parse("http_x_forwarded_for"),
            forwarded_for: true,
            trusted: Some(IpSet::parse(["10.0.0.0/8"]).unwrap()),
            recursive: false,
        };
        assert_eq!(
            p.forwarded_for_addr("1.1.1.1, 2.2.2.2, 10.0.0.1"),
            "10.0.0.1"
        );
        p.recursive = true;
        assert_eq!(
            p.forwarded_for_addr("1.1.1.1, 2.2.2.2, 10.0.0.1"),
            "2.2.2.2"
        );
        assert_eq!(
            p.forwarded_for_addr("1.1.1.1, 10.0.0.2, 10.0.0.1"),
            "1.1.1.1"
        );
        assert_eq!(p.forwarded_for_addr("3.3.3.3"), "3.3.3.3");
    }
}
