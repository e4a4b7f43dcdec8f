//! The persistent parse cache in LMDB: parse results keyed by content digest + parser version, and per-root stat indexes (git's index trick) so a warm start reads no unchanged file.

use std::path::Path;

use heed::types::Bytes;
use heed::{Database, Env, WithoutTls};

use crate::lmdb::{self, clear_files};

use crate::python::imports::{
    Import, ImportKind, ImportedName, ParseOptions, ParsedFile, Position, SyntaxError, TextRange,
};
use crate::vfs::FileStat;

/// A hash of the import parser's own source and grammar version, computed at build time:
/// a parser change invalidates every cached parse result.
pub const PARSER_HASH: &str = env!("PLEAT_PARSER_HASH");

/// Bumped when the encoding below changes (2: the doctest flag; 3: the deferred flag).
const FORMAT_VERSION: u8 = 3;

/// A content digest (BLAKE3 of the file's bytes).
pub type ContentDigest = [u8; 32];

/// The cache key of one parse: content, parser version and options.
pub fn parse_key(content: &ContentDigest, options: ParseOptions) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new();
    hasher.update(&[FORMAT_VERSION]);
    hasher.update(PARSER_HASH.as_bytes());
    hasher.update(&options.cache_tag());
    hasher.update(content);
    *hasher.finalize().as_bytes()
}

/// One file of a persisted stat index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexEntry {
    pub path: String,
    pub stat: FileStat,
    pub digest: ContentDigest,
}

/// What a root looked like at the end of the last run.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StatIndex {
    /// When the index was written, in nanoseconds since the epoch: files modified within
    /// a second of it are re-read anyway (their mtime cannot be trusted: racy git).
    pub written_ns: i128,
    /// Sorted by path.
    pub entries: Vec<IndexEntry>,
}

impl StatIndex {
    /// The digest of `path` if its stat data is unchanged and trustworthy.
    pub fn unchanged(&self, path: &str, stat: &FileStat) -> Option<ContentDigest> {
        let i = self.entries.binary_search_by(|e| e.path.as_str().cmp(path)).ok()?;
        let entry = &self.entries[i];
        let racy = stat.mtime_ns + 1_000_000_000 >= self.written_ns;
        (entry.stat == *stat && !racy).then_some(entry.digest)
    }
}

/// The cache could not be opened or written.
#[derive(Debug)]
pub struct CacheError {
    pub dir: String,
    pub source: heed::Error,
}

impl std::error::Error for CacheError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

impl std::fmt::Display for CacheError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A full disk is not a damaged cache: say which it is, and what to do.
        if let Some(cause) = crate::disk::cause_of_heed(&self.source, MAP_SIZE, Path::new(&self.dir)) {
            let full =
                crate::disk::NoSpace::new(cause, Path::new(&self.dir), "while writing the parse cache");
            return write!(f, "{full}");
        }
        write!(
            f,
            "the parse cache in {} is unusable ({}); delete that folder or pick another with --cache-dir",
            self.dir, self.source
        )
    }
}

/// The parse cache's LMDB map size.
const MAP_SIZE: u64 = 4 << 30;

/// The LMDB environment holding parse results and stat indexes.
pub struct ParseCache {
    env: Env<WithoutTls>,
    parsed: Database<Bytes, Bytes>,
    indexes: Database<Bytes, Bytes>,
    dir: String,
    recovered: Option<String>,
    /// Declared last: dropped after the environment is closed.
    _in_use: InUse,
}

/// This process's in-use marker, removed when the cache is dropped. A marker left by a
/// process that no longer exists means it died using the cache (a crash on a damaged
/// file, or a kill); the next open then clears the cache.
pub struct InUse {
    path: std::path::PathBuf,
}

