//! A real registry on 127.0.0.1 for the tests: Debian's `docker-registry`
//! (distribution 2.8), started on a free port with its own storage, plain or
//! with htpasswd basic auth and TLS; killed when dropped. `scripts/setup`
//! installs it. tests/registry.rs pushes to it directly, tests/ci_examples.rs
//! runs the CI example script against it.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// The tool must be on PATH: `scripts/setup` installs it.
pub fn require(tool: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(found, "{tool} is missing: run scripts/setup first");
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[derive(Default)]
pub struct RegistrySetup {
    /// certificate and key files: serve HTTPS
    pub tls: Option<(PathBuf, PathBuf)>,
    /// an htpasswd file: require basic auth
    pub htpasswd: Option<PathBuf>,
}

/// A docker-registry process, killed when dropped.
pub struct Registry {
    pub child: Child,
    pub port: u16,
    dir: TempDir,
}

impl Registry {
    pub fn start(setup: RegistrySetup) -> Registry {
        require("docker-registry");
        // The free port can be taken again before the registry binds it:
        // then it exits at once, and another port is tried.
        let mut last_log = String::new();
        for _ in 0..3 {
            match Registry::try_start(&setup) {
                Ok(registry) => return registry,
                Err(log) if log.contains("address already in use") => last_log = log,
                Err(log) => panic!("docker-registry did not start:\n{log}"),
            }
        }
        panic!("docker-registry found no free port:\n{last_log}");
    }

    fn try_start(setup: &RegistrySetup) -> Result<Registry, String> {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let mut config = format!(
            "version: 0.1\n\
             log:\n  level: info\n  accesslog:\n    disabled: false\n\
             storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
             http:\n  addr: 127.0.0.1:{port}\n  secret: rslim-test-secret\n",
            dir.path().join("data").display()
        );
        if let Some((cert, key)) = &setup.tls {
            config += &format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                cert.display(),
                key.display()
            );
        }
        if let Some(htpasswd) = &setup.htpasswd {
            config += &format!(
                "auth:\n  htpasswd:\n    realm: rslim-test\n    path: {}\n",
                htpasswd.display()
            );
        }
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).unwrap();
        let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config_path)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("cannot start docker-registry");
        let mut registry = Registry { child, port, dir };
        let deadline = Instant::now() + Duration::from_secs(15);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(status) = registry.child.try_wait().unwrap() {
                return Err(format!("exited ({status}):\n{}", registry.log()));
            }
            if Instant::now() > deadline {
                return Err(format!("not listening after 15 s:\n{}", registry.log()));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(registry)
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// Requests with `method` the registry logged.
    pub fn requests(&self, method: &str) -> usize {
        self.log()
            .lines()
            .filter(|l| {
                l.contains("response completed")
                    && l.contains(&format!("http.request.method={method} "))
            })
            .count()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
