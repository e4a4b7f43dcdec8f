//! `package`: every first-party distribution (a folder with a `pyproject.toml` holding `[project]`) built into a wheel and an sdist by `uv build` in a sandbox whose inputs are the distribution's files and the first-party code it imports from outside it, cached by those inputs, the artifacts written to `dist/`.

use std::path::Path;

use super::{GoalError, Goals};
use crate::distributions::{Distribution, in_distribution};
use crate::exec::{CacheScope, Process};
use crate::project::Project;
use crate::tree::Node;

/// What reaches the package index from here (certificates, proxies, the index itself):
/// passed to the build from Pleat's environment when set, as the tool builds get it.
const NETWORK_VARIABLES: [&str; 12] = [
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "UV_INDEX_URL",
    "UV_DEFAULT_INDEX",
    "UV_EXTRA_INDEX_URL",
    "UV_NATIVE_TLS",
];

/// Where the build writes inside its sandbox (and where the artifacts go at the root).
const OUT: &str = "dist";

/// One distribution's build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packaged {
    pub distribution: Distribution,
    /// Root-relative paths of the wheel and sdist written.
    pub artifacts: Vec<String>,
    pub cached: bool,
}

/// A build that failed: the distribution, and what the build backend said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failed {
    pub distribution: Distribution,
    pub output: String,
}

/// Builds each distribution (cached by its inputs) and writes its artifacts to the root's
/// `dist/`; failures are returned beside the builds, naming the distribution.
pub fn package(
    goals: &Goals,
    project: &Project,
    distributions: &[Distribution],
    progress: &mut dyn FnMut(&str),
) -> Result<(Vec<Packaged>, Vec<Failed>), GoalError> {
    let uv = goals.tools.uv_binary(progress)?;
    let all_files = crate::vfs::walk_keeping(&project.root, &globset::GlobSet::empty(), &|_| true);
    let mut processes = Vec::with_capacity(distributions.len());
    for dist in distributions {
        let mut inputs: Vec<String> = all_files
            .python
            .iter()
            .map(|f| f.path.clone())
            .chain(all_files.other.iter().cloned())
            .chain(all_files.requirements.iter().cloned())
            .filter(|p| in_distribution(&dist.folder, p))
            .collect();
        // The first-party code it imports from outside its folder.
        let own: Vec<_> = inputs.iter().filter_map(|p| project.id(p)).collect();
        inputs.extend(
            project
                .dependencies(&own, true)
                .into_iter()
                .map(|id| project.path(id).to_owned())
                .filter(|p| !in_distribution(&dist.folder, p)),
        );
        let files = goals.read_files(&project.root, inputs.iter().cloned())?;
        let root = goals.tree_of(&files, &inputs)?;
        let folder = if dist.folder.is_empty() { ".".to_owned() } else { dist.folder.clone() };
        let mut process = Process::new(
            vec![
                uv.to_string_lossy().into_owned(),
                "build".to_owned(),
                "--quiet".to_owned(),
                "--sdist".to_owned(),
                "--wheel".to_owned(),
                "--python".to_owned(),
                goals.tools.interpreter.path.to_string_lossy().into_owned(),
                "--out-dir".to_owned(),
                OUT.to_owned(),
                folder,
            ],
            root,
        );
        process.env.insert("UV_CACHE_DIR".to_owned(), ".uv-cache".to_owned());
        process.env.insert("PATH".to_owned(), "/usr/local/bin:/usr/bin:/bin".to_owned());
        process.env.insert("LANG".to_owned(), "C.UTF-8".to_owned());
        for name in NETWORK_VARIABLES {
            if let Ok(value) = std::env::var(name) {
                process.env.insert(name.to_owned(), value);
            }
        }
        process.append_only_caches.insert("uv-build".to_owned(), ".uv-cache".to_owned());
        process.output_directories.insert(OUT.to_owned());
        process.platform.insert("interpreter".to_owned(), goals.tools.interpreter.identity());
        process.platform.insert("tool.uv".to_owned(), uv.to_string_lossy().into_owned());
        if let Some(prefix) = goals.tools.interpreter.prefix() {
            process.host_paths.push(crate::exec::HostPath { path: prefix, fingerprint: None });
        }
        if let Some(uv_root) = uv.parent().and_then(Path::parent) {
            process.host_paths.push(crate::exec::HostPath { path: uv_root.to_owned(), fingerprint: None });
        }
        process.cache_scope = CacheScope::Successful;
        process.description = format!("uv build {}", dist.name);
        processes.push(process);
    }
    let runner = goals.build_runner();
    let mut built = Vec::new();
    let mut failed = Vec::new();
    for (dist, process) in distributions.iter().zip(&processes) {
        let result = runner.run(process, &goals.cancel)?;
        if result.exit_code != 0 {
            let said = format!("{}{}", goals.text(&result.stderr)?, goals.text(&result.stdout)?);
            failed.push(Failed { distribution: dist.clone(), output: said.trim().to_owned() });
            continue;
        }
        let mut artifacts = Vec::new();
        for (path, node) in crate::tree::entries(&goals.store, &result.output_root)? {
            let (Node::File { digest, .. }, Some(name)) = (node, path.strip_prefix(&format!("{OUT}/")))
            else {
                continue;
            };
            if name.contains('/') || !(name.ends_with(".whl") || name.ends_with(".tar.gz")) {
                continue;
            }
            let bytes = goals.store.get(&digest)?.unwrap_or_default();
            let target = project.root.join(OUT).join(name);
            write_atomically(&target, &bytes)?;
            artifacts.push(format!("{OUT}/{name}"));
        }
        built.push(Packaged { distribution: dist.clone(), artifacts, cached: result.source.is_cached() });
    }
    Ok((built, failed))
}

fn write_atomically(target: &Path, bytes: &[u8]) -> Result<(), GoalError> {
    let io = |e: std::io::Error| {
        GoalError::Tool(crate::tools::ToolError::Io {
            action: "write",
            path: target.display().to_string(),
            source: e,
        })
    };
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    let tmp = target.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes).and_then(|()| std::fs::rename(&tmp, target)).map_err(io)
}
