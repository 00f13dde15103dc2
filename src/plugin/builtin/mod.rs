//! The built-in plugins, one file each, named after the plugin
//! (`key-auth` → `key_auth.rs`).

pub mod batch;
mod file_logger;
mod http_logger;
mod key_auth;
mod limit_common;
mod limit_conn;
mod limit_count;
mod limit_req;
pub mod log_entry;
mod prometheus;
mod proxy_rewrite;
pub mod request_util;
mod response_rewrite;
mod traffic_split;
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
    ]
}
