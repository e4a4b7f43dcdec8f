//! Loading a project from disk: walk, stat against the persisted index, read and parse only what changed (on all cores), persist parse results and the new index.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;

use crate::config;
use crate::parse_cache::{ContentDigest, IndexEntry, ParseCache, StatIndex, parse_key};
use crate::project::{Project, ProjectError, SourceFile};
use crate::python::imports::parse_imports;
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

struct Pending {
    path: String,
    stat: vfs::FileStat,
    digest: Option<ContentDigest>,
    content: Option<Vec<u8>>,
    read_error: Option<String>,
}

/// Loads the project at `root`.
pub fn load(root: &Path, options: &LoadOptions) -> Result<(Project, LoadReport), ProjectError> {
    let mut clock = std::time::Instant::now();
    let mut phases = Vec::new();
    let mut lap = |name: &'static str| {
        phases.push((name, clock.elapsed()));
        clock = std::time::Instant::now();
    };
    let root = root.canonicalize().unwrap_or_else(|_| root.to_owned());
    let config = config::load(&root)?;
    let exclude = vfs::glob_set(&config.exclude, "exclude")?;
    let walk = vfs::walk(&root, &exclude);
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

    // Phase 1: the digest of every file, reading only those whose stat data changed.
    let mut pending: Vec<Pending> = walk
        .python
        .into_par_iter()
        .map(|f| {
            let digest = index.as_ref().and_then(|i| i.unchanged(&f.path, &f.stat));
            let mut p = Pending { path: f.path, stat: f.stat, digest, content: None, read_error: None };
            if p.digest.is_none() {
                read_into(&root, &mut p);
            }
            p
        })
        .collect();
    report.read = pending.iter().filter(|p| p.content.is_some() || p.read_error.is_some()).count();
    lap("stat+read");

    // Phase 2: cached parse results by content digest.
    let keys: Vec<[u8; 32]> =
        pending.iter().map(|p| parse_key(&p.digest.unwrap_or_default(), parse_options)).collect();
    let mut cached = match cache.as_ref().map(|c| c.get_many(&keys)) {
        Some(Ok(found)) => found,
        Some(Err(e)) => {
            report.warnings.push(e.to_string());
            vec![None; keys.len()]
        }
        None => vec![None; keys.len()],
    };

    // Phase 3: parse the rest on all cores.
    let parsed: Vec<Option<crate::python::imports::ParsedFile>> = pending
        .par_iter_mut()
        .zip(cached.par_iter_mut())
        .map(|(p, hit)| {
            if hit.is_some() || p.read_error.is_some() {
                return None;
            }
            if p.content.is_none() {
                read_into(&root, p);
            }
            p.content.as_ref().map(|content| parse_imports(content, parse_options))
        })
        .collect();
    report.parsed = parsed.iter().filter(|p| p.is_some()).count();
    lap("cache lookup+parse");

    let mut files = Vec::with_capacity(pending.len());
    let mut fresh: Vec<([u8; 32], Arc<crate::python::imports::ParsedFile>)> = Vec::new();
    for ((p, hit), new) in pending.iter().zip(cached).zip(parsed) {
        if let Some(error) = &p.read_error {
            report.warnings.push(format!("cannot read {}: {error}; it is left out of the graph", p.path));
            continue;
        }
        let digest = p.digest.unwrap_or_default();
        let parsed = match (hit, new) {
            (Some(hit), _) => Arc::new(hit),
            (None, Some(new)) => {
                let new = Arc::new(new);
                fresh.push((parse_key(&digest, parse_options), Arc::clone(&new)));
                new
            }
            (None, None) => continue,
        };
        files.push(SourceFile { path: p.path.clone(), digest, stat: p.stat, parsed });
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

    lap("cache write");
    let requirements: Vec<(String, String)> = walk
        .requirements
        .iter()
        .filter_map(|path| std::fs::read_to_string(root.join(path)).ok().map(|text| (path.clone(), text)))
        .collect();
    let project = Project::new(&root, config, files, &requirements)?;
    lap("resolve");
    report.phases = phases;
    Ok((project, report))
}

fn read_into(root: &Path, p: &mut Pending) {
    match std::fs::read(vfs::absolute(root, &p.path)) {
        Ok(content) => {
            p.digest = Some(*blake3::hash(&content).as_bytes());
            p.content = Some(content);
        }
        Err(e) => p.read_error = Some(e.to_string()),
    }
}
