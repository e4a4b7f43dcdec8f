//! Loading a project from disk: walk, stat against the persisted index, read and parse only what changed (on all cores), persist parse results and the new index.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;

use crate::config;
use crate::parse_cache::{IndexEntry, ParseCache, StatIndex, parse_key};
use crate::project::{Project, ProjectError, SourceFile};
use crate::python::collection::{self, Collection, OtherFile};
use crate::python::imports::{ParseOptions, ParsedFile, parse_imports};
use crate::vfs;

/// How to load.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Where the parse cache lives; `None` for no persistence.
    pub cache_dir: Option<PathBuf>,
}

/// What loading did, for `--verbose` output and benchmarks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadReport {
    pub files: usize,
    /// Files whose bytes were read (their stat data changed, or no index).
    pub read: usize,
    /// Files parsed (their parse result was not cached).
    pub parsed: usize,
    /// Problems with the cache; loading carried on without it.
    pub warnings: Vec<String>,
    /// Wall time of each phase, in order, for `--verbose` and benchmarks.
    pub phases: Vec<(&'static str, std::time::Duration)>,
}

/// The default cache folder: `$PLEAT_CACHE_DIR`, else `$XDG_CACHE_HOME/pleat`, else
/// `~/.cache/pleat`.
pub fn default_cache_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("PLEAT_CACHE_DIR").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir).join("pleat"));
    }
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache").join("pleat"))
}

/// Loads the project at `root`.
pub fn load(root: &Path, options: &LoadOptions) -> Result<(Project, LoadReport), ProjectError> {
    let root = root.canonicalize().unwrap_or_else(|_| root.to_owned());
    let config = config::load(&root)?;
    load_with_config(&root, config, options)
}

/// Loads the project at `root` with a given configuration instead of the root's (the
/// language server carries on with defaults when the configuration file is invalid).
pub fn load_with_config(
    root: &Path,
    config: config::Config,
    options: &LoadOptions,
) -> Result<(Project, LoadReport), ProjectError> {
    let mut clock = std::time::Instant::now();
    let mut phases = Vec::new();
    let mut lap = |name: &'static str| {
        phases.push((name, clock.elapsed()));
        clock = std::time::Instant::now();
    };
    let root = root.canonicalize().unwrap_or_else(|_| root.to_owned());
    let exclude = vfs::glob_set(&config.exclude, "exclude")?;
    // The walk also keeps the non-Python files a pytest collector may read.
    let collection = Collection::new(&root, &config.pytest, None, &[])?;
    let walk = vfs::walk_keeping(&root, &exclude, &|path| collection.may_collect_other(path));
    let mut report = LoadReport { files: walk.python.len(), ..LoadReport::default() };
    lap("walk");

    let cache = options.cache_dir.as_ref().and_then(|dir| match ParseCache::open(dir) {
        Ok(cache) => {
            report.warnings.extend(cache.recovered().map(str::to_owned));
            Some(cache)
        }
        Err(e) => {
            report.warnings.push(e.to_string());
            None
        }
    });
    let root_key = root.to_string_lossy().into_owned().into_bytes();
    let index = cache.as_ref().and_then(|c| match c.load_index(&root_key) {
        Ok(index) => index,
        Err(e) => {
            report.warnings.push(e.to_string());
            None
        }
    });
    let parse_options = Project::parse_options(&config);

    // One pass on all cores: each file's digest (read only when its stat data changed),
    // then its cached parse result, else a parse. A file's bytes live only inside its own
    // step, so memory stays bounded by the number of threads, not the repository.
    let outcomes: Vec<Outcome> = walk
        .python
        .into_par_iter()
        .map(|f| load_one(&root, f, index.as_ref(), cache.as_ref(), parse_options))
        .collect();
    lap("stat+read+parse");

    let mut unreadable = walk.unreadable;
    let mut files = Vec::with_capacity(outcomes.len());
    let mut fresh: Vec<([u8; 32], Arc<ParsedFile>)> = Vec::new();
    for outcome in outcomes {
        report.read += usize::from(outcome.read);
        if let Some(error) = outcome.error {
            report.warnings.push(error);
        }
        unreadable.extend(outcome.unreadable);
        let Some(file) = outcome.file else { continue };
        if outcome.parsed {
            report.parsed += 1;
            fresh.push((parse_key(&file.digest, parse_options), Arc::clone(&file.parsed)));
        }
        files.push(file);
    }

    if let Some(cache) = &cache {
        if !fresh.is_empty()
            && let Err(e) = cache.put_many(fresh.iter().map(|(k, v)| (k, v.as_ref())))
        {
            report.warnings.push(e.to_string());
        }
        let entries: Vec<IndexEntry> = files
            .iter()
            .map(|f| IndexEntry { path: f.path.clone(), stat: f.stat, digest: f.digest })
            .collect();
        let unchanged = index.as_ref().is_some_and(|i| i.entries == entries) && report.read == 0;
        if !unchanged {
            let written_ns = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| i128::try_from(d.as_nanos()).unwrap_or(i128::MAX));
            if let Err(e) = cache.store_index(&root_key, &StatIndex { written_ns, entries }) {
                report.warnings.push(e.to_string());
            }
        }
    }

    drop(cache);
    lap("cache write");
    let requirements: Vec<(String, String)> = walk
        .requirements
        .iter()
        .filter_map(|path| std::fs::read_to_string(root.join(path)).ok().map(|text| (path.clone(), text)))
        .collect();
    if let (Some(patterns), Some(file)) = (&config.source_roots, &config.file) {
        let paths: Vec<String> = files.iter().map(|f| f.path.clone()).collect();
        for index in crate::python::source_roots::SourceRoots::unmatched_globs(patterns, &paths) {
            let (line, column) = config.source_root_positions.get(index).copied().unwrap_or((1, 1));
            report.warnings.push(format!(
                "{}:{line}:{column}: source root pattern {:?} matches no folder holding Python files; correct the pattern, or remove it if those folders are gone",
                file.display(),
                patterns[index]
            ));
        }
    }
    unreadable.sort_by(|a, b| a.path.cmp(&b.path));
    report.warnings.extend(unreadable.iter().map(ToString::to_string));
    let mut project = Project::new(&root, config, files, &requirements)?;
    project.set_unreadable(unreadable);
    project.set_other_files(
        walk.other
            .into_iter()
            .map(|path| {
                let has_examples =
                    std::fs::read(root.join(&path)).is_ok_and(|text| collection::has_doctest_examples(&text));
                OtherFile { path, has_examples }
            })
            .collect(),
    );
    lap("resolve");
    report.phases = phases;
    Ok((project, report))
}

