//! The embeddings cases of the translation conformance suite: directories
//! under `t/fixtures/llm/` whose `case.json` names `"client":
//! "openai-embeddings"`, with the same pairs as the chat cases (see
//! `fixtures.rs`): `client_request.json` → `provider_request.json` (and
//! `provider_path.txt`), `provider_response.json` → `client_response.json`
//! (usage counted when the provider reports none), `provider_error.json`
//! (with `status`) → `client_error.json`.

use std::path::Path;

use serde_json::{Map, Value};
use strait::llm::embedding::EmbeddingRequest;
use strait::llm::protocol::openai_chat::OpenAiChat;
use strait::llm::protocol::openai_embeddings;
use strait::llm::{provider, ClientProtocol};

use super::fixtures::{bless, cases, check_json, check_text, json, read};

/// Whether the case in `dir` is an embeddings one.
pub fn is_embeddings(dir: &Path) -> bool {
    json(dir, "case.json").is_some_and(|c| c["client"] == openai_embeddings::NAME)
}

fn request(dir: &Path) -> Option<EmbeddingRequest> {
    let obj: Map<String, Value> = serde_json::from_value(json(dir, "client_request.json")?)
        .unwrap_or_else(|e| panic!("{}: client_request.json: {e}", dir.display()));
    Some(
        openai_embeddings::decode(obj).unwrap_or_else(|e| panic!("{}: decode: {e}", dir.display())),
    )
}

fn check(dir: &Path) -> Vec<String> {
    let case = json(dir, "case.json").expect("case.json");
    let name = case["provider"].as_str().expect("case.provider");
    let p = provider::by_name(name)
        .unwrap_or_else(|| panic!("{}: unknown provider {name}", dir.display()));
    let embedder = p
        .embedder()
        .unwrap_or_else(|| panic!("{}: {name} has no embeddings", dir.display()));
    let mut failures = Vec::new();
    let req = request(dir);
    if let Some(req) = &req {
        match embedder.build_embeddings(req) {
            Ok(out) => {
                let body: Value = serde_json::from_slice(&out.body).expect("provider body is JSON");
                failures.extend(check_json(dir, "provider_request.json", &body));
                if dir.join("provider_path.txt").exists() || bless() {
                    let path = format!("{}\n", out.path_and_query);
                    failures.extend(check_text(dir, "provider_path.txt", &path));
                }
            }
            Err(e) => failures.push(format!("{}: build_embeddings: {e}", dir.display())),
        }
    }
    if let (Some(req), Some(body)) = (&req, read(dir, "provider_response.json")) {
        match embedder.decode_embeddings(req, body.as_bytes()) {
            Ok(mut resp) => {
                resp.settle_usage(req);
                let out = openai_embeddings::encode_response(&resp, &req.model);
                failures.extend(check_json(dir, "client_response.json", &out));
            }
            Err(e) => failures.push(format!("{}: decode_embeddings: {e}", dir.display())),
        }
    }
    if let Some(body) = read(dir, "provider_error.json") {
        let status = case["status"].as_u64().unwrap_or(500) as u16;
        let err = p.decode_error(status, body.as_bytes());
        let mut out = serde_json::json!({"status": err.status});
        out["body"] = OpenAiChat.encode_error(&err);
        failures.extend(check_json(dir, "client_error.json", &out));
    }
    failures
}

#[test]
fn embedding_fixtures() {
    let cases: Vec<_> = cases().into_iter().filter(|d| is_embeddings(d)).collect();
    assert!(
        !cases.is_empty(),
        "no embeddings fixtures under t/fixtures/llm"
    );
    let failures: Vec<String> = cases.iter().flat_map(|d| check(d)).collect();
    assert!(
        failures.is_empty(),
        "{} of {} embeddings fixture cases differ:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}
