//! `strait validate -c FILE`: exit status and message for good and bad files.

use std::process::Command;

fn validate(config: &str) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, config).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_strait"))
        .arg("validate")
        .arg("-c")
        .arg(&path)
        .output()
        .expect("run strait validate");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

#[test]
fn validate_rejects_unknown_key_and_accepts_valid_config() {
    let (code, text) = validate(
        "apisix:\n  node_listen: 9080\ndeployment:\n  etcd:\n    host: [\"http://127.0.0.1:2379\"]\n    prefixx: /apisix\n",
    );
    assert!(
        code.is_some_and(|c| c != 0),
        "an unknown key should fail validation, exit {code:?}: {text}"
    );
    assert!(
        text.contains("prefixx") && text.contains("deployment.etcd"),
        "the error should name the unknown key deployment.etcd.prefixx: {text}"
    );

    let (code, text) = validate(
        "apisix:\n  node_listen: 9080\n  status:\n    ip: 127.0.0.1\n    port: 7085\nnginx_config:\n  worker_shutdown_timeout: 5s\ndeployment:\n  role: data_plane\n  role_data_plane:\n    config_provider: etcd\n  etcd:\n    host: [\"http://127.0.0.1:2379\"]\n    prefix: /apisix\n    resync_delay: 0.2\n",
    );
    assert_eq!(code, Some(0), "a valid config should pass: {text}");
    assert!(
        text.contains("valid"),
        "expected a confirmation, got {text}"
    );
}
