//! The target graph: one node per file, edges with the line that caused them, the reverse index, and the queries (closures, shortest paths, cycles), updated one file at a time.

use std::collections::VecDeque;

/// A file's stable number in a project. Ids of removed files are not reused within a
/// project's life, so an id held by a caller never silently names another file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FileId(pub u32);

impl FileId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// Why an edge exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EdgeKind {
    /// An import statement (or a dynamic or string import).
    Import,
    /// The `__init__.py` of a package an import goes through.
    Init,
    /// A `conftest.py` that pytest loads for a test file.
    Conftest,
    /// Declared in `[tool.pleat.dependencies]`.
    Explicit,
}

/// One dependency of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Edge {
    pub to: FileId,
    pub kind: EdgeKind,
    /// 0-based line of the import that caused the edge (0 for conftest and explicit edges).
    pub line: u32,
    /// Every import behind this edge is under `if TYPE_CHECKING:`.
    pub type_only: bool,
    /// Every import behind this edge is guarded by an ImportError handler.
    pub weak: bool,
    /// Every import behind this edge runs later than the module's own import (inside a
    /// function, or a string naming a module): it cannot close an import-time cycle.
    pub deferred: bool,
}

impl Edge {
    /// Followed when the importing module itself is imported (not deferred, not only for
    /// type checkers): the edges an import-time cycle is made of.
    pub fn eager(&self) -> bool {
        !self.deferred && !self.type_only
    }
}

/// Direct edges and the reverse index.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Graph {
    /// Per file, sorted by target, one edge per target.
    deps: Vec<Vec<Edge>>,
    /// Per file, the files that depend on it, sorted.
    rdeps: Vec<Vec<FileId>>,
}

impl Graph {
    fn ensure(&mut self, id: FileId) {
        let need = id.index() + 1;
        if self.deps.len() < need {
            self.deps.resize_with(need, Vec::new);
            self.rdeps.resize_with(need, Vec::new);
        }
    }

    /// Replaces the edges of `from`, updating the reverse index by difference.
    /// Several edges to one target merge into one: the earliest line (the earliest eager
    /// one when there is one), and `type_only` / `weak` / `deferred` only if every one of
    /// them is.
    #[allow(clippy::many_single_char_names)] // a two-list merge reads best with i, j, a, b
    pub fn set_edges(&mut self, from: FileId, mut edges: Vec<Edge>) {
        self.ensure(from);
        for edge in &edges {
            self.ensure(edge.to);
        }
        edges.retain(|e| e.to != from);
        edges.sort_by_key(|e| (e.to, !e.eager(), e.line, e.kind));
        let mut merged: Vec<Edge> = Vec::with_capacity(edges.len());
        for edge in edges {
            match merged.last_mut() {
                Some(last) if last.to == edge.to => {
                    last.type_only &= edge.type_only;
                    last.weak &= edge.weak;
                    last.deferred &= edge.deferred;
                }
                _ => merged.push(edge),
            }
        }
        let old = std::mem::take(&mut self.deps[from.index()]);
        let (mut i, mut j) = (0, 0);
        while i < old.len() || j < merged.len() {
            let a = old.get(i).map(|e| e.to);
            let b = merged.get(j).map(|e| e.to);
            match (a, b) {
                (Some(x), Some(y)) if x == y => {
                    i += 1;
                    j += 1;
                }
                (Some(x), Some(y)) if x < y => {
                    remove_sorted(&mut self.rdeps[x.index()], from);
                    i += 1;
                }
                (Some(x), None) => {
                    remove_sorted(&mut self.rdeps[x.index()], from);
                    i += 1;
                }
                (_, Some(y)) => {
                    insert_sorted(&mut self.rdeps[y.index()], from);
                    j += 1;
                }
                (None, None) => break,
            }
        }
        self.deps[from.index()] = merged;
    }

    /// Removes a node's outgoing edges (its incoming ones belong to other files and are
    /// replaced when those are re-resolved).
    pub fn clear(&mut self, id: FileId) {
        if id.index() < self.deps.len() {
            self.set_edges(id, Vec::new());
        }
    }

    /// Direct dependencies of a file.
    pub fn edges(&self, id: FileId) -> &[Edge] {
        self.deps.get(id.index()).map_or(&[], Vec::as_slice)
    }

