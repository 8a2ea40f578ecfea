//! The one image reader: docker-save and OCI archives, from the daemon or a
//! file. Gives the config, the history, each layer's entries (with whiteouts),
//! and the merged filesystem. `build` and `xray` both read images through it.

pub mod archive;
pub mod config;
pub mod layer;
pub mod node;
pub mod overlay;
pub mod rootfs;

pub use archive::ImageArchive;
pub use config::ImageConfig;
pub use rootfs::RootFs;
