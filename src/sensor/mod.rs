//! TODO

pub mod embedded;
