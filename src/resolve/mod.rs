//! Turns what the sensor saw into the set of files to keep, resolved over the
//! original image's filesystem.

pub mod closure;
pub mod elf;
pub mod fileset;
pub mod ldcache;
pub mod packages;
pub mod pathwalk;
pub mod rules;
pub mod runtime;
pub mod script;
pub mod tree;
