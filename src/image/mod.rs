//! The one image reader: docker-save and OCI archives, from the daemon or a
//! file. Gives the config, the history, each layer's entries (with whiteouts),
//! and the merged filesystem.

pub mod node;
