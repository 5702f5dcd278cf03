//! Process titles: `ferricorn: master [app]` / `ferricorn: worker [app]` in
//! `ps`, `top -c` and `/proc/PID/cmdline`, as Gunicorn shows them when the
//! setproctitle package is installed.
//!
//! Owns: finding the memory that holds this process's argv strings (the
//! kernel publishes its bounds in `/proc/self/stat`), extending it over the
//! environment strings that follow it (after moving those strings to the
//! heap and re-pointing `environ` at the copies, as setproctitle does), and
//! writing titles there.
//!
//! Must never: crash or fail the server (no `/proc`, an unexpected layout:
//! titles are simply not set), write outside the argv and environment
//! areas, or touch `environ` after [`init`] (which runs once, in the master,
//! before the application can have started a thread).

use std::sync::atomic::{AtomicUsize, Ordering};

/// The writable title area: `[START, END)`; `ARG_END` is where the original
/// argv strings ended (the kernel looks at the byte before it).
static START: AtomicUsize = AtomicUsize::new(0);
static END: AtomicUsize = AtomicUsize::new(0);
static ARG_END: AtomicUsize = AtomicUsize::new(0);

extern "C" {
    static mut environ: *mut *mut libc::c_char;
}

/// arg_start, arg_end, env_start, env_end from `/proc/self/stat` (fields
/// 48 to 51, Linux 3.5+).
fn areas() -> Option<[usize; 4]> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Field 2 (comm) is in parentheses and may itself contain spaces or
    // parentheses; the fields after the last ')' start at field 3.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let get = |n: usize| -> Option<usize> { fields.get(n - 3)?.parse().ok() };
    Some([get(48)?, get(49)?, get(50)?, get(51)?])
}

/// Prepares the title area. Call once, early, in the master while it has
/// a single thread. Returns false (and titles stay off) when the layout is
/// not the expected one.
pub fn init() -> bool {
    if END.load(Ordering::Relaxed) != 0 {
        return true;
    }
    // An escape hatch for tools whose own command line is what /proc
    // reports for us (valgrind: its options live in that memory).
    if std::env::var_os("FERRICORN_NO_PROCTITLE").is_some() {
        return false;
    }
    let Some([arg_start, arg_end, env_start, env_end]) = areas() else {
        return false;
    };
    if arg_start == 0 || arg_end <= arg_start {
        return false;
    }
    let mut end = arg_end;
    // The environment strings usually follow argv directly; if so, move
    // them to the heap so the title may run on over their old place.
    if env_start == arg_end && env_end > env_start {
        // SAFETY: `environ` is the C library's NULL-terminated array of
        // pointers to NUL-terminated strings. We replace (never free) the
        // pointers that point into the original environment area with
        // leaked heap copies, single-threaded, before anything else could
        // read them concurrently.
        let moved = unsafe {
            let mut all = true;
            let mut p = environ;
            while !p.is_null() && !(*p).is_null() {
                let s = *p as usize;
                if s >= env_start && s < env_end {
                    let copy = libc::strdup(*p);
                    if copy.is_null() {
                        all = false;
                        break;
                    }
                    *p = copy;
                }
                p = p.add(1);
            }
            all
        };
        if moved {
            end = env_end;
        }
    }
    START.store(arg_start, Ordering::Relaxed);
    ARG_END.store(arg_end, Ordering::Relaxed);
    END.store(end, Ordering::Relaxed);
    true
}

/// Sets this process's title (cut to the available space). A no-op when
/// [`init`] did not succeed.
pub fn set(title: &str) {
    let start = START.load(Ordering::Relaxed);
    let end = END.load(Ordering::Relaxed);
    let arg_end = ARG_END.load(Ordering::Relaxed);
    if start == 0 || end <= start {
        return;
    }
    let room = end - start;
    let bytes: Vec<u8> = title.bytes().filter(|&b| b != 0).collect();
    let n = bytes.len().min(room - 1);
    // SAFETY: [start, end) is this process's argv area, possibly extended
    // over the environment strings that `init` moved away; both are
    // ordinary writable memory of the process, and nothing reads them any
    // more (Python and Rust copied argv at start-up).
    unsafe {
        let base = start as *mut u8;
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), base, n);
        std::ptr::write_bytes(base.add(n), 0, room - n);
        // The kernel reports a title (up to its first NUL) rather than the
        // raw argv area when the last byte of the original argv area is
        // not NUL: then /proc/PID/cmdline is exactly the title.
        if start + n + 1 < arg_end {
            *((arg_end - 1) as *mut u8) = b' ';
        }
    }
}
