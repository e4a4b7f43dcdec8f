//! The standard library's top-level module names for each Python 3 minor version, so imports of them are never reported.
//!
//! The tables are data, not code: `BASE_311` is Python 3.11's
//! `sys.stdlib_module_names` verbatim (private modules such as `_thread` and
//! `__future__` included, `__main__` excluded since it is never a dependency),
//! and `VERSIONED` lists every module whose availability differs somewhere in
//! [`SUPPORTED_MINORS`], with the inclusive range of minors that ship it. A
//! name found in `VERSIONED` is decided by its range alone; any other name is
//! decided by `BASE_311`, which then holds for every supported minor.
//!
//! The ranges follow the "What's New" notes of each `CPython` release and,
//! for 3.10 onwards, `sys.stdlib_module_names` of each release. Modules built
//! only for Windows, macOS or AIX (`nt`, `winreg`, `_scproxy`, ...) count on
//! every platform, since an import of them is never a third-party dependency
//! either.

use std::ops::RangeInclusive;

/// The Python 3 minor versions whose standard library is tabulated here.
///
/// [`is_stdlib_module`] clamps any other minor into this range.
pub const SUPPORTED_MINORS: RangeInclusive<u8> = 8..=14;

/// Returns whether `top_level`, the first dotted component of an imported name
/// (`"os"` for `import os.path`), is a standard-library top-level module in
/// Python `3.minor`.
///
/// A `minor` below 8 is treated as 8 and one above 14 as 14. The match is
/// exact and case-sensitive, as Python's import system is.
#[must_use]
pub fn is_stdlib_module(top_level: &str, minor: u8) -> bool {
    let minor = minor.clamp(*SUPPORTED_MINORS.start(), *SUPPORTED_MINORS.end());
    match VERSIONED.binary_search_by(|&(name, _, _)| name.cmp(top_level)) {
        Ok(index) => {
            let (_, first, last) = VERSIONED[index];
            (first..=last).contains(&minor)
        }
        Err(_) => BASE_311.binary_search(&top_level).is_ok(),
    }
}

