#!/usr/bin/env python3
# Owns: the edge comparison of the graph benchmark (bench/graph.sh): `pleat graph --format json`
# against `ruff analyze graph` on the same tree, first-party edges only, with every difference
# traced back to the import statement (or its absence) in the source and sorted into classes.
"""Compare two import graphs of the same tree: Pleat's and ruff's.

Both inputs are JSON objects mapping a file path to the list of file paths it depends on
(the shape of `ruff analyze graph` and `pleat graph --format json`). Paths are normalised to
be relative to --root; only first-party edges count: both ends are .py/.pyi files in the tree,
and self-edges are dropped.

Each edge found by one tool only is classified by looking at the importing file with Python's
own `ast` module (stdlib only, so this runs without a venv):

  statement          a plain top-level import names the target module; one tool misses it
                     (", path not a Python name" when a folder on the way is a keyword such
                     as `async/`, or no identifier: importable with importlib and relative
                     imports, not with an `import` statement)
  type-checking      the import is inside `if TYPE_CHECKING:`
  conditional        the import is inside another `if` block
  try-except         the import is inside `try:` / `except:`
  function-local     the import is inside a function or method
  ancestor-__init__  the target is the `__init__.py` of a package the statement goes through
                     (`import a.b.c` or `from a.b import c` also runs a/__init__.py, a/b/__init__.py)
  from-package       `from pkg import sub` where every name is a submodule: the target is
                     pkg/__init__.py, which runs first (a name that is no submodule makes
                     pkg/__init__.py the module imported, and the edge a plain "statement")
  string: F()        no import statement names the target; the first argument of a call
                     to F does (`import_module("a.b")`, `mock.patch("a.b.c")`)
  string             no import statement or call names the target, another string literal
                     does (docstring, settings list, `--detect-string-imports` territory)
  syntax-error       the importing file does not parse
  unexplained        nothing in the file names the target module

With --source-root (repeatable; default "."), absolute imports are resolved against those
roots, as both tools were configured.

Exit status is 0 unless --fail-on-missing is given and ruff has first-party edges that Pleat
lacks in a class other than those listed with --allow.
"""

from __future__ import annotations

import argparse
import ast
import collections
import json
import keyword
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

PY_SUFFIXES = (".py", ".pyi")


def load_graph(path: Path, root: Path) -> dict[str, set[str]]:
    """Reads a file → [deps] JSON map and normalises every path to be root-relative, '/'-separated."""
    raw = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(raw, dict):
        sys.exit(f"{path}: expected a JSON object mapping files to lists of files")
    root_abs = root.resolve()

    def norm(p: str) -> str:
        q = Path(p)
        if q.is_absolute():
            try:
                q = q.resolve().relative_to(root_abs)
            except ValueError:
                return q.as_posix()  # outside the tree: kept, and filtered out later
        s = q.as_posix()
        while s.startswith("./"):
            s = s[2:]
        return s

    graph: dict[str, set[str]] = {}
    for src, deps in raw.items():
        graph.setdefault(norm(src), set()).update(norm(d) for d in deps)
    return graph


def tree_files(root: Path) -> set[str]:
    """Every .py/.pyi file under root, root-relative."""
    out = set()
    for dirpath, _dirnames, filenames in os.walk(root):
        for name in filenames:
            if name.endswith(PY_SUFFIXES):
                out.add((Path(dirpath) / name).relative_to(root).as_posix())
    return out


def first_party_edges(graph: dict[str, set[str]], files: set[str]) -> set[tuple[str, str]]:
    return {(s, d) for s, deps in graph.items() if s in files for d in deps if d in files and d != s}


# ---------------------------------------------------------------------------------------------
# Tracing an edge back to its import statement.


@dataclass
class Import:
    """One import statement, with where it sits and the module paths it can refer to."""

    line: int
    text: str
    context: str  # "", "type-checking", "conditional", "try-except", "function-local"
    # candidate target → how the statement reaches it ("module", "ancestor", "from-package")
    targets: dict[str, str] = field(default_factory=dict)


