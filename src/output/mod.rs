//! Writes the slim image: one deterministic layer tar, its config, and a
//! docker-save archive that `docker load` accepts. See docs/output.md.

pub mod archive;
pub mod config;
pub mod digest;
pub mod epoch;
pub mod extra;
pub mod layer;
pub mod layout;
pub mod oci;
pub mod registry;
mod tar_header;

pub use archive::write_docker_archive;
pub use config::{config_digest, slim_config};
pub use layer::{write_layer, LayerSummary};
pub use layout::{write_oci_archive, write_oci_dir, LayoutNames};
pub use oci::OciImage;

#[cfg(test)]
mod e2e_tests;
