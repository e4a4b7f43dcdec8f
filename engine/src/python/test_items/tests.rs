//! Data-driven tests of test discovery: one source, one inline snapshot of the items found.

use std::fmt::Write as _;

use expect_test::{Expect, expect};

use super::{TestItemKind, test_items};

/// `lines first-last  name start-end  kind id`, lines and columns 1-based.
fn render(source: &[u8]) -> String {
    let mut out = String::new();
    for item in test_items(source) {
        let kind = match item.kind {
            TestItemKind::Function => "function",
            TestItemKind::Class => "class",
            TestItemKind::Method => "method",
        };
        let _ = writeln!(
            out,
            "lines {}-{} name {}:{}-{}:{} {kind} {}",
            item.line_range.0 + 1,
            item.line_range.1 + 1,
            item.range.start.line + 1,
            item.range.start.column + 1,
            item.range.end.line + 1,
            item.range.end.column + 1,
            item.id
        );
    }
    out
}

fn check(source: &str, expect: &Expect) {
    expect.assert_eq(&render(source.as_bytes()));
}

#[test]
fn module_functions_sync_async_and_decorated() {
    check(
        r#"
import pytest

def test_plain():
    assert True

async def test_async():
    await thing()

@pytest.mark.parametrize("x", [1, 2])
@pytest.mark.slow
def test_parametrized(x):
    assert x

def helper():
    def test_nested_in_function():
        pass

testing = 1
def tester(): pass  # pytest's rule is a prefix
def not_a_test(): pass
"#,
        &expect![[r#"
            lines 4-5 name 4:5-4:15 function test_plain
            lines 7-8 name 7:11-7:21 function test_async
            lines 10-13 name 12:5-12:22 function test_parametrized
            lines 20-20 name 20:5-20:11 function tester
        "#]],
    );
}

#[test]
fn classes_methods_and_nested_classes() {
    check(
        r#"
class TestOuter:
    def test_a(self):
        pass

    @pytest.mark.parametrize("y", [1])
    async def test_b(self, y):
        pass

    def helper(self):
        def test_inside_method():
            pass

    class TestInner:
        def test_z(self):
            pass

        class Helper:
            def test_hidden(self):
                pass

    class NotCollected:
        def test_no(self):
            pass

@decorate
class TestDecorated:
    def test_c(self): ...

class Helper:
    def test_no(self):
        pass
"#,
        &expect![[r#"
            lines 2-24 name 2:7-2:16 class TestOuter
            lines 3-4 name 3:9-3:15 method TestOuter::test_a
            lines 6-8 name 7:15-7:21 method TestOuter::test_b
            lines 14-20 name 14:11-14:20 class TestOuter::TestInner
            lines 15-16 name 15:13-15:19 method TestOuter::TestInner::test_z
            lines 26-28 name 27:7-27:20 class TestDecorated
            lines 28-28 name 28:9-28:15 method TestDecorated::test_c
        "#]],
    );
}

#[test]
fn classes_pytest_refuses() {
    check(
        r"
class TestWithInit:
    def __init__(self):
        pass

    def test_never(self):
        pass

class TestWithNew:
    def __new__(cls):
        pass

    def test_never(self):
        pass

class TestOptedOut:
    __test__ = False

    def test_never(self):
        pass

class TestFine:
    def setup_method(self):
        pass

    def test_yes(self):
        pass
",
        &expect![[r#"
            lines 22-27 name 22:7-22:15 class TestFine
            lines 26-27 name 26:9-26:17 method TestFine::test_yes
        "#]],
    );
}

#[test]
fn definitions_under_compound_statements_and_redefinitions() {
    check(
        r"
import sys

if sys.platform == 'linux':
    def test_linux():
        pass
else:
    def test_other():
        pass

try:
    import numpy
except ImportError:
    pass
else:
    class TestNumpy:
        def test_sum(self):
            pass

def test_twice():
    pass

def test_twice():
    pass

class TestShadowed:
    def test_only_in_first(self):
        pass

class TestShadowed:
    def test_in_second(self):
        pass
",
        &expect![[r#"
            lines 5-6 name 5:9-5:19 function test_linux
            lines 8-9 name 8:9-8:19 function test_other
            lines 16-18 name 16:11-16:20 class TestNumpy
            lines 17-18 name 17:13-17:21 method TestNumpy::test_sum
            lines 23-24 name 23:5-23:15 function test_twice
            lines 30-32 name 30:7-30:19 class TestShadowed
            lines 31-32 name 31:9-31:23 method TestShadowed::test_in_second
        "#]],
    );
}

#[test]
fn broken_and_non_utf8_source_still_gives_what_parses() {
    check(
        r"
def test_before():
    pass

def broken(:
    x = [

def test_after():
    pass

def test_broken_body():
    y = {

@pytest.mark.parametrize(
    'x', [1],
)
def test_decorated(x):
    pass

class TestAfter:
    def test_method(self):
        pass
",
        &expect![[r#"
            lines 2-3 name 2:5-2:16 function test_before
            lines 8-9 name 8:5-8:15 function test_after
            lines 11-12 name 11:5-11:21 function test_broken_body
            lines 14-18 name 17:5-17:19 function test_decorated
            lines 20-22 name 20:7-20:16 class TestAfter
            lines 21-22 name 21:9-21:20 method TestAfter::test_method
        "#]],
    );
    let mut bytes = b"s = '\xff\xfe'\ndef test_\xe9():\n    pass\n\ndef test_ok():\n    pass\n".to_vec();
    expect![[r#"
        lines 2-3 name 2:5-2:10 function test_
        lines 5-6 name 5:5-5:12 function test_ok
    "#]]
    .assert_eq(&render(&bytes));
    bytes.extend_from_slice(b"\0\0class TestX:\n  def test_y(self): pass\n");
    expect![[r#"
        lines 2-3 name 2:5-2:10 function test_
        lines 5-6 name 5:5-5:12 function test_ok
        lines 7-8 name 7:9-7:14 class TestX
        lines 8-8 name 8:7-8:13 method TestX::test_y
    "#]]
    .assert_eq(&render(&bytes));
    assert!(test_items(b"").is_empty());
    assert!(test_items(&[0xff; 100]).is_empty());
}

#[test]
fn deep_nesting_does_not_overflow() {
    let nested = |depth: usize| {
        let mut source = String::new();
        for level in 0..depth {
            let _ = writeln!(source, "{}class Test{level}:", " ".repeat(level));
        }
        let _ = writeln!(source, "{}def test_deep(self): pass", " ".repeat(depth));
        test_items(source.as_bytes())
    };
    let items = nested(400);
    assert_eq!(items.len(), 401);
    assert_eq!(items[400].id.matches("::").count(), 400);
    // Past tree-sitter-python's indentation limit the rest is an error, not a panic.
    assert!(!nested(5000).is_empty());
}
