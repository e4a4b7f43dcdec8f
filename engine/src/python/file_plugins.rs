//! pytest plugins that add items to every Python file pytest collects (pytest-ruff's `ruff` and `ruff::format`, pytest-mypy's `mypy`, pytest-black, pytest-flake8, …): which of them a project turns on, from its requirements, pytest's `addopts` and pytest-enabler's settings (its defaults, then `[tool.pytest-enabler]` in pyproject.toml).

use std::path::Path;

/// A plugin of that kind: its distribution, pytest-enabler's name for it, and the options
/// that turn it on.
struct FilePlugin {
    distribution: &'static str,
    enabler_key: &'static str,
    options: &'static [&'static str],
}

const FILE_PLUGINS: [FilePlugin; 7] = [
    FilePlugin { distribution: "pytest-ruff", enabler_key: "ruff", options: &["--ruff", "--ruff-format"] },
    FilePlugin { distribution: "pytest-mypy", enabler_key: "mypy", options: &["--mypy"] },
    FilePlugin { distribution: "pytest-black", enabler_key: "black", options: &["--black"] },
    FilePlugin { distribution: "pytest-flake8", enabler_key: "flake8", options: &["--flake8"] },
    FilePlugin { distribution: "pytest-isort", enabler_key: "isort", options: &["--isort"] },
    FilePlugin { distribution: "pytest-pylint", enabler_key: "pylint", options: &["--pylint"] },
    FilePlugin {
        distribution: "pytest-pycodestyle",
        enabler_key: "pycodestyle",
        options: &["--pycodestyle"],
    },
];

/// pytest-enabler's own defaults (its `default.toml`) for the plugins above.
const ENABLER_DEFAULTS: [(&str, &str); 3] =
    [("black", "--black"), ("mypy", "--mypy"), ("ruff", "--ruff --ruff-format")];

/// The distributions of the file plugins a project turns on: installed (named in
/// `requirements`, normalized names) and switched on by an `addopts` flag or by
/// pytest-enabler (installed too) with the options its settings give.
pub fn active(root: &Path, flags: &[String], requirements: &[String]) -> Vec<&'static str> {
    let installed = |name: &str| requirements.iter().any(|r| r == name);
    let enabler = installed("pytest-enabler").then(|| enabler_options(root));
    FILE_PLUGINS
        .iter()
        .filter(|plugin| installed(plugin.distribution))
        .filter(|plugin| {
            let on = |words: &[String]| words.iter().any(|w| plugin.options.contains(&w.as_str()));
            on(flags)
                || enabler.as_ref().is_some_and(|table| {
                    table.iter().any(|(key, words)| key == plugin.enabler_key && on(words))
                })
        })
        .map(|plugin| plugin.distribution)
        .collect()
}

/// pytest-enabler's table: its defaults, each replaced whole by the project's
/// `[tool.pytest-enabler.NAME]` (as the plugin merges them), as the option words.
fn enabler_options(root: &Path) -> Vec<(String, Vec<String>)> {
    let mut table: Vec<(String, String)> =
        ENABLER_DEFAULTS.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    let project = std::fs::read_to_string(root.join("pyproject.toml"))
        .ok()
        .and_then(|text| text.parse::<toml::Table>().ok());
    let settings = project
        .as_ref()
        .and_then(|doc| doc.get("tool")?.get("pytest-enabler")?.as_table().cloned())
        .unwrap_or_default();
    for (key, value) in settings {
        let addopts = value.get("addopts").and_then(toml::Value::as_str).unwrap_or("").to_owned();
        table.retain(|(k, _)| *k != key);
        table.push((key, addopts));
    }
    table
        .into_iter()
        .map(|(key, addopts)| (key, addopts.split_whitespace().map(str::to_owned).collect()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn addopts_flags_turn_installed_plugins_on() {
        let dir = tempfile::tempdir().unwrap();
        let requirements = names(&["pytest-ruff", "pytest-mypy"]);
        assert_eq!(active(dir.path(), &names(&["--ruff"]), &requirements), ["pytest-ruff"]);
        assert!(active(dir.path(), &[], &requirements).is_empty(), "installed but off");
        assert!(active(dir.path(), &names(&["--black"]), &requirements).is_empty(), "on but not installed");
    }

    #[test]
    fn pytest_enabler_defaults_and_the_projects_table() {
        let dir = tempfile::tempdir().unwrap();
        let requirements = names(&["pytest-enabler", "pytest-ruff", "pytest-mypy", "pytest-flake8"]);
        assert_eq!(active(dir.path(), &[], &requirements), ["pytest-ruff", "pytest-mypy"]);
        // inflect's pyproject: mypy's table without addopts turns it off; flake8 added.
        std::fs::write(
            dir.path().join("pyproject.toml"),
            "[tool.pytest-enabler.mypy]\n# Disabled\n\n[tool.pytest-enabler.flake8]\naddopts = \"--flake8\"\n",
        )
        .unwrap();
        assert_eq!(active(dir.path(), &[], &requirements), ["pytest-ruff", "pytest-flake8"]);
        assert!(active(dir.path(), &[], &names(&["pytest-ruff"])).is_empty(), "no enabler, no flag");
    }
}
