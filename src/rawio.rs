//! Blocking-with-deadline reads and writes on a connection's raw descriptor.
//!
//! Owns: the few system-call loops the application thread uses while the
//! connection's async task is parked waiting for it: reading more request
//! body for `wsgi.input`, and flushing response bytes once more than the
//! write budget is waiting. The socket stays non-blocking; waiting is
//! `poll(2)` with a deadline.
//!
//! Must never: be called with the GIL held (callers wrap these in
//! `Python::detach`), or wait without a deadline.

use std::io;
use std::os::fd::RawFd;
use std::time::{Duration, Instant};

/// Waits until `fd` is ready for `events` or the deadline passes.
pub fn wait(fd: RawFd, events: libc::c_short, deadline: Instant) -> io::Result<()> {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "timed out"));
        }
        let ms = left.as_millis().min(i32::MAX as u128) as i32;
        let mut pfd = libc::pollfd {
            fd,
            events,
            revents: 0,
        };
        // SAFETY: one valid pollfd on the stack.
        let n = unsafe { libc::poll(&mut pfd, 1, ms.max(1)) };
        if n > 0 {
            return Ok(());
        }
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }
}

/// One non-blocking read; `Ok(None)` means "would block".
pub fn try_read(fd: RawFd, buf: &mut [u8]) -> io::Result<Option<usize>> {
    loop {
        // SAFETY: reading into a valid mutable slice of its own length.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n >= 0 {
            return Ok(Some(n as usize));
        }
        let e = io::Error::last_os_error();
        match e.kind() {
            io::ErrorKind::Interrupted => continue,
            io::ErrorKind::WouldBlock => return Ok(None),
            _ => return Err(e),
        }
    }
}

/// Reads at least one byte (or EOF → 0), waiting up to `timeout`.
pub fn read_some(fd: RawFd, buf: &mut [u8], timeout: Duration) -> io::Result<usize> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(n) = try_read(fd, buf)? {
            return Ok(n);
        }
        wait(fd, libc::POLLIN, deadline)?;
    }
}

/// One non-blocking `writev`; returns bytes written (0 when it would block).
pub fn try_writev(fd: RawFd, parts: &[&[u8]]) -> io::Result<usize> {
    let mut iov: [libc::iovec; 4] = [libc::iovec {
        iov_base: std::ptr::null_mut(),
        iov_len: 0,
    }; 4];
    let mut n = 0;
    for p in parts.iter().filter(|p| !p.is_empty()).take(4) {
        iov[n] = libc::iovec {
            iov_base: p.as_ptr() as *mut libc::c_void,
            iov_len: p.len(),
        };
        n += 1;
    }
    if n == 0 {
        return Ok(0);
    }
    loop {
        // SAFETY: iov[..n] point into live slices for the duration of the call.
        // MSG_NOSIGNAL is not available to writev; SIGPIPE is ignored process-wide.
        let r = unsafe { libc::writev(fd, iov.as_ptr(), n as libc::c_int) };
        if r >= 0 {
            return Ok(r as usize);
        }
        let e = io::Error::last_os_error();
        match e.kind() {
            io::ErrorKind::Interrupted => continue,
            io::ErrorKind::WouldBlock => return Ok(0),
            _ => return Err(e),
        }
    }
}

/// Writes all of `data`, waiting up to `timeout` for each bit of progress.
pub fn write_all(fd: RawFd, mut data: &[u8], timeout: Duration) -> io::Result<()> {
    while !data.is_empty() {
        let n = try_writev(fd, &[data])?;
        if n == 0 {
            wait(fd, libc::POLLOUT, Instant::now() + timeout)?;
        }
        data = &data[n..];
    }
    Ok(())
}
