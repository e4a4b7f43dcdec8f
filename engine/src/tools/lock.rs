//! Resolving a project's requirement set into a PEP 751 lock with uv: the project's own `pylock.toml` when it has one (written by `pleat lock`), else a resolution made once and kept in the cache under the requirement set, so an environment's key is the exact set of distributions it holds.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{ToolEnvs, ToolError, ToolSpec, io};
use crate::hash::{Digest, DigestFunction};

/// Bumped when the way resolutions are made changes.
const RESOLVE_VERSION: &str = "1";
/// The project's lock file, at the root.
pub const LOCK_FILE: &str = "pylock.toml";

/// A resolved requirement set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    /// The PEP 751 text uv installs from.
    pub text: String,
    /// `name==version`, sorted: what the environment holds, and so its key.
    pub packages: Vec<String>,
    /// Where it came from: the project's lock file, or the cache.
    pub source: ResolutionSource,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResolutionSource {
    /// The project's `pylock.toml`; `stale` when it was locked from other requirements.
    ProjectLock { stale: bool },
    /// Made by uv now, or earlier for the same requirement set.
    Resolved,
}

impl Resolution {
    pub fn holds(&self, name: &str) -> bool {
        let name = crate::python::third_party::normalize_dist_name(name);
        self.packages.iter().any(|p| {
            p.split_once("==")
                .is_some_and(|(n, _)| crate::python::third_party::normalize_dist_name(n) == name)
        })
    }
}

/// The digest that ties a lock to the requirement set it was made from.
pub fn requirements_digest(requirements: &str) -> String {
    Digest::of(DigestFunction::Blake3, format!("{RESOLVE_VERSION}\n{requirements}").as_bytes()).hex()
}

/// `name==version` of every package of a PEP 751 lock, sorted; `None` when it is not one.
pub fn lock_packages(text: &str) -> Option<Vec<String>> {
    let doc = text.parse::<toml::Table>().ok()?;
    let packages = doc.get("packages")?.as_array()?;
    let mut out: Vec<String> = packages
        .iter()
        .filter_map(|p| Some(format!("{}=={}", p.get("name")?.as_str()?, p.get("version")?.as_str()?)))
        .collect();
    out.sort();
    Some(out)
}

/// The requirements digest a lock records under `[tool.pleat]`.
pub fn recorded_digest(text: &str) -> Option<String> {
    let doc = text.parse::<toml::Table>().ok()?;
    Some(doc.get("tool")?.get("pleat")?.get("requirements-digest")?.as_str()?.to_owned())
}

impl ToolEnvs {
    /// uv: `PLEAT_UV` or a uv on PATH when there is one, else Pleat's pinned uv (built once
    /// from PyPI with venv + pip).
    pub fn uv_binary(&self, progress: &mut dyn FnMut(&str)) -> Result<PathBuf, ToolError> {
        if let Some(uv) = &self.uv {
            return Ok(uv.clone());
        }
        let env = self.ensure(&ToolSpec::builtin("uv")?, progress)?;
        Ok(env.root.join("bin").join("uv"))
    }

