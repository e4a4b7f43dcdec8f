//! Third-party distributions: requirement parsing, the distribution → module-name table, and installed-distribution metadata from a virtualenv.
//!
//! Three sources tell Pleat which distribution provides an imported module:
//!
//! * declared requirements (`requirements.txt` files and PEP 508 strings), parsed here
//!   down to distribution names;
//! * a built-in table of distributions whose import name differs from their
//!   distribution name (`Pillow` → `PIL`), plus a few naming patterns
//!   (`google-cloud-*`, `azure-*`, stubs), with `my-lib` → `my_lib` as the
//!   last resort;
//! * the `*.dist-info` folders of an installed virtualenv, which are the best
//!   source when present.
//!
//! Everything here is plain data in and out; nothing panics on malformed input.

use std::fs;
use std::path::{Path, PathBuf};

// ---------------------------------------------------------------------------
// Names
// ---------------------------------------------------------------------------

/// PEP 503 normalisation: lowercase, runs of '-', '_', '.' become one '-'.
///
/// `"Foo__Bar.baz"` → `"foo-bar-baz"`. Nothing else is changed (no trimming),
/// exactly as `re.sub(r"[-_.]+", "-", name).lower()`.
#[must_use]
pub fn normalize_dist_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut in_separator_run = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !in_separator_run {
                out.push('-');
                in_separator_run = true;
            }
        } else {
            in_separator_run = false;
            out.extend(c.to_lowercase());
        }
    }
    out
}

/// True for a valid PEP 508 distribution name:
/// `^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$`, case-insensitively.
fn is_valid_dist_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) => {
            first.is_ascii_alphanumeric()
                && last.is_ascii_alphanumeric()
                && bytes.iter().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        }
        _ => false,
    }
}

/// True when `name` can be imported: a Python identifier (letters, digits and
/// `_`, not starting with a digit).
fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if c.is_alphabetic() || c == '_' => chars.all(|c| c.is_alphanumeric() || c == '_'),
        _ => false,
    }
}

// ---------------------------------------------------------------------------
// Requirements
// ---------------------------------------------------------------------------

/// One declared requirement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    /// The distribution name as written (`"PyYAML"`).
    pub name: String,
    /// [`normalize_dist_name`] of `name` (`"pyyaml"`).
    pub normalized: String,
    /// 1-based line in its file; for a line continued with `\`, its first line.
    pub line: u32,
}

/// The distribution name of a PEP 508 string:
/// `"requests[socks]>=2; python_version<'3.8'"` → `Some("requests")`;
/// `"pkg @ https://..."` → `Some("pkg")`; `""` or junk → `None`.
///
/// The name is returned as written (not normalised). Leading whitespace is
/// allowed; after the name there must be the end of the string, extras (`[`),
/// a parenthesised or bare version specifier (`(`, `<`, `<=`, `>`, `>=`,
/// `==`, `===`, `!=`, `~=`), a marker (`;`) or a URL (`@`), optionally after
/// whitespace. Anything else (paths, URLs, `-e` options, `name 1.0`) is junk.
#[must_use]
pub fn requirement_name(pep508: &str) -> Option<String> {
    let s = pep508.trim_start();
    let end =
        s.find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))).unwrap_or(s.len());
    let (name, rest) = s.split_at(end);
    if !is_valid_dist_name(name) {
        return None;
    }
    let rest = rest.trim_start();
    let valid_follower = matches!(
        rest.as_bytes(),
        [] | [b'[' | b'(' | b';' | b'@' | b'<' | b'>', ..] | [b'=' | b'!' | b'~', b'=', ..]
    );
    valid_follower.then(|| name.to_owned())
}

/// Parsed requirements.txt: comments (#, also trailing " # ..."), blank lines, line continuations with a trailing backslash, options (-i, --index-url, --extra-index-url, --hash=..., -c, --find-links, ...) skipped; `-r other.txt` / `--requirement other.txt` collected as includes (relative path strings as written); `-e ./path` and bare local paths/URLs without an `#egg=name` skipped; `-e git+https://...#egg=name` and `name @ url` yield the name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequirementsFile {
    /// The requirements, in file order (duplicates kept).
    pub requirements: Vec<Requirement>,
    /// Paths given to `-r` / `--requirement`, as written, in file order.
    /// Constraint files (`-c`) are not included: they declare nothing.
    pub includes: Vec<String>,
}

/// Parses the text of a pip requirements file (see [`RequirementsFile`]).
///
/// Follows pip's own reading: lines ending in `\` are joined with the next
/// (unless they are comments), a `#` at the start of a line or after
/// whitespace starts a comment, and on a requirement line everything from the
/// first token that starts with `-` on is per-requirement options
/// (`--hash=...`). Never fails: unknown or malformed lines are skipped.
#[must_use]
pub fn parse_requirements_txt(text: &str) -> RequirementsFile {
    let mut out = RequirementsFile::default();
    for (line, logical) in logical_lines(text) {
        parse_logical_line(&logical, line, &mut out);
    }
    out
}

/// Byte offset where a pip comment starts: a `#` at the start of the line or
/// after whitespace (pip's `(^|\s+)#.*$`).
fn comment_start(line: &str) -> Option<usize> {
    let mut previous_is_space = true;
    for (i, c) in line.char_indices() {
        if c == '#' && previous_is_space {
            return Some(i);
        }
        previous_is_space = c.is_whitespace();
    }
    None
}

/// Joins continued lines and strips comments, as pip's `join_lines` and
/// `ignore_comments` do. Yields (first physical line number, trimmed text),
/// skipping lines left empty.
pub(crate) fn logical_lines(text: &str) -> Vec<(u32, String)> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out = Vec::new();
    let mut pending: Option<(u32, String)> = None;
    let mut push = |line: u32, logical: &str| {
        let logical = logical.trim();
        if !logical.is_empty() {
            out.push((line, logical.to_owned()));
        }
    };
    for (index, raw) in text.lines().enumerate() {
        let line_no = u32::try_from(index + 1).unwrap_or(u32::MAX);
        let comment = comment_start(raw);
        if raw.ends_with('\\') && comment.is_none() {
            let piece = raw.trim_end_matches('\\');
            match &mut pending {
                Some((_, buffer)) => buffer.push_str(piece),
                None => pending = Some((line_no, piece.to_owned())),
            }
            continue;
        }
        let without_comment = comment.map_or(raw, |at| &raw[..at]);
        match pending.take() {
            Some((start, mut buffer)) => {
                buffer.push_str(without_comment);
                push(start, &buffer);
            }
            None => push(line_no, without_comment),
        }
    }
    if let Some((start, buffer)) = pending {
        push(start, &buffer);
    }
    out
}

/// What a requirements-file option does with its value.
#[derive(Clone, Copy, PartialEq, Eq)]
enum OptionKind {
    /// `-r` / `--requirement`: an included file.
    Requirement,
    /// `-e` / `--editable`: a path or VCS URL, named only by `#egg=`.
    Editable,
    /// Any other option that takes a value (skipped with its value).
    SkipValue,
    /// A flag or an unknown option (skipped alone).
    Flag,
}

fn option_kind(flag: &str) -> OptionKind {
    match flag {
        "-r" | "--requirement" => OptionKind::Requirement,
        "-e" | "--editable" => OptionKind::Editable,
        "-i" | "--index-url" | "--extra-index-url" | "-f" | "--find-links" | "-c" | "--constraint"
        | "--trusted-host" | "--use-feature" | "--only-binary" | "--no-binary" | "--hash"
        | "--global-option" | "--install-option" | "-C" | "--config-settings" | "--platform"
        | "--python-version" | "--implementation" | "--abi" | "--progress-bar" => OptionKind::SkipValue,
        _ => OptionKind::Flag,
    }
}

