//! Every example in the README's plugin table is accepted by the Admin API
//! as a route's `plugins` (schemas and plugin checks included).

use serde_json::{json, Value};

use super::Env;

/// `(plugin, example)` for each row of the table in "## Plugins".
fn examples() -> Vec<(String, Value)> {
    let readme = include_str!("../../README.md");
    let section = readme
        .split("\n## Plugins\n")
        .nth(1)
        .expect("README has a Plugins section")
        .split("\n## ")
        .next()
        .unwrap_or_default();
    section
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            let cols: Vec<&str> = l.split(" | ").collect();
            let name = cols[0]
                .trim_start_matches("| `")
                .trim_end_matches('`')
                .to_string();
            let example = cols[2].split('`').nth(1).expect("an example in backticks");
            let value: Value = serde_json::from_str(example)
                .unwrap_or_else(|e| panic!("README example of {name} is not JSON: {e}: {example}"));
            (name, value)
        })
        .collect()
}

#[tokio::test]
async fn readme_plugin_examples_are_valid_configurations() {
    let env = Env::start().await;
    env.put("/upstreams/2", json!({"nodes": {env.up.addr(): 1}}))
        .await;
    let all = examples();
    assert!(
        all.len() >= 20,
        "the table lists the built-in plugins: {}",
        all.len()
    );
    for (i, (name, plugins)) in all.into_iter().enumerate() {
        assert!(
            plugins.get(&name).is_some(),
            "the example of {name} configures {name}"
        );
        let r = env
            .admin
            .put(
                &format!("/routes/readme-{i}"),
                json!({"uri": format!("/readme/{i}"), "upstream": env.upstream(), "plugins": plugins}),
            )
            .await;
        assert!(
            r.status == 200 || r.status == 201,
            "README example of {name} refused: {} {}",
            r.status,
            r.body
        );
    }
}

/// The `curl -X PUT <url> … -d '<json>'` examples of "### AI gateway".
fn ai_gateway_examples() -> Vec<(String, Value)> {
    let readme = include_str!("../../README.md");
    let section = readme
        .split("\n### AI gateway\n")
        .nth(1)
        .expect("README has an AI gateway section")
        .split("\n## ")
        .next()
        .unwrap_or_default();
    section
        .split("curl -X PUT ")
        .skip(1)
        .map(|cmd| {
            let url = cmd.split_whitespace().next().unwrap_or_default();
            let path = url
                .split("/apisix/admin")
                .nth(1)
                .expect("an Admin API URL")
                .to_string();
            let body = cmd.split("-d '").nth(1).and_then(|b| b.split('\'').next());
            let value: Value = serde_json::from_str(body.expect("a -d body"))
                .unwrap_or_else(|e| panic!("README AI example {path} is not JSON: {e}"));
            (path, value)
        })
        .collect()
}

#[tokio::test]
async fn readme_ai_gateway_examples_are_accepted() {
    // The shipped Lua plugins, for the Ollama adapter.
    let (env, _dir) = crate::lua::shipped_env().await;
    let all = ai_gateway_examples();
    assert!(all.len() >= 5, "one example per kind of provider: {all:?}");
    for (path, body) in all {
        let r = env.admin.put(&path, body).await;
        assert!(
            r.status == 200 || r.status == 201,
            "README AI example {path} refused: {} {}",
            r.status,
            r.body
        );
    }
}
