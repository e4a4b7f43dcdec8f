//! The project: one repository's files, their parse results, the resolver and the target graph, kept up to date one file at a time; the engine's public façade.

use rustc_hash::FxHashMap as HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;

use crate::config::{Config, ConfigError};
use crate::graph::{Edge, EdgeKind, FileId, Graph};
use crate::parse_cache::ContentDigest;
use crate::python::collection::{Collected, Collection, NotRun, OtherFile};
use crate::python::imports::{ParseOptions, ParsedFile, parse_imports};
use crate::python::resolve::{FileDeps, Finding, FindingKind, ResolveSettings, Resolver, ThirdPartyIndex};
use crate::python::source_roots::SourceRoots;
use crate::python::third_party;
use crate::vfs::{self, FileStat, GlobError};

/// What a target is, by its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TargetKind {
    Source,
    Test,
    /// `conftest.py`: loaded by pytest for the tests below it.
    TestUtil,
    /// A `.pyi` type stub.
    Stub,
}

impl TargetKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Source => "source",
            Self::Test => "test",
            Self::TestUtil => "test_util",
            Self::Stub => "stub",
        }
    }
}

/// A project could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{0}")]
    Glob(#[from] GlobError),
    #[error("{path}: {message}; fix the entry in [tool.pleat]")]
    Setting { path: String, message: String },
}

/// One file of the project.
#[derive(Debug, Clone)]
pub struct FileState {
    pub path: String,
    pub kind: TargetKind,
    pub digest: ContentDigest,
    pub stat: FileStat,
    pub parsed: Arc<ParsedFile>,
}

/// A file's content as handed to the project.
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub path: String,
    pub digest: ContentDigest,
    pub stat: FileStat,
    pub parsed: Arc<ParsedFile>,
}

impl SourceFile {
    /// Parses in-memory content (tests, editor buffers).
    pub fn from_bytes(path: &str, content: &[u8], options: ParseOptions) -> Self {
        Self {
            path: path.to_owned(),
            digest: *blake3::hash(content).as_bytes(),
            stat: FileStat::default(),
            parsed: Arc::new(parse_imports(content, options)),
        }
    }
}

/// An explicit `[tool.pleat.dependencies]` entry, compiled.
#[derive(Debug, Clone)]
struct ExplicitDeps {
    matcher: globset::GlobMatcher,
    add: Vec<String>,
    remove: Vec<String>,
}

/// One repository, indexed.
#[derive(Debug, Clone)]
pub struct Project {
    pub root: PathBuf,
    pub config: Config,
    files: Vec<Option<FileState>>,
    by_path: HashMap<String, FileId>,
    resolver: Resolver,
    graph: Graph,
    deps: Vec<FileDeps>,
    /// pytest's collection rules (or `test_patterns`): which files are tests.
    collection: Collection,
    /// Non-Python files a pytest collector may read (see [`Project::not_run`]).
    other_files: Vec<OtherFile>,
    explicit: Vec<ExplicitDeps>,
    third_party: ThirdPartyIndex,
    /// Requirements files as read at load: (path, text).
    requirement_files: Vec<(String, String)>,
    /// Files and folders the load could not read (left out of the graph).
    unreadable: Vec<vfs::Unreadable>,
}

/// What changed when a file was set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Update {
    /// Same content as before: nothing to do.
    Unchanged,
    /// Only this file's edges were recomputed.
    OneFile,
    /// The file set or a package's `__init__.py` changed: every file was re-resolved.
    Everything,
}

impl Project {
    /// The parse options the configuration asks for.
    pub fn parse_options(config: &Config) -> ParseOptions {
        ParseOptions {
            string_imports: config.string_imports,
            string_imports_min_dots: config.string_imports_min_dots,
        }
    }

    /// Builds a project from parsed files.
    pub fn new(
        root: &Path,
        config: Config,
        files: Vec<SourceFile>,
        requirement_files: &[(String, String)],
    ) -> Result<Self, ProjectError> {
        let collection = Collection::new(
            root,
            &config.pytest,
            config.test_patterns.as_deref(),
            &requirement_names(&config, requirement_files),
        )?;
        let mut explicit = Vec::new();
        for (pattern, list) in &config.dependencies {
            let matcher = vfs::glob(pattern, "dependencies")?;
            let (remove, add): (Vec<String>, Vec<String>) =
                list.iter().cloned().partition(|d| d.starts_with('!'));
            let remove = remove.into_iter().map(|d| d.trim_start_matches('!').to_owned()).collect();
            explicit.push(ExplicitDeps { matcher, add, remove });
        }
        let third_party = third_party_index(root, &config, requirement_files);
        let mut project = Self {
            root: root.to_owned(),
            config,
            files: Vec::new(),
            by_path: HashMap::default(),
            resolver: Resolver::new(
                SourceRoots::default(),
                settings_of(&Config::default()),
                ThirdPartyIndex::default(),
                [],
            ),
            graph: Graph::default(),
            deps: Vec::new(),
            collection,
            other_files: Vec::new(),
            explicit,
            third_party,
            requirement_files: requirement_files.to_vec(),
            unreadable: Vec::new(),
        };
        let mut files = files;
        files.sort_by(|a, b| a.path.cmp(&b.path));
        files.dedup_by(|a, b| a.path == b.path);
        for file in files {
            project.insert(file);
        }
        project.rebuild()?;
        Ok(project)
    }