/// Splits an option token into its flag and an attached value:
/// `--index-url=x` → (`--index-url`, `x`), `-rfile` → (`-r`, `file`).
fn split_option(token: &str) -> (&str, Option<&str>) {
    if token.starts_with("--") {
        match token.split_once('=') {
            Some((flag, value)) => (flag, Some(value)),
            None => (token, None),
        }
    } else {
        // A short option: "-r", or "-rfile" / "-r=file" with the value attached.
        let flag_end = token.char_indices().nth(2).map_or(token.len(), |(index, _)| index);
        let (flag, rest) = token.split_at(flag_end);
        let rest = rest.strip_prefix('=').unwrap_or(rest);
        (flag, (!rest.is_empty()).then_some(rest))
    }
}

/// Removes one pair of matching surrounding quotes (pip reads options with
/// `shlex`).
fn unquote(value: &str) -> &str {
    for quote in ['"', '\''] {
        if let Some(inner) = value.strip_prefix(quote).and_then(|v| v.strip_suffix(quote)) {
            return inner;
        }
    }
    value
}

fn parse_logical_line(line: &str, line_no: u32, out: &mut RequirementsFile) {
    let tokens: Vec<&str> = line.split_whitespace().collect();
    let options_at = tokens.iter().position(|t| t.starts_with('-')).unwrap_or(tokens.len());
    let (args, options) = tokens.split_at(options_at);
    if !args.is_empty() {
        let arg = args.join(" ");
        if let Some(name) = name_of_requirement_arg(&arg) {
            push_requirement(out, name, line_no);
        }
    }
    let mut index = 0;
    while index < options.len() {
        let (flag, attached) = split_option(options[index]);
        let kind = option_kind(flag);
        let value = match (kind, attached) {
            (OptionKind::Flag, _) => None,
            (_, Some(value)) => Some(value),
            (_, None) => {
                index += 1;
                options.get(index).copied()
            }
        };
        match (kind, value.map(unquote)) {
            (OptionKind::Requirement, Some(path)) if !path.is_empty() => {
                out.includes.push(path.to_owned());
            }
            (OptionKind::Editable, Some(target)) => {
                if let Some(name) = egg_name(target) {
                    push_requirement(out, name, line_no);
                }
            }
            _ => {}
        }
        index += 1;
    }
}

fn push_requirement(out: &mut RequirementsFile, name: String, line: u32) {
    let normalized = normalize_dist_name(&name);
    out.requirements.push(Requirement { name, normalized, line });
}

/// The name of a requirement-line argument: a PEP 508 requirement
/// (including `name @ url`), or a path/URL carrying `#egg=name`. Bare paths,
/// URLs and archive file names yield `None`.
fn name_of_requirement_arg(arg: &str) -> Option<String> {
    if !looks_like_archive_file(arg)
        && let Some(name) = requirement_name(arg)
    {
        return Some(name);
    }
    egg_name(arg)
}

/// A wheel or sdist file name given without a path (`foo-1.0-py3-none-any.whl`):
/// pip installs it as a local file, not as a requirement named after it.
fn looks_like_archive_file(arg: &str) -> bool {
    if arg.contains('@') {
        return false;
    }
    let head = arg.split(';').next().unwrap_or(arg).trim().to_ascii_lowercase();
    [".whl", ".zip", ".tar.gz", ".tgz", ".tar.bz2", ".tbz", ".tar.xz", ".txz", ".tar"]
        .iter()
        .any(|ext| head.ends_with(ext))
}

/// The `egg=` value of a URL or path fragment (`...#egg=name&subdirectory=x`),
/// reduced to its distribution name (`name[extra]` → `name`).
fn egg_name(target: &str) -> Option<String> {
    let (_, fragment) = target.split_once('#')?;
    fragment.split('&').filter_map(|part| part.strip_prefix("egg=")).find_map(requirement_name)
}

// ---------------------------------------------------------------------------
// Distribution → modules
// ---------------------------------------------------------------------------

