//! The one image reader: docker-save and OCI archives and OCI layout
//! directories, from the daemon or a file. Gives the config, the history, each layer's entries (with whiteouts),
//! and the merged filesystem. `build` and `xray` both read images through it,
//! and both apply layers with the one set of overlay rules in [`overlay`].

pub mod archive;
pub mod config;
pub mod export;
pub mod layer;
pub mod manifest;
pub mod node;
pub mod overlay;
pub mod platform;
pub mod repack;
pub mod rootfs;
pub mod source;
pub mod store;
#[cfg(test)]
pub(crate) mod test_archive;
pub mod transport;
pub mod unpack;
pub mod verify;
pub mod walked;

pub use archive::ImageArchive;
pub use config::ImageConfig;
pub use platform::Platform;
pub use rootfs::RootFs;
pub use walked::WalkedTree;
