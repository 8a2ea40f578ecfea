//! Where an archive's named files are: members of one tar file, or files
//! of an OCI layout directory. Either way a name is located as a window of
//! an open file, so everything after this is the same reader.
//!
//! Names come from the archive's own index, so they are checked before use:
//! relative, no `..`, and never resolved through a symlink that leaves the
//! archive. Nothing is extracted.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;

use super::verify::invalid;

/// Links followed inside a tar before the name is called a loop.
const MAX_LINK_HOPS: usize = 8;

/// A located file: `size` bytes at `offset` of `file`.
#[derive(Clone)]
pub struct Located {
    pub file: Arc<File>,
    pub offset: u64,
    pub size: u64,
}

impl Located {
    pub fn read_all(&self, name: &str, limit: u64) -> anyhow::Result<Vec<u8>> {
        if self.size > limit {
            return Err(invalid(format!(
                "{name} is implausibly large ({} bytes; metadata is at most {limit})",
                self.size
            )));
        }
        let mut bytes = vec![0; self.size as usize];
        self.file
            .read_exact_at(&mut bytes, self.offset)
            .map_err(|e| invalid(format!("cannot read {name}: {e}")))?;
        Ok(bytes)
    }
}

#[derive(Debug, Clone)]
enum Member {
    File {
        offset: u64,
        size: u64,
    },
    /// A symlink (target relative to the link's directory) or a hard link
    /// (target relative to the archive root), as old `docker save` wrote
    /// for a layer another image entry already holds.
    Link {
        target: String,
        symbolic: bool,
    },
}

/// The named files of one archive.
pub struct Store(Inner);

enum Inner {
    Tar {
        file: Arc<File>,
        members: HashMap<String, Member>,
    },
    Dir {
        root: PathBuf,
    },
}

impl Store {
    /// Indexes a tar once: only headers are read, data is skipped with seeks.
    pub fn tar(mut file: File) -> anyhow::Result<Store> {
        let len = file.metadata()?.len();
        file.seek(SeekFrom::Start(0))?;
        let mut members = HashMap::new();
        let mut archive = tar::Archive::new(&mut file);
        let entries = archive
            .entries_with_seek()
            .map_err(|e| invalid(format!("not a tar archive: {e}")))?;
        for entry in entries {
            let entry = entry.map_err(|e| invalid(format!("the archive is damaged: {e}")))?;
            let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            // Names that could only matter on extraction (absolute, `..`)
            // are never looked up, since index names are checked the same way.
            let Ok(name) = clean_name(&raw) else { continue };
            let kind = entry.header().entry_type();
            let member = if kind.is_file() {
                let (offset, size) = (entry.raw_file_position(), entry.size());
                if offset.saturating_add(size) > len {
                    return Err(invalid(format!(
                        "the archive is truncated: {name} needs {size} bytes at offset {offset}, \
                         the file ends at {len}"
                    )));
                }
                Member::File { offset, size }
            } else if kind.is_symlink() || kind.is_hard_link() {
                let target = entry
                    .link_name_bytes()
                    .map(|t| String::from_utf8_lossy(&t).into_owned())
                    .unwrap_or_default();
                Member::Link {
                    target,
                    symbolic: kind.is_symlink(),
                }
            } else {
                continue;
            };
            members.insert(name, member);
        }
        Ok(Store(Inner::Tar {
            file: Arc::new(file),
            members,
        }))
    }

    pub fn dir(root: &Path) -> anyhow::Result<Store> {
        let meta =
            std::fs::metadata(root).with_context(|| format!("cannot open {}", root.display()))?;
        if !meta.is_dir() {
            return Err(invalid(format!("{} is not a directory", root.display())));
        }
        Ok(Store(Inner::Dir {
            root: root.to_path_buf(),
        }))
    }

    pub fn contains(&self, name: &str) -> bool {
        match &self.0 {
            Inner::Tar { members, .. } => members.contains_key(name),
            Inner::Dir { root } => root.join(name).symlink_metadata().is_ok(),
        }
    }

    /// Finds `name` (as the archive's index spells it).
    pub fn locate(&self, name: &str) -> anyhow::Result<Located> {
        let clean = clean_name(name)?;
        match &self.0 {
            Inner::Tar { file, members } => locate_member(file, members, &clean, name),
            Inner::Dir { root } => locate_file(root, &clean),
        }
    }

    pub fn read(&self, name: &str, limit: u64) -> anyhow::Result<Vec<u8>> {
        self.locate(name)?.read_all(name, limit)
    }
}

fn locate_member(
    file: &Arc<File>,
    members: &HashMap<String, Member>,
    clean: &str,
    asked: &str,
) -> anyhow::Result<Located> {
    let mut name = clean.to_string();
    // Names come from the archive: quoted escaped in messages.
    let asked = crate::escape::text(asked);
    for _ in 0..=MAX_LINK_HOPS {
        match members.get(&name) {
            None if name == clean => {
                return Err(invalid(format!("the archive has no {asked}")));
            }
            None => {
                return Err(invalid(format!(
                    "{asked} is a link to {}, which the archive lacks",
                    crate::escape::text(&name)
                )));
            }
            Some(Member::File { offset, size }) => {
                return Ok(Located {
                    file: file.clone(),
                    offset: *offset,
                    size: *size,
                });
            }
            Some(Member::Link { target, symbolic }) => {
                let base = match symbolic {
                    true => Path::new(&name).parent().unwrap_or(Path::new("")),
                    false => Path::new(""),
                };
                name = join_inside(base, target).ok_or_else(|| {
                    invalid(format!(
                        "{} is a link to {target:?}, which points outside the archive",
                        crate::escape::text(&name)
                    ))
                })?;
            }
        }
    }
    Err(invalid(format!("{asked}: too many levels of links")))
}

