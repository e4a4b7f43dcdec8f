//! Ruff's inputs for one file, found on real folders: nested settings, `extend` chains, package markers and `src` placeholders.

use super::*;
use crate::goals::test_support::write;
use crate::python::imports::{ParseOptions, parse_imports};

fn inputs_of(root: &Path, file: &str) -> Result<Inputs, GoalError> {
    let text = std::fs::read(root.join(file)).unwrap();
    let imports = parse_imports(&text, ParseOptions::default()).imports;
    RuffFiles::new(root).inputs(file, &imports)
}

/// The inputs' files that exist.
fn existing<'a>(root: &Path, inputs: &'a Inputs) -> Vec<&'a str> {
    inputs.files.iter().map(String::as_str).filter(|p| root.join(p).is_file()).collect()
}

#[test]
fn settings_chains_packages_and_src_placeholders() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "pyproject.toml", "[tool.ruff]\nsrc = [\"src\", \"lib/*\"]\n");
    write(root, "configs/base.toml", "line-length = 90\n");
    write(root, "src/app/__init__.py", "# a comment only\n");
    write(root, "src/app/sub/__init__.py", "");
    write(
        root,
        "src/app/sub/mod.py",
        "import os\nimport app.util\nfrom app.sub import mod\nfrom extra import x\nfrom . import y\nimport nowhere\n",
    );
    write(root, "src/app/util.py", "X = 1\n");
    write(root, "lib/one/extra.pyi", "x: int\n");
    write(root, "tests/ruff.toml", "extend = \"../configs/base.toml\"\n");
    write(root, "tests/test_a.py", "import app\n");
    let found = inputs_of(root, "src/app/sub/mod.py").unwrap();
    assert_eq!(existing(root, &found), ["pyproject.toml", "src/app/__init__.py", "src/app/sub/__init__.py"]);
    // `app.util` is a file under `src`, `app.sub` a folder, `extra` a stub under the glob;
    // `os` and `nowhere` are found nowhere, the relative import is never looked up.
    assert_eq!(
        found.placeholders,
        ["lib/one/extra.pyi", "src/app/sub/.pleat-placeholder", "src/app/util.py"]
    );

    // Nested settings apply below their folder, with their `extend` chain; the default `src`
    // is that folder and its `src/`, so `app` is not first-party there.
    let found = inputs_of(root, "tests/test_a.py").unwrap();
    assert_eq!(existing(root, &found), ["configs/base.toml", "pyproject.toml", "tests/ruff.toml"]);
    assert!(found.placeholders.is_empty(), "{found:?}");
}

#[test]
fn a_pyproject_without_ruff_settings_is_passed_over() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, ".ruff.toml", "src = [\"code\"]\n");
    write(root, "pkg/pyproject.toml", "[project]\nname = \"pkg\"\n");
    write(root, "pkg/a.py", "import helper\n");
    write(root, "code/helper.py", "");
    let found = inputs_of(root, "pkg/a.py").unwrap();
    assert_eq!(found.placeholders, ["code/helper.py"], "the root's `src` applies");
    write(root, "pkg/pyproject.toml", "[project]\nname = \"pkg\"\n[tool.ruff.lint]\nselect = [\"E\"]\n");
    let found = inputs_of(root, "pkg/a.py").unwrap();
    assert!(found.placeholders.is_empty(), "pkg's own settings apply, with their default `src`: {found:?}");
}

#[test]
fn an_extend_the_sandbox_cannot_hold_is_an_error_that_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "a.py", "X = 1\n");
    for (extend, says) in [
        ("../outside.toml", "leaves the repository"),
        ("/etc/ruff.toml", "absolute path"),
        ("~/ruff.toml", "environment variable"),
        ("missing.toml", "does not exist"),
    ] {
        write(root, "ruff.toml", &format!("extend = {extend:?}\n"));
        let error = inputs_of(root, "a.py").unwrap_err().to_string();
        assert!(error.starts_with("ruff.toml: ") && error.contains(says), "{error}");
    }
    write(root, "ruff.toml", "extend = \"ruff.toml\"\n");
    assert!(inputs_of(root, "a.py").is_ok(), "a cycle is ruff's to report");
}
