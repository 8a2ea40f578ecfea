//! The controller's side of the sensor: put the static sensor binary into a
//! created container, start it as PID 1, tell when the app listens, stop it
//! and fetch what it saw. The sensor itself lives in the `sensor/` crate.

pub mod container;
pub mod embedded;

pub use container::{ProfilingContainer, ProfilingOptions};
pub use rslim_sensor::{AppOutcome, Findings, SensorConfig};

use rslim_sensor::ExecRequest;

/// How a command is run in a container with `docker exec`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecVia {
    /// Directly, as the image's user: a plain container (verification).
    Docker,
    /// Through the sensor, as root, which confines the command like the app
    /// before it switches to the image's user: in the profiling container,
    /// a direct `docker exec` would inherit the CAP_SYS_ADMIN given to the sensor.
    Sensor {
        /// The image sets HOME, so the sensor keeps it.
        keep_home: bool,
    },
}

impl ExecVia {
    /// The user `docker exec` runs as and the argv it runs, for `command` as `user`.
    pub fn wrap(self, user: &str, command: &[String]) -> (String, Vec<String>) {
        match self {
            ExecVia::Docker => (user.to_string(), command.to_vec()),
            ExecVia::Sensor { keep_home } => {
                let request = ExecRequest {
                    user: user.to_string(),
                    keep_home,
                    command: command.to_vec(),
                };
                ("0".to_string(), request.to_argv())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sensor_execs_run_as_root_and_name_the_user_for_the_sensor() {
        let command = vec!["id".to_string(), "-u".to_string()];
        assert_eq!(
            ExecVia::Docker.wrap("app", &command),
            ("app".to_string(), command.clone())
        );
        let (user, argv) = ExecVia::Sensor { keep_home: false }.wrap("app", &command);
        assert_eq!(user, "0");
        assert_eq!(
            argv,
            ["/proc/1/exe", "exec", "--user", "app", "--", "id", "-u"]
        );
    }
}
