//! A full disk, recognised and said plainly: ENOSPC, EDQUOT and LMDB's `MDB_MAP_FULL` found in I/O errors, heed errors and tools' output; a folder's free space (statvfs); the sentence that names the folder, what was needed and what was free, and what to do.

use std::fmt;
use std::path::{Path, PathBuf};

/// Why a write did not fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// ENOSPC: the filesystem is full.
    Full,
    /// EDQUOT: the user's quota on it is used up.
    Quota,
    /// `MDB_MAP_FULL`: an LMDB database reached the map size it was opened with (bytes).
    MapFull(u64),
}

/// The filesystem's space as the calling user sees it, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Space {
    pub free: u64,
    pub total: u64,
}

/// A write that did not fit: where, why, and what is known about the space.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoSpace {
    pub cause: Cause,
    /// The folder Pleat was writing in.
    pub folder: PathBuf,
    /// What was being written, as a phrase ("while storing a result").
    pub doing: String,
    /// Bytes the write needed, when known (or at least this many, with `at_least`).
    pub needed: Option<u64>,
    pub at_least: bool,
    /// The filesystem's space just after the failure.
    pub space: Option<Space>,
    /// Something Pleat removed on the way (a half-built environment), for the message.
    pub removed: Option<String>,
}

/// True for an I/O error that means "no room": ENOSPC or EDQUOT.
pub fn is_no_space(error: &std::io::Error) -> bool {
    matches!(error.raw_os_error(), Some(libc::ENOSPC | libc::EDQUOT))
        || matches!(error.kind(), std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded)
}

fn cause_of_io(error: &std::io::Error) -> Option<Cause> {
    if error.raw_os_error() == Some(libc::EDQUOT) || error.kind() == std::io::ErrorKind::QuotaExceeded {
        Some(Cause::Quota)
    } else if is_no_space(error) {
        Some(Cause::Full)
    } else {
        None
    }
}

/// Below this much free space, an ambiguous failure to write is taken for a full disk.
pub const LOW_SPACE: u64 = 1 << 20;

/// The cause, when a heed (LMDB) error on the environment in `folder` means a write did not
/// fit. LMDB returns ENOSPC and EDQUOT from its writes as OS errors — but a *short* write
/// (the disk had room for part of a page run) as EIO, so EIO counts too while the disk
/// has less than [`LOW_SPACE`] free. `map_size` is what the environment was opened with.
pub fn cause_of_heed(error: &heed::Error, map_size: u64, folder: &Path) -> Option<Cause> {
    match error {
        heed::Error::Io(e) if e.raw_os_error() == Some(libc::EIO) => {
            space(folder).is_some_and(|s| s.free < LOW_SPACE).then_some(Cause::Full)
        }
        heed::Error::Io(e) => cause_of_io(e),
        heed::Error::Mdb(heed::MdbError::MapFull) => Some(Cause::MapFull(map_size)),
        _ => None,
    }
}

/// True when a tool's output says a write failed for lack of space (pip's `[Errno 28]`,
/// uv's `os error 28`, the C library's text).
pub fn says_no_space(text: &str) -> bool {
    const SIGNS: &[&str] = &[
        "no space left on device",
        "errno 28]",
        "os error 28)",
        "enospc",
        "disk quota exceeded",
        "errno 122]",
        "os error 122)",
        "edquot",
    ];
    let lower = text.to_ascii_lowercase();
    SIGNS.iter().any(|sign| lower.contains(sign))
}

/// The quota variant of [`says_no_space`].
pub fn says_quota(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    ["disk quota exceeded", "errno 122]", "os error 122)", "edquot"].iter().any(|s| lower.contains(s))
}

/// The free and total space of the filesystem holding `path` (its nearest existing
/// ancestor), as an unprivileged user sees it.
pub fn space(path: &Path) -> Option<Space> {
    use std::os::unix::ffi::OsStrExt as _;
    let existing = path.ancestors().find(|p| p.exists())?;
    let name = std::ffi::CString::new(existing.as_os_str().as_bytes()).ok()?;
    // SAFETY: `name` is a NUL-terminated path and `stat` a zeroed struct statvfs fills.
    #[allow(unsafe_code)]
    let stat = unsafe {
        let mut stat: libc::statvfs = std::mem::zeroed();
        if libc::statvfs(name.as_ptr(), &raw mut stat) != 0 {
            return None;
        }
        stat
    };
    let block = stat.f_frsize;
    Some(Space { free: stat.f_bavail * block, total: stat.f_blocks * block })
}

/// Bytes in binary units, one decimal: `12.0 KiB`, `19.6 MiB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: &[&str] = &["B", "KiB", "MiB", "GiB", "TiB"];
    #[allow(clippy::cast_precision_loss)]
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{bytes} B") } else { format!("{value:.1} {}", UNITS[unit]) }
}

