//! Which requirements a project's test environment holds: its runtime dependencies plus its test dependencies from where projects declare them (PEP 735 groups, extras, hatch/pdm/Poetry tables, setup.cfg and setup.py, tox's test environment, the root's test requirement files), never every requirements file in the tree; extras of the project itself expanded, never its released copy.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::third_party::{self, normalize_dist_name, requirement_name};

/// Group, extra and environment names that hold test dependencies, most specific first.
const TEST_GROUPS: &[&str] = &["test", "tests", "testing"];
/// Used only when the project declares none of [`TEST_GROUPS`].
const DEV_GROUPS: &[&str] = &["dev"];

/// The requirement set of a project's test environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvRequirements {
    /// The project's distribution name as declared (`[project] name`, setup.py), if any.
    pub project_name: Option<String>,
    /// PEP 508 strings, sorted and deduplicated; never the project itself.
    pub requirements: Vec<String>,
    /// Where they were declared ("pyproject.toml [project.optional-dependencies] tests",
    /// "requirements/tests.txt"), in the order read.
    pub sources: Vec<String>,
    /// Items of an explicit list that name neither a file at the root nor a group or extra
    /// the project declares, in the order given.
    pub missing: Vec<String>,
}

/// The declarations of one project, gathered before anything is chosen.
#[derive(Default)]
struct Declared {
    name: Option<String>,
    runtime: Vec<String>,
    /// Extra name (normalised) → requirements.
    extras: BTreeMap<String, Vec<String>>,
    /// Dependency group, hatch environment, pdm or Poetry group (normalised) → requirements,
    /// each with where it was declared.
    groups: BTreeMap<String, (String, Vec<String>)>,
}

/// Reads the project at `root`. `explicit` is `[tool.pleat] requirements`: files (paths
/// ending in `.txt` or `.in`, relative to the root) and group or extra names; when given,
/// it replaces the detection of test dependencies (runtime dependencies stay).
pub fn test_requirements(root: &Path, explicit: Option<&[String]>) -> EnvRequirements {
    let declared = declared(root);
    let tox = std::fs::read_to_string(root.join("tox.ini")).ok().and_then(|t| crate::ini::parse(&t).ok());
    let mut out = Chooser::new(root, &declared);
    if !declared.runtime.is_empty() {
        out.sources.push("the project's runtime dependencies".to_owned());
        for requirement in &declared.runtime {
            out.add(requirement);
        }
    }
    if let Some(explicit) = explicit {
        out.explicit(explicit);
    } else {
        out.detect_test_dependencies();
        if let Some(tox) = &tox {
            out.tox(tox);
        }
    }
    out.finish()
}

/// The requirement set of a named resolve (`[tool.pleat.resolves.<name>] requirements`):
/// exactly the files and groups or extras it names, as [`test_requirements`] reads
/// `explicit`, without the project's runtime dependencies (they belong to the default
/// resolve; naming an extra of the project's still adds it).
pub fn resolve_requirements(root: &Path, items: &[String]) -> EnvRequirements {
    let declared = declared(root);
    let mut out = Chooser::new(root, &declared);
    out.explicit(items);
    out.finish()
}

/// What the project at `root` declares in pyproject.toml, setup.cfg and setup.py.
fn declared(root: &Path) -> Declared {
    let mut declared = Declared::default();
    if let Ok(text) = std::fs::read_to_string(root.join("pyproject.toml"))
        && let Ok(doc) = text.parse::<toml::Table>()
    {
        read_pyproject(&doc, &mut declared);
    }
    if let Ok(text) = std::fs::read_to_string(root.join("setup.cfg"))
        && let Ok(ini) = crate::ini::parse(&text)
    {
        read_setup_cfg(&ini, &mut declared);
    }
    if let Ok(text) = std::fs::read_to_string(root.join("setup.py")) {
        read_setup_py(&text, &mut declared);
    }
    declared
}

struct Chooser<'a> {
    root: &'a Path,
    declared: &'a Declared,
    chosen: BTreeSet<String>,
    sources: Vec<String>,
    missing: Vec<String>,
}

impl<'a> Chooser<'a> {
    fn new(root: &'a Path, declared: &'a Declared) -> Self {
        Self { root, declared, chosen: BTreeSet::new(), sources: Vec::new(), missing: Vec::new() }
    }

