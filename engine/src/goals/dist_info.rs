//! The project's own distribution metadata as a test sandbox sees it: a generated `<name>-<version>.dist-info` (METADATA and entry points from `[project]`), so `importlib.metadata.version("pkg")` and entry-point plugins work as in the project's installed venv; and the version file a setuptools-scm or hatch-vcs build writes at install time.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// Files of the generated `.dist-info` folder (path inside it → content), or `None` when the
/// project declares no name.
pub fn files(root: &Path) -> Option<(String, BTreeMap<String, String>)> {
    let pyproject = pyproject(root);
    let project = pyproject.get("project").and_then(toml::Value::as_table);
    let pkg_info = std::fs::read_to_string(root.join("PKG-INFO")).ok();
    let header = |key: &str| pkg_info.as_deref().and_then(|text| pkg_info_field(text, key));
    let name = project
        .and_then(|p| p.get("name"))
        .and_then(toml::Value::as_str)
        .map(str::to_owned)
        .or_else(|| header("Name"))?;
    let version = project
        .and_then(|p| p.get("version"))
        .and_then(toml::Value::as_str)
        .map(str::to_owned)
        .or_else(|| header("Version"))
        .or_else(|| dynamic_version(root, &pyproject))
        .unwrap_or_else(|| "0.0.0".to_owned());
    let mut out = BTreeMap::new();
    out.insert("METADATA".to_owned(), format!("Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"));
    let mut entry_points = String::new();
    if let Some(project) = project {
        let mut groups: Vec<(String, &toml::Table)> = Vec::new();
        if let Some(scripts) = project.get("scripts").and_then(toml::Value::as_table) {
            groups.push(("console_scripts".to_owned(), scripts));
        }
        if let Some(gui) = project.get("gui-scripts").and_then(toml::Value::as_table) {
            groups.push(("gui_scripts".to_owned(), gui));
        }
        if let Some(points) = project.get("entry-points").and_then(toml::Value::as_table) {
            for (group, table) in points {
                if let Some(table) = table.as_table() {
                    groups.push((group.clone(), table));
                }
            }
        }
        for (group, table) in groups {
            let _ = writeln!(entry_points, "[{group}]");
            for (key, value) in table {
                if let Some(value) = value.as_str() {
                    let _ = writeln!(entry_points, "{key} = {value}");
                }
            }
            entry_points.push('\n');
        }
    }
    if !entry_points.is_empty() {
        out.insert("entry_points.txt".to_owned(), entry_points);
    }
    let folder = format!("{}-{}.dist-info", name.replace(['-', '.'], "_"), version.replace('-', "_"));
    // RECORD names the packages of the project's pytest plugins: pytest marks the modules a
    // `pytest11` distribution lists for assertion rewriting (pytest-mock's introspection
    // of `assert_called_with` needs it), as it does for the installed distribution.
    let mut plugins: Vec<String> = pytest_plugin_modules(&pyproject)
        .iter()
        .filter_map(|module| module.split('.').next().map(str::to_owned))
        .collect();
    plugins.dedup();
    if !plugins.is_empty() {
        let mut record = String::new();
        for top in &plugins {
            let _ = writeln!(record, "{top}/__init__.py,,");
        }
        let _ = writeln!(record, "{folder}/RECORD,,");
        out.insert("RECORD".to_owned(), record);
    }
    Some((folder, out))
}

/// The modules of the project's own pytest plugins (`[project.entry-points.pytest11]`),
/// sorted: pytest loads them in every run, whether a test imports them or not.
pub fn pytest_plugins(root: &Path) -> Vec<String> {
    pytest_plugin_modules(&pyproject(root))
}

/// The root's pyproject.toml, empty when it is missing or not TOML.
fn pyproject(root: &Path) -> toml::Table {
    std::fs::read_to_string(root.join("pyproject.toml"))
        .ok()
        .and_then(|t| t.parse::<toml::Table>().ok())
        .unwrap_or_default()
}

