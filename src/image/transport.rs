//! Where an image comes from and where a slim image goes, named with the
//! transports skopeo and podman use: `docker-archive:PATH`,
//! `oci-archive:PATH[:REF]`, `oci:DIR[:REF]`. Anything else is an image in
//! the engine. This is the one parser of those names; it is pure.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// An image to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageSource {
    /// A name or id the engine knows (`docker-daemon:` may prefix it).
    Engine(String),
    /// A `docker save` archive; `reference` picks one of several images.
    DockerArchive {
        path: PathBuf,
        reference: Option<String>,
    },
    /// A tar of an OCI image layout; `reference` matches the index's
    /// `org.opencontainers.image.ref.name`.
    OciArchive {
        path: PathBuf,
        reference: Option<String>,
    },
    /// An OCI image layout directory.
    OciLayout {
        dir: PathBuf,
        reference: Option<String>,
    },
}

impl ImageSource {
    pub fn is_engine(&self) -> bool {
        matches!(self, ImageSource::Engine(_))
    }
}

impl FromStr for ImageSource {
    type Err = String;

    fn from_str(text: &str) -> Result<ImageSource, String> {
        let Some((transport, rest)) = split_transport(text) else {
            return Ok(ImageSource::Engine(text.to_string()));
        };
        let (path, reference) = path_and_reference(transport, rest)?;
        Ok(match transport {
            "docker-daemon" => ImageSource::Engine(rest.to_string()),
            "docker-archive" => ImageSource::DockerArchive { path, reference },
            "oci-archive" => ImageSource::OciArchive { path, reference },
            "oci" => ImageSource::OciLayout {
                dir: path,
                reference,
            },
            _ => {
                return Err(format!(
                    "{transport}: images from a registry are read through the engine: \
                     pull it (or pass --pull with its plain name), or copy it into an \
                     archive with `skopeo copy`"
                ))
            }
        })
    }
}

impl fmt::Display for ImageSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (transport, path, reference) = match self {
            ImageSource::Engine(name) => return f.write_str(name),
            ImageSource::DockerArchive { path, reference } => ("docker-archive", path, reference),
            ImageSource::OciArchive { path, reference } => ("oci-archive", path, reference),
            ImageSource::OciLayout { dir, reference } => ("oci", dir, reference),
        };
        write!(f, "{transport}:{}", path.display())?;
        if let Some(reference) = reference {
            write!(f, ":{reference}")?;
        }
        Ok(())
    }
}

/// Where `--output` puts the slim image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputTarget {
    /// Loaded into the engine under the slim tags (the default).
    Engine,
    /// A `docker save` archive that `docker load` reads.
    DockerArchive(PathBuf),
    /// A tar of an OCI image layout; `reference` becomes the index's
    /// `org.opencontainers.image.ref.name`.
    OciArchive {
        path: PathBuf,
        reference: Option<String>,
    },
    /// An OCI image layout directory.
    OciLayout {
        dir: PathBuf,
        reference: Option<String>,
    },
}

impl OutputTarget {
    /// The name the report and messages use for this kind of output.
    pub fn kind(&self) -> &'static str {
        match self {
            OutputTarget::Engine => "docker",
            OutputTarget::DockerArchive(_) => "docker-archive",
            OutputTarget::OciArchive { .. } => "oci-archive",
            OutputTarget::OciLayout { .. } => "oci",
        }
    }

    /// The file or directory written, if any.
    pub fn path(&self) -> Option<&std::path::Path> {
        match self {
            OutputTarget::Engine => None,
            OutputTarget::DockerArchive(path) | OutputTarget::OciArchive { path, .. } => Some(path),
            OutputTarget::OciLayout { dir, .. } => Some(dir),
        }
    }
}

impl FromStr for OutputTarget {
    type Err = String;

    fn from_str(text: &str) -> Result<OutputTarget, String> {
        if text == "docker" || text == "docker-daemon" {
            return Ok(OutputTarget::Engine);
        }
        let forms = "docker, docker-archive:PATH, oci-archive:PATH[:REF] or oci:DIR[:REF]";
        let Some((transport, rest)) = split_transport(text) else {
            return Err(format!("{text:?} is not an output; write {forms}"));
        };
        let (path, reference) = path_and_reference(transport, rest)?;
        match transport {
            "docker-archive" if reference.is_none() => Ok(OutputTarget::DockerArchive(path)),
            "docker-archive" => Err(format!(
                "{text}: a docker-archive output takes no reference; its tags are the slim tags (--tag)"
            )),
            "oci-archive" => Ok(OutputTarget::OciArchive { path, reference }),
            "oci" => Ok(OutputTarget::OciLayout {
                dir: path,
                reference,
            }),
            _ => Err(format!("{text:?} is not an output; write {forms}")),
        }
    }
}