/// Normalised distribution name → the top-level modules it provides, for
/// distributions whose import name is not simply the name with `-` → `_`.
/// Sorted by key (byte order) for binary search; checked by a unit test.
const MODULE_TABLE: &[(&str, &[&str])] = &[
    // BEGIN MODULE_TABLE (one entry per line, kept sorted)
    ("absl-py", &["absl"]),
    ("antlr4-python3-runtime", &["antlr4"]),
    ("apache-airflow", &["airflow"]),
    ("apache-airflow-providers-amazon", &["airflow.providers.amazon"]),
    ("apache-airflow-providers-cncf-kubernetes", &["airflow.providers.cncf.kubernetes"]),
    ("apache-airflow-providers-google", &["airflow.providers.google"]),
    ("apache-airflow-providers-http", &["airflow.providers.http"]),
    ("apache-airflow-providers-postgres", &["airflow.providers.postgres"]),
    ("argon2-cffi", &["argon2"]),
    ("attrs", &["attr", "attrs"]),
    ("auth0-python", &["auth0"]),
    ("avro-python3", &["avro"]),
    ("aws-cdk-lib", &["aws_cdk"]),
    ("azure-common", &["azure.common", "azure.profiles"]),
    ("azure-storage-file-datalake", &["azure.storage.filedatalake"]),
    ("azure-storage-file-share", &["azure.storage.fileshare"]),
    ("backports-functools-lru-cache", &["backports.functools_lru_cache"]),
    ("backports-tarfile", &["backports.tarfile"]),
    ("backports-zoneinfo", &["backports.zoneinfo"]),
    ("basemap", &["mpl_toolkits.basemap"]),
    ("bayesian-optimization", &["bayes_opt"]),
    ("beautifulsoup", &["BeautifulSoup"]),
    ("beautifulsoup4", &["bs4"]),
    ("biopython", &["Bio", "BioSQL"]),
    ("brotlipy", &["brotli"]),
    ("camelot-py", &["camelot"]),
    ("cassandra-driver", &["cassandra"]),
    ("cupy-cuda11x", &["cupy", "cupy_backends", "cupyx"]),
    ("cupy-cuda12x", &["cupy", "cupy_backends", "cupyx"]),
    ("cx-freeze", &["cx_Freeze"]),
    ("cx-oracle", &["cx_Oracle"]),
    ("cython", &["Cython", "cython", "pyximport"]),
    ("databricks-sdk", &["databricks.sdk"]),
    ("databricks-sql-connector", &["databricks.sql"]),
    ("dbus-python", &["dbus", "_dbus_bindings"]),
    ("delta-spark", &["delta"]),
    ("discord-py", &["discord"]),
    ("django-allauth", &["allauth"]),
    ("django-ckeditor", &["ckeditor", "ckeditor_uploader"]),
    ("django-compressor", &["compressor"]),
    ("django-cors-headers", &["corsheaders"]),
    ("django-crispy-forms", &["crispy_forms"]),
    ("django-debug-toolbar", &["debug_toolbar"]),
    ("django-environ", &["environ"]),
    ("django-filter", &["django_filters"]),
    ("django-guardian", &["guardian"]),
    ("django-haystack", &["haystack"]),
    ("django-import-export", &["import_export"]),
    ("django-model-utils", &["model_utils"]),
    ("django-mptt", &["mptt"]),
    ("django-oauth-toolkit", &["oauth2_provider"]),
    ("django-phonenumber-field", &["phonenumber_field"]),
    ("django-polymorphic", &["polymorphic"]),
    ("django-simple-history", &["simple_history"]),
    ("django-storages", &["storages"]),
    ("django-taggit", &["taggit"]),
    ("django-webpack-loader", &["webpack_loader"]),
    ("djangorestframework", &["rest_framework"]),
    ("djangorestframework-simplejwt", &["rest_framework_simplejwt"]),
    ("dnspython", &["dns"]),
    ("docker-compose", &["compose"]),
    ("dogpile-cache", &["dogpile.cache"]),
    ("factory-boy", &["factory"]),
    ("faiss-cpu", &["faiss"]),
    ("faiss-gpu", &["faiss"]),
    ("farm-haystack", &["haystack"]),
    ("fasttext-wheel", &["fasttext"]),
    ("ffmpeg-python", &["ffmpeg"]),
    ("fonttools", &["fontTools"]),
    ("fpdf2", &["fpdf"]),
    ("future", &["future", "libfuturize", "libpasteurize", "past"]),
    ("gdal", &["osgeo", "osgeo_utils"]),
    ("gin-config", &["gin"]),
    ("gitpython", &["git"]),
    ("google-api-core", &["google.api_core"]),
    ("google-api-python-client", &["googleapiclient", "apiclient"]),
    ("google-auth", &["google.auth", "google.oauth2"]),
    ("google-cloud-audit-log", &["google.cloud.audit"]),
    (
        "google-cloud-build",
        &[
            "google.cloud.devtools.cloudbuild",
            "google.cloud.devtools.cloudbuild_v1",
            "google.cloud.devtools.cloudbuild_v2",
        ],
    ),
    (
        "google-cloud-core",
        &[
            "google.cloud.client",
            "google.cloud.environment_vars",
            "google.cloud.exceptions",
            "google.cloud.obsolete",
            "google.cloud.operation",
            "google.cloud.version",
            "google.cloud._helpers",
            "google.cloud._http",
        ],
    ),
    (
        "google-cloud-pubsub",
        &["google.cloud.pubsub", "google.cloud.pubsub_v1", "google.pubsub", "google.pubsub_v1"],
    ),
    ("google-cloud-resource-manager", &["google.cloud.resourcemanager", "google.cloud.resourcemanager_v3"]),
    (
        "google-cloud-secret-manager",
        &[
            "google.cloud.secretmanager",
            "google.cloud.secretmanager_v1",
            "google.cloud.secretmanager_v1beta1",
            "google.cloud.secretmanager_v1beta2",
        ],
    ),
    ("google-genai", &["google.genai"]),
    ("google-generativeai", &["google.generativeai"]),
    ("google-resumable-media", &["google.resumable_media"]),
    (
        "googleapis-common-protos",
        &[
            "google.api",
            "google.cloud.common_resources_pb2",
            "google.cloud.extended_operations_pb2",
            "google.cloud.location",
            "google.gapic",
            "google.logging",
            "google.longrunning",
            "google.rpc",
            "google.type",
        ],
    ),
    ("gputil", &["GPUtil"]),
    ("grpc-google-iam-v1", &["google.iam.v1"]),
    ("grpcio", &["grpc"]),
    ("grpcio-health-checking", &["grpc_health"]),
    ("grpcio-reflection", &["grpc_reflection"]),
    ("grpcio-status", &["grpc_status"]),
    ("grpcio-testing", &["grpc_testing"]),
    ("grpcio-tools", &["grpc_tools"]),
    ("guppy3", &["guppy"]),
    ("hydra-core", &["hydra"]),
    ("imbalanced-learn", &["imblearn"]),
    ("importlib-metadata", &["importlib_metadata"]),
    ("ipython", &["IPython"]),
    ("jaraco-classes", &["jaraco.classes"]),
    ("jaraco-context", &["jaraco.context"]),
    ("jaraco-functools", &["jaraco.functools"]),
    ("jaraco-text", &["jaraco.text"]),
    ("jpype1", &["jpype"]),
    ("junos-eznc", &["jnpr.junos"]),
    ("kafka-python", &["kafka"]),
    ("koalas", &["databricks.koalas"]),
    ("lark-parser", &["lark"]),
    ("levenshtein", &["Levenshtein"]),
    ("linkify-it-py", &["linkify_it"]),
    ("markdown-it-py", &["markdown_it"]),
    ("mecab-python3", &["MeCab"]),
    ("msgpack-python", &["msgpack"]),
    ("mysql-connector", &["mysql.connector"]),
    ("mysql-connector-python", &["mysql.connector", "mysql.ai", "mysqlx"]),
    ("mysqlclient", &["MySQLdb"]),
    ("neptune-client", &["neptune"]),
    ("netcdf4", &["netCDF4"]),
    ("newspaper3k", &["newspaper"]),
    ("nvidia-ml-py", &["pynvml"]),
    ("nvidia-ml-py3", &["pynvml"]),
    ("odfpy", &["odf"]),
    ("onnxruntime-gpu", &["onnxruntime"]),
    ("openai-whisper", &["whisper"]),
    ("opencv-contrib-python", &["cv2"]),
    ("opencv-contrib-python-headless", &["cv2"]),
    ("opencv-python", &["cv2"]),
    ("opencv-python-headless", &["cv2"]),
    ("opensearch-py", &["opensearchpy"]),
    ("opentelemetry-api", &["opentelemetry"]),
    ("opentelemetry-distro", &["opentelemetry.distro"]),
    ("opentelemetry-exporter-otlp", &["opentelemetry.exporter.otlp"]),
    ("opentelemetry-exporter-otlp-proto-common", &["opentelemetry.exporter.otlp.proto.common"]),
    ("opentelemetry-exporter-otlp-proto-grpc", &["opentelemetry.exporter.otlp.proto.grpc"]),
    ("opentelemetry-exporter-otlp-proto-http", &["opentelemetry.exporter.otlp.proto.http"]),
    ("opentelemetry-exporter-prometheus", &["opentelemetry.exporter.prometheus"]),
    ("opentelemetry-instrumentation", &["opentelemetry.instrumentation"]),
    ("opentelemetry-propagator-b3", &["opentelemetry.propagators.b3"]),
    ("opentelemetry-proto", &["opentelemetry.proto"]),
    ("opentelemetry-sdk", &["opentelemetry.sdk"]),
    ("opentelemetry-semantic-conventions", &["opentelemetry.semconv"]),
    ("opentelemetry-util-http", &["opentelemetry.util.http"]),
    ("opentsne", &["openTSNE"]),
    ("paho-mqtt", &["paho.mqtt"]),
    ("pdfminer-six", &["pdfminer"]),
    ("pillow", &["PIL"]),
    ("pillow-simd", &["PIL"]),
    ("pinecone-client", &["pinecone"]),
    ("poetry-core", &["poetry.core"]),
    ("proto-plus", &["proto"]),
    ("protobuf", &["google.protobuf"]),
    ("psycopg2-binary", &["psycopg2"]),
    ("py-cpuinfo", &["cpuinfo"]),
    ("py-solc-x", &["solcx"]),
    ("pyahocorasick", &["ahocorasick"]),
    ("pybluez", &["bluetooth"]),
    ("pycairo", &["cairo"]),
    ("pycapnp", &["capnp"]),
    ("pycrypto", &["Crypto"]),
    ("pycryptodome", &["Crypto"]),
    ("pycryptodomex", &["Cryptodome"]),
    ("pygithub", &["github"]),
    ("pygobject", &["gi"]),
    ("pyhamcrest", &["hamcrest"]),
    ("pyhumps", &["humps"]),
    ("pyicu", &["icu"]),
    ("pyinstaller", &["PyInstaller"]),
    ("pyjnius", &["jnius"]),
    ("pyjwt", &["jwt"]),
    ("pyldavis", &["pyLDAvis"]),
    ("pymongo", &["pymongo", "bson", "gridfs"]),
    ("pymupdf", &["fitz", "pymupdf"]),
    ("pynacl", &["nacl"]),
    ("pyobjc-core", &["objc"]),
    ("pyobjc-framework-cocoa", &["AppKit", "Cocoa", "CoreFoundation", "Foundation"]),
    ("pyopengl", &["OpenGL"]),
    ("pyopengl-accelerate", &["OpenGL_accelerate"]),
    ("pyopenssl", &["OpenSSL"]),
    ("pypdf2", &["PyPDF2"]),
    ("pyqt5", &["PyQt5"]),
    ("pyqt5-sip", &["PyQt5.sip"]),
    ("pyqt6", &["PyQt6"]),
    ("pysaml2", &["saml2"]),
    ("pyserial", &["serial"]),
    ("pyshp", &["shapefile"]),
    ("pyside2", &["PySide2"]),
    ("pyside6", &["PySide6"]),
    ("pysimplegui", &["PySimpleGUI"]),
    ("pysmb", &["smb", "nmb"]),
    ("pysocks", &["socks", "sockshandler"]),
    ("pysqlite3-binary", &["pysqlite3"]),
    ("pytelegrambotapi", &["telebot"]),
    ("pytest-asyncio", &["pytest_asyncio"]),
    ("pytest-xdist", &["xdist"]),
    ("python-barcode", &["barcode"]),
    ("python-binance", &["binance"]),
    ("python-box", &["box"]),
    ("python-can", &["can"]),
    ("python-consul", &["consul"]),
    ("python-crontab", &["crontab", "crontabs", "cronlog"]),
    ("python-daemon", &["daemon"]),
    ("python-dateutil", &["dateutil"]),
    ("python-decouple", &["decouple"]),
    ("python-docx", &["docx"]),
    ("python-dotenv", &["dotenv"]),
    ("python-editor", &["editor"]),
    ("python-engineio", &["engineio"]),
    ("python-gitlab", &["gitlab"]),
    ("python-gnupg", &["gnupg"]),
    ("python-i18n", &["i18n"]),
    ("python-igraph", &["igraph"]),
    ("python-jenkins", &["jenkins"]),
    ("python-jose", &["jose"]),
    ("python-json-logger", &["pythonjsonlogger"]),
    ("python-keycloak", &["keycloak"]),
    ("python-language-server", &["pyls"]),
    ("python-ldap", &["ldap", "ldapurl", "ldif", "slapdtest"]),
    ("python-levenshtein", &["Levenshtein"]),
    ("python-lsp-server", &["pylsp"]),
    ("python-magic", &["magic"]),
    ("python-memcached", &["memcache"]),
    ("python-multipart", &["multipart", "python_multipart"]),
    ("python-nmap", &["nmap"]),
    ("python-pptx", &["pptx"]),
    ("python-rapidjson", &["rapidjson"]),
    ("python-slugify", &["slugify"]),
    ("python-snappy", &["snappy"]),
    ("python-socketio", &["socketio"]),
    ("python-telegram-bot", &["telegram"]),
    ("python-vlc", &["vlc"]),
    ("python-whois", &["whois"]),
    ("python-xlib", &["Xlib"]),
    ("python3-saml", &["onelogin.saml2"]),
    ("pythonnet", &["clr", "pythonnet"]),
    ("pyusb", &["usb"]),
    ("pywavelets", &["pywt"]),
    ("pywebview", &["webview"]),
    (
        "pywin32",
        &[
            "win32api",
            "win32con",
            "win32gui",
            "win32com",
            "win32comext",
            "pythoncom",
            "pywintypes",
            "win32clipboard",
            "win32console",
            "win32cred",
            "win32crypt",
            "win32event",
            "win32evtlog",
            "win32file",
            "win32job",
            "win32net",
            "win32pdh",
            "win32pipe",
            "win32print",
            "win32process",
            "win32profile",
            "win32security",
            "win32service",
            "win32serviceutil",
            "win32timezone",
            "win32ts",
            "win32ui",
            "winerror",
            "servicemanager",
            "adodbapi",
            "isapi",
        ],
    ),
    ("pywin32-ctypes", &["win32ctypes"]),
    ("pywinpty", &["winpty"]),
    ("pywinrm", &["winrm"]),
    ("pyyaml", &["yaml", "_yaml"]),
    ("pyzmq", &["zmq"]),
    ("redis-py-cluster", &["rediscluster"]),
    ("robotframework", &["robot"]),
    ("rpds-py", &["rpds"]),
    ("rpi-gpio", &["RPi"]),
    ("ruamel-yaml", &["ruamel.yaml"]),
    ("scikit-build", &["skbuild"]),
    ("scikit-image", &["skimage"]),
    ("scikit-learn", &["sklearn"]),
    ("scikit-optimize", &["skopt"]),
    ("scylla-driver", &["cassandra"]),
    ("setuptools", &["setuptools", "pkg_resources", "_distutils_hack"]),
    ("smbprotocol", &["smbprotocol", "smbclient"]),
    ("snowflake-connector-python", &["snowflake.connector"]),
    ("snowflake-snowpark-python", &["snowflake.snowpark"]),
    ("snowflake-sqlalchemy", &["snowflake.sqlalchemy"]),
    ("social-auth-app-django", &["social_django"]),
    ("social-auth-core", &["social_core"]),
    ("speechrecognition", &["speech_recognition"]),
    ("sphinxcontrib-applehelp", &["sphinxcontrib.applehelp"]),
    ("sphinxcontrib-devhelp", &["sphinxcontrib.devhelp"]),
    ("sphinxcontrib-htmlhelp", &["sphinxcontrib.htmlhelp"]),
    ("sphinxcontrib-jquery", &["sphinxcontrib.jquery"]),
    ("sphinxcontrib-jsmath", &["sphinxcontrib.jsmath"]),
    ("sphinxcontrib-qthelp", &["sphinxcontrib.qthelp"]),
    ("sphinxcontrib-serializinghtml", &["sphinxcontrib.serializinghtml"]),
    ("strawberry-graphql", &["strawberry"]),
    ("ta-lib", &["talib"]),
    ("tabula-py", &["tabula"]),
    ("tensorboardx", &["tensorboardX"]),
    ("tensorflow-cpu", &["tensorflow"]),
    ("tensorflow-gpu", &["tensorflow"]),
    ("tensorflow-intel", &["tensorflow"]),
    ("tensorflow-macos", &["tensorflow"]),
    ("tf-nightly", &["tensorflow"]),
    ("tortoise-orm", &["tortoise"]),
    ("typing-extensions", &["typing_extensions"]),
    ("uc-micro-py", &["uc_micro"]),
    ("umap-learn", &["umap"]),
    ("vcrpy", &["vcr"]),
    ("weaviate-client", &["weaviate"]),
    ("websocket-client", &["websocket"]),
    ("wxpython", &["wx"]),
    ("yubikey-manager", &["ykman", "yubikit"]),
    ("zc-buildout", &["zc.buildout"]),
    ("zope-event", &["zope.event"]),
    ("zope-interface", &["zope.interface"]),
    // END MODULE_TABLE
];

