//! Module resolution: the module ⇄ file index, and turning one file's imports into edges, third-party requirements and findings.

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use crate::config::{Ambiguity, InitFiles};
use crate::graph::{Edge, EdgeKind, FileId};
use crate::python::imports::{Import, ImportKind, ParsedFile, TextRange};
use crate::python::source_roots::{SourceRoots, is_under, module_name};
use crate::python::stdlib::{SUPPORTED_MINORS, is_stdlib_module};
use crate::vfs;

/// What the resolver knows of one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleFile {
    pub path: String,
    /// The deepest source root holding the file.
    pub root: Option<String>,
    /// The module name under that root.
    pub module: Option<String>,
    /// The package relative imports start from: the module itself for `__init__.py`,
    /// else its folder's package (known even when the file's own name is not an
    /// identifier, like a migration `0002_auto.py`).
    pub package: Option<String>,
    /// `__init__.py` or `__init__.pyi`.
    pub is_init: bool,
    /// The file holds code (for `init_files = "content_only"`).
    pub has_code: bool,
}

/// A declared third-party distribution.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Requirement {
    /// The name as declared.
    pub name: String,
    /// Where: `requirements.txt:3` or `pyproject.toml`.
    pub declared_in: String,
}

/// Module names of declared distributions, longest dotted prefix wins.
#[derive(Debug, Clone, Default)]
pub struct ThirdPartyIndex {
    by_module: HashMap<String, Vec<Requirement>>,
    /// Proper dotted prefixes of the registered modules (`google`, `google.cloud` for
    /// `google.cloud.storage`): only these can hold a more specific distribution.
    parents: HashSet<String>,
    /// Modules installed in the virtualenv whose distribution is not declared.
    undeclared: HashMap<String, String>,
}

impl ThirdPartyIndex {
    /// Registers a distribution as providing `module`.
    pub fn add(&mut self, module: &str, requirement: Requirement) {
        add_package_prefixes(&mut self.parents, module);
        let list = self.by_module.entry(module.to_owned()).or_default();
        if !list.iter().any(|r| r.name == requirement.name) {
            list.push(requirement);
        }
    }

    /// Remembers a module installed in the virtualenv by an undeclared distribution.
    pub fn add_undeclared(&mut self, module: &str, distribution: &str) {
        self.undeclared.entry(module.to_owned()).or_insert_with(|| distribution.to_owned());
    }

    /// The distributions providing `module` (or the longest of its dotted prefixes).
    pub fn lookup(&self, module: &str) -> Option<&[Requirement]> {
        prefixes(module).find_map(|p| self.by_module.get(p).map(Vec::as_slice))
    }

    fn undeclared(&self, module: &str) -> Option<&str> {
        prefixes(module).find_map(|p| self.undeclared.get(p).map(String::as_str))
    }

    pub fn is_empty(&self) -> bool {
        self.by_module.is_empty()
    }
}

/// `a.b.c`, `a.b`, `a`.
fn prefixes(module: &str) -> impl Iterator<Item = &str> {
    std::iter::once(module).chain(module.match_indices('.').map(|(i, _)| &module[..i]).rev())
}

/// What a module name resolves to, for one importer (memoized per file).
#[derive(Debug, Clone)]
enum Lookup {
    Files {
        files: Vec<FileId>,
        inits: Vec<FileId>,
    },
    Ambiguous(Vec<FileId>),
    Namespace(Vec<FileId>),
    Stdlib,
    ThirdParty(Vec<Requirement>),
    Unresolved,
    /// A submodule a regular first-party package (this `__init__` file) does not have.
    NotInPackage(FileId),
}

/// What kind of problem an import has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FindingKind {
    Unresolved,
    Ambiguous,
    RelativeBeyondTop,
    SyntaxError,
    MissingExplicitDependency,
}

/// A problem found in a file, with where it is and what to do.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Finding {
    pub kind: FindingKind,
    pub range: TextRange,
    /// The module as written (empty for syntax errors).
    pub module: String,
    pub message: String,
    /// Candidate files (for ambiguity).
    pub candidates: Vec<FileId>,
}

