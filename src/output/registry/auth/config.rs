//! Credentials as the Docker CLI finds them: `$DOCKER_CONFIG/config.json`
//! (default `~/.docker/config.json`), its `auths` entries, and the
//! `credHelpers`/`credsStore` helpers run as `docker-credential-<name> get`.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine;
use serde::Deserialize;

/// What a registry is sent to prove who we are.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    Anonymous,
    /// Sent as HTTP Basic, and to a token realm as Basic.
    Basic {
        username: String,
        password: String,
    },
    /// An OAuth2 refresh token (`identitytoken`, or a helper's `<token>` user),
    /// exchanged at the token realm for an access token.
    IdentityToken {
        username: String,
        token: String,
    },
}

impl std::fmt::Debug for Credentials {
    // Never print a secret, not even in a debug log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::Anonymous => write!(f, "Anonymous"),
            Credentials::Basic { username, .. } => write!(f, "Basic({username}, <secret>)"),
            Credentials::IdentityToken { username, .. } => {
                write!(f, "IdentityToken({username}, <secret>)")
            }
        }
    }
}

/// Where the credentials came from, for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialSource {
    None,
    ConfigFile(PathBuf),
    Helper(String),
}

impl std::fmt::Display for CredentialSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CredentialSource::None => write!(f, "no credentials"),
            CredentialSource::ConfigFile(path) => write!(f, "credentials from {}", path.display()),
            CredentialSource::Helper(name) => {
                write!(f, "credentials from docker-credential-{name}")
            }
        }
    }
}

/// The parts of config.json that hold credentials.
#[derive(Debug, Default, Deserialize)]
pub struct DockerConfig {
    #[serde(default)]
    pub auths: BTreeMap<String, AuthEntry>,
    #[serde(default, rename = "credHelpers")]
    pub cred_helpers: BTreeMap<String, String>,
    #[serde(default, rename = "credsStore")]
    pub creds_store: Option<String>,
}

#[derive(Debug, Default, Clone, Deserialize)]
pub struct AuthEntry {
    #[serde(default)]
    pub auth: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub identitytoken: Option<String>,
}

/// A config.json that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not valid JSON: {source}")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{path}: auths entry '{key}' has an 'auth' that is not base64 of user:password")]
    BadAuth { path: PathBuf, key: String },
    #[error("credential helper docker-credential-{helper}: {message}")]
    Helper { helper: String, message: String },
}

/// The config directory: `$DOCKER_CONFIG`, else `$HOME/.docker`.
pub fn config_dir(docker_config: Option<OsString>, home: Option<OsString>) -> Option<PathBuf> {
    match docker_config {
        Some(dir) if !dir.is_empty() => Some(PathBuf::from(dir)),
        _ => home
            .filter(|h| !h.is_empty())
            .map(|h| Path::new(&h).join(".docker")),
    }
}

/// Reads `<dir>/config.json`; a missing file is an empty config, as for the CLI.
pub fn load(dir: &Path) -> Result<(PathBuf, DockerConfig), ConfigError> {
    let path = dir.join("config.json");
    let text = match std::fs::read(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok((path, DockerConfig::default()))
        }
        Err(source) => return Err(ConfigError::Read { path, source }),
    };
    match serde_json::from_slice(&text) {
        Ok(config) => Ok((path, config)),
        Err(source) => Err(ConfigError::Parse { path, source }),
    }
}

/// `https://host:port/v1/` → `host:port`, as the CLI's `ConvertToHostname`.
pub fn convert_to_hostname(key: &str) -> &str {
    let stripped = key
        .strip_prefix("http://")
        .or_else(|| key.strip_prefix("https://"))
        .unwrap_or(key);
    stripped.split('/').next().unwrap_or(stripped)
}

impl DockerConfig {
    /// The helper that holds `key`'s credentials: `credHelpers[key]`, else `credsStore`.
    pub fn helper_for(&self, key: &str) -> Option<&str> {
        self.cred_helpers
            .get(key)
            .or(self.creds_store.as_ref())
            .map(String::as_str)
            .filter(|name| !name.is_empty())
    }

    /// The `auths` entry for `key`: an exact match, else one whose key has
    /// the same hostname (`https://host/v1/` matches `host`).
    pub fn auth_entry(&self, key: &str) -> Option<&AuthEntry> {
        self.auths.get(key).or_else(|| {
            self.auths
                .iter()
                .find(|(k, _)| convert_to_hostname(k) == key)
                .map(|(_, entry)| entry)
        })
    }

