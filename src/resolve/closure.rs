//! The files a program needs from the dynamic loader: the transitive
//! closure over PT_INTERP and DT_NEEDED, searched like glibc's ld.so does,
//! entirely inside the image's tree.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use super::elf::{default_dirs, elf_identity, read_elf_info, ElfInfo, Tokens};
use super::ldcache::{ld_so_conf_dirs, LdCache};
use super::pathwalk::{resolve, Resolved};
use super::tree::FsTree;
use crate::image::node::NodeKind;

/// A file to keep, with every symlink that led to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependency {
    /// The real file.
    pub path: PathBuf,
    pub symlinks: Vec<PathBuf>,
    /// Real path of the first object found to need it.
    pub needed_by: PathBuf,
}

/// A needed library that no search directory holds (ld.so would fail).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    pub soname: String,
    pub needed_by: PathBuf,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Closure {
    /// In discovery order; the roots themselves are not listed unless
    /// another root needs them.
    pub files: Vec<Dependency>,
    pub missing: Vec<Missing>,
}

impl Closure {
    fn add(&mut self, found: &Resolved, needed_by: &Path) {
        match self.files.iter_mut().find(|dep| dep.path == found.path) {
            Some(known) => {
                for link in &found.symlinks {
                    if !known.symlinks.contains(link) {
                        known.symlinks.push(link.clone());
                    }
                }
            }
            None => self.files.push(Dependency {
                path: found.path.clone(),
                symlinks: found.symlinks.clone(),
                needed_by: needed_by.to_path_buf(),
            }),
        }
    }
}

/// One object loaded into the simulated process.
struct Loaded {
    real: PathBuf,
    info: Rc<ElfInfo>,
    /// Names it satisfies without a search: the names it was loaded by and its DT_SONAME.
    names: Vec<String>,
    /// The object whose DT_NEEDED loaded it; `None` for the program.
    loader: Option<usize>,
}

/// A candidate file that exists: where it leads, and its ELF class and machine.
struct Candidate {
    found: Resolved,
    class64: bool,
    machine: u16,
}

/// Resolves libraries inside one image; build it once per image.
pub struct LibraryResolver<'t> {
    tree: &'t dyn FsTree,
    cache: LdCache,
    /// Used in the cache's place when the image has no ld.so.cache.
    conf_dirs: Vec<PathBuf>,
    ld_library_path: Vec<String>,
    multiarch: bool,
    /// Parsed objects by real path, so each file is parsed once.
    infos: RefCell<HashMap<PathBuf, Option<Rc<ElfInfo>>>>,
    /// Candidate path → where it leads and the ELF class/machine there.
    candidates: RefCell<HashMap<PathBuf, Option<Candidate>>>,
    /// Real paths of the directories the loader searches by name, built on first use.
    search_dirs: RefCell<Option<std::collections::HashSet<PathBuf>>>,
}

impl<'t> LibraryResolver<'t> {
    /// `ld_library_path` is the image's `LD_LIBRARY_PATH` (from its config ENV).
    pub fn new(tree: &'t dyn FsTree, ld_library_path: Option<&str>) -> Self {
        let cache = LdCache::load(tree);
        let conf_dirs = if cache.entries.is_empty() {
            ld_so_conf_dirs(tree)
        } else {
            Vec::new()
        };
        let multiarch = ["/lib", "/usr/lib"].iter().any(|lib| {
            resolve(tree, Path::new(lib)).is_some_and(|dir| {
                tree.list(&dir.path)
                    .iter()
                    .any(|entry| entry.to_string_lossy().contains("-linux-gnu"))
            })
        });
        LibraryResolver {
            tree,
            cache,
            conf_dirs,
            // ld.so splits at `:` and `;`; empty entries (the working directory) are not modelled.
            ld_library_path: ld_library_path
                .unwrap_or_default()
                .split([':', ';'])
                .filter(|dir| !dir.is_empty())
                .map(str::to_string)
                .collect(),
            multiarch,
            infos: RefCell::default(),
            candidates: RefCell::default(),
            search_dirs: RefCell::default(),
        }
    }

