//! Store tests on real LMDB and real files in temp folders.

use std::time::{Duration, SystemTime};

use super::*;

fn store(function: DigestFunction) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let options = StoreOptions { dir: dir.path().join("store"), function, max_bytes: DEFAULT_MAX_BYTES };
    let store = Store::open(&options).unwrap();
    (dir, store)
}

fn large(n: usize, seed: u8) -> Vec<u8> {
    (0..n).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

#[test]
fn small_and_large_blobs_round_trip_with_either_function() {
    for function in [DigestFunction::Blake3, DigestFunction::Sha256] {
        let (_dir, store) = store(function);
        let small = store.put(b"hello").unwrap();
        assert_eq!(small, Digest::of(function, b"hello"));
        let big = large(LARGE_BLOB as usize + 10, 1);
        let big_digest = store.put(&big).unwrap();
        assert_eq!(store.get(&small).unwrap().as_deref(), Some(&b"hello"[..]));
        assert_eq!(store.get(&big_digest).unwrap(), Some(big.clone()));
        assert!(store.contains(&big_digest).unwrap());
        let path = store.large_path(&big_digest).unwrap().unwrap();
        assert!(path.starts_with(store.dir().join("large")));
        assert!(std::fs::metadata(&path).unwrap().permissions().readonly());
        assert_eq!(store.large_path(&small).unwrap(), None, "small blobs have no file");
        let missing = Digest::of(function, b"never stored");
        assert_eq!(store.get(&missing).unwrap(), None);
        assert!(!store.contains(&missing).unwrap());
        let stats = store.stats().unwrap();
        assert_eq!((stats.blobs, stats.large_blobs, stats.bytes), (2, 1, 5 + big.len() as u64));
    }
}

#[test]
fn put_file_streams_large_files() {
    let (dir, store) = store(DigestFunction::Blake3);
    let path = dir.path().join("input.bin");
    let content = large(3 * LARGE_BLOB as usize, 7);
    std::fs::write(&path, &content).unwrap();
    let digest = store.put_file(&path).unwrap();
    assert_eq!(digest, Digest::of(DigestFunction::Blake3, &content));
    assert_eq!(store.get(&digest).unwrap(), Some(content));
    std::fs::write(&path, b"small file").unwrap();
    let digest = store.put_file(&path).unwrap();
    assert_eq!(store.get(&digest).unwrap().as_deref(), Some(&b"small file"[..]));
    assert!(matches!(store.put_file(&dir.path().join("nope")), Err(StoreError::Io { .. })));
}

#[test]
fn corrupt_entries_are_reported_and_treated_as_missing() {
    let (_dir, store) = store(DigestFunction::Blake3);
    let small = store.put(b"original").unwrap();
    // Damage the small blob behind the store's back.
    let mut txn = store.env.write_txn().unwrap();
    store.blobs.put(&mut txn, &key(&small), b"tampered").unwrap();
    txn.commit().unwrap();
    assert_eq!(store.get(&small).unwrap(), None);
    assert!(!store.contains(&small).unwrap(), "the corrupt entry is gone");
    let big = large(LARGE_BLOB as usize, 3);
    let big_digest = store.put(&big).unwrap();
    let path = store.large_file(&big_digest);
    let mut permissions = std::fs::metadata(&path).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    permissions.set_readonly(false);
    std::fs::set_permissions(&path, permissions).unwrap();
    std::fs::write(&path, b"not the content").unwrap();
    assert_eq!(store.large_path(&big_digest).unwrap(), None);
    let reports = store.take_reports();
    assert_eq!(reports.len(), 2, "{reports:?}");
    assert!(reports[0].contains("does not match its digest"), "{reports:?}");
    assert!(store.verify_all().unwrap().is_empty(), "corrupt entries were removed");
    // Stored again, it is whole again.
    store.put(b"original").unwrap();
    assert_eq!(store.get(&small).unwrap().as_deref(), Some(&b"original"[..]));
}

#[test]
fn verify_all_finds_damage() {
    let (_dir, store) = store(DigestFunction::Sha256);
    let digest = store.put(b"abc").unwrap();
    assert!(store.verify_all().unwrap().is_empty());
    let mut txn = store.env.write_txn().unwrap();
    store.blobs.put(&mut txn, &key(&digest), b"abd").unwrap();
    txn.commit().unwrap();
    let bad = store.verify_all().unwrap();
    assert_eq!(bad.len(), 1);
    assert_eq!(bad[0].0, digest);
}

#[test]
fn action_cache() {
    let (_dir, store) = store(DigestFunction::Blake3);
    let action = Digest::of(DigestFunction::Blake3, b"action");
    assert_eq!(store.get_action(&action).unwrap(), None);
    store.put_action(&action, b"result bytes").unwrap();
    assert_eq!(store.get_action(&action).unwrap().as_deref(), Some(&b"result bytes"[..]));
    assert_eq!(store.stats().unwrap().actions, 1);
    store.remove_action(&action).unwrap();
    assert_eq!(store.get_action(&action).unwrap(), None);
    let wrong = Digest::of(DigestFunction::Sha256, b"action");
    assert!(matches!(store.get_action(&wrong), Err(StoreError::WrongFunction { .. })));
}

/// Sets an entry's last access, as if it had been read at that time.
fn age(store: &Store, digest: &Digest, last_access: u64) {
    let mut txn = store.env.write_txn().unwrap();
    let mut entry = Entry::decode(store.entries.get(&txn, &key(digest)).unwrap().unwrap()).unwrap();
    entry.last_access = last_access;
    store.entries.put(&mut txn, &key(digest), &entry.encode()).unwrap();
    txn.commit().unwrap();
}

#[test]
fn gc_evicts_least_recently_used_and_spares_leases() {
    let (_dir, store) = store(DigestFunction::Blake3);
    let blobs: Vec<Digest> = (0..4u8).map(|i| store.put(&[i; 100]).unwrap()).collect();
    for (i, digest) in blobs.iter().enumerate() {
        age(&store, digest, 1_000 + i as u64);
    }
    // The oldest is leased: it stays; the next two oldest go to reach 100 bytes.
    store.lease(&blobs[..1], SystemTime::now() + Duration::from_hours(1)).unwrap();
    let report = store.gc(Some(200)).unwrap();
    assert_eq!(report, GcReport { removed: 2, freed_bytes: 200, kept_leased: 1 });
    assert!(store.contains(&blobs[0]).unwrap());
    assert!(!store.contains(&blobs[1]).unwrap());
    assert!(!store.contains(&blobs[2]).unwrap());
    assert!(store.contains(&blobs[3]).unwrap());
    store.clear().unwrap();
    assert_eq!(store.stats().unwrap().blobs, 0);
    store.put(b"again").unwrap();
    let dir = store.dir().to_owned();
    drop(store);
    clear_folder(&dir).unwrap();
    let store = Store::open(&StoreOptions::new(&dir)).unwrap();
    assert_eq!(store.stats().unwrap().blobs, 0);
    assert!(store.take_reports().is_empty(), "a cleared store is not a damaged one");
}

#[test]
fn reads_refresh_the_last_access() {
    let (_dir, store) = store(DigestFunction::Blake3);
    let a = store.put(b"a").unwrap();
    let b = store.put(b"b").unwrap();
    age(&store, &a, 10);
    age(&store, &b, 20);
    store.get(&a).unwrap();
    let report = store.gc(Some(1)).unwrap();
    assert_eq!(report.removed, 1);
    assert!(store.contains(&a).unwrap(), "a was read last");
    assert!(!store.contains(&b).unwrap());
}

#[test]
fn a_store_persists_and_survives_a_truncated_file() {
    let dir = tempfile::tempdir().unwrap();
    let options = StoreOptions::new(dir.path().join("store"));
    let digest = {
        let store = Store::open(&options).unwrap();
        store.put(b"kept").unwrap()
    };
    let store = Store::open(&options).unwrap();
    assert_eq!(store.get(&digest).unwrap().as_deref(), Some(&b"kept"[..]));
    drop(store);
    let data = dir.path().join("store/data.mdb");
    let len = std::fs::metadata(&data).unwrap().len();
    std::fs::OpenOptions::new().write(true).open(&data).unwrap().set_len(len / 2).unwrap();
    let store = Store::open(&options).unwrap();
    assert!(store.verify_all().unwrap().is_empty());
}
