//! Syslog output: `--log-syslog`, `--log-syslog-to`, `--log-syslog-prefix`,
//! `--log-syslog-facility`.
//!
//! Owns: the bytes Gunicorn's syslog handler puts on the wire (Python's
//! `logging.handlers.SysLogHandler` with Gunicorn's formatter), parsing the
//! address and facility settings as Gunicorn does (`glogging.py:
//! parse_syslog_address`, `SYSLOG_FACILITIES`), and the connection to the
//! syslog daemon (UDP, TCP, Unix datagram or stream).
//!
//! Must never: block the caller (every socket is non-blocking; TCP connects
//! in the background), fail or panic when the daemon is down, slow, or goes
//! away (messages are queued up to a bound for stream sockets, otherwise
//! dropped and counted), or send a partial message followed by another one
//! on a new connection (a message cut by a broken connection is dropped
//! whole).
//!
//! # Wire format
//!
//! One message per log record:
//!
//! ```text
//! <PRI>gunicorn.<prefix>.<error|access>: [<pid>] <message>\0
//! ```
//!
//! * `PRI` = facility × 8 + severity; severities are Python's mapping of
//!   level names: DEBUG 7, INFO 6, WARNING 4, ERROR 3 (also
//!   `log.exception`), CRITICAL 2. Access lines are INFO.
//! * `<prefix>` is `--log-syslog-prefix`, or else the process name
//!   (`proc_name`, default the app URI) with `:` replaced by `.`
//!   ([`program_prefix`]). Gunicorn's formatter:
//!   `"gunicorn.%s.%s: [%(process)d] %(message)s"`; no timestamp, no
//!   hostname, no level name (the level is in PRI only).
//! * The trailing NUL is `SysLogHandler.append_nul`; it also ends each
//!   message on TCP and Unix-stream connections (no octet counting, no
//!   newline), exactly as Python sends it.
//! * A multi-line message (a traceback) is one message with its newlines.
//!   Python's formatter drops the traceback's final newline, so a single
//!   trailing `\n` of the message is dropped here too.
//!
//! # Differences from Gunicorn (deliberate)
//!
//! Python's handler is blocking: a stalled `/dev/log` or TCP daemon stalls
//! Gunicorn's workers; a TCP daemon down at start makes Gunicorn fail to
//! boot, and after a TCP error it never reconnects. Here sockets never
//! block, TCP (re)connects in the background with backoff (1 s doubling to
//! 30 s), and UDP host names are resolved once at start (Python resolves
//! on every message). After `fork`, call [`Syslog::after_fork`] in the
//! child so that processes do not share one stream connection.

use std::collections::VecDeque;
use std::io::{self, Write as _};
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use socket2::{Domain, SockAddr, Socket, Type};

use crate::config::LogLevel;

/// Gunicorn's default on Linux (its default is platform-specific: macOS
/// `unix:///var/run/syslog`, FreeBSD/DragonFly `unix:///var/run/log`,
/// OpenBSD `unix:///dev/log`).
pub const DEFAULT_ADDR: &str = "udp://localhost:514";
/// The syslog port when an address gives none.
pub const DEFAULT_PORT: u16 = 514;

/// Queued bytes on a stream connection that is down or slow; beyond this,
/// new messages are dropped.
const MAX_PENDING: usize = 256 * 1024;
const MIN_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// How to talk to a Unix-socket daemon.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnixKind {
    /// Try a datagram socket, then a stream socket (`unix://PATH`, and any
    /// `#type` other than `#dgram`, as Gunicorn and Python do).
    Auto,
    /// `unix://PATH#dgram`.
    Dgram,
}

/// `--log-syslog-to`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SyslogAddr {
    Udp { host: String, port: u16 },
    Tcp { host: String, port: u16 },
    Unix { path: PathBuf, kind: UnixKind },
}