fn table_lookup(normalized: &str) -> Option<&'static [&'static str]> {
    MODULE_TABLE
        .binary_search_by(|(key, _)| (*key).cmp(normalized))
        .ok()
        .and_then(|index| MODULE_TABLE.get(index))
        .map(|(_, modules)| *modules)
}

/// The top-level import names a distribution provides when nothing better
/// is known (no installed metadata). Input: a normalized name.
///
/// Order of rules:
/// 1. the built-in table;
/// 2. patterns: `google-cloud-X` → `google.cloud.X` (with `-` → `_`),
///    `types-X` → the modules of `X` (stubs), `X-stubs` → the modules of `X`
///    (stubs), `opentelemetry-instrumentation-X` →
///    `opentelemetry.instrumentation.X` (with `-` → `_`), `azure-X-Y` →
///    `azure.X.Y` (`azure-mgmt-network` → `azure.mgmt.network`);
/// 3. fallback: the name with `-` → `_` (`my-lib` → `["my_lib"]`).
///
/// Module names may be dotted (`google.protobuf`). The input is normalised
/// again, so a name as written works too; an empty name gives an empty list.
#[must_use]
pub fn modules_for_distribution(normalized: &str) -> Vec<String> {
    let name = normalize_dist_name(normalized.trim());
    if name.is_empty() {
        return Vec::new();
    }
    modules_for_normalized(&name)
}

