//! The translation conformance suite: every directory under
//! `t/fixtures/llm/` is one case, `case.json` naming the client protocol
//! and the provider (`{"client": "openai-chat", "provider": "anthropic",
//! "created": 1700000000, "status": 429}`), and holds any of these pairs
//! (input → expected output):
//!
//! - `client_request.json` → `provider_request.json`: the client's request
//!   decoded and built for the provider (`provider_path.txt`, if present,
//!   is the expected path and query);
//! - `provider_response.json` → `client_response.json`: a complete answer
//!   (`created` from `case.json` when the provider gives none);
//! - `provider_stream.txt` → `client_stream.txt`: a streamed answer, fed in
//!   pieces of 1, 7 and all bytes, compared byte for byte (the client's
//!   request, if any, decides e.g. `include_usage`);
//! - `provider_error.json` (with `status`) → `client_error.json`.
//!
//! Embeddings cases (`"client": "openai-embeddings"`) are checked by
//! `embedding_fixtures.rs`.
//!
//! A translation change shows up as a fixture diff. `STRAIT_BLESS=1`
//! rewrites the expected files from the current output (review the diff).

use std::path::{Path, PathBuf};

use bytes::BytesMut;
use serde_json::Value;
use strait::llm::{protocol, provider, ChatRequest, ClientProtocol, Provider};

pub(super) fn cases() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("t/fixtures/llm");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("t/fixtures/llm")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("case.json").is_file())
        .collect();
    dirs.sort();
    dirs
}

pub(super) fn read(dir: &Path, name: &str) -> Option<String> {
    std::fs::read_to_string(dir.join(name)).ok()
}

pub(super) fn json(dir: &Path, name: &str) -> Option<Value> {
    read(dir, name).map(|s| {
        serde_json::from_str(&s).unwrap_or_else(|e| panic!("{}/{name}: {e}", dir.display()))
    })
}

pub(super) fn bless() -> bool {
    std::env::var_os("STRAIT_BLESS").is_some()
}

/// Compare, or with `STRAIT_BLESS` write the expected file. Returns a
/// failure description.
pub(super) fn check_json(dir: &Path, name: &str, actual: &Value) -> Option<String> {
    if bless() {
        let text = serde_json::to_string_pretty(actual).expect("json") + "\n";
        std::fs::write(dir.join(name), text).expect("bless");
        return None;
    }
    let expected = json(dir, name)?;
    (expected != *actual).then(|| {
        format!(
            "{}/{name}\n  expected: {expected}\n  actual:   {actual}",
            dir.display()
        )
    })
}

pub(super) fn check_text(dir: &Path, name: &str, actual: &str) -> Option<String> {
    if bless() {
        std::fs::write(dir.join(name), actual).expect("bless");
        return None;
    }
    let expected = read(dir, name)?;
    (expected != actual).then(|| {
        format!(
            "{}/{name}\n--- expected\n{expected}\n--- actual\n{actual}",
            dir.display()
        )
    })
}

struct Case {
    dir: PathBuf,
    client: &'static dyn ClientProtocol,
    provider: std::sync::Arc<dyn Provider>,
    created: u64,
    status: u16,
    request: ChatRequest,
}

fn load(dir: &Path) -> Case {
    let case = json(dir, "case.json").expect("case.json");
    let client_name = case["client"].as_str().expect("case.client");
    let client = match client_name {
        "anthropic-messages" => protocol::detect("/v1/messages"),
        "openai-chat" => protocol::detect("/v1/chat/completions"),
        other => panic!("{}: unknown client protocol {other}", dir.display()),
    };
    assert_eq!(client.name(), client_name);
    let provider_name = case["provider"].as_str().expect("case.provider");
    let provider = provider::by_name(provider_name)
        .unwrap_or_else(|| panic!("{}: unknown provider {provider_name}", dir.display()));
    let request = match read(dir, "client_request.json") {
        Some(body) => client
            .decode_request(body.as_bytes())
            .unwrap_or_else(|e| panic!("{}: decode_request: {e}", dir.display())),
        None => ChatRequest::default(),
    };
    Case {
        dir: dir.to_path_buf(),
        client,
        provider,
        created: case["created"].as_u64().unwrap_or(1_700_000_000),
        status: case["status"].as_u64().unwrap_or(500) as u16,
        request,
    }
}

