//! The dashboard's files under `/ui/`: a request path is percent-decoded and
//! normalised into a path under `admin_ui_root` (no `..`, no hidden or
//! absolute parts, no NUL), then canonicalised and checked to still lie
//! under the canonical root, so neither an encoded `..` nor a symlink leaves
//! it. Paths without an extension that name no file get `index.html` (the
//! SPA routes them in the browser).

use std::path::{Component, Path, PathBuf};

use http::{header, HeaderValue, Method, Response, StatusCode};

use crate::body::{empty, full, ProxyBody};
use crate::proxy::path::percent_decode;

/// Vite's output directory of hashed (never changing) files.
const ASSETS_DIR: &str = "assets";

/// Why a static request gets no file.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StaticError {
    /// The decoded path tries to leave the root or names a hidden file.
    #[error("refused path")]
    Refused,
    /// No such file.
    #[error("not found")]
    NotFound,
    /// The root has no `index.html`.
    #[error("the dashboard is not built")]
    NotBuilt,
}

/// The part of a request path after `/ui/` as a relative path under the
/// root: percent-decoded, empty and `.` segments dropped, and refused when
/// a segment is `..` or hidden (starts with `.`), or the path holds a NUL
/// or a backslash.
pub fn normalise(raw: &str) -> Result<PathBuf, StaticError> {
    let decoded = percent_decode(raw, false);
    if decoded.contains('\0') || decoded.contains('\\') {
        return Err(StaticError::Refused);
    }
    let mut out = PathBuf::new();
    for seg in decoded.split('/') {
        match seg {
            "" | "." => continue,
            s if s.starts_with('.') => return Err(StaticError::Refused),
            s => out.push(s),
        }
    }
    // Belt and braces: only plain names may remain.
    if out.components().all(|c| matches!(c, Component::Normal(_))) {
        Ok(out)
    } else {
        Err(StaticError::Refused)
    }
}

/// The `Content-Type` of a file, by extension.
pub fn content_type(path: &Path) -> &'static str {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    match ext.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "woff" => "font/woff",
        "ttf" => "font/ttf",
        "txt" => "text/plain; charset=utf-8",
        "wasm" => "application/wasm",
        _ => "application/octet-stream",
    }
}

/// Whether `rel` names a static file rather than an SPA route: anything under
/// `assets/`, or a last segment with a file type served here (`app.js`).
/// Resource ids may hold dots (`/ui/ssls/shop.example.com`), so a dot alone
/// does not make a file.
fn names_a_file(rel: &Path) -> bool {
    rel.starts_with(ASSETS_DIR)
        || (rel.extension().is_some() && content_type(rel) != "application/octet-stream")
}

/// A file found under the root.
#[derive(Debug, PartialEq, Eq)]
pub struct Found {
    /// Its canonical path.
    pub path: PathBuf,
    /// Whether it is the SPA's `index.html` (never cached).
    pub index: bool,
    /// Whether it is under `assets/` (cached for good).
    pub immutable: bool,
}

/// Find the file for the request path `raw` (after `/ui/`) under `root`.
pub async fn resolve(root: &Path, raw: &str) -> Result<Found, StaticError> {
    let root = tokio::fs::canonicalize(root)
        .await
        .map_err(|_| StaticError::NotBuilt)?;
    let index = root.join("index.html");
    if !is_file(&index).await {
        return Err(StaticError::NotBuilt);
    }
    let rel = normalise(raw)?;
    let spa = || Found {
        path: index.clone(),
        index: true,
        immutable: false,
    };
    if rel.as_os_str().is_empty() {
        return Ok(spa());
    }
    match tokio::fs::canonicalize(root.join(&rel)).await {
        // A symlink may point anywhere: the target must be under the root too.
        Ok(p) if !p.starts_with(&root) => Err(StaticError::Refused),
        Ok(p) if is_file(&p).await => Ok(Found {
            index: p == index,
            immutable: rel.starts_with(ASSETS_DIR),
            path: p,
        }),
        _ if names_a_file(&rel) => Err(StaticError::NotFound),
        _ => Ok(spa()),
    }
}

async fn is_file(p: &Path) -> bool {
    tokio::fs::metadata(p).await.is_ok_and(|m| m.is_file())
}

/// Headers every dashboard response carries.
pub fn protect(resp: &mut Response<ProxyBody>) {
    let h = resp.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
}

