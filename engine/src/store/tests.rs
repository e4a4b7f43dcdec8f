//! Store tests on real LMDB and real files in temp folders.

use std::time::{Duration, SystemTime};

use super::*;

fn store(function: DigestFunction) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    // No lease on what is written or read: eviction is tested on its own.
    let options = StoreOptions {
        dir: dir.path().join("store"),
        function,
        max_bytes: DEFAULT_MAX_BYTES,
        lease: Duration::ZERO,
    };
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

/// Deletes an entry as a collection in another process would (this process may not open
/// the store twice).
fn evict_elsewhere(store: &Store, digest: &Digest) {
    let mut txn = store.env.write_txn().unwrap();
    store.entries.delete(&mut txn, &key(digest)).unwrap();
    store.blobs.delete(&mut txn, &key(digest)).unwrap();
    txn.commit().unwrap();
}

#[test]
fn what_a_run_writes_is_leased_from_the_write_on() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&StoreOptions::new(dir.path().join("store"))).unwrap();
    let small = store.put(b"written by this run").unwrap();
    let big = store.put(&large(LARGE_BLOB as usize + 1, 3)).unwrap();
    let report = store.gc(Some(0)).unwrap();
    assert_eq!((report.removed, report.kept_leased), (0, 2), "{report:?}");
    assert!(store.contains(&small).unwrap() && store.large_path(&big).unwrap().is_some());
}

#[test]
fn content_found_stored_is_pinned_until_the_commit_that_leases_it_and_put_back_if_taken() {
    let (_dir, store) = store(DigestFunction::Blake3);
    let digest = store.put(b"held before this run").unwrap();
    let big_bytes = large(LARGE_BLOB as usize + 5, 9);
    let big = store.put(&big_bytes).unwrap();
    // This run stores the same content again (only touched) and reads the large one; a
    // collection elsewhere then takes both before the run commits.
    assert_eq!(store.put(b"held before this run").unwrap(), digest);
    assert_eq!(store.get(&big).unwrap().as_deref(), Some(big_bytes.as_slice()));
    evict_elsewhere(&store, &digest);
    evict_elsewhere(&store, &big);
    std::fs::remove_file(store.large_file(&big)).unwrap();
    assert_eq!(store.get(&digest).unwrap().as_deref(), Some(&b"held before this run"[..]));
    assert!(store.hold(&[digest, big]).unwrap(), "pinned content is held");
    // The commit puts both back; from then on they are read from the store itself.
    store.flush_access().unwrap();
    assert!(store.pins.lock().unwrap().blobs.is_empty());
    assert_eq!(store.get(&digest).unwrap().as_deref(), Some(&b"held before this run"[..]));
    assert_eq!(store.get(&big).unwrap(), Some(big_bytes));
    assert!(store.verify_all().unwrap().is_empty());
}

#[test]
fn a_lease_reports_what_is_already_gone_and_hold_fails_on_it() {
    let (_dir, store) = store(DigestFunction::Blake3);
    let kept = store.put(b"kept").unwrap();
    let gone = store.put(b"gone").unwrap();
    evict_elsewhere(&store, &gone);
    let missing = store.lease(&[kept, gone], SystemTime::now() + Duration::from_hours(1)).unwrap();
    assert_eq!(missing, vec![gone]);
    assert!(store.hold(&[kept]).unwrap());
    assert!(!store.hold(&[kept, gone]).unwrap());
    let report = store.gc(Some(0)).unwrap();
    assert_eq!((report.removed, report.kept_leased), (0, 1), "the leased one stays: {report:?}");
}

#[test]
fn a_collection_leaves_a_large_file_that_has_an_entry_again() {
    let (_dir, store) = store(DigestFunction::Blake3);
    let big = store.put(&large(LARGE_BLOB as usize + 2, 4)).unwrap();
    // As if a collection had committed its deletion and a run had stored the content
    // again before the collection got to the file.
    store.remove_files(&[big]).unwrap();
    assert!(store.large_file(&big).is_file(), "the file of a recorded content stays");
    evict_elsewhere(&store, &big);
    store.remove_files(&[big]).unwrap();
    assert!(!store.large_file(&big).exists());
}

#[test]
fn put_many_stores_a_batch_of_new_small_blobs_in_one_commit() {
    let (_dir, store) = store(DigestFunction::Sha256);
    let held = store.put(b"already here").unwrap();
    let data = store.dir().join("data.mdb");
    let before = crate::lmdb::check::newest_txnid(&data).unwrap();
    let big = large(LARGE_BLOB as usize + 3, 7);
    let blobs: Vec<&[u8]> = vec![b"one", b"two", b"already here", b"three"];
    let digests = store.put_many(&blobs).unwrap();
    assert_eq!(digests[2], held);
    assert_eq!(crate::lmdb::check::newest_txnid(&data).unwrap(), before + 1, "three new blobs, one commit");
    for (digest, bytes) in digests.iter().zip(&blobs) {
        assert_eq!(store.get(digest).unwrap().as_deref(), Some(*bytes));
    }
    // Nothing new: no commit. A large blob: its own file and record, as `put` makes them.
    let again = store.put_many(&blobs).unwrap();
    assert_eq!(again, digests);
    assert_eq!(crate::lmdb::check::newest_txnid(&data).unwrap(), before + 1, "all held: nothing written");
    let [big_digest] = store.put_many(&[&big]).unwrap()[..] else { panic!("one digest") };
    assert!(store.large_path(&big_digest).unwrap().is_some());
    assert_eq!(store.get(&big_digest).unwrap(), Some(big));
}
