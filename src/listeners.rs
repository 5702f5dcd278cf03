//! Listening sockets: bound once by the master, inherited by every worker.
//!
//! Owns: turning `--bind` addresses into open, listening, non-blocking
//! sockets (TCP over IPv4/IPv6, Unix domain sockets, and descriptors handed
//! over as `fd://N`), and the names they are logged under.
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

/// Binds every address in order. On the first failure the sockets bound so
/// far are closed (dropped) and the error names the address.
/// Socket options from the configuration that apply at bind time.
#[derive(Debug, Clone, Copy, Default)]
pub struct BindOptions {
    pub backlog: i32,
    /// SO_REUSEPORT on TCP sockets (`--reuse-port`).
    pub reuse_port: bool,
    /// The umask Unix socket files are created under (`--umask`).
    pub umask: u32,
}

pub fn bind_all(addrs: &[BindAddr], opts: BindOptions) -> Result<Vec<Listener>, String> {
    let backlog = opts.backlog;
    let mut out: Vec<Listener> = Vec::with_capacity(addrs.len());
    for addr in addrs {
        match addr {
            BindAddr::Tcp { host, port } => {
                let resolved: Vec<SocketAddr> = (host.as_str(), *port)
                    .to_socket_addrs()
                    .map_err(|e| {
                        format!("ferricorn: error: cannot resolve {}: {e}", describe(addr))
                    })?
                    .collect();
                // Gunicorn binds the first address a name resolves to.
                let Some(sa) = resolved.first().copied() else {
                    return Err(format!(
                        "ferricorn: error: cannot resolve {}: no address",
                        describe(addr)
                    ));
                };
                let sock =
                    bind_tcp(sa, backlog, opts.reuse_port).map_err(|e| bind_error(addr, e))?;
                let local = sock
                    .local_addr()
                    .ok()
                    .and_then(|a| a.as_socket())
                    .unwrap_or(sa);
                out.push(Listener {
                    fd: sock.into(),
                    kind: Kind::Tcp(local),
                    owns_path: false,
                });
            }
            BindAddr::Unix(path) => {
                // Gunicorn applies --umask to the socket file only.
                // SAFETY: umask swaps the process mask; restored right after.
                let old = unsafe { libc::umask(opts.umask as libc::mode_t) };
                let r = bind_unix(path, backlog);
                // SAFETY: as above.
                unsafe { libc::umask(old) };
                let sock = r.map_err(|e| bind_error(addr, e))?;
                out.push(Listener {
                    fd: sock.into(),
                    kind: Kind::Unix(path.clone()),
                    owns_path: true,
                });
            }
            BindAddr::Fd(fd) => out.push(adopt_fd(*fd).map_err(|e| bind_error(addr, e))?),
        }
    }
    Ok(out)
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

fn adopt_fd(fd: i32) -> std::io::Result<Listener> {
    // SAFETY: fcntl(F_GETFD) only inspects the descriptor table.
    if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the descriptor is open (checked above) and handed to us by the
    // user to own; from here on the Listener owns it.
    let sock = unsafe { Socket::from_raw_fd(fd) };
    let local = match sock.local_addr() {
        Ok(a) => a,
        Err(e) => {
            let _ = sock.into_raw_fd(); // not ours to close if it is not a socket
            return Err(e);
        }
    };
    sock.set_nonblocking(true)?;
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
