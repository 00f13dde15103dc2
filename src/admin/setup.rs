//! Building the Admin API from `conf/config.yaml`: admin keys (generated and
//! kept under `strait.data_dir` when none is configured), the `allow_admin`
//! list, and the enabled plugins. Refuses unsafe setups
//! instead of starting with them.

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use super::auth::{AccessPolicy, ApiKey, Role};
use super::etcd_store::EtcdStore;
use super::AdminApi;
use crate::config::bootstrap::{BootstrapConfig, ListenAddr};
use crate::config::field_crypto::FieldCrypto;
use crate::config::local_secrets::{admin_key_file, load_or_create};
use crate::expr::IpSet;

/// Length of generated admin keys.
const GENERATED_KEY_LEN: usize = 32;

/// Why the Admin API cannot start.
#[derive(Debug, thiserror::Error)]
pub enum AdminSetupError {
    /// Admin reachable from other hosts with no key required.
    #[error("deployment.admin: the Admin API listens on {0}, which is not a loopback address, and admin_key_required is false; require a key or listen on 127.0.0.1")]
    OpenToNetwork(String),
    /// A generated secret could not be stored or read.
    #[error("cannot keep a generated secret: {0}")]
    Secret(#[from] crate::config::local_secrets::LocalSecretError),
    /// `allow_admin` has an entry that is not an IP or CIDR.
    #[error("deployment.admin.allow_admin: {0}")]
    AllowAdmin(String),
}

/// Whether the admin listener stays on this host (no ip means 127.0.0.1).
fn is_loopback(listen: &ListenAddr) -> bool {
    listen.ip.is_none_or(|ip: IpAddr| ip.is_loopback())
}

/// The admin keys: configured ones, generated ones for entries with an empty
/// key, or one generated `admin` key when none is configured.
fn admin_keys(cfg: &BootstrapConfig, data_dir: &Path) -> Result<Vec<ApiKey>, AdminSetupError> {
    let configured = cfg.deployment.admin.admin_key.clone().unwrap_or_default();
    let entries = if configured.is_empty() {
        vec![crate::config::bootstrap::AdminKey {
            name: "admin".into(),
            key: String::new(),
            role: "admin".into(),
        }]
    } else {
        configured
    };
    let mut keys = Vec::with_capacity(entries.len());
    for e in entries {
        let key = if e.key.is_empty() {
            let s = load_or_create(data_dir, &admin_key_file(&e.name), GENERATED_KEY_LEN)?;
            if s.created {
                tracing::warn!(name = %e.name, role = %e.role, file = %s.path.display(), "generated an admin key; it is in this file (mode 0600)");
            } else {
                tracing::info!(name = %e.name, file = %s.path.display(), "using the generated admin key kept in this file");
            }
            s.value
        } else {
            e.key
        };
        let role = if e.role == "viewer" {
            Role::Viewer
        } else {
            Role::Admin
        };
        keys.push(ApiKey {
            name: e.name,
            key,
            role,
        });
    }
    Ok(keys)
}

/// Build the Admin API for `cfg`, read from `config_path`, encrypting
/// secrets with `crypto` (the process keyring).
pub fn build(
    cfg: &BootstrapConfig,
    config_path: &Path,
    crypto: Option<Arc<FieldCrypto>>,
) -> Result<AdminApi, AdminSetupError> {
    let admin = &cfg.deployment.admin;
    let data_dir = cfg.strait.data_dir.as_path();
    let keys = if admin.admin_key_required {
        Some(admin_keys(cfg, data_dir)?)
    } else {
        if !is_loopback(&admin.admin_listen) {
            let addr = admin
                .admin_listen
                .ip
                .map_or_else(|| "0.0.0.0".to_string(), |ip| ip.to_string());
            return Err(AdminSetupError::OpenToNetwork(addr));
        }
        tracing::warn!("deployment.admin.admin_key_required is false: any local process can change the configuration");
        None
    };
    let allow = if admin.allow_admin.is_empty() {
        None
    } else {
        Some(
            IpSet::parse(&admin.allow_admin)
                .map_err(|e| AdminSetupError::AllowAdmin(e.to_string()))?,
        )
    };
    Ok(AdminApi {
        store: EtcdStore::new(cfg.deployment.etcd.clone()),
        policy: AccessPolicy { keys, allow },
        crypto,
        config_path: config_path.to_path_buf(),
        ui: None,
    })
}