/// Everything one file's imports resolve to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileDeps {
    pub edges: Vec<Edge>,
    pub third_party: Vec<Requirement>,
    pub findings: Vec<Finding>,
}

/// Settings the resolver reads.
#[derive(Debug, Clone)]
pub struct ResolveSettings {
    pub init_files: InitFiles,
    pub ambiguity: Ambiguity,
    pub python_minor: u8,
}

/// The module ⇄ file index of a repository.
#[derive(Debug, Clone)]
pub struct Resolver {
    pub roots: SourceRoots,
    settings: ResolveSettings,
    files: Vec<Option<ModuleFile>>,
    /// Module → files, named under each file's deepest source root.
    primary: HashMap<String, Vec<FileId>>,
    /// Module → files, named under the other source roots that hold them (fallback for
    /// namespace packages that detection took for roots).
    outer: HashMap<String, Vec<FileId>>,
    /// Every package prefix (also namespace packages without `__init__.py`).
    packages: HashSet<String>,
    pub third_party: ThirdPartyIndex,
}

impl Resolver {
    /// Indexes `files` (`None` for removed ids).
    pub fn new(
        roots: SourceRoots,
        settings: ResolveSettings,
        third_party: ThirdPartyIndex,
        files: impl IntoIterator<Item = Option<(String, bool)>>,
    ) -> Self {
        let mut resolver = Self {
            roots,
            settings,
            files: Vec::new(),
            primary: HashMap::default(),
            outer: HashMap::default(),
            packages: HashSet::default(),
            third_party,
        };
        for (i, entry) in files.into_iter().enumerate() {
            match entry {
                Some((path, has_code)) => resolver.insert(FileId(i as u32), path, has_code),
                None => resolver.files.push(None),
            }
        }
        resolver
    }

    fn insert(&mut self, id: FileId, path: String, has_code: bool) {
        if self.files.len() <= id.index() {
            self.files.resize(id.index() + 1, None);
        }
        let mut containing = self.roots.containing(&path);
        let root = containing.next().map(str::to_owned);
        let module = root.as_deref().and_then(|r| module_name(&path, r));
        for other in containing {
            if let Some(name) = module_name(&path, other) {
                add_package_prefixes(&mut self.packages, &name);
                self.outer.entry(name).or_default().push(id);
            }
        }
        if let Some(name) = &module {
            add_package_prefixes(&mut self.packages, name);
            self.primary.entry(name.clone()).or_default().push(id);
        }
        let name = vfs::file_name(&path);
        let is_init = name == "__init__.py" || name == "__init__.pyi";
        let package = if is_init {
            module.clone()
        } else {
            root.as_deref().and_then(|r| module_name(&vfs::join(vfs::parent(&path), "__init__.py"), r))
        };
        self.files[id.index()] = Some(ModuleFile { path, root, module, package, is_init, has_code });
    }

    /// The file's record, if it exists.
    pub fn file(&self, id: FileId) -> Option<&ModuleFile> {
        self.files.get(id.index()).and_then(Option::as_ref)
    }

    /// Updates whether a file holds code; returns true when that changes what other
    /// files resolve to (an `__init__.py` under `content_only`).
    pub fn set_has_code(&mut self, id: FileId, has_code: bool) -> bool {
        let content_only = self.settings.init_files == InitFiles::ContentOnly;
        match self.files.get_mut(id.index()).and_then(Option::as_mut) {
            Some(file) if file.has_code != has_code => {
                file.has_code = has_code;
                file.is_init && content_only
            }
            _ => false,
        }
    }

    /// Whether [`Resolver::set_has_code`] with `has_code` would change the index (an
    /// `__init__.py` gaining or losing code under `content_only`), without changing it.
    pub fn has_code_changes_index(&self, id: FileId, has_code: bool) -> bool {
        let content_only = self.settings.init_files == InitFiles::ContentOnly;
        self.files
            .get(id.index())
            .and_then(Option::as_ref)
            .is_some_and(|file| file.has_code != has_code && file.is_init && content_only)
    }