    /// Direct dependents of a file.
    pub fn dependents_of(&self, id: FileId) -> &[FileId] {
        self.rdeps.get(id.index()).map_or(&[], Vec::as_slice)
    }

    /// Files reachable from `start` (excluding the start files themselves unless reached
    /// through a cycle), sorted.
    pub fn transitive_dependencies(&self, start: &[FileId]) -> Vec<FileId> {
        self.closure(start, |id| self.edges(id).iter().map(|e| e.to))
    }

    /// Files from which `start` is reachable, sorted.
    pub fn transitive_dependents(&self, start: &[FileId]) -> Vec<FileId> {
        self.closure(start, |id| self.dependents_of(id).iter().copied())
    }

    fn closure<I: Iterator<Item = FileId>>(
        &self,
        start: &[FileId],
        next: impl Fn(FileId) -> I,
    ) -> Vec<FileId> {
        let mut seen = vec![false; self.deps.len()];
        let mut out = Vec::new();
        let mut stack: Vec<FileId> = start.to_vec();
        while let Some(id) = stack.pop() {
            for n in next(id) {
                if let Some(flag) = seen.get_mut(n.index())
                    && !*flag
                {
                    *flag = true;
                    out.push(n);
                    stack.push(n);
                }
            }
        }
        out.sort();
        out
    }

    /// The shortest import chain from `from` to `to`: each hop is (importer, edge).
    pub fn path(&self, from: FileId, to: FileId) -> Option<Vec<(FileId, Edge)>> {
        self.path_along(from, to, |_| true)
    }

    /// [`Self::path`] over only the edges `follow` accepts (an import-time cycle follows
    /// only [`Edge::eager`] ones).
    pub fn path_along(
        &self,
        from: FileId,
        to: FileId,
        follow: impl Fn(&Edge) -> bool,
    ) -> Option<Vec<(FileId, Edge)>> {
        if from == to {
            return Some(Vec::new());
        }
        let mut previous: Vec<Option<(FileId, Edge)>> = vec![None; self.deps.len()];
        let mut queue = VecDeque::from([from]);
        let mut seen = vec![false; self.deps.len()];
        *seen.get_mut(from.index())? = true;
        while let Some(id) = queue.pop_front() {
            for edge in self.edges(id) {
                if seen[edge.to.index()] || !follow(edge) {
                    continue;
                }
                seen[edge.to.index()] = true;
                previous[edge.to.index()] = Some((id, *edge));
                if edge.to == to {
                    let mut hops = Vec::new();
                    let mut at = to;
                    while let Some((prev, edge)) = previous[at.index()] {
                        hops.push((prev, edge));
                        at = prev;
                    }
                    hops.reverse();
                    return Some(hops);
                }
                queue.push_back(edge.to);
            }
        }
        None
    }

    /// Import cycles: strongly connected components with more than one file, each sorted,
    /// the list sorted (Tarjan's algorithm, iterative).
    pub fn cycles(&self) -> Vec<Vec<FileId>> {
        let n = self.deps.len();
        let mut index = vec![u32::MAX; n];
        let mut low = vec![0u32; n];
        let mut on_stack = vec![false; n];
        let mut stack = Vec::new();
        let mut next_index = 0u32;
        let mut out = Vec::new();
        for start in 0..n {
            if index[start] != u32::MAX {
                continue;
            }
            // Frames: (node, position in its edge list).
            let mut frames = vec![(start, 0usize)];
            index[start] = next_index;
            low[start] = next_index;
            next_index += 1;
            stack.push(start);
            on_stack[start] = true;
            while let Some(&mut (v, ref mut pos)) = frames.last_mut() {
                if let Some(edge) = self.deps[v].get(*pos) {
                    *pos += 1;
                    let w = edge.to.index();
                    if index[w] == u32::MAX {
                        index[w] = next_index;
                        low[w] = next_index;
                        next_index += 1;
                        stack.push(w);
                        on_stack[w] = true;
                        frames.push((w, 0));
                    } else if on_stack[w] {
                        low[v] = low[v].min(index[w]);
                    }
                } else {
                    frames.pop();
                    if let Some(&(parent, _)) = frames.last() {
                        low[parent] = low[parent].min(low[v]);
                    }
                    if low[v] == index[v] {
                        let mut component = Vec::new();
                        while let Some(w) = stack.pop() {
                            on_stack[w] = false;
                            component.push(FileId(w as u32));
                            if w == v {
                                break;
                            }
                        }
                        if component.len() > 1 {
                            component.sort();
                            out.push(component);
                        }
                    }
                }
            }
        }
        out.sort();
        out
    }
}

