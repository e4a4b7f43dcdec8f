//! Fuzz target: configuration readers on arbitrary text — Pleat's own (`pleat.toml`, `[tool.pleat]` in pyproject.toml), pytest's in each file it may live in, the INI reader, requirements files, pytest's `addopts` shell splitting, sizes, and the test-environment requirements read from pyproject.toml, setup.cfg, setup.py, tox.ini and requirements.txt on disk. Each must give a value or an error, never panic or hang.

#![no_main]

use std::path::Path;
use std::sync::OnceLock;

use engine::python::{env_requirements, pytest_config, third_party};
use engine::{config, ini};
use libfuzzer_sys::fuzz_target;

/// Files the on-disk readers look at; each gets the input's text.
const ON_DISK: [&str; 5] = ["pyproject.toml", "setup.cfg", "setup.py", "tox.ini", "requirements.txt"];

fn root() -> &'static Path {
    static ROOT: OnceLock<tempfile::TempDir> = OnceLock::new();
    ROOT.get_or_init(|| tempfile::tempdir().expect("a temporary folder")).path()
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for name in ["pleat.toml", "pyproject.toml"] {
        if let Err(error) = config::parse(Path::new(name), &text) {
            assert!(!error.to_string().is_empty());
        }
    }
    for name in pytest_config::CONFIG_FILES {
        if let Err((line, message)) = pytest_config::parse(name, &text) {
            assert!(line >= 1 && !message.is_empty(), "{name}: {line}: {message}");
        }
    }
    if let Ok(parsed) = ini::parse(&text) {
        for section in &parsed.sections {
            for entry in &section.entries {
                let _ = ini::value_lines(&entry.value).count();
            }
        }
    }
    let requirements = third_party::parse_requirements_txt(&text);
    for requirement in &requirements.requirements {
        let _ = third_party::normalize_dist_name(&requirement.name);
    }
    for line in text.lines() {
        let _ = third_party::requirement_name(line);
    }
    if let Ok(args) = pytest_config::shell_split(&text) {
        let _ = pytest_config::parse_addopts(&args);
    }
    let _ = config::parse_size(&text);

    let root = root();
    for name in ON_DISK {
        std::fs::write(root.join(name), data).expect("writing into the temporary folder");
    }
    let _ = config::load(root);
    let _ = env_requirements::test_requirements(root, None);
    let _ =
        env_requirements::resolve_requirements(root, &["tests".to_owned(), "requirements.txt".to_owned()]);
});