    fn insert(&mut self, file: SourceFile) -> FileId {
        let id = FileId(self.files.len() as u32);
        let kind = self.kind_of(&file.path, &file.parsed);
        self.by_path.insert(file.path.clone(), id);
        self.files.push(Some(FileState {
            path: file.path,
            kind,
            digest: file.digest,
            stat: file.stat,
            parsed: file.parsed,
        }));
        id
    }

    /// A file's kind: stubs and conftests by name, tests by pytest's collection rules
    /// (a module collected only for its doctests is a test too).
    fn kind_of(&self, path: &str, parsed: &ParsedFile) -> TargetKind {
        if path.ends_with(".pyi") {
            TargetKind::Stub
        } else if vfs::file_name(path) == "conftest.py" {
            TargetKind::TestUtil
        } else if self.collection.python_file(path, parsed.has_doctest) == Collected::No {
            TargetKind::Source
        } else {
            TargetKind::Test
        }
    }

    /// Recomputes source roots, the module index and every file's edges.
    fn rebuild(&mut self) -> Result<(), ProjectError> {
        let paths: Vec<String> = self.files.iter().flatten().map(|f| f.path.clone()).collect();
        let roots = match &self.config.source_roots {
            Some(patterns) => SourceRoots::configured(patterns, &paths)?,
            None => SourceRoots::detect(&paths),
        };
        self.resolver = Resolver::new(
            roots,
            settings_of(&self.config),
            self.third_party.clone(),
            self.files.iter().map(|f| f.as_ref().map(|f| (f.path.clone(), f.parsed.has_code))),
        );
        self.resolve_all();
        Ok(())
    }

    fn resolve_all(&mut self) {
        let results: Vec<FileDeps> =
            (0..self.files.len()).into_par_iter().map(|i| self.resolve_one(FileId(i as u32))).collect();
        self.deps = Vec::with_capacity(results.len());
        for (i, mut deps) in results.into_iter().enumerate() {
            self.graph.set_edges(FileId(i as u32), std::mem::take(&mut deps.edges));
            self.deps.push(deps);
        }
    }

    /// Resolves one file: inferred edges, conftests for tests, explicit entries.
    fn resolve_one(&self, id: FileId) -> FileDeps {
        let Some(file) = self.file(id) else { return FileDeps::default() };
        let mut deps = self.resolver.resolve(id, &file.parsed);
        if file.kind == TargetKind::Test {
            for conftest in self.resolver.conftests(id) {
                deps.edges.push(Edge {
                    to: conftest,
                    kind: EdgeKind::Conftest,
                    line: 0,
                    type_only: false,
                    weak: false,
                    deferred: false,
                });
            }
        }
        for entry in self.explicit.iter().filter(|e| e.matcher.is_match(&file.path)) {
            for path in &entry.add {
                // A data file or folder is a resource of the file's tests, not an import
                // edge (`goals::resources`); only a missing one is worth a word here.
                let python = vfs::is_python(path);
                if !python && self.root.join(path).exists() {
                    continue;
                }
                match self.by_path.get(path.as_str()) {
                    Some(to) => deps.edges.push(Edge {
                        to: *to,
                        kind: EdgeKind::Explicit,
                        line: 0,
                        type_only: false,
                        weak: false,
                        deferred: false,
                    }),
                    None => deps.findings.push(Finding {
                        kind: FindingKind::MissingExplicitDependency,
                        range: crate::python::imports::TextRange::default(),
                        module: path.clone(),
                        message: format!(
                            "[tool.pleat.dependencies] gives {} the dependency {path}, which is neither a Python file nor a file or folder of this repository; fix or remove the entry",
                            file.path
                        ),
                        candidates: Vec::new(),
                    }),
                }
            }
            for path in &entry.remove {
                if let Some(to) = self.by_path.get(path.as_str()) {
                    deps.edges.retain(|e| e.to != *to);
                }
            }
        }
        deps
    }