fn modules_for_normalized(mut name: &str) -> Vec<String> {
    // A loop, not recursion: `types-types-...-x` must not exhaust the stack.
    loop {
        if let Some(modules) = table_lookup(name) {
            return modules.iter().map(|m| (*m).to_owned()).collect();
        }
        match stub_base(name) {
            Some(base) => name = base,
            None => break,
        }
    }
    if let Some(rest) = non_empty(name.strip_prefix("google-cloud-")) {
        return vec![format!("google.cloud.{}", rest.replace('-', "_"))];
    }
    if let Some(rest) = non_empty(name.strip_prefix("opentelemetry-instrumentation-")) {
        return vec![format!("opentelemetry.instrumentation.{}", rest.replace('-', "_"))];
    }
    if let Some(rest) = non_empty(name.strip_prefix("azure-")) {
        return vec![format!("azure.{}", rest.replace('-', "."))];
    }
    vec![name.replace('-', "_")]
}

fn non_empty(s: Option<&str>) -> Option<&str> {
    s.filter(|s| !s.is_empty() && !s.starts_with('-'))
}

/// For a stub distribution, the distribution it types: `types-x` → `x`,
/// `x-stubs` → `x`.
fn stub_base(normalized: &str) -> Option<&str> {
    non_empty(normalized.strip_prefix("types-"))
        .or_else(|| normalized.strip_suffix("-stubs").filter(|base| !base.is_empty() && !base.ends_with('-')))
}

/// True for type-stub distributions (types-*, *-stubs).
///
/// The input is normalised again, so `types_PyYAML` and `Django-Stubs` count.
#[must_use]
pub fn is_stub_distribution(normalized: &str) -> bool {
    stub_base(&normalize_dist_name(normalized.trim())).is_some()
}

// ---------------------------------------------------------------------------
// Installed distributions
// ---------------------------------------------------------------------------

/// An installed distribution in a site-packages folder, from its
/// `*.dist-info` metadata: the `METADATA` `Name:` header for the exact name,
/// then `top_level.txt` if present, else the top-level names derived from
/// `RECORD` paths: a first path component that is a package directory or an
/// `x.py` / `x.*.so` / `x.pyi` module, excluding `*.dist-info`, `*.data`,
/// `__pycache__`, `bin/..` entries and `.pth` files. Missing or unreadable
/// files are skipped, never a panic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledDist {
    /// The exact name from `METADATA` (`"PyYAML"`), or the name part of the
    /// `*.dist-info` folder when `METADATA` is missing or has no valid `Name:`.
    pub name: String,
    /// [`normalize_dist_name`] of `name`.
    pub normalized: String,
    /// Top-level modules, sorted and deduplicated. A `foo-stubs` package is
    /// listed as `foo`. Empty when neither `top_level.txt` nor `RECORD`
    /// names any module (the caller may then fall back to
    /// [`modules_for_distribution`]).
    pub modules: Vec<String>,
}

/// Reads every `*.dist-info` folder directly inside `site_packages` (see
/// [`InstalledDist`]). The result is sorted by normalised name; a folder
/// that cannot be read gives an empty list.
#[must_use]
pub fn read_site_packages(site_packages: &Path) -> Vec<InstalledDist> {
    let Ok(entries) = fs::read_dir(site_packages) else {
        return Vec::new();
    };
    let mut dist_infos: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|entry| entry.file_name().to_str().is_some_and(|name| name.ends_with(".dist-info")))
        .map(|entry| entry.path())
        .filter(|path| path.is_dir())
        .collect();
    dist_infos.sort();
    let mut dists: Vec<InstalledDist> = dist_infos.iter().filter_map(|dir| read_dist_info(dir)).collect();
    dists.sort_by(|a, b| a.normalized.cmp(&b.normalized).then_with(|| a.name.cmp(&b.name)));
    dists
}

/// A file's text, with invalid UTF-8 replaced; `None` if it cannot be read.
fn read_text(path: &Path) -> Option<String> {
    fs::read(path).ok().map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
}

fn read_dist_info(dir: &Path) -> Option<InstalledDist> {
    let name = read_text(&dir.join("METADATA"))
        .and_then(|text| metadata_name(&text))
        .or_else(|| name_from_dist_info_dir(dir))?;
    let normalized = normalize_dist_name(&name);
    let mut modules =
        read_text(&dir.join("top_level.txt")).map(|text| modules_from_top_level(&text)).unwrap_or_default();
    if modules.is_empty() {
        modules = read_text(&dir.join("RECORD")).map(|text| modules_from_record(&text)).unwrap_or_default();
    }
    modules.sort();
    modules.dedup();
    Some(InstalledDist { name, normalized, modules })
}

/// The `Name:` header of a core-metadata file (headers end at the first
/// blank line).
fn metadata_name(text: &str) -> Option<String> {
    text.lines()
        .take_while(|line| !line.trim().is_empty())
        .filter_map(|line| line.split_once(':'))
        .find(|(key, _)| key.trim().eq_ignore_ascii_case("name"))
        .map(|(_, value)| value.trim())
        .filter(|value| is_valid_dist_name(value))
        .map(str::to_owned)
}

/// `python_dateutil-2.9.0.dist-info` → `python_dateutil` (wheel file names
/// escape `-` in the name as `_`, so the name ends at the first `-`).
fn name_from_dist_info_dir(dir: &Path) -> Option<String> {
    let file_name = dir.file_name()?.to_str()?;
    let stem = file_name.strip_suffix(".dist-info")?;
    let name = stem.split('-').next().unwrap_or(stem);
    is_valid_dist_name(name).then(|| name.to_owned())
}

/// A top-level package or module name as it appears on disk, made importable:
/// `foo-stubs` → `foo`; anything that is not an identifier → `None`.
fn importable_name(name: &str) -> Option<String> {
    let name = name.strip_suffix("-stubs").unwrap_or(name);
    (is_identifier(name) && !name.starts_with("__editable__")).then(|| name.to_owned())
}

/// Names listed in `top_level.txt`, one a line. An entry written as a path
/// (pywin32's `win32\lib\win32con`, put on `sys.path` by a `.pth` file) counts
/// as its last component.
fn modules_from_top_level(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .filter_map(|line| line.rsplit(['/', '\\']).next())
        .filter_map(importable_name)
        .collect()
}

/// The first (path) field of a CSV `RECORD` row, unquoting `"..."` fields.
fn record_path(row: &str) -> String {
    let Some(quoted) = row.strip_prefix('"') else {
        return row.split(',').next().unwrap_or(row).to_owned();
    };
    let mut path = String::new();
    let mut chars = quoted.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '"' {
            if chars.peek() == Some(&'"') {
                path.push('"');
                chars.next();
            } else {
                break;
            }
        } else {
            path.push(c);
        }
    }
    path
}

/// Top-level modules named by the paths in a `RECORD` file: the first
/// component of a Python file in a folder (`yaml/__init__.py` → `yaml`), or
/// a top-level module file (`six.py`, `six.pyi`,
/// `_cffi_backend.cpython-311-x86_64-linux-gnu.so`, `x.pyd`). Entries outside
/// site-packages (`../../bin/x`), metadata folders, `__pycache__` and `.pth`
/// files are ignored.
fn modules_from_record(text: &str) -> Vec<String> {
    let mut modules = Vec::new();
    for row in text.lines() {
        let path = record_path(row.trim_end_matches('\r'));
        let path = path.replace('\\', "/");
        let mut components = path.split('/').filter(|c| !c.is_empty() && *c != ".");
        let Some(first) = components.next() else {
            continue;
        };
        if path.starts_with('/') || first == ".." || first == "__pycache__" || is_metadata_dir(first) {
            continue;
        }
        let last = path.rsplit('/').next().unwrap_or(&path);
        if components.next().is_some() {
            // A file inside a folder: the folder is a package if it holds Python code.
            if is_python_file(last)
                && let Some(module) = importable_name(first)
            {
                modules.push(module);
            }
        } else if is_python_file(first)
            && let Some(stem) = first.split('.').next()
            && let Some(module) = importable_name(stem)
        {
            modules.push(module);
        }
    }
    modules
}

