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
