//! Tests of the test environment's requirement selection, on project layouts seen in real sdists.

use super::*;
use crate::goals::test_support::write;

fn chosen(files: &[(&str, &str)]) -> EnvRequirements {
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in files {
        write(dir.path(), path, text);
    }
    test_requirements(dir.path(), None)
}

#[test]
fn runtime_plus_test_extra_with_self_extras_expanded_never_the_released_copy() {
    // attrs 24.2.0's shape: tests = attrs[tests-no-zope] + zope.interface.
    let env = chosen(&[(
        "pyproject.toml",
        r#"
[project]
name = "attrs"
dependencies = ["importlib_metadata; python_version<'3.8'"]
[project.optional-dependencies]
tests-no-zope = ["hypothesis", "pytest>=4.3.0"]
tests = ["attrs[tests-no-zope]", "zope.interface"]
docs = ["sphinx"]
dev = ["attrs[tests]", "pre-commit"]
"#,
    )]);
    assert_eq!(
        env.requirements,
        ["hypothesis", "importlib_metadata; python_version<'3.8'", "pytest>=4.3.0", "zope.interface"]
    );
    assert_eq!(env.project_name.as_deref(), Some("attrs"));
}

#[test]
fn dev_only_when_no_test_group_exists() {
    let env = chosen(&[(
        "pyproject.toml",
        r#"
[project]
name = "x"
[dependency-groups]
lint = ["ruff"]
dev = ["pytest", {include-group = "lint"}]
"#,
    )]);
    assert_eq!(env.requirements, ["pytest", "ruff"]);
}

#[test]
fn only_the_roots_test_requirement_files_not_every_requirements_file() {
    // python-dateutil 2.9.0.post0: a stray requirements/3.3/requirements-dev.txt pins
    // pytest<3.3; jinja2 3.1.4: requirements/docs.txt installs the released Jinja2.
    let env = chosen(&[
        ("requirements-dev.txt", "pytest>=6\nhypothesis\n-r requirements/base.txt\n"),
        ("requirements/base.txt", "six>=1.5\n"),
        ("requirements/3.3/requirements-dev.txt", "pytest<3.3\n"),
        ("requirements/docs.txt", "Jinja2==3.1.2\nsphinx\n"),
        ("docs/requirements.txt", "sphinx\n"),
    ]);
    assert_eq!(env.requirements, ["hypothesis", "pytest>=6", "six>=1.5"]);
    assert_eq!(env.sources, ["requirements-dev.txt", "requirements/base.txt"]);
}

#[test]
fn test_files_win_over_dev_files_and_txt_over_in() {
    let env = chosen(&[
        ("requirements/tests.in", "pytest\n"),
        ("requirements/tests.txt", "pytest==7.4.0 \\\n    --hash=sha256:abc\niniconfig==2.0.0\n"),
        ("requirements/dev.txt", "tox\n"),
        ("tests/requirements.txt", "pretend\n"),
    ]);
    assert_eq!(env.requirements, ["iniconfig==2.0.0", "pretend", "pytest==7.4.0"]);
}

#[test]
fn editable_self_with_extras_in_a_requirements_file() {
    let env = chosen(&[
        (
            "pyproject.toml",
            "[project]\nname = \"My_Pkg\"\n[project.optional-dependencies]\ntest = [\"pytest\"]\n",
        ),
        ("test-requirements.txt", "-e .[test]\nmy-pkg\ncoverage\n"),
    ]);
    assert_eq!(env.requirements, ["coverage", "pytest"]);
}

#[test]
fn setup_py_read_without_running_it() {
    let env = chosen(&[(
        "setup.py",
        r#"
from setuptools import setup
setup(
    name="toolz",
    install_requires=["six >= 1.5", 'attrs'],
    extras_require={"docs": ["sphinx"], "tests": ["pytest", "toolz[docs]"]},
)
"#,
    )]);
    assert_eq!(env.requirements, ["attrs", "pytest", "six >= 1.5", "sphinx"]);
}

