//! A damaged cache is survivable: 4 KiB of random bytes over a page of the parse cache's or the store's LMDB file (fixed seeds) never ends a run by a signal, the next runs give the right answers, and `pleat cache verify|gc|clear` work on a file LMDB cannot open. The 200-trial version is `bench/corruption.sh`.

use std::fmt::Write;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Output};

const PLEAT: &str = env!("CARGO_BIN_EXE_pleat");

fn pleat(cache: &Path, args: &[&str]) -> Output {
    let output = Command::new(PLEAT)
        .arg("--cache-dir")
        .arg(cache)
        .env("PLEAT_CACHE_DIR", cache)
        .env_remove("XDG_CACHE_HOME")
        .args(args)
        .output()
        .expect("pleat starts");
    assert_eq!(
        output.status.signal(),
        None,
        "pleat {args:?} was killed by a signal; stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// Writes 4 KiB of seeded random bytes over a seeded page of `file`, a clock tick after
/// the last run: Pleat skips its page walk for a file whose modification time is the one
/// its own last commit recorded, and file times move in ticks of a few milliseconds.
fn corrupt(file: &Path, seed: u64) {
    use std::io::{Seek, SeekFrom, Write};
    std::thread::sleep(std::time::Duration::from_millis(50));
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let pages = std::fs::metadata(file).unwrap().len() / 4096;
    let page = xorshift(&mut state) % pages.max(1);
    let bytes: Vec<u8> = (0..4096).map(|_| xorshift(&mut state) as u8).collect();
    let mut handle = std::fs::OpenOptions::new().write(true).open(file).unwrap();
    handle.seek(SeekFrom::Start(page * 4096)).unwrap();
    handle.write_all(&bytes).unwrap();
}

/// 200 modules in 10 packages, each importing four others.
fn repository(root: &Path) {
    for p in 0..10 {
        let package = root.join(format!("pkg{p}"));
        std::fs::create_dir_all(&package).unwrap();
        std::fs::write(package.join("__init__.py"), "").unwrap();
        for m in 0..20 {
            let i = p * 20 + m;
            let mut text = String::new();
            for k in 0..4 {
                writeln!(text, "import pkg{}.mod{}", (i * 7 + k) % 10, (i * 3 + k) % 20).unwrap();
            }
            std::fs::write(package.join(format!("mod{m}.py")), text).unwrap();
        }
    }
}

#[test]
fn a_damaged_parse_cache_never_crashes_and_gives_the_right_graph() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("repo");
    repository(&root);
    let root_arg = root.to_str().unwrap();
    let expected = pleat(&dir.path().join("none"), &["--root", root_arg, "--no-cache", "graph"]);
    assert!(expected.status.success());
    let mut cleared = 0;
    for seed in 1..=10 {
        let cache = dir.path().join(format!("cache-{seed}"));
        assert!(pleat(&cache, &["--root", root_arg, "graph"]).status.success());
        corrupt(&cache.join("graph-v1/data.mdb"), seed);
        for round in 1..=2 {
            let run = pleat(&cache, &["--root", root_arg, "graph"]);
            let stderr = String::from_utf8_lossy(&run.stderr);
            assert!(run.status.success(), "seed {seed} round {round}: {stderr}");
            assert_eq!(run.stdout, expected.stdout, "seed {seed} round {round}: another graph; {stderr}");
            cleared += usize::from(stderr.contains("was cleared and starts empty"));
        }
    }
    assert!(cleared > 0, "no seed damaged a page that matters: the test tests nothing");
}

#[test]
fn a_damaged_store_never_crashes_and_reads_back_what_was_written() {
    let dir = tempfile::tempdir().unwrap();
    let mut cleared = 0;
    for seed in 1..=10 {
        let cache = dir.path().join(format!("cache-{seed}"));
        let store = cache.join("store-v1");
        let store_arg = store.to_str().unwrap();
        let seed_arg = seed.to_string();
        let write = ["debug", "store-writer", store_arg, "--seed", &seed_arg, "--count", "80"];
        assert!(pleat(&cache, &write).status.success());
        corrupt(&store.join("data.mdb"), seed);
        let verify = pleat(&cache, &["cache", "verify"]);
        assert!(matches!(verify.status.code(), Some(0 | 1)), "seed {seed}: cache verify failed");
        for round in 1..=2 {
            let run = pleat(&cache, &write);
            let stderr = String::from_utf8_lossy(&run.stderr);
            assert!(run.status.success(), "seed {seed} round {round}: {stderr}");
            assert!(
                String::from_utf8_lossy(&run.stdout).contains("read back 80 blobs, 0 different"),
                "seed {seed} round {round}: {stderr}"
            );
            cleared += usize::from(stderr.contains("was cleared and starts empty"));
        }
        let verify = pleat(&cache, &["cache", "verify"]);
        assert!(verify.status.success(), "seed {seed}: {}", String::from_utf8_lossy(&verify.stdout));
    }
    assert!(cleared > 0, "no seed damaged a page that matters: the test tests nothing");
}

#[test]
fn cache_verify_gc_and_clear_work_on_a_store_lmdb_cannot_open() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let store = cache.join("store-v1");
    let write = ["debug", "store-writer", store.to_str().unwrap(), "--count", "100"];
    assert!(pleat(&cache, &write).status.success());
    // Both meta pages gone: LMDB refuses the file.
    let data = store.join("data.mdb");
    let mut bytes = std::fs::read(&data).unwrap();
    bytes[..8192].fill(0xA5);
    std::fs::write(&data, &bytes).unwrap();

    let verify = pleat(&cache, &["cache", "verify"]);
    let text = String::from_utf8_lossy(&verify.stdout);
    assert_eq!(verify.status.code(), Some(1), "{text}");
    assert!(text.contains("meta page 0"), "{text}");
    assert!(text.contains("`pleat cache clear` removes the cache"), "{text}");
    assert_eq!(std::fs::read(&data).unwrap(), bytes, "verify changes nothing");

    let gc = pleat(&cache, &["cache", "gc"]);
    let stderr = String::from_utf8_lossy(&gc.stderr);
    assert!(gc.status.success(), "{stderr}");
    assert!(stderr.contains("was cleared and starts empty"), "{stderr}");

    std::fs::write(&data, &bytes).unwrap();
    let clear = pleat(&cache, &["cache", "clear"]);
    assert!(clear.status.success(), "{}", String::from_utf8_lossy(&clear.stderr));
    assert!(!data.exists(), "clear removes the file without opening it");
    assert!(pleat(&cache, &["cache", "verify"]).status.success());
}
