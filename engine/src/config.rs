//! Configuration: finding the repository root and reading `[tool.pleat]` from `pleat.toml` or `pyproject.toml` (and, beside it, pytest's own configuration), with errors that name the file and the fix.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::python::pytest_config::{self, PytestConfig};
use crate::vfs;

/// How imports pull in the `__init__.py` files of the packages they go through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum InitFiles {
    /// Every existing ancestor `__init__.py`.
    All,
    /// Only those that hold code (comments and blank lines do not count).
    #[default]
    ContentOnly,
    /// None: only the imported module itself.
    None,
}

/// What to do when two first-party files provide the same module.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Ambiguity {
    /// No edge; a finding names both candidates.
    #[default]
    None,
    /// Take the candidate under the importer's own source root, if exactly one is.
    BySourceRoot,
}

/// How tool processes are confined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Sandbox {
    /// bubblewrap where it can run, else plain (saying once why).
    #[default]
    Auto,
    /// A fresh folder and an empty environment.
    Plain,
    /// bubblewrap: no network, nothing private, read-only but the sandbox; an error where
    /// it cannot run.
    Bwrap,
}

/// `[tool.pleat.tools.<name>]`: the tool's own requirement set instead of the shipped one.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolOverride {
    /// A requirements file (relative to the root) with every dependency pinned and hashed.
    pub requirements: String,
}

/// `[tool.pleat.resolves.<name>]`: a named resolve, the third-party requirement set of the
/// files its `paths` match (see [`crate::resolves`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolveConfig {
    /// Files (`.txt`/`.in`, relative to the root) and group or extra names, as
    /// `[tool.pleat] requirements` takes them; the resolve holds only these.
    pub requirements: Vec<String>,
    /// Globs (relative to the root) of the files that use this resolve.
    pub paths: Vec<String>,
}

/// `[tool.pleat.remote]`: a REAPI v2 remote cache (BuildGrid, Buildbarn, BuildBuddy, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteConfig {
    /// `grpc://host:port` (or `grpcs://`).
    pub address: String,
    pub instance_name: String,
    /// Ask the remote cache on a local miss (default: true).
    pub cache_read: bool,
    /// Upload results run here; `None`: on when the environment has `CI=true`.
    pub cache_write: Option<bool>,
    /// Run processes on the remote's workers (REAPI `Execute`) on a miss (default: false).
    pub execution: bool,
    /// The environment variable holding a bearer token, if the server wants one.
    pub token_env: Option<String>,
    /// How long one call may take before the remote counts as down (default 5 s).
    pub timeout: std::time::Duration,
    /// `grpcs://` only: PEM certificates of the authorities to trust instead of the
    /// system's (written relative to the configuration file's folder; held joined to it).
    pub tls_ca_file: Option<PathBuf>,
    /// `grpcs://` only: this client's PEM certificate and key, for servers that ask for
    /// one (mutual TLS); both or neither.
    pub tls_client_cert_file: Option<PathBuf>,
    pub tls_client_key_file: Option<PathBuf>,
}

impl RemoteConfig {
    /// A remote at `address` with the defaults.
    pub fn new(address: impl Into<String>) -> Self {
        Self {
            address: address.into(),
            instance_name: String::new(),
            cache_read: true,
            cache_write: None,
            execution: false,
            token_env: None,
            timeout: std::time::Duration::from_secs(5),
            tls_ca_file: None,
            tls_client_cert_file: None,
            tls_client_key_file: None,
        }
    }

    /// Whether results are uploaded: `cache_write` when set, else on in CI (`CI=true`).
    pub fn writes(&self) -> bool {
        self.cache_write.unwrap_or_else(|| std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true")))
    }
}

/// `[tool.pleat]`, with defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Source-root patterns (globs allowed, relative to the root); `None` means detect.
    pub source_roots: Option<Vec<String>>,
    /// The line and column of each `source_roots` entry in [`Config::file`] (same order),
    /// for messages.
    pub source_root_positions: Vec<(usize, usize)>,
    pub init_files: InitFiles,
    pub string_imports: bool,
    pub string_imports_min_dots: u32,
    /// File-name globs that make a file a test, overriding pytest's collection rules;
    /// `None`: pytest's configuration decides (see `python::collection`).
    pub test_patterns: Option<Vec<String>>,
    /// Python minor version (3.x) whose standard library is assumed.
    pub python_minor: u8,
    /// True when `python_version` was set explicitly (not taken from requires-python).
    pub python_minor_set: bool,
    /// Distribution name → module names it provides, over the built-in table.
    pub module_mapping: BTreeMap<String, Vec<String>>,
    /// File → explicit dependencies; `!path` removes an inferred edge.
    pub dependencies: BTreeMap<String, Vec<String>>,
    pub ambiguity: Ambiguity,
    /// A virtualenv whose installed metadata names the modules of each distribution.
    pub venv: Option<String>,
    /// Extra paths (globs) to leave out of the walk, on top of .gitignore.
    pub exclude: Vec<String>,
    pub sandbox: Sandbox,
    /// The Python interpreter tools run with (default: `python3` on PATH).
    pub interpreter: Option<String>,
    /// Tool name → its requirements file.
    pub tools: BTreeMap<String, ToolOverride>,
    /// The store's size cap in bytes (`cache_max_size = "2GiB"`).
    pub cache_max_bytes: u64,
    /// `digest_function` when set (`blake3` or `sha256`); see [`Config::digest_function`].
    pub digest_function_set: Option<crate::hash::DigestFunction>,
    /// `[tool.pleat.remote]`, when it names an address.
    pub remote: Option<RemoteConfig>,
    /// Requirements declared in pyproject.toml (`[project]` dependencies and optional
    /// dependencies, `[dependency-groups]`, Poetry's dependencies), as PEP 508 strings.
    pub declared_requirements: Vec<String>,
    /// `requirements`: the files and groups the test environment holds besides the runtime
    /// dependencies; `None` means detect them.
    pub requirements: Option<Vec<String>>,
    /// `[tool.pleat.resources]`: a glob of test files → globs of the repository files (data,
    /// templates, fixtures) their sandboxes hold besides the ones found by default.
    pub resources: BTreeMap<String, Vec<String>>,
    /// `[tool.pleat.resolves]`: named resolves by name (never `default`, which is the
    /// project's own requirement set above).
    pub resolves: BTreeMap<String, ResolveConfig>,
    /// Where the configuration came from, if anywhere.
    pub file: Option<PathBuf>,
    /// pytest's configuration at the root (read by [`load`]; pytest's defaults otherwise).
    pub pytest: PytestConfig,
}