impl Drop for InUse {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// A reason to clear the cache before opening it: an in-use marker of a process that is
/// gone while no other one is alive (it may have died of the damage).
fn needs_reset(dir: &Path) -> Option<String> {
    let users = std::fs::read_dir(dir.join("users")).ok()?;
    let mut dead = Vec::new();
    let mut alive = false;
    for entry in users.flatten() {
        let name = entry.file_name();
        let pid = name.to_string_lossy();
        if pid.parse::<u32>().is_ok() && Path::new("/proc").join(pid.as_ref()).exists() {
            alive = true;
        } else {
            dead.push(entry.path());
        }
    }
    if dead.is_empty() || alive {
        return None;
    }
    for path in dead {
        let _ = std::fs::remove_file(path);
    }
    Some("a process died while using it (it may have been damaged)".to_owned())
}

impl ParseCache {
    /// Opens (creating) the cache under `cache_dir/graph-v1`. This process's in-use marker
    /// is written before anything reads the file and stays until the cache is dropped. A
    /// cache that a previous process died in, whose file fails the page check
    /// (`lmdb::check`), or that LMDB refuses is cleared first (see
    /// [`ParseCache::recovered`]): it is only a cache, and LMDB trusts its pages.
    pub fn open(cache_dir: &Path) -> Result<Self, CacheError> {
        let dir = cache_dir.join("graph-v1");
        let shown = dir.display().to_string();
        let error = |source| CacheError { dir: shown.clone(), source };
        let users = dir.join("users");
        std::fs::create_dir_all(&users).map_err(|e| error(heed::Error::Io(e)))?;
        let died = needs_reset(&dir);
        let marker = users.join(std::process::id().to_string());
        let _ = std::fs::write(&marker, b"");
        let in_use = InUse { path: marker };
        if died.is_some() {
            clear_files(&dir).map_err(|e| error(heed::Error::Io(e)))?;
        }
        let (env, damaged) = lmdb::open_checked(&dir, MAP_SIZE as usize).map_err(error)?;
        let recovered = died
            .or(damaged)
            .map(|reason| format!("the parse cache in {shown} was cleared and starts empty: {reason}"));
        let mut txn = env.write_txn().map_err(error)?;
        let parsed = env.create_database(&mut txn, Some("parsed")).map_err(error)?;
        let indexes = env.create_database(&mut txn, Some("indexes")).map_err(error)?;
        lmdb::commit(&env, txn).map_err(error)?;
        Ok(Self { env, parsed, indexes, dir: shown, recovered, _in_use: in_use })
    }

    /// Why the cache was cleared when it was opened, if it was.
    pub fn recovered(&self) -> Option<&str> {
        self.recovered.as_deref()
    }

    fn error(&self, source: heed::Error) -> CacheError {
        lmdb::mark_damaged(Path::new(&self.dir), &source);
        CacheError { dir: self.dir.clone(), source }
    }

    /// Looks up one parse result (its own read transaction: cheap in LMDB, and usable
    /// from any thread).
    pub fn get(&self, key: &[u8; 32]) -> Result<Option<ParsedFile>, CacheError> {
        let txn = self.env.read_txn().map_err(|e| self.error(e))?;
        Ok(self.parsed.get(&txn, key).map_err(|e| self.error(e))?.and_then(decode_parsed))
    }

    /// Stores parse results in one write transaction.
    pub fn put_many<'a>(
        &self,
        entries: impl IntoIterator<Item = (&'a [u8; 32], &'a ParsedFile)>,
    ) -> Result<(), CacheError> {
        let mut txn = self.env.write_txn().map_err(|e| self.error(e))?;
        let mut buffer = Vec::new();
        for (key, parsed) in entries {
            buffer.clear();
            encode_parsed(parsed, &mut buffer);
            self.parsed.put(&mut txn, key, &buffer).map_err(|e| self.error(e))?;
        }
        lmdb::commit(&self.env, txn).map_err(|e| self.error(e))
    }

