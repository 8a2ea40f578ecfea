//! Platforms (`linux/amd64`, `linux/arm/v7`) as image indexes name them, and
//! the rule for picking one image out of a multi-platform index.

use std::fmt;
use std::str::FromStr;

/// An OS, a CPU architecture in Go's spelling (`amd64`, `arm64`), and an
/// optional variant (`v7`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl Platform {
    pub fn new(os: &str, architecture: &str, variant: Option<&str>) -> Platform {
        Platform {
            os: os.to_ascii_lowercase(),
            architecture: go_arch(architecture).to_string(),
            variant: variant
                .filter(|v| !v.is_empty())
                .map(str::to_ascii_lowercase),
        }
    }

    /// The platform this rslim binary runs on; the default when no engine
    /// is asked (xray of an archive).
    pub fn host() -> Platform {
        Platform::new("linux", std::env::consts::ARCH, None)
    }

    /// Whether an index entry for `other` can run here. A missing variant
    /// on either side matches the architecture's default one (`arm64` is
    /// `v8`, `arm` is `v7`), as containerd's matcher does.
    pub fn matches(&self, other: &Platform) -> bool {
        self.os == other.os
            && self.architecture == other.architecture
            && self.effective_variant() == other.effective_variant()
    }

    fn effective_variant(&self) -> Option<&str> {
        self.variant
            .as_deref()
            .or(match self.architecture.as_str() {
                "arm64" => Some("v8"),
                "arm" => Some("v7"),
                _ => None,
            })
    }
}

/// Rust's and the kernel's architecture names in Go's spelling, which
/// image indexes use.
fn go_arch(name: &str) -> &str {
    match name {
        "x86_64" | "x86-64" => "amd64",
        "aarch64" => "arm64",
        "x86" | "i386" | "i686" => "386",
        "powerpc64le" | "ppc64le" => "ppc64le",
        "s390x" => "s390x",
        "riscv64" | "riscv64gc" => "riscv64",
        "armv7l" | "armv7" | "armhf" => "arm",
        other => other,
    }
}

impl FromStr for Platform {
    type Err = String;

    /// `os/arch[/variant]`, as `--platform` takes it.
    fn from_str(text: &str) -> Result<Platform, String> {
        let parts: Vec<&str> = text.split('/').collect();
        match parts.as_slice() {
            [os, arch] if !os.is_empty() && !arch.is_empty() => Ok(Platform::new(os, arch, None)),
            [os, arch, variant] if !os.is_empty() && !arch.is_empty() && !variant.is_empty() => {
                Ok(Platform::new(os, arch, Some(variant)))
            }
            _ => Err(format!(
                "{text:?} is not a platform; write os/arch or os/arch/variant, e.g. linux/amd64 or linux/arm/v7"
            )),
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(variant) = &self.variant {
            write!(f, "/{variant}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_platforms() {
        let arm: Platform = "linux/arm/v7".parse().unwrap();
        assert_eq!(arm.to_string(), "linux/arm/v7");
        assert_eq!(
            "linux/x86_64".parse::<Platform>().unwrap().to_string(),
            "linux/amd64"
        );
        for bad in ["linux", "linux/", "/amd64", "a/b/c/d", ""] {
            assert!(bad.parse::<Platform>().is_err(), "{bad} parsed");
        }
    }

    #[test]
    fn default_variants_match_missing_ones() {
        let arm64 = Platform::new("linux", "arm64", None);
        assert!(arm64.matches(&Platform::new("linux", "arm64", Some("v8"))));
        assert!(!arm64.matches(&Platform::new("linux", "arm64", Some("v9"))));
        let arm = Platform::new("linux", "arm", Some("v6"));
        assert!(!arm.matches(&Platform::new("linux", "arm", None)));
        assert!(!arm64.matches(&Platform::new("windows", "arm64", None)));
        assert_eq!(
            Platform::new("Linux", "aarch64", None).to_string(),
            "linux/arm64"
        );
    }
}
