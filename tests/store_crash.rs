//! Crash safety of the store: a writer process is killed with SIGKILL at random moments, 100 times; after each kill every entry reads back and matches its digest.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use engine::store::{Store, StoreOptions};

#[test]
fn the_store_survives_sigkill_at_any_moment() {
    let dir = tempfile::tempdir().unwrap();
    let store_dir = dir.path().join("store");
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    let mut total_blobs = 0;
    for round in 0..100u64 {
        let mut writer = Command::new(env!("CARGO_BIN_EXE_pleat"))
            .args(["debug", "store-writer"])
            .arg(&store_dir)
            .args(["--seed", &(round + 1).to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("pleat starts");
        // Wait until it writes, then let it run a random 0–40 ms and kill it mid-write.
        let mut line = String::new();
        BufReader::new(writer.stdout.take().unwrap()).read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "writing", "round {round}: the writer did not start");
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        std::thread::sleep(Duration::from_micros(state % 40_000));
        writer.kill().unwrap(); // SIGKILL
        let status = writer.wait().unwrap();
        assert!(!status.success(), "round {round}: the writer should have been killed");

        let store = Store::open(&StoreOptions::new(&store_dir)).unwrap();
        let bad = store.verify_all().unwrap();
        assert!(bad.is_empty(), "round {round}: damaged entries after SIGKILL: {bad:?}");
        total_blobs = store.stats().unwrap().blobs;
    }
    assert!(total_blobs > 100, "the writers wrote too little to test anything: {total_blobs} blobs");
}
