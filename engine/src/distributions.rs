//! First-party distributions (folders with a `pyproject.toml` holding `[project]`) and the graph between them, inferred from the imports of their files.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::graph::EdgeKind;

use crate::project::Project;
use crate::python::third_party::{normalize_dist_name, requirement_name};

/// A first-party distribution.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Distribution {
    /// Its folder from the root (`""` for the root itself).
    pub folder: String,
    /// `[project] name`.
    pub name: String,
}

impl Distribution {
    /// Its `pyproject.toml` from the root.
    pub fn pyproject(&self) -> String {
        if self.folder.is_empty() {
            "pyproject.toml".to_owned()
        } else {
            format!("{}/pyproject.toml", self.folder)
        }
    }
}

/// The distributions of a project: every `pyproject.toml` with a `[project]` name outside
/// ignored, hidden and virtualenv folders, sorted by folder.
pub fn distributions(project: &Project) -> Vec<Distribution> {
    let walk = crate::vfs::walk_keeping(&project.root, &globset::GlobSet::empty(), &|p| {
        p == "pyproject.toml" || p.ends_with("/pyproject.toml")
    });
    let mut found: Vec<Distribution> = walk
        .other
        .iter()
        .filter_map(|path| {
            let text = std::fs::read_to_string(project.root.join(path)).ok()?;
            let doc = text.parse::<toml::Table>().ok()?;
            let name = doc.get("project")?.get("name")?.as_str()?.to_owned();
            let folder = path.strip_suffix("pyproject.toml")?.trim_end_matches('/').to_owned();
            Some(Distribution { folder, name })
        })
        .collect();
    found.sort_by(|a, b| a.folder.cmp(&b.folder));
    found
}

/// The distribution a spec names, if it names one: its folder (`.` for the root, a
/// trailing `/` allowed) or its `pyproject.toml`.
pub fn named<'a>(all: &'a [Distribution], spec: &str) -> Option<&'a Distribution> {
    let spec = spec.strip_prefix("./").unwrap_or(spec);
    let folder = spec.strip_suffix("pyproject.toml").unwrap_or(spec).trim_end_matches('/');
    let folder = if folder == "." { "" } else { folder };
    all.iter().find(|d| d.folder == folder)
}

/// `path` lies in `folder` (`""`: everywhere), outside its build outputs.
pub fn in_distribution(folder: &str, path: &str) -> bool {
    let rest = if folder.is_empty() {
        Some(path)
    } else {
        path.strip_prefix(folder).and_then(|r| r.strip_prefix('/'))
    };
    rest.is_some_and(|r| !(r.starts_with("dist/") || r.starts_with("build/") || r.contains(".egg-info/")))
}

/// The innermost distribution holding a file.
pub fn owner<'a>(distributions: &'a [Distribution], path: &str) -> Option<&'a Distribution> {
    distributions.iter().filter(|d| in_distribution(&d.folder, path)).max_by_key(|d| d.folder.len())
}

/// One distribution's code imports another's: a file of `from` that does (an import
/// statement rather than a package's `__init__.py` it goes through, then the first in path
/// order), its 1-based line, and the file of `to` it imports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub from: Distribution,
    pub file: String,
    pub line: u32,
    pub imports: String,
    pub to: Distribution,
}

/// The other distributions (of `all`) whose code the files of `from` import directly, one
/// link each, sorted by the importing file.
pub fn links(project: &Project, all: &[Distribution], from: &Distribution) -> Vec<Link> {
    // Per distribution reached: (an Init edge, file, line) to keep the best, and the link.
    let mut found: BTreeMap<String, ((bool, String, u32), Link)> = BTreeMap::new();
    for (id, file) in project.files() {
        if owner(all, &file.path) != Some(from) {
            continue;
        }
        for edge in project.graph().edges(id) {
            let imported = project.path(edge.to);
            let Some(to) = owner(all, imported).filter(|to| *to != from) else { continue };
            let rank = (edge.kind != EdgeKind::Import, file.path.clone(), edge.line);
            let link = Link {
                from: from.clone(),
                file: file.path.clone(),
                line: edge.line + 1,
                imports: imported.to_owned(),
                to: to.clone(),
            };
            match found.entry(to.folder.clone()) {
                Entry::Vacant(slot) => {
                    slot.insert((rank, link));
                }
                Entry::Occupied(mut slot) if rank < slot.get().0 => {
                    slot.insert((rank, link));
                }
                Entry::Occupied(_) => {}
            }
        }
    }
    let mut links: Vec<Link> = found.into_values().map(|(_, link)| link).collect();
    links.sort_by(|a, b| (&a.file, a.line, &a.to).cmp(&(&b.file, b.line, &b.to)));
    links
}

