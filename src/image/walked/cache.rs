//! Walker indexes kept on disk, by what decides them: the image's layers
//! (its `diff_ids`, in order), its VOLUMEs (the walker mounts a tmpfs at
//! each), the engine kind (its init layer and run-time mounts) and the
//! sensor that wrote the index. Layers are content-addressed, so an index
//! found under its key is the walk a new walker would send; a second build
//! of an image (another probe file, another flag) skips the walk, the part
//! of a build that grows with the image's paths (docs/design.md, "The walk
//! index cache"). Only the index is kept, never a file's bytes: those are
//! always served by the new build's own walker.
//!
//! Where: `$RSLIM_CACHE_DIR`, else `$XDG_CACHE_HOME/rslim`, else
//! `$HOME/.cache/rslim`; indexes go in its `walk-index/`. Entries are
//! written to a temp name and renamed, refreshed when used, and the oldest
//! go once there are more than [`MAX_ENTRIES`] or [`MAX_BYTES`] of them.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};

use crate::docker::EngineKind;
use crate::output::digest::to_hex;

/// Bumped when what the walker's index means, or how rslim reads it, changes.
const FORMAT: &str = "rslim walk index 2";
/// At most this many indexes (about 90 bytes a path: 5 MB for 55,000 paths).
pub const MAX_ENTRIES: usize = 64;
/// At most this many bytes of indexes in all.
pub const MAX_BYTES: u64 = 512 << 20;
/// Temp files older than this are a killed build's, and go.
const STALE_TEMP: Duration = Duration::from_secs(3600);
const TEMP_PREFIX: &str = ".tmp-";

/// The cache's directory of indexes.
#[derive(Clone, Debug)]
pub struct IndexCache {
    dir: PathBuf,
}

/// One image's place in the cache.
#[derive(Clone, Debug)]
pub struct CacheEntry {
    cache: IndexCache,
    key: String,
}

impl IndexCache {
    /// The user's cache, from the environment; `None` when no variable says where.
    pub fn from_env() -> Option<IndexCache> {
        let var = |name| {
            std::env::var_os(name)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        let base = var("RSLIM_CACHE_DIR")
            .or_else(|| var("XDG_CACHE_HOME").map(|d| d.join("rslim")))
            .or_else(|| var("HOME").map(|d| d.join(".cache").join("rslim")))?;
        Some(IndexCache::at(&base))
    }

    /// A cache whose base directory is `base`.
    pub fn at(base: &Path) -> IndexCache {
        IndexCache {
            dir: base.join("walk-index"),
        }
    }

    /// Where the index of the image with these layers (`diff_ids`, bottom
    /// first) and VOLUMEs, walked on `engine`, is kept; `None` without
    /// layers to name it by.
    pub fn entry(
        &self,
        engine: EngineKind,
        layers: &[String],
        volumes: &[String],
    ) -> Option<CacheEntry> {
        let named = !layers.is_empty() && layers.iter().all(|layer| layer.starts_with("sha256:"));
        named.then(|| CacheEntry {
            cache: self.clone(),
            key: key(engine, layers, volumes, sensor_digest()),
        })
    }

    /// The indexes, oldest use first: (path, bytes, last use).
    fn entries(&self) -> Vec<(PathBuf, u64, SystemTime)> {
        let Ok(listing) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut entries: Vec<_> = listing
            .flatten()
            .filter_map(|entry| {
                let meta = entry.metadata().ok()?;
                let name = entry.file_name();
                let temp = name.to_string_lossy().starts_with(TEMP_PREFIX);
                let modified = meta.modified().ok()?;
                if temp {
                    let age = SystemTime::now()
                        .duration_since(modified)
                        .unwrap_or_default();
                    if age > STALE_TEMP {
                        let _ = std::fs::remove_file(entry.path());
                    }
                    return None;
                }
                meta.is_file().then(|| (entry.path(), meta.len(), modified))
            })
            .collect();
        entries.sort_by_key(|(_, _, used)| *used);
        entries
    }

    /// Removes the least recently used indexes beyond the limits.
    fn evict(&self) {
        let mut entries = self.entries();
        let mut total: u64 = entries.iter().map(|(_, bytes, _)| bytes).sum();
        let mut count = entries.len();
        for (path, bytes, _) in entries.drain(..) {
            if count <= MAX_ENTRIES && total <= MAX_BYTES {
                break;
            }
            if std::fs::remove_file(&path).is_ok() {
                count -= 1;
                total = total.saturating_sub(bytes);
            }
        }
    }
}

impl CacheEntry {
    /// The entry of the same image walked another way (`serve-tree --view`
    /// sends the engine's mount points' contents where the plain walk names
    /// them): its own key.
    pub fn variant(self, walker: &str) -> CacheEntry {
        let key = to_hex(&Sha256::digest(format!("{}\nwalker={walker}\n", self.key)));
        CacheEntry { key, ..self }
    }