/// Python 3.11's `sys.stdlib_module_names`, sorted bytewise, without
/// `__main__`.
///
/// Entries that also appear in [`VERSIONED`] are overridden by their range there.
const BASE_311: &[&str] = &[
    "__future__",
    "_abc",
    "_aix_support",
    "_ast",
    "_asyncio",
    "_bisect",
    "_blake2",
    "_bootsubprocess",
    "_bz2",
    "_codecs",
    "_codecs_cn",
    "_codecs_hk",
    "_codecs_iso2022",
    "_codecs_jp",
    "_codecs_kr",
    "_codecs_tw",
    "_collections",
    "_collections_abc",
    "_compat_pickle",
    "_compression",
    "_contextvars",
    "_crypt",
    "_csv",
    "_ctypes",
    "_curses",
    "_curses_panel",
    "_datetime",
    "_dbm",
    "_decimal",
    "_elementtree",
    "_frozen_importlib",
    "_frozen_importlib_external",
    "_functools",
    "_gdbm",
    "_hashlib",
    "_heapq",
    "_imp",
    "_io",
    "_json",
    "_locale",
    "_lsprof",
    "_lzma",
    "_markupbase",
    "_md5",
    "_msi",
    "_multibytecodec",
    "_multiprocessing",
    "_opcode",
    "_operator",
    "_osx_support",
    "_overlapped",
    "_pickle",
    "_posixshmem",
    "_posixsubprocess",
    "_py_abc",
    "_pydecimal",
    "_pyio",
    "_queue",
    "_random",
    "_scproxy",
    "_sha1",
    "_sha256",
    "_sha3",
    "_sha512",
    "_signal",
    "_sitebuiltins",
    "_socket",
    "_sqlite3",
    "_sre",
    "_ssl",
    "_stat",
    "_statistics",
    "_string",
    "_strptime",
    "_struct",
    "_symtable",
    "_thread",
    "_threading_local",
    "_tkinter",
    "_tokenize",
    "_tracemalloc",
    "_typing",
    "_uuid",
    "_warnings",
    "_weakref",
    "_weakrefset",
    "_winapi",
    "_zoneinfo",
    "abc",
    "aifc",
    "antigravity",
    "argparse",
    "array",
    "ast",
    "asynchat",
    "asyncio",
    "asyncore",
    "atexit",
    "audioop",
    "base64",
    "bdb",
    "binascii",
    "bisect",
    "builtins",
    "bz2",
    "cProfile",
    "calendar",
    "cgi",
    "cgitb",
    "chunk",
    "cmath",
    "cmd",
    "code",
    "codecs",
    "codeop",
    "collections",
    "colorsys",
    "compileall",
    "concurrent",
    "configparser",
    "contextlib",
    "contextvars",
    "copy",
    "copyreg",
    "crypt",
    "csv",
    "ctypes",
    "curses",
    "dataclasses",
    "datetime",
    "dbm",
    "decimal",
    "difflib",
    "dis",
    "distutils",
    "doctest",
    "email",
    "encodings",
    "ensurepip",
    "enum",
    "errno",
    "faulthandler",
    "fcntl",
    "filecmp",
    "fileinput",
    "fnmatch",
    "fractions",
    "ftplib",
    "functools",
    "gc",
    "genericpath",
    "getopt",
    "getpass",
    "gettext",
    "glob",
    "graphlib",
    "grp",
    "gzip",
    "hashlib",
    "heapq",
    "hmac",
    "html",
    "http",
    "idlelib",
    "imaplib",
    "imghdr",
    "imp",
    "importlib",
    "inspect",
    "io",
    "ipaddress",
    "itertools",
    "json",
    "keyword",
    "lib2to3",
    "linecache",
    "locale",
    "logging",
    "lzma",
    "mailbox",
    "mailcap",
    "marshal",
    "math",
    "mimetypes",
    "mmap",
    "modulefinder",
    "msilib",
    "msvcrt",
    "multiprocessing",
    "netrc",
    "nis",
    "nntplib",
    "nt",
    "ntpath",
    "nturl2path",
    "numbers",
    "opcode",
    "operator",
    "optparse",
    "os",
    "ossaudiodev",
    "pathlib",
    "pdb",
    "pickle",
    "pickletools",
    "pipes",
    "pkgutil",
    "platform",
    "plistlib",
    "poplib",
    "posix",
    "posixpath",
    "pprint",
    "profile",
    "pstats",
    "pty",
    "pwd",
    "py_compile",
    "pyclbr",
    "pydoc",
    "pydoc_data",
    "pyexpat",
    "queue",
    "quopri",
    "random",
    "re",
    "readline",
    "reprlib",
    "resource",
    "rlcompleter",
    "runpy",
    "sched",
    "secrets",
    "select",
    "selectors",
    "shelve",
    "shlex",
    "shutil",
    "signal",
    "site",
    "smtpd",
    "smtplib",
    "sndhdr",
    "socket",
    "socketserver",
    "spwd",
    "sqlite3",
    "sre_compile",
    "sre_constants",
    "sre_parse",
    "ssl",
    "stat",
    "statistics",
    "string",
    "stringprep",
    "struct",
    "subprocess",
    "sunau",
    "symtable",
    "sys",
    "sysconfig",
    "syslog",
    "tabnanny",
    "tarfile",
    "telnetlib",
    "tempfile",
    "termios",
    "textwrap",
    "this",
    "threading",
    "time",
    "timeit",
    "tkinter",
    "token",
    "tokenize",
    "tomllib",
    "trace",
    "traceback",
    "tracemalloc",
    "tty",
    "turtle",
    "turtledemo",
    "types",
    "typing",
    "unicodedata",
    "unittest",
    "urllib",
    "uu",
    "uuid",
    "venv",
    "warnings",
    "wave",
    "weakref",
    "webbrowser",
    "winreg",
    "winsound",
    "wsgiref",
    "xdrlib",
    "xml",
    "xmlrpc",
    "zipapp",
    "zipfile",
    "zipimport",
    "zlib",
    "zoneinfo",
];

