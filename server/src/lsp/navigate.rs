//! Navigation on imports: hover (what an import resolves to and how many files import it), go to definition and document links to the imported file.

use engine::graph::EdgeKind;
use engine::python::imports::{Import, TextRange};
use engine::python::resolve::FileDeps;
use tower_lsp_server::ls_types::{
    DocumentLink, Hover, HoverContents, Location, MarkupContent, MarkupKind, Position, Range, Uri,
};

use super::state::State;
use super::text::Text;

/// An import under the cursor, resolved on its own.
struct Target<'s> {
    index: usize,
    text: Text<'s>,
    import: Import,
    /// The part under the cursor: the module name, or one imported name.
    range: TextRange,
    /// Set when the cursor is on a name of `from a import b` and `a.b` is a module.
    name: Option<String>,
    deps: FileDeps,
}

/// The text of an open document, else of the file on disk.
fn text_of<'s>(state: &'s State, uri: &Uri) -> Option<Text<'s>> {
    if let Some(doc) = state.documents.get(uri) {
        return Some(doc.text.view());
    }
    let bytes = std::fs::read(uri.to_file_path()?).ok()?;
    String::from_utf8(bytes).ok().map(Text::owned)
}

fn target<'s>(state: &'s State, uri: &Uri, at: Position) -> Option<Target<'s>> {
    let (index, path) = state.locate_uri(uri)?;
    let project = &state.workspaces[index].project;
    let id = project.id(&path)?;
    let text = text_of(state, uri)?;
    let offset = u32::try_from(text.offset(at)).ok()?;
    let inside = |r: &TextRange| r.start_byte <= offset && offset <= r.end_byte;
    let parsed = &project.file(id)?.parsed;
    for import in &parsed.imports {
        let name = import.names.iter().find(|n| inside(&n.range));
        if !inside(&import.range) && name.is_none() {
            continue;
        }
        let deps = project.resolve_import(id, import);
        let (range, name) = match name {
            Some(n) => (n.range, Some(n.name.clone())),
            None => (import.range, None),
        };
        return Some(Target { index, text, import: import.clone(), range, name, deps });
    }
    None
}

/// The files an import leads to: the imported name's module when the cursor is on one,
/// else every module the import statement resolves to.
fn files(state: &State, target: &Target<'_>) -> Vec<engine::graph::FileId> {
    let project = &state.workspaces[target.index].project;
    let imports: Vec<_> =
        target.deps.edges.iter().filter(|e| e.kind == EdgeKind::Import).map(|e| e.to).collect();
    if let Some(name) = &target.name {
        let suffix = format!(".{name}");
        let named: Vec<_> = imports
            .iter()
            .copied()
            .filter(|to| project.module(*to).is_some_and(|m| m.ends_with(&suffix) || m == name))
            .collect();
        if !named.is_empty() {
            return named;
        }
    }
    imports
}

pub fn hover(state: &State, uri: &Uri, at: Position) -> Option<Hover> {
    let target = target(state, uri, at)?;
    let project = &state.workspaces[target.index].project;
    let dots = ".".repeat(target.import.level as usize);
    let module = match &target.name {
        Some(name) if target.import.module.is_empty() => format!("{dots}{name}"),
        Some(name) => format!("{dots}{}.{name}", target.import.module),
        None => format!("{dots}{}", target.import.module),
    };
    let mut lines = Vec::new();
    for to in files(state, &target) {
        let importers = project.dependents(&[to], false).len();
        let plural = if importers == 1 { "" } else { "s" };
        lines.push(format!("`{module}` → `{}` (imported by {importers} file{plural})", project.path(to)));
    }
    for requirement in &target.deps.third_party {
        lines.push(format!(
            "`{module}`: third-party, distribution `{}` declared in `{}`",
            requirement.name, requirement.declared_in
        ));
    }
    for finding in &target.deps.findings {
        lines.push(finding.message.clone());
    }
    if lines.is_empty() {
        lines.push(format!("`{module}`: standard library or not tracked"));
    }
    Some(Hover {
        contents: HoverContents::Markup(MarkupContent {
            kind: MarkupKind::Markdown,
            value: lines.join("\n\n"),
        }),
        range: Some(target.text.range(&target.range)),
    })
}

pub fn definition(state: &State, uri: &Uri, at: Position) -> Vec<Location> {
    let Some(target) = target(state, uri, at) else { return Vec::new() };
    files(state, &target)
        .into_iter()
        .filter_map(|to| {
            let uri = state.uri_of(target.index, state.workspaces[target.index].project.path(to))?;
            Some(Location { uri, range: Range::default() })
        })
        .collect()
}

/// A link on every import's module name (and on imported names that are modules).
pub fn links(state: &State, uri: &Uri) -> Vec<DocumentLink> {
    let Some((index, path)) = state.locate_uri(uri) else { return Vec::new() };
    let project = &state.workspaces[index].project;
    let (Some(id), Some(text)) = (project.id(&path), text_of(state, uri)) else { return Vec::new() };
    let Some(file) = project.file(id) else { return Vec::new() };
    let mut out = Vec::new();
    for import in &file.parsed.imports {
        let deps = project.resolve_import(id, import);
        let targets: Vec<_> =
            deps.edges.iter().filter(|e| e.kind == EdgeKind::Import).map(|e| e.to).collect();
        let link = |range: &TextRange, to| {
            Some(DocumentLink {
                range: text.range(range),
                target: state.uri_of(index, project.path(to)),
                tooltip: Some(project.path(to).to_owned()),
                data: None,
            })
        };
        let mut module_target = None;
        for to in targets {
            let module = project.module(to).unwrap_or("");
            match import.names.iter().find(|n| module.ends_with(&format!(".{}", n.name)) || module == n.name)
            {
                Some(name) if import.level > 0 || !import.module.is_empty() => {
                    out.extend(link(&name.range, to));
                }
                _ => module_target = module_target.or(Some(to)),
            }
        }
        if let Some(to) = module_target {
            out.extend(link(&import.range, to));
        }
    }
    out
}