impl Config {
    /// The store's digest function: `digest_function` when set, else SHA-256 with a remote
    /// cache (REAPI servers such as BuildGrid speak only that), else BLAKE3 (faster).
    pub fn digest_function(&self) -> crate::hash::DigestFunction {
        self.digest_function_set.unwrap_or(if self.remote.is_some() {
            crate::hash::DigestFunction::Sha256
        } else {
            crate::hash::DigestFunction::Blake3
        })
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            source_roots: None,
            source_root_positions: Vec::new(),
            init_files: InitFiles::default(),
            string_imports: false,
            string_imports_min_dots: 2,
            test_patterns: None,
            python_minor: 11,
            python_minor_set: false,
            module_mapping: BTreeMap::new(),
            dependencies: BTreeMap::new(),
            ambiguity: Ambiguity::default(),
            venv: None,
            exclude: Vec::new(),
            sandbox: Sandbox::default(),
            interpreter: None,
            tools: BTreeMap::new(),
            cache_max_bytes: 2 << 30,
            digest_function_set: None,
            remote: None,
            declared_requirements: Vec::new(),
            requirements: None,
            resources: BTreeMap::new(),
            resolves: BTreeMap::new(),
            file: None,
            pytest: PytestConfig::default(),
        }
    }
}

/// A configuration file that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {}: {source}; check that the file exists and is readable", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{}:{line}:{column}: {message}; fix the file or remove the setting to use the default", path.display())]
    Invalid { path: PathBuf, line: usize, column: usize, message: String },
}