    /// Files (`.txt`, `.in`) and group or extra names, as `[tool.pleat] requirements` lists them.
    fn explicit(&mut self, items: &[String]) {
        for item in items {
            let found = if item.ends_with(".txt") || item.ends_with(".in") {
                self.file(item, &mut BTreeSet::new());
                self.root.join(item).is_file()
            } else {
                self.group_or_extra(item)
            };
            if !found {
                self.missing.push(item.clone());
            }
        }
    }

    /// The chosen set, its sources once each in the order read.
    fn finish(self) -> EnvRequirements {
        let mut sources: Vec<String> = Vec::new();
        for source in self.sources {
            if !sources.contains(&source) {
                sources.push(source);
            }
        }
        EnvRequirements {
            project_name: self.declared.name.clone(),
            requirements: self.chosen.into_iter().collect(),
            sources,
            missing: self.missing,
        }
    }

    fn is_self(&self, normalized: &str) -> bool {
        self.declared.name.as_deref().is_some_and(|n| normalize_dist_name(n) == normalized)
    }

    /// Adds one PEP 508 string; a reference to the project itself adds its extras instead.
    fn add(&mut self, requirement: &str) {
        self.add_guarded(requirement, &mut BTreeSet::new());
    }

    fn add_guarded(&mut self, requirement: &str, seen: &mut BTreeSet<String>) {
        let requirement = requirement.trim();
        let Some(name) = requirement_name(requirement) else { return };
        if self.is_self(&normalize_dist_name(&name)) {
            for extra in extras_of(requirement) {
                self.extra(&extra, seen);
            }
            return;
        }
        self.chosen.insert(requirement.to_owned());
    }

    fn extra(&mut self, name: &str, seen: &mut BTreeSet<String>) -> bool {
        let key = normalize_dist_name(name);
        let Some(list) = self.declared.extras.get(&key) else { return false };
        if seen.insert(key) {
            for requirement in list {
                self.add_guarded(requirement, seen);
            }
        }
        true
    }

    fn group_or_extra(&mut self, name: &str) -> bool {
        let key = normalize_dist_name(name);
        if let Some((source, list)) = self.declared.groups.get(&key) {
            self.sources.push(source.clone());
            for requirement in list {
                self.add(requirement);
            }
            return true;
        }
        if self.declared.extras.contains_key(&key) {
            self.sources.push(format!("the project's extra [{name}]"));
            return self.extra(name, &mut BTreeSet::new());
        }
        false
    }

    /// Test groups and extras, else dev ones; plus the root's test requirement files.
    fn detect_test_dependencies(&mut self) {
        for names in [TEST_GROUPS, DEV_GROUPS] {
            let mut found = false;
            for name in names {
                found |= self.group_or_extra(name);
            }
            if found {
                break;
            }
        }
        for file in requirement_files(self.root) {
            self.file(&file, &mut BTreeSet::new());
        }
    }

    /// tox's `[testenv]`: its `deps` (requirements, `-r` files, `.[extra]`) and `extras`.
    /// Factor-conditional lines (`py38: x`) and substitutions other than `{toxinidir}` are
    /// left out: they name other environments or need tox to evaluate.
    fn tox(&mut self, tox: &crate::ini::Ini) {
        let Some(testenv) = tox.section("testenv") else { return };
        let mut used = false;
        if let Some(deps) = testenv.get("deps") {
            for line in crate::ini::value_lines(deps) {
                let line = line.replace("{toxinidir}/", "").replace("{toxinidir}", ".");
                let factor = line.split_once(':').is_some_and(|(head, _)| {
                    !head.contains(['/', '=', '<', '>', '@', ' ']) && !head.starts_with('-')
                });
                if factor || line.contains('{') || line.starts_with('#') {
                    continue;
                }
                used = true;
                if let Some(file) = line.strip_prefix("-r").or_else(|| line.strip_prefix("--requirement")) {
                    self.file(&normalize_join("", file.trim_start_matches('=').trim()), &mut BTreeSet::new());
                } else if line.starts_with('-') {
                    if let Some(target) = line.strip_prefix("-e").map(str::trim) {
                        self.local_target(target);
                    }
                } else if line.starts_with('.') {
                    self.local_target(&line);
                } else {
                    self.add(line.split(" --").next().unwrap_or(&line));
                }
            }
        }
        if let Some(extras) = testenv.get("extras") {
            for extra in extras.split([',', '\n']).map(str::trim).filter(|e| !e.is_empty()) {
                used |= self.extra(extra, &mut BTreeSet::new());
            }
        }
        if used {
            self.sources.push("tox.ini [testenv]".to_owned());
        }
    }

