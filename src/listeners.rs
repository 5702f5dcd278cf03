//! Listening sockets: bound once by the master, inherited by every worker.
//!
//! Owns: turning `--bind` addresses into open, listening, non-blocking
//! sockets (TCP over IPv4/IPv6, Unix domain sockets, and descriptors handed
//! over as `fd://N`), adopting sockets handed over by whoever started us
//! (systemd's `LISTEN_FDS`, or `GUNICORN_FD`/`FERRICORN_FD` from a master
//! that re-executed itself on USR2), reusing the sockets that are still
//! configured when a HUP changes `--bind`, and the names they are logged
//! under.
//!
//! Must never: accept connections (workers do that) or close a socket a
//! worker may still be using; errors are returned as one-line messages.

use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::path::PathBuf;

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::config::BindAddr;

/// What kind of socket a listener is, and the address workers report in
/// `SERVER_NAME`/`SERVER_PORT`.
#[derive(Debug, Clone)]
pub enum Kind {
    Tcp(SocketAddr),
    Unix(PathBuf),
}

/// A bound, listening socket.
#[derive(Debug)]
pub struct Listener {
    pub fd: OwnedFd,
    pub kind: Kind,
    /// We created the socket file (so we remove it at shutdown); false for
    /// an inherited `fd://` socket, whose file belongs to whoever made it.
    pub owns_path: bool,
}

impl Listener {
    /// The address as Gunicorn prints it in "Listening at: ...".
    pub fn url(&self) -> String {
        match &self.kind {
            Kind::Tcp(SocketAddr::V4(a)) => format!("http://{}:{}", a.ip(), a.port()),
            Kind::Tcp(SocketAddr::V6(a)) => format!("http://[{}]:{}", a.ip(), a.port()),
            Kind::Unix(p) => format!("unix:{}", p.display()),
        }
    }

    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

fn describe(addr: &BindAddr) -> String {
    match addr {
        BindAddr::Tcp { host, port } if host.contains(':') => format!("[{host}]:{port}"),
        BindAddr::Tcp { host, port } => format!("{host}:{port}"),
        BindAddr::Unix(p) => format!("unix:{}", p.display()),
        BindAddr::Fd(fd) => format!("fd://{fd}"),
    }
}

fn bind_error(addr: &BindAddr, e: std::io::Error) -> String {
    let what = match e.kind() {
        std::io::ErrorKind::AddrInUse => "address already in use".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        std::io::ErrorKind::AddrNotAvailable => "address not available on this host".to_string(),
        _ => e.to_string(),
    };
    format!("ferricorn: error: cannot bind {}: {what}", describe(addr))
}

/// Socket options from the configuration that apply at bind time.
#[derive(Debug, Clone, Copy, Default)]
pub struct BindOptions {
    pub backlog: i32,
    /// SO_REUSEPORT on TCP sockets (`--reuse-port`).
    pub reuse_port: bool,
    /// The umask Unix socket files are created under (`--umask`).
    pub umask: u32,
    /// `--user`/`--group`: Unix socket files are given to them (as Gunicorn
    /// does), so workers running as that user can still use them.
    pub owner: Option<(libc::uid_t, libc::gid_t)>,
}

/// Listening sockets handed over by the process that started us.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inherited {
    pub fds: Vec<RawFd>,
    /// They come from systemd socket activation: `--bind` is then ignored
    /// (as in Gunicorn), and the sockets and their files belong to systemd.
    pub systemd: bool,
}

/// Environment variables through which listening sockets (and the
/// re-executing master's pid) are handed over. The variables are removed
/// once read, so the application's own child processes never see them.
pub const HANDOVER_VARS: [&str; 7] = [
    "LISTEN_PID",
    "LISTEN_FDS",
    "LISTEN_FDNAMES",
    "GUNICORN_FD",
    "FERRICORN_FD",
    "GUNICORN_PID",
    "FERRICORN_PID",
];

