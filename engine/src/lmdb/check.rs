//! A checker of LMDB data files that reads them with `pread`, never through a memory map: every page a reader or writer of the snapshot would touch (meta pages, the main tree, each named tree, overflow runs, the free list) is bounds-checked, so a file that passes cannot make LMDB fault.
//!
//! LMDB trusts its pages: a page number past the end of the file faults (SIGBUS), a node
//! offset or size past its page reads neighbouring memory, and its own assertions abort.
//! This walk checks what LMDB would follow, with the layout of `mdb.c` (64-bit, not
//! `MDB_DEVEL`, not `MDB_VL32`): page headers (number, flags, free-space bounds), node
//! offsets, key and data sizes, child and overflow page numbers below the meta page's last
//! page and inside the file, each page used once, leaves at the tree's depth, keys in order,
//! counts equal to those recorded, and free-list pages disjoint from used ones.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

const PAGE_HEADER: usize = 16;
const NODE_HEADER: usize = 8;
const MAGIC: u32 = 0xBEEF_C0DE;
const DATA_VERSION: u32 = 1;
const P_BRANCH: u16 = 0x01;
const P_LEAF: u16 = 0x02;
const P_OVERFLOW: u16 = 0x04;
const P_META: u16 = 0x08;
/// Flags LMDB may leave on a page written to disk that do not change its layout.
const P_IGNORED: u16 = 0x10 | 0x4000 | 0x8000;
const F_BIGDATA: u16 = 0x01;
const F_SUBDATA: u16 = 0x02;
const MDB_DUPSORT: u16 = 0x04;
const INVALID_PAGE: u64 = u64::MAX;
const MAX_KEY: usize = 511;

/// What a check found out about a file that passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checked {
    /// The transaction id of the snapshot that was checked.
    pub txnid: u64,
    /// Pages reachable from it (trees and overflow runs), and pages on its free list.
    pub used_pages: u64,
    pub free_pages: u64,
}

/// One tree's record (`MDB_db`).
#[derive(Debug, Clone, Copy)]
struct Db {
    flags: u16,
    depth: u16,
    branch_pages: u64,
    leaf_pages: u64,
    overflow_pages: u64,
    entries: u64,
    root: u64,
}

impl Db {
    fn read(bytes: &[u8]) -> Self {
        Db {
            flags: u16_at(bytes, 4),
            depth: u16_at(bytes, 6),
            branch_pages: u64_at(bytes, 8),
            leaf_pages: u64_at(bytes, 16),
            overflow_pages: u64_at(bytes, 24),
            entries: u64_at(bytes, 32),
            root: u64_at(bytes, 40),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tree {
    Free,
    Main,
    Named,
}

fn u16_at(bytes: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([bytes[at], bytes[at + 1]])
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap_or_default())
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap_or_default())
}

struct Walk {
    file: File,
    page_size: usize,
    /// Pages that may be read: `min(last page + 1, whole pages in the file)`.
    pages: u64,
    /// The meta page's last page + 1: the free list may name pages past the file's end.
    limit: u64,
    used: Vec<u64>,
    used_count: u64,
    free: Vec<u64>,
}

impl Walk {
    fn read(&self, offset: u64, len: usize) -> Result<Vec<u8>, String> {
        let mut buffer = vec![0; len];
        self.file.read_exact_at(&mut buffer, offset).map_err(|e| format!("cannot read at {offset}: {e}"))?;
        Ok(buffer)
    }

    fn page(&self, pgno: u64) -> Result<Vec<u8>, String> {
        self.read(pgno * self.page_size as u64, self.page_size)
    }

    /// Marks `count` pages from `pgno` as used, each once.
    fn claim(&mut self, pgno: u64, count: u64) -> Result<(), String> {
        if pgno < 2 || pgno.checked_add(count).is_none_or(|end| end > self.pages) {
            return Err(format!("page {pgno} (+{count}) is outside the file's {} pages", self.pages));
        }
        for p in pgno..pgno + count {
            let (word, bit) = ((p / 64) as usize, 1u64 << (p % 64));
            if self.used[word] & bit != 0 {
                return Err(format!("page {p} is used twice"));
            }
            self.used[word] |= bit;
        }
        self.used_count += count;
        Ok(())
    }

    fn is_used(&self, p: u64) -> bool {
        self.used.get((p / 64) as usize).is_some_and(|w| w & (1 << (p % 64)) != 0)
    }