    /// A requirements file, following `-r` includes; `.`/`-e .[extra]` lines are the project.
    fn file(&mut self, path: &str, seen: &mut BTreeSet<String>) {
        if !seen.insert(path.to_owned()) {
            return;
        }
        let Ok(text) = std::fs::read_to_string(self.root.join(path)) else { return };
        self.sources.push(path.to_owned());
        let dir = crate::vfs::parent(path);
        for (_, line) in third_party::logical_lines(&text) {
            let mut tokens = line.split_whitespace();
            let Some(first) = tokens.next() else { continue };
            match first {
                "-r" | "--requirement" => {
                    if let Some(include) = tokens.next() {
                        self.file(&normalize_join(dir, include), seen);
                    }
                }
                "-e" | "--editable" => {
                    if let Some(target) = tokens.next() {
                        self.local_target(target);
                    }
                }
                _ if first.starts_with("-r") || first.starts_with("--requirement=") => {
                    let include = first.trim_start_matches("--requirement=").trim_start_matches("-r");
                    self.file(&normalize_join(dir, include), seen);
                }
                _ if first.starts_with('-') => {}
                _ if first.starts_with('.') || first.starts_with('/') => self.local_target(first),
                _ => {
                    // `name>=1 --hash=...`: the requirement is what precedes the options.
                    let requirement = line.split(" --").next().unwrap_or(&line);
                    self.add(requirement);
                }
            }
        }
    }

    /// `.`, `./`, `.[tests]`: the project itself with those extras. Other local paths are
    /// other projects, which a hermetic environment cannot install from this tree's state.
    fn local_target(&mut self, target: &str) {
        let (path, extras) = match target.split_once('[') {
            Some((path, rest)) => (path, rest.trim_end_matches(']')),
            None => (target, ""),
        };
        if matches!(path, "." | "./") {
            for extra in extras.split(',').map(str::trim).filter(|e| !e.is_empty()) {
                self.extra(extra, &mut BTreeSet::new());
            }
        }
    }
}

/// `requirements/tests.txt` relative to the including file's folder, `.` and `..` folded.
fn normalize_join(dir: &str, include: &str) -> String {
    crate::vfs::join_normalized(dir, &include.replace("{toxinidir}/", "")).unwrap_or_default()
}

/// The extras of a PEP 508 string: `attrs[tests, cov]>=1` → `tests`, `cov`.
fn extras_of(requirement: &str) -> Vec<String> {
    let Some(open) = requirement.find('[') else { return Vec::new() };
    let Some(close) = requirement[open..].find(']') else { return Vec::new() };
    requirement[open + 1..open + close]
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The root's requirement files that hold the runtime or test dependencies:
/// `requirements.txt`, then the first kind of test file found among
/// `requirements-test*.txt`, `requirements/test*.txt`, `tests/requirements*.txt` (and
/// their `_`/`-` spellings), else the dev ones. A `.in` is read only when its `.txt` is
/// absent (pip-tools keeps both; the `.txt` holds the pins).
pub fn requirement_files(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let list = |dir: &str| -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else { return Vec::new() };
        let mut names: Vec<String> = entries
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| n.ends_with(".txt") || n.ends_with(".in"))
            .collect();
        names.sort();
        names.into_iter().map(|n| crate::vfs::join(dir, &n)).collect()
    };
    let root_files = list("");
    if root_files.iter().any(|f| f == "requirements.txt") {
        out.push("requirements.txt".to_owned());
    } else if root_files.iter().any(|f| f == "requirements.in") {
        out.push("requirements.in".to_owned());
    }
    let candidates: Vec<String> =
        root_files.into_iter().chain(list("requirements")).chain(list("tests")).chain(list("test")).collect();
    for words in [TEST_GROUPS, DEV_GROUPS] {
        let matching: Vec<&String> = candidates.iter().filter(|path| names_group(path, words)).collect();
        if matching.is_empty() {
            continue;
        }
        for path in &matching {
            let is_in = path.ends_with(".in");
            let txt_twin = format!("{}.txt", path.trim_end_matches(".in"));
            if is_in && matching.iter().any(|p| **p == txt_twin) {
                continue;
            }
            out.push((*path).clone());
        }
        break;
    }
    out
}