    /// The credentials in the `auths` entry for `key`, without helpers.
    pub fn file_credentials(&self, path: &Path, key: &str) -> Result<Credentials, ConfigError> {
        let Some(entry) = self.auth_entry(key) else {
            return Ok(Credentials::Anonymous);
        };
        let (mut username, mut password) = (
            entry.username.clone().unwrap_or_default(),
            entry.password.clone().unwrap_or_default(),
        );
        if let Some(auth) = entry.auth.as_deref().filter(|a| !a.is_empty()) {
            let bad = || ConfigError::BadAuth {
                path: path.to_path_buf(),
                key: key.to_string(),
            };
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(auth.trim())
                .map_err(|_| bad())?;
            let decoded = String::from_utf8(decoded).map_err(|_| bad())?;
            let (user, pass) = decoded.split_once(':').ok_or_else(bad)?;
            username = user.to_string();
            password = pass.trim_end_matches('\0').to_string();
        }
        if let Some(token) = entry.identitytoken.as_deref().filter(|t| !t.is_empty()) {
            return Ok(Credentials::IdentityToken {
                username,
                token: token.to_string(),
            });
        }
        if username.is_empty() && password.is_empty() {
            return Ok(Credentials::Anonymous);
        }
        Ok(Credentials::Basic { username, password })
    }
}

/// The credentials for `key` (see `Reference::credential_key`), looked up in
/// `config_dir` as the Docker CLI does. `path_var` is the PATH searched for
/// helpers.
pub fn credentials_for(
    config_dir: Option<&Path>,
    key: &str,
    path_var: Option<&OsStr>,
) -> Result<(Credentials, CredentialSource), ConfigError> {
    let Some(dir) = config_dir else {
        return Ok((Credentials::Anonymous, CredentialSource::None));
    };
    let (path, config) = load(dir)?;
    if let Some(helper) = config.helper_for(key) {
        let credentials = run_helper(helper, key, path_var)?;
        return Ok((credentials, CredentialSource::Helper(helper.to_string())));
    }
    let credentials = config.file_credentials(&path, key)?;
    let source = match credentials {
        Credentials::Anonymous => CredentialSource::None,
        _ => CredentialSource::ConfigFile(path),
    };
    Ok((credentials, source))
}

#[derive(Deserialize)]
struct HelperAnswer {
    #[serde(rename = "Username", default)]
    username: String,
    #[serde(rename = "Secret", default)]
    secret: String,
}

/// The user name a helper gives for an identity token.
const TOKEN_USERNAME: &str = "<token>";

/// Runs `docker-credential-<helper> get` with `server` on stdin. "Not found"
/// is no credentials, as for the CLI; any other failure is an error.
pub fn run_helper(
    helper: &str,
    server: &str,
    path_var: Option<&OsStr>,
) -> Result<Credentials, ConfigError> {
    let fail = |message: String| ConfigError::Helper {
        helper: helper.to_string(),
        message,
    };
    let program = format!("docker-credential-{helper}");
    let path_var = path_var
        .map(OsStr::to_os_string)
        .or_else(|| std::env::var_os("PATH"))
        .unwrap_or_default();
    let executable = std::env::split_paths(&path_var)
        .map(|dir| dir.join(&program))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| fail(format!("{program} is not on PATH")))?;
    let mut child = Command::new(&executable)
        .arg("get")
        .env("PATH", &path_var)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| fail(format!("cannot run {}: {e}", executable.display())))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A helper that exits without reading its stdin is judged by its answer.
        let _ = stdin.write_all(server.as_bytes());
    }
    let output = child
        .wait_with_output()
        .map_err(|e| fail(format!("cannot read its answer: {e}")))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        let said = format!(
            "{} {}",
            stdout.trim(),
            String::from_utf8_lossy(&output.stderr).trim()
        );
        if said.contains("credentials not found") {
            return Ok(Credentials::Anonymous);
        }
        return Err(fail(format!(
            "'get' for {server} failed ({}): {}",
            output.status,
            said.trim()
        )));
    }
    let answer: HelperAnswer = serde_json::from_str(stdout.trim())
        .map_err(|e| fail(format!("answer for {server} is not the expected JSON: {e}")))?;
    Ok(if answer.username == TOKEN_USERNAME {
        Credentials::IdentityToken {
            username: String::new(),
            token: answer.secret,
        }
    } else if answer.username.is_empty() && answer.secret.is_empty() {
        Credentials::Anonymous
    } else {
        Credentials::Basic {
            username: answer.username,
            password: answer.secret,
        }
    })
}

#[cfg(test)]
mod tests;
