//! Helpers the BuildGrid tests share (tests/remote.rs, tests/remote_exec.rs): BuildGrid's `bgd` installed by the project's script, free ports, waiting for a port, and the sources and outcomes of a JSON test run.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// `bgd`, installed once (the script does nothing when it is there).
pub fn bgd() -> PathBuf {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/install-buildgrid.sh");
    let output = Command::new("bash").arg(&script).stderr(Stdio::inherit()).output().expect("bash runs");
    assert!(output.status.success(), "scripts/install-buildgrid.sh failed");
    let path = String::from_utf8(output.stdout).unwrap();
    PathBuf::from(path.lines().last().expect("the script prints bgd's path").trim())
}

/// A port nobody listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// file → source, from a JSON test run.
pub fn sources(json: &Value) -> Vec<(String, String)> {
    json["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["file"].as_str().unwrap().to_owned(), f["source"].as_str().unwrap().to_owned()))
        .collect()
}

/// A file, its outcome and its tests' (name, outcome).
pub type FileOutcomes = (String, String, Vec<(String, String)>);

/// Every file's outcomes: what must be identical wherever a result came from.
pub fn outcomes(json: &Value) -> Vec<FileOutcomes> {
    json["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let tests = f["tests"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| (t["name"].as_str().unwrap().to_owned(), t["outcome"].as_str().unwrap().to_owned()))
                .collect();
            (f["file"].as_str().unwrap().to_owned(), f["outcome"].as_str().unwrap().to_owned(), tests)
        })
        .collect()
}

/// Polls `port` until something listens there; `child`, which should, exiting first is a
/// failure showing `log`.
pub fn wait_port(port: u16, child: &mut Child, log: &Path, what: &str) {
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("{what} exited with {status}: {}", std::fs::read_to_string(log).unwrap_or_default());
        }
        assert!(started.elapsed() < Duration::from_mins(2), "{what} did not listen within two minutes");
        std::thread::sleep(Duration::from_millis(50));
    }
}