    /// All files needed to run `roots`: the transitive closure over
    /// PT_INTERP and DT_NEEDED. Each root is its own process, so a library
    /// found by one root's RPATH does not satisfy another root's search.
    pub fn closure(&self, roots: &[PathBuf]) -> Closure {
        let mut closure = Closure::default();
        for root in roots {
            self.add_process(root, &mut closure);
        }
        closure
    }

    fn add_process(&self, root: &Path, closure: &mut Closure) {
        let Some(program) = resolve(self.tree, root) else {
            return;
        };
        let Some(info) = self.info(&program.path) else {
            return;
        };
        let mut loaded = vec![Loaded {
            real: program.path.clone(),
            info: info.clone(),
            names: Vec::new(),
            loader: None,
        }];
        if let Some(interpreter) = &info.interpreter {
            match resolve(self.tree, interpreter).filter(|found| self.is_file(&found.path)) {
                Some(found) => {
                    closure.add(&found, &program.path);
                    if let Some(interp_info) = self.info(&found.path) {
                        let names = interp_info.soname.iter().cloned().collect();
                        loaded.push(Loaded {
                            real: found.path,
                            info: interp_info,
                            names,
                            loader: Some(0),
                        });
                    }
                }
                None => closure.missing.push(Missing {
                    soname: interpreter.to_string_lossy().into_owned(),
                    needed_by: program.path.clone(),
                }),
            }
        }
        // Breadth first, like ld.so's load order, which decides which copy wins.
        let mut queue: VecDeque<usize> = (0..loaded.len()).collect();
        while let Some(index) = queue.pop_front() {
            let needer = loaded[index].real.clone();
            for name in loaded[index].info.needed.clone() {
                if loaded.iter().any(|object| object.names.contains(&name)) {
                    continue;
                }
                let Some(found) = self.search(&name, index, &loaded) else {
                    if !closure
                        .missing
                        .iter()
                        .any(|m| m.soname == name && m.needed_by == needer)
                    {
                        closure.missing.push(Missing {
                            soname: name,
                            needed_by: needer.clone(),
                        });
                    }
                    continue;
                };
                closure.add(&found, &needer);
                // The same file under another name is the same object (ld.so compares inodes).
                if let Some(object) = loaded.iter_mut().find(|object| object.real == found.path) {
                    object.names.push(name);
                    continue;
                }
                let Some(info) = self.info(&found.path) else {
                    continue;
                };
                let mut names = vec![name];
                names.extend(info.soname.iter().cloned());
                loaded.push(Loaded {
                    real: found.path,
                    info,
                    names,
                    loader: Some(index),
                });
                queue.push_back(loaded.len() - 1);
            }
        }
    }

    /// Where ld.so would find `name` when object `loader` needs it.
    fn search(&self, name: &str, loader: usize, loaded: &[Loaded]) -> Option<Resolved> {
        let object = &loaded[loader];
        let (class64, machine) = (object.info.class64, object.info.machine);
        let tokens_of = |object| self.tokens(object, class64, machine);
        let accept = |path: &Path| self.candidate(path, class64, machine);
        let in_dirs = |dirs: &mut dyn Iterator<Item = PathBuf>| {
            for dir in dirs {
                if let Some(found) = accept(&dir.join(name)) {
                    return Some(found);
                }
            }
            None
        };

        if name.contains('/') {
            return accept(&tokens_of(object).expand(name));
        }
        // DT_RPATH of the object and of each object that loaded it, up to the
        // program, unless the object has DT_RUNPATH.
        if object.info.runpath.is_empty() {
            let mut chain = Some(loader);
            while let Some(index) = chain {
                let link = &loaded[index];
                if link.info.runpath.is_empty() {
                    let tokens = tokens_of(link);
                    if let Some(found) =
                        in_dirs(&mut link.info.rpath.iter().map(|dir| tokens.expand(dir)))
                    {
                        return Some(found);
                    }
                }
                chain = link.loader;
            }
        }
        let program_tokens = tokens_of(&loaded[0]);
        if let Some(found) = in_dirs(
            &mut self
                .ld_library_path
                .iter()
                .map(|dir| program_tokens.expand(dir)),
        ) {
            return Some(found);
        }
        let tokens = tokens_of(object);
        if let Some(found) = in_dirs(&mut object.info.runpath.iter().map(|dir| tokens.expand(dir)))
        {
            return Some(found);
        }
        if let Some(found) = self
            .cache
            .lookup(name.as_bytes(), class64, machine)
            .find_map(accept)
        {
            return Some(found);
        }
        if let Some(found) = in_dirs(&mut self.conf_dirs.iter().cloned()) {
            return Some(found);
        }
        in_dirs(&mut default_dirs(class64, machine).into_iter())
    }

