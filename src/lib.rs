//! rslim: make container images minimal by profiling what the application uses.
//!
//! The modules follow the pipeline of `rslim build`:
//! [`image`] reads the original image (layers, whiteouts, config) →
//! [`sensor`] runs it under fanotify in a container →
//! [`probe`] exercises it →
//! [`resolve`] turns what was seen into the set of files to keep →
//! [`output`] writes the single-layer image →
//! [`report`] says what happened.
//! [`docker`] is the one place that talks to the daemon. [`xray`] and [`lint`]
//! analyse images and Dockerfiles without running anything. [`leftovers`]
//! finds and removes what killed rslim runs left behind.

pub mod cli;
pub mod commands;
pub mod docker;
pub mod error;
pub mod escape;
pub mod image;
pub mod leftovers;
pub mod lint;
pub mod output;
pub mod probe;
pub mod report;
pub mod resolve;
pub mod sensor;
pub mod space;
pub mod verify;
pub mod xray;
