//! Small request helpers the built-in plugins share: query arguments,
//! rewriting the query, building header values.

use std::borrow::Cow;

use http::{HeaderValue, Uri};

use crate::proxy::path::percent_decode;

/// The first value of query argument `name` (decoded).
pub fn query_arg<'u>(uri: &'u Uri, name: &str) -> Option<Cow<'u, str>> {
    uri.query()?
        .split('&')
        .filter(|p| !p.is_empty())
        .find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k, true) == name).then(|| percent_decode(v, true))
        })
}

/// `uri` without query argument `name`.
pub fn without_query_arg(uri: &Uri, name: &str) -> Uri {
    let Some(q) = uri.query() else {
        return uri.clone();
    };
    let kept: Vec<&str> = q
        .split('&')
        .filter(|p| {
            let k = p.split_once('=').map_or(*p, |(k, _)| k);
            !p.is_empty() && percent_decode(k, true) != name
        })
        .collect();
    let pq = if kept.is_empty() {
        uri.path().to_string()
    } else {
        format!("{}?{}", uri.path(), kept.join("&"))
    };
    pq.parse().unwrap_or_else(|_| uri.clone())
}

/// A header value from text, or `None` when it has characters headers cannot carry.
pub fn header_value(s: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(s).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_helpers() {
        let u: Uri = "/p?apikey=a%20b&x=1".parse().unwrap();
        assert_eq!(query_arg(&u, "apikey").as_deref(), Some("a b"));
        assert_eq!(query_arg(&u, "nope"), None);
        assert_eq!(without_query_arg(&u, "apikey").to_string(), "/p?x=1");
        let u: Uri = "/p?apikey=1".parse().unwrap();
        assert_eq!(without_query_arg(&u, "apikey").to_string(), "/p");
    }
}