impl ConfigError {
    /// The file the error is about.
    pub fn path(&self) -> &Path {
        match self {
            Self::Read { path, .. } | Self::Invalid { path, .. } => path,
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
struct RawConfig {
    // Spanned, so that a root that is absolute, leaves the repository or is missing is
    // reported at its line.
    source_roots: Option<Vec<toml::Spanned<String>>>,
    init_files: Option<InitFiles>,
    string_imports: Option<bool>,
    string_imports_min_dots: Option<u32>,
    test_patterns: Option<Vec<String>>,
    python_version: Option<String>,
    module_mapping: Option<BTreeMap<String, Vec<String>>>,
    dependencies: Option<BTreeMap<String, Vec<String>>>,
    ambiguity: Option<Ambiguity>,
    venv: Option<String>,
    exclude: Option<Vec<String>>,
    sandbox: Option<Sandbox>,
    interpreter: Option<String>,
    tools: Option<BTreeMap<String, ToolOverride>>,
    cache_max_size: Option<String>,
    digest_function: Option<toml::Spanned<String>>,
    remote: Option<RawRemote>,
    requirements: Option<Vec<String>>,
    resources: Option<BTreeMap<String, Vec<String>>>,
    // Spanned, so that a bad name or glob is reported at its line.
    resolves: Option<BTreeMap<toml::Spanned<String>, RawResolve>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRemote {
    address: Option<toml::Spanned<String>>,
    instance_name: Option<String>,
    cache_read: Option<bool>,
    cache_write: Option<bool>,
    execution: Option<bool>,
    token_env: Option<String>,
    timeout: Option<toml::Spanned<f64>>,
    tls_ca_file: Option<toml::Spanned<String>>,
    tls_client_cert_file: Option<toml::Spanned<String>>,
    tls_client_key_file: Option<toml::Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawResolve {
    requirements: Vec<String>,
    paths: toml::Spanned<Vec<String>>,
}

#[derive(Deserialize)]
struct PyProject {
    tool: Option<Tool>,
    project: Option<toml::Table>,
    #[serde(rename = "dependency-groups")]
    dependency_groups: Option<toml::Table>,
}

#[derive(Deserialize)]
struct Tool {
    // Read in the same pass as the file, so a bad setting's error keeps its line.
    pleat: Option<RawConfig>,
    poetry: Option<toml::Table>,
}

/// PEP 508 strings declared anywhere in pyproject.toml.
fn declared_requirements(doc: &PyProject) -> Vec<String> {
    fn strings(value: Option<&toml::Value>, out: &mut Vec<String>) {
        if let Some(list) = value.and_then(toml::Value::as_array) {
            out.extend(list.iter().filter_map(toml::Value::as_str).map(str::to_owned));
        }
    }
    let mut out = Vec::new();
    if let Some(project) = &doc.project {
        strings(project.get("dependencies"), &mut out);
        if let Some(extras) = project.get("optional-dependencies").and_then(toml::Value::as_table) {
            for list in extras.values() {
                strings(Some(list), &mut out);
            }
        }
    }
    if let Some(groups) = &doc.dependency_groups {
        for list in groups.values() {
            strings(Some(list), &mut out);
        }
    }
    if let Some(poetry) = doc.tool.as_ref().and_then(|t| t.poetry.as_ref()) {
        let mut tables = vec![poetry.get("dependencies"), poetry.get("dev-dependencies")];
        if let Some(groups) = poetry.get("group").and_then(toml::Value::as_table) {
            tables.extend(groups.values().map(|g| g.get("dependencies")));
        }
        for table in tables.into_iter().flatten().filter_map(toml::Value::as_table) {
            out.extend(table.keys().filter(|k| k.as_str() != "python").cloned());
        }
    }
    out
}

/// Where the configuration lives in a root, if anywhere: `pleat.toml` wins over
/// `pyproject.toml`.
pub fn config_file(root: &Path) -> Option<PathBuf> {
    let pleat = root.join("pleat.toml");
    if pleat.is_file() {
        return Some(pleat);
    }
    let pyproject = root.join("pyproject.toml");
    pyproject.is_file().then_some(pyproject)
}

/// Reads the configuration of `root` (defaults when there is none), pytest's included.
pub fn load(root: &Path) -> Result<Config, ConfigError> {
    let pytest = pytest_config::load(root).map_err(|e| ConfigError::Invalid {
        path: e.path,
        line: e.line,
        column: 1,
        message: format!("{} (pytest reads its configuration from this file)", e.message),
    })?;
    let Some(path) = config_file(root) else {
        return Ok(Config { pytest, ..Config::default() });
    };
    let mut config = parse(&path, &read_text(&path)?)?;
    check_source_roots_exist(root, &config)?;
    config.pytest = pytest;
    // With a pleat.toml, pyproject.toml still declares the project's requirements and its
    // Python version.
    let pyproject = root.join("pyproject.toml");
    if path != pyproject && pyproject.is_file() {
        let project = parse(&pyproject, &read_text(&pyproject)?)?;
        config.declared_requirements = project.declared_requirements;
        if !config.python_minor_set {
            config.python_minor = project.python_minor;
        }
    }
    Ok(config)
}

fn read_text(path: &Path) -> Result<String, ConfigError> {
    let text = std::fs::read(path).map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
    String::from_utf8(text).map_err(|e| ConfigError::Invalid {
        path: path.to_owned(),
        line: 1,
        column: 1,
        message: format!("the file is not valid UTF-8 (at byte {})", e.utf8_error().valid_up_to()),
    })
}

/// Parses configuration text; `path` decides the layout (`pleat.toml` is the table
/// itself, `pyproject.toml` holds it under `[tool.pleat]`).
pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
    let invalid = |span: Option<std::ops::Range<usize>>, message: String| {
        let (line, column) = span.map_or((1, 1), |s| line_column(text, s.start));
        ConfigError::Invalid { path: path.to_owned(), line, column, message }
    };
    let is_pyproject = path.file_name().is_some_and(|n| n == "pyproject.toml");
    let (raw, project, declared) = if is_pyproject {
        let doc: PyProject =
            toml::from_str(text).map_err(|e| invalid(e.span(), e.message().trim().to_owned()))?;
        let declared = declared_requirements(&doc);
        let raw = doc.tool.and_then(|t| t.pleat).unwrap_or_default();
        (raw, doc.project, declared)
    } else {
        let raw: RawConfig =
            toml::from_str(text).map_err(|e| invalid(e.span(), e.message().trim().to_owned()))?;
        (raw, None, Vec::new())
    };
    let python_minor = match raw.python_version.as_deref() {
        Some(v) => parse_python_minor(v).ok_or_else(|| {
            invalid(None, format!("python_version = {v:?} is not a Python 3 version; write it like \"3.11\""))
        })?,
        None => project
            .as_ref()
            .and_then(|p| p.get("requires-python"))
            .and_then(toml::Value::as_str)
            .and_then(minor_from_requires_python)
            .unwrap_or(11),
    };
    let resolves = resolves(raw.resolves.unwrap_or_default(), is_pyproject)
        .map_err(|(span, message)| invalid(Some(span), message))?;
    let mut source_root_positions = Vec::new();
    for root in raw.source_roots.iter().flatten() {
        check_source_root(root.get_ref()).map_err(|message| invalid(Some(root.span()), message))?;
        source_root_positions.push(line_column(text, root.span().start));
    }
    let defaults = Config::default();
    let cache_max_bytes = match raw.cache_max_size.as_deref() {
        Some(text) => {
            parse_size(text).map_err(|message| invalid(None, format!("cache_max_size: {message}")))?
        }
        None => defaults.cache_max_bytes,
    };
    let digest_function_set = match &raw.digest_function {
        Some(name) => Some(crate::hash::DigestFunction::parse(name.get_ref()).ok_or_else(|| {
            invalid(
                Some(name.span()),
                format!("digest_function = {:?} is not a digest function Pleat has; write \"sha256\" or \"blake3\"", name.get_ref()),
            )
        })?),
        None => None,
    };
    let remote = match raw.remote {
        Some(remote) => remote_config(remote, is_pyproject, path.parent().unwrap_or(Path::new(".")))
            .map_err(|(span, message)| invalid(Some(span), message))?,
        None => None,
    };
    Ok(Config {
        source_roots: raw
            .source_roots
            .map(|roots| roots.into_iter().map(toml::Spanned::into_inner).collect()),
        source_root_positions,
        init_files: raw.init_files.unwrap_or_default(),
        string_imports: raw.string_imports.unwrap_or(false),
        string_imports_min_dots: raw.string_imports_min_dots.unwrap_or(defaults.string_imports_min_dots),
        test_patterns: raw.test_patterns,
        python_minor,
        python_minor_set: raw.python_version.is_some(),
        module_mapping: raw.module_mapping.unwrap_or_default(),
        dependencies: raw.dependencies.unwrap_or_default(),
        ambiguity: raw.ambiguity.unwrap_or_default(),
        venv: raw.venv,
        exclude: raw.exclude.unwrap_or_default(),
        sandbox: raw.sandbox.unwrap_or_default(),
        interpreter: raw.interpreter,
        tools: raw.tools.unwrap_or_default(),
        cache_max_bytes,
        digest_function_set,
        remote,
        declared_requirements: declared,
        requirements: raw.requirements,
        resources: raw.resources.unwrap_or_default(),
        resolves,
        file: Some(path.to_owned()),
        pytest: PytestConfig::default(),
    })
}

/// Checks `[tool.pleat.remote]`: an address with a scheme Pleat speaks, a positive timeout.
/// A table without an address turns nothing on (`None`).
fn remote_config(
    raw: RawRemote,
    is_pyproject: bool,
    root: &Path,
) -> Result<Option<RemoteConfig>, (std::ops::Range<usize>, String)> {
    let table = if is_pyproject { "[tool.pleat.remote]" } else { "[remote]" };
    let Some(address) = raw.address else { return Ok(None) };
    check_remote_address(address.get_ref()).map_err(|m| (address.span(), format!("{table} address: {m}")))?;
    let mut remote = RemoteConfig::new(address.into_inner());
    remote.instance_name = raw.instance_name.unwrap_or_default();
    remote.cache_read = raw.cache_read.unwrap_or(true);
    remote.cache_write = raw.cache_write;
    remote.execution = raw.execution.unwrap_or(false);
    remote.token_env = raw.token_env;
    if let Some(timeout) = raw.timeout {
        let seconds = *timeout.get_ref();
        if !(seconds > 0.0 && seconds.is_finite() && seconds <= 3600.0) {
            return Err((
                timeout.span(),
                format!(
                    "{table} timeout = {seconds} is not a number of seconds between 0 and 3600; write it like 5 or 0.5"
                ),
            ));
        }
        remote.timeout = std::time::Duration::from_secs_f64(seconds);
    }
    let mut spans = Vec::new();
    for (key, raw, field) in [
        ("tls_ca_file", raw.tls_ca_file, &mut remote.tls_ca_file),
        ("tls_client_cert_file", raw.tls_client_cert_file, &mut remote.tls_client_cert_file),
        ("tls_client_key_file", raw.tls_client_key_file, &mut remote.tls_client_key_file),
    ] {
        let Some(path) = raw else { continue };
        spans.push((key, path.span()));
        *field = Some(root.join(path.into_inner()));
    }
    check_remote_tls(&remote, RemoteSettings::Table(table)).map_err(|(key, message)| {
        let span = spans.iter().find(|(k, _)| *k == key).map(|(_, span)| span.clone()).unwrap_or_default();
        (span, message)
    })?;
    Ok(Some(remote))
}

/// How a remote's client settings were written, for the messages about them: the keys of
/// a configuration table (`[tool.pleat.remote]`, `[remote]` in pleat.toml) or the flags of
/// `pleat worker` (whose address is `--server`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemoteSettings {
    Table(&'static str),
    WorkerFlags,
}

impl RemoteSettings {
    /// A setting named by its key (`tls_ca_file`) as written: the key, or `--tls-ca-file`.
    pub fn name(self, key: &str) -> String {
        match self {
            Self::Table(_) => key.to_owned(),
            Self::WorkerFlags => format!("--{}", key.replace('_', "-")),
        }
    }

    /// A setting with where it was written: `[tool.pleat.remote] tls_ca_file`, `--tls-ca-file`.
    fn located(self, key: &str) -> String {
        match self {
            Self::Table(table) => format!("{table} {key}"),
            Self::WorkerFlags => self.name(key),
        }
    }

    /// A setting with its value, as written: `tls_ca_file = "ca.pem" under [tool.pleat.remote]`,
    /// `--tls-ca-file ca.pem`.
    pub fn given(self, key: &str, value: &str) -> String {
        match self {
            Self::Table(table) => format!("{key} = {value:?} under {table}"),
            Self::WorkerFlags => format!("{} {value}", self.name(key)),
        }
    }

    /// How to take a setting back: `remove tls_ca_file`, `drop --tls-ca-file`.
    pub fn undo(self, key: &str) -> String {
        match self {
            Self::Table(_) => format!("remove {key}"),
            Self::WorkerFlags => format!("drop {}", self.name(key)),
        }
    }

    /// The address setting: `the address`, `--server`.
    fn address(self) -> &'static str {
        match self {
            Self::Table(_) => "the address",
            Self::WorkerFlags => "--server",
        }
    }

    /// What to check when a `grpcs://` server does not answer: the TLS settings, by name.
    pub fn tls_advice(self) -> String {
        format!(
            "over TLS, that {} names the authority that signed the server's certificate (the system's are used without it) and, if the server asks for one, {} and {} a certificate it accepts",
            self.name("tls_ca_file"),
            self.name("tls_client_cert_file"),
            self.name("tls_client_key_file")
        )
    }
}

/// The TLS settings of a remote make sense together: files only with a `grpcs://` address,
/// a client certificate with its key. The error: the key it is about, and what to do.
pub fn check_remote_tls(
    remote: &RemoteConfig,
    settings: RemoteSettings,
) -> Result<(), (&'static str, String)> {
    let files = [
        ("tls_ca_file", &remote.tls_ca_file),
        ("tls_client_cert_file", &remote.tls_client_cert_file),
        ("tls_client_key_file", &remote.tls_client_key_file),
    ];
    if !remote.address.starts_with("grpcs://")
        && let Some((key, _)) = files.iter().find(|(_, path)| path.is_some())
    {
        let address = settings.address();
        let set = if settings == RemoteSettings::WorkerFlags { "given" } else { "set" };
        return Err((
            key,
            format!(
                "{} is {set}, but {address} is not grpcs://; write {address} as grpcs://host:port to use TLS, or {}",
                settings.located(key),
                settings.undo(key)
            ),
        ));
    }
    let (cert, key) = ("tls_client_cert_file", "tls_client_key_file");
    let given = match (&remote.tls_client_cert_file, &remote.tls_client_key_file) {
        (Some(_), None) => cert,
        (None, Some(_)) => key,
        _ => return Ok(()),
    };
    let only_one = format!("only one of {} and {}", settings.name(cert), settings.name(key));
    let what = match settings {
        RemoteSettings::Table(table) => format!("{table} names {only_one}"),
        RemoteSettings::WorkerFlags => format!("{only_one} is given"),
    };
    Err((given, format!("{what}; mutual TLS needs both (the client's certificate and its key), or neither")))
}

/// `grpc://host:port` or `grpcs://host[:port]`; the error says what to write.
pub fn check_remote_address(address: &str) -> Result<(), String> {
    let rest = address.strip_prefix("grpc://").or_else(|| address.strip_prefix("grpcs://")).ok_or_else(|| {
        format!("{address:?} does not start with grpc:// or grpcs://; write it like \"grpc://127.0.0.1:50051\"")
    })?;
    let host = rest.trim_end_matches('/');
    if host.is_empty() || host.contains(['/', ' ', '?', '#']) {
        return Err(format!(
            "{address:?} names no host (or more than a host and port); write it like \"grpc://cache.example.com:50051\""
        ));
    }
    Ok(())
}

/// A source root is a folder inside the repository, written from its root: not absolute,
/// and no `..` that climbs above it.
fn check_source_root(root: &str) -> Result<(), String> {
    if root.trim().starts_with(['/', '~']) {
        return Err(format!(
            "source root {root:?} is an absolute path; write the folder relative to the repository root (the folder of this file), like \"src\""
        ));
    }
    if vfs::join_normalized("", root.trim()).is_none() {
        return Err(format!(
            "source root {root:?} leaves the repository (its `..` climbs above the root); Pleat only sees files inside the repository, so name a folder inside it"
        ));
    }
    Ok(())
}

/// The configured source roots without a glob must be folders: a misspelt one would
/// otherwise leave every module under the intended folder unresolved without a word.
fn check_source_roots_exist(root: &Path, config: &Config) -> Result<(), ConfigError> {
    let Some(path) = &config.file else { return Ok(()) };
    for (index, pattern) in config.source_roots.iter().flatten().enumerate() {
        let Some(folder) = vfs::join_normalized("", pattern.trim()) else { continue };
        if pattern.contains(['*', '?', '[', '{']) || root.join(&folder).is_dir() {
            continue;
        }
        let (line, column) = config.source_root_positions.get(index).copied().unwrap_or((1, 1));
        return Err(ConfigError::Invalid {
            path: path.clone(),
            line,
            column,
            message: format!(
                "source root {pattern:?} is not a folder under {}; correct the name, create the folder, or remove the entry",
                root.display()
            ),
        });
    }
    Ok(())
}

/// Checks the named resolves: a name is `[A-Za-z0-9_-]+` and not `default`, `paths` holds
/// at least one valid glob. An error comes with the span it is about.
fn resolves(
    raw: BTreeMap<toml::Spanned<String>, RawResolve>,
    is_pyproject: bool,
) -> Result<BTreeMap<String, ResolveConfig>, (std::ops::Range<usize>, String)> {
    let table = if is_pyproject { "[tool.pleat.resolves" } else { "[resolves" };
    let mut out = BTreeMap::new();
    for (name, resolve) in raw {
        let span = name.span();
        let name = name.into_inner();
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
            return Err((
                span,
                format!(
                    "{table}.{name:?}]: a resolve's name may hold only letters, digits, `_` and `-` (it names the lock file pylock.<name>.toml); rename it"
                ),
            ));
        }
        if name == crate::resolves::DEFAULT {
            return Err((
                span,
                format!(
                    "{table}.default]: `default` is the name of the project's own resolve (the requirements under [tool.pleat]); give this resolve another name"
                ),
            ));
        }
        let paths_span = resolve.paths.span();
        let paths = resolve.paths.into_inner();
        if paths.is_empty() {
            return Err((
                paths_span,
                format!(
                    "{table}.{name}] paths is empty, so no file would use this resolve; list the globs of its files, like [\"{name}/**\"]"
                ),
            ));
        }
        crate::vfs::glob_set(&paths, "resolve paths")
            .map_err(|e| (paths_span, format!("{table}.{name}] paths: {e}")))?;
        out.insert(name, ResolveConfig { requirements: resolve.requirements, paths });
    }
    Ok(out)
}

/// `2GiB`, `500MiB`, `100MB`, `4096` → bytes; the error says what to write.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 =
        number.parse().map_err(|_| format!("`{text}` is not a size; write it like 2GiB or 500MiB"))?;
    let factor: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "kib" => 1024.0,
        "m" | "mb" => 1e6,
        "mib" => 1024.0 * 1024.0,
        "g" | "gb" => 1e9,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        other => {
            return Err(format!("unknown unit `{other}` in `{text}`; use B, KiB, MiB, GiB (or KB, MB, GB)"));
        }
    };
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    Ok((number * factor) as u64)
}

