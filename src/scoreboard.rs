//! Worker heartbeats shared between the master and its workers.
//!
//! Owns: one page of shared anonymous memory, mapped by the master before
//! any fork, holding a monotonic timestamp per worker slot. A worker's event
//! loop stamps its slot about once a second; the master reads the slots to
//! find workers that went silent for longer than `--timeout`.
//!
//! Why not Gunicorn's temp-file `fchmod` trick: a shared atomic costs no
//! system call per beat and needs no writable temp directory.
//!
//! Must never: block, allocate after creation, or be unmapped while workers
//! run (it lives for the whole life of the master).

use std::sync::atomic::{AtomicU64, Ordering};

/// Worker slots available (TTIN cannot grow past this).
pub const SLOTS: usize = 1024;

pub struct Scoreboard {
    base: *const AtomicU64,
}

// SAFETY: the mapping is only ever accessed through atomics and lives until
// the process exits.
unsafe impl Send for Scoreboard {}
unsafe impl Sync for Scoreboard {}

/// Milliseconds on CLOCK_MONOTONIC, the same clock in every process of the machine.
pub fn now_ms() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the struct we pass.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64) * 1000 + (ts.tv_nsec as u64) / 1_000_000
}

impl Scoreboard {
    pub fn new() -> std::io::Result<Scoreboard> {
        let len = SLOTS * std::mem::size_of::<AtomicU64>();
        // SAFETY: a fresh anonymous shared mapping; checked for MAP_FAILED.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Scoreboard {
            base: p as *const AtomicU64,
        })
    }

    fn slot(&self, i: usize) -> Option<&AtomicU64> {
        if i >= SLOTS {
            return None;
        }
        // SAFETY: i < SLOTS, inside the mapping; zeroed memory is a valid AtomicU64.
        Some(unsafe { &*self.base.add(i) })
    }

    /// Records that the worker in slot `i` is alive now.
    pub fn beat(&self, i: usize) {
        if let Some(s) = self.slot(i) {
            s.store(now_ms(), Ordering::Relaxed);
        }
    }

    /// The last heartbeat of slot `i` (milliseconds, monotonic).
    pub fn last(&self, i: usize) -> u64 {
        self.slot(i).map_or(0, |s| s.load(Ordering::Relaxed))
    }
}
