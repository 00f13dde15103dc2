//! List filters and paging of `GET /apisix/admin/{resource}` (APISIX v3):
//! `name` (regex on `name`), `label` (`key` or `key:value` in `labels`),
//! `uri` (regex on `uri`/`uris`), `filter` (routes only, as APISIX:
//! `service_id=1&upstream_id=2`, exact matches; other fields are ignored),
//! `page` (from 1) and `page_size` (10–500). Items are sorted by creation;
//! `total` counts the filtered items before paging.

use regex::Regex;
use serde_json::Value;

use super::error::AdminError;
use super::etcd_store::StoredItem;
use crate::config::resource::ResourceKind;
use crate::proxy::path::percent_decode;

/// The fields `filter=` may name (APISIX's `list_filter_fields` of routes).
const FILTER_FIELDS: [&str; 2] = ["service_id", "upstream_id"];

/// Largest compiled size of a user-supplied filter regex.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// Parsed list arguments.
#[derive(Debug, Default)]
pub struct ListQuery {
    name: Option<Regex>,
    label: Option<(String, Option<String>)>,
    uri: Option<Regex>,
    fields: Vec<(String, String)>,
    page: Option<(usize, usize)>,
}

fn regex(arg: &str, pattern: &str) -> Result<Regex, AdminError> {
    regex::RegexBuilder::new(pattern)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| AdminError::BadRequest(format!("invalid argument {arg}: {e}")))
}

fn number(arg: &str, v: &str) -> Result<usize, AdminError> {
    v.parse()
        .map_err(|_| AdminError::BadRequest(format!("invalid argument {arg}: should be a number")))
}

impl ListQuery {
    /// Parse a query string for a list of `kind`.
    pub fn parse(kind: ResourceKind, query: Option<&str>) -> Result<ListQuery, AdminError> {
        let mut q = ListQuery::default();
        let (mut page, mut page_size) = (None, None);
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let v = percent_decode(v, true);
            match k {
                "name" if !v.is_empty() => q.name = Some(regex("name", &v)?),
                "uri" if !v.is_empty() => q.uri = Some(regex("uri", &v)?),
                "label" if !v.is_empty() => {
                    q.label = Some(match v.split_once(':') {
                        Some((k, val)) => (k.to_string(), Some(val.to_string())),
                        None => (v.to_string(), None),
                    })
                }
                "filter" if kind == ResourceKind::Route => {
                    for f in v.split('&').filter(|f| !f.is_empty()) {
                        let (fk, fv) = f.split_once('=').unwrap_or((f, ""));
                        let fk = percent_decode(fk, true);
                        if FILTER_FIELDS.contains(&fk.as_ref()) {
                            q.fields
                                .push((fk.into_owned(), percent_decode(fv, true).into_owned()));
                        }
                    }
                }
                "page" => page = Some(number("page", &v)?.max(1)),
                "page_size" => {
                    let n = number("page_size", &v)?;
                    if !(10..=500).contains(&n) {
                        return Err(AdminError::BadRequest(
                            "page_size must be between 10 and 500".into(),
                        ));
                    }
                    page_size = Some(n);
                }
                _ => {}
            }
        }
        if page.is_some() || page_size.is_some() {
            q.page = Some((page.unwrap_or(1), page_size.unwrap_or(10)));
        }
        Ok(q)
    }

    /// `(page, page_size)` when the query asks for a page and filters
    /// nothing, so etcd can serve the page directly.
    pub fn plain_page(&self) -> Option<(usize, usize)> {
        let unfiltered = self.name.is_none()
            && self.label.is_none()
            && self.uri.is_none()
            && self.fields.is_empty();
        self.page.filter(|_| unfiltered)
    }

    fn matches(&self, v: &Value) -> bool {
        if let Some(re) = &self.name {
            match v.get("name").and_then(Value::as_str) {
                Some(n) if re.is_match(n) => {}
                _ => return false,
            }
        }
        if let Some((key, want)) = &self.label {
            match (v.get("labels").and_then(|l| l.get(key)), want) {
                (None, _) => return false,
                (Some(got), Some(w)) if got.as_str() != Some(w.as_str()) => return false,
                _ => {}
            }
        }
        if let Some(re) = &self.uri {
            let one = v.get("uri").and_then(Value::as_str).into_iter();
            let many = v
                .get("uris")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str);
            if !one.chain(many).any(|u| re.is_match(u)) {
                return false;
            }
        }
        self.fields.iter().all(|(k, want)| match v.get(k) {
            Some(Value::String(s)) => s == want,
            Some(Value::Number(n)) => n.to_string() == *want,
            Some(Value::Bool(b)) => b.to_string() == *want,
            _ => false,
        })
    }

    /// Filter, sort by creation and page `items`; returns `(total, page)`.
    pub fn apply(&self, mut items: Vec<StoredItem>) -> (usize, Vec<StoredItem>) {
        items.retain(|i| self.matches(&i.value));
        items.sort_by_key(|i| i.create_revision);
        let total = items.len();
        if let Some((page, size)) = self.page {
            let start = (page - 1).saturating_mul(size);
            items = items.into_iter().skip(start).take(size).collect();
        }
        (total, items)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn item(rev: i64, v: Value) -> StoredItem {
        StoredItem {
            key: format!("/apisix/routes/{rev}"),
            value: v,
            create_revision: rev,
            mod_revision: rev,
        }
    }

    fn ids(items: &[StoredItem]) -> Vec<i64> {
        items.iter().map(|i| i.create_revision).collect()
    }

    #[test]
    fn filters_and_pages() {
        let items: Vec<StoredItem> = (1..=25)
            .rev()
            .map(|i| {
                item(
                    i,
                    json!({"name": format!("r{i}"), "uri": format!("/p/{i}"), "service_id": i % 2,
                           "labels": if i % 5 == 0 { json!({"env": "prod"}) } else { json!({"env": "dev"}) }}),
                )
            })
            .collect();
        let (total, page) = ListQuery::parse(ResourceKind::Route, Some("page=2&page_size=10"))
            .unwrap()
            .apply(items.clone());
        assert_eq!(total, 25);
        assert_eq!(ids(&page), (11..=20).collect::<Vec<_>>());
        let (total, page) = ListQuery::parse(ResourceKind::Route, Some("label=env:prod"))
            .unwrap()
            .apply(items.clone());
        assert_eq!((total, ids(&page)), (5, vec![5, 10, 15, 20, 25]));
        let (total, _) = ListQuery::parse(ResourceKind::Route, Some("name=%5Er1"))
            .unwrap()
            .apply(items.clone());
        assert_eq!(total, 11, "r1, r10..r19");
        let (_, page) =
            ListQuery::parse(ResourceKind::Route, Some("uri=/p/2$&filter=service_id%3D0"))
                .unwrap()
                .apply(items.clone());
        assert_eq!(ids(&page), vec![2]);
        let (total, _) = ListQuery::parse(ResourceKind::Route, None)
            .unwrap()
            .apply(items);
        assert_eq!(total, 25);
    }

    #[test]
    fn bad_arguments() {
        for (q, msg) in [
            ("page_size=5", "page_size must be between 10 and 500"),
            ("page_size=501", "page_size must be between 10 and 500"),
            ("page=x", "invalid argument page: should be a number"),
        ] {
            match ListQuery::parse(ResourceKind::Route, Some(q)) {
                Err(AdminError::BadRequest(m)) => assert_eq!(m, msg),
                other => panic!("{q}: {other:?}"),
            }
        }
        assert!(ListQuery::parse(ResourceKind::Route, Some("name=(")).is_err());
    }
}