fn text(status: StatusCode, body: String) -> Response<ProxyBody> {
    let mut resp = Response::new(full(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

/// Answer `GET`/`HEAD /ui/{raw}` from `root`.
pub async fn serve(root: &Path, method: &Method, raw: &str) -> Response<ProxyBody> {
    let mut resp = if *method != Method::GET && *method != Method::HEAD {
        let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD\n".into());
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        r
    } else {
        match resolve(root, raw).await {
            Ok(found) => file_response(&found, *method == Method::HEAD).await,
            Err(StaticError::NotBuilt) => text(
                StatusCode::NOT_FOUND,
                format!(
                    "The dashboard is not built: no index.html in {}. Run `make dashboard`, or set deployment.admin.admin_ui_root.\n",
                    root.display()
                ),
            ),
            Err(StaticError::NotFound | StaticError::Refused) => {
                text(StatusCode::NOT_FOUND, "not found\n".into())
            }
        }
    };
    protect(&mut resp);
    resp
}

async fn file_response(found: &Found, head: bool) -> Response<ProxyBody> {
    let bytes = match tokio::fs::read(&found.path).await {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(file = %found.path.display(), "dashboard file unreadable: {e}");
            return text(StatusCode::NOT_FOUND, "not found\n".into());
        }
    };
    let len = bytes.len();
    let mut resp = Response::new(if head { empty() } else { full(bytes) });
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(&found.path)),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    let cache = if found.immutable && !found.index {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalise_keeps_plain_paths_and_refuses_escapes() {
        assert_eq!(normalise("").unwrap(), PathBuf::new());
        assert_eq!(
            normalise("assets/app.js").unwrap(),
            PathBuf::from("assets/app.js")
        );
        assert_eq!(
            normalise("routes//1/./edit").unwrap(),
            PathBuf::from("routes/1/edit")
        );
        assert_eq!(normalise("a%20b.txt").unwrap(), PathBuf::from("a b.txt"));
        for bad in [
            "../Cargo.toml",
            "%2e%2e/Cargo.toml",
            "..%2fCargo.toml",
            "..%2FCargo.toml",
            "assets/../../x",
            "a/%2E%2E/%2e%2e/x",
            "..",
            ".env",
            "x%00.js",
            "..%5cCargo.toml",
            "a\\b",
        ] {
            assert_eq!(normalise(bad), Err(StaticError::Refused), "{bad}");
        }
        // An absolute path after decoding is made relative, never absolute.
        assert_eq!(
            normalise("%2fetc%2fpasswd").unwrap(),
            PathBuf::from("etc/passwd")
        );
        // Decoded once only: `%252e` is the literal name `%2e`.
        assert_eq!(normalise("%252e%252e").unwrap(), PathBuf::from("%2e%2e"));
    }

    #[test]
    fn content_types_by_extension() {
        for (file, ct) in [
            ("index.html", "text/html; charset=utf-8"),
            ("a.js", "text/javascript; charset=utf-8"),
            ("a.mjs", "text/javascript; charset=utf-8"),
            ("a.CSS", "text/css; charset=utf-8"),
            ("a.json", "application/json"),
            ("a.js.map", "application/json"),
            ("a.svg", "image/svg+xml"),
            ("a.png", "image/png"),
            ("favicon.ico", "image/x-icon"),
            ("f.woff2", "font/woff2"),
            ("f.woff", "font/woff"),
            ("f.ttf", "font/ttf"),
            ("robots.txt", "text/plain; charset=utf-8"),
            ("m.wasm", "application/wasm"),
            ("x.bin", "application/octet-stream"),
            ("noext", "application/octet-stream"),
        ] {
            assert_eq!(content_type(Path::new(file)), ct, "{file}");
        }
    }

    #[tokio::test]
    async fn resolve_serves_files_falls_back_to_index_and_stays_inside() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("dist");
        std::fs::create_dir_all(root.join("assets")).unwrap();
        std::fs::write(root.join("index.html"), "<html>").unwrap();
        std::fs::write(root.join("assets/app-1.js"), "x").unwrap();
        std::fs::write(tmp.path().join("secret.txt"), "s").unwrap();
        std::os::unix::fs::symlink(tmp.path().join("secret.txt"), root.join("link.txt")).unwrap();

        let f = resolve(&root, "assets/app-1.js").await.unwrap();
        assert!(f.immutable && !f.index);
        assert!(resolve(&root, "").await.unwrap().index);
        assert!(resolve(&root, "routes/1/edit").await.unwrap().index);
        assert!(resolve(&root, "ssls/shop.example.com").await.unwrap().index);
        assert_eq!(resolve(&root, "assets").await, Err(StaticError::NotFound));
        assert_eq!(resolve(&root, "app.css").await, Err(StaticError::NotFound));
        assert_eq!(
            resolve(&root, "assets/missing.js").await,
            Err(StaticError::NotFound)
        );
        assert_eq!(
            resolve(&root, "%2e%2e/secret.txt").await,
            Err(StaticError::Refused)
        );
        assert_eq!(resolve(&root, "link.txt").await, Err(StaticError::Refused));
        let empty = tmp.path().join("empty");
        std::fs::create_dir_all(&empty).unwrap();
        assert_eq!(resolve(&empty, "").await, Err(StaticError::NotBuilt));
        assert_eq!(
            resolve(&tmp.path().join("nope"), "").await,
            Err(StaticError::NotBuilt)
        );
    }
}