    /// Walks one tree from its record; named trees found in the main tree are walked too.
    fn tree(&mut self, db: &Db, kind: Tree, name: &str) -> Result<(), String> {
        let fail = |what: String| Err(format!("tree {name}: {what}"));
        if kind == Tree::Named && db.flags & MDB_DUPSORT != 0 {
            return fail("uses duplicate keys, which Pleat never writes".to_owned());
        }
        if db.root == INVALID_PAGE {
            let empty = db.depth == 0 && db.entries == 0;
            return if empty { Ok(()) } else { fail("has no root but records entries".to_owned()) };
        }
        if db.depth == 0 || db.depth > 32 {
            return fail(format!("records depth {}", db.depth));
        }
        let (mut branches, mut leaves, mut overflows, mut entries) = (0u64, 0u64, 0u64, 0u64);
        let mut stack = vec![(db.root, 1u16)];
        let mut named = Vec::new();
        while let Some((pgno, level)) = stack.pop() {
            self.claim(pgno, 1).or_else(fail)?;
            let page = self.page(pgno)?;
            if u64_at(&page, 0) != pgno {
                return fail(format!("page {pgno} names itself {}", u64_at(&page, 0)));
            }
            let flags = u16_at(&page, 10) & !P_IGNORED;
            let leaf = level == db.depth;
            if flags != if leaf { P_LEAF } else { P_BRANCH } {
                return fail(format!("page {pgno} has flags {flags:#x} at level {level} of {}", db.depth));
            }
            let (lower, upper) = (usize::from(u16_at(&page, 12)), usize::from(u16_at(&page, 14)));
            if lower < PAGE_HEADER + 2 || !lower.is_multiple_of(2) || lower > upper || upper > self.page_size
            {
                return fail(format!("page {pgno} has free space {lower}..{upper}"));
            }
            let count = (lower - PAGE_HEADER) / 2;
            let mut previous: Option<Vec<u8>> = None;
            for i in 0..count {
                let at = usize::from(u16_at(&page, PAGE_HEADER + 2 * i));
                if at < upper || !at.is_multiple_of(2) || at + NODE_HEADER > self.page_size {
                    return fail(format!("page {pgno} node {i} is at {at}"));
                }
                let (lo, hi) = (u64::from(u16_at(&page, at)), u64::from(u16_at(&page, at + 2)));
                let node_flags = u16_at(&page, at + 4);
                let key_size = usize::from(u16_at(&page, at + 6));
                let key_end = at + NODE_HEADER + key_size;
                if key_size > MAX_KEY || key_end > self.page_size {
                    return fail(format!("page {pgno} node {i} has a key of {key_size} bytes"));
                }
                let key = page[at + NODE_HEADER..key_end].to_vec();
                // Keys ascend (a branch's first key is empty and not compared).
                if leaf || i > 0 {
                    if previous.as_ref().is_some_and(|before| !ascending(kind, before, &key)) {
                        return fail(format!("page {pgno} keys are out of order at node {i}"));
                    }
                    previous = Some(key.clone());
                }
                if !leaf {
                    stack.push((lo | (hi << 16) | (u64::from(node_flags) << 32), level + 1));
                    continue;
                }
                entries += 1;
                let size = (lo | (hi << 16)) as usize;
                let value = match node_flags {
                    0 | F_SUBDATA => {
                        if key_end + size > self.page_size {
                            return fail(format!("page {pgno} node {i} has {size} bytes of data"));
                        }
                        page[key_end..key_end + size].to_vec()
                    }
                    F_BIGDATA => {
                        if key_end + 8 > self.page_size {
                            return fail(format!("page {pgno} node {i} has no room for its overflow page"));
                        }
                        let (run, value) = self.overflow(u64_at(&page, key_end), size, kind == Tree::Free)?;
                        overflows += run;
                        value
                    }
                    other => return fail(format!("page {pgno} node {i} has flags {other:#x}")),
                };
                match (kind, node_flags == F_SUBDATA) {
                    (Tree::Main, true) if value.len() == 48 => {
                        named.push((String::from_utf8_lossy(&key).into_owned(), Db::read(&value)));
                    }
                    (Tree::Free, false) => self.free_list(&key, &value).or_else(fail)?,
                    (Tree::Named, false) => {}
                    _ => return fail(format!("page {pgno} node {i} is not what this tree holds")),
                }
            }
            if leaf {
                leaves += 1;
            } else {
                branches += 1;
            }
        }
        let found = (branches, leaves, overflows, entries);
        let recorded = (db.branch_pages, db.leaf_pages, db.overflow_pages, db.entries);
        if found != recorded {
            return fail(format!(
                "holds (branch, leaf, overflow pages, entries) {found:?} but records {recorded:?}"
            ));
        }
        for (name, db) in named {
            self.tree(&db, Tree::Named, &name)?;
        }
        Ok(())
    }

    /// Checks an overflow run of `size` bytes; returns its length in pages, and its
    /// content when `read` (the free list's, which must be parsed).
    fn overflow(&mut self, pgno: u64, size: usize, read: bool) -> Result<(u64, Vec<u8>), String> {
        if pgno < 2 || pgno >= self.pages {
            return Err(format!("overflow page {pgno} is outside the file's {} pages", self.pages));
        }
        let header = self.read(pgno * self.page_size as u64, PAGE_HEADER)?;
        let flags = u16_at(&header, 10) & !P_IGNORED;
        let run = u64::from(u32_at(&header, 12));
        if u64_at(&header, 0) != pgno || flags != P_OVERFLOW || run == 0 {
            return Err(format!("overflow page {pgno} has a damaged header"));
        }
        if (PAGE_HEADER + size) as u64 > run * self.page_size as u64 {
            return Err(format!("overflow page {pgno} holds {run} pages, too few for {size} bytes"));
        }
        self.claim(pgno, run)?;
        let value = if read {
            self.read(pgno * self.page_size as u64 + PAGE_HEADER as u64, size)?
        } else {
            Vec::new()
        };
        Ok((run, value))
    }

