//! One file per subcommand: each resolves its arguments against the
//! environment and drives the library modules.

pub mod build;
pub mod generate;
pub mod lint;
pub mod prune;
pub mod xray;
