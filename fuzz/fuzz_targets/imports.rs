//! Fuzz target: import extraction (`python::imports`) and test-item extraction (`python::test_items`) on arbitrary bytes read as a Python file, UTF-8 or not. Both must return for every input, keep their ranges inside the file, and an incremental re-parse (as the editor does on each change) must find what a fresh parse finds.

#![no_main]

use engine::python::imports::{IncrementalParser, ParseOptions, ParsedFile, TextRange, parse_imports};
use engine::python::test_items::test_items;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|source: &[u8]| {
    let plain = ParseOptions::default();
    let parsed = parse_imports(source, plain);
    check_ranges(source, &parsed);
    let strings = ParseOptions { string_imports: true, string_imports_min_dots: 1 };
    check_ranges(source, &parse_imports(source, strings));
    for item in test_items(source) {
        check_range(source, item.range);
        assert!(item.line_range.0 <= item.line_range.1, "{item:?}");
    }

    // The editor's path: the document without its middle third, then whole, then without
    // it again. Tree-sitter's error recovery may legitimately differ between a fresh and an
    // incremental parse of broken text, so results are compared on well-formed files only.
    let (cut_start, cut_end) = (source.len() / 3, source.len() * 2 / 3);
    let shorter: Vec<u8> = source[..cut_start].iter().chain(&source[cut_end..]).copied().collect();
    let shorter_parsed = parse_imports(&shorter, plain);
    let mut incremental = IncrementalParser::new(plain);
    let mut previous: &[u8] = &[];
    for (text, fresh) in
        [(&shorter, &shorter_parsed), (&source.to_vec(), &parsed), (&shorter, &shorter_parsed)]
    {
        let again = incremental.parse_changed(previous, text);
        previous = text;
        check_ranges(text, &again);
        if fresh.syntax_errors.is_empty() {
            assert_eq!(&again, fresh, "an incremental parse differs from a fresh one");
        }
    }
});

fn check_ranges(source: &[u8], parsed: &ParsedFile) {
    for import in &parsed.imports {
        check_range(source, import.range);
        for name in &import.names {
            check_range(source, name.range);
        }
    }
    for error in &parsed.syntax_errors {
        // An encoding error points at the bad byte (one past it at most).
        assert!(error.range.start_byte as usize <= source.len(), "{error:?}");
        assert!(!error.message.is_empty());
    }
}

fn check_range(source: &[u8], range: TextRange) {
    assert!(range.start_byte <= range.end_byte, "{range:?}");
    assert!(range.end_byte as usize <= source.len(), "{range:?} beyond {} bytes", source.len());
    assert!(range.start <= range.end, "{range:?}");
}