fn insert_sorted(list: &mut Vec<FileId>, id: FileId) {
    if let Err(at) = list.binary_search(&id) {
        list.insert(at, id);
    }
}

fn remove_sorted(list: &mut Vec<FileId>, id: FileId) {
    if let Ok(at) = list.binary_search(&id) {
        list.remove(at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edge(to: u32, line: u32) -> Edge {
        Edge { to: FileId(to), kind: EdgeKind::Import, line, type_only: false, weak: false, deferred: false }
    }

    fn chain() -> Graph {
        // 0 → 1 → 2 → 3, 0 → 3, 4 → 1, 2 → 1 (cycle 1-2)
        let mut g = Graph::default();
        g.set_edges(FileId(0), vec![edge(1, 3), edge(3, 5)]);
        g.set_edges(FileId(1), vec![edge(2, 1)]);
        g.set_edges(FileId(2), vec![edge(3, 2), edge(1, 7)]);
        g.set_edges(FileId(4), vec![edge(1, 0)]);
        g
    }

    #[test]
    fn closures_and_reverse_index() {
        let g = chain();
        assert_eq!(g.dependents_of(FileId(1)), [FileId(0), FileId(2), FileId(4)]);
        assert_eq!(g.transitive_dependencies(&[FileId(1)]), [FileId(1), FileId(2), FileId(3)]);
        assert_eq!(g.transitive_dependents(&[FileId(3)]), [FileId(0), FileId(1), FileId(2), FileId(4)]);
    }

    #[test]
    fn replacing_edges_updates_the_reverse_index() {
        let mut g = chain();
        g.set_edges(FileId(0), vec![edge(2, 1), edge(2, 9), edge(0, 1)]);
        assert_eq!(g.edges(FileId(0)), [edge(2, 1)]);
        assert_eq!(g.dependents_of(FileId(1)), [FileId(2), FileId(4)]);
        assert_eq!(g.dependents_of(FileId(3)), [FileId(2)]);
        assert_eq!(g.dependents_of(FileId(2)), [FileId(0), FileId(1)]);
        g.clear(FileId(0));
        assert_eq!(g.dependents_of(FileId(2)), [FileId(1)]);
    }

    #[test]
    fn merged_edges_keep_the_first_eager_line_and_flags_only_if_all_agree() {
        let mut g = Graph::default();
        let typed = Edge { type_only: true, ..edge(1, 4) };
        let later = Edge { deferred: true, ..edge(1, 2) };
        g.set_edges(FileId(0), vec![typed, edge(1, 9), later, edge(1, 12)]);
        assert_eq!(g.edges(FileId(0)), [edge(1, 9)]);
        let only_deferred = Edge { deferred: true, weak: true, ..edge(2, 3) };
        g.set_edges(FileId(0), vec![Edge { deferred: true, ..edge(2, 7) }, only_deferred]);
        assert_eq!(g.edges(FileId(0)), [Edge { deferred: true, ..edge(2, 3) }]);
    }

    #[test]
    fn a_path_along_eager_edges_skips_deferred_ones() {
        let mut g = chain();
        g.set_edges(FileId(2), vec![edge(3, 2), Edge { deferred: true, ..edge(1, 7) }]);
        assert!(g.path(FileId(2), FileId(1)).is_some());
        assert_eq!(g.path_along(FileId(2), FileId(1), Edge::eager), None);
        assert_eq!(g.path_along(FileId(0), FileId(2), Edge::eager).map(|p| p.len()), Some(2));
    }

    #[test]
    fn shortest_paths_and_cycles() {
        let g = chain();
        let path = g.path(FileId(0), FileId(3)).unwrap();
        assert_eq!(path, vec![(FileId(0), edge(3, 5))]);
        let path = g.path(FileId(4), FileId(3)).unwrap();
        assert_eq!(path.iter().map(|(f, e)| (f.0, e.to.0)).collect::<Vec<_>>(), [(4, 1), (1, 2), (2, 3)]);
        assert!(g.path(FileId(3), FileId(0)).is_none());
        assert_eq!(g.cycles(), vec![vec![FileId(1), FileId(2)]]);
    }
}
