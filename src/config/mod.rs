//! Configuration: the bootstrap file, the resources read from etcd or a
//! standalone file, the store that compiles them, and the snapshot the data
//! plane serves from.

pub mod bootstrap;
pub mod compiled;
pub mod disk_cache;
pub mod etcd_source;
pub mod field_crypto;
pub mod keyring;
pub mod local_secrets;
pub mod resource;
pub mod snapshot;
pub mod store;
pub mod yaml_source;

pub use bootstrap::BootstrapConfig;
pub use snapshot::{SharedSnapshot, Snapshot};
pub use store::check_compiles;
