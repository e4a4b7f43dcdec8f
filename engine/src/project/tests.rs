//! Resolution and graph tests on multi-file fixtures (`//- path` headers), with inline snapshots; and the incremental-equals-rebuild property.

use std::fmt::Write as _;
use std::path::Path;

use expect_test::{Expect, expect};

use super::{Project, SourceFile, TargetKind, Update};
use crate::config::{self, Config};
use crate::graph::EdgeKind;
use crate::python::pytest_config;

/// Splits a fixture into (path, text) pairs.
fn files(fixture: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in fixture.lines() {
        if let Some(path) = line.strip_prefix("//- ") {
            out.push((path.trim().to_owned(), String::new()));
        } else if let Some((_, text)) = out.last_mut() {
            text.push_str(line);
            text.push('\n');
        }
    }
    out
}

fn project(fixture: &str) -> Project {
    let files = files(fixture);
    let mut config = files
        .iter()
        .find(|(p, _)| p == "pyproject.toml" || p == "pleat.toml")
        .map_or_else(Config::default, |(p, t)| config::parse(&Path::new("/repo").join(p), t).unwrap());
    if let Some((_, text)) = files.iter().find(|(p, _)| p == "pytest.ini") {
        config.pytest = pytest_config::parse("pytest.ini", text).unwrap().unwrap();
    }
    let options = Project::parse_options(&config);
    let sources = files
        .iter()
        .filter(|(p, _)| p.ends_with(".py") || p.ends_with(".pyi"))
        .map(|(p, t)| SourceFile::from_bytes(p, t.as_bytes(), options))
        .collect();
    let requirements: Vec<(String, String)> =
        files.iter().filter(|(p, _)| p.ends_with(".txt")).cloned().collect();
    Project::new(Path::new("/repo"), config, sources, &requirements).unwrap()
}

/// Every file with its kind, edges (`→ target (line, kind, flags)`), third-party
/// requirements and findings.
fn render(project: &Project) -> String {
    let mut out = String::new();
    let mut files: Vec<_> = project.files().collect();
    files.sort_by(|a, b| a.1.path.cmp(&b.1.path));
    for (id, file) in files {
        let module = project.module(id).map_or(String::new(), |m| format!(" ({m})"));
        let _ = writeln!(out, "{} [{}]{module}", file.path, file.kind.as_str());
        let mut edges = project.graph().edges(id).to_vec();
        edges.sort_by(|a, b| project.path(a.to).cmp(project.path(b.to)));
        for edge in &edges {
            let kind = match edge.kind {
                EdgeKind::Import => "",
                EdgeKind::Init => " init",
                EdgeKind::Conftest => " conftest",
                EdgeKind::Explicit => " explicit",
            };
            let mut flags = String::new();
            if edge.type_only {
                flags.push_str(" type-only");
            }
            if edge.weak {
                flags.push_str(" weak");
            }
            let _ = writeln!(out, "  → {} :{}{kind}{flags}", project.path(edge.to), edge.line + 1);
        }
        let deps = project.deps(id).unwrap();
        for requirement in &deps.third_party {
            let _ = writeln!(out, "  ⇒ {} ({})", requirement.name, requirement.declared_in);
        }
        for finding in &deps.findings {
            let _ = writeln!(
                out,
                "  ! {}:{} {}",
                finding.range.start.line + 1,
                finding.range.start.column + 1,
                finding.message
            );
        }
    }
    out
}

fn check(fixture: &str, expect: &Expect) {
    expect.assert_eq(&render(&project(fixture)));
}

