//! Giving freed memory back to the system after a large document is parsed or closed: glibc keeps freed pages in its per-thread arenas, so a 20 MB buffer's parse left the server at hundreds of MiB after the buffer was gone.

/// Documents at least this large hand their freed memory back after a parse or a close.
pub const LARGE_DOCUMENT: usize = 1 << 20;

/// Returns the free pages of every malloc arena to the system (glibc's `malloc_trim`);
/// elsewhere a no-op. It walks the arenas, a few milliseconds: called only after work on a
/// [`LARGE_DOCUMENT`], whose parse costs far more.
pub fn give_back() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[allow(unsafe_code)]
    // SAFETY: malloc_trim takes no pointers and only rearranges the allocator's own free
    // lists under its locks; it is safe to call from any thread at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}