#[test]
fn poetry_and_hatch_tables() {
    let env = chosen(&[(
        "pyproject.toml",
        r#"
[tool.poetry]
name = "p"
[tool.poetry.dependencies]
python = "^3.9"
requests = "^2.31"
rich = {version = "~13.1", extras = ["jupyter"]}
opt = {version = "*", optional = true}
[tool.poetry.group.test.dependencies]
pytest = "*"
"#,
    )]);
    assert_eq!(env.requirements, ["pytest", "requests>=2.31,<3", "rich[jupyter]>=13.1,<13.2"]);
    let env = chosen(&[(
        "pyproject.toml",
        "[project]\nname = \"h\"\n[project.optional-dependencies]\ncov = [\"coverage\"]\n[tool.hatch.envs.hatch-test]\nextra-dependencies = [\"pytest-mock\"]\nfeatures = [\"cov\"]\n",
    )]);
    assert_eq!(env.requirements, ["coverage", "pytest-mock"]);
}

#[test]
fn explicit_files_and_groups_replace_detection() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "pyproject.toml",
        "[project]\nname = \"x\"\ndependencies = [\"a\"]\n[dependency-groups]\nci = [\"b\"]\ntest = [\"c\"]\n",
    );
    write(dir.path(), "locks/t.txt", "d==1\n");
    let env = test_requirements(dir.path(), Some(&["ci".to_owned(), "locks/t.txt".to_owned()]));
    assert_eq!(env.requirements, ["a", "b", "d==1"]);
}

#[test]
fn a_named_resolve_holds_only_what_it_names_and_reports_what_does_not_exist() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "pyproject.toml",
        "[project]\nname = \"x\"\ndependencies = [\"a\"]\n[project.optional-dependencies]\nml = [\"e\"]\n[dependency-groups]\nci = [\"b\"]\ntest = [\"c\"]\n",
    );
    write(dir.path(), "legacy/requirements.txt", "d==1\n-r base.txt\n");
    write(dir.path(), "legacy/base.txt", "f<2\n");
    write(dir.path(), "requirements-test.txt", "g\n");
    let items = ["legacy/requirements.txt", "ci", "ml", "nope", "legacy/missing.txt"].map(str::to_owned);
    let env = resolve_requirements(dir.path(), &items);
    assert_eq!(
        env.requirements,
        ["b", "d==1", "e", "f<2"],
        "no runtime dependencies, no detected test files"
    );
    assert_eq!(env.missing, ["nope", "legacy/missing.txt"]);
    assert!(env.sources.contains(&"legacy/requirements.txt".to_owned()), "{:?}", env.sources);
    // The default resolve's explicit list keeps the runtime dependencies.
    let env = test_requirements(dir.path(), Some(&items[..1]));
    assert_eq!(env.requirements, ["a", "d==1", "f<2"]);
    assert!(env.missing.is_empty());
}

#[test]
fn poetry_constraints() {
    assert_eq!(poetry_constraint("^0.2.3"), ">=0.2.3,<0.3");
    assert_eq!(poetry_constraint("^1"), ">=1,<2");
    assert_eq!(poetry_constraint("~1"), ">=1,<2");
    assert_eq!(poetry_constraint("1.2"), "==1.2");
    assert_eq!(poetry_constraint(">=1,<3"), ">=1,<3");
    assert_eq!(poetry_constraint("~=1.4"), "~=1.4");
}

#[test]
fn setup_cfg_and_tox_testenv() {
    // jinja2 3.1.4's shape: tox installs -r requirements/tests.txt; setup.cfg the runtime.
    let env = chosen(&[
        (
            "setup.cfg",
            "[metadata]\nname = Jinja2\n\n[options]\ninstall_requires =\n    MarkupSafe>=2.0\n\n[options.extras_require]\ni18n = Babel>=2.7\n",
        ),
        (
            "tox.ini",
            "[tox]\nenvlist = py3{12,11}\n\n[testenv]\ndeps =\n    -r {toxinidir}/requirements/tests.txt\n    py38: importlib-resources\n    .[i18n]\nextras = i18n\ncommands = pytest {posargs}\n",
        ),
        ("requirements/tests.txt", "pytest==8.1.1\n"),
        ("requirements/docs.txt", "Jinja2==3.1.2\n"),
    ]);
    assert_eq!(env.requirements, ["Babel>=2.7", "MarkupSafe>=2.0", "pytest==8.1.1"]);
    assert!(env.sources.contains(&"tox.ini [testenv]".to_owned()), "{:?}", env.sources);
}