def module_files(base: Path, parts: list[str]) -> list[str]:
    """The files a dotted module (as path parts under base) can be: a module or a package."""
    p = base.joinpath(*parts) if parts else base
    return [
        p.with_name(p.name + ".py").as_posix(),
        p.with_name(p.name + ".pyi").as_posix(),
        (p / "__init__.py").as_posix(),
        (p / "__init__.pyi").as_posix(),
    ]


def norm_path(p: Path) -> str:
    return os.path.normpath(p.as_posix()).replace(os.sep, "/")


class FileImports:
    """The import statements of one file, found with `ast`, plus its string literals."""

    def __init__(self, root: Path, rel: str, source_roots: list[str]):
        self.rel = rel
        self.imports: list[Import] = []
        self.strings: list[tuple[int, str]] = []
        self.call_strings: list[tuple[int, str, str]] = []
        self.syntax_error: str | None = None
        self.root = root
        path = root / rel
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError as e:
            self.syntax_error = str(e)
            return
        self.lines = text.splitlines()
        try:
            tree = ast.parse(text, filename=rel)
        except SyntaxError as e:
            self.syntax_error = f"{e.msg} (line {e.lineno})"
            return
        self.source_roots = [Path(r) for r in source_roots]
        self._walk(tree, "")

    def _statement_text(self, node: ast.stmt) -> str:
        end = getattr(node, "end_lineno", node.lineno) or node.lineno
        text = " ".join(line.strip() for line in self.lines[node.lineno - 1 : end])
        return text if len(text) <= 140 else text[:137] + "..."

    def _walk(self, node: ast.AST, context: str) -> None:
        for child in ast.iter_child_nodes(node):
            ctx = context
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                ctx = "function-local"
            elif isinstance(child, ast.If) and not ctx:
                test = ast.unparse(child.test)
                ctx = "type-checking" if "TYPE_CHECKING" in test else "conditional"
            elif isinstance(child, (ast.Try, getattr(ast, "TryStar", ast.Try))) and not ctx:
                ctx = "try-except"
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                self._add_import(child, ctx)
            elif isinstance(child, ast.Call) and child.args:
                first = child.args[0]
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    # `import_module("a.b")`, `__import__("a.b")`, `mock.patch("a.b.c")`, ...
                    self.call_strings.append((first.lineno, first.value, ast.unparse(child.func)))
            elif isinstance(child, ast.Constant) and isinstance(child.value, str):
                self.strings.append((child.lineno, child.value))
            self._walk(child, ctx)

    def _bases(self, level: int) -> list[Path]:
        """Where a module path starts: every source root, or the importer's package."""
        if level == 0:
            return list(self.source_roots)
        base = Path(self.rel).parent
        for _ in range(level - 1):
            base = base.parent
        return [base]

    def _add_import(self, node: ast.Import | ast.ImportFrom, context: str) -> None:
        imp = Import(node.lineno, self._statement_text(node), context)

        def add(files: list[str], how: str) -> None:
            for f in files:
                f = norm_path(Path(f))
                # a stronger reason wins: module > from-package > ancestor
                if f not in imp.targets or how == "module":
                    imp.targets[f] = how

        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                for base in self._bases(0):
                    for i in range(1, len(parts)):
                        add(module_files(base, parts[:i]), "ancestor")
                    add(module_files(base, parts), "module")
        else:
            parts = node.module.split(".") if node.module else []
            if node.level:
                # A relative import goes through the importer's own package and its parents.
                pkg = Path(self.rel).parent
                while pkg != Path("."):
                    add(module_files(pkg.parent, [pkg.name]), "ancestor")
                    pkg = pkg.parent
            for base in self._bases(node.level):
                for i in range(1, len(parts)):
                    add(module_files(base, parts[:i]), "ancestor")
                # `from pkg import name`: names that are submodules are the modules imported,
                # and pkg itself runs first; a name that is no submodule (an attribute, or `*`)
                # makes pkg the module imported.
                submodules = [
                    files
                    for alias in node.names
                    if alias.name != "*"
                    for files in [module_files(base, parts + [alias.name])]
                    if any((self.root / f).is_file() for f in files)
                ]
                all_submodules = len(submodules) == len(node.names)
                add(module_files(base, parts), "from-package" if all_submodules else "module")
                for files in submodules:
                    add(files, "module")
        self.imports.append(imp)

    def explain(self, target: str, dotted_names: list[str], tool_adds_ancestors: bool) -> tuple[str, str]:
        """(class, evidence) for an edge from this file to target.

        A statement that only goes through the target package (ancestor-__init__,
        from-package) explains the edge only for a tool that adds such edges (Pleat does, ruff
        does not); for the other, a string literal naming the target is the likelier cause and
        is looked for first.
        """
        if self.syntax_error is not None:
            return "syntax-error", self.syntax_error
        best: tuple[int, str, str] | None = None
        rank = {"module": 0, "from-package": 1, "ancestor": 2}
        for imp in self.imports:
            how = imp.targets.get(target)
            if how is None:
                continue
            key = (rank[how] * 10 + (1 if imp.context else 0), how, imp)
            if best is None or key[0] < best[0]:
                best = (key[0], how, imp)  # type: ignore[assignment]
        if best is not None and best[1] != "module" and not tool_adds_ancestors:
            found = self._string(dotted_names)
            if found is not None:
                return found
        if best is not None:
            _, how, imp = best  # type: ignore[misc]
            if how == "ancestor":
                cls = "ancestor-__init__"
            elif how == "from-package":
                cls = "from-package"
            else:
                cls = imp.context or "statement"
            if how != "module" and imp.context:
                cls += f" ({imp.context})"
            odd = odd_names(self.rel, target)
            if cls == "statement" and odd:
                cls = "statement, path not a Python name"
                return cls, f"{self.rel}:{imp.line}: {imp.text}  [{', '.join(odd)}]"
            return cls, f"{self.rel}:{imp.line}: {imp.text}"
        return self._string(dotted_names) or ("unexplained", f"{self.rel}: no statement or string names {target}")

    def _string(self, dotted_names: list[str]) -> tuple[str, str] | None:
        # First a call whose first argument is the module name (or a name in it).
        for line, s, func in self.call_strings:
            for name in dotted_names:
                if name and (s == name or s.startswith(name + ".")):
                    return f"string: {func}()", f'{self.rel}:{line}: {func}("{s}")'
        for line, s in self.strings:
            for name in dotted_names:
                if name and name in s:
                    snippet = " ".join(s.split())
                    i = snippet.find(name)
                    lo = max(0, i - 40)
                    return "string", f"{self.rel}:{line}: ...{snippet[lo : i + len(name) + 40]}..."
        return None


