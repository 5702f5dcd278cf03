//! Resident memory of a process, for `--max-worker-memory`.
//!
//! Owns: reading `/proc/<pid>/statm` (one small read, no allocation beyond
//! the line) and converting pages to bytes.
//!
//! Must never: block or fail loudly; a process that is gone or a kernel
//! without procfs reads as "unknown" (None).

use std::io::Read;

/// Resident set size of `pid` in bytes, or None if it cannot be read.
pub fn rss_bytes(pid: libc::pid_t) -> Option<u64> {
    let mut f = std::fs::File::open(format!("/proc/{pid}/statm")).ok()?;
    let mut buf = [0u8; 128];
    let n = f.read(&mut buf).ok()?;
    let text = std::str::from_utf8(&buf[..n]).ok()?;
    let resident: u64 = text.split_ascii_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Some(resident * u64::try_from(page).ok().filter(|p| *p > 0).unwrap_or(4096))
}

#[cfg(test)]
mod tests {
    #[test]
    fn own_rss_is_readable_and_plausible() {
        let rss = super::rss_bytes(std::process::id() as libc::pid_t).unwrap_or(0);
        assert!(rss > 1 << 20, "{rss}");
        assert_eq!(super::rss_bytes(-5), None);
    }
}