/// Modules present in only part of [`SUPPORTED_MINORS`]: `(name, first, last)`
/// means the module ships in Python 3.`first` through 3.`last` inclusive.
///
/// Sorted bytewise by name. A range contains 11 exactly when the name is in
/// [`BASE_311`].
const VERSIONED: &[(&str, u8, u8)] = &[
    ("_aix_support", 9, 14),       // added in 3.9
    ("_android_support", 13, 14),  // added in 3.13
    ("_apple_support", 13, 14),    // added in 3.13
    ("_ast_unparse", 14, 14),      // added in 3.14
    ("_bootlocale", 8, 9),         // removed in 3.10
    ("_bootsubprocess", 9, 11),    // added in 3.9, removed in 3.12
    ("_colorize", 13, 14),         // added in 3.13
    ("_compression", 8, 13),       // moved into `compression` in 3.14
    ("_crypt", 8, 12),             // removed in 3.13 (PEP 594)
    ("_dummy_thread", 8, 8),       // removed in 3.9
    ("_hmac", 14, 14),             // added in 3.14
    ("_interpchannels", 13, 14),   // added in 3.13
    ("_interpqueues", 13, 14),     // added in 3.13
    ("_interpreters", 13, 14),     // added in 3.13
    ("_ios_support", 13, 14),      // added in 3.13
    ("_msi", 8, 12),               // removed in 3.13 (PEP 594)
    ("_opcode_metadata", 13, 14),  // added in 3.13
    ("_peg_parser", 9, 9),         // only in 3.9
    ("_py_warnings", 14, 14),      // added in 3.14
    ("_pydatetime", 12, 14),       // added in 3.12
    ("_pylong", 12, 14),           // added in 3.12
    ("_pyrepl", 13, 14),           // added in 3.13
    ("_remote_debugging", 14, 14), // added in 3.14
    ("_sha2", 12, 14),             // added in 3.12, replacing `_sha256` and `_sha512`
    ("_sha256", 8, 11),            // merged into `_sha2` in 3.12
    ("_sha512", 8, 11),            // merged into `_sha2` in 3.12
    ("_suggestions", 13, 14),      // added in 3.13
    ("_sysconfig", 13, 14),        // added in 3.13
    ("_tokenize", 11, 14),         // added in 3.11
    ("_types", 14, 14),            // added in 3.14
    ("_typing", 11, 14),           // added in 3.11
    ("_wmi", 12, 14),              // added in 3.12
    ("_zoneinfo", 9, 14),          // added in 3.9
    ("_zstd", 14, 14),             // added in 3.14
    ("aifc", 8, 12),               // removed in 3.13 (PEP 594)
    ("annotationlib", 14, 14),     // added in 3.14
    ("asynchat", 8, 11),           // removed in 3.12
    ("asyncore", 8, 11),           // removed in 3.12
    ("audioop", 8, 12),            // removed in 3.13 (PEP 594)
    ("binhex", 8, 10),             // removed in 3.11
    ("cgi", 8, 12),                // removed in 3.13 (PEP 594)
    ("cgitb", 8, 12),              // removed in 3.13 (PEP 594)
    ("chunk", 8, 12),              // removed in 3.13 (PEP 594)
    ("compression", 14, 14),       // added in 3.14
    ("crypt", 8, 12),              // removed in 3.13 (PEP 594)
    ("distutils", 8, 11),          // removed in 3.12 (PEP 632)
    ("dummy_threading", 8, 8),     // removed in 3.9
    ("formatter", 8, 9),           // removed in 3.10
    ("graphlib", 9, 14),           // added in 3.9
    ("imghdr", 8, 12),             // removed in 3.13 (PEP 594)
    ("imp", 8, 11),                // removed in 3.12
    ("lib2to3", 8, 12),            // removed in 3.13
    ("mailcap", 8, 12),            // removed in 3.13 (PEP 594)
    ("msilib", 8, 12),             // removed in 3.13 (PEP 594)
    ("nis", 8, 12),                // removed in 3.13 (PEP 594)
    ("nntplib", 8, 12),            // removed in 3.13 (PEP 594)
    ("ossaudiodev", 8, 12),        // removed in 3.13 (PEP 594)
    ("parser", 8, 9),              // removed in 3.10
    ("pipes", 8, 12),              // removed in 3.13 (PEP 594)
    ("smtpd", 8, 11),              // removed in 3.12
    ("sndhdr", 8, 12),             // removed in 3.13 (PEP 594)
    ("spwd", 8, 12),               // removed in 3.13 (PEP 594)
    ("sunau", 8, 12),              // removed in 3.13 (PEP 594)
    ("symbol", 8, 9),              // removed in 3.10
    ("telnetlib", 8, 12),          // removed in 3.13 (PEP 594)
    ("tomllib", 11, 14),           // added in 3.11
    ("uu", 8, 12),                 // removed in 3.13 (PEP 594)
    ("xdrlib", 8, 12),             // removed in 3.13 (PEP 594)
    ("zoneinfo", 9, 14),           // added in 3.9
];