impl fmt::Display for OutputTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.path() {
            None => f.write_str(self.kind()),
            Some(path) => write!(f, "{}:{}", self.kind(), path.display()),
        }
    }
}

/// The transports rslim knows, and `docker:` (a registry, which it does not
/// read itself). A plain image name, including `localhost:5000/app`, has none.
fn split_transport(text: &str) -> Option<(&str, &str)> {
    let (transport, rest) = text.split_once(':')?;
    let known = [
        "docker-daemon",
        "docker-archive",
        "oci-archive",
        "oci",
        "docker",
    ];
    // `docker://x` is a registry reference; `docker:tag` would be an image
    // named "docker" in the engine.
    if transport == "docker" && !rest.starts_with("//") {
        return None;
    }
    known.contains(&transport).then_some((transport, rest))
}

/// `PATH[:REF]` as skopeo splits it: the path ends at the first colon.
fn path_and_reference(transport: &str, rest: &str) -> Result<(PathBuf, Option<String>), String> {
    if transport == "docker-daemon" || transport == "docker" {
        return Ok((PathBuf::new(), None));
    }
    let (path, reference) = match rest.split_once(':') {
        Some((path, reference)) => (path, Some(reference)),
        None => (rest, None),
    };
    if path.is_empty() {
        return Err(format!("{transport}: needs a path, as in {transport}:PATH"));
    }
    if reference == Some("") {
        return Err(format!(
            "{transport}:{rest}: the reference after ':' is empty"
        ));
    }
    Ok((PathBuf::from(path), reference.map(str::to_string)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_are_engine_images() {
        for name in [
            "nginx",
            "rslim-examples/nginx:fat",
            "localhost:5000/app:v2",
            "sha256:0123",
            "docker:24-dind",
        ] {
            assert_eq!(
                name.parse::<ImageSource>().unwrap(),
                ImageSource::Engine(name.into())
            );
        }
        assert_eq!(
            "docker-daemon:nginx:1.25".parse::<ImageSource>().unwrap(),
            ImageSource::Engine("nginx:1.25".into())
        );
    }

    #[test]
    fn archive_transports_take_a_path_and_maybe_a_reference() {
        assert_eq!(
            "docker-archive:/tmp/a.tar".parse::<ImageSource>().unwrap(),
            ImageSource::DockerArchive {
                path: "/tmp/a.tar".into(),
                reference: None
            }
        );
        assert_eq!(
            "oci:layout:v1".parse::<ImageSource>().unwrap(),
            ImageSource::OciLayout {
                dir: "layout".into(),
                reference: Some("v1".into())
            }
        );
        let source: ImageSource = "oci-archive:img.tar".parse().unwrap();
        assert_eq!(source.to_string(), "oci-archive:img.tar");
        assert!("oci-archive:".parse::<ImageSource>().is_err());
        assert!("oci:dir:".parse::<ImageSource>().is_err());
        assert!("docker://nginx".parse::<ImageSource>().is_err());
    }

    #[test]
    fn outputs_parse_and_print() {
        assert_eq!("docker".parse::<OutputTarget>(), Ok(OutputTarget::Engine));
        let out: OutputTarget = "oci:out/dir:v2".parse().unwrap();
        assert_eq!(
            out,
            OutputTarget::OciLayout {
                dir: "out/dir".into(),
                reference: Some("v2".into())
            }
        );
        assert_eq!(out.to_string(), "oci:out/dir");
        assert_eq!(
            "docker-archive:x.tar".parse::<OutputTarget>(),
            Ok(OutputTarget::DockerArchive("x.tar".into()))
        );
        for bad in ["x.tar", "docker-archive:", "docker-archive:x:y", "tar:x"] {
            assert!(bad.parse::<OutputTarget>().is_err(), "{bad} parsed");
        }
    }
}