    /// The files providing a module (primary names first, then outer ones).
    pub fn files_for(&self, module: &str) -> &[FileId] {
        self.primary.get(module).or_else(|| self.outer.get(module)).map_or(&[], Vec::as_slice)
    }

    fn exists(&self, module: &str) -> bool {
        self.primary.contains_key(module) || self.outer.contains_key(module) || self.packages.contains(module)
    }

    /// Resolves every import of one file.
    pub fn resolve(&self, id: FileId, parsed: &ParsedFile) -> FileDeps {
        let mut deps = FileDeps::default();
        let Some(file) = self.file(id) else { return deps };
        let mut memo = HashMap::default();
        for import in &parsed.imports {
            self.resolve_import(file, import, &mut memo, &mut deps);
        }
        for error in &parsed.syntax_errors {
            deps.findings.push(Finding {
                kind: FindingKind::SyntaxError,
                range: error.range,
                module: String::new(),
                message: error.message.clone(),
                candidates: Vec::new(),
            });
        }
        deps.third_party.sort();
        deps.third_party.dedup();
        deps
    }

    fn resolve_import(
        &self,
        file: &ModuleFile,
        import: &Import,
        memo: &mut HashMap<String, Lookup>,
        deps: &mut FileDeps,
    ) {
        let base = if import.level > 0 {
            if let Some(package) = relative_base(file, import.level) {
                join_module(&package, &import.module)
            } else {
                let dots = ".".repeat(import.level as usize);
                let package = match file.package.as_deref() {
                    Some(package) => format!("in package `{package}`"),
                    None => "a top-level module".to_owned(),
                };
                deps.findings.push(Finding {
                    kind: FindingKind::RelativeBeyondTop,
                    range: import.range,
                    module: format!("{dots}{}", import.module),
                    message: format!(
                        "relative import `{dots}{}` goes beyond the top-level package ({} is {package}); use fewer dots or an absolute import",
                        import.module, file.path
                    ),
                    candidates: Vec::new(),
                });
                return;
            }
        } else {
            import.module.clone()
        };
        let mut targets: Vec<String> = Vec::new();
        if import.kind == ImportKind::From {
            // `from a.b import c` depends on `a.b.c` if that is a module, else on `a.b`.
            let mut needs_base = import.names.is_empty();
            let base_is_first_party = self.exists(&base);
            // Only a package can have submodules: for `from a.module import X, Y, …`
            // (thousands of names in generated code) no candidate is built at all.
            let may_have_submodules = self.packages.contains(&base)
                || (!base_is_first_party && self.third_party.parents.contains(&base));
            for name in &import.names {
                if name.name == "*" || !may_have_submodules {
                    needs_base = true;
                    continue;
                }
                let candidate = join_module(&base, &name.name);
                // A submodule: first-party, or a third-party one that a distribution
                // provides on its own (`from google.cloud import storage`).
                let is_module = self.exists(&candidate)
                    || (!base_is_first_party && self.third_party.lookup(&candidate).is_some());
                if is_module {
                    targets.push(candidate);
                } else {
                    needs_base = true;
                }
            }
            if needs_base && !base.is_empty() {
                targets.push(base.clone());
            }
        } else {
            targets.push(base.clone());
        }
        for target in targets {
            self.resolve_module(file, import, &target, memo, deps);
        }
    }