    /// The stat index persisted for a root (keyed by whatever the caller chooses).
    pub fn load_index(&self, root_key: &[u8]) -> Result<Option<StatIndex>, CacheError> {
        let txn = self.env.read_txn().map_err(|e| self.error(e))?;
        Ok(self.indexes.get(&txn, root_key).map_err(|e| self.error(e))?.and_then(decode_index))
    }

    pub fn store_index(&self, root_key: &[u8], index: &StatIndex) -> Result<(), CacheError> {
        let mut buffer = Vec::new();
        encode_index(index, &mut buffer);
        let mut txn = self.env.write_txn().map_err(|e| self.error(e))?;
        self.indexes.put(&mut txn, root_key, &buffer).map_err(|e| self.error(e))?;
        lmdb::commit(&self.env, txn).map_err(|e| self.error(e))
    }
}

// ---- encoding: varints and length-prefixed strings, nothing clever ----

fn put_uint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn put_str(out: &mut Vec<u8>, text: &str) {
    put_uint(out, text.len() as u64);
    out.extend_from_slice(text.as_bytes());
}

fn put_range(out: &mut Vec<u8>, r: &TextRange) {
    for v in [r.start_byte, r.end_byte, r.start.line, r.start.column, r.end.line, r.end.column] {
        put_uint(out, u64::from(v));
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn uint(&mut self) -> Option<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let (&byte, rest) = self.bytes.split_first()?;
            self.bytes = rest;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }

    fn u32(&mut self) -> Option<u32> {
        u32::try_from(self.uint()?).ok()
    }

    fn len(&mut self) -> Option<usize> {
        let len = usize::try_from(self.uint()?).ok()?;
        // A length can never exceed what is left: guards allocation on corrupt input.
        (len <= self.bytes.len()).then_some(len)
    }

    fn raw(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.bytes.len() {
            return None;
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Some(head)
    }

    fn str(&mut self) -> Option<String> {
        let n = self.len()?;
        String::from_utf8(self.raw(n)?.to_vec()).ok()
    }

    fn range(&mut self) -> Option<TextRange> {
        Some(TextRange {
            start_byte: self.u32()?,
            end_byte: self.u32()?,
            start: Position { line: self.u32()?, column: self.u32()? },
            end: Position { line: self.u32()?, column: self.u32()? },
        })
    }
}

fn encode_parsed(parsed: &ParsedFile, out: &mut Vec<u8>) {
    out.push(FORMAT_VERSION);
    out.push(u8::from(parsed.has_code) | (u8::from(parsed.has_doctest) << 1));
    put_uint(out, parsed.imports.len() as u64);
    for import in &parsed.imports {
        put_str(out, &import.module);
        put_uint(out, u64::from(import.level));
        let kind = match import.kind {
            ImportKind::Import => 0,
            ImportKind::From => 1,
            ImportKind::Dynamic => 2,
            ImportKind::String => 3,
        };
        out.push(
            kind | (u8::from(import.weak) << 4)
                | (u8::from(import.type_only) << 5)
                | (u8::from(import.deferred) << 6),
        );
        put_range(out, &import.range);
        put_uint(out, import.names.len() as u64);
        for name in &import.names {
            put_str(out, &name.name);
            put_range(out, &name.range);
        }
    }
    put_uint(out, parsed.syntax_errors.len() as u64);
    for error in &parsed.syntax_errors {
        put_str(out, &error.message);
        put_range(out, &error.range);
    }
}

fn decode_parsed(bytes: &[u8]) -> Option<ParsedFile> {
    let mut r = Reader { bytes };
    if r.raw(1)? != [FORMAT_VERSION] {
        return None;
    }
    let flags = r.raw(1)?[0];
    if flags > 0b11 {
        return None;
    }
    let (has_code, has_doctest) = (flags & 1 != 0, flags & 2 != 0);
    let count = r.len()?;
    let mut imports = Vec::with_capacity(count);
    for _ in 0..count {
        let module = r.str()?;
        let level = r.u32()?;
        let flags = r.raw(1)?[0];
        let kind = match flags & 0x0f {
            0 => ImportKind::Import,
            1 => ImportKind::From,
            2 => ImportKind::Dynamic,
            3 => ImportKind::String,
            _ => return None,
        };
        let range = r.range()?;
        let name_count = r.len()?;
        let mut names = Vec::with_capacity(name_count);
        for _ in 0..name_count {
            names.push(ImportedName { name: r.str()?, range: r.range()? });
        }
        imports.push(Import {
            module,
            level,
            names,
            kind,
            weak: flags & 0x10 != 0,
            type_only: flags & 0x20 != 0,
            deferred: flags & 0x40 != 0,
            range,
        });
    }
    let count = r.len()?;
    let mut syntax_errors = Vec::with_capacity(count);
    for _ in 0..count {
        syntax_errors.push(SyntaxError { message: r.str()?, range: r.range()? });
    }
    r.bytes.is_empty().then_some(ParsedFile { imports, syntax_errors, has_code, has_doctest })
}

fn encode_index(index: &StatIndex, out: &mut Vec<u8>) {
    out.push(FORMAT_VERSION);
    out.extend_from_slice(&index.written_ns.to_le_bytes());
    put_uint(out, index.entries.len() as u64);
    for entry in &index.entries {
        put_str(out, &entry.path);
        put_uint(out, entry.stat.size);
        out.extend_from_slice(&entry.stat.mtime_ns.to_le_bytes());
        put_uint(out, entry.stat.inode);
        out.extend_from_slice(&entry.digest);
    }
}

fn decode_index(bytes: &[u8]) -> Option<StatIndex> {
    let mut r = Reader { bytes };
    if r.raw(1)? != [FORMAT_VERSION] {
        return None;
    }
    let written_ns = i128::from_le_bytes(r.raw(16)?.try_into().ok()?);
    let count = r.len()?;
    let mut entries = Vec::with_capacity(count);
    for _ in 0..count {
        let path = r.str()?;
        let size = r.uint()?;
        let mtime_ns = i128::from_le_bytes(r.raw(16)?.try_into().ok()?);
        let inode = r.uint()?;
        let digest = r.raw(32)?.try_into().ok()?;
        entries.push(IndexEntry { path, stat: FileStat { size, mtime_ns, inode }, digest });
    }
    let sorted = entries.windows(2).all(|w| w[0].path < w[1].path);
    (r.bytes.is_empty() && sorted).then_some(StatIndex { written_ns, entries })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::python::imports::parse_imports;

    fn sample() -> ParsedFile {
        parse_imports(
            b"import a.b as c\nfrom ..x import (y, z)\ntry:\n    import w\nexcept ImportError:\n    pass\n'''\n>>> 1\n'''\ndef f(:\n",
            ParseOptions::default(),
        )
    }

    #[test]
    fn parse_results_round_trip() {
        let parsed = sample();
        assert!(parsed.has_code && parsed.has_doctest);
        let mut bytes = Vec::new();
        encode_parsed(&parsed, &mut bytes);
        assert_eq!(decode_parsed(&bytes), Some(parsed));
        // Every truncation is rejected rather than misread.
        for cut in 0..bytes.len() {
            assert_eq!(decode_parsed(&bytes[..cut]), None, "cut at {cut}");
        }
    }

    #[test]
    fn cache_persists_across_opens() {
        let dir = tempfile::tempdir().unwrap();
        let parsed = sample();
        let key = parse_key(blake3::hash(b"x").as_bytes(), ParseOptions::default());
        let other = parse_key(
            blake3::hash(b"x").as_bytes(),
            ParseOptions { string_imports: true, ..ParseOptions::default() },
        );
        assert_ne!(key, other, "options are part of the key");
        let index = StatIndex {
            written_ns: 5_000_000_000,
            entries: vec![IndexEntry {
                path: "a.py".into(),
                stat: FileStat { size: 3, mtime_ns: 1, inode: 7 },
                digest: [9; 32],
            }],
        };
        {
            let cache = ParseCache::open(dir.path()).unwrap();
            cache.put_many([(&key, &parsed)]).unwrap();
            cache.store_index(b"root", &index).unwrap();
        }
        let cache = ParseCache::open(dir.path()).unwrap();
        assert_eq!([cache.get(&key).unwrap(), cache.get(&other).unwrap()], [Some(parsed), None]);
        let loaded = cache.load_index(b"root").unwrap().unwrap();
        assert_eq!(loaded, index);
        assert_eq!(loaded.unchanged("a.py", &FileStat { size: 3, mtime_ns: 1, inode: 7 }), Some([9; 32]));
        assert_eq!(loaded.unchanged("a.py", &FileStat { size: 4, mtime_ns: 1, inode: 7 }), None);
        // Modified within a second of the index: not trusted.
        assert_eq!(loaded.unchanged("a.py", &FileStat { size: 3, mtime_ns: 4_500_000_000, inode: 7 }), None);
    }

    #[test]
    fn the_in_use_marker_is_written_before_the_first_read_and_kept_while_open() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("graph-v1/users").join(std::process::id().to_string());
        let cache = ParseCache::open(dir.path()).unwrap();
        assert!(marker.exists(), "a crash while reading must leave the marker for the next run");
        drop(cache);
        assert!(!marker.exists());
    }

    /// Every page of a cache overwritten with random bytes, one at a time: opening either
    /// clears the cache or reads back what was written; nothing faults (a fault would end
    /// this test process).
    #[test]
    fn every_damaged_page_is_cleared_or_harmless() {
        let dir = tempfile::tempdir().unwrap();
        let pristine = dir.path().join("pristine");
        let keys: Vec<[u8; 32]> = (0..400u32)
            .map(|i| parse_key(blake3::hash(&i.to_le_bytes()).as_bytes(), ParseOptions::default()))
            .collect();
        let parsed = sample();
        let index = StatIndex {
            written_ns: 1,
            entries: (0..300)
                .map(|i| IndexEntry {
                    path: format!("pkg/mod{i:04}.py"),
                    stat: FileStat { size: i, mtime_ns: 0, inode: i },
                    digest: [i as u8; 32],
                })
                .collect(),
        };
        {
            let cache = ParseCache::open(&pristine).unwrap();
            cache.put_many(keys.iter().map(|k| (k, &parsed))).unwrap();
            cache.store_index(b"root", &index).unwrap();
        }
        let data = std::fs::read(pristine.join("graph-v1/data.mdb")).unwrap();
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut cleared = 0;
        for page in 0..data.len() / 4096 {
            let trial = dir.path().join(format!("trial-{page}"));
            std::fs::create_dir_all(trial.join("graph-v1")).unwrap();
            let mut damaged = data.clone();
            for byte in &mut damaged[page * 4096..(page + 1) * 4096] {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                *byte = state as u8;
            }
            std::fs::write(trial.join("graph-v1/data.mdb"), &damaged).unwrap();
            let cache = ParseCache::open(&trial).unwrap();
            cleared += usize::from(cache.recovered().is_some());
            for key in &keys {
                let got = cache.get(key).unwrap_or(None);
                assert!(got.is_none() || got.as_ref() == Some(&parsed), "page {page}: a wrong parse result");
            }
            let got = cache.load_index(b"root").unwrap_or(None);
            assert!(got.is_none() || got.as_ref() == Some(&index), "page {page}: a wrong index");
            cache.put_many(keys.iter().take(50).map(|k| (k, &parsed))).unwrap();
            cache.store_index(b"root", &index).unwrap();
        }
        assert!(cleared > 0, "no damaged page was noticed");
    }
}