impl SyslogAddr {
    /// Gunicorn's `parse_syslog_address`: `unix://PATH[#dgram|#stream]`,
    /// `udp://HOST[:PORT]`, `tcp://HOST[:PORT]`, `[V6]` in brackets, port
    /// 514 by default, `udp://` alone meaning localhost. Anything else is
    /// "invalid syslog address" (so `unix:/dev/log` with one slash is
    /// refused, as in Gunicorn).
    pub fn parse(s: &str) -> Result<SyslogAddr, String> {
        if let Some(rest) = s.strip_prefix("unix://") {
            let (path, kind) = match rest.split_once('#') {
                Some((p, "dgram")) => (p, UnixKind::Dgram),
                Some((p, _)) => (p, UnixKind::Auto),
                None => (rest, UnixKind::Auto),
            };
            if path.is_empty() {
                return Err("invalid syslog address: no socket path".into());
            }
            return Ok(SyslogAddr::Unix {
                path: PathBuf::from(path),
                kind,
            });
        }
        let (rest, tcp) = if let Some(r) = s.strip_prefix("udp://") {
            (r, false)
        } else if let Some(r) = s.strip_prefix("tcp://") {
            (r, true)
        } else {
            return Err("invalid syslog address".into());
        };
        let host = if rest.contains('[') && rest.contains(']') {
            let inner = rest.split(']').next().unwrap_or("");
            inner.get(1..).unwrap_or("")
        } else if rest.contains(':') {
            rest.split(':').next().unwrap_or("")
        } else if rest.is_empty() {
            "localhost"
        } else {
            rest
        };
        let after = rest.rsplit(']').next().unwrap_or("");
        let port = match after.split_once(':') {
            Some((_, p)) => {
                if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(format!("{p:?} is not a valid port number."));
                }
                p.parse::<u16>()
                    .map_err(|_| format!("{p:?} is not a valid port number."))?
            }
            None => DEFAULT_PORT,
        };
        if host.is_empty() {
            return Err("invalid syslog address: no host".into());
        }
        let host = host.to_ascii_lowercase();
        Ok(if tcp {
            SyslogAddr::Tcp { host, port }
        } else {
            SyslogAddr::Udp { host, port }
        })
    }
}

/// Gunicorn's `SYSLOG_FACILITIES` (names are case-insensitive). Note that
/// `security` is 4 (= auth) there, unlike Python's own table.
pub fn facility(name: &str) -> Result<u8, String> {
    let n = match name.to_ascii_lowercase().as_str() {
        "kern" => 0,
        "user" => 1,
        "mail" => 2,
        "daemon" => 3,
        "auth" | "security" => 4,
        "syslog" => 5,
        "lpr" => 6,
        "news" => 7,
        "uucp" => 8,
        "cron" => 9,
        "authpriv" => 10,
        "ftp" => 11,
        "local0" => 16,
        "local1" => 17,
        "local2" => 18,
        "local3" => 19,
        "local4" => 20,
        "local5" => 21,
        "local6" => 22,
        "local7" => 23,
        _ => return Err("unknown facility name".into()),
    };
    Ok(n)
}

/// The program part of the ident: `--log-syslog-prefix` if set (and not
/// empty), else the process name with `:` turned into `.`.
pub fn program_prefix(syslog_prefix: Option<&str>, proc_name: &str) -> String {
    match syslog_prefix {
        Some(p) if !p.is_empty() => p.to_string(),
        _ => proc_name.replace(':', "."),
    }
}

/// Which Gunicorn logger a message comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Error,
    Access,
}

/// Python's `SysLogHandler.priority_map`.
fn severity(level: LogLevel) -> u8 {
    match level {
        LogLevel::Debug => 7,
        LogLevel::Info => 6,
        LogLevel::Warning => 4,
        LogLevel::Error => 3,
        LogLevel::Critical => 2,
    }
}

enum Target {
    Udp(SocketAddr),
    Tcp(SocketAddr),
    /// `kind` becomes fixed once a connection of one type worked, as in
    /// Python (`self.socktype = use_socktype`).
    Unix {
        path: PathBuf,
        kind: UnixState,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum UnixState {
    Auto,
    Dgram,
    Stream,
}

enum Conn {
    /// UDP (unconnected, `send_to`) or a connected Unix datagram socket.
    Dgram(Socket),
    /// TCP or Unix stream; `connecting` until the kernel says it is up.
    Stream { sock: Socket, connecting: bool },
    /// Nothing open; try again at `retry_at`.
    Down { retry_at: Instant },
}

/// A syslog sender. Not shared between threads by itself: keep it behind
/// the logger's mutex, as the other log sinks are.
pub struct Syslog {
    target: Target,
    facility: u8,
    ident_error: String,
    ident_access: String,
    conn: Conn,
    /// The message being built (reused).
    msg: Vec<u8>,
    /// Stream sockets: whole messages not yet written, oldest first.
    pending: Vec<u8>,
    pending_lens: VecDeque<usize>,
    /// Bytes of the first pending message already written.
    head_sent: usize,
    connect_failures: u32,
    dropped: u64,
}

impl std::fmt::Debug for Syslog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Syslog")
            .field("facility", &self.facility)
            .field("ident_error", &self.ident_error)
            .field("pending", &self.pending.len())
            .field("dropped", &self.dropped)
            .finish_non_exhaustive()
    }
}