def odd_names(*paths: str) -> list[str]:
    """Folder names on the paths that are no Python identifier, or are keywords (`async/`)."""
    out = []
    for path in paths:
        for part in Path(path).parent.parts:
            if (not part.isidentifier() or keyword.iskeyword(part)) and part not in out and part != ".":
                out.append(part)
    return out


def dotted_names(target: str, source_roots: list[str]) -> list[str]:
    """The dotted module names a file has under the source roots (longest root first)."""
    out = []
    for r in sorted(source_roots, key=len, reverse=True):
        rp = Path(r)
        tp = Path(target)
        try:
            rel = tp.relative_to(rp) if r not in ("", ".") else tp
        except ValueError:
            continue
        parts = list(rel.with_suffix("").parts)
        if parts and parts[-1] == "__init__":
            parts.pop()
        if parts:
            out.append(".".join(parts))
    return out


# ---------------------------------------------------------------------------------------------


def classify(edges: set[tuple[str, str]], root: Path, source_roots: list[str], cache: dict, ancestors: bool):
    """edge → (class, evidence), reading each importing file once."""
    out = {}
    for src, dst in sorted(edges):
        if src not in cache:
            cache[src] = FileImports(root, src, source_roots)
        out[(src, dst)] = cache[src].explain(dst, dotted_names(dst, source_roots), ancestors)
    return out


