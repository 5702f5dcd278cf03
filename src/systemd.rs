//! systemd integration: socket activation and `sd_notify`.
//!
//! Owns: reading `LISTEN_FDS`/`LISTEN_PID` (sockets systemd opened for us,
//! numbered from 3), and sending state changes (`READY=1`, `RELOADING=1`,
//! `STOPPING=1`, `STATUS=...`) to the datagram socket named by
//! `NOTIFY_SOCKET` (a path, or `@name` in the abstract namespace).
//!
//! Must never: fail or slow the server because systemd is absent or its
//! socket is gone (a failed notification is logged at debug level and
//! dropped), block (one non-blocking `sendto` per message), or allocate in
//! a forked child (callers prepare everything first).

use std::os::fd::RawFd;

/// The first descriptor systemd passes (`SD_LISTEN_FDS_START`).
pub const LISTEN_FDS_START: RawFd = 3;

/// The number of sockets systemd passed to *this* process: `LISTEN_FDS` when
/// `LISTEN_PID` names us, else 0 (the variables were meant for a parent).
/// An unparsable value is an error, not silently "none".
pub fn listen_fds(env: &dyn Fn(&str) -> Option<String>, pid: libc::pid_t) -> Result<usize, String> {
    let Some(listen_pid) = env("LISTEN_PID") else {
        return Ok(0);
    };
    let Ok(listen_pid) = listen_pid.trim().parse::<libc::pid_t>() else {
        return Err(format!(
            "ferricorn: error: LISTEN_PID is not a process id: {listen_pid:?}"
        ));
    };
    if listen_pid != pid {
        return Ok(0);
    }
    let raw = env("LISTEN_FDS").unwrap_or_default();
    raw.trim().parse::<usize>().map_err(|_| {
        format!("ferricorn: error: LISTEN_FDS is not a number of descriptors: {raw:?}")
    })
}

/// The monotonic clock in microseconds, as `RELOADING=1` wants it
/// (`MONOTONIC_USEC=`, for `Type=notify-reload`).
fn monotonic_usec() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime fills the timespec it is given.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64) * 1_000_000 + (ts.tv_nsec as u64) / 1000
}

/// Sends `state` (newline-separated `KEY=VALUE` lines) to `NOTIFY_SOCKET`.
/// A no-op outside systemd. `MONOTONIC_USEC` is appended, as Gunicorn does.
pub fn notify(state: &str) {
    let Some(addr) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let msg = format!("{state}\nMONOTONIC_USEC={}", monotonic_usec());
    if let Err(e) = send(&addr, msg.as_bytes()) {
        crate::logging::debug(&format!("sd_notify({state:?}) failed: {e}"));
    }
}

fn send(addr: &std::ffi::OsStr, msg: &[u8]) -> std::io::Result<()> {
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::net::{SocketAddr, UnixDatagram};
    let bytes = addr.as_bytes();
    let target = match bytes.first() {
        Some(b'@') => SocketAddr::from_abstract_name(&bytes[1..])?,
        Some(b'/') => SocketAddr::from_pathname(std::path::Path::new(addr))?,
        _ => {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "NOTIFY_SOCKET is neither an absolute path nor an @abstract name",
            ))
        }
    };
    let sock = UnixDatagram::unbound()?;
    sock.set_nonblocking(true)?;
    sock.send_to_addr(msg, &target)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn listen_fds_only_for_our_pid() {
        let env = env_of(&[("LISTEN_PID", "42"), ("LISTEN_FDS", "2")]);
        assert_eq!(listen_fds(&env, 42), Ok(2));
        assert_eq!(listen_fds(&env, 43), Ok(0));
        assert_eq!(listen_fds(&env_of(&[]), 42), Ok(0));
        assert!(listen_fds(&env_of(&[("LISTEN_PID", "x")]), 42).is_err());
        assert!(listen_fds(&env_of(&[("LISTEN_PID", "42"), ("LISTEN_FDS", "-1")]), 42).is_err());
        // Leading zeros are a valid pid spelling.
        let env = env_of(&[("LISTEN_PID", "0042"), ("LISTEN_FDS", "1")]);
        assert_eq!(listen_fds(&env, 42), Ok(1));
    }
}