impl Syslog {
    /// `prefix` is [`program_prefix`]'s result. Resolves a UDP/TCP host
    /// name now (an error is for the user: a name that does not resolve).
    /// Never fails because the daemon is down: that only delays messages.
    pub fn new(addr: &SyslogAddr, facility: u8, prefix: &str) -> io::Result<Syslog> {
        let resolve = |host: &str, port: u16| -> io::Result<SocketAddr> {
            (host, port).to_socket_addrs()?.next().ok_or_else(|| {
                io::Error::new(io::ErrorKind::NotFound, format!("{host}: no address"))
            })
        };
        let target = match addr {
            SyslogAddr::Udp { host, port } => Target::Udp(resolve(host, *port)?),
            SyslogAddr::Tcp { host, port } => Target::Tcp(resolve(host, *port)?),
            SyslogAddr::Unix { path, kind } => Target::Unix {
                path: path.clone(),
                kind: match kind {
                    UnixKind::Auto => UnixState::Auto,
                    UnixKind::Dgram => UnixState::Dgram,
                },
            },
        };
        let now = Instant::now();
        let mut s = Syslog {
            target,
            facility,
            ident_error: format!("gunicorn.{prefix}.error: "),
            ident_access: format!("gunicorn.{prefix}.access: "),
            conn: Conn::Down { retry_at: now },
            msg: Vec::with_capacity(512),
            pending: Vec::new(),
            pending_lens: VecDeque::new(),
            head_sent: 0,
            connect_failures: 0,
            dropped: 0,
        };
        if let Target::Udp(a) = &s.target {
            // The UDP socket cannot fail later; make it now.
            let sock = Socket::new(Domain::for_address(*a), Type::DGRAM, None)?;
            sock.set_nonblocking(true)?;
            s.conn = Conn::Dgram(sock);
        } else {
            s.connect(now);
        }
        Ok(s)
    }

    /// One error-log record. Call it only for records the error log writes
    /// (at or above `--log-level`): Gunicorn's syslog handler sits on the
    /// same logger, behind the same level filter.
    pub fn error_log(&mut self, level: LogLevel, message: &str) {
        self.send(Stream::Error, level, message);
    }

    /// One access-log line (without its newline), at INFO.
    pub fn access_log(&mut self, line: &str) {
        self.send(Stream::Access, LogLevel::Info, line);
    }

    /// Sends one record from this process.
    pub fn send(&mut self, stream: Stream, level: LogLevel, message: &str) {
        let pri = u32::from(self.facility) * 8 + u32::from(severity(level));
        let ident = match stream {
            Stream::Error => &self.ident_error,
            Stream::Access => &self.ident_access,
        };
        let body = message.strip_suffix('\n').unwrap_or(message);
        // Writing into a Vec cannot fail; the reused buffer means no
        // allocation once it has grown to the usual message size.
        self.msg.clear();
        let _ = write!(self.msg, "<{pri}>");
        self.msg.extend_from_slice(ident.as_bytes());
        let _ = write!(self.msg, "[{}] ", std::process::id());
        self.msg.extend_from_slice(body.as_bytes());
        self.msg.push(0);
        self.deliver();
    }

    /// Tries to finish queued bytes (stream sockets) without a new message.
    /// Cheap; call it now and then (e.g. from a periodic tick) so a queue
    /// built up while the daemon was away drains without waiting for the
    /// next message.
    pub fn flush(&mut self) {
        self.pump(Instant::now());
    }

    /// In a freshly forked child: forget the parent's stream connection
    /// (closing our copy of the descriptor; the parent keeps its own) and
    /// the parent's queue, so each process has its own connection and no
    /// two processes interleave bytes on one stream.
    pub fn after_fork(&mut self) {
        if matches!(self.conn, Conn::Stream { .. }) {
            self.conn = Conn::Down {
                retry_at: Instant::now(),
            };
        }
        self.pending.clear();
        self.pending_lens.clear();
        self.head_sent = 0;
        self.connect_failures = 0;
    }

    /// Messages given up on (daemon down, queue full, datagram refused).
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Bytes queued for a stream connection.
    pub fn pending_bytes(&self) -> usize {
        self.pending.len()
    }