def report_side(title: str, explained: dict, examples: int) -> collections.Counter:
    counts = collections.Counter(cls for cls, _ in explained.values())
    print(f"\n## {title}: {len(explained)}")
    for cls, n in counts.most_common():
        print(f"  {n:6d}  {cls}")
    shown = 0
    # Show the most interesting classes first: unexplained, then plain statements, then the rest.
    order = {"unexplained": 0, "statement": 1, "syntax-error": 9}
    for (src, dst), (cls, evidence) in sorted(explained.items(), key=lambda kv: (order.get(kv[1][0], 5), kv[0])):
        if shown >= examples:
            break
        print(f"  - [{cls}] {src} -> {dst}\n        {evidence}")
        shown += 1
    return counts


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", required=True, type=Path, help="the project folder both graphs describe")
    ap.add_argument("--pleat", required=True, type=Path, help="`pleat graph --format json` output")
    ap.add_argument("--ruff", required=True, type=Path, help="`ruff analyze graph` output")
    ap.add_argument("--source-root", action="append", default=None, help="source root, repeatable (default: .)")
    ap.add_argument("--examples", type=int, default=30, help="examples of ruff-only edges to print (default 30)")
    ap.add_argument("--pleat-examples", type=int, default=10, help="examples of pleat-only edges (default 10)")
    ap.add_argument("--summary-json", type=Path, help="also write the counts here as JSON")
    ap.add_argument("--fail-on-missing", action="store_true", help="exit 1 if ruff has edges pleat lacks")
    ap.add_argument("--allow", action="append", default=[], help="ruff-only class that does not fail (repeatable)")
    args = ap.parse_args()

    root = args.root
    source_roots = args.source_root or ["."]
    files = tree_files(root)
    pleat = load_graph(args.pleat, root)
    ruff = load_graph(args.ruff, root)
    pe = first_party_edges(pleat, files)
    re_ = first_party_edges(ruff, files)
    both = pe & re_
    ruff_only = re_ - pe
    pleat_only = pe - re_

    print(f"# Edges: {root}")
    print(f"files in tree: {len(files)}; nodes: pleat {len(pleat.keys() & files)}, ruff {len(ruff.keys() & files)}")
    for name, g in (("pleat", pleat), ("ruff", ruff)):
        missing = sorted(files - g.keys())
        if missing:
            print(f"  files {name} has no entry for: {len(missing)} (e.g. {', '.join(missing[:3])})")
    print(f"first-party edges: pleat {len(pe)}, ruff {len(re_)}, both {len(both)}")
    recall = len(both) / len(re_) if re_ else 1.0
    print(f"ruff edges pleat also finds: {recall:.2%}")

    cache: dict = {}
    ruff_counts = report_side(
        "In ruff, not in pleat", classify(ruff_only, root, source_roots, cache, False), args.examples
    )
    pleat_counts = report_side(
        "In pleat, not in ruff", classify(pleat_only, root, source_roots, cache, True), args.pleat_examples
    )

    summary = {
        "files": len(files),
        "pleat_edges": len(pe),
        "ruff_edges": len(re_),
        "both": len(both),
        "ruff_only": len(ruff_only),
        "pleat_only": len(pleat_only),
        "ruff_only_classes": dict(ruff_counts),
        "pleat_only_classes": dict(pleat_counts),
    }
    if args.summary_json:
        args.summary_json.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    if args.fail_on_missing:
        bad = sum(n for cls, n in ruff_counts.items() if cls not in args.allow)
        if bad:
            print(f"\nFAIL: {bad} ruff edges pleat misses outside the allowed classes {args.allow}")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