    /// Sets a file's content (new or changed), updating only what it affects.
    pub fn set_file(&mut self, file: SourceFile) -> Result<Update, ProjectError> {
        let Some(&id) = self.by_path.get(&file.path) else {
            self.insert(file);
            self.rebuild()?;
            return Ok(Update::Everything);
        };
        // A doctest gained or lost under `--doctest-modules` changes the kind (and with
        // it the conftest edges resolve_one adds); the parse results differ then too.
        let kind = self.kind_of(&file.path, &file.parsed);
        let Some(state) = self.files[id.index()].as_mut() else { return Ok(Update::Unchanged) };
        if state.digest == file.digest {
            state.stat = file.stat;
            return Ok(Update::Unchanged);
        }
        state.digest = file.digest;
        state.stat = file.stat;
        state.kind = kind;
        let same_imports = *state.parsed == *file.parsed;
        state.parsed = file.parsed;
        if same_imports {
            return Ok(Update::OneFile);
        }
        let has_code = state.parsed.has_code;
        if self.resolver.set_has_code(id, has_code) {
            self.resolve_all();
            return Ok(Update::Everything);
        }
        let mut deps = self.resolve_one(id);
        self.graph.set_edges(id, std::mem::take(&mut deps.edges));
        self.deps[id.index()] = deps;
        Ok(Update::OneFile)
    }

    /// Whether [`Project::set_file`] with `file` would change the module index and so
    /// re-resolve every file (`Update::Everything`): a new file, or an `__init__.py` gaining
    /// or losing code under `content_only`. A caller can then do it on a copy elsewhere.
    pub fn changes_index(&self, file: &SourceFile) -> bool {
        let Some(&id) = self.by_path.get(&file.path) else { return true };
        self.file(id).is_some_and(|state| {
            state.digest != file.digest
                && *state.parsed != *file.parsed
                && self.resolver.has_code_changes_index(id, file.parsed.has_code)
        })
    }

    /// Removes a file; returns false if it was not there.
    pub fn remove_file(&mut self, path: &str) -> Result<bool, ProjectError> {
        let Some(id) = self.by_path.remove(path) else { return Ok(false) };
        self.files[id.index()] = None;
        self.graph.clear(id);
        self.rebuild()?;
        Ok(true)
    }

    // ---- queries ----

    pub fn file(&self, id: FileId) -> Option<&FileState> {
        self.files.get(id.index()).and_then(Option::as_ref)
    }

    pub fn id(&self, path: &str) -> Option<FileId> {
        self.by_path.get(path).copied()
    }

    pub fn path(&self, id: FileId) -> &str {
        self.file(id).map_or("", |f| f.path.as_str())
    }

    /// What one import of a file resolves to (hover, go to definition): its edges, its
    /// third-party requirements and its findings, as if it were the file's only import.
    pub fn resolve_import(&self, id: FileId, import: &crate::python::imports::Import) -> FileDeps {
        let parsed = ParsedFile { imports: vec![import.clone()], ..ParsedFile::default() };
        self.resolver.resolve(id, &parsed)
    }

    /// Every file, sorted by path.
    pub fn files(&self) -> impl Iterator<Item = (FileId, &FileState)> {
        self.files.iter().enumerate().filter_map(|(i, f)| f.as_ref().map(|f| (FileId(i as u32), f)))
    }

    pub fn len(&self) -> usize {
        self.by_path.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_path.is_empty()
    }

    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    pub fn source_roots(&self) -> &[String] {
        self.resolver.roots.roots()
    }

    /// True for a test file that is no test module: pytest collects it only for its
    /// doctests (`--doctest-modules`) or for the items of file plugins (pytest-ruff), so
    /// its run must leave out the test functions a plain `pytest` would not collect.
    pub fn not_a_test_module(&self, id: FileId) -> bool {
        self.file(id).is_some_and(|f| {
            f.kind == TargetKind::Test
                && matches!(
                    self.collection.python_file(&f.path, f.parsed.has_doctest),
                    Collected::DoctestsOnly | Collected::PluginItems
                )
        })
    }

    /// Hands the project the non-Python files the walk kept for pytest's collectors.
    pub fn set_other_files(&mut self, files: Vec<OtherFile>) {
        self.other_files = files;
    }

    /// Records the files and folders loading could not read.
    pub fn set_unreadable(&mut self, unreadable: Vec<vfs::Unreadable>) {
        self.unreadable = unreadable;
    }

    /// The files and folders loading could not read, sorted by path.
    pub fn unreadable(&self) -> &[vfs::Unreadable] {
        &self.unreadable
    }

