//! Turns what the sensor saw into the set of files to keep, resolved over the
//! original image's filesystem.

pub mod appfiles;
pub mod closure;
pub mod datasets;
pub mod elf;
pub mod fileset;
pub mod glibc;
pub mod glob;
pub mod golang;
pub mod includes;
pub mod jvm;
pub mod keep_packages;
pub mod ldcache;
pub mod node;
pub mod package_use;
pub mod packages;
pub mod pathwalk;
pub mod perl;
pub mod python;
pub mod ruby;
pub mod rules;
pub mod script;
pub mod statusd;
pub mod tls;
pub mod tree;