/// Finds the sockets handed to this process (`pid`): systemd's first
/// (`LISTEN_FDS`, only when `LISTEN_PID` is us), then `FERRICORN_FD` or
/// `GUNICORN_FD` (a comma-separated list of descriptor numbers, set by a
/// master re-executing itself on USR2).
pub fn inherited_from_env(
    env: &dyn Fn(&str) -> Option<String>,
    pid: libc::pid_t,
) -> Result<Inherited, String> {
    let n = crate::systemd::listen_fds(env, pid)?;
    if n > 0 {
        let first = crate::systemd::LISTEN_FDS_START;
        return Ok(Inherited {
            fds: (first..first + n as RawFd).collect(),
            systemd: true,
        });
    }
    for var in ["FERRICORN_FD", "GUNICORN_FD"] {
        let Some(raw) = env(var) else { continue };
        let mut fds = Vec::new();
        for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part.parse::<RawFd>() {
                Ok(fd) if fd >= 0 => fds.push(fd),
                _ => {
                    return Err(format!(
                        "ferricorn: error: {var} must be a comma-separated list of descriptors: {raw:?}"
                    ))
                }
            }
        }
        return Ok(Inherited {
            fds,
            systemd: false,
        });
    }
    Ok(Inherited::default())
}

/// Binds every address in order, adopting inherited sockets first.
///
/// With systemd's sockets, those are the listeners and `addrs` is ignored.
/// Otherwise each configured address takes the inherited socket listening
/// on it (a USR2 re-exec hands over exactly the old master's sockets), the
/// others are bound fresh, and inherited sockets no address claimed are
/// served as well (Gunicorn serves every socket it is handed). On the
/// first failure everything bound here is closed and the error names the
/// address.
pub fn bind_all(
    addrs: &[BindAddr],
    opts: BindOptions,
    inherited: &Inherited,
) -> Result<Vec<Listener>, String> {
    let mut pool = Vec::with_capacity(inherited.fds.len());
    for &fd in &inherited.fds {
        let l = adopt_fd(fd, opts.backlog).map_err(|e| {
            let what = if inherited.systemd {
                "LISTEN_FDS"
            } else {
                "GUNICORN_FD"
            };
            format!("ferricorn: error: cannot use inherited descriptor {fd} ({what}): {e}")
        })?;
        pool.push(l);
    }
    if inherited.systemd {
        return Ok(pool);
    }
    match assemble(addrs, opts, pool) {
        Ok((mut listeners, unclaimed)) => {
            listeners.extend(unclaimed);
            Ok(listeners)
        }
        Err((e, _pool)) => Err(e),
    }
}

/// The listeners for the configured addresses, and the sockets of the pool
/// that no address claimed.
pub type Assembled = (Vec<Listener>, Vec<Listener>);
/// The error line, and every pool socket given back.
pub type Unassembled = (String, Vec<Listener>);

/// A HUP changed `--bind`: the sockets of addresses still configured are
/// kept (workers old and new keep accepting on them, nothing is refused),
/// new addresses are bound. Returns the new listener list and the sockets
/// no longer configured (the caller closes them once the old workers are
/// gone). On failure `current` comes back unchanged with the error.
pub fn rebind(
    addrs: &[BindAddr],
    opts: BindOptions,
    current: Vec<Listener>,
) -> Result<Assembled, Unassembled> {
    assemble(addrs, opts, current)
}

/// Whether the configured addresses name exactly these listeners, in order
/// (then a HUP has nothing to rebind).
pub fn same_addresses(addrs: &[BindAddr], listeners: &[Listener]) -> bool {
    addrs.len() == listeners.len()
        && addrs.iter().zip(listeners).all(|(a, l)| {
            let resolved = resolve(a).ok().flatten();
            claims(a, resolved, l)
        })
}

