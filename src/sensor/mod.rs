//! The controller's side of the sensor: put the static sensor binary into a
//! created container, start it as PID 1, tell when the app listens, stop it
//! and fetch what it saw. The sensor itself lives in the `sensor/` crate.

pub mod container;
pub mod embedded;

pub use container::{ProfilingContainer, ProfilingOptions};
pub use rslim_sensor::{AppOutcome, Findings, SensorConfig};