    fn deliver(&mut self) {
        let now = Instant::now();
        if let Target::Udp(addr) = &self.target {
            let addr = SockAddr::from(*addr);
            let ok = match &self.conn {
                Conn::Dgram(s) => sent_whole(s.send_to(&self.msg, &addr), self.msg.len()),
                _ => false,
            };
            if !ok {
                self.dropped += 1;
            }
            return;
        }
        if let Conn::Down { retry_at } = self.conn {
            if now >= retry_at {
                self.connect(now);
            }
        }
        if let Conn::Dgram(s) = &self.conn {
            match s.send_with_flags(&self.msg, libc::MSG_NOSIGNAL) {
                Ok(n) if n == self.msg.len() => {}
                // The daemon is behind: drop rather than wait.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.dropped += 1,
                _ => {
                    // The daemon went away (a restart makes a new socket at
                    // the path): reconnect and retry once, as Python does.
                    self.connect(now);
                    let ok = match &self.conn {
                        Conn::Dgram(s) => sent_whole(
                            s.send_with_flags(&self.msg, libc::MSG_NOSIGNAL),
                            self.msg.len(),
                        ),
                        _ => false,
                    };
                    if !ok {
                        self.dropped += 1;
                    }
                }
            }
            return;
        }
        // A stream connection (up, connecting or down): queue whole
        // messages, then write what the socket takes. A Unix target whose
        // type is not known yet (never reached) has nothing to queue for.
        let queueable = match &self.target {
            Target::Tcp(_) => true,
            Target::Unix { kind, .. } => *kind == UnixState::Stream,
            Target::Udp(_) => false,
        };
        if !queueable || self.pending.len() + self.msg.len() > MAX_PENDING {
            self.dropped += 1;
        } else {
            self.pending.extend_from_slice(&self.msg);
            self.pending_lens.push_back(self.msg.len());
        }
        self.pump(now);
    }