/// `*.dist-info`, `*.data` and `*.egg-info` folders.
fn is_metadata_dir(name: &str) -> bool {
    Path::new(name).extension().is_some_and(|ext| {
        ["dist-info", "data", "egg-info"].iter().any(|known| ext.eq_ignore_ascii_case(known))
    })
}

/// A Python source, stub or extension module file name.
fn is_python_file(file_name: &str) -> bool {
    [".py", ".pyi", ".so", ".pyd"].iter().any(|ext| file_name.ends_with(ext))
}

/// `venv/lib/python3.*/site-packages` (POSIX) or `venv/Lib/site-packages`; None if absent.
///
/// With several `python3.*` folders, the highest minor version wins.
#[must_use]
pub fn find_site_packages(venv: &Path) -> Option<PathBuf> {
    let mut best: Option<(u32, String, PathBuf)> = None;
    if let Ok(entries) = fs::read_dir(venv.join("lib")) {
        for entry in entries.filter_map(Result::ok) {
            let file_name = entry.file_name();
            let Some(name) = file_name.to_str() else {
                continue;
            };
            let Some(version) = name.strip_prefix("python3.") else {
                continue;
            };
            let site_packages = entry.path().join("site-packages");
            if !site_packages.is_dir() {
                continue;
            }
            let digits: String = version.chars().take_while(char::is_ascii_digit).collect();
            let minor = digits.parse::<u32>().unwrap_or(0);
            let candidate = (minor, name.to_owned(), site_packages);
            if best.as_ref().is_none_or(|current| (candidate.0, &candidate.1) > (current.0, &current.1)) {
                best = Some(candidate);
            }
        }
    }
    if let Some((_, _, path)) = best {
        return Some(path);
    }
    let windows = venv.join("Lib").join("site-packages");
    windows.is_dir().then_some(windows)
}

#[cfg(test)]
mod tests {
    use super::*;

    // -- normalisation --------------------------------------------------

    #[test]
    fn normalizes_names() {
        for (input, expected) in [
            ("requests", "requests"),
            ("PyYAML", "pyyaml"),
            ("python_dateutil", "python-dateutil"),
            ("Foo__Bar.baz", "foo-bar-baz"),
            ("a-_.-b", "a-b"),
            ("ruamel.yaml", "ruamel-yaml"),
            ("zope.interface", "zope-interface"),
            ("Django-Cors-Headers", "django-cors-headers"),
            ("typing_extensions", "typing-extensions"),
            ("---", "-"),
            ("", ""),
            ("A1", "a1"),
        ] {
            assert_eq!(normalize_dist_name(input), expected, "{input:?}");
        }
    }

    // -- PEP 508 names --------------------------------------------------

    #[test]
    fn requirement_names_from_pep508() {
        let some = |s: &str| Some(s.to_owned());
        for (input, expected) in [
            ("requests", some("requests")),
            ("requests[socks]>=2; python_version<'3.8'", some("requests")),
            ("requests [security, socks] >= 2.8.1, == 2.8.*", some("requests")),
            ("pkg @ https://example.com/pkg-1.0.tar.gz", some("pkg")),
            ("pkg@https://example.com/pkg.zip", some("pkg")),
            ("pkg[extra] @ git+https://github.com/a/b.git@v1", some("pkg")),
            ("PyYAML==6.0.1", some("PyYAML")),
            ("  Django >= 4.2 ", some("Django")),
            ("name===1.0", some("name")),
            ("name~=1.4.2", some("name")),
            ("name!=1.5", some("name")),
            ("name<2,>1", some("name")),
            ("name>1", some("name")),
            ("name (>=1.0)", some("name")),
            ("name;sys_platform=='win32'", some("name")),
            ("name ; python_version < \"3.8\"", some("name")),
            ("zope.interface>=5", some("zope.interface")),
            ("ruamel_yaml", some("ruamel_yaml")),
            ("a", some("a")),
            ("A1-b_c.d", some("A1-b_c.d")),
            ("", None),
            ("   ", None),
            ("-e .", None),
            ("--index-url https://x", None),
            ("./local/path", None),
            (".", None),
            ("https://example.com/x.whl", None),
            ("git+https://github.com/a/b.git", None),
            ("C:\\path\\pkg", None),
            ("name 1.0", None),
            ("name=1.0", None),
            ("name!1", None),
            ("name~1", None),
            ("-name", None),
            ("name-", None),
            ("name.", None),
            ("_name", None),
            ("# comment", None),
            ("näme", None),
            ("name/sub", None),
        ] {
            assert_eq!(requirement_name(input), expected, "{input:?}");
        }
    }

    // -- requirements.txt -----------------------------------------------

    fn names(file: &RequirementsFile) -> Vec<(&str, u32)> {
        file.requirements.iter().map(|r| (r.name.as_str(), r.line)).collect()
    }

    #[test]
    fn parses_requirements_txt() {
        let text = "\
# A comment
requests>=2.31  # trailing comment

PyYAML==6.0.1 \\
    --hash=sha256:aaaa \\
    --hash=sha256:bbbb
    # via -r requirements.in
-i https://pypi.example/simple
--index-url=https://pypi.example/simple
--extra-index-url https://other.example/simple
--find-links ./wheels
-f https://wheels.example/
--trusted-host pypi.example
--no-index
--pre
-c constraints.txt
--constraint=more-constraints.txt
-r base.txt
--requirement dev/extra.txt
--requirement=third.txt
-rfourth.txt
-e ./local/pkg
-e .
--editable ../sibling
-e git+https://github.com/org/repo.git@v1.2#egg=EditablePkg
--editable=git+ssh://git@github.com/org/other.git#egg=other_pkg[extra]&subdirectory=sub
./vendored/pkg
../pkg-1.0.tar.gz
pkg-2.0-py3-none-any.whl
https://example.com/archive.zip
https://example.com/archive.zip#egg=from_url
git+https://github.com/org/vcs.git#subdirectory=x&egg=vcs-pkg
direct @ https://example.com/direct-1.0.whl
python-dateutil ; python_version < \"3.9\"
Django[argon2]~=4.2 --config-settings key=value
coverage==7.0 --hash sha256:cccc
name-with-url-hash==1.0 # comment with # more
";
        let parsed = parse_requirements_txt(text);
        assert_eq!(
            names(&parsed),
            vec![
                ("requests", 2),
                ("PyYAML", 4),
                ("EditablePkg", 25),
                ("other_pkg", 26),
                ("from_url", 31),
                ("vcs-pkg", 32),
                ("direct", 33),
                ("python-dateutil", 34),
                ("Django", 35),
                ("coverage", 36),
                ("name-with-url-hash", 37),
            ]
        );
        assert_eq!(parsed.includes, vec!["base.txt", "dev/extra.txt", "third.txt", "fourth.txt"]);
        let normalized: Vec<&str> = parsed.requirements.iter().map(|r| r.normalized.as_str()).collect();
        assert_eq!(normalized[1], "pyyaml");
        assert_eq!(normalized[2], "editablepkg");
        assert_eq!(normalized[3], "other-pkg");
    }

    #[test]
    fn continuation_lines_join_and_keep_first_line_number() {
        let text = "first\n\nsplit\\\n-name>=1\\\n.0\nlast \\\n";
        let parsed = parse_requirements_txt(text);
        assert_eq!(names(&parsed), vec![("first", 1), ("split-name", 3), ("last", 6)]);
    }

    #[test]
    fn comment_lines_ending_in_backslash_do_not_continue() {
        let text = "# not continued \\\nreal\n";
        assert_eq!(names(&parse_requirements_txt(text)), vec![("real", 2)]);
    }