fn parse_python_minor(version: &str) -> Option<u8> {
    let mut parts = version.trim().split('.');
    (parts.next()? == "3").then_some(())?;
    parts.next()?.parse().ok()
}

/// `">=3.9"`, `">=3.10,<4"`, `"~=3.8"` → the lowest minor allowed.
fn minor_from_requires_python(spec: &str) -> Option<u8> {
    spec.split(',').find_map(|clause| {
        let clause = clause.trim();
        let version = clause.strip_prefix(">=").or_else(|| clause.strip_prefix("~="))?;
        parse_python_minor(version.trim().trim_end_matches(".*"))
    })
}

fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// True when `root` holds a configuration that marks it as a Pleat root.
fn is_configured_root(dir: &Path) -> bool {
    if dir.join("pleat.toml").is_file() {
        return true;
    }
    let pyproject = dir.join("pyproject.toml");
    std::fs::read_to_string(pyproject).is_ok_and(|text| {
        text.lines().any(|l| {
            let l = l.trim();
            l == "[tool.pleat]" || l.starts_with("[tool.pleat.") || l.starts_with("[tool.pleat ]")
        })
    })
}

/// The repository root for a starting folder: the nearest ancestor with `pleat.toml`
/// or a `pyproject.toml` holding `[tool.pleat]`, else the git root, else `start`.
pub fn find_root(start: &Path) -> PathBuf {
    if let Some(dir) = start.ancestors().find(|d| is_configured_root(d)) {
        return dir.to_owned();
    }
    if let Some(dir) = start.ancestors().find(|d| d.join(".git").exists()) {
        return dir.to_owned();
    }
    start.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pyproject(text: &str) -> Result<Config, ConfigError> {
        parse(Path::new("/repo/pyproject.toml"), text)
    }

    #[test]
    fn defaults_without_a_section() {
        let config = pyproject("[project]\nname = \"x\"\n").unwrap();
        assert_eq!(config.init_files, InitFiles::ContentOnly);
        assert_eq!(config.test_patterns, None, "pytest's configuration decides");
        assert_eq!(config.python_minor, 11);
        assert_eq!(config.sandbox, Sandbox::Auto, "bubblewrap where it runs");
        assert_eq!(pyproject("[tool.pleat]\nsandbox = \"auto\"\n").unwrap().sandbox, Sandbox::Auto);
    }

    #[test]
    fn reads_every_setting() {
        let config = pyproject(
            r#"
[project]
requires-python = ">=3.9"
dependencies = ["requests>=2", "PyYAML"]
optional-dependencies = { dev = ["pytest"] }
[dependency-groups]
lint = ["ruff"]
[tool.poetry.dependencies]
python = "^3.9"
attrs = "*"
[tool.pleat]
source_roots = ["src", "libs/*"]
init_files = "all"
string_imports = true
string_imports_min_dots = 1
ambiguity = "by_source_root"
sandbox = "bwrap"
interpreter = "/usr/bin/python3"
[tool.pleat.tools.ruff]
requirements = "locks/ruff.txt"
[tool.pleat.module_mapping]
my-dist = ["mymod"]
[tool.pleat.dependencies]
"pkg/a.py" = ["pkg/plugins/x.py", "!pkg/b.py"]
"#,
        )
        .unwrap();
        assert_eq!(config.source_roots, Some(vec!["src".to_owned(), "libs/*".to_owned()]));
        assert_eq!(config.init_files, InitFiles::All);
        assert!(config.string_imports);
        assert_eq!(config.string_imports_min_dots, 1);
        assert_eq!(config.python_minor, 9);
        assert_eq!(config.ambiguity, Ambiguity::BySourceRoot);
        assert_eq!(config.sandbox, Sandbox::Bwrap);
        assert_eq!(config.interpreter.as_deref(), Some("/usr/bin/python3"));
        assert_eq!(config.tools["ruff"].requirements, "locks/ruff.txt");
        assert_eq!(config.module_mapping["my-dist"], vec!["mymod".to_owned()]);
        assert_eq!(config.dependencies["pkg/a.py"].len(), 2);
        assert_eq!(config.declared_requirements, ["requests>=2", "PyYAML", "pytest", "ruff", "attrs"]);
    }

    #[test]
    fn errors_name_the_file_and_line() {
        let err = pyproject("[tool.pleat]\nsource_roots = [\n").unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("/repo/pyproject.toml:"), "{text}");
        let err = pyproject("[project]\nname = \"x\"\n[tool.pleat]\nsource_rots = [\"src\"]\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("source_rots") && err.contains("fix the file"), "{err}");
        assert!(err.starts_with("/repo/pyproject.toml:4:"), "the line of the setting: {err}");
        let err = pyproject("[tool.pleat]\ninit_files = \"some\"\n").unwrap_err().to_string();
        assert!(err.contains("some"), "{err}");
        let err = pyproject("[tool.pleat]\npython_version = \"2.7\"\n").unwrap_err().to_string();
        assert!(err.contains("3.11"), "{err}");
        let err = parse(Path::new("/repo/pleat.toml"), "init_files = 3").unwrap_err().to_string();
        assert!(err.starts_with("/repo/pleat.toml:1:"), "{err}");
    }

    #[test]
    fn the_remote_cache_and_its_digest_function() {
        assert_eq!(pyproject("").unwrap().digest_function(), crate::hash::DigestFunction::Blake3);
        let config = pyproject(
            "[tool.pleat.remote]\naddress = \"grpc://127.0.0.1:50051\"\ninstance_name = \"main\"\ncache_write = true\ntoken_env = \"TOKEN\"\ntimeout = 0.5\n",
        )
        .unwrap();
        let remote = config.remote.clone().unwrap();
        assert_eq!(
            (remote.address.as_str(), remote.instance_name.as_str()),
            ("grpc://127.0.0.1:50051", "main")
        );
        assert!(remote.cache_read && remote.writes());
        assert_eq!(remote.token_env.as_deref(), Some("TOKEN"));
        assert_eq!(remote.timeout, std::time::Duration::from_millis(500));
        assert_eq!(config.digest_function(), crate::hash::DigestFunction::Sha256, "what REAPI servers speak");
        let blake = pyproject(
            "[tool.pleat]\ndigest_function = \"blake3\"\n[tool.pleat.remote]\naddress = \"grpc://h:1\"\n",
        );
        assert_eq!(blake.unwrap().digest_function(), crate::hash::DigestFunction::Blake3, "as set");
        let err = pyproject("[tool.pleat.remote]\n\naddress = \"http://h:1\"\n").unwrap_err().to_string();
        assert!(err.starts_with("/repo/pyproject.toml:3:") && err.contains("grpc://"), "{err}");
        let err = pyproject("[tool.pleat]\ndigest_function = \"md5\"\n").unwrap_err().to_string();
        assert!(err.starts_with("/repo/pyproject.toml:2:") && err.contains("sha256"), "{err}");
        let err = pyproject("[tool.pleat.remote]\naddress = \"grpc://h:1\"\ntimeout = -1\n")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("/repo/pyproject.toml:3:") && err.contains("seconds"), "{err}");
        let err = pyproject("[tool.pleat.remote]\nadress = \"grpc://h:1\"\n").unwrap_err().to_string();
        assert!(err.contains("adress"), "{err}");
        assert!(
            pyproject("[tool.pleat.remote]\ncache_read = false\n").unwrap().remote.is_none(),
            "no address: off"
        );
    }

    #[test]
    fn tls_files_need_a_grpcs_address_and_mutual_tls_needs_both() {
        let config = pyproject(
            "[tool.pleat.remote]\naddress = \"grpcs://cache.example.com\"\ntls_ca_file = \"certs/ca.pem\"\ntls_client_cert_file = \"c.pem\"\ntls_client_key_file = \"c.key\"\n",
        )
        .unwrap();
        let remote = config.remote.unwrap();
        assert_eq!(remote.tls_ca_file.as_deref(), Some(Path::new("/repo/certs/ca.pem")));
        assert_eq!(
            (remote.tls_client_cert_file.as_deref(), remote.tls_client_key_file.as_deref()),
            (Some(Path::new("/repo/c.pem")), Some(Path::new("/repo/c.key")))
        );
        let err = pyproject("[tool.pleat.remote]\naddress = \"grpc://h:1\"\ntls_ca_file = \"ca.pem\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("/repo/pyproject.toml:3:") && err.contains("grpcs://"), "{err}");
        let err =
            pyproject("[tool.pleat.remote]\naddress = \"grpcs://h:1\"\n\ntls_client_key_file = \"c.key\"\n")
                .unwrap_err()
                .to_string();
        assert!(err.starts_with("/repo/pyproject.toml:4:") && err.contains("both"), "{err}");
    }

    #[test]
    fn pleat_toml_still_reads_requirements_from_pyproject() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pleat.toml"), "init_files = \"all\"\n").unwrap();
        std::fs::write(
            dir.path().join("pyproject.toml"),
            "[project]\nrequires-python = \">=3.12\"\ndependencies = [\"asgiref\"]\n",
        )
        .unwrap();
        let config = load(dir.path()).unwrap();
        assert_eq!(config.init_files, InitFiles::All);
        assert_eq!(config.declared_requirements, ["asgiref"]);
        assert_eq!(config.python_minor, 12);
    }

    #[test]
    fn load_reads_pytests_configuration_beside_pleats() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pyproject.toml"), "[tool.pleat]\ntest_patterns = [\"check_*.py\"]\n")
            .unwrap();
        std::fs::write(dir.path().join("setup.cfg"), "[tool:pytest]\ntestpaths = tests\n").unwrap();
        let config = load(dir.path()).unwrap();
        assert_eq!(config.test_patterns, Some(vec!["check_*.py".to_owned()]));
        assert_eq!(
            (config.pytest.file.as_deref(), config.pytest.testpaths.clone()),
            (Some("setup.cfg"), vec!["tests".to_owned()])
        );
        std::fs::write(dir.path().join("setup.cfg"), "[metadata]\n[pytest]\ntestpaths = tests\n").unwrap();
        let err = load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("setup.cfg:2:1:") && err.contains("[tool:pytest]"), "{err}");
    }

    #[test]
    fn reads_named_resolves_from_pyproject_and_pleat_toml() {
        let config = pyproject(
            "[tool.pleat.resolves.legacy]\nrequirements = [\"legacy/requirements.txt\", \"tests\"]\npaths = [\"legacy/**\"]\n[tool.pleat.resolves.ml_2]\nrequirements = []\npaths = [\"ml/**\", \"tools/ml_*.py\"]\n",
        )
        .unwrap();
        assert_eq!(config.resolves.keys().collect::<Vec<_>>(), ["legacy", "ml_2"]);
        assert_eq!(config.resolves["legacy"].requirements, ["legacy/requirements.txt", "tests"]);
        assert_eq!(config.resolves["ml_2"].paths, ["ml/**", "tools/ml_*.py"]);
        let config = parse(
            Path::new("/repo/pleat.toml"),
            "[resolves.old-py]\nrequirements = [\"a.txt\"]\npaths = [\"old/**\"]\n",
        )
        .unwrap();
        assert_eq!(config.resolves["old-py"].requirements, ["a.txt"]);
        assert!(pyproject("[tool.pleat]\n").unwrap().resolves.is_empty());
    }

    #[test]
    fn a_bad_resolve_is_an_error_at_its_line() {
        let err = |text: &str| pyproject(text).unwrap_err().to_string();
        let bad_name = err(
            "[project]\nname = \"x\"\n[tool.pleat.resolves.\"a b\"]\nrequirements = []\npaths = [\"a/**\"]\n",
        );
        assert!(bad_name.starts_with("/repo/pyproject.toml:3:"), "{bad_name}");
        assert!(bad_name.contains("letters, digits") && bad_name.contains("rename it"), "{bad_name}");
        let default = err("[tool.pleat.resolves.default]\nrequirements = []\npaths = [\"a/**\"]\n");
        assert!(default.starts_with("/repo/pyproject.toml:1:"), "{default}");
        assert!(default.contains("another name"), "{default}");
        let empty = err("[tool.pleat.resolves.a]\nrequirements = []\npaths = []\n");
        assert!(
            empty.starts_with("/repo/pyproject.toml:3:") && empty.contains("no file would use"),
            "{empty}"
        );
        let glob = err("[tool.pleat.resolves.a]\nrequirements = []\npaths = [\"a/[\"]\n");
        assert!(glob.starts_with("/repo/pyproject.toml:3:") && glob.contains("a/["), "{glob}");
        let unknown = err("[tool.pleat.resolves.a]\nrequirements = []\npaths = [\"a/**\"]\npath = []\n");
        assert!(unknown.starts_with("/repo/pyproject.toml:4:") && unknown.contains("path"), "{unknown}");
        let missing = err("[tool.pleat.resolves.a]\npaths = [\"a/**\"]\n");
        assert!(missing.contains("requirements"), "{missing}");
        let in_pleat_toml =
            parse(Path::new("/repo/pleat.toml"), "[resolves.default]\nrequirements = []\npaths = [\"a\"]\n")
                .unwrap_err()
                .to_string();
        assert!(
            in_pleat_toml.starts_with("/repo/pleat.toml:1:") && in_pleat_toml.contains("[resolves.default]"),
            "{in_pleat_toml}"
        );
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("2GiB"), Ok(2 << 30));
        assert_eq!(parse_size("500 MiB"), Ok(500 << 20));
        assert_eq!(parse_size("1.5KB"), Ok(1500));
        assert!(parse_size("lots").unwrap_err().contains("2GiB"));
        assert!(parse_size("3XB").is_err());
        let config = pyproject("[tool.pleat]\ncache_max_size = \"1GiB\"\n").unwrap();
        assert_eq!(config.cache_max_bytes, 1 << 30);
        assert!(pyproject("[tool.pleat]\ncache_max_size = \"big\"\n").is_err());
    }

    #[test]
    fn requires_python_gives_the_minor() {
        assert_eq!(minor_from_requires_python(">=3.10,<4"), Some(10));
        assert_eq!(minor_from_requires_python("~=3.8"), Some(8));
        assert_eq!(minor_from_requires_python("<4"), None);
    }
}