    fn path(&self) -> PathBuf {
        self.cache.dir.join(&self.key)
    }

    /// The kept index, if there is one; marked as just used.
    pub fn open(&self) -> Option<File> {
        let file = File::open(self.path()).ok()?;
        if !file.metadata().is_ok_and(|meta| meta.is_file()) {
            return None;
        }
        let _ = file.set_modified(SystemTime::now());
        Some(file)
    }

    /// Forgets an index that turned out unusable.
    pub fn discard(&self) {
        let _ = std::fs::remove_file(self.path());
    }

    /// A writer for a new index, kept only once [`Saving::commit`] is called.
    pub fn save(&self) -> io::Result<Saving> {
        use std::os::unix::fs::PermissionsExt;
        std::fs::create_dir_all(&self.cache.dir)?;
        // The user's own: what is read back decides what a slim image keeps.
        std::fs::set_permissions(&self.cache.dir, std::fs::Permissions::from_mode(0o700))?;
        let file = tempfile::Builder::new()
            .prefix(TEMP_PREFIX)
            .tempfile_in(&self.cache.dir)?;
        Ok(Saving {
            entry: self.clone(),
            file: io::BufWriter::with_capacity(256 << 10, file),
            failed: false,
        })
    }
}

/// An index being written; dropped without [`Saving::commit`], nothing is kept.
pub struct Saving {
    entry: CacheEntry,
    file: io::BufWriter<tempfile::NamedTempFile>,
    /// A write failed (a full disk): the walk goes on, nothing is kept.
    failed: bool,
}

impl Saving {
    /// Records bytes of the index as they are read; a failure only means
    /// the index will not be kept.
    pub fn record(&mut self, bytes: &[u8]) {
        if !self.failed && self.file.write_all(bytes).is_err() {
            self.failed = true;
        }
    }

