//! Eviction under a running run (issue 10, item 4): `pleat cache gc --max-size 1KiB` run again and again in other processes while `pleat test` runs, cold and warm, must never break the run or change its results.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const PLEAT: &str = env!("CARGO_BIN_EXE_pleat");

/// Collections per round; two rounds (the first from an empty store) make the 50 of the issue.
const GC_PER_ROUND: usize = 25;

/// A small repository: a package under `src`, a conftest, passing tests, one failing, and
/// a test reading a data file large enough to be a file of its own in the store (hardlinked
/// into sandboxes).
fn write_fixture(root: &Path) {
    let mut files: Vec<(String, Vec<u8>)> = vec![
        ("pyproject.toml".into(), b"[project]\nname = \"evict\"\nversion = \"1.0\"\n".to_vec()),
        ("src/evict/__init__.py".into(), b"".to_vec()),
        ("src/evict/util.py".into(), b"def double(x):\n    return 2 * x\n".to_vec()),
        (
            "tests/conftest.py".into(),
            b"import pytest\n\n\n@pytest.fixture\ndef three():\n    return 3\n".to_vec(),
        ),
        (
            "tests/test_util.py".into(),
            b"from evict.util import double\n\n\ndef test_double(three):\n    assert double(three) == 6\n".to_vec(),
        ),
        (
            "tests/test_fail.py".into(),
            b"from evict.util import double\n\n\ndef test_wrong():\n    assert double(2) == 5\n".to_vec(),
        ),
        (
            "tests/test_data.py".into(),
            b"import hashlib\nimport os\n\n\ndef test_data():\n    path = os.path.join(os.path.dirname(__file__), 'data.bin')\n    data = open(path, 'rb').read()\n    assert len(data) == 600 * 1024\n    assert data[:4] == bytes([0, 7, 14, 21])\n".to_vec(),
        ),
        ("tests/data.bin".into(), (0..600 * 1024u32).map(|i| (i.wrapping_mul(7) % 251) as u8).collect()),
    ];
    for i in 1..=4 {
        files.push((
            format!("tests/test_plain{i}.py"),
            format!("def test_plain():\n    assert {i} + {i} == {}\n", 2 * i).into_bytes(),
        ));
    }
    for (path, content) in files {
        let full = root.join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, content).unwrap();
    }
}

/// What every run must report: each file's outcome.
fn expected() -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (file, outcome) in [
        ("tests/test_util.py", "passed"),
        ("tests/test_fail.py", "failed"),
        ("tests/test_data.py", "passed"),
        ("tests/test_plain1.py", "passed"),
        ("tests/test_plain2.py", "passed"),
        ("tests/test_plain3.py", "passed"),
        ("tests/test_plain4.py", "passed"),
    ] {
        out.insert(file.to_owned(), outcome.to_owned());
    }
    out
}

/// `pleat --cache-dir <cache>`, whatever the environment names.
fn pleat(cache: &Path) -> Command {
    let mut command = Command::new(PLEAT);
    command.arg("--cache-dir").arg(cache).env("PLEAT_CACHE_DIR", cache).env_remove("XDG_CACHE_HOME");
    command
}

fn describe(output: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Runs `pleat test ::` and checks the exit code and each file's outcome; returns how many
/// files came from the cache.
fn test_run(cache: &Path, root: &Path) -> usize {
    let output =
        pleat(cache).arg("--root").arg(root).args(["--format", "json", "test", "::"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1), "one test fails, nothing else may\n{}", describe(&output));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("no JSON report ({e})\n{}", describe(&output)));
    let files = json["files"].as_array().unwrap_or_else(|| panic!("no files\n{}", describe(&output)));
    let outcomes: BTreeMap<String, String> = files
        .iter()
        .map(|f| (f["file"].as_str().unwrap().to_owned(), f["outcome"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(outcomes, expected(), "{}", describe(&output));
    files.iter().filter(|f| f["cached"] == true).count()
}

/// The tool environments are kept between runs of this test (building pytest's takes a
/// while); the store is emptied at the start of each round.
fn cache_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("eviction-cache")
}

#[test]
fn gc_down_to_1kib_in_other_processes_never_breaks_a_test_run() {
    let repo = tempfile::tempdir().unwrap();
    let root = repo.path().join("repo");
    write_fixture(&root);
    let cache = cache_dir();
    let mut total_gc = 0;
    for round in 0..2 {
        // Round 0 starts cold (no store at all); round 1 starts with whatever round 0 left.
        if round == 0 {
            let _ = std::fs::remove_dir_all(cache.join("store-v1"));
        }
        let done = AtomicBool::new(false);
        let (runs, cached) = std::thread::scope(|scope| {
            let collector = scope.spawn(|| {
                let mut count = 0;
                while count < GC_PER_ROUND {
                    let output = pleat(&cache)
                        .args(["--format", "json", "cache", "gc", "--max-size", "1KiB"])
                        .output()
                        .unwrap();
                    assert!(output.status.success(), "gc failed\n{}", describe(&output));
                    count += 1;
                }
                done.store(true, Ordering::SeqCst);
                count
            });
            // Test runs until the collections are done: the first of round 0 is cold, the
            // later ones are served from the cache where the store still holds the results.
            let mut runs = 0;
            let mut cached = 0;
            let started = Instant::now();
            while runs < 2 || !done.load(Ordering::SeqCst) {
                cached += test_run(&cache, &root);
                runs += 1;
                assert!(started.elapsed() < Duration::from_mins(10), "the collections did not finish");
            }
            total_gc += collector.join().unwrap();
            (runs, cached)
        });
        eprintln!(
            "round {round}: {runs} test runs, {cached} files from the cache, {total_gc} collections so far"
        );
    }
    assert_eq!(total_gc, 2 * GC_PER_ROUND);
    // Once nothing runs, the collection may take everything that is not leased, and a
    // run after it still answers right.
    test_run(&cache, &root);
}
