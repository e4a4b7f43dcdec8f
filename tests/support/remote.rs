//! Helpers the BuildGrid tests share (tests/remote.rs, tests/remote_exec.rs): BuildGrid's `bgd` installed by the project's script, free ports, retrying until something holds (a port listened on, BuildGrid answering), the test certificates of TLS servers and their clients, and the sources and outcomes of a JSON test run.

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

/// Calls `attempt` until it gives `Ok`, pausing `pause` between tries; still failing after
/// `limit`: a failure saying `what` did not happen, with the last attempt's error.
pub fn retry_until<T>(
    limit: Duration,
    pause: Duration,
    what: &str,
    mut attempt: impl FnMut() -> Result<T, String>,
) -> T {
    let started = Instant::now();
    loop {
        match attempt() {
            Ok(value) => return value,
            Err(last) => assert!(
                started.elapsed() < limit,
                "{what} did not happen within {:.0} s: {last}",
                limit.as_secs_f64()
            ),
        }
        std::thread::sleep(pause);
    }
}

/// Polls `port` until something listens there; `child`, which should, exiting first is a
/// failure showing `log`.
pub fn wait_port(port: u16, child: &mut Child, log: &Path, what: &str) {
    retry_until(Duration::from_mins(2), Duration::from_millis(50), &format!("{what} listening"), || {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("{what} exited with {status}: {}", std::fs::read_to_string(log).unwrap_or_default());
        }
        std::net::TcpStream::connect(("127.0.0.1", port)).map(drop).map_err(|e| e.to_string())
    });
}

/// Polls `pleat remote status` (a project in `dir/probe` configured for `address`, trusting
/// and presenting `certs`) until the server answers `GetCapabilities`: a run gives its first
/// call 750 ms, which a server still starting may miss.
pub fn wait_answering(address: &str, certs: Option<&Certificates>, dir: &Path) {
    let probe = dir.join("probe");
    std::fs::create_dir_all(&probe).unwrap();
    std::fs::write(
        probe.join("pyproject.toml"),
        format!(
            "[tool.pleat.remote]\naddress = \"{address}\"\ninstance_name = \"main\"\n{}",
            certs.map(Certificates::client_lines).unwrap_or_default()
        ),
    )
    .unwrap();
    retry_until(Duration::from_mins(2), Duration::from_millis(100), "BuildGrid answering", || {
        let status = Command::new(env!("CARGO_BIN_EXE_pleat"))
            .arg("--root")
            .arg(&probe)
            .args(["--no-cache", "remote", "status"])
            .output()
            .unwrap();
        if status.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&status.stdout).into_owned())
        }
    });
}

/// A test certificate authority, a server certificate for 127.0.0.1 and a client
/// certificate it signed, made by the openssl command line (PEM files in `dir`).
pub struct Certificates {
    dir: PathBuf,
}

impl Certificates {
    pub fn make(dir: &Path) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        let openssl = |args: &[&str]| {
            let output = Command::new("openssl").current_dir(dir).args(args).output().expect(
                "the openssl command line runs (Debian's openssl package; install it with apt-get install openssl)",
            );
            assert!(output.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&output.stderr));
        };
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
        openssl(
            &[
                &["req", "-x509"][..],
                &ec,
                &["-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=pleat test CA"],
                &[
                    "-addext",
                    "basicConstraints=critical,CA:TRUE",
                    "-addext",
                    "keyUsage=critical,keyCertSign,cRLSign",
                ],
            ]
            .concat(),
        );
        for (name, usage, san) in [
            ("server", "serverAuth", "subjectAltName=IP:127.0.0.1"),
            ("client", "clientAuth", "subjectAltName=DNS:client"),
        ] {
            let key = format!("{name}.key");
            let csr = format!("{name}.csr");
            let subject = format!("/CN={name}");
            openssl(&[&["req"][..], &ec, &["-keyout", &key, "-out", &csr, "-subj", &subject]].concat());
            let extensions = format!("{name}.ext");
            std::fs::write(
                dir.join(&extensions),
                format!("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage={usage}\n{san}\n"),
            )
            .unwrap();
            let pem = format!("{name}.pem");
            openssl(&[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                &pem,
                "-days",
                "2",
                "-extfile",
                &extensions,
            ]);
        }
        Self { dir: dir.to_owned() }
    }

    /// The authority's certificate (what a client trusts).
    pub fn ca(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// The client's certificate and key.
    pub fn client(&self) -> (PathBuf, PathBuf) {
        (self.dir.join("client.pem"), self.dir.join("client.key"))
    }

    /// The lines of BuildGrid's `!channel` that serve TLS with the server certificate and
    /// ask every client for a certificate the test CA signed.
    pub fn buildgrid_channel(&self) -> String {
        format!(
            "    insecure-mode: false\n    credentials:\n      tls-server-key: {}\n      tls-server-cert: {}\n      tls-client-certs: {}\n",
            self.dir.join("server.key").display(),
            self.dir.join("server.pem").display(),
            self.ca().display()
        )
    }

    /// `[tool.pleat.remote]` lines that trust the test CA and present the client certificate.
    pub fn client_lines(&self) -> String {
        let (cert, key) = self.client();
        format!(
            "tls_ca_file = \"{}\"\ntls_client_cert_file = \"{}\"\ntls_client_key_file = \"{}\"\n",
            self.ca().display(),
            cert.display(),
            key.display()
        )
    }
}