fn resolve(addr: &BindAddr) -> Result<Option<SocketAddr>, String> {
    let BindAddr::Tcp { host, port } = addr else {
        return Ok(None);
    };
    let resolved: Vec<SocketAddr> = (host.as_str(), *port)
        .to_socket_addrs()
        .map_err(|e| format!("ferricorn: error: cannot resolve {}: {e}", describe(addr)))?
        .collect();
    // Gunicorn binds the first address a name resolves to.
    match resolved.first() {
        Some(sa) => Ok(Some(*sa)),
        None => Err(format!(
            "ferricorn: error: cannot resolve {}: no address",
            describe(addr)
        )),
    }
}

/// Whether listener `l` is the socket configured as `addr`.
fn claims(addr: &BindAddr, resolved: Option<SocketAddr>, l: &Listener) -> bool {
    match (addr, &l.kind) {
        (BindAddr::Fd(fd), _) => l.raw_fd() == *fd,
        (BindAddr::Tcp { .. }, Kind::Tcp(have)) => resolved.is_some_and(|want| {
            want.port() != 0 && want.ip() == have.ip() && want.port() == have.port()
        }),
        (BindAddr::Unix(want), Kind::Unix(have)) => !have.as_os_str().is_empty() && want == have,
        _ => false,
    }
}

