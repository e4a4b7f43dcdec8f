//! The files besides a test's import closure that its sandbox holds: every `__init__.py` on the package path of each file (they decide module names), data under the test's own test folder, package data of the first-party packages in its closure (ignored build outputs too), `[tool.pleat.resources]` globs and non-Python `[tool.pleat.dependencies]` entries; folders listed honouring .gitignore, each once per goal.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use crate::project::Project;
use crate::vfs;

/// Folder names that mark a test tree (`tests/`, `src/pkg/test/`).
const TEST_FOLDERS: &[&str] = &["tests", "test", "testing"];

/// Lists a goal's resources; folder listings are shared between the goal's tests.
pub struct Resources<'a> {
    project: &'a Project,
    exclude: globset::GlobSet,
    listings: Mutex<HashMap<String, std::sync::Arc<Vec<String>>>>,
}

impl<'a> Resources<'a> {
    pub fn new(project: &'a Project) -> Self {
        let exclude = vfs::glob_set(&project.config.exclude, "exclude").unwrap_or_default();
        Self { project, exclude, listings: Mutex::new(HashMap::new()) }
    }

    /// The `__init__.py` and `__init__.pyi` files of every package on the path of each of
    /// `files` (also when empty or comment-only, which the import graph leaves out under
    /// `content_only`; a stub `__init__.pyi` makes a package for mypy, which names a module it
    /// is given by crawling up through them).
    pub fn package_inits(&self, files: &[String]) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for file in files {
            let mut dir = vfs::parent(file);
            while !dir.is_empty() {
                let inits: Vec<String> = ["__init__.py", "__init__.pyi"]
                    .into_iter()
                    .map(|name| vfs::join(dir, name))
                    .filter(|init| self.project.id(init).is_some())
                    .collect();
                let before = out.len();
                out.extend(inits.iter().cloned());
                if inits.is_empty() || out.len() == before {
                    break; // not a package, or its ancestors are in already
                }
                dir = vfs::parent(dir);
            }
        }
        out
    }

    /// The non-Python files a test's sandbox holds, given the test file and its closure.
    pub fn for_test(&self, test: &str, closure: &[String]) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        // Asset inference, as Pants does: string literals of the test file that name an
        // existing repository file or folder (from the root or from the test's folder).
        if let Ok(text) = std::fs::read(self.project.root.join(test)) {
            for literal in path_literals(&text) {
                for dir in ["", vfs::parent(test)] {
                    if let Some(candidate) = vfs::join_normalized(dir, literal) {
                        self.add_path(&candidate, false, &mut out);
                    }
                }
            }
        }
        let folder = test_folder(test);
        if folder.is_empty() {
            // A test at the root: its neighbours only, never the whole repository.
            out.extend(self.listing("").iter().filter(|f| !f.contains('/') && !vfs::is_python(f)).cloned());
        } else {
            let listing = self.listing(folder);
            // Folders of the test tree that hold data: their Python files are fixtures too
            // (jinja2's tests/res/__init__.py, imported by a PackageLoader from sys.path),
            // unless the graph knows them as tests or conftests.
            let data_dirs: BTreeSet<&str> = listing
                .iter()
                .filter(|f| !vfs::is_python(f))
                .map(|f| vfs::parent(f))
                .filter(|d| *d != folder)
                .collect();
            out.extend(
                listing
                    .iter()
                    .filter(|f| {
                        !vfs::is_python(f) || (data_dirs.contains(vfs::parent(f)) && self.is_plain_source(f))
                    })
                    .cloned(),
            );
        }
        let mut packages: BTreeSet<&str> = BTreeSet::new();
        for file in closure {
            let dir = vfs::parent(file);
            if !dir.is_empty() && self.is_package(dir) {
                packages.insert(dir);
            }
        }
        for package in packages {
            // .gitignore aside: what a package folder holds beside its sources is what an
            // import of it sees in a plain run — build outputs included (humanize's compiled
            // `.mo` catalogues, an extension module built in place).
            let data = self.listing_with(package, false);
            out.extend(
                data.iter().filter(|f| !vfs::is_python(f) && !self.in_subpackage(package, f)).cloned(),
            );
        }
        let config = &self.project.config;
        // `[tool.pleat.dependencies]` entries that name data, for any file of the closure.
        for (pattern, list) in &config.dependencies {
            let Ok(matcher) = vfs::glob(pattern, "dependencies") else { continue };
            if closure.iter().any(|f| matcher.is_match(f)) {
                for path in list.iter().filter(|p| !p.starts_with('!')) {
                    self.add_path(path, true, &mut out);
                }
            }
        }
        // `[tool.pleat.resources]`: test-file glob → resource globs or paths.
        for (pattern, list) in &config.resources {
            let Ok(matcher) = vfs::glob(pattern, "resources") else { continue };
            if !matcher.is_match(test) {
                continue;
            }
            for item in list {
                if item.contains(['*', '?', '[']) {
                    let Ok(glob) = vfs::glob(item, "resources") else { continue };
                    // Listed from the glob's fixed leading folders, .gitignore aside: the
                    // configuration names these files on purpose.
                    let fixed: Vec<&str> =
                        item.split('/').take_while(|p| !p.contains(['*', '?', '['])).collect();
                    let base = fixed[..fixed.len().min(item.split('/').count() - 1)].join("/");
                    out.extend(
                        self.listing_with(&base, false).iter().filter(|f| glob.is_match(f.as_str())).cloned(),
                    );
                } else {
                    self.add_path(item, true, &mut out);
                }
            }
        }
        out
    }

    /// A repository file, or every non-Python file under a folder.
    fn add_path(&self, path: &str, explicit: bool, out: &mut BTreeSet<String>) {
        // Only clean repository-relative paths reach a tree (`tests/../LICENSE` is `LICENSE`).
        let Some(path) = vfs::join_normalized("", path).filter(|p| !p.is_empty()) else { return };
        let path = path.as_str();
        let full = self.project.root.join(path);
        if full.is_dir() {
            out.extend(self.listing_with(path, !explicit).iter().filter(|f| !vfs::is_python(f)).cloned());
        } else if full.is_file() && !vfs::is_python(path) {
            out.insert(path.to_owned());
        }
    }

    /// A Python file the graph holds as plain source (not a test, conftest or stub), or
    /// one it does not hold at all.
    fn is_plain_source(&self, path: &str) -> bool {
        self.project
            .id(path)
            .and_then(|id| self.project.file(id))
            .is_none_or(|f| f.kind == crate::project::TargetKind::Source)
    }

    fn is_package(&self, dir: &str) -> bool {
        self.project.id(&vfs::join(dir, "__init__.py")).is_some()
    }

    /// Whether `file` (under `package`) lies in a nested package, whose data comes with
    /// that package when it is in the closure.
    fn in_subpackage(&self, package: &str, file: &str) -> bool {
        let mut dir = vfs::parent(file);
        while dir.len() > package.len() {
            if self.is_package(dir) {
                return true;
            }
            dir = vfs::parent(dir);
        }
        false
    }

    /// Files under `dir` (recursively, compiled bytecode left out), honouring .gitignore
    /// and `exclude`.
    fn listing(&self, dir: &str) -> std::sync::Arc<Vec<String>> {
        self.listing_with(dir, true)
    }

    /// Files under `dir`, also those .gitignore leaves out when `honour_ignore` is false
    /// (what the configuration names explicitly: build outputs such as compiled catalogues).
    fn listing_with(&self, dir: &str, honour_ignore: bool) -> std::sync::Arc<Vec<String>> {
        let key = format!("{}{dir}", if honour_ignore { "" } else { "!" });
        if let Some(found) = self.listings.lock().ok().and_then(|l| l.get(&key).cloned()) {
            return found;
        }
        let root = &self.project.root;
        let mut files = Vec::new();
        let walker = ignore::WalkBuilder::new(root.join(dir))
            .hidden(true)
            .git_ignore(honour_ignore)
            .git_exclude(honour_ignore)
            .git_global(false)
            .require_git(false)
            .parents(honour_ignore)
            .follow_links(false)
            .filter_entry(|e| {
                let is_dir = e.file_type().is_some_and(|t| t.is_dir());
                !(is_dir && e.depth() > 0 && vfs::skipped_dir(&e.file_name().to_string_lossy(), e.path()))
            })
            .build();
        for entry in walker.flatten() {
            if !entry.file_type().is_some_and(|t| t.is_file()) {
                continue;
            }
            let Some(rel) = vfs::relative(root, entry.path()) else { continue };
            if !rel.ends_with(".pyc") && !self.exclude.is_match(&rel) {
                files.push(rel);
            }
        }
        files.sort();
        let files = std::sync::Arc::new(files);
        if let Ok(mut listings) = self.listings.lock() {
            listings.insert(key, std::sync::Arc::clone(&files));
        }
        files
    }
}