#[cfg(test)]
mod tests {
    use super::*;

    /// Asserts that `name` is stdlib exactly in the minors of `expected`.
    fn assert_only_in(name: &str, expected: RangeInclusive<u8>) {
        for minor in SUPPORTED_MINORS {
            assert_eq!(is_stdlib_module(name, minor), expected.contains(&minor), "{name} in 3.{minor}");
        }
    }

    #[test]
    fn core_modules_are_stdlib_in_every_version() {
        for name in ["os", "sys", "json", "collections", "xml", "_thread", "__future__"] {
            assert_only_in(name, SUPPORTED_MINORS);
        }
    }

    #[test]
    fn added_modules_start_at_their_release() {
        assert_only_in("tomllib", 11..=14);
        assert_only_in("zoneinfo", 9..=14);
        assert_only_in("graphlib", 9..=14);
        assert_only_in("annotationlib", 14..=14);
        assert_only_in("compression", 14..=14);
    }

    #[test]
    fn removed_modules_stop_at_their_removal() {
        for name in ["distutils", "imp", "asyncore", "asynchat", "smtpd"] {
            assert!(is_stdlib_module(name, 11), "{name} in 3.11");
            assert!(!is_stdlib_module(name, 12), "{name} in 3.12");
            assert_only_in(name, 8..=11);
        }
        for name in ["telnetlib", "cgi", "lib2to3", "crypt", "_crypt"] {
            assert!(is_stdlib_module(name, 12), "{name} in 3.12");
            assert!(!is_stdlib_module(name, 13), "{name} in 3.13");
            assert_only_in(name, 8..=12);
        }
        assert_only_in("binhex", 8..=10);
        assert_only_in("formatter", 8..=9);
        assert_only_in("dummy_threading", 8..=8);
    }

    #[test]
    fn third_party_and_main_are_never_stdlib() {
        for name in ["requests", "numpy", "yaml", "typing_extensions", "__main__", "", "OS"] {
            for minor in 0..=u8::MAX {
                assert!(!is_stdlib_module(name, minor), "{name} in 3.{minor}");
            }
        }
    }

    #[test]
    fn minors_outside_the_supported_range_are_clamped() {
        for name in ["os", "distutils", "dummy_threading", "annotationlib", "zoneinfo"] {
            assert_eq!(is_stdlib_module(name, 7), is_stdlib_module(name, 8), "{name}");
            assert_eq!(is_stdlib_module(name, 0), is_stdlib_module(name, 8), "{name}");
            assert_eq!(is_stdlib_module(name, 20), is_stdlib_module(name, 14), "{name}");
            assert_eq!(is_stdlib_module(name, u8::MAX), is_stdlib_module(name, 14), "{name}");
        }
        assert!(is_stdlib_module("distutils", 7));
        assert!(!is_stdlib_module("distutils", 20));
        assert!(is_stdlib_module("annotationlib", 20));
        assert!(!is_stdlib_module("zoneinfo", 7));
    }

    #[test]
    fn tables_are_sorted_and_duplicate_free() {
        assert!(BASE_311.windows(2).all(|pair| pair[0] < pair[1]));
        assert!(VERSIONED.windows(2).all(|pair| pair[0].0 < pair[1].0));
    }

    #[test]
    fn versioned_ranges_are_consistent_with_the_base() {
        for &(name, first, last) in VERSIONED {
            assert!(first <= last, "{name}");
            assert!(SUPPORTED_MINORS.contains(&first), "{name}");
            assert!(SUPPORTED_MINORS.contains(&last), "{name}");
            assert!(
                (first..=last) != SUPPORTED_MINORS,
                "{name} is in every version and belongs in the base only"
            );
            assert_eq!((first..=last).contains(&11), BASE_311.binary_search(&name).is_ok(), "{name}");
        }
    }

    #[test]
    fn base_is_python_311s_list() {
        assert_eq!(BASE_311.len(), 305);
        assert!(!BASE_311.contains(&"__main__"));
        assert!(BASE_311.iter().all(|name| is_stdlib_module(name, 11)));
    }
}
