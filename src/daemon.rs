//! `-D/--daemon`: detach from the terminal, as Gunicorn's `daemonize()`.
//!
//! Owns: the double fork with `setsid()` in between (the launching process
//! exits 0, the grandchild becomes the master, in a new session with no
//! controlling terminal), the daemon's umask (022, as Gunicorn), and where
//! its standard streams go: `/dev/null`, or with
//! `-R/--enable-stdio-inheritance` stdin only (plus stdout/stderr when they
//! are a terminal, which the daemon no longer has).
//!
//! Must never: change the working directory (`--chdir` decides it), close
//! descriptors other than 0-2 (the listeners are already bound), or run
//! while the process has threads (it forks; it is called before the
//! application is preloaded).

use pyo3::Python;

/// Forks; the parent leaves at once with status 0, the child returns.
fn fork_and_leave_parent(_py: Python<'_>) -> Result<(), String> {
    // SAFETY: CPython's fork protocol, with the GIL held by our caller.
    let pid = unsafe {
        pyo3::ffi::PyOS_BeforeFork();
        libc::fork()
    };
    if pid == 0 {
        // SAFETY: in the child right after fork.
        unsafe { pyo3::ffi::PyOS_AfterFork_Child() };
        return Ok(());
    }
    // SAFETY: in the parent after fork (also after a failed fork).
    unsafe { pyo3::ffi::PyOS_AfterFork_Parent() };
    if pid < 0 {
        return Err(format!(
            "ferricorn: error: cannot fork to daemonize: {}",
            std::io::Error::last_os_error()
        ));
    }
    // SAFETY: the parent's job is done; _exit skips Python's shutdown, which
    // belongs to the daemon now.
    unsafe { libc::_exit(0) }
}

/// Detaches this process. On return we are the daemon.
pub fn daemonize(py: Python<'_>, stdio_inheritance: bool) -> Result<(), String> {
    fork_and_leave_parent(py)?;
    // SAFETY: setsid in the first child, which is not a group leader.
    if unsafe { libc::setsid() } < 0 {
        return Err(format!(
            "ferricorn: error: setsid failed: {}",
            std::io::Error::last_os_error()
        ));
    }
    fork_and_leave_parent(py)?;
    // SAFETY: umask only swaps the process mask.
    unsafe { libc::umask(0o022) };
    redirect_stdio(stdio_inheritance);
    Ok(())
}

fn redirect_stdio(stdio_inheritance: bool) {
    // SAFETY: opening /dev/null and dup2-ing it over 0-2; errors leave the
    // descriptors as they were, which is harmless.
    unsafe {
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC);
        if null < 0 {
            return;
        }
        libc::dup2(null, 0);
        for fd in [1, 2] {
            if !stdio_inheritance || libc::isatty(fd) == 1 {
                libc::dup2(null, fd);
            }
        }
        if null > 2 {
            libc::close(null);
        } else {
            // It took the place of a closed standard stream: keep it across exec.
            libc::fcntl(null, libc::F_SETFD, 0);
        }
    }
}