fn check_request(c: &Case) -> Vec<String> {
    let mut failures = Vec::new();
    if read(&c.dir, "client_request.json").is_none() {
        return failures;
    }
    match c.provider.build_request(&c.request, c.client.name()) {
        Ok(out) => {
            let body: Value = serde_json::from_slice(&out.body).expect("provider body is JSON");
            failures.extend(check_json(&c.dir, "provider_request.json", &body));
            if c.dir.join("provider_path.txt").exists() || bless() {
                failures.extend(check_text(
                    &c.dir,
                    "provider_path.txt",
                    &format!("{}\n", out.path_and_query),
                ));
            }
        }
        Err(e) => failures.push(format!("{}: build_request: {e}", c.dir.display())),
    }
    failures
}

fn check_response(c: &Case) -> Vec<String> {
    let Some(body) = read(&c.dir, "provider_response.json") else {
        return Vec::new();
    };
    match c.provider.decode_response(body.as_bytes()) {
        Ok(mut resp) => {
            if resp.created == 0 {
                resp.created = c.created;
            }
            check_json(
                &c.dir,
                "client_response.json",
                &serde_json::from_slice(&c.client.encode_response(&resp))
                    .expect("the client response is JSON"),
            )
            .into_iter()
            .collect()
        }
        Err(e) => vec![format!("{}: decode_response: {e}", c.dir.display())],
    }
}

fn translate_stream(c: &Case, input: &[u8], piece: usize) -> Result<String, String> {
    let mut decoder = c.provider.stream_decoder();
    let mut encoder = c.client.stream_encoder(&c.request, c.created);
    let mut events = Vec::new();
    let mut out = BytesMut::new();
    for chunk in input.chunks(piece.max(1)) {
        if let Err(e) = decoder.feed(chunk, &mut events) {
            return Err(format!("feed: {e}"));
        }
        for ev in events.drain(..) {
            encoder.encode(&ev, &mut out);
        }
    }
    if let Err(e) = decoder.end(&mut events) {
        return Err(format!("end: {e}"));
    }
    for ev in events.drain(..) {
        encoder.encode(&ev, &mut out);
    }
    encoder.finish(&mut out);
    String::from_utf8(out.to_vec()).map_err(|e| e.to_string())
}

fn check_stream(c: &Case) -> Vec<String> {
    let Some(input) = read(&c.dir, "provider_stream.txt") else {
        return Vec::new();
    };
    let whole = match translate_stream(c, input.as_bytes(), input.len()) {
        Ok(s) => s,
        Err(e) => return vec![format!("{}: stream: {e}", c.dir.display())],
    };
    let mut failures: Vec<String> = check_text(&c.dir, "client_stream.txt", &whole)
        .into_iter()
        .collect();
    for piece in [1, 7] {
        match translate_stream(c, input.as_bytes(), piece) {
            Ok(s) if s == whole => {}
            Ok(_) => failures.push(format!(
                "{}: the stream translates differently when fed {piece} bytes at a time",
                c.dir.display()
            )),
            Err(e) => failures.push(format!("{}: stream ({piece}): {e}", c.dir.display())),
        }
    }
    failures
}

fn check_error(c: &Case) -> Vec<String> {
    let Some(body) = read(&c.dir, "provider_error.json") else {
        return Vec::new();
    };
    let err = c.provider.decode_error(c.status, body.as_bytes());
    let mut out = serde_json::json!({"status": err.status});
    out["body"] = c.client.encode_error(&err);
    check_json(&c.dir, "client_error.json", &out)
        .into_iter()
        .collect()
}

#[test]
fn translation_fixtures() {
    let cases = cases();
    assert!(!cases.is_empty(), "no fixtures under t/fixtures/llm");
    let mut failures = Vec::new();
    for dir in &cases {
        if super::embedding_fixtures::is_embeddings(dir) {
            continue;
        }
        let c = load(dir);
        failures.extend(check_request(&c));
        failures.extend(check_response(&c));
        failures.extend(check_stream(&c));
        failures.extend(check_error(&c));
    }
    assert!(
        failures.is_empty(),
        "{} of {} fixture cases differ:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}
