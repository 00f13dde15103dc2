//! The built-in plugins, one file each, named after the plugin
//! (`key-auth` → `key_auth.rs`).

pub mod ai_budget;
pub mod ai_proxy;
pub mod ai_proxy_multi;
pub mod ai_rate_limiting;
pub mod auth_util;
mod basic_auth;
pub mod batch;
mod consumer_restriction;
mod cors;
mod fault_injection;
mod file_logger;
mod http_logger;
mod ip_restriction;
mod jwt_auth;
mod key_auth;
pub(crate) mod limit_common;
mod limit_conn;
mod limit_count;
mod limit_req;
pub mod log_entry;
mod logger;
mod prometheus;
mod proxy_rewrite;
mod real_ip;
mod redirect;
mod request_id;
pub mod request_util;
mod response_rewrite;
pub mod template;
mod traffic_split;
mod ua_restriction;
mod var_template;

use super::PluginFactory;

/// Every built-in plugin factory.
pub fn factories() -> Vec<Box<dyn PluginFactory>> {
    vec![
        Box::new(key_auth::KeyAuthFactory),
        Box::new(prometheus::PrometheusFactory),
        Box::new(http_logger::HttpLoggerFactory),
        Box::new(file_logger::FileLoggerFactory),
        Box::new(limit_count::LimitCountFactory),
        Box::new(limit_req::LimitReqFactory),
        Box::new(limit_conn::LimitConnFactory),
        Box::new(proxy_rewrite::ProxyRewriteFactory),
        Box::new(response_rewrite::ResponseRewriteFactory),
        Box::new(traffic_split::TrafficSplitFactory),
        Box::new(basic_auth::BasicAuthFactory),
        Box::new(jwt_auth::JwtAuthFactory),
        Box::new(consumer_restriction::ConsumerRestrictionFactory),
        Box::new(ip_restriction::IpRestrictionFactory),
        Box::new(ua_restriction::UaRestrictionFactory),
        Box::new(real_ip::RealIpFactory),
        Box::new(request_id::RequestIdFactory),
        Box::new(cors::CorsFactory),
        Box::new(redirect::RedirectFactory),
        Box::new(fault_injection::FaultInjectionFactory),
        Box::new(ai_proxy::AiProxyFactory),
        Box::new(ai_budget::AiBudgetFactory),
        Box::new(ai_proxy_multi::AiProxyMultiFactory),
        Box::new(ai_rate_limiting::AiRateLimitingFactory),
        Box::new(crate::plugin::lua::serverless::ServerlessFactory::pre()),
        Box::new(crate::plugin::lua::serverless::ServerlessFactory::post()),
    ]
}