    /// One free-list record: a transaction id, then a count and that many page numbers.
    fn free_list(&mut self, key: &[u8], value: &[u8]) -> Result<(), String> {
        if key.len() != 8 || !value.len().is_multiple_of(8) || value.len() < 8 {
            return Err("a free-list record has the wrong size".to_owned());
        }
        let count = u64_at(value, 0);
        if count != (value.len() / 8 - 1) as u64 {
            return Err(format!("a free-list record counts {count} pages in {} bytes", value.len()));
        }
        for i in 1..=count as usize {
            let p = u64_at(value, i * 8);
            if p < 2 || p >= self.limit {
                return Err(format!("the free list names page {p}, past the last page {}", self.limit - 1));
            }
            self.free.push(p);
        }
        Ok(())
    }
}

/// Key order of a tree: the free list's keys are native integers, the others bytes.
fn ascending(kind: Tree, before: &[u8], key: &[u8]) -> bool {
    if kind == Tree::Free && before.len() == 8 && key.len() == 8 {
        u64_at(before, 0) < u64_at(key, 0)
    } else {
        before < key
    }
}

/// Checks the LMDB data file at `path` (see the module's documentation). `Err` says what
/// is damaged, in a phrase.
pub fn check_file(path: &Path) -> Result<Checked, String> {
    let file = File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let len = file.metadata().map_err(|e| format!("cannot read {}: {e}", path.display()))?.len();
    let first = {
        let mut buffer = vec![0; 152];
        file.read_exact_at(&mut buffer, 0).map_err(|_| "the file is shorter than a meta page".to_owned())?;
        buffer
    };
    let page_size = usize::try_from(u32_at(&first, 40)).unwrap_or(0);
    if !page_size.is_power_of_two() || !(512..=65536).contains(&page_size) {
        return Err(format!("meta page 0 names a page size of {page_size}"));
    }
    let mut metas = Vec::new();
    for index in 0..2u64 {
        let mut meta = vec![0; 152];
        file.read_exact_at(&mut meta, index * page_size as u64)
            .map_err(|_| format!("the file is shorter than meta page {index}"))?;
        let flags = u16_at(&meta, 10) & !P_IGNORED;
        if u64_at(&meta, 0) != index || flags != P_META || u32_at(&meta, 16) != MAGIC {
            return Err(format!("meta page {index} is not an LMDB meta page"));
        }
        if u32_at(&meta, 20) != DATA_VERSION || usize::try_from(u32_at(&meta, 40)) != Ok(page_size) {
            return Err(format!("meta page {index} has another version or page size"));
        }
        metas.push(meta);
    }
    // LMDB uses the meta page with the larger transaction id.
    let meta = if u64_at(&metas[0], 144) < u64_at(&metas[1], 144) { &metas[1] } else { &metas[0] };
    let txnid = u64_at(meta, 144);
    let last_page = u64_at(meta, 136);
    let in_file = len / page_size as u64;
    if last_page < 1 || last_page == u64::MAX {
        return Err(format!("its meta page names {last_page} as the last page"));
    }
    let pages = (last_page + 1).min(in_file);
    let mut walk = Walk {
        file,
        page_size,
        pages,
        limit: last_page + 1,
        used: vec![0; usize::try_from(pages.div_ceil(64)).unwrap_or(0)],
        used_count: 0,
        free: Vec::new(),
    };
    walk.tree(&Db::read(&meta[40..88]), Tree::Free, "of free pages")?;
    walk.tree(&Db::read(&meta[88..136]), Tree::Main, "main")?;
    walk.free.sort_unstable();
    for pair in walk.free.windows(2) {
        if pair[0] == pair[1] {
            return Err(format!("the free list names page {} twice", pair[0]));
        }
    }
    if let Some(p) = walk.free.iter().find(|&&p| walk.is_used(p)) {
        return Err(format!("page {p} is both free and in use"));
    }
    Ok(Checked { txnid, used_pages: walk.used_count, free_pages: walk.free.len() as u64 })
}

/// The transaction id of the newest meta page, if the file has two readable ones.
pub fn newest_txnid(path: &Path) -> Option<u64> {
    let file = File::open(path).ok()?;
    let mut first = vec![0; 152];
    file.read_exact_at(&mut first, 0).ok()?;
    let page_size = u64::from(u32_at(&first, 40));
    let mut second = vec![0; 152];
    file.read_exact_at(&mut second, page_size).ok()?;
    Some(u64_at(&first, 144).max(u64_at(&second, 144)))
}