    /// The unreadable files pytest would collect as test modules, by their names (what
    /// they hold is unknown): `pleat test` reports each as a failure, not silence.
    pub fn unreadable_tests(&self) -> Vec<&vfs::Unreadable> {
        self.unreadable
            .iter()
            .filter(|u| !u.is_dir && vfs::is_python(&u.path) && !u.path.ends_with(".pyi"))
            .filter(|u| vfs::file_name(&u.path) != "conftest.py")
            .filter(|u| self.collection.python_file(&u.path, false) != Collected::No)
            .collect()
    }

    /// Files pytest collects that Pleat does not run, with who collects them, sorted by
    /// path: doctest text files, plugin test cases in YAML, and the doctests of
    /// `conftest.py` files (which stay test utilities).
    pub fn not_run(&self) -> Vec<NotRun> {
        let conftests = self.files().filter(|(_, f)| {
            f.kind == TargetKind::TestUtil
                && self.collection.python_file(&f.path, f.parsed.has_doctest) == Collected::DoctestsOnly
        });
        let mut out: Vec<NotRun> = conftests
            .map(|(_, f)| NotRun {
                file: f.path.clone(),
                collector: "pytest's doctest plugin, --doctest-modules".to_owned(),
            })
            .chain(
                self.other_files
                    .iter()
                    .filter(|f| !self.collection.is_plugin_case(f))
                    .filter_map(|f| self.collection.other_file(f)),
            )
            .collect();
        out.sort_by(|a, b| a.file.cmp(&b.file));
        out
    }

    /// Non-Python files a pytest plugin collects test cases from and Pleat runs as test
    /// targets of their own (pytest-mypy-plugins' YAML cases), sorted by path.
    pub fn plugin_cases(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .other_files
            .iter()
            .filter(|f| self.collection.is_plugin_case(f))
            .map(|f| f.path.clone())
            .collect();
        out.sort();
        out
    }

    /// What a plugin case file needs, as graph files: the first-party modules its Python
    /// snippets import (lines starting with `import` or `from`, resolved from the root)
    /// and the conftests above it.
    pub fn plugin_case_imports(&self, path: &str) -> Vec<FileId> {
        let text = std::fs::read(self.root.join(path)).unwrap_or_default();
        let code: Vec<&[u8]> = text
            .split(|b| *b == b'\n')
            .map(<[u8]>::trim_ascii)
            .filter(|line| line.starts_with(b"import ") || line.starts_with(b"from "))
            .collect();
        let parsed = parse_imports(&code.join(&b'\n'), Self::parse_options(&self.config));
        let modules: HashMap<&str, FileId> =
            self.files().filter_map(|(id, _)| Some((self.module(id)?, id))).collect();
        let mut out = Vec::new();
        for import in parsed.imports.iter().filter(|i| i.level == 0) {
            let mut name = import.module.as_str();
            loop {
                if let Some(id) = modules.get(name) {
                    out.push(*id);
                    break;
                }
                match name.rsplit_once('.') {
                    Some((parent, _)) => name = parent,
                    None => break,
                }
            }
        }
        let mut dir = vfs::parent(path);
        loop {
            out.extend(self.id(&vfs::join(dir, "conftest.py")));
            if dir.is_empty() {
                break;
            }
            dir = vfs::parent(dir);
        }
        out.sort();
        out.dedup();
        out
    }

    /// The requirements files found at load, with their text.
    pub fn requirement_files(&self) -> &[(String, String)] {
        &self.requirement_files
    }

    /// Third-party requirements and findings of a file.
    pub fn deps(&self, id: FileId) -> Option<&FileDeps> {
        self.deps.get(id.index())
    }

    /// The module a file provides, if any.
    pub fn module(&self, id: FileId) -> Option<&str> {
        self.resolver.file(id).and_then(|f| f.module.as_deref())
    }

    /// Direct or transitive dependencies of a set of files, sorted by path.
    pub fn dependencies(&self, ids: &[FileId], transitive: bool) -> Vec<FileId> {
        let mut out = if transitive {
            self.graph.transitive_dependencies(ids)
        } else {
            ids.iter().flat_map(|id| self.graph.edges(*id).iter().map(|e| e.to)).collect()
        };
        self.sorted(&mut out);
        out
    }

    /// Direct or transitive dependents of a set of files, sorted by path.
    pub fn dependents(&self, ids: &[FileId], transitive: bool) -> Vec<FileId> {
        let mut out = if transitive {
            self.graph.transitive_dependents(ids)
        } else {
            ids.iter().flat_map(|id| self.graph.dependents_of(*id).iter().copied()).collect()
        };
        self.sorted(&mut out);
        out
    }

