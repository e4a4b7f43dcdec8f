//! Data-driven tests of import inference: one fixture, one inline snapshot.

use std::fmt::Write as _;

use expect_test::{Expect, expect};

use super::{ImportKind, ParseOptions, ParsedFile, parse_imports};

fn render(parsed: &ParsedFile) -> String {
    let mut out = String::new();
    for i in &parsed.imports {
        let dots = ".".repeat(i.level as usize);
        let what = match i.kind {
            ImportKind::Import => format!("import {}", i.module),
            ImportKind::From => {
                let names: Vec<&str> = i.names.iter().map(|n| n.name.as_str()).collect();
                format!("from {dots}{} import {}", i.module, names.join(", "))
            }
            ImportKind::Dynamic => format!("dynamic {}", i.module),
            ImportKind::String => format!("string {}", i.module),
        };
        let mut flags = String::new();
        if i.weak {
            flags.push_str(" weak");
        }
        if i.type_only {
            flags.push_str(" type-only");
        }
        if i.deferred {
            flags.push_str(" deferred");
        }
        let _ = writeln!(
            out,
            "{}:{}-{}:{} {what}{flags}",
            i.range.start.line + 1,
            i.range.start.column + 1,
            i.range.end.line + 1,
            i.range.end.column + 1
        );
    }
    for e in &parsed.syntax_errors {
        let _ = writeln!(out, "error {}:{} {}", e.range.start.line + 1, e.range.start.column + 1, e.message);
    }
    out
}

fn check(source: &str, expect: &Expect) {
    check_with(source, ParseOptions::default(), expect);
}

fn check_with(source: &str, options: ParseOptions, expect: &Expect) {
    let parsed = parse_imports(source.as_bytes(), options);
    expect.assert_eq(&render(&parsed));
}