fn pytest_plugin_modules(pyproject: &toml::Table) -> Vec<String> {
    let table = pyproject
        .get("project")
        .and_then(|p| p.get("entry-points")?.get("pytest11")?.as_table().cloned())
        .unwrap_or_default();
    let mut modules: Vec<String> = table
        .values()
        .filter_map(toml::Value::as_str)
        .filter_map(|target| target.split(':').next())
        .map(|module| module.trim().to_owned())
        .filter(|module| !module.is_empty())
        .collect();
    modules.sort();
    modules.dedup();
    modules
}

/// The version module a setuptools-scm or hatch-vcs build would write (`[tool.hatch.build.
/// hooks.vcs] version-file`, `[tool.setuptools_scm] version_file` / `write_to`), when the
/// project's files (`tracked`) do not hold it: its path and content. An ignored copy an
/// editable install left on disk is taken as it is; else the version is the sdist's
/// PKG-INFO, else the newest git tag, else `0.0.0`.
pub fn version_file(root: &Path, tracked: impl Fn(&str) -> bool) -> Option<(String, String)> {
    let pyproject = std::fs::read_to_string(root.join("pyproject.toml")).ok()?.parse::<toml::Table>().ok()?;
    let tool = pyproject.get("tool")?;
    let path = tool
        .get("hatch")
        .and_then(|h| h.get("build"))
        .and_then(|b| b.get("hooks"))
        .and_then(|h| h.get("vcs"))
        .and_then(|v| v.get("version-file"))
        .or_else(|| {
            tool.get("setuptools_scm").and_then(|s| s.get("version_file").or_else(|| s.get("write_to")))
        })
        .and_then(toml::Value::as_str)?
        .trim_start_matches("./")
        .to_owned();
    if tracked(&path) || !path.ends_with(".py") {
        return None;
    }
    if let Ok(text) = std::fs::read_to_string(root.join(&path)) {
        return Some((path, text));
    }
    let version = std::fs::read_to_string(root.join("PKG-INFO"))
        .ok()
        .and_then(|text| pkg_info_field(&text, "Version"))
        .or_else(|| {
            let out = crate::children::output(
                std::process::Command::new("git")
                    .args(["describe", "--tags", "--abbrev=0"])
                    .current_dir(root),
            )
            .ok()?;
            let tag = String::from_utf8_lossy(&out.stdout).trim().trim_start_matches('v').to_owned();
            (out.status.success() && tag.starts_with(|c: char| c.is_ascii_digit())).then_some(tag)
        })
        .unwrap_or_else(|| "0.0.0".to_owned());
    let parts: Vec<String> = version
        .split('.')
        .map(|p| if p.chars().all(|c| c.is_ascii_digit()) { p.to_owned() } else { format!("{p:?}") })
        .collect();
    let text = format!(
        "# Written by Pleat into the sandbox, as the build backend writes it at install time.\n\
         __version__ = version = {version:?}\n__version_tuple__ = version_tuple = ({},)\n",
        parts.join(", ")
    );
    Some((path, text))
}

/// A header of an sdist's PKG-INFO (`Version: 1.2` → `1.2`).
fn pkg_info_field(text: &str, key: &str) -> Option<String> {
    text.lines()
        .take_while(|l| !l.is_empty())
        .find_map(|l| l.strip_prefix(key).and_then(|v| v.strip_prefix(": ")).map(str::to_owned))
}

