//! The master's pid file (`-p/--pid`), as Gunicorn keeps it.
//!
//! Owns: refusing to start when the file names a live process, writing the
//! master's pid, the `.2` name a master started by a USR2 re-exec uses
//! while the old master is alive (and the rename when it takes over), and
//! removing the file at exit (only if it is still ours).
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

/// The pid file name for a master: `<path>.2` while it is the second master
/// of a USR2 upgrade (the old master still owns `<path>`), as in Gunicorn.
pub fn name_for(path: &str, second: bool) -> String {
    if second {
        format!("{path}.2")
    } else {
        path.to_string()
    }
}

/// The old master is gone: `to` now names `pid`, and `from` goes away if it
/// still names us.
pub fn rename(from: &str, to: &str, pid: libc::pid_t) -> Result<(), String> {
    create(to, pid)?;
    remove(from, pid);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_rename_remove() {
        let dir = std::env::temp_dir().join(format!("ferricorn-pidfile-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let base = dir.join("app.pid").to_string_lossy().into_owned();
        let second = name_for(&base, true);
        assert_eq!(second, format!("{base}.2"));
        assert_eq!(name_for(&base, false), base);
        // SAFETY: getpid cannot fail.
        let me = unsafe { libc::getpid() };
        create(&second, me).expect("create");
        assert_eq!(read_pid(&second), Some(me));
        rename(&second, &base, me).expect("rename");
        assert_eq!(read_pid(&base), Some(me));
        assert!(!std::path::Path::new(&second).exists());
        remove(&base, me + 1); // not ours: stays
        assert!(std::path::Path::new(&base).exists());
        remove(&base, me);
        assert!(!std::path::Path::new(&base).exists());
        let _ = std::fs::remove_dir(&dir);
    }
}