    /// The test files affected by changes to `changed`: tests among their transitive
    /// dependents, and the changed files themselves when they are tests.
    pub fn affected_tests(&self, changed: &[FileId]) -> Vec<FileId> {
        let mut out = self.graph.transitive_dependents(changed);
        out.extend_from_slice(changed);
        out.retain(|id| self.file(*id).is_some_and(|f| f.kind == TargetKind::Test));
        self.sorted(&mut out);
        out
    }

    fn sorted(&self, ids: &mut Vec<FileId>) {
        ids.retain(|id| self.file(*id).is_some());
        ids.sort_by(|a, b| self.path(*a).cmp(self.path(*b)));
        ids.dedup();
    }

    /// Import cycles, each as sorted paths.
    pub fn cycles(&self) -> Vec<Vec<FileId>> {
        self.graph.cycles()
    }
}

/// The normalized names of every declared distribution (requirements files, pyproject).
fn requirement_names(config: &Config, requirement_files: &[(String, String)]) -> Vec<String> {
    let from_files = requirement_files
        .iter()
        .flat_map(|(_, text)| third_party::parse_requirements_txt(text).requirements)
        .map(|r| r.name);
    let declared = config.declared_requirements.iter().filter_map(|spec| third_party::requirement_name(spec));
    from_files.chain(declared).map(|name| third_party::normalize_dist_name(&name)).collect()
}

fn settings_of(config: &Config) -> ResolveSettings {
    ResolveSettings {
        init_files: config.init_files,
        ambiguity: config.ambiguity,
        python_minor: config.python_minor,
    }
}

/// Declared distributions (requirements files, pyproject) → the modules they provide,
/// from the virtualenv's metadata when there is one, else the built-in table.
fn third_party_index(
    root: &Path,
    config: &Config,
    requirement_files: &[(String, String)],
) -> ThirdPartyIndex {
    let installed = venv_dir(root, config)
        .and_then(|venv| third_party::find_site_packages(&venv))
        .map(|site| third_party::read_site_packages(&site))
        .unwrap_or_default();
    let installed: HashMap<&str, &third_party::InstalledDist> =
        installed.iter().map(|d| (d.normalized.as_str(), d)).collect();
    let mut declared: Vec<(String, String)> = Vec::new();
    for (path, text) in requirement_files {
        for requirement in third_party::parse_requirements_txt(text).requirements {
            declared.push((requirement.name, format!("{path}:{}", requirement.line)));
        }
    }
    let pyproject = config.file.as_ref().map_or_else(
        || "pyproject.toml".to_owned(),
        |f| f.file_name().map_or_else(|| "pyproject.toml".to_owned(), |n| n.to_string_lossy().into_owned()),
    );
    for spec in &config.declared_requirements {
        if let Some(name) = third_party::requirement_name(spec) {
            declared.push((name, pyproject.clone()));
        }
    }
    let mut index = ThirdPartyIndex::default();
    let mut declared_names = std::collections::HashSet::new();
    for (name, declared_in) in declared {
        let normalized = third_party::normalize_dist_name(&name);
        let modules = if let Some(mapped) =
            config.module_mapping.iter().find(|(k, _)| third_party::normalize_dist_name(k) == normalized)
        {
            mapped.1.clone()
        } else if let Some(dist) = installed.get(normalized.as_str()).filter(|d| !d.modules.is_empty()) {
            // Installed metadata names only the top level of a namespace package
            // (`google` for protobuf): keep the table's dotted names when they agree.
            let table = third_party::modules_for_distribution(&normalized);
            let refines = |m: &String| dist.modules.iter().any(|top| m.starts_with(&format!("{top}.")));
            if !table.is_empty() && table.iter().all(refines) { table } else { dist.modules.clone() }
        } else {
            third_party::modules_for_distribution(&normalized)
        };
        let requirement = crate::python::resolve::Requirement { name: name.clone(), declared_in };
        for module in modules {
            index.add(&module, requirement.clone());
        }
        declared_names.insert(normalized);
    }
    for dist in installed.values() {
        if !declared_names.contains(&dist.normalized) {
            for module in &dist.modules {
                index.add_undeclared(module, &dist.name);
            }
        }
    }
    index
}

/// The configured virtualenv, or `.venv` / `venv` in the root.
fn venv_dir(root: &Path, config: &Config) -> Option<PathBuf> {
    if let Some(venv) = &config.venv {
        return Some(root.join(venv));
    }
    [".venv", "venv"].iter().map(|n| root.join(n)).find(|p| p.join("pyvenv.cfg").is_file())
}

#[cfg(test)]
mod tests;
