//! Image references as the Docker CLI reads them (distribution's
//! `reference.ParseNormalizedNamed`): `registry.example:5000/ns/repo:tag`,
//! `repo@sha256:<hex>`, `ubuntu` → `docker.io/library/ubuntu:latest`.

use std::fmt;

/// The registry a reference without a domain belongs to.
pub const DOCKER_HUB: &str = "docker.io";
/// Where Docker Hub's registry API really answers.
pub const DOCKER_HUB_API_HOST: &str = "registry-1.docker.io";
/// The key the Docker CLI stores Docker Hub credentials under.
pub const DOCKER_HUB_CREDENTIAL_KEY: &str = "https://index.docker.io/v1/";

/// A parsed, normalized image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// `host[:port]` as written, except that Docker Hub's aliases become `docker.io`.
    pub registry: String,
    /// The repository path, with `library/` added for official Docker Hub images.
    pub repository: String,
    pub tag: Option<String>,
    /// `sha256:<hex>` when the reference names a digest.
    pub digest: Option<String>,
}

/// Why a reference was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid image reference '{reference}': {reason}")]
pub struct ReferenceError {
    pub reference: String,
    pub reason: String,
}

impl Reference {
    pub fn parse(input: &str) -> Result<Reference, ReferenceError> {
        let fail = |reason: &str| ReferenceError {
            reference: input.to_string(),
            reason: reason.to_string(),
        };
        if input.is_empty() {
            return Err(fail("it is empty"));
        }
        let (name_and_tag, digest) = match input.split_once('@') {
            Some((name, digest)) => {
                check_digest(digest).map_err(|reason| fail(&reason))?;
                (name, Some(digest.to_string()))
            }
            None => (input, None),
        };
        // A ':' after the last '/' starts the tag; one before it is a port.
        let last_slash = name_and_tag.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match name_and_tag[last_slash..].rfind(':') {
            Some(i) => {
                let split = last_slash + i;
                (
                    &name_and_tag[..split],
                    Some(name_and_tag[split + 1..].to_string()),
                )
            }
            None => (name_and_tag, None),
        };
        if let Some(tag) = &tag {
            if !valid_tag(tag) {
                return Err(fail(&format!(
                    "tag '{tag}' must be 1 to 128 of [A-Za-z0-9_.-], not starting with '.' or '-'"
                )));
            }
        }
        let (registry, repository) = split_domain(name);
        if registry.is_empty() || registry.contains(['/', '@']) {
            return Err(fail("the registry host is empty"));
        }
        if repository.len() > 255 {
            return Err(fail("the repository name is longer than 255 characters"));
        }
        for component in repository.split('/') {
            if !valid_path_component(component) {
                return Err(fail(&format!(
                    "repository path component '{component}' must be lowercase letters, digits \
                     and single separators (. _ __ -)"
                )));
            }
        }
        Ok(Reference {
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// The host (and port) the registry API is reached at.
    pub fn api_host(&self) -> &str {
        if self.registry == DOCKER_HUB {
            DOCKER_HUB_API_HOST
        } else {
            &self.registry
        }
    }

    /// The key credentials are stored under in config.json and passed to
    /// credential helpers, as the Docker CLI does.
    pub fn credential_key(&self) -> &str {
        if self.registry == DOCKER_HUB {
            DOCKER_HUB_CREDENTIAL_KEY
        } else {
            &self.registry
        }
    }

    /// What the manifest is stored under: the digest when there is one,
    /// else the tag, else `latest`.
    pub fn manifest_reference(&self) -> &str {
        self.digest
            .as_deref()
            .or(self.tag.as_deref())
            .unwrap_or("latest")
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

/// Splits off the domain the way distribution does: the first component is
/// a domain when it has a '.' or a ':', is `localhost`, or has an uppercase
/// letter (which a repository path cannot have).
fn split_domain(name: &str) -> (String, String) {
    let (mut domain, mut remainder) = match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.chars().any(|c| c.is_ascii_uppercase()) =>
        {
            (first.to_string(), rest.to_string())
        }
        _ => (DOCKER_HUB.to_string(), name.to_string()),
    };
    if domain == "index.docker.io" || domain == DOCKER_HUB_API_HOST {
        domain = DOCKER_HUB.to_string();
    }
    if domain == DOCKER_HUB && !remainder.contains('/') {
        remainder = format!("library/{remainder}");
    }
    (domain, remainder)
}

fn valid_tag(tag: &str) -> bool {
    let bytes = tag.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 128
        && (bytes[0].is_ascii_alphanumeric() || bytes[0] == b'_')
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn valid_path_component(component: &str) -> bool {
    let mut separator = String::new();
    let mut seen_alnum = false;
    for c in component.chars() {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            let separator_ok = separator.is_empty()
                || separator == "."
                || separator == "_"
                || separator == "__"
                || separator.chars().all(|s| s == '-');
            if !separator_ok || (!seen_alnum && !separator.is_empty()) {
                return false;
            }
            separator.clear();
            seen_alnum = true;
        } else if matches!(c, '.' | '_' | '-') {
            if !seen_alnum {
                return false;
            }
            separator.push(c);
        } else {
            return false;
        }
    }
    seen_alnum && separator.is_empty()
}

fn check_digest(digest: &str) -> Result<(), String> {
    match digest.split_once(':') {
        Some(("sha256", hex))
            if hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) =>
        {
            Ok(())
        }
        _ => Err(format!(
            "digest '{digest}' is not sha256: followed by 64 lowercase hex digits"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(input: &str) -> (String, String, Option<String>, Option<String>) {
        let r = Reference::parse(input).unwrap();
        (r.registry, r.repository, r.tag, r.digest)
    }

    const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn docker_hub_defaults() {
        assert_eq!(
            parsed("ubuntu"),
            ("docker.io".into(), "library/ubuntu".into(), None, None)
        );
        assert_eq!(
            parsed("ubuntu:22.04"),
            (
                "docker.io".into(),
                "library/ubuntu".into(),
                Some("22.04".into()),
                None
            )
        );
        assert_eq!(parsed("me/app").1, "me/app");
        assert_eq!(parsed("docker.io/ubuntu").1, "library/ubuntu");
        assert_eq!(parsed("index.docker.io/me/app").0, "docker.io");
        let hub = Reference::parse("ubuntu").unwrap();
        assert_eq!(hub.api_host(), "registry-1.docker.io");
        assert_eq!(hub.credential_key(), "https://index.docker.io/v1/");
        assert_eq!(hub.manifest_reference(), "latest");
        assert_eq!(hub.to_string(), "docker.io/library/ubuntu");
    }

    #[test]
    fn registry_with_port_namespace_and_tag() {
        let r = Reference::parse("registry.example:5000/ns/repo:v1.2").unwrap();
        assert_eq!(r.registry, "registry.example:5000");
        assert_eq!(r.repository, "ns/repo");
        assert_eq!(r.tag.as_deref(), Some("v1.2"));
        assert_eq!(r.api_host(), "registry.example:5000");
        assert_eq!(r.credential_key(), "registry.example:5000");
        assert_eq!(r.manifest_reference(), "v1.2");
        assert_eq!(r.to_string(), "registry.example:5000/ns/repo:v1.2");
    }

    #[test]
    fn localhost_and_ports_are_domains_and_no_library_prefix() {
        assert_eq!(
            parsed("localhost:5000/x"),
            ("localhost:5000".into(), "x".into(), None, None)
        );
        assert_eq!(parsed("localhost/x").0, "localhost");
        assert_eq!(parsed("127.0.0.1:5000/a/b/c:t").1, "a/b/c");
        // An uppercase first component can only be a host.
        assert_eq!(parsed("MyHost/app").0, "MyHost");
        // Without a '/', "name:5000" is a repository with a tag.
        assert_eq!(
            parsed("name:5000"),
            (
                "docker.io".into(),
                "library/name".into(),
                Some("5000".into()),
                None
            )
        );
    }

    #[test]
    fn digests_with_and_without_tags() {
        let r = Reference::parse(&format!("repo@{DIGEST}")).unwrap();
        assert_eq!(r.repository, "library/repo");
        assert_eq!(r.tag, None);
        assert_eq!(r.digest.as_deref(), Some(DIGEST));
        assert_eq!(r.manifest_reference(), DIGEST);
        let r = Reference::parse(&format!("localhost:5000/repo:t@{DIGEST}")).unwrap();
        assert_eq!(r.tag.as_deref(), Some("t"));
        assert_eq!(r.manifest_reference(), DIGEST);
    }

    #[test]
    fn refuses_what_the_docker_cli_refuses() {
        for bad in [
            "",
            "Upper/Case/Repo",
            "localhost:5000/Repo",
            "repo:",
            "repo:-tag",
            "repo:.tag",
            "repo@sha256:abc",
            "repo@md5:0123",
            "a//b",
            "-repo",
            "repo-",
            "re..po",
            "re___po",
            "/repo",
            "repo/",
            "repo tag",
        ] {
            let error = Reference::parse(bad).expect_err(bad);
            assert!(
                error.to_string().starts_with("invalid image reference"),
                "{bad}: {error}"
            );
        }
        let long_tag = format!("repo:{}", "t".repeat(129));
        assert!(Reference::parse(&long_tag).is_err());
        // separators that are allowed
        for good in ["a.b", "a_b", "a__b", "a---b", "a-b.c_d/e0"] {
            Reference::parse(good).expect(good);
        }
    }
}