#[test]
fn from_import_prefers_the_submodule() {
    check(
        r"
//- app/__init__.py
//- app/models.py
from app import views, helper
from app.views import render
import app.views
//- app/views.py
def render(): ...
",
        &expect![[r#"
            app/__init__.py [source] (app)
            app/models.py [source] (app.models)
              → app/__init__.py :1
              → app/views.py :1
            app/views.py [source] (app.views)
        "#]],
    );
}

#[test]
fn ancestor_init_files_content_only() {
    check(
        r"
//- pkg/__init__.py
X = 1
//- pkg/sub/__init__.py
# only a comment
//- pkg/sub/deep.py
//- main.py
import pkg.sub.deep
",
        &expect![[r#"
            main.py [source] (main)
              → pkg/__init__.py :1 init
              → pkg/sub/deep.py :1
            pkg/__init__.py [source] (pkg)
            pkg/sub/__init__.py [source] (pkg.sub)
            pkg/sub/deep.py [source] (pkg.sub.deep)
        "#]],
    );
}

#[test]
fn ancestor_init_files_all_and_none() {
    let fixture = r#"
//- pkg/__init__.py
//- pkg/sub/__init__.py
//- pkg/sub/deep.py
//- main.py
from pkg.sub import deep
"#;
    check(
        &format!("//- pleat.toml\ninit_files = \"all\"\n{fixture}"),
        &expect![[r#"
        main.py [source] (main)
          → pkg/__init__.py :1 init
          → pkg/sub/__init__.py :1 init
          → pkg/sub/deep.py :1
        pkg/__init__.py [source] (pkg)
        pkg/sub/__init__.py [source] (pkg.sub)
        pkg/sub/deep.py [source] (pkg.sub.deep)
    "#]],
    );
    check(
        &format!("//- pleat.toml\ninit_files = \"none\"\n{fixture}"),
        &expect![[r#"
        main.py [source] (main)
          → pkg/sub/deep.py :1
        pkg/__init__.py [source] (pkg)
        pkg/sub/__init__.py [source] (pkg.sub)
        pkg/sub/deep.py [source] (pkg.sub.deep)
    "#]],
    );
}

#[test]
fn relative_imports_and_beyond_the_top() {
    check(
        r"
//- pkg/__init__.py
from . import a
from .a import f
//- pkg/a.py
from .. import nothing
from . import b
from .sub import c
//- pkg/b.py
//- pkg/sub/__init__.py
from ..a import f
from ... import too_far
//- pkg/sub/c.py
//- top.py
from . import x
//- pkg/migrations/__init__.py
//- pkg/migrations/0002_auto.py
from .. import b
",
        &expect![[r#"
            pkg/__init__.py [source] (pkg)
              → pkg/a.py :1
            pkg/a.py [source] (pkg.a)
              → pkg/__init__.py :2 init
              → pkg/b.py :2
              → pkg/sub/__init__.py :3 init
              → pkg/sub/c.py :3
              ! 1:6 relative import `..` goes beyond the top-level package (pkg/a.py is in package `pkg`); use fewer dots or an absolute import
            pkg/b.py [source] (pkg.b)
            pkg/migrations/0002_auto.py [source]
              → pkg/__init__.py :1 init
              → pkg/b.py :1
            pkg/migrations/__init__.py [source] (pkg.migrations)
            pkg/sub/__init__.py [source] (pkg.sub)
              → pkg/__init__.py :1 init
              → pkg/a.py :1
              ! 2:6 relative import `...` goes beyond the top-level package (pkg/sub/__init__.py is in package `pkg.sub`); use fewer dots or an absolute import
            pkg/sub/c.py [source] (pkg.sub.c)
            top.py [source] (top)
              ! 1:6 relative import `.` goes beyond the top-level package (top.py is a top-level module); use fewer dots or an absolute import
        "#]],
    );
}

#[test]
fn src_layout_tests_and_conftests() {
    check(
        r"
//- src/app/__init__.py
//- src/app/core.py
import requests
import os
//- tests/conftest.py
//- tests/unit/conftest.py
//- tests/unit/test_core.py
from app.core import run
//- tests/unit/helpers_test.py
//- tests/tests.py
//- requirements.txt
requests>=2
",
        &expect![[r#"
            src/app/__init__.py [source] (app)
            src/app/core.py [source] (app.core)
              ⇒ requests (requirements.txt:1)
            tests/conftest.py [test_util] (tests.conftest)
            tests/tests.py [source] (tests.tests)
            tests/unit/conftest.py [test_util] (tests.unit.conftest)
            tests/unit/helpers_test.py [test] (tests.unit.helpers_test)
              → tests/conftest.py :1 conftest
              → tests/unit/conftest.py :1 conftest
            tests/unit/test_core.py [test] (tests.unit.test_core)
              → src/app/core.py :1
              → tests/conftest.py :1 conftest
              → tests/unit/conftest.py :1 conftest
        "#]],
    );
}

#[test]
fn stdlib_third_party_and_unresolved() {
    check(
        r#"
//- pyproject.toml
[project]
dependencies = ["PyYAML>=6", "python-dateutil", "my-dist"]
[tool.pleat.module_mapping]
my-dist = ["custom_mod"]
//- requirements-dev.txt
beautifulsoup4
google-cloud-storage
//- a.py
import yaml, dateutil.parser, custom_mod, bs4
from google.cloud import storage
import json, tomllib, xml.etree.ElementTree
import not_declared.sub
try:
    import optional_thing
except ImportError:
    optional_thing = None
"#,
        &expect![[r#"
            a.py [source] (a)
              ⇒ PyYAML (pyproject.toml)
              ⇒ beautifulsoup4 (requirements-dev.txt:1)
              ⇒ google-cloud-storage (requirements-dev.txt:2)
              ⇒ my-dist (pyproject.toml)
              ⇒ python-dateutil (pyproject.toml)
              ! 4:8 `not_declared.sub` matches no module under the source roots `.` and no declared requirement; add its distribution to your requirements, map it in [tool.pleat.module_mapping], or fix the source roots
        "#]],
    );
}

/// A typo in a submodule of a first-party package is flagged even when a requirement of
/// the same name exists (a library's own checkout); a guarded one stays quiet.
#[test]
fn a_missing_first_party_submodule_never_falls_back_to_a_requirement() {
    check(
        r#"
//- requirements.txt
Jinja2
//- src/jinja2/__init__.py
//- src/jinja2/nodes.py
//- src/jinja2/utils.py
from .utilz import foo
from jinja2.nodez import Node
from jinja2.nodes import Node
try:
    from jinja2 import _speedups
except ImportError:
    pass
"#,
        &expect![[r#"
            src/jinja2/__init__.py [source] (jinja2)
            src/jinja2/nodes.py [source] (jinja2.nodes)
            src/jinja2/utils.py [source] (jinja2.utils)
              → src/jinja2/__init__.py :5 weak
              → src/jinja2/nodes.py :3
              ! 1:6 `jinja2.utilz` is no module of the first-party package `jinja2` (src/jinja2/__init__.py), which Python imports instead of any installed `jinja2`; fix the name
              ! 2:6 `jinja2.nodez` is no module of the first-party package `jinja2` (src/jinja2/__init__.py), which Python imports instead of any installed `jinja2`; fix the name
        "#]],
    );
}

#[test]
fn python_version_decides_the_stdlib() {
    check(
        r#"
//- pleat.toml
python_version = "3.12"
//- a.py
import distutils
import tomllib
import annotationlib  # new in 3.14: code guarded by a version check imports it
import __main__
"#,
        &expect![[r#"
            a.py [source] (a)
              ! 1:8 `distutils` matches no module under the source roots `.` and no declared requirement; add its distribution to your requirements, map it in [tool.pleat.module_mapping], or fix the source roots
        "#]],
    );
}

#[test]
fn ambiguity_stubs_and_namespace_packages() {
    check(
        r"
//- one/shared/__init__.py
//- one/shared/util.py
//- two/shared/__init__.py
//- two/shared/util.py
//- one/app.py
import shared.util
//- lib/typed.py
//- lib/typed.pyi
//- ns/inner/mod.py
//- user.py
import lib.typed
import ns.inner.mod
import ns.inner
",
        &expect![[r#"
            lib/typed.py [source] (lib.typed)
            lib/typed.pyi [stub] (lib.typed)
            ns/inner/mod.py [source] (ns.inner.mod)
            one/app.py [source] (app)
              ! 1:8 `shared.util` is provided by 2 files: one/shared/util.py and two/shared/util.py; keep one, or set ambiguity = "by_source_root" or an explicit dependency in [tool.pleat]
            one/shared/__init__.py [source] (shared)
            one/shared/util.py [source] (shared.util)
            two/shared/__init__.py [source] (shared)
            two/shared/util.py [source] (shared.util)
            user.py [source] (user)
              → lib/typed.py :1
              → lib/typed.pyi :1
              → ns/inner/mod.py :2
        "#]],
    );
}

#[test]
fn ambiguity_by_source_root() {
    check(
        r#"
//- pleat.toml
source_roots = ["one", "two"]
ambiguity = "by_source_root"
//- one/shared.py
//- two/shared.py
//- one/app.py
import shared
"#,
        &expect![[r#"
            one/app.py [source] (app)
              → one/shared.py :1
            one/shared.py [source] (shared)
            two/shared.py [source] (shared)
        "#]],
    );
}

#[test]
fn explicit_dependencies_add_and_remove() {
    check(
        r#"
//- pleat.toml
[dependencies]
"pkg/a.py" = ["pkg/plugins/x.py", "!pkg/b.py", "pkg/missing.py"]
//- pkg/__init__.py
//- pkg/a.py
from pkg import b
//- pkg/b.py
//- pkg/plugins/x.py
"#,
        &expect![[r#"
            pkg/__init__.py [source] (pkg)
            pkg/a.py [source] (pkg.a)
              → pkg/plugins/x.py :1 explicit
              ! 1:1 [tool.pleat.dependencies] gives pkg/a.py the dependency pkg/missing.py, which is neither a Python file nor a file or folder of this repository; fix or remove the entry
            pkg/b.py [source] (pkg.b)
            pkg/plugins/x.py [source] (pkg.plugins.x)
        "#]],
    );
}

#[test]
fn type_checking_weak_dynamic_and_string_imports() {
    check(
        r#"
//- pleat.toml
string_imports = true
//- pkg/__init__.py
//- pkg/models.py
//- pkg/handlers.py
//- pkg/views.py
from typing import TYPE_CHECKING
if TYPE_CHECKING:
    from pkg import models
import importlib
h = importlib.import_module("pkg.handlers")
HANDLER = "pkg.models.Model"
NOT_OURS = "django.contrib.auth"
"#,
        &expect![[r#"
            pkg/__init__.py [source] (pkg)
            pkg/handlers.py [source] (pkg.handlers)
            pkg/models.py [source] (pkg.models)
            pkg/views.py [source] (pkg.views)
              → pkg/handlers.py :5
              → pkg/models.py :3 type-only
        "#]],
    );
}

#[test]
fn syntax_errors_and_non_utf8_are_findings() {
    let mut project = project("//- ok.py\n");
    let options = Project::parse_options(&project.config);
    project.set_file(SourceFile::from_bytes("bad.py", b"import ok\ndef f(:\n", options)).unwrap();
    project.set_file(SourceFile::from_bytes("latin.py", b"import ok\nx = '\xe9'\n", options)).unwrap();
    expect![[r#"
        bad.py [source] (bad)
          → ok.py :1
          ! 2:7 syntax error: missing `)`; imports after it may be missed until it is fixed
        latin.py [source] (latin)
          → ok.py :1
          ! 2:6 the file is not valid UTF-8 (byte 15); save it as UTF-8 or declare its encoding in a `# -*- coding: ... -*-` line
        ok.py [source] (ok)
    "#]].assert_eq(&render(&project));
}

#[test]
fn queries() {
    let project = project(
        r"
//- pkg/__init__.py
//- pkg/a.py
import pkg.b
//- pkg/b.py
import pkg.c
//- pkg/c.py
import pkg.a
//- tests/test_a.py
import pkg.a
//- tests/test_other.py
",
    );
    let id = |p: &str| project.id(p).unwrap();
    let paths = |ids: Vec<crate::graph::FileId>| {
        ids.into_iter().map(|i| project.path(i).to_owned()).collect::<Vec<_>>()
    };
    assert_eq!(paths(project.dependents(&[id("pkg/c.py")], false)), ["pkg/b.py"]);
    assert_eq!(
        paths(project.dependents(&[id("pkg/c.py")], true)),
        ["pkg/a.py", "pkg/b.py", "pkg/c.py", "tests/test_a.py"]
    );
    assert_eq!(paths(project.affected_tests(&[id("pkg/c.py")])), ["tests/test_a.py"]);
    assert_eq!(paths(project.affected_tests(&[id("tests/test_other.py")])), ["tests/test_other.py"]);
    let hops = project.graph().path(id("tests/test_a.py"), id("pkg/c.py")).unwrap();
    assert_eq!(hops.len(), 3);
    assert_eq!(project.cycles().len(), 1);
    assert_eq!(project.file(id("tests/test_a.py")).unwrap().kind, TargetKind::Test);
}

/// pytest's configuration decides the kinds; under `--doctest-modules` an edit that adds or
/// removes a module's doctest changes its kind (and its conftest edge), as a rebuild would.
#[test]
fn pytest_configuration_decides_kinds_and_doctest_edits_follow() {
    let fixture = r#"
//- pytest.ini
[pytest]
python_files = check_*.py
addopts = --doctest-modules
//- conftest.py
//- pkg/__init__.py
//- pkg/mod.py
def f():
    """
    >>> f()
    """
//- pkg/plain.py
//- check_a.py
import pkg.plain
//- test_b.py
"#;
    let mut project = project(fixture);
    let id = |project: &Project, p: &str| project.id(p).unwrap();
    let kind = |project: &Project, p: &str| project.file(id(project, p)).unwrap().kind;
    assert_eq!(kind(&project, "pkg/mod.py"), TargetKind::Test);
    assert!(project.not_a_test_module(id(&project, "pkg/mod.py")));
    assert_eq!(kind(&project, "check_a.py"), TargetKind::Test);
    assert!(!project.not_a_test_module(id(&project, "check_a.py")));
    assert_eq!(kind(&project, "test_b.py"), TargetKind::Source, "python_files replaces the default");
    assert_eq!(kind(&project, "pkg/plain.py"), TargetKind::Source);
    assert_eq!(kind(&project, "conftest.py"), TargetKind::TestUtil);
    let conftest_edges = |project: &Project| {
        project
            .graph()
            .edges(id(project, "pkg/mod.py"))
            .iter()
            .filter(|e| e.kind == EdgeKind::Conftest)
            .count()
    };
    assert_eq!(conftest_edges(&project), 1);

    let options = Project::parse_options(&project.config);
    project.set_file(SourceFile::from_bytes("pkg/mod.py", b"def f():\n    return 1\n", options)).unwrap();
    assert_eq!(kind(&project, "pkg/mod.py"), TargetKind::Source);
    assert_eq!(conftest_edges(&project), 0);
    let rebuilt = self::project(&fixture.replace("    \"\"\"\n    >>> f()\n    \"\"\"\n", "    return 1\n"));
    assert_eq!(snapshot(&project), snapshot(&rebuilt));
}

/// A small deterministic generator (xorshift), so the property test needs no crate and
/// every failure reproduces from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const MODULE_PATHS: &[&str] = &[
    "pkg/__init__.py",
    "pkg/a.py",
    "pkg/b.py",
    "pkg/sub/__init__.py",
    "pkg/sub/c.py",
    "pkg/sub/d.pyi",
    "pkg/sub/d.py",
    "other/e.py",
    "src/lib/__init__.py",
    "src/lib/f.py",
    "tests/conftest.py",
    "tests/test_a.py",
    "tests/unit/test_b.py",
    "top.py",
];

fn random_source(rng: &mut Rng) -> String {
    const IMPORTS: &[&str] = &[
        "import pkg.a",
        "from pkg import b",
        "from pkg.sub import c, d",
        "from . import a",
        "from .. import b",
        "from .sub import c",
        "import other.e",
        "from lib import f",
        "import lib.f as g",
        "import os",
        "import missing.module",
        "from pkg import nothing_here",
        "x = 1",
        "",
    ];
    let mut text = String::new();
    for _ in 0..rng.below(5) {
        let line = IMPORTS[rng.below(IMPORTS.len())];
        match rng.below(6) {
            0 => {
                let _ = write!(text, "try:\n    {line}\nexcept ImportError:\n    pass\n");
            }
            1 => {
                let _ = write!(text, "if TYPE_CHECKING:\n    {line}\n");
            }
            _ => {
                let _ = writeln!(text, "{line}");
            }
        }
    }
    text
}

fn snapshot(project: &Project) -> String {
    render(project)
}

#[test]
fn incremental_updates_equal_a_rebuild() {
    for seed in 1..=12u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let options = crate::python::imports::ParseOptions::default();
        let mut current: std::collections::BTreeMap<String, String> = std::collections::BTreeMap::new();
        for path in MODULE_PATHS {
            if rng.below(4) > 0 {
                current.insert((*path).to_owned(), random_source(&mut rng));
            }
        }
        let build = |files: &std::collections::BTreeMap<String, String>| {
            let sources =
                files.iter().map(|(p, t)| SourceFile::from_bytes(p, t.as_bytes(), options)).collect();
            Project::new(Path::new("/repo"), Config::default(), sources, &[]).unwrap()
        };
        let mut project = build(&current);
        for step in 0..40 {
            let path = MODULE_PATHS[rng.below(MODULE_PATHS.len())].to_owned();
            match rng.below(5) {
                0 if current.contains_key(&path) => {
                    current.remove(&path);
                    project.remove_file(&path).unwrap();
                }
                choice => {
                    // Empty / non-empty flips matter for __init__.py under content_only.
                    let text = match choice {
                        1 if rng.below(2) == 0 => String::new(),
                        1 => "X = 1\n".to_owned(),
                        _ => random_source(&mut rng),
                    };
                    let source = SourceFile::from_bytes(&path, text.as_bytes(), options);
                    // Said beforehand, so that the language server can do it elsewhere.
                    let predicted = project.changes_index(&source);
                    let update = project.set_file(source).unwrap();
                    assert_eq!(predicted, matches!(update, Update::Everything), "seed {seed}, step {step}");
                    current.insert(path, text);
                }
            }
            let fresh = build(&current);
            assert_eq!(snapshot(&project), snapshot(&fresh), "seed {seed}, step {step}");
            for (id, file) in fresh.files() {
                let other = project.id(&file.path).unwrap();
                let dependents = |p: &Project, i| {
                    p.dependents(&[i], true).into_iter().map(|d| p.path(d).to_owned()).collect::<Vec<_>>()
                };
                assert_eq!(dependents(&project, other), dependents(&fresh, id), "seed {seed}, step {step}");
            }
        }
    }
}