    #[test]
    fn requirements_edge_cases_never_panic() {
        for text in [
            "",
            "\n\n\n",
            "\\",
            "\\\n\\\n",
            "-r",
            "-e",
            "--requirement",
            "-",
            "--",
            "#",
            "#egg=x",
            "x#egg=",
            "é ü ß",
            "\u{feff}requests",
            "-r\u{e9}",
            "--hash=",
            "-e git+https://x#egg=",
            "\r\n\r\nflask\r\n",
        ] {
            let _ = parse_requirements_txt(text);
        }
        assert_eq!(
            names(&parse_requirements_txt("\u{feff}requests\r\nflask\r\n")),
            vec![("requests", 1), ("flask", 2)]
        );
        assert!(parse_requirements_txt("-r").includes.is_empty());
        assert!(parse_requirements_txt("-e git+https://x#egg=").requirements.is_empty());
    }

    #[test]
    fn short_inputs_never_panic() {
        let alphabet = ["a", "-", "_", ".", "#", "\\", "\n", " ", "=", "@", "[", ";", "é", "\"", "r", "e"];
        for a in alphabet {
            for b in alphabet {
                for c in alphabet {
                    for d in ["", "-e ", "-r", "x#egg=", "types-"] {
                        let text = format!("{d}{a}{b}{c}");
                        let _ = parse_requirements_txt(&text);
                        let _ = requirement_name(&text);
                        let _ = modules_for_distribution(&text);
                        let _ = is_stub_distribution(&text);
                        let _ = normalize_dist_name(&text);
                        let _ = modules_from_record(&text);
                        let _ = modules_from_top_level(&text);
                        let _ = metadata_name(&text);
                    }
                }
            }
        }
    }

    #[test]
    fn quoted_option_values_are_unquoted() {
        let parsed = parse_requirements_txt("-r \"base.txt\"\n-e 'git+https://x/y#egg=quoted'\n");
        assert_eq!(parsed.includes, vec!["base.txt"]);
        assert_eq!(names(&parsed), vec![("quoted", 2)]);
    }

    // -- the module table -----------------------------------------------

    fn modules(name: &str) -> Vec<String> {
        modules_for_distribution(name)
    }

    #[test]
    fn table_is_sorted_unique_and_large() {
        assert!(MODULE_TABLE.len() >= 130, "only {} entries", MODULE_TABLE.len());
        for pair in MODULE_TABLE.windows(2) {
            assert!(pair[0].0 < pair[1].0, "{} !< {}", pair[0].0, pair[1].0);
        }
        for (key, mods) in MODULE_TABLE {
            assert_eq!(normalize_dist_name(key), *key, "key not normalized");
            assert!(!mods.is_empty(), "{key} has no modules");
            for module in *mods {
                assert!(module.split('.').all(is_identifier), "{key}: bad module {module}");
            }
            // Every entry must say something the fallback would not.
            let fallback = vec![key.replace('-', "_")];
            let listed: Vec<String> = mods.iter().map(|m| (*m).to_owned()).collect();
            let required_anyway = ["typing-extensions", "importlib-metadata", "pytest-asyncio"];
            assert!(listed != fallback || required_anyway.contains(key), "{key} is redundant");
            assert_eq!(table_lookup(key), Some(*mods));
        }
    }

    #[test]
    fn table_lookups() {
        for (dist, expected) in [
            ("pillow", &["PIL"][..]),
            ("pyyaml", &["yaml", "_yaml"]),
            ("beautifulsoup4", &["bs4"]),
            ("scikit-learn", &["sklearn"]),
            ("python-dateutil", &["dateutil"]),
            ("opencv-python", &["cv2"]),
            ("opencv-python-headless", &["cv2"]),
            ("opencv-contrib-python", &["cv2"]),
            ("opencv-contrib-python-headless", &["cv2"]),
            ("protobuf", &["google.protobuf"]),
            ("grpcio", &["grpc"]),
            ("pyjwt", &["jwt"]),
            ("mysqlclient", &["MySQLdb"]),
            ("psycopg2-binary", &["psycopg2"]),
            ("python-dotenv", &["dotenv"]),
            ("attrs", &["attr", "attrs"]),
            ("pyzmq", &["zmq"]),
            ("pycryptodome", &["Crypto"]),
            ("pycryptodomex", &["Cryptodome"]),
            ("scikit-image", &["skimage"]),
            ("msgpack-python", &["msgpack"]),
            ("python-magic", &["magic"]),
            ("pyopenssl", &["OpenSSL"]),
            ("pygithub", &["github"]),
            ("python-jose", &["jose"]),
            ("setuptools", &["setuptools", "pkg_resources", "_distutils_hack"]),
            ("beautifulsoup", &["BeautifulSoup"]),
            ("django-cors-headers", &["corsheaders"]),
            ("djangorestframework", &["rest_framework"]),
            ("django-filter", &["django_filters"]),
            ("faiss-cpu", &["faiss"]),
            ("tensorflow-gpu", &["tensorflow"]),
            ("tensorflow-cpu", &["tensorflow"]),
            ("pyserial", &["serial"]),
            ("pyusb", &["usb"]),
            ("ruamel-yaml", &["ruamel.yaml"]),
            ("python-slugify", &["slugify"]),
            ("pytest-asyncio", &["pytest_asyncio"]),
            ("typing-extensions", &["typing_extensions"]),
            ("importlib-metadata", &["importlib_metadata"]),
            ("websocket-client", &["websocket"]),
            ("python-multipart", &["multipart", "python_multipart"]),
            ("opentelemetry-api", &["opentelemetry"]),
            ("opentelemetry-sdk", &["opentelemetry.sdk"]),
            ("azure-storage-file-share", &["azure.storage.fileshare"]),
            (
                "google-cloud-secret-manager",
                &[
                    "google.cloud.secretmanager",
                    "google.cloud.secretmanager_v1",
                    "google.cloud.secretmanager_v1beta1",
                    "google.cloud.secretmanager_v1beta2",
                ],
            ),
        ] {
            assert_eq!(modules(dist), expected, "{dist}");
        }
        let common = modules("googleapis-common-protos");
        for module in ["google.api", "google.rpc", "google.type", "google.longrunning"] {
            assert!(common.contains(&module.to_owned()), "{module}");
        }
        let win = modules("pywin32");
        for module in ["win32api", "win32con", "win32gui", "win32com", "pythoncom", "pywintypes"] {
            assert!(win.contains(&module.to_owned()), "{module}");
        }
        // Names as written are normalised first.
        assert_eq!(modules("PyYAML"), ["yaml", "_yaml"]);
        assert_eq!(modules("Pillow"), ["PIL"]);
        assert_eq!(modules("ruamel.yaml"), ["ruamel.yaml"]);
        assert_eq!(modules("scikit_learn"), ["sklearn"]);
    }

    #[test]
    fn patterns() {
        assert_eq!(modules("google-cloud-storage"), ["google.cloud.storage"]);
        assert_eq!(modules("google-cloud-bigquery-storage"), ["google.cloud.bigquery_storage"]);
        assert_eq!(modules("azure-storage-blob"), ["azure.storage.blob"]);
        assert_eq!(modules("azure-mgmt-network"), ["azure.mgmt.network"]);
        assert_eq!(modules("azure-identity"), ["azure.identity"]);
        assert_eq!(modules("azure"), ["azure"]);
        assert_eq!(modules("opentelemetry-instrumentation-flask"), ["opentelemetry.instrumentation.flask"]);
        assert_eq!(
            modules("opentelemetry-instrumentation-aws-lambda"),
            ["opentelemetry.instrumentation.aws_lambda"]
        );
        assert_eq!(modules("opentelemetry-instrumentation"), ["opentelemetry.instrumentation"]);
        assert_eq!(modules("google-cloud"), ["google_cloud"]);
    }