    /// Whether real directory `dir` is one the loader searches for a bare
    /// name: a directory of the cache, of ld.so.conf, or a default one.
    /// A shared object opened from anywhere else was loaded by path.
    pub fn is_search_dir(&self, dir: &Path) -> bool {
        let default = (dir == Path::new("/usr/lib")
            || dir == Path::new("/lib")
            || dir == Path::new("/usr/lib64")
            || dir == Path::new("/lib64"))
            || dir
                .parent()
                .is_some_and(|p| p == Path::new("/usr/lib") || p == Path::new("/lib"))
                && dir
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().contains("-linux-"));
        if default {
            return true;
        }
        let mut known = self.search_dirs.borrow_mut();
        let known = known.get_or_insert_with(|| {
            self.cache
                .entries
                .iter()
                .filter_map(|entry| entry.path.parent().map(Path::to_path_buf))
                .chain(self.conf_dirs.iter().cloned())
                .filter_map(|d| resolve(self.tree, &d).map(|found| found.path))
                .collect()
        });
        known.contains(dir)
    }

    /// Where the loader finds `soname` for a `dlopen` by name from a process of
    /// this class and machine, outside any RPATH: `LD_LIBRARY_PATH`, the
    /// cache, then the default directories (NSS modules are found this way).
    pub fn find_library(&self, soname: &str, class64: bool, machine: u16) -> Option<Resolved> {
        let accept = |path: PathBuf| self.candidate(&path, class64, machine);
        let dirs = self
            .ld_library_path
            .iter()
            .map(PathBuf::from)
            .chain(self.conf_dirs.iter().cloned());
        if let Some(found) = self
            .ld_library_path
            .iter()
            .map(|dir| Path::new(dir).join(soname))
            .find_map(accept)
        {
            return Some(found);
        }
        if let Some(found) = self
            .cache
            .lookup(soname.as_bytes(), class64, machine)
            .find_map(|path| accept(path.to_path_buf()))
        {
            return Some(found);
        }
        dirs.chain(default_dirs(class64, machine))
            .map(|dir| dir.join(soname))
            .find_map(accept)
    }

    /// `path` resolved, if it leads to an ELF file of this class and machine;
    /// ld.so skips other candidates and keeps searching.
    fn candidate(&self, path: &Path, class64: bool, machine: u16) -> Option<Resolved> {
        let mut candidates = self.candidates.borrow_mut();
        let entry = candidates.entry(path.to_path_buf()).or_insert_with(|| {
            let found = resolve(self.tree, path).filter(|found| self.is_file(&found.path))?;
            let (found_class64, found_machine) = elf_identity(self.tree, &found.path)?;
            Some(Candidate {
                found,
                class64: found_class64,
                machine: found_machine,
            })
        });
        match entry {
            Some(Candidate {
                found,
                class64: found_class64,
                machine: found_machine,
            }) if *found_class64 == class64 && *found_machine == machine => Some(found.clone()),
            _ => None,
        }
    }

    /// Token values for `object`; class and machine are those of the
    /// process, which every object in it shares.
    fn tokens<'a>(&self, object: &'a Loaded, class64: bool, machine: u16) -> Tokens<'a> {
        Tokens {
            origin: object.real.parent().unwrap_or(Path::new("/")),
            class64,
            machine,
            multiarch: self.multiarch,
        }
    }

    fn is_file(&self, real: &Path) -> bool {
        matches!(self.tree.kind(real), Some(NodeKind::File { .. }))
    }

    /// The parsed ELF file at real path `real`, once per file.
    pub fn info(&self, real: &Path) -> Option<Rc<ElfInfo>> {
        if let Some(known) = self.infos.borrow().get(real) {
            return known.clone();
        }
        let info = read_elf_info(self.tree, real).map(Rc::new);
        self.infos
            .borrow_mut()
            .insert(real.to_path_buf(), info.clone());
        info
    }
}

#[cfg(test)]
mod built_tests;
#[cfg(test)]
mod tests;