    /// Resolves `requirements` (a requirements file's text) for the interpreter: the
    /// project's lock file `lock` (`pylock.toml`, `pylock.<resolve>.toml`) if there is
    /// one, else the cached resolution of this exact set, else uv now.
    pub fn resolve(
        &self,
        lock: &Path,
        requirements: &str,
        from: &str,
        progress: &mut dyn FnMut(&str),
    ) -> Result<Resolution, ToolError> {
        if let Ok(text) = std::fs::read_to_string(lock) {
            let packages = lock_packages(&text).ok_or_else(|| ToolError::Build {
                tool: "test".to_owned(),
                command: format!("reading {}", lock.display()),
                output: "it is not a PEP 751 lock with [[packages]] name and version".to_owned(),
            })?;
            let stale = recorded_digest(&text).is_some_and(|d| d != requirements_digest(requirements));
            return Ok(Resolution { text, packages, source: ResolutionSource::ProjectLock { stale } });
        }
        let key = Digest::of(
            DigestFunction::Blake3,
            format!("{RESOLVE_VERSION}\n{}\n{requirements}", self.interpreter.identity()).as_bytes(),
        );
        let kept = self.dir.join("resolutions").join(format!("{}.pylock.toml", &key.hex()[..32]));
        if let Ok(text) = std::fs::read_to_string(&kept)
            && let Some(packages) = lock_packages(&text)
        {
            return Ok(Resolution { text, packages, source: ResolutionSource::Resolved });
        }
        if !self.build {
            return Err(ToolError::NotBuilt { tool: "project resolution".to_owned() });
        }
        progress("resolving the project's requirements with uv — once per requirement set");
        let text = self.compile(requirements, from, false, progress)?;
        let packages = lock_packages(&text).ok_or_else(|| ToolError::Build {
            tool: "uv".to_owned(),
            command: "uv pip compile".to_owned(),
            output: "it wrote no PEP 751 lock".to_owned(),
        })?;
        let dir = kept.parent().unwrap_or(&self.dir);
        std::fs::create_dir_all(dir).map_err(io("create", dir))?;
        let tmp = kept.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&tmp, &text).map_err(io("write", &tmp))?;
        std::fs::rename(&tmp, &kept).map_err(io("write", &kept))?;
        Ok(Resolution { text, packages, source: ResolutionSource::Resolved })
    }

    /// `uv pip compile` of a requirement set (declared in `from`, for messages) into PEP 751
    /// text; `universal` for a lock committed to a repository (every platform and Python
    /// the project supports).
    pub fn compile(
        &self,
        requirements: &str,
        from: &str,
        universal: bool,
        progress: &mut dyn FnMut(&str),
    ) -> Result<String, ToolError> {
        let uv = self.uv_binary(progress)?;
        std::fs::create_dir_all(&self.dir).map_err(io("create", &self.dir))?;
        let scratch = tempfile::Builder::new()
            .prefix("resolve-")
            .tempdir_in(&self.dir)
            .map_err(io("create a folder in", &self.dir))?;
        let input = scratch.path().join("requirements.in");
        let output = scratch.path().join("pylock.toml");
        std::fs::write(&input, requirements).map_err(io("write", &input))?;
        let mut command = Command::new(&uv);
        command
            .args(["pip", "compile", "--quiet", "--no-header", "--format", "pylock.toml"])
            .arg("--python")
            .arg(&self.interpreter.path)
            .arg("-o")
            .arg(&output)
            .arg(&input)
            .env("UV_CACHE_DIR", &self.downloads)
            .current_dir(scratch.path());
        if universal {
            command.arg("--universal");
        }
        let shown =
            format!("{} pip compile {}", uv.display(), requirements.lines().collect::<Vec<_>>().join(" "));
        let result = crate::children::output(&mut command).map_err(|e| ToolError::Build {
            tool: "uv".to_owned(),
            command: shown.clone(),
            output: e.to_string(),
        })?;
        if !result.status.success() {
            let stderr = String::from_utf8_lossy(&result.stderr);
            // A full disk is not a requirement that does not resolve.
            if crate::disk::says_no_space(&stderr) {
                let cause = if crate::disk::says_quota(&stderr) {
                    crate::disk::Cause::Quota
                } else {
                    crate::disk::Cause::Full
                };
                return Err(ToolError::NoSpace(crate::disk::NoSpace::new(
                    cause,
                    &self.dir,
                    "while resolving the project's requirements with uv",
                )));
            }
            return Err(ToolError::Resolve {
                requirements: requirements.lines().collect::<Vec<_>>().join(", "),
                from: from.to_owned(),
                output: stderr
                    .trim()
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .take(12)
                    .collect::<Vec<_>>()
                    .join(" ")
                    .trim_end_matches('.')
                    .to_owned(),
            });
        }
        std::fs::read_to_string(&output).map_err(io("read", &output))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCK: &str = r#"
lock-version = "1.0"
created-by = "uv"

[[packages]]
name = "six"
version = "1.17.0"

[[packages]]
name = "Pretend"
version = "1.0.9"

[tool.pleat]
requirements-digest = "abc"
"#;

    #[test]
    fn reads_packages_and_the_recorded_digest() {
        assert_eq!(lock_packages(LOCK).unwrap(), ["Pretend==1.0.9", "six==1.17.0"]);
        assert_eq!(recorded_digest(LOCK).as_deref(), Some("abc"));
        assert!(lock_packages("not = [toml").is_none());
        let resolution = Resolution {
            text: LOCK.to_owned(),
            packages: lock_packages(LOCK).unwrap(),
            source: ResolutionSource::Resolved,
        };
        assert!(resolution.holds("pretend") && resolution.holds("Six") && !resolution.holds("pytest"));
        assert_ne!(requirements_digest("six\n"), requirements_digest("six\npretend\n"));
    }
}