#[test]
fn plain_imports() {
    check(
        r"
import os
import a.b as c, d
import a . b
from a import b, c
from a.b import (
    c,
    d as e,
)
from a import \
    b
",
        &expect![[r#"
            2:8-2:10 import os
            3:8-3:11 import a.b
            3:18-3:19 import d
            4:8-4:13 import a.b
            5:6-5:7 from a import b, c
            6:6-6:9 from a.b import c, d
            10:6-10:7 from a import b
        "#]],
    );
}

#[test]
fn relative_imports() {
    check(
        r"
from . import x
from .. import x
from .x import *
from ..a import *
from ...a.b import c
",
        &expect![[r#"
            2:6-2:7 from . import x
            3:6-3:8 from .. import x
            4:6-4:8 from .x import *
            5:6-5:9 from ..a import *
            6:6-6:12 from ...a.b import c
        "#]],
    );
}

#[test]
fn future_imports_are_ignored() {
    check(
        r"
from __future__ import annotations
import __future__
",
        &expect![[r#"
            3:8-3:18 import __future__
        "#]],
    );
}

#[test]
fn imports_anywhere() {
    check(
        r"
def f():
    import in_function
    class Inner:
        import in_class
    return 1

class C:
    from in_class_body import x
    @property
    def g(self):
        import in_decorated

if cond:
    import in_if
elif other:
    import in_elif
else:
    import in_else

for x in y:
    import in_for
else:
    import in_for_else

while True:
    import in_while

with open(p) as f:
    import in_with

try:
    import in_try_body
except ValueError:
    import in_handler
else:
    import in_try_else
finally:
    import in_finally

match command:
    case [x]:
        import in_case
    case _:
        import in_default

async def h():
    async with lock:
        import in_async_with
",
        &expect![[r#"
            3:12-3:23 import in_function deferred
            5:16-5:24 import in_class deferred
            9:10-9:23 from in_class_body import x
            12:16-12:28 import in_decorated deferred
            15:12-15:17 import in_if
            17:12-17:19 import in_elif
            19:12-19:19 import in_else
            22:12-22:18 import in_for
            24:12-24:23 import in_for_else
            27:12-27:20 import in_while
            30:12-30:19 import in_with
            33:12-33:23 import in_try_body
            35:12-35:22 import in_handler
            37:12-37:23 import in_try_else
            39:12-39:22 import in_finally
            43:16-43:23 import in_case
            45:16-45:26 import in_default
            49:16-49:29 import in_async_with deferred
        "#]],
    );
}

#[test]
fn weak_imports() {
    check(
        r"
try:
    import ujson as json
except ImportError:
    import json

try:
    from a import b
except (ValueError, ModuleNotFoundError):
    pass

try:
    import everything
except:
    pass

try:
    import broad
except Exception as exc:
    pass

try:
    import not_weak
except ValueError:
    pass

try:
    if x:
        import nested_weak
except builtins.ImportError:
    pass

with contextlib.suppress(ImportError):
    import suppressed

with suppress(KeyError, ModuleNotFoundError):
    import suppressed_too

with suppress(KeyError):
    import not_suppressed

if sys.version_info >= (3, 11):
    from typing import Self
elif sys.version_info >= (3, 8):
    import tomli
else:
    from typing_extensions import Self

if sys.platform == 'win32':
    import winreg
",
        &expect![[r#"
            3:12-3:17 import ujson weak
            5:12-5:16 import json
            8:10-8:11 from a import b weak
            13:12-13:22 import everything weak
            18:12-18:17 import broad weak
            23:12-23:20 import not_weak
            29:16-29:27 import nested_weak weak
            34:12-34:22 import suppressed weak
            37:12-37:26 import suppressed_too weak
            40:12-40:26 import not_suppressed
            43:10-43:16 from typing import Self weak
            45:12-45:17 import tomli weak
            47:10-47:27 from typing_extensions import Self weak
            50:12-50:18 import winreg
        "#]],
    );
}

#[test]
fn type_checking_imports() {
    check(
        r"
from typing import TYPE_CHECKING
if TYPE_CHECKING:
    from a import B
    import c
else:
    import runtime_only

if typing.TYPE_CHECKING:
    import d

if not TYPE_CHECKING:
    import e
",
        &expect![[r#"
            2:6-2:12 from typing import TYPE_CHECKING
            4:10-4:11 from a import B type-only
            5:12-5:13 import c type-only
            7:12-7:24 import runtime_only
            10:12-10:13 import d type-only
            13:12-13:13 import e
        "#]],
    );
}

#[test]
fn dynamic_imports() {
    check(
        r#"
m = __import__("a.b")
importlib.import_module("c.d")
import_module("e")
x = importlib.import_module(".f", package="pkg.sub")
y = importlib.import_module("..g", package="pkg.sub")
z = importlib.import_module(name)
w = importlib.import_module(f"h.{x}")
v = importlib.import_module(".i")
try:
    importlib.import_module("weak.one")
except ImportError:
    pass
if importlib.import_module("in.condition"):
    pass
"#,
        &expect![[r#"
            2:16-2:21 dynamic a.b
            3:25-3:30 dynamic c.d
            4:15-4:18 dynamic e
            5:29-5:33 dynamic pkg.sub.f
            6:29-6:34 dynamic pkg.g
            11:29-11:39 dynamic weak.one weak
            14:28-14:42 dynamic in.condition
        "#]],
    );
}

#[test]
fn string_imports_off_by_default() {
    check(
        r#"
X = "pkg.mod.Class"
"#,
        &expect![[""]],
    );
}

#[test]
fn string_imports_when_enabled() {
    let options = ParseOptions { string_imports: true, string_imports_min_dots: 2 };
    check_with(
        r#"
APPS = ["pkg.mod.Class", "a.b", "not a module", "x.y.z.w", f"pkg.{x}.y", "1.2.3"]
def f(s="pkg.other.thing"):
    pass
"#,
        options,
        &expect![[r#"
            2:9-2:24 string pkg.mod.Class weak deferred
            2:49-2:58 string x.y.z.w weak deferred
            3:9-3:26 string pkg.other.thing weak deferred
        "#]],
    );
    let one_dot = ParseOptions { string_imports: true, string_imports_min_dots: 1 };
    check_with(
        r#"X = "a.b""#,
        one_dot,
        &expect![[r#"
            1:5-1:10 string a.b weak deferred
        "#]],
    );
}

#[test]
fn pragma_drops_an_import() {
    check(
        r"
import kept
import dropped  # pleat: no-infer-dep
from a import (
    b,
    c,
)  # pleat: no-infer-dep
from x import (  # pleat: no-infer-dep
    y,
)
if True:
    import kept_in_if
    import dropped_last_in_if  # pleat: no-infer-dep
import also_kept
",
        &expect![[r#"
            2:8-2:12 import kept
            12:12-12:22 import kept_in_if
            14:8-14:17 import also_kept
        "#]],
    );
}

#[test]
fn imports_after_a_syntax_error() {
    check(
        r"
import before
def broken(:
    pass
import after
from x import (y
import z
",
        &expect![[r#"
            2:8-2:14 import before
            5:8-5:13 import after
            7:8-7:9 import z
            error 3:12 syntax error: missing `)`; imports after it may be missed until it is fixed
            error 6:1 syntax error near `from x import (y`; imports after it may be missed until it is fixed
        "#]],
    );
}

#[test]
fn empty_and_comment_only_files_have_no_code() {
    assert!(!parse_imports(b"", ParseOptions::default()).has_code);
    assert!(!parse_imports(b"# just a comment\n\n", ParseOptions::default()).has_code);
    assert!(parse_imports(b"x = 1\n", ParseOptions::default()).has_code);
    assert!(parse_imports(b"\"\"\"Docstring.\"\"\"\n", ParseOptions::default()).has_code);
}

#[test]
fn any_bytes_are_accepted() {
    let inputs: Vec<Vec<u8>> = vec![
        b"import a\xff\xfe\nimport b\n".to_vec(),
        b"import a\0b\nimport c\n".to_vec(),
        vec![0xff; 1000],
        b"from".to_vec(),
        b"from . import".to_vec(),
        b"import".to_vec(),
        b"__import__(".to_vec(),
        b"importlib.import_module(package=".to_vec(),
        b"importlib.import_module('.x', package='')".to_vec(),
        b"importlib.import_module('...x', package='a')".to_vec(),
    ];
    for input in inputs {
        let _ = parse_imports(&input, ParseOptions { string_imports: true, string_imports_min_dots: 0 });
    }
    let parsed = parse_imports(b"import a\xff\nimport b\n", ParseOptions::default());
    let modules: Vec<&str> = parsed.imports.iter().map(|i| i.module.as_str()).collect();
    assert!(modules.contains(&"b"), "{modules:?}");
}

#[test]
fn deep_nesting_and_large_files() {
    let mut deep = String::new();
    for depth in 0..500 {
        deep.push_str(&"    ".repeat(depth));
        deep.push_str("if x:\n");
    }
    deep.push_str(&"    ".repeat(500));
    deep.push_str("import deep\n");
    let parsed = parse_imports(deep.as_bytes(), ParseOptions::default());
    assert_eq!(parsed.imports.len(), 1, "{:?}", parsed.syntax_errors);
    assert_eq!(parsed.imports[0].module, "deep");

    let parens = format!("x = {}1{}\nimport after_parens\n", "(".repeat(500), ")".repeat(500));
    let parsed = parse_imports(parens.as_bytes(), ParseOptions::default());
    assert!(parsed.imports.iter().any(|i| i.module == "after_parens"));

    let mut big = String::with_capacity(10 << 20);
    let mut n = 0;
    while big.len() < 10 << 20 {
        let _ = write!(big, "import m{n}\nx{n} = [1, 2, 3]  # filler filler filler filler\n");
        n += 1;
    }
    let parsed = parse_imports(big.as_bytes(), ParseOptions::default());
    assert_eq!(parsed.imports.len(), n);
}

#[test]
fn incremental_parses_equal_full_parses() {
    let options = ParseOptions::default();
    let mut parser = super::IncrementalParser::new(options);
    let versions = [
        "import a\nfrom b import c\n",
        "import a\nimport inserted\nfrom b import c\n",
        "import a\nfrom b import c\n",
        "import a\nfrom b import (c,\n",
        "",
        "def f():\n    import deep\nimport a\n",
        "def f():\n    import deeper\nimport a\n",
    ];
    let mut previous = "";
    for text in versions {
        let incremental = parser.parse_changed(previous.as_bytes(), text.as_bytes());
        previous = text;
        assert_eq!(incremental, parse_imports(text.as_bytes(), options), "{text:?}");
    }
}

#[test]
fn lazy_submodules_of_a_module_getattr() {
    // python-dateutil 2.9's dateutil/__init__.py.
    check(
        r#"
__all__ = ['easter', 'tz']

def __getattr__(name):
    import importlib

    if name in __all__:
        return importlib.import_module("." + name, __name__)
    raise AttributeError(name)
"#,
        &expect![[r#"
            2:12-2:20 from . import easter weak deferred
            2:22-2:26 from . import tz weak deferred
            5:12-5:21 import importlib deferred
        "#]],
    );
}

/// Edits as an editor makes them (several between parses, at random places, inserting and
/// removing whole statements and single characters): the incremental parse, which walks
/// only the statements the edits touched, equals a fresh parse of the same text.
#[test]
fn incremental_edits_equal_full_parses() {
    use super::{Edit, IncrementalParser};
    let pool = [
        "import a.b\n",
        "from . import x, y\n",
        "from ..pkg import (m,\n    n)\n",
        "try:\n    import fast\nexcept ImportError:\n    fast = None\n",
        "if TYPE_CHECKING:\n    from typing import Any\n",
        "def f():\n    import inner\n    return inner\n",
        "class C:\n    import in_class\n    def g(self):\n        from z import w\n",
        "x = __import__('dyn.mod')\n",
        "import os; import sys\n",
        "value = 1  # not an import\n",
        "__all__ = ['p', 'q']\n",
        "def __getattr__(name):\n    return importlib.import_module('.' + name, __name__)\n",
        "import    spaced . name  # pleat: no-infer-dep\n",
    ];
    let options = ParseOptions::default();
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move |n: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n as u64) as usize
    };
    let mut text: Vec<u8> = pool.concat().into_bytes();
    let mut parser = IncrementalParser::new(options);
    assert_eq!(parser.parse(&text), parse_imports(&text, options));
    let mut compared = 0;
    for round in 0..300 {
        for _ in 0..=next(3) {
            let old = text.clone();
            let line_starts: Vec<usize> = std::iter::once(0)
                .chain(text.iter().enumerate().filter(|(_, b)| **b == b'\n').map(|(i, _)| i + 1))
                .collect();
            let at = line_starts[next(line_starts.len())].min(text.len());
            match next(4) {
                // Remove a line.
                1 => {
                    let end = text[at..].iter().position(|b| *b == b'\n').map_or(text.len(), |p| at + p + 1);
                    text.drain(at..end);
                }
                // Type or delete one character somewhere.
                2 if !text.is_empty() => {
                    let at = next(text.len());
                    if next(2) == 0 {
                        text.insert(at, b"xq_ .("[next(6)]);
                    } else {
                        text.remove(at);
                    }
                }
                // Insert a statement at a line start (twice as often as the others).
                _ => {
                    let piece = pool[next(pool.len())].as_bytes();
                    text.splice(at..at, piece.iter().copied());
                }
            }
            parser.edit(&Edit::between(&old, &text));
        }
        let incremental = parser.parse(&text);
        let fresh = parse_imports(&text, options);
        for import in &incremental.imports {
            assert!(import.range.end_byte as usize <= text.len(), "round {round}: {import:?}");
        }
        // Error recovery may legitimately build another tree for broken text.
        if fresh.syntax_errors.is_empty() {
            compared += 1;
            assert_eq!(incremental, fresh, "round {round}: {}", String::from_utf8_lossy(&text));
        }
        if round % 4 == 3 {
            // Back to a well-formed text now and then, so most rounds compare.
            let old = text.clone();
            text = pool.concat().into_bytes();
            parser.edit(&Edit::between(&old, &text));
        }
    }
    assert!(compared > 60, "only {compared} rounds had well-formed text");
}