/// Quoted literals of a Python source that look like relative paths: one line, no spaces,
/// holding a `/` or a file extension, short.
fn path_literals(text: &[u8]) -> Vec<&str> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < text.len() {
        let quote = text[i];
        if quote == b'"' || quote == b'\'' {
            let start = i + 1;
            let end =
                text[start..].iter().take(200).position(|b| *b == quote || *b == b'\n').map(|n| start + n);
            if let Some(end) = end.filter(|e| text[*e] == quote) {
                if let Ok(literal) = std::str::from_utf8(&text[start..end])
                    && !literal.is_empty()
                    && !literal.contains([' ', '\\', '{', '%', ':', '*'])
                    && !literal.starts_with('/')
                    && (literal.contains('/')
                        || literal.rsplit_once('.').is_some_and(|(stem, ext)| {
                            !stem.is_empty()
                                && (1..=5).contains(&ext.len())
                                && ext.chars().all(|c| c.is_ascii_alphanumeric())
                                && ext.chars().any(|c| c.is_ascii_alphabetic())
                        }))
                {
                    out.push(literal);
                }
                i = end + 1;
                continue;
            }
        }
        i += 1;
    }
    out
}

/// The test tree a test file belongs to: its outermost ancestor folder named `tests`,
/// `test` or `testing`, else its own folder.
pub fn test_folder(test: &str) -> &str {
    let mut found = None;
    let mut dir = vfs::parent(test);
    while !dir.is_empty() {
        if TEST_FOLDERS.contains(&vfs::file_name(dir)) {
            found = Some(dir);
        }
        dir = vfs::parent(dir);
    }
    found.unwrap_or_else(|| vfs::parent(test))
}

#[cfg(test)]
mod tests {
    use super::test_folder;

    #[test]
    fn path_literals_look_like_files() {
        let text = br#"open("data/x.json"); load('schema.yml'); s = "a b.c"; u = "https://x/y"; f"{x}.txt"; v = "1.5""#;
        assert_eq!(super::path_literals(text), ["data/x.json", "schema.yml"]);
    }

    #[test]
    fn test_folders() {
        assert_eq!(test_folder("tests/unit/test_a.py"), "tests");
        assert_eq!(test_folder("src/dateutil/test/test_tz.py"), "src/dateutil/test");
        assert_eq!(test_folder("pkg/test_a.py"), "pkg");
        assert_eq!(test_folder("test_a.py"), "");
    }
}