/// What loading one file gave.
struct Outcome {
    file: Option<SourceFile>,
    read: bool,
    parsed: bool,
    error: Option<String>,
    /// The file could not be read.
    unreadable: Option<vfs::Unreadable>,
}

fn load_one(
    root: &Path,
    walked: vfs::WalkedFile,
    index: Option<&StatIndex>,
    cache: Option<&ParseCache>,
    options: ParseOptions,
) -> Outcome {
    let mut outcome = Outcome { file: None, read: false, parsed: false, error: None, unreadable: None };
    let read = |outcome: &mut Outcome| match std::fs::read(vfs::absolute(root, &walked.path)) {
        Ok(content) => {
            outcome.read = true;
            Some(content)
        }
        Err(e) => {
            outcome.unreadable =
                Some(vfs::Unreadable { path: walked.path.clone(), error: e.to_string(), is_dir: false });
            None
        }
    };
    let mut content = None;
    let digest = if let Some(digest) = index.and_then(|i| i.unchanged(&walked.path, &walked.stat)) {
        digest
    } else {
        let Some(bytes) = read(&mut outcome) else { return outcome };
        let digest = *blake3::hash(&bytes).as_bytes();
        content = Some(bytes);
        digest
    };
    let key = parse_key(&digest, options);
    let cached = match cache.map(|c| c.get(&key)) {
        Some(Ok(found)) => found,
        Some(Err(e)) => {
            outcome.error = Some(e.to_string());
            None
        }
        None => None,
    };
    let parsed = if let Some(hit) = cached {
        hit
    } else {
        let Some(content) = content.or_else(|| read(&mut outcome)) else { return outcome };
        // The stat index vouched for a digest, but the bytes are what gets parsed: key
        // the result by what was read.
        let digest_now = *blake3::hash(&content).as_bytes();
        outcome.parsed = true;
        let parsed = parse_imports(&content, options);
        if digest_now != digest {
            outcome.file = Some(SourceFile {
                path: walked.path,
                digest: digest_now,
                stat: walked.stat,
                parsed: Arc::new(parsed),
            });
            return outcome;
        }
        parsed
    };
    outcome.file =
        Some(SourceFile { path: walked.path, digest, stat: walked.stat, parsed: Arc::new(parsed) });
    outcome
}