impl NoSpace {
    /// A write in `folder` that did not fit, with the filesystem's space measured now.
    pub fn new(cause: Cause, folder: &Path, doing: impl Into<String>) -> Self {
        Self {
            cause,
            folder: folder.to_owned(),
            doing: doing.into(),
            needed: None,
            at_least: false,
            space: space(folder),
            removed: None,
        }
    }

    /// When `error` means no room: the [`NoSpace`] for a write in `folder`.
    pub fn from_io(error: &std::io::Error, folder: &Path, doing: impl Into<String>) -> Option<Self> {
        cause_of_io(error).map(|cause| Self::new(cause, folder, doing))
    }

    #[must_use]
    pub fn needing(mut self, bytes: u64) -> Self {
        self.needed = Some(bytes);
        self
    }
}

impl fmt::Display for NoSpace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let folder = self.folder.display();
        match self.cause {
            Cause::Full => write!(f, "no space left on device in {folder} {}", self.doing)?,
            Cause::Quota => write!(f, "disk quota exceeded in {folder} {}", self.doing)?,
            Cause::MapFull(map) => write!(
                f,
                "the database in {folder} reached its map size ({}) {}",
                human_bytes(map),
                self.doing
            )?,
        }
        let mut facts = Vec::new();
        if let Some(removed) = &self.removed {
            facts.push(removed.clone());
        }
        if let Some(needed) = self.needed {
            let more = if self.at_least { "more than " } else { "" };
            facts.push(format!("it needs {more}{}", human_bytes(needed)));
        }
        if let Some(space) = self.space
            && !matches!(self.cause, Cause::MapFull(_))
        {
            facts.push(format!(
                "the disk holding it has {} free of {}",
                human_bytes(space.free),
                human_bytes(space.total)
            ));
        }
        if !facts.is_empty() {
            write!(f, " ({})", facts.join("; "))?;
        }
        match self.cause {
            Cause::Full => f.write_str(
                ". Free space on that disk (`pleat cache gc --max-size 500MiB` shrinks Pleat's store, `pleat cache clear` empties it), or point --cache-dir (or PLEAT_CACHE_DIR) at a folder on a larger disk",
            ),
            Cause::Quota => f.write_str(
                ". Free some of your quota (`pleat cache gc --max-size 500MiB` shrinks Pleat's store), or point --cache-dir (or PLEAT_CACHE_DIR) at a folder outside the quota",
            ),
            Cause::MapFull(_) => f.write_str(
                ". Shrink the store with `pleat cache gc --max-size 500MiB`, or raise cache_max_size in [tool.pleat] (the map is four times the cap)",
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tools_output_and_errors_are_recognised() {
        assert!(says_no_space(
            "ERROR: Could not install packages due to an OSError: [Errno 28] No space left on device"
        ));
        assert!(says_no_space("error: failed to write to file `x`: No space left on device (os error 28)"));
        assert!(says_quota("OSError: [Errno 122] Disk quota exceeded"));
        assert!(!says_no_space("ERROR: Could not find a version that satisfies the requirement pytest"));
        assert!(is_no_space(&std::io::Error::from_raw_os_error(libc::ENOSPC)));
        assert!(is_no_space(&std::io::Error::from_raw_os_error(libc::EDQUOT)));
        assert!(!is_no_space(&std::io::Error::from_raw_os_error(libc::EACCES)));
        let heed = heed::Error::Io(std::io::Error::from_raw_os_error(libc::ENOSPC));
        assert_eq!(cause_of_heed(&heed, 1, Path::new("/")), Some(Cause::Full));
        assert_eq!(
            cause_of_heed(&heed::Error::Mdb(heed::MdbError::MapFull), 7, Path::new("/")),
            Some(Cause::MapFull(7))
        );
        // EIO is a short write only on a disk that is (nearly) full.
        let eio = heed::Error::Io(std::io::Error::from_raw_os_error(libc::EIO));
        let roomy = std::env::temp_dir();
        assert!(
            space(&roomy).is_some_and(|s| s.free >= LOW_SPACE),
            "the test needs a temporary folder with room"
        );
        assert_eq!(cause_of_heed(&eio, 1, &roomy), None);
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(20 << 20), "20.0 MiB");
    }

    #[test]
    fn the_sentence_names_the_folder_the_need_the_space_and_what_to_do() {
        let mut e = NoSpace::new(Cause::Full, Path::new("/tmp"), "while storing a result").needing(2048);
        e.space = Some(Space { free: 1024, total: 20 << 20 });
        let text = e.to_string();
        assert!(text.starts_with("no space left on device in /tmp while storing a result (it needs 2.0 KiB; the disk holding it has 1.0 KiB free of 20.0 MiB). Free space"), "{text}");
        assert!(text.contains("pleat cache gc --max-size") && text.contains("--cache-dir"), "{text}");
    }
}
