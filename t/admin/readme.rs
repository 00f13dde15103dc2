//! The README's "Admin API / Try it" commands run as written (ports and the
//! key file swapped for this test's gateway) and do what the README says.

use std::process::Command;

use crate::common::{Etcd, Gateway, GatewayOpts};

/// The first ```sh block after "### Try it" inside "## Admin API".
fn readme_example() -> String {
    let readme = include_str!("../../README.md");
    let section = readme
        .split("## Admin API")
        .nth(1)
        .expect("README has an Admin API section");
    let after = section
        .split("### Try it")
        .nth(1)
        .expect("the Admin API section has a Try it part");
    let block = after
        .split("```sh\n")
        .nth(1)
        .expect("Try it has a sh block");
    block
        .split("```")
        .next()
        .expect("the block ends")
        .to_string()
}

#[tokio::test]
async fn readme_admin_example_works_as_written() {
    let etcd = Etcd::start().await;
    // No admin_key configured: the key is generated, as with `make run`.
    let gw =
        Gateway::start(GatewayOpts::etcd(&etcd).with_admin_section(
            "    admin_listen:\n      ip: 127.0.0.1\n      port: {admin_port}\n",
        ))
        .await;
    gw.wait_ready().await;
    let key_file = gw.dir().join("data/admin_key.admin");
    let script = readme_example()
        .replace(".data/admin_key.admin", &key_file.display().to_string())
        .replace("127.0.0.1:9180", &format!("127.0.0.1:{}", gw.admin_port))
        .replace("127.0.0.1:9080", &format!("127.0.0.1:{}", gw.proxy_port))
        .replace("127.0.0.1:7085", &format!("127.0.0.1:{}", gw.status_port));
    let out = Command::new("bash")
        .args(["-e", "-c", &script])
        .output()
        .expect("run bash");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    gw_assert!(
        gw,
        out.status.success(),
        "the README example failed:\n{text}"
    );
    for expected in [
        "HTTP/1.1 201 Created",
        r#"{"status":"ok"}"#,
        r#""methods":["GET"]"#,
        r#""desc":"status page""#,
        "can not delete this upstream, route [1] is still using it now",
        r#"{"deleted":"1","key":"/apisix/upstreams/1"}"#,
        r#""key":"/apisix/routes/short-lived""#,
    ] {
        gw_assert!(
            gw,
            text.contains(expected),
            "README example output lacks {expected:?}:\n{text}"
        );
    }
    // The POSTed route got a 20-digit id.
    let posted = regex::Regex::new(r#""key":"/apisix/routes/(\d{20})""#).unwrap();
    gw_assert!(gw, posted.is_match(&text), "no POST id in:\n{text}");
}