/// A dynamic version: hatch's `[tool.hatch.version] path`, setuptools'
/// `[tool.setuptools.dynamic] version = {attr = "pkg.__version__"}` or setup.cfg's
/// `version = attr: pkg.__version__`, read from the file's `__version__ = "…"`.
fn dynamic_version(root: &Path, pyproject: &toml::Table) -> Option<String> {
    let tool = pyproject.get("tool").and_then(toml::Value::as_table);
    let hatch_path = tool
        .and_then(|t| t.get("hatch"))
        .and_then(|h| h.get("version"))
        .and_then(|v| v.get("path"))
        .and_then(toml::Value::as_str)
        .map(str::to_owned);
    let attr = tool
        .and_then(|t| t.get("setuptools"))
        .and_then(|s| s.get("dynamic"))
        .and_then(|d| d.get("version"))
        .and_then(|v| v.get("attr"))
        .and_then(toml::Value::as_str)
        .map(str::to_owned)
        .or_else(|| {
            let cfg = std::fs::read_to_string(root.join("setup.cfg")).ok()?;
            cfg.lines().find_map(|l| {
                let (key, value) = l.split_once('=')?;
                (key.trim() == "version")
                    .then(|| value.trim().strip_prefix("attr:").map(|a| a.trim().to_owned()))?
            })
        });
    let candidates: Vec<String> = match (hatch_path, attr) {
        (Some(path), _) => vec![path],
        (None, Some(attr)) => {
            let module = attr.rsplit_once('.').map_or(attr.as_str(), |(m, _)| m).replace('.', "/");
            ["", "src/"]
                .iter()
                .flat_map(|prefix| [format!("{prefix}{module}.py"), format!("{prefix}{module}/__init__.py")])
                .collect()
        }
        (None, None) => return None,
    };
    candidates.iter().find_map(|path| {
        let text = std::fs::read_to_string(root.join(path)).ok()?;
        text.lines().find_map(|line| {
            let rest = line.trim().strip_prefix("__version__")?.trim_start().strip_prefix('=')?.trim();
            let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'')?;
            rest[1..].split(quote).next().map(str::to_owned)
        })
    })
}

#[cfg(test)]
mod tests {
    use crate::goals::test_support::write;

    #[test]
    fn metadata_and_entry_points_from_pyproject() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "pyproject.toml",
            "[project]\nname = \"my-pkg\"\ndynamic = [\"version\"]\n[project.entry-points.\"pytest11\"]\nmine = \"my_pkg.plugin\"\n[tool.hatch.version]\npath = \"src/my_pkg/__about__.py\"\n",
        );
        write(dir.path(), "src/my_pkg/__about__.py", "__version__ = '1.2.3'\n");
        let (folder, files) = super::files(dir.path()).unwrap();
        assert_eq!(folder, "my_pkg-1.2.3.dist-info");
        assert_eq!(files["METADATA"], "Metadata-Version: 2.1\nName: my-pkg\nVersion: 1.2.3\n");
        assert_eq!(files["entry_points.txt"], "[pytest11]\nmine = my_pkg.plugin\n\n");
        assert_eq!(files["RECORD"], "my_pkg/__init__.py,,\nmy_pkg-1.2.3.dist-info/RECORD,,\n");
    }

    #[test]
    fn a_vcs_version_file_is_written_only_when_the_repository_lacks_it() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "pyproject.toml",
            "[project]\nname = \"h\"\n[tool.hatch.build.hooks.vcs]\nversion-file = \"src/h/_version.py\"\n",
        );
        write(dir.path(), "PKG-INFO", "Metadata-Version: 2.1\nName: h\nVersion: 4.11.0\n\n");
        let (path, text) = super::version_file(dir.path(), |_| false).unwrap();
        assert_eq!(path, "src/h/_version.py");
        assert!(text.contains("__version__ = version = \"4.11.0\""), "{text}");
        assert!(text.contains("version_tuple = (4, 11, 0,)"), "{text}");
        write(dir.path(), "src/h/_version.py", "__version__ = '1'\n");
        let ignored = super::version_file(dir.path(), |_| false).unwrap();
        assert_eq!(ignored.1, "__version__ = '1'\n", "an editable install's ignored copy is used");
        assert!(super::version_file(dir.path(), |p| p == "src/h/_version.py").is_none());
    }

    #[test]
    fn sdist_pkg_info_gives_a_scm_version_and_no_name_means_none() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "pyproject.toml", "[project]\nname = \"p\"\ndynamic = [\"version\"]\n");
        write(dir.path(), "PKG-INFO", "Metadata-Version: 2.1\nName: p\nVersion: 4.5.6\n\nbody\n");
        assert_eq!(super::files(dir.path()).unwrap().0, "p-4.5.6.dist-info");
        let empty = tempfile::tempdir().unwrap();
        assert!(super::files(empty.path()).is_none());
    }
}