/// The normalized names of a distribution's `[project] dependencies`.
fn declared(project: &Project, dist: &Distribution) -> Vec<String> {
    std::fs::read_to_string(project.root.join(dist.pyproject()))
        .ok()
        .and_then(|text| text.parse::<toml::Table>().ok())
        .and_then(|doc| doc.get("project")?.get("dependencies")?.as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|d| requirement_name(d.as_str()?))
        .map(|n| normalize_dist_name(&n))
        .collect()
}

/// For each of `chosen`, the other distributions whose code its files import directly
/// while its `[project] dependencies` do not name them.
pub fn undeclared(project: &Project, all: &[Distribution], chosen: &[Distribution]) -> Vec<Link> {
    chosen
        .iter()
        .flat_map(|dist| {
            let declared = declared(project, dist);
            links(project, all, dist)
                .into_iter()
                .filter(move |l| !declared.contains(&normalize_dist_name(&l.to.name)))
        })
        .collect()
}

/// The distributions `start` needs (`Dependencies`: whose code its files import) or that
/// need it (`Dependents`), directly or, with `transitive`, through others; each with the
/// link that reached it, nearest first.
pub fn related(
    project: &Project,
    all: &[Distribution],
    start: &Distribution,
    dependents: bool,
    transitive: bool,
) -> Vec<Link> {
    // Every distribution's direct links, once.
    let edges: Vec<Link> = all.iter().flat_map(|d| links(project, all, d)).collect();
    let mut reached: BTreeSet<&Distribution> = BTreeSet::from([start]);
    let mut queue = VecDeque::from([start]);
    let mut found = Vec::new();
    while let Some(at) = queue.pop_front() {
        for link in &edges {
            let (here, next) = if dependents { (&link.to, &link.from) } else { (&link.from, &link.to) };
            if here == at && reached.insert(next) {
                found.push(link.clone());
                if transitive {
                    queue.push_back(next);
                }
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::{Distribution, links, related};
    use crate::config::Config;
    use crate::project::{Project, SourceFile};

    fn dist(folder: &str, name: &str) -> Distribution {
        Distribution { folder: folder.to_owned(), name: name.to_owned() }
    }

    /// Three distributions: the root's `core`, `libs/mid` importing it, `apps/top`
    /// importing `mid` (and `core` only through a package's `__init__.py`).
    fn monorepo() -> (Project, Vec<Distribution>) {
        let config = Config {
            source_roots: Some(vec!["src".into(), "libs/mid/src".into(), "apps/top/src".into()]),
            ..Config::default()
        };
        let options = Project::parse_options(&config);
        let files = [
            ("src/core/__init__.py", ""),
            ("src/core/base.py", "X = 1\n"),
            ("libs/mid/src/mid/__init__.py", ""),
            ("libs/mid/src/mid/use.py", "import os\n\nfrom core.base import X\n"),
            ("apps/top/src/top/__init__.py", "from mid import use\n"),
        ];
        let sources = files.iter().map(|(p, t)| SourceFile::from_bytes(p, t.as_bytes(), options)).collect();
        let project = Project::new(Path::new("/repo"), config, sources, &[]).unwrap();
        (project, vec![dist("", "core"), dist("apps/top", "top"), dist("libs/mid", "mid")])
    }

    fn names(links: &[super::Link], dependents: bool) -> Vec<&str> {
        links.iter().map(|l| if dependents { l.from.name.as_str() } else { l.to.name.as_str() }).collect()
    }

    #[test]
    fn a_link_names_the_import_statement_and_its_line() {
        let (project, all) = monorepo();
        let found = links(&project, &all, &all[2]);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!((found[0].file.as_str(), found[0].line), ("libs/mid/src/mid/use.py", 3));
        assert_eq!(found[0].imports, "src/core/base.py");
    }

    #[test]
    fn distributions_are_related_directly_or_through_others() {
        let (project, all) = monorepo();
        let top = &all[1];
        assert_eq!(names(&related(&project, &all, top, false, false), false), ["mid"]);
        assert_eq!(names(&related(&project, &all, top, false, true), false), ["mid", "core"]);
        assert_eq!(names(&related(&project, &all, &all[0], true, false), true), ["mid"]);
        assert_eq!(names(&related(&project, &all, &all[0], true, true), true), ["mid", "top"]);
    }
}