fn locate_file(root: &Path, clean: &str) -> anyhow::Result<Located> {
    let path = root.join(clean);
    // Every component must be a real directory or file of the layout: a
    // symlink could lead anywhere on the host.
    let mut walked = root.to_path_buf();
    for component in Path::new(clean).components() {
        walked.push(component);
        let meta = match walked.symlink_metadata() {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(invalid(format!("the layout has no {clean}")));
            }
            Err(e) => {
                return Err(
                    anyhow::Error::new(e).context(format!("cannot read {}", walked.display()))
                )
            }
        };
        if meta.file_type().is_symlink() {
            return Err(invalid(format!(
                "{} is a symlink; rslim reads only regular files inside the layout",
                walked.display()
            )));
        }
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::fcntl::OFlag::O_NOFOLLOW.bits())
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(invalid(format!("{} is not a regular file", path.display())));
    }
    Ok(Located {
        file: Arc::new(file),
        offset: 0,
        size: meta.len(),
    })
}

/// `name` made relative and normal: `./a//b` → `a/b`. Absolute names and
/// `..` are refused: an index that names them points outside the archive.
pub fn clean_name(name: &str) -> anyhow::Result<String> {
    if name.starts_with('/') {
        return Err(invalid(format!(
            "the archive names {name:?}, an absolute path; names inside an archive are relative"
        )));
    }
    let mut parts = Vec::new();
    for component in Path::new(name).components() {
        match component {
            Component::Normal(part) => parts.push(part.to_string_lossy().into_owned()),
            Component::CurDir => {}
            _ => {
                return Err(invalid(format!(
                    "the archive names {name:?}, which climbs out of it with '..'"
                )))
            }
        }
    }
    if parts.is_empty() {
        return Err(invalid(format!(
            "the archive names {name:?}, which is no file"
        )));
    }
    Ok(parts.join("/"))
}

/// `target` resolved against `base` inside the archive; `None` when it
/// leaves it (an absolute target, or `..` above the top).
fn join_inside(base: &Path, target: &str) -> Option<String> {
    if target.starts_with('/') {
        return None;
    }
    let mut parts: Vec<String> = base
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    for component in Path::new(target).components() {
        match component {
            Component::Normal(part) => parts.push(part.to_string_lossy().into_owned()),
            Component::CurDir => {}
            Component::ParentDir => {
                parts.pop()?;
            }
            _ => return None,
        }
    }
    Some(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::verify::is_invalid_archive;

    #[test]
    fn names_stay_inside_the_archive() {
        assert_eq!(clean_name("./blobs//sha256/ab").unwrap(), "blobs/sha256/ab");
        for bad in ["/etc/passwd", "../layer.tar", "a/../../b", ".", ""] {
            let error = clean_name(bad).unwrap_err();
            assert!(is_invalid_archive(&error), "{bad}");
        }
        assert_eq!(
            join_inside(Path::new("abc"), "../def/layer.tar").as_deref(),
            Some("def/layer.tar")
        );
        assert_eq!(join_inside(Path::new("abc"), "../../etc/passwd"), None);
        assert_eq!(join_inside(Path::new("abc"), "/etc/passwd"), None);
    }

    fn tar_with(entries: &[(&str, Option<&str>, &[u8])]) -> Store {
        let mut builder = tar::Builder::new(tempfile::tempfile().unwrap());
        for (name, link, data) in entries {
            let mut header = tar::Header::new_gnu();
            header.set_mode(0o644);
            match link {
                Some(target) => {
                    header.set_entry_type(tar::EntryType::Symlink);
                    header.set_size(0);
                    builder.append_link(&mut header, name, target).unwrap();
                }
                None => {
                    header.set_size(data.len() as u64);
                    builder.append_data(&mut header, name, *data).unwrap();
                }
            }
        }
        Store::tar(builder.into_inner().unwrap()).unwrap()
    }

    #[test]
    fn legacy_layer_symlinks_resolve_inside_the_archive() {
        let store = tar_with(&[
            ("aaa/layer.tar", None, b"layer bytes"),
            ("bbb/layer.tar", Some("../aaa/layer.tar"), b""),
            ("ccc/layer.tar", Some("../../../etc/passwd"), b""),
        ]);
        assert_eq!(store.read("bbb/layer.tar", 100).unwrap(), b"layer bytes");
        let escape = store.read("ccc/layer.tar", 100).unwrap_err();
        assert!(format!("{escape:#}").contains("points outside the archive"));
        assert!(store.read("ddd/layer.tar", 100).is_err());
    }

    #[test]
    fn a_member_cut_short_is_truncation() {
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(4096);
        header.set_mode(0o644);
        builder
            .append_data(&mut header, "big", &[7u8; 4096][..])
            .unwrap();
        let mut bytes = builder.into_inner().unwrap();
        bytes.truncate(1024);
        let mut file = tempfile::tempfile().unwrap();
        std::io::Write::write_all(&mut file, &bytes).unwrap();
        let error = Store::tar(file).err().unwrap();
        assert!(format!("{error:#}").contains("truncated"), "{error:#}");
    }
}