/// Whether a requirement file's path names one of `words`: `requirements-test.txt`,
/// `test-requirements.txt`, `requirements/tests.txt`, `tests/requirements.txt`.
fn names_group(path: &str, words: &[&str]) -> bool {
    let (dir, name) = (crate::vfs::parent(path), crate::vfs::file_name(path));
    let stem = name.trim_end_matches(".txt").trim_end_matches(".in").to_ascii_lowercase();
    let word_of = |s: &str| words.contains(&s);
    match dir {
        "" => {
            let rest = stem
                .strip_prefix("requirements")
                .map(|r| r.trim_start_matches(['-', '_']))
                .or_else(|| stem.strip_suffix("requirements").map(|r| r.trim_end_matches(['-', '_'])));
            rest.is_some_and(|r| word_of(r) || r.split(['-', '_']).next().is_some_and(word_of))
        }
        "requirements" => word_of(&stem) || stem.split(['-', '_', '.']).next().is_some_and(word_of),
        "tests" | "test" => {
            words == TEST_GROUPS && (stem == "requirements" || stem.starts_with("requirements"))
        }
        _ => false,
    }
}

fn strings(value: Option<&toml::Value>) -> Vec<String> {
    value
        .and_then(toml::Value::as_array)
        .map(|list| list.iter().filter_map(toml::Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default()
}

fn read_pyproject(doc: &toml::Table, out: &mut Declared) {
    if let Some(project) = doc.get("project").and_then(toml::Value::as_table) {
        out.name = project.get("name").and_then(toml::Value::as_str).map(str::to_owned);
        out.runtime.extend(strings(project.get("dependencies")));
        if let Some(extras) = project.get("optional-dependencies").and_then(toml::Value::as_table) {
            for (name, list) in extras {
                out.extras.insert(normalize_dist_name(name), strings(Some(list)));
            }
        }
    }
    if let Some(groups) = doc.get("dependency-groups").and_then(toml::Value::as_table) {
        for name in groups.keys() {
            let mut list = Vec::new();
            dependency_group(groups, name, &mut list, &mut BTreeSet::new());
            out.groups.insert(
                normalize_dist_name(name),
                (format!("pyproject.toml [dependency-groups] {name}"), list),
            );
        }
    }
    let tool = doc.get("tool").and_then(toml::Value::as_table);
    let table = |path: &[&str]| -> Option<&toml::Table> {
        let mut at = tool?;
        for key in path {
            at = at.get(*key)?.as_table()?;
        }
        Some(at)
    };
    // hatch: an environment's dependencies, its extra-dependencies and its features (extras).
    if let Some(envs) = table(&["hatch", "envs"]) {
        for (name, env) in envs {
            let key = normalize_dist_name(name.trim_start_matches("hatch-"));
            let mut list = strings(env.get("dependencies"));
            list.extend(strings(env.get("extra-dependencies")));
            if let Some(own) = &out.name {
                for feature in strings(env.get("features")) {
                    list.push(format!("{own}[{feature}]"));
                }
            }
            out.groups
                .entry(key)
                .or_insert_with(|| (format!("pyproject.toml [tool.hatch.envs.{name}]"), Vec::new()))
                .1
                .extend(list);
        }
    }
    if let Some(groups) = table(&["pdm", "dev-dependencies"]) {
        for (name, list) in groups {
            out.groups
                .entry(normalize_dist_name(name))
                .or_insert_with(|| (format!("pyproject.toml [tool.pdm.dev-dependencies] {name}"), Vec::new()))
                .1
                .extend(strings(Some(list)));
        }
    }
    if let Some(poetry) = table(&["poetry"]) {
        if out.name.is_none() {
            out.name = poetry.get("name").and_then(toml::Value::as_str).map(str::to_owned);
        }
        if let Some(deps) = poetry.get("dependencies").and_then(toml::Value::as_table) {
            out.runtime.extend(poetry_requirements(deps));
        }
        let mut poetry_groups: Vec<(String, &toml::Table)> = Vec::new();
        if let Some(dev) = poetry.get("dev-dependencies").and_then(toml::Value::as_table) {
            poetry_groups.push(("dev".to_owned(), dev));
        }
        if let Some(groups) = poetry.get("group").and_then(toml::Value::as_table) {
            for (name, group) in groups {
                if let Some(deps) = group.get("dependencies").and_then(toml::Value::as_table) {
                    poetry_groups.push((name.clone(), deps));
                }
            }
        }
        for (name, deps) in poetry_groups {
            out.groups
                .entry(normalize_dist_name(&name))
                .or_insert_with(|| (format!("pyproject.toml [tool.poetry] group {name}"), Vec::new()))
                .1
                .extend(poetry_requirements(deps));
        }
    }
}

/// PEP 735: a group's strings, with `{include-group = "x"}` tables followed.
fn dependency_group(groups: &toml::Table, name: &str, out: &mut Vec<String>, seen: &mut BTreeSet<String>) {
    if !seen.insert(normalize_dist_name(name)) {
        return;
    }
    let Some(list) = groups
        .iter()
        .find(|(k, _)| normalize_dist_name(k) == normalize_dist_name(name))
        .and_then(|(_, v)| v.as_array())
    else {
        return;
    };
    for item in list {
        if let Some(text) = item.as_str() {
            out.push(text.to_owned());
        } else if let Some(include) = item.get("include-group").and_then(toml::Value::as_str) {
            dependency_group(groups, include, out, seen);
        }
    }
}

/// Poetry's `name = "^1.2"` / `name = {version = "~1.2", extras = [...]}` as PEP 508;
/// optional dependencies (extras of the project) are left out.
fn poetry_requirements(deps: &toml::Table) -> Vec<String> {
    let mut out = Vec::new();
    for (name, spec) in deps {
        if name == "python" {
            continue;
        }
        let (version, extras) = match spec {
            toml::Value::String(v) => (Some(v.as_str()), Vec::new()),
            toml::Value::Table(t) => {
                if t.get("optional").and_then(toml::Value::as_bool) == Some(true)
                    || t.contains_key("path")
                    || t.contains_key("git")
                {
                    continue;
                }
                (t.get("version").and_then(toml::Value::as_str), strings(t.get("extras")))
            }
            _ => (None, Vec::new()),
        };
        let extras = if extras.is_empty() { String::new() } else { format!("[{}]", extras.join(",")) };
        let constraint = version.map(poetry_constraint).unwrap_or_default();
        out.push(format!("{name}{extras}{constraint}"));
    }
    out
}

/// `^1.2.3` → `>=1.2.3,<2`; `~1.2` → `>=1.2,<1.3`; `1.2` → `==1.2`; `*` → nothing;
/// PEP 440 operators pass through.
fn poetry_constraint(version: &str) -> String {
    let version = version.trim();
    let parts = |v: &str| -> Vec<u64> { v.split('.').map_while(|p| p.parse().ok()).collect() };
    if version.is_empty() || version == "*" {
        String::new()
    } else if let Some(v) = version.strip_prefix('^') {
        let p = parts(v);
        let upper = match p.iter().position(|n| *n != 0) {
            Some(i) => {
                let mut up: Vec<u64> = p[..=i].to_vec();
                up[i] += 1;
                up
            }
            None => vec![p.first().copied().unwrap_or(0) + 1],
        };
        format!(">={v},<{}", join_version(&upper))
    } else if let Some(v) = version.strip_prefix('~').filter(|v| !v.starts_with('=')) {
        let p = parts(v);
        let upper =
            if p.len() >= 2 { vec![p[0], p[1] + 1] } else { vec![p.first().copied().unwrap_or(0) + 1] };
        format!(">={v},<{}", join_version(&upper))
    } else if version.starts_with(|c: char| c.is_ascii_digit()) {
        format!("=={version}")
    } else {
        version.to_owned()
    }
}

fn join_version(parts: &[u64]) -> String {
    parts.iter().map(u64::to_string).collect::<Vec<_>>().join(".")
}

/// setup.cfg: `[metadata] name`, `[options] install_requires` and `tests_require`,
/// `[options.extras_require]`.
fn read_setup_cfg(ini: &crate::ini::Ini, out: &mut Declared) {
    let lines = |value: &str| -> Vec<String> {
        crate::ini::value_lines(value).filter(|l| !l.starts_with('#')).map(str::to_owned).collect()
    };
    if out.name.is_none() {
        out.name = ini.section("metadata").and_then(|m| m.get("name")).map(|n| n.trim().to_owned());
    }
    if let Some(options) = ini.section("options") {
        if let Some(requires) = options.get("install_requires") {
            out.runtime.extend(lines(requires));
        }
        if let Some(tests) = options.get("tests_require") {
            out.groups
                .entry("tests".to_owned())
                .or_insert_with(|| ("setup.cfg tests_require".to_owned(), lines(tests)));
        }
    }
    if let Some(extras) = ini.section("options.extras_require") {
        for entry in &extras.entries {
            out.extras.entry(normalize_dist_name(&entry.key)).or_insert_with(|| lines(&entry.value));
        }
    }
}

/// setup.py, read without running it: the string literals of `install_requires=[...]`,
/// `tests_require=[...]` and the test entries of `extras_require={...}`, and `name="..."`.
fn read_setup_py(text: &str, out: &mut Declared) {
    if out.name.is_none() {
        out.name = keyword_string(text, "name");
    }
    if out.runtime.is_empty() {
        out.runtime.extend(keyword_list(text, "install_requires"));
    }
    let tests = keyword_list(text, "tests_require");
    if !tests.is_empty() {
        out.groups.entry("tests".to_owned()).or_insert_with(|| ("setup.py tests_require".to_owned(), tests));
    }
    if let Some(at) = keyword_at(text, "extras_require")
        && let Some(body) = bracketed(&text[at..], '{', '}')
    {
        let mut rest = body;
        while let Some((key, after)) = next_string(rest) {
            let after = after.trim_start();
            let Some(after) = after.strip_prefix(':') else {
                rest = after;
                continue;
            };
            let Some(list) = bracketed(after, '[', ']') else { break };
            out.extras.entry(normalize_dist_name(&key)).or_insert_with(|| string_literals(list));
            rest = &after[after.find(']').map_or(after.len(), |i| i + 1)..];
        }
    }
}

fn keyword_at(text: &str, keyword: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(found) = text[from..].find(keyword) {
        let at = from + found;
        let before_ok =
            at == 0 || !text[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == '.');
        let after = text[at + keyword.len()..].trim_start();
        if before_ok && (after.starts_with('=') && !after.starts_with("==") || after.starts_with(':')) {
            let value = after[1..].trim_start();
            return Some(text.len() - value.len());
        }
        from = at + keyword.len();
    }
    None
}

fn keyword_string(text: &str, keyword: &str) -> Option<String> {
    let at = keyword_at(text, keyword)?;
    let (value, _) = next_string(&text[at..])?;
    text[at..].trim_start().starts_with(['"', '\'']).then_some(value)
}

fn keyword_list(text: &str, keyword: &str) -> Vec<String> {
    keyword_at(text, keyword)
        .filter(|at| text[*at..].starts_with('['))
        .and_then(|at| bracketed(&text[at..], '[', ']'))
        .map(string_literals)
        .unwrap_or_default()
}

/// The text between `open` at the start of `text` and its matching `close`.
fn bracketed(text: &str, open: char, close: char) -> Option<&str> {
    let text = text.trim_start();
    if !text.starts_with(open) {
        return None;
    }
    let mut depth = 0;
    for (i, c) in text.char_indices() {
        if c == open {
            depth += 1;
        } else if c == close {
            depth -= 1;
            if depth == 0 {
                return Some(&text[1..i]);
            }
        }
    }
    None
}

/// The first string literal in `text` and what follows it.
fn next_string(text: &str) -> Option<(String, &str)> {
    let start = text.find(['"', '\''])?;
    let quote = text[start..].chars().next()?;
    let end = text[start + 1..].find(quote)?;
    Some((text[start + 1..start + 1 + end].to_owned(), &text[start + end + 2..]))
}

fn string_literals(mut text: &str) -> Vec<String> {
    let mut out = Vec::new();
    while let Some((value, rest)) = next_string(text) {
        out.push(value);
        text = rest;
    }
    out
}

#[cfg(test)]
mod tests;