/// Builds the listener list for `addrs`, taking sockets from `pool` where
/// one already listens on the address and binding the rest. Returns the
/// list and what is left of the pool; on error, the pool (including what
/// was taken from it) comes back and the sockets bound here are closed.
fn assemble(
    addrs: &[BindAddr],
    opts: BindOptions,
    pool: Vec<Listener>,
) -> Result<Assembled, Unassembled> {
    let mut pool: Vec<Option<Listener>> = pool.into_iter().map(Some).collect();
    // (listener, came from the pool)
    let mut out: Vec<(Listener, bool)> = Vec::with_capacity(addrs.len());
    let mut failure = None;
    for addr in addrs {
        let resolved = match resolve(addr) {
            Ok(r) => r,
            Err(e) => {
                failure = Some(e);
                break;
            }
        };
        let taken = pool
            .iter_mut()
            .find(|slot| slot.as_ref().is_some_and(|l| claims(addr, resolved, l)))
            .and_then(Option::take);
        if let Some(mut l) = taken {
            if let BindAddr::Unix(_) = addr {
                // Configured here, so ours to remove at the final shutdown
                // (a socket handed over by a re-exec is still our address).
                l.owns_path = true;
            }
            out.push((l, true));
            continue;
        }
        match bind_one(addr, resolved, opts) {
            Ok(l) => out.push((l, false)),
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    if let Some(e) = failure {
        let mut back: Vec<Listener> = Vec::new();
        for (l, from_pool) in out {
            if from_pool {
                back.push(l);
            } else {
                cleanup(std::slice::from_ref(&l));
            }
        }
        back.extend(pool.into_iter().flatten());
        return Err((e, back));
    }
    Ok((
        out.into_iter().map(|(l, _)| l).collect(),
        pool.into_iter().flatten().collect(),
    ))
}

fn bind_one(
    addr: &BindAddr,
    resolved: Option<SocketAddr>,
    opts: BindOptions,
) -> Result<Listener, String> {
    match addr {
        BindAddr::Tcp { .. } => {
            let Some(sa) = resolved else {
                return Err(format!(
                    "ferricorn: error: cannot resolve {}: no address",
                    describe(addr)
                ));
            };
            let sock =
                bind_tcp(sa, opts.backlog, opts.reuse_port).map_err(|e| bind_error(addr, e))?;
            let local = sock
                .local_addr()
                .ok()
                .and_then(|a| a.as_socket())
                .unwrap_or(sa);
            Ok(Listener {
                fd: sock.into(),
                kind: Kind::Tcp(local),
                owns_path: false,
            })
        }
        BindAddr::Unix(path) => {
            // Gunicorn applies --umask to the socket file only.
            // SAFETY: umask swaps the process mask; restored right after.
            let old = unsafe { libc::umask(opts.umask as libc::mode_t) };
            let r = bind_unix(path, opts.backlog);
            // SAFETY: as above.
            unsafe { libc::umask(old) };
            let sock = r.map_err(|e| bind_error(addr, e))?;
            if let Some((uid, gid)) = opts.owner {
                if let Err(e) = std::os::unix::fs::chown(path, Some(uid), Some(gid)) {
                    let _ = std::fs::remove_file(path);
                    return Err(format!(
                        "ferricorn: error: cannot give {} to uid {uid} gid {gid}: {e}",
                        describe(addr)
                    ));
                }
            }
            Ok(Listener {
                fd: sock.into(),
                kind: Kind::Unix(path.clone()),
                owns_path: true,
            })
        }
        BindAddr::Fd(fd) => adopt_fd(*fd, opts.backlog).map_err(|e| bind_error(addr, e)),
    }
}

fn bind_tcp(sa: SocketAddr, backlog: i32, reuse_port: bool) -> std::io::Result<Socket> {
    let sock = Socket::new(Domain::for_address(sa), Type::STREAM, Some(Protocol::TCP))?;
    // SO_REUSEADDR lets a restarted server bind while old connections sit in
    // TIME_WAIT, exactly as Gunicorn does.
    sock.set_reuse_address(true)?;
    if reuse_port {
        sock.set_reuse_port(true)?;
    }
    if sa.is_ipv6() {
        sock.set_only_v6(true)?;
    }
    sock.bind(&sa.into())?;
    sock.listen(backlog)?;
    sock.set_nonblocking(true)?;
    Ok(sock)
}

fn bind_unix(path: &PathBuf, backlog: i32) -> std::io::Result<Socket> {
    use std::os::unix::fs::FileTypeExt;
    // A socket file left by a previous run would make bind fail; remove it
    // only when it really is a socket (never delete a user's regular file).
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if meta.file_type().is_socket() {
            let _ = std::fs::remove_file(path);
        }
    }
    let sock = Socket::new(Domain::UNIX, Type::STREAM, None)?;
    sock.bind(&SockAddr::unix(path)?)?;
    sock.listen(backlog)?;
    sock.set_nonblocking(true)?;
    Ok(sock)
}

fn adopt_fd(fd: i32, backlog: i32) -> std::io::Result<Listener> {
    // SAFETY: fcntl(F_GETFD) only inspects the descriptor table.
    if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the descriptor is open (checked above) and handed to us by the
    // user to own; from here on the Listener owns it.
    let sock = unsafe { Socket::from_raw_fd(fd) };
    let checked = sock.local_addr().and_then(|a| match sock.r#type() {
        Ok(t) if t == Type::STREAM => Ok(a),
        Ok(_) => Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a stream socket",
        )),
        Err(e) => Err(e),
    });
    let local = match checked {
        Ok(a) => a,
        Err(e) => {
            let _ = sock.into_raw_fd(); // not ours to close if it is not a socket
            return Err(e);
        }
    };
    sock.set_nonblocking(true)?;
    // Our children are workers (forked) and the application's own
    // subprocesses, which must not hold the listener open; a USR2 re-exec
    // clears the flag on purpose.
    sock.set_cloexec(true)?;
    // As Gunicorn does: listen() again applies --backlog (and makes a
    // socket that was only bound start listening).
    sock.listen(backlog)?;
    let kind = if let Some(sa) = local.as_socket() {
        Kind::Tcp(sa)
    } else {
        Kind::Unix(local.as_pathname().map(PathBuf::from).unwrap_or_default())
    };
    Ok(Listener {
        fd: sock.into(),
        kind,
        owns_path: false,
    })
}

/// Removes Unix socket files on a final shutdown (Gunicorn does the same).
pub fn cleanup(listeners: &[Listener]) {
    for l in listeners {
        if let Kind::Unix(p) = &l.kind {
            if l.owns_path && !p.as_os_str().is_empty() {
                let _ = std::fs::remove_file(p);
            }
        }
    }
}
