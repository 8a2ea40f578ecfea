//! The image configuration (the JSON `docker save` stores next to the
//! layers). The raw JSON is kept so the writer can carry fields over exactly;
//! the typed view holds what rslim itself reads.

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Debug, Clone)]
pub struct ImageConfig {
    /// The whole document, untouched.
    pub raw: serde_json::Value,
    pub run: RunConfig,
    pub history: Vec<HistoryEntry>,
    /// Layer digests of the uncompressed tars, bottom first.
    pub diff_ids: Vec<String>,
    pub created: Option<String>,
    pub architecture: Option<String>,
}

/// The part of `config` that decides how the image runs.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct RunConfig {
    #[serde(default)]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default)]
    pub cmd: Option<Vec<String>>,
    #[serde(default)]
    pub env: Option<Vec<String>>,
    #[serde(default)]
    pub working_dir: Option<String>,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub exposed_ports: Option<BTreeMap<String, serde_json::Value>>,
    #[serde(default)]
    pub volumes: Option<BTreeMap<String, serde_json::Value>>,
    #[serde(default)]
    pub stop_signal: Option<String>,
    #[serde(default)]
    pub labels: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct HistoryEntry {
    #[serde(default)]
    pub created: Option<String>,
    #[serde(default)]
    pub created_by: Option<String>,
    #[serde(default)]
    pub comment: Option<String>,
    #[serde(default)]
    pub empty_layer: bool,
}

#[derive(Deserialize)]
struct RootFsSection {
    #[serde(default)]
    diff_ids: Vec<String>,
}

impl ImageConfig {
    pub fn parse(bytes: &[u8]) -> anyhow::Result<ImageConfig> {
        let raw: serde_json::Value = serde_json::from_slice(bytes)?;
        let field = |name: &str| raw.get(name).cloned().unwrap_or(serde_json::Value::Null);
        let run = match raw.get("config").or_else(|| raw.get("container_config")) {
            Some(v) if !v.is_null() => serde_json::from_value(v.clone())?,
            _ => RunConfig::default(),
        };
        let history = serde_json::from_value(field("history")).unwrap_or_default();
        let diff_ids = serde_json::from_value::<RootFsSection>(field("rootfs"))
            .map(|r| r.diff_ids)
            .unwrap_or_default();
        Ok(ImageConfig {
            created: raw
                .get("created")
                .and_then(|v| v.as_str())
                .map(str::to_owned),
            architecture: raw
                .get("architecture")
                .and_then(|v| v.as_str())
                .map(str::to_owned),
            raw,
            run,
            history,
            diff_ids,
        })
    }
}

impl RunConfig {
    /// Entrypoint followed by Cmd: what `docker run IMAGE` executes.
    pub fn argv(&self) -> Vec<String> {
        let mut argv = self.entrypoint.clone().unwrap_or_default();
        argv.extend(self.cmd.clone().unwrap_or_default());
        argv
    }

    /// The value of `name` in the image's environment.
    pub fn env_var(&self, name: &str) -> Option<&str> {
        self.env
            .iter()
            .flatten()
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
    }

    /// Exposed TCP ports, numerically sorted. `80/tcp` and `80` count; UDP does not.
    pub fn tcp_ports(&self) -> Vec<u16> {
        let mut ports: Vec<u16> = self
            .exposed_ports
            .iter()
            .flatten()
            .filter_map(|(spec, _)| {
                let (port, proto) = spec.split_once('/').unwrap_or((spec, "tcp"));
                (proto == "tcp").then(|| port.parse().ok()).flatten()
            })
            .collect();
        ports.sort_unstable();
        ports.dedup();
        ports
    }

    pub fn volume_paths(&self) -> Vec<String> {
        self.volumes
            .iter()
            .flatten()
            .map(|(path, _)| path.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOCKER_CONFIG: &str = r#"{
        "architecture": "amd64", "os": "linux", "created": "2026-11-01T10:00:00Z",
        "config": {
            "Entrypoint": ["/docker-entrypoint.sh"], "Cmd": ["nginx", "-g", "daemon off;"],
            "Env": ["PATH=/usr/local/bin:/usr/bin", "LD_LIBRARY_PATH=/opt/lib", "EMPTY="],
            "ExposedPorts": {"80/tcp": {}, "53/udp": {}, "8080": {}},
            "Volumes": {"/data": {}}, "WorkingDir": "/srv", "User": "www-data",
            "StopSignal": "SIGQUIT", "Labels": {"a": "b"}
        },
        "history": [{"created_by": "/bin/sh -c #(nop) ADD file", "created": "2026-01-01T00:00:00Z"},
                    {"created_by": "/bin/sh -c #(nop) CMD", "empty_layer": true}],
        "rootfs": {"type": "layers", "diff_ids": ["sha256:aa"]}
    }"#;

    #[test]
    fn reads_the_run_config_of_a_docker_image() {
        let config = ImageConfig::parse(DOCKER_CONFIG.as_bytes()).unwrap();
        assert_eq!(
            config.run.argv(),
            ["/docker-entrypoint.sh", "nginx", "-g", "daemon off;"]
        );
        assert_eq!(config.run.env_var("LD_LIBRARY_PATH"), Some("/opt/lib"));
        assert_eq!(config.run.env_var("EMPTY"), Some(""));
        assert_eq!(config.run.env_var("PAT"), None);
        assert_eq!(config.run.tcp_ports(), [80, 8080]);
        assert_eq!(config.run.volume_paths(), ["/data"]);
        assert_eq!(config.history.len(), 2);
        assert!(config.history[1].empty_layer);
        assert_eq!(config.diff_ids, ["sha256:aa"]);
        assert_eq!(config.created.as_deref(), Some("2026-11-01T10:00:00Z"));
    }

    #[test]
    fn an_image_without_config_has_no_argv() {
        let config = ImageConfig::parse(br#"{"rootfs": {"diff_ids": []}}"#).unwrap();
        assert!(config.run.argv().is_empty());
    }
}