    fn resolve_module(
        &self,
        file: &ModuleFile,
        import: &Import,
        module: &str,
        memo: &mut HashMap<String, Lookup>,
        deps: &mut FileDeps,
    ) {
        let line = import.range.start.line;
        let edge = |to: FileId, kind: EdgeKind| Edge {
            to,
            kind,
            line,
            type_only: import.type_only,
            weak: import.weak,
            deferred: import.deferred,
        };
        // Generated code repeats one import hundreds of times in a file (1,190 times
        // `from ._models_py3 import X` in one azure file): look each module up once.
        let lookup = match memo.get(module) {
            Some(found) => found,
            None => memo.entry(module.to_owned()).or_insert_with(|| self.lookup(file, module)),
        };
        match lookup {
            Lookup::Files { files, inits } => {
                deps.edges.extend(files.iter().map(|id| edge(*id, EdgeKind::Import)));
                deps.edges.extend(inits.iter().map(|id| edge(*id, EdgeKind::Init)));
            }
            // A namespace package (no __init__.py): nothing to depend on but its parents.
            Lookup::Namespace(inits) => deps.edges.extend(inits.iter().map(|id| edge(*id, EdgeKind::Init))),
            Lookup::Ambiguous(candidates) => {
                let paths: Vec<String> =
                    candidates.iter().filter_map(|c| self.file(*c).map(|f| f.path.clone())).collect();
                deps.findings.push(Finding {
                    kind: FindingKind::Ambiguous,
                    range: import.range,
                    module: module.to_owned(),
                    message: format!(
                        "`{module}` is provided by {} files: {}; keep one, or set ambiguity = \"by_source_root\" or an explicit dependency in [tool.pleat]",
                        paths.len(),
                        paths.join(" and ")
                    ),
                    candidates: candidates.clone(),
                });
            }
            // String imports only count when they name a first-party module.
            _ if import.kind == ImportKind::String => {}
            Lookup::Stdlib => {}
            Lookup::ThirdParty(requirements) => deps.third_party.extend(requirements.iter().cloned()),
            Lookup::Unresolved | Lookup::NotInPackage(_) if import.weak => {}
            Lookup::NotInPackage(init) => {
                let top = module.split('.').next().unwrap_or(module);
                let init = self.file(*init).map_or("", |f| f.path.as_str());
                deps.findings.push(Finding {
                    kind: FindingKind::Unresolved,
                    range: import.range,
                    module: module.to_owned(),
                    message: format!(
                        "`{module}` is no module of the first-party package `{top}` ({init}), which Python imports instead of any installed `{top}`; fix the name"
                    ),
                    candidates: Vec::new(),
                });
            }
            Lookup::Unresolved => {
                let hint = match self.third_party.undeclared(module) {
                    Some(dist) => format!(
                        "; it is installed from `{dist}`, which no requirements file declares: add `{dist}` to your requirements"
                    ),
                    None => "; add its distribution to your requirements, map it in [tool.pleat.module_mapping], or fix the source roots".to_owned(),
                };
                deps.findings.push(Finding {
                    kind: FindingKind::Unresolved,
                    range: import.range,
                    module: module.to_owned(),
                    message: format!(
                        "`{module}` matches no module under the source roots {} and no declared requirement{hint}",
                        self.roots.describe()
                    ),
                    candidates: Vec::new(),
                });
            }
        }
    }

    /// What a module name is, seen from one importer.
    fn lookup(&self, file: &ModuleFile, module: &str) -> Lookup {
        let candidates = self.files_for(module);
        if !candidates.is_empty() {
            return match self.choose(file, candidates) {
                Ok(files) => Lookup::Files { files, inits: self.ancestor_inits(module) },
                Err(()) => Lookup::Ambiguous(candidates.to_vec()),
            };
        }
        if self.packages.contains(module) {
            return Lookup::Namespace(self.ancestor_inits(module));
        }
        let top = module.split('.').next().unwrap_or(module);
        // A module of the configured version or of a later one (code guarded by a version
        // check imports those); one removed before the configured version is not.
        let newest = *SUPPORTED_MINORS.end();
        if top == "__main__"
            || (self.settings.python_minor..=newest).any(|minor| is_stdlib_module(top, minor))
        {
            return Lookup::Stdlib;
        }
        // A missing submodule of a regular first-party package (one with `__init__.py`) is
        // missing: Python imports the first-party package and never looks further, even when
        // a requirement of the same name exists (jinja2's checkout, whose requirements name
        // Jinja2: `from jinja2.nodez import Node` is a typo, not the released Jinja2).
        if top != module
            && let Some(init) = self.regular_package_init(top)
        {
            return Lookup::NotInPackage(init);
        }
        match self.third_party.lookup(module) {
            Some(requirements) => Lookup::ThirdParty(requirements.to_vec()),
            None => Lookup::Unresolved,
        }
    }

