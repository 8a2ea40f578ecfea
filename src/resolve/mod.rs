//! Turns what the sensor saw into the set of files to keep, resolved over the
//! original image's filesystem.

pub mod tree;