    /// Keeps the index under its key (atomically), then trims the cache.
    pub fn commit(self) -> io::Result<()> {
        if self.failed {
            return Err(io::Error::other("an index write failed"));
        }
        let file = self.file.into_inner().map_err(|e| e.into_error())?;
        file.persist(self.entry.path()).map_err(|e| e.error)?;
        self.entry.cache.evict();
        Ok(())
    }
}

/// The key: sha256 of everything that decides what the walker sends.
fn key(engine: EngineKind, layers: &[String], volumes: &[String], sensor: &str) -> String {
    let mut volumes = volumes.to_vec();
    volumes.sort();
    let mut hasher = Sha256::new();
    let mut field = |name: &str, value: &str| {
        for part in [name, "=", value, "\n"] {
            hasher.update(part.as_bytes());
        }
    };
    field("format", FORMAT);
    field("sensor", sensor);
    field("engine", &format!("{engine:?}"));
    for diff_id in layers {
        field("layer", diff_id);
    }
    for volume in &volumes {
        field("volume", volume);
    }
    to_hex(&hasher.finalize())
}

/// sha256 of the embedded sensor, once per process.
fn sensor_digest() -> &'static str {
    static DIGEST: OnceLock<String> = OnceLock::new();
    DIGEST.get_or_init(|| to_hex(&Sha256::digest(crate::sensor::embedded::sensor_binary())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_key_follows_layers_volumes_engine_and_sensor_only() {
        let layers = strings(&["sha256:aa", "sha256:bb"]);
        let volumes = strings(&["/data", "/logs"]);
        let same = key(EngineKind::Docker, &layers, &volumes, "s1");
        // VOLUMEs in another order: the same mounts.
        let reordered_volumes = strings(&["/logs", "/data"]);
        assert_eq!(
            same,
            key(EngineKind::Docker, &layers, &reordered_volumes, "s1")
        );
        for other in [
            key(
                EngineKind::Docker,
                &strings(&["sha256:bb", "sha256:aa"]),
                &volumes,
                "s1",
            ),
            key(EngineKind::Docker, &strings(&["sha256:aa"]), &volumes, "s1"),
            key(EngineKind::Docker, &layers, &strings(&["/data"]), "s1"),
            key(EngineKind::Podman, &layers, &volumes, "s1"),
            key(EngineKind::Docker, &layers, &volumes, "s2"),
        ] {
            assert_ne!(same, other);
        }
    }

    #[test]
    fn each_way_of_walking_has_its_own_entry() {
        let cache = IndexCache::at(Path::new("/nonexistent"));
        let layers = strings(&["sha256:aa"]);
        let plain = cache.entry(EngineKind::Docker, &layers, &[]).unwrap();
        let view = plain.clone().variant("view");
        assert_ne!(plain.key, view.key);
        assert_eq!(view.key, plain.clone().variant("view").key);
    }

    #[test]
    fn an_image_without_named_layers_has_no_entry() {
        let cache = IndexCache::at(Path::new("/nonexistent"));
        assert!(cache.entry(EngineKind::Docker, &[], &[]).is_none());
        let unnamed = strings(&["", "sha256:aa"]);
        assert!(cache.entry(EngineKind::Docker, &unnamed, &[]).is_none());
    }

    #[test]
    fn an_index_is_kept_only_when_committed_and_the_oldest_go_first() {
        let base = tempfile::tempdir().unwrap();
        let cache = IndexCache::at(base.path());
        let image = |n: usize| {
            cache
                .entry(EngineKind::Docker, &[format!("sha256:{n}")], &[])
                .unwrap()
        };
        let first = image(0);
        let mut saving = first.save().unwrap();
        saving.record(b"index");
        drop(saving);
        assert!(first.open().is_none(), "an uncommitted index was kept");
        assert_eq!(std::fs::read_dir(&cache.dir).unwrap().count(), 0);

        let mut saving = first.save().unwrap();
        saving.record(b"index");
        saving.commit().unwrap();
        use std::os::unix::fs::PermissionsExt;
        let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&cache.dir), 0o700);
        assert_eq!(mode(&first.path()), 0o600);
        assert_eq!(
            std::io::read_to_string(first.open().unwrap()).unwrap(),
            "index"
        );
        // Oldest use first: entry 0 was used longest ago once the others come.
        let old = SystemTime::now() - Duration::from_secs(60);
        File::options()
            .write(true)
            .open(first.path())
            .unwrap()
            .set_modified(old)
            .unwrap();
        for n in 1..=MAX_ENTRIES {
            let mut saving = image(n).save().unwrap();
            saving.record(b"x");
            saving.commit().unwrap();
        }
        assert_eq!(cache.entries().len(), MAX_ENTRIES);
        assert!(
            first.open().is_none(),
            "the least recently used index stayed"
        );
        first.discard();
    }

    #[test]
    fn a_killed_builds_temp_file_goes_once_stale() {
        let base = tempfile::tempdir().unwrap();
        let cache = IndexCache::at(base.path());
        std::fs::create_dir_all(&cache.dir).unwrap();
        let stale = cache.dir.join(format!("{TEMP_PREFIX}dead"));
        let fresh = cache.dir.join(format!("{TEMP_PREFIX}alive"));
        std::fs::write(&stale, b"x").unwrap();
        std::fs::write(&fresh, b"x").unwrap();
        let old = SystemTime::now() - STALE_TEMP - Duration::from_secs(60);
        File::options()
            .write(true)
            .open(&stale)
            .unwrap()
            .set_modified(old)
            .unwrap();
        assert!(cache.entries().is_empty(), "temp files are not indexes");
        assert!(!stale.exists() && fresh.exists());
    }
}