    /// Advances a stream connection: finish connecting, write pending bytes.
    fn pump(&mut self, now: Instant) {
        if matches!(self.target, Target::Udp(_)) {
            return;
        }
        if let Conn::Down { retry_at } = self.conn {
            if now < retry_at {
                return;
            }
            self.connect(now);
        }
        if let Conn::Stream {
            sock,
            connecting: true,
        } = &self.conn
        {
            match connect_progress(sock) {
                Progress::Pending => return,
                Progress::Failed => {
                    self.disconnect(now);
                    return;
                }
                Progress::Up => {
                    self.conn =
                        match std::mem::replace(&mut self.conn, Conn::Down { retry_at: now }) {
                            Conn::Stream { sock, .. } => Conn::Stream {
                                sock,
                                connecting: false,
                            },
                            other => other,
                        };
                    self.connect_failures = 0;
                }
            }
        }
        while !self.pending.is_empty() {
            let Conn::Stream { sock, .. } = &self.conn else {
                return;
            };
            match sock.send_with_flags(&self.pending, libc::MSG_NOSIGNAL) {
                Ok(0) => return,
                Ok(n) => self.consume(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(_) => {
                    self.disconnect(now);
                    return;
                }
            }
        }
    }

    /// `n` bytes of `pending` were written.
    fn consume(&mut self, n: usize) {
        self.pending.drain(..n.min(self.pending.len()));
        let mut left = n;
        while let Some(&len) = self.pending_lens.front() {
            let rest = len - self.head_sent;
            if left >= rest {
                left -= rest;
                self.head_sent = 0;
                self.pending_lens.pop_front();
            } else {
                self.head_sent += left;
                break;
            }
        }
    }

    /// The stream broke: drop the message it cut, keep whole ones queued,
    /// retry later.
    fn disconnect(&mut self, now: Instant) {
        if self.head_sent > 0 {
            if let Some(len) = self.pending_lens.pop_front() {
                let rest = (len - self.head_sent).min(self.pending.len());
                self.pending.drain(..rest);
                self.dropped += 1;
            }
            self.head_sent = 0;
        }
        self.connect_failures = self.connect_failures.saturating_add(1);
        self.conn = Conn::Down {
            retry_at: now + self.backoff(),
        };
    }

    fn backoff(&self) -> Duration {
        // Unix sockets are local and cheap to retry: on every message, as
        // Python does. TCP: 1 s, 2 s, 4 s, ... up to 30 s.
        if matches!(self.target, Target::Unix { .. }) {
            return Duration::ZERO;
        }
        let exp = self.connect_failures.saturating_sub(1).min(5);
        (MIN_BACKOFF * (1u32 << exp)).min(MAX_BACKOFF)
    }

    /// Opens a socket to the target (non-blocking). On failure the state is
    /// `Down` with a retry time.
    fn connect(&mut self, now: Instant) {
        let result = match &mut self.target {
            Target::Udp(_) => return,
            Target::Tcp(addr) => open_stream(&SockAddr::from(*addr), Domain::for_address(*addr)),
            Target::Unix { path, kind } => match SockAddr::unix(&*path) {
                Err(e) => Err(e),
                Ok(sa) => {
                    let try_dgram = *kind != UnixState::Stream;
                    let try_stream = *kind != UnixState::Dgram;
                    let mut r = Err(io::Error::from(io::ErrorKind::NotConnected));
                    if try_dgram {
                        r = open_unix_dgram(&sa);
                        if r.is_ok() {
                            *kind = UnixState::Dgram;
                        }
                    }
                    if r.is_err() && try_stream {
                        r = open_stream(&sa, Domain::UNIX);
                        if r.is_ok() {
                            *kind = UnixState::Stream;
                        }
                    }
                    r
                }
            },
        };
        match result {
            Ok(conn) => self.conn = conn,
            Err(_) => {
                self.connect_failures = self.connect_failures.saturating_add(1);
                self.conn = Conn::Down {
                    retry_at: now + self.backoff(),
                };
            }
        }
    }
}

fn sent_whole(r: io::Result<usize>, len: usize) -> bool {
    matches!(r, Ok(n) if n == len)
}

fn open_unix_dgram(sa: &SockAddr) -> io::Result<Conn> {
    let s = Socket::new(Domain::UNIX, Type::DGRAM, None)?;
    s.set_nonblocking(true)?;
    s.connect(sa)?;
    Ok(Conn::Dgram(s))
}

fn open_stream(sa: &SockAddr, domain: Domain) -> io::Result<Conn> {
    let s = Socket::new(domain, Type::STREAM, None)?;
    s.set_nonblocking(true)?;
    match s.connect(sa) {
        Ok(()) => Ok(Conn::Stream {
            sock: s,
            connecting: false,
        }),
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => Ok(Conn::Stream {
            sock: s,
            connecting: true,
        }),
        Err(e) => Err(e),
    }
}

enum Progress {
    Pending,
    Up,
    Failed,
}

/// Where a non-blocking connect stands, without waiting.
fn connect_progress(sock: &Socket) -> Progress {
    let mut pfd = libc::pollfd {
        fd: sock.as_raw_fd(),
        events: libc::POLLOUT,
        revents: 0,
    };
    // SAFETY: one valid pollfd, zero timeout.
    let n = unsafe { libc::poll(&mut pfd, 1, 0) };
    if n < 0 {
        return Progress::Pending;
    }
    if n == 0 {
        return Progress::Pending;
    }
    match sock.take_error() {
        Ok(None) if pfd.revents & (libc::POLLERR | libc::POLLHUP) == 0 => Progress::Up,
        _ => Progress::Failed,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::net::{TcpListener, UdpSocket};
    use std::os::unix::net::{UnixDatagram, UnixListener};

    fn pid() -> u32 {
        std::process::id()
    }

    fn tmpdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("h5-syslog-{tag}-{}", pid()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn udp_exact_bytes() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        rx.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let port = rx.local_addr().unwrap().port();
        let addr = SyslogAddr::parse(&format!("udp://127.0.0.1:{port}")).unwrap();
        let mut s = Syslog::new(&addr, facility("user").unwrap(), "myapp.app").unwrap();
        s.error_log(LogLevel::Info, "Booting worker with pid: 42");
        s.error_log(LogLevel::Critical, "WORKER TIMEOUT (pid:42)");
        s.access_log("127.0.0.1 - - [x] \"GET / HTTP/1.1\" 200 2 \"-\" \"-\"");
        s.error_log(
            LogLevel::Error,
            "Error handling request\nTraceback...\n  x\n",
        );
        let mut b = [0u8; 1024];
        let mut next = || {
            let n = rx.recv(&mut b).unwrap();
            b[..n].to_vec()
        };
        let p = pid();
        assert_eq!(
            next(),
            format!("<14>gunicorn.myapp.app.error: [{p}] Booting worker with pid: 42\0").as_bytes()
        );
        assert_eq!(
            next(),
            format!("<10>gunicorn.myapp.app.error: [{p}] WORKER TIMEOUT (pid:42)\0").as_bytes()
        );
        assert_eq!(
            next(),
            format!(
                "<14>gunicorn.myapp.app.access: [{p}] 127.0.0.1 - - [x] \"GET / HTTP/1.1\" 200 2 \"-\" \"-\"\0"
            )
            .as_bytes()
        );
        assert_eq!(
            next(),
            format!(
                "<11>gunicorn.myapp.app.error: [{p}] Error handling request\nTraceback...\n  x\0"
            )
            .as_bytes()
        );
        assert_eq!(s.dropped(), 0);
    }

    #[test]
    fn priorities() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        rx.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let port = rx.local_addr().unwrap().port();
        let addr = SyslogAddr::parse(&format!("udp://127.0.0.1:{port}")).unwrap();
        let mut s = Syslog::new(&addr, facility("LOCAL7").unwrap(), "p").unwrap();
        let levels = [
            (LogLevel::Debug, 191),
            (LogLevel::Info, 190),
            (LogLevel::Warning, 188),
            (LogLevel::Error, 187),
            (LogLevel::Critical, 186),
        ];
        for (l, _) in levels {
            s.error_log(l, "m");
        }
        let mut b = [0u8; 256];
        for (_, pri) in levels {
            let n = rx.recv(&mut b).unwrap();
            let got = String::from_utf8_lossy(&b[..n]).to_string();
            assert!(
                got.starts_with(&format!("<{pri}>gunicorn.p.error: [")),
                "{got:?}"
            );
        }
    }

    #[test]
    fn facilities_like_gunicorn() {
        assert_eq!(facility("user"), Ok(1));
        assert_eq!(facility("USER"), Ok(1));
        assert_eq!(facility("kern"), Ok(0));
        assert_eq!(facility("security"), Ok(4));
        assert_eq!(facility("authpriv"), Ok(10));
        assert_eq!(facility("ftp"), Ok(11));
        assert_eq!(facility("local0"), Ok(16));
        assert_eq!(facility("local7"), Ok(23));
        assert!(facility("ntp").is_err());
        assert!(facility("").is_err());
    }

    #[test]
    fn program_prefix_rule() {
        assert_eq!(program_prefix(None, "myapp:app"), "myapp.app");
        assert_eq!(program_prefix(Some(""), "a:b:c"), "a.b.c");
        assert_eq!(program_prefix(Some("web:1"), "x"), "web:1");
    }

    #[test]
    fn address_parsing_like_gunicorn() {
        let p = |s: &str| SyslogAddr::parse(s);
        let udp = |h: &str, port| SyslogAddr::Udp {
            host: h.into(),
            port,
        };
        let tcp = |h: &str, port| SyslogAddr::Tcp {
            host: h.into(),
            port,
        };
        assert_eq!(p(DEFAULT_ADDR), Ok(udp("localhost", 514)));
        assert_eq!(p("udp://"), Ok(udp("localhost", 514)));
        assert_eq!(p("udp://LogHost"), Ok(udp("loghost", 514)));
        assert_eq!(p("udp://10.1.2.3:5514"), Ok(udp("10.1.2.3", 5514)));
        assert_eq!(p("tcp://[::1]:601"), Ok(tcp("::1", 601)));
        assert_eq!(p("tcp://[::1]"), Ok(tcp("::1", 514)));
        assert_eq!(
            p("unix:///dev/log"),
            Ok(SyslogAddr::Unix {
                path: "/dev/log".into(),
                kind: UnixKind::Auto
            })
        );
        assert_eq!(
            p("unix:///dev/log#dgram"),
            Ok(SyslogAddr::Unix {
                path: "/dev/log".into(),
                kind: UnixKind::Dgram
            })
        );
        assert_eq!(
            p("unix:///dev/log#stream"),
            Ok(SyslogAddr::Unix {
                path: "/dev/log".into(),
                kind: UnixKind::Auto
            })
        );
        assert!(p("unix:/dev/log").is_err());
        assert!(p("/dev/log").is_err());
        assert!(p("localhost:514").is_err());
        assert!(p("udp://h:x").is_err());
        assert!(p("udp://h:").is_err());
        assert!(p("udp://h:99999").is_err());
        assert!(p("udp://:514").is_err());
        assert!(p("unix://").is_err());
    }

    #[test]
    fn unix_dgram_and_daemon_restart() {
        let dir = tmpdir("dgram");
        let path = dir.join("log");
        let rx = UnixDatagram::bind(&path).unwrap();
        rx.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let addr = SyslogAddr::parse(&format!("unix://{}", path.display())).unwrap();
        let mut s = Syslog::new(&addr, 3, "app").unwrap();
        s.error_log(LogLevel::Warning, "one");
        let mut b = [0u8; 256];
        let n = rx.recv(&mut b).unwrap();
        assert_eq!(
            &b[..n],
            format!("<28>gunicorn.app.error: [{}] one\0", pid()).as_bytes()
        );

        // The daemon restarts: a new socket at the same path.
        drop(rx);
        std::fs::remove_file(&path).unwrap();
        s.error_log(LogLevel::Warning, "lost while down");
        let rx = UnixDatagram::bind(&path).unwrap();
        rx.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.error_log(LogLevel::Warning, "two");
        let n = rx.recv(&mut b).unwrap();
        assert_eq!(
            &b[..n],
            format!("<28>gunicorn.app.error: [{}] two\0", pid()).as_bytes()
        );
        assert!(s.dropped() >= 1);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn unix_auto_falls_back_to_stream() {
        let dir = tmpdir("stream");
        let path = dir.join("log");
        let l = UnixListener::bind(&path).unwrap();
        let addr = SyslogAddr::parse(&format!("unix://{}", path.display())).unwrap();
        let mut s = Syslog::new(&addr, 1, "app").unwrap();
        s.error_log(LogLevel::Info, "a");
        s.access_log("b");
        drop(s);
        let (mut c, _) = l.accept().unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut got = Vec::new();
        c.read_to_end(&mut got).unwrap();
        let p = pid();
        assert_eq!(
            got,
            format!("<14>gunicorn.app.error: [{p}] a\0<14>gunicorn.app.access: [{p}] b\0")
                .as_bytes()
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn unix_dgram_only_refuses_stream_socket() {
        let dir = tmpdir("dgramonly");
        let path = dir.join("log");
        let _l = UnixListener::bind(&path).unwrap();
        let addr = SyslogAddr::parse(&format!("unix://{}#dgram", path.display())).unwrap();
        let mut s = Syslog::new(&addr, 1, "app").unwrap();
        s.error_log(LogLevel::Info, "a");
        assert_eq!(s.dropped(), 1);
        assert_eq!(s.pending_bytes(), 0);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn missing_unix_socket_never_fails() {
        let dir = tmpdir("missing");
        let addr = SyslogAddr::parse(&format!("unix://{}/nope", dir.display())).unwrap();
        let mut s = Syslog::new(&addr, 1, "app").unwrap();
        for _ in 0..10 {
            s.error_log(LogLevel::Error, "x");
        }
        // Never reached, so its type is unknown: nothing is queued.
        assert_eq!(s.pending_bytes(), 0);
        assert_eq!(s.dropped(), 10);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn tcp_nul_framing_and_queue_before_accept() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let addr = SyslogAddr::parse(&format!("tcp://127.0.0.1:{port}")).unwrap();
        let mut s = Syslog::new(&addr, 1, "app").unwrap();
        // Sent while the connection may still be in progress: queued, not lost.
        s.error_log(LogLevel::Info, "first");
        s.error_log(LogLevel::Error, "second");
        let (mut c, _) = l.accept().unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while s.pending_bytes() > 0 && Instant::now() < deadline {
            s.flush();
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(s.pending_bytes(), 0);
        drop(s);
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut got = Vec::new();
        c.read_to_end(&mut got).unwrap();
        let p = pid();
        assert_eq!(
            got,
            format!("<14>gunicorn.app.error: [{p}] first\0<11>gunicorn.app.error: [{p}] second\0")
                .as_bytes()
        );
    }

    #[test]
    fn tcp_down_never_blocks_and_is_bounded() {
        // A port with nobody listening.
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let addr = SyslogAddr::parse(&format!("tcp://127.0.0.1:{port}")).unwrap();
        let mut s = Syslog::new(&addr, 1, "app").unwrap();
        let start = Instant::now();
        let line = "x".repeat(1000);
        for _ in 0..1000 {
            s.error_log(LogLevel::Error, &line);
        }
        assert!(start.elapsed() < Duration::from_secs(10));
        assert!(s.pending_bytes() <= MAX_PENDING);
        assert!(s.dropped() > 0);
    }

    #[test]
    fn tcp_stalled_reader_never_blocks() {
        // The daemon accepts but never reads: the kernel buffers fill, then
        // messages queue up to the bound, then are dropped.
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let addr = SyslogAddr::parse(&format!("tcp://127.0.0.1:{port}")).unwrap();
        let mut s = Syslog::new(&addr, 1, "app").unwrap();
        let (_c, _) = l.accept().unwrap();
        let line = "y".repeat(4000);
        let start = Instant::now();
        for _ in 0..5000 {
            s.error_log(LogLevel::Info, &line);
        }
        assert!(start.elapsed() < Duration::from_secs(20));
        assert!(s.pending_bytes() <= MAX_PENDING);
        assert!(s.dropped() > 0);
    }

    #[test]
    fn tcp_reconnects_and_never_resumes_a_cut_message() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let addr = SyslogAddr::parse(&format!("tcp://127.0.0.1:{port}")).unwrap();
        let mut s = Syslog::new(&addr, 1, "app").unwrap();
        s.error_log(LogLevel::Info, "before");
        let (c, _) = l.accept().unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while s.pending_bytes() > 0 && Instant::now() < deadline {
            s.flush();
            std::thread::sleep(Duration::from_millis(5));
        }
        // The daemon drops the connection.
        drop(c);
        // Writes now fail (possibly after one that the kernel still took).
        let deadline = Instant::now() + Duration::from_secs(5);
        while !matches!(s.conn, Conn::Down { .. }) && Instant::now() < deadline {
            s.error_log(LogLevel::Info, "during");
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(matches!(s.conn, Conn::Down { .. }));
        // Queue one whole message, then let the retry time pass.
        s.error_log(LogLevel::Info, "after");
        if let Conn::Down { retry_at } = &mut s.conn {
            *retry_at = Instant::now();
        }
        s.flush();
        let (mut c2, _) = l.accept().unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while s.pending_bytes() > 0 && Instant::now() < deadline {
            s.flush();
            std::thread::sleep(Duration::from_millis(5));
        }
        drop(s);
        c2.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut got = Vec::new();
        c2.read_to_end(&mut got).unwrap();
        // The new connection starts at a message boundary and carries whole
        // messages only.
        let text = String::from_utf8(got).unwrap();
        assert!(text.starts_with("<14>gunicorn.app.error: ["), "{text:?}");
        assert!(text.ends_with("after\0"), "{text:?}");
        for m in text.split_terminator('\0') {
            assert!(m.starts_with("<14>gunicorn.app.error: ["), "{m:?}");
        }
    }

    #[test]
    fn after_fork_drops_inherited_stream() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let addr = SyslogAddr::parse(&format!("tcp://127.0.0.1:{port}")).unwrap();
        let mut s = Syslog::new(&addr, 1, "app").unwrap();
        let _c = l.accept().unwrap();
        s.after_fork();
        assert!(matches!(s.conn, Conn::Down { .. }));
        s.error_log(LogLevel::Info, "child");
        // A second connection (the child's own) is opened.
        let (mut c2, _) = l.accept().unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while s.pending_bytes() > 0 && Instant::now() < deadline {
            s.flush();
            std::thread::sleep(Duration::from_millis(5));
        }
        drop(s);
        let mut got = Vec::new();
        c2.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        c2.read_to_end(&mut got).unwrap();
        assert!(got.ends_with(b"] child\0"));
    }

    #[test]
    fn consume_tracks_message_boundaries() {
        let addr = SyslogAddr::Unix {
            path: "/nonexistent/x".into(),
            kind: UnixKind::Auto,
        };
        let mut s = Syslog::new(&addr, 1, "a").unwrap();
        s.pending = b"aaaabbbcc".to_vec();
        s.pending_lens = VecDeque::from(vec![4, 3, 2]);
        s.consume(2);
        assert_eq!(s.head_sent, 2);
        s.consume(3);
        assert_eq!((s.head_sent, s.pending_lens.len()), (1, 2));
        assert_eq!(s.pending, b"bbcc");
        // A cut message is dropped whole on disconnect.
        s.disconnect(Instant::now());
        assert_eq!(s.pending, b"cc");
        assert_eq!(s.pending_lens, VecDeque::from(vec![2]));
        assert_eq!(s.head_sent, 0);
    }

    #[test]
    fn tcp_down_waits_for_backoff_before_reconnecting() {
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let addr = SyslogAddr::parse(&format!("tcp://127.0.0.1:{port}")).unwrap();
        let mut s = Syslog::new(&addr, 1, "app").unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while !matches!(s.conn, Conn::Down { .. }) && Instant::now() < deadline {
            s.flush();
            std::thread::sleep(Duration::from_millis(5));
        }
        let Conn::Down { retry_at } = s.conn else {
            panic!("connection to a closed port did not fail");
        };
        assert!(retry_at > Instant::now());
        let failures = s.connect_failures;
        for _ in 0..100 {
            s.error_log(LogLevel::Info, "queued");
        }
        // No new attempt before retry_at: same state, messages queued.
        assert!(matches!(s.conn, Conn::Down { retry_at: r } if r == retry_at));
        assert_eq!(s.connect_failures, failures);
        assert!(s.pending_bytes() > 0);
    }

    #[test]
    fn tcp_backoff_grows_and_caps() {
        let addr = SyslogAddr::Tcp {
            host: "127.0.0.1".into(),
            port: 9,
        };
        let mut s = Syslog::new(&addr, 1, "a").unwrap();
        s.connect_failures = 1;
        assert_eq!(s.backoff(), Duration::from_secs(1));
        s.connect_failures = 3;
        assert_eq!(s.backoff(), Duration::from_secs(4));
        s.connect_failures = 50;
        assert_eq!(s.backoff(), MAX_BACKOFF);
    }
}
