//! The master's pid file (`-p/--pid`), as Gunicorn keeps it.
//!
//! Owns: refusing to start when the file names a live process, writing the
//! master's pid, and removing the file at exit (only if it is still ours).
//!
//! Must never: delete a pid file that names another live process.

use std::io::Write;

fn read_pid(path: &str) -> Option<libc::pid_t> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

fn alive(pid: libc::pid_t) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    pid > 0 && unsafe { libc::kill(pid, 0) } == 0
}

/// Before binding: a pid file naming a live process means another server.
pub fn check(path: &str) -> Result<(), String> {
    match read_pid(path) {
        // SAFETY: getpid cannot fail.
        Some(pid) if alive(pid) && pid != unsafe { libc::getpid() } => Err(format!(
            "ferricorn: error: already running on PID {pid} (or pid file {path:?} is stale)"
        )),
        _ => Ok(()),
    }
}

/// Writes `pid` atomically (temporary file + rename).
pub fn create(path: &str, pid: libc::pid_t) -> Result<(), String> {
    let tmp = format!("{path}.{pid}.tmp");
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        writeln!(f, "{pid}")?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        format!("Cannot write pid file {path:?}: {e}")
    })
}

/// Removes the pid file if it still names `pid`.
pub fn remove(path: &str, pid: libc::pid_t) {
    if read_pid(path) == Some(pid) {
        let _ = std::fs::remove_file(path);
    }
}