    /// The first-party `__init__.py` (or `.pyi`) that provides the package, if any.
    fn regular_package_init(&self, package: &str) -> Option<FileId> {
        self.files_for(package).iter().copied().find(|id| self.file(*id).is_some_and(|f| f.is_init))
    }

    /// One provider, a stub and its implementation, or an error for real ambiguity.
    fn choose(&self, importer: &ModuleFile, candidates: &[FileId]) -> Result<Vec<FileId>, ()> {
        let location = |id: &FileId| {
            self.file(*id).map(|f| {
                let stem = f.path.trim_end_matches(".pyi").trim_end_matches(".py");
                stem.strip_suffix("/__init__").unwrap_or(stem).to_owned()
            })
        };
        let first = location(&candidates[0]);
        if candidates.iter().all(|c| location(c) == first) {
            return Ok(candidates.to_vec());
        }
        if self.settings.ambiguity == Ambiguity::BySourceRoot
            && let Some(root) = &importer.root
        {
            let mine: Vec<FileId> = candidates
                .iter()
                .copied()
                .filter(|c| self.file(*c).is_some_and(|f| f.root.as_ref() == Some(root)))
                .collect();
            if !mine.is_empty() && mine.iter().all(|c| location(c) == location(&mine[0])) {
                return Ok(mine);
            }
        }
        Err(())
    }

    /// The `__init__.py` files Python runs before `module`: those of every proper
    /// ancestor package, filtered by the `init_files` setting.
    fn ancestor_inits(&self, module: &str) -> Vec<FileId> {
        if self.settings.init_files == InitFiles::None {
            return Vec::new();
        }
        let mut out = Vec::new();
        for (i, _) in module.match_indices('.') {
            for id in self.files_for(&module[..i]) {
                if let Some(f) = self.file(*id)
                    && f.is_init
                    && (f.has_code || self.settings.init_files == InitFiles::All)
                {
                    out.push(*id);
                }
            }
        }
        out
    }

    /// The conftest.py files a test file gets: in its folder and each ancestor up to its
    /// source root (the repository root when it has none).
    pub fn conftests(&self, id: FileId) -> Vec<FileId> {
        let Some(file) = self.file(id) else { return Vec::new() };
        let root = file.root.clone().unwrap_or_default();
        let mut out = Vec::new();
        let mut dir = vfs::parent(&file.path);
        loop {
            if !is_under(dir, &root) && dir != root {
                break;
            }
            let conftest = vfs::join(dir, "conftest.py");
            if let Some(found) = self.lookup_path(&conftest)
                && found != id
            {
                out.push(found);
            }
            if dir.is_empty() || dir == root {
                break;
            }
            dir = vfs::parent(dir);
        }
        out
    }

    /// The id of a file by path, through its module name.
    fn lookup_path(&self, path: &str) -> Option<FileId> {
        let root = self.roots.root_of(path)?;
        let module = module_name(path, root)?;
        self.primary.get(&module)?.iter().copied().find(|id| self.file(*id).is_some_and(|f| f.path == path))
    }
}

fn add_package_prefixes(packages: &mut HashSet<String>, module: &str) {
    for (i, _) in module.match_indices('.') {
        if !packages.contains(&module[..i]) {
            packages.insert(module[..i].to_owned());
        }
    }
}

/// The package a relative import of `level` dots starts from.
fn relative_base(file: &ModuleFile, level: u32) -> Option<String> {
    let mut parts: Vec<&str> = file.package.as_deref()?.split('.').collect();
    let up = level as usize - 1;
    if up >= parts.len() {
        return None;
    }
    parts.truncate(parts.len() - up);
    Some(parts.join("."))
}

fn join_module(base: &str, name: &str) -> String {
    match (base.is_empty(), name.is_empty()) {
        (true, _) => name.to_owned(),
        (false, true) => base.to_owned(),
        (false, false) => format!("{base}.{name}"),
    }
}