    #[test]
    fn stubs() {
        assert_eq!(modules("types-requests"), ["requests"]);
        assert_eq!(modules("types-pyyaml"), ["yaml", "_yaml"]);
        assert_eq!(modules("types-python-dateutil"), ["dateutil"]);
        assert_eq!(modules("types-protobuf"), ["google.protobuf"]);
        assert_eq!(modules("django-stubs"), ["django"]);
        assert_eq!(modules("pandas-stubs"), ["pandas"]);
        assert_eq!(modules("grpc-stubs"), ["grpc"]);
        assert_eq!(modules("types-my-lib"), ["my_lib"]);
        for stub in ["types-requests", "django-stubs", "types_PyYAML", "Pandas-Stubs"] {
            assert!(is_stub_distribution(stub), "{stub}");
        }
        for not_stub in ["requests", "types", "stubs", "types-", "-stubs", "django-stubs-ext", "typeshed", ""]
        {
            assert!(!is_stub_distribution(not_stub), "{not_stub}");
        }
    }

    #[test]
    fn fallback() {
        assert_eq!(modules("my-lib"), ["my_lib"]);
        assert_eq!(modules("requests"), ["requests"]);
        assert_eq!(modules("pyasn1-modules"), ["pyasn1_modules"]);
        assert_eq!(modules("flask-sqlalchemy"), ["flask_sqlalchemy"]);
        assert!(modules("").is_empty());
        assert!(modules("  ").is_empty());
        let _ = modules("-");
        let _ = modules("types--stubs");
        let deep = format!("{}x{}", "types-".repeat(100_000), "-stubs".repeat(100_000));
        assert_eq!(modules(&deep), ["x"]);
        assert!(is_stub_distribution(&deep));
    }

    // -- installed distributions ----------------------------------------

    fn write(path: &Path, contents: &[u8]) {
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).expect("create dirs");
        }
        fs::write(path, contents).expect("write file");
    }

    /// A hand-made site-packages folder covering every case `read_site_packages` handles.
    fn build_site_packages(sp: &Path) {
        // 1. top_level.txt present.
        write(
            &sp.join("PyYAML-6.0.1.dist-info/METADATA"),
            b"Metadata-Version: 2.1\nName: PyYAML\nVersion: 6.0.1\n\nName: NotThis\n",
        );
        write(&sp.join("PyYAML-6.0.1.dist-info/top_level.txt"), b"_yaml\nyaml\n\n");
        write(&sp.join("PyYAML-6.0.1.dist-info/RECORD"), b"ignored/__init__.py,,\n");

        // 2. Only RECORD.
        write(
            &sp.join("python_dateutil-2.9.0.dist-info/METADATA"),
            b"Metadata-Version: 2.1\r\nname:  python-dateutil \r\nVersion: 2.9.0\r\n",
        );
        write(
            &sp.join("python_dateutil-2.9.0.dist-info/RECORD"),
            b"dateutil/__init__.py,sha256=abc,123\n\
              dateutil/__pycache__/__init__.cpython-311.pyc,,\n\
              dateutil/zoneinfo/dateutil-zoneinfo.tar.gz,sha256=x,1\n\
              python_dateutil-2.9.0.dist-info/METADATA,sha256=x,1\n\
              python_dateutil-2.9.0.dist-info/RECORD,,\n\
              python_dateutil-2.9.0.data/scripts/tool,,\n\
              __pycache__/six.cpython-311.pyc,,\n\
              ../../../bin/dateutil-tool,sha256=x,1\n\
              six.py,sha256=x,1\n\
              typed.pyi,,\n\
              _speedups.cpython-311-x86_64-linux-gnu.so,,\n\
              winmod.cp311-win_amd64.pyd,,\n\
              dateutil_extra.pth,,\n\
              __editable___dateutil_finder.py,,\n\
              README.md,,\n\
              share-data/file.py,,\n\
              datadir/only.txt,,\n\
              requests-stubs/__init__.pyi,,\n\
              \"quoted,dir/__init__.py\",,\n\
              \"quoted/__init__.py\",sha256=x,1\n\
              /abs/path.py,,\n\
              \n",
        );

        // 3. Broken: METADATA is binary junk, RECORD is a directory, no top_level.txt.
        write(&sp.join("broken_pkg-1.0.dist-info/METADATA"), &[0xff, 0xfe, 0x00, b':', 0x80, b'\n']);
        fs::create_dir_all(sp.join("broken_pkg-1.0.dist-info/RECORD")).expect("dir");

        // 4. Broken beyond recovery: no readable name at all.
        write(&sp.join("-.dist-info/METADATA"), b"Version: 1\n");

        // 5. Empty top_level.txt falls back to RECORD; stub folders count as the module.
        write(&sp.join("types_requests-2.31.dist-info/METADATA"), b"Name: types-requests\n");
        write(&sp.join("types_requests-2.31.dist-info/top_level.txt"), b"\n");
        write(
            &sp.join("types_requests-2.31.dist-info/RECORD"),
            b"requests-stubs/__init__.pyi,,\nrequests-stubs/api.pyi,,\n",
        );

        // 6. pywin32-style path entries in top_level.txt.
        write(&sp.join("pywin32-306.dist-info/METADATA"), b"Name: pywin32\n");
        write(
            &sp.join("pywin32-306.dist-info/top_level.txt"),
            b"win32api\nwin32\\lib\\win32con\nwin32/winxpgui\nnot-valid\n",
        );

        // Noise: a file named like a dist-info, a package folder, a .pth file.
        write(&sp.join("fake.dist-info"), b"not a folder");
        write(&sp.join("yaml/__init__.py"), b"");
        write(&sp.join("distutils-precedence.pth"), b"");
    }

    #[test]
    fn reads_site_packages() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let sp = tmp.path();
        build_site_packages(sp);
        let dists = read_site_packages(sp);
        let summary: Vec<(&str, &str, Vec<&str>)> = dists
            .iter()
            .map(|d| (d.name.as_str(), d.normalized.as_str(), d.modules.iter().map(String::as_str).collect()))
            .collect();
        assert_eq!(
            summary,
            vec![
                ("broken_pkg", "broken-pkg", vec![]),
                (
                    "python-dateutil",
                    "python-dateutil",
                    vec!["_speedups", "dateutil", "quoted", "requests", "six", "typed", "winmod"]
                ),
                ("pywin32", "pywin32", vec!["win32api", "win32con", "winxpgui"]),
                ("PyYAML", "pyyaml", vec!["_yaml", "yaml"]),
                ("types-requests", "types-requests", vec!["requests"]),
            ]
        );
    }

    #[test]
    fn missing_site_packages_is_empty() {
        let tmp = tempfile::tempdir().expect("tempdir");
        assert!(read_site_packages(&tmp.path().join("nope")).is_empty());
        assert!(read_site_packages(tmp.path()).is_empty());
        let file = tmp.path().join("file");
        write(&file, b"x");
        assert!(read_site_packages(&file).is_empty());
    }

    #[test]
    fn finds_site_packages() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let venv = tmp.path();
        assert_eq!(find_site_packages(venv), None);

        fs::create_dir_all(venv.join("lib/python3.9")).expect("dir"); // no site-packages
        fs::create_dir_all(venv.join("lib/python2.7/site-packages")).expect("dir");
        assert_eq!(find_site_packages(venv), None);

        fs::create_dir_all(venv.join("lib/python3.9/site-packages")).expect("dir");
        fs::create_dir_all(venv.join("lib/python3.11/site-packages")).expect("dir");
        fs::create_dir_all(venv.join("lib/python3.10/site-packages")).expect("dir");
        assert_eq!(find_site_packages(venv), Some(venv.join("lib/python3.11/site-packages")));

        let win = tempfile::tempdir().expect("tempdir");
        fs::create_dir_all(win.path().join("Lib/site-packages")).expect("dir");
        assert_eq!(find_site_packages(win.path()), Some(win.path().join("Lib").join("site-packages")));
        assert_eq!(find_site_packages(&win.path().join("missing")), None);
    }
}
