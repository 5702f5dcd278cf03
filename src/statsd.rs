//! StatsD metrics: `--statsd-host`, `--statsd-prefix`, `--dogstatsd-tags`.
//!
//! Owns: the metric names, types and datagram bytes Gunicorn 23 emits
//! (`gunicorn/instrument/statsd.py`), parsing the `--statsd-host` value the
//! way Gunicorn does (`config.py: validate_statsd_address` +
//! `util.parse_address`), and the one datagram socket they go out on.
//!
//! Must never: block (the socket is non-blocking; a full buffer drops the
//! datagram), fail or panic in the caller (every send error is counted and
//! dropped, as Gunicorn ignores them), allocate per metric in the usual case
//! (each datagram is built in a stack buffer; only prefix + tags longer than
//! that spill to the heap), or take a lock (every method takes `&self`;
//! safe to share between threads and to inherit across `fork`).
//!
//! # What Gunicorn sends, and when (the caller's side)
//!
//! Datagrams, one metric each, `<prefix><name>:<value>|<type>` plus
//! `|#<tags>` when `--dogstatsd-tags` is set:
//!
//! | call | datagram | Gunicorn's trigger |
//! |---|---|---|
//! | [`Statsd::request`] | `gunicorn.request.duration:<ms>\|ms`, then `gunicorn.requests:1\|c\|@1.0`, then `gunicorn.request.status.<code>:1\|c\|@1.0` | every request, from the worker, whether or not an access log is configured (`Statsd.access`) |
//! | [`Statsd::workers`] | `gunicorn.workers:<n>\|g` | master, `manage_workers`, only when the count changed; a zero value is never sent (`log()` drops falsy values before 26.1) |
//! | [`Statsd::log`] | `gunicorn.log.<critical\|error\|warning>:1\|c\|@1.0` | every call of the error logger at that level, **whether or not `--log-level` lets the line through** (Gunicorn counts calls); info/debug count nothing |
//! | [`Statsd::exception`] | `gunicorn.log.exception:1\|c\|@1.0` | every `log.exception(...)`, i.e. a logged traceback (the app raising is one) |
//!
//! The duration is Python's `timedelta` in milliseconds as a float,
//! printed like Python's `repr(float)`: `12.345`, `1000.0`, `0.0`.
//!
//! Differences from Gunicorn, all deliberate: an IPv6 `--statsd-host` works
//! (Gunicorn's socket is AF_INET only, so it silently sends nothing; we
//! still prefer an IPv4 address when a name has both); a Unix-socket target
//! is looked up on every send instead of once, so a statsd agent restarted
//! after us is reached again; send errors are counted ([`Statsd::dropped`])
//! instead of logged as a warning with a traceback each time.

use std::fmt::{self, Write as _};
use std::io;
use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use crate::config::LogLevel;

/// Gunicorn's default StatsD port.
pub const DEFAULT_PORT: u16 = 8125;

/// Where metrics go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StatsdAddr {
    /// UDP to a host name or address literal (lower-cased, as Gunicorn).
    Udp { host: String, port: u16 },
    /// A Unix datagram socket.
    Unix(PathBuf),
}

impl StatsdAddr {
    /// Parses `--statsd-host` as Gunicorn 23 does: `HOST`, `HOST:PORT`,
    /// `[V6]:PORT`, `tcp://HOST:PORT` (the scheme is just stripped; it is
    /// still UDP), `unix:PATH`, `unix://PATH`; the default port is 8125, an
    /// empty value means `0.0.0.0:8125`, and `unix:NNNN` (digits only) means
    /// the host named `unix` on port NNNN (Gunicorn keeps that old meaning).
    pub fn parse(s: &str) -> Result<StatsdAddr, String> {
        let bad_port = |p: &str| format!("{p:?} is not a valid port number.");
        if let Some(rest) = s.strip_prefix("unix:") {
            if !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()) {
                let port = rest.parse::<u16>().map_err(|_| bad_port(rest))?;
                return Ok(StatsdAddr::Udp {
                    host: "unix".into(),
                    port,
                });
            }
            let path = rest.strip_prefix("//").unwrap_or(rest);
            if path.is_empty() {
                return Err("unix: needs a socket path".into());
            }
            return Ok(StatsdAddr::Unix(PathBuf::from(path)));
        }
        if s.starts_with("fd://") {
            return Err("a file descriptor cannot be a statsd host".into());
        }
        let net = s.strip_prefix("tcp://").unwrap_or(s);
        let default = DEFAULT_PORT.to_string();
        let (host, port) = if let (Some(open), Some(close)) = (net.find('['), net.find(']')) {
            // Gunicorn: host between the first '[' and ']', port after "]:".
            let host = net.get(open + 1..close).unwrap_or("");
            let port = net[close..].strip_prefix("]:").unwrap_or(&default);
            (host, port)
        } else if net.is_empty() {
            ("0.0.0.0", default.as_str())
        } else {
            let mut parts = net.split(':');
            let host = parts.next().unwrap_or("");
            (host, parts.next().unwrap_or(&default))
        };
        if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad_port(port));
        }
        let port = port.parse::<u16>().map_err(|_| bad_port(port))?;
        Ok(StatsdAddr::Udp {
            host: host.to_ascii_lowercase(),
            port,
        })
    }
}

impl fmt::Display for StatsdAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StatsdAddr::Udp { host, port } if host.contains(':') => write!(f, "[{host}]:{port}"),
            StatsdAddr::Udp { host, port } => write!(f, "{host}:{port}"),
            StatsdAddr::Unix(p) => write!(f, "unix:{}", p.display()),
        }
    }
}

/// Gunicorn's prefix rule: `re.sub(r"^(.+[^.]+)\.*$", r"\g<1>.", prefix)`.
/// Trailing dots collapse to one dot, one is added if missing, but a prefix
/// of fewer than two characters before its trailing dots is left as it is
/// (the regex needs two). Kept exactly, since metric names depend on it.
/// (Prefixes containing a newline, where Python's `.` and `$` get subtle,
/// are not reproduced.)
pub fn normalize_prefix(prefix: &str) -> String {
    let core = prefix.trim_end_matches('.');
    if core.chars().nth(1).is_some() {
        format!("{core}.")
    } else {
        prefix.to_string()
    }
}

enum Sock {
    Udp(UdpSocket),
    Unix(UnixDatagram, PathBuf),
}

/// A StatsD client. Build it once in the master (before forking) and share
/// it; workers inherit the socket.
pub struct Statsd {
    sock: Sock,
    prefix: String,
    tags: String,
    last_workers: AtomicUsize,
    dropped: AtomicU64,
}

impl fmt::Debug for Statsd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Statsd")
            .field("prefix", &self.prefix)
            .field("tags", &self.tags)
            .finish_non_exhaustive()
    }
}

/// The log levels that have a counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Counter {
    Critical,
    Error,
    Warning,
    Exception,
}

impl Counter {
    fn name(self) -> &'static str {
        match self {
            Counter::Critical => "gunicorn.log.critical",
            Counter::Error => "gunicorn.log.error",
            Counter::Warning => "gunicorn.log.warning",
            Counter::Exception => "gunicorn.log.exception",
        }
    }
}

const NO_WORKERS_SENT: usize = usize::MAX;

impl Statsd {
    /// Opens the socket. `prefix` and `tags` are the raw setting values.
    /// Fails only when a host name does not resolve (or no socket can be
    /// made); the caller logs that and runs without metrics, as Gunicorn
    /// does.
    pub fn new(addr: &StatsdAddr, prefix: &str, tags: &str) -> io::Result<Statsd> {
        let sock = match addr {
            StatsdAddr::Udp { host, port } => {
                let addrs: Vec<SocketAddr> = (host.as_str(), *port).to_socket_addrs()?.collect();
                let target = addrs
                    .iter()
                    .find(|a| a.is_ipv4())
                    .or(addrs.first())
                    .copied()
                    .ok_or_else(|| {
                        io::Error::new(io::ErrorKind::NotFound, format!("{host}: no address"))
                    })?;
                let local: SocketAddr = if target.is_ipv4() {
                    (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
                } else {
                    (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
                };
                let s = UdpSocket::bind(local)?;
                s.connect(target)?;
                s.set_nonblocking(true)?;
                Sock::Udp(s)
            }
            StatsdAddr::Unix(path) => {
                let s = UnixDatagram::unbound()?;
                s.set_nonblocking(true)?;
                Sock::Unix(s, path.clone())
            }
        };
        Ok(Statsd {
            sock,
            prefix: normalize_prefix(prefix),
            tags: tags.to_string(),
            last_workers: AtomicUsize::new(NO_WORKERS_SENT),
            dropped: AtomicU64::new(0),
        })
    }

    /// One finished request (Gunicorn's `Statsd.access`): its duration, the
    /// request counter and the per-status counter.
    pub fn request(&self, status: u16, duration: Duration) {
        self.histogram("gunicorn.request.duration", PyFloat(duration_ms(duration)));
        self.increment("gunicorn.requests", 1);
        self.send(
            format_args!("gunicorn.request.status.{status}"),
            1,
            "|c|@1.0",
        );
    }

    /// The master's live worker count. Sent only when it differs from the
    /// last count seen, and never when zero (Gunicorn 23).
    pub fn workers(&self, n: usize) {
        if self.last_workers.swap(n, Ordering::Relaxed) != n && n != 0 {
            self.gauge("gunicorn.workers", n);
        }
    }

    /// A call of the error logger at `level` (counted whether or not the
    /// line is written). Debug and info count nothing.
    pub fn log(&self, level: LogLevel) {
        let c = match level {
            LogLevel::Critical => Counter::Critical,
            LogLevel::Error => Counter::Error,
            LogLevel::Warning => Counter::Warning,
            LogLevel::Info | LogLevel::Debug => return,
        };
        self.increment(c.name(), 1);
    }

    /// A logged exception (traceback).
    pub fn exception(&self) {
        self.increment(Counter::Exception.name(), 1);
    }

    /// `<prefix><name>:<value>|g`
    pub fn gauge(&self, name: &str, value: impl fmt::Display) {
        self.send(format_args!("{name}"), value, "|g");
    }

    /// `<prefix><name>:<value>|c|@1.0`
    pub fn increment(&self, name: &str, value: impl fmt::Display) {
        self.send(format_args!("{name}"), value, "|c|@1.0");
    }

    /// `<prefix><name>:<value>|ms` (Gunicorn's "histogram" is a timer).
    pub fn histogram(&self, name: &str, value: impl fmt::Display) {
        self.send(format_args!("{name}"), value, "|ms");
    }

    /// How many datagrams could not be sent (buffer full, nobody
    /// listening, ...).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    fn send(&self, name: fmt::Arguments<'_>, value: impl fmt::Display, kind: &str) {
        let mut buf = StackBuf::new();
        let tags_sep = if self.tags.is_empty() { "" } else { "|#" };
        let ok = write!(
            buf,
            "{}{}:{}{}{}{}",
            self.prefix, name, value, kind, tags_sep, self.tags
        )
        .is_ok();
        if !ok || !self.send_bytes(buf.as_bytes()) {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn send_bytes(&self, msg: &[u8]) -> bool {
        let r = match &self.sock {
            Sock::Udp(s) => s.send(msg),
            Sock::Unix(s, path) => s.send_to(msg, path),
        };
        matches!(r, Ok(n) if n == msg.len())
    }

    /// The normalised prefix (for tests and diagnostics).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The Unix socket path, if metrics go to one.
    pub fn unix_path(&self) -> Option<&Path> {
        match &self.sock {
            Sock::Unix(_, p) => Some(p),
            Sock::Udp(_) => None,
        }
    }
}

/// Python: `request_time.seconds * 1000 + float(request_time.microseconds) / 10 ** 3`
/// with the duration truncated to microseconds, as `timedelta` holds it.
/// (Gunicorn's `.seconds` drops whole days; a day-long request is not
/// worth copying that for.)
fn duration_ms(d: Duration) -> f64 {
    (d.as_secs() as f64) * 1000.0 + f64::from(d.subsec_micros()) / 1000.0
}

/// Formats an `f64` like Python's `repr(float)` for the values durations
/// take: the shortest round-trip digits (Rust's `Display` gives the same
/// digits) and a `.0` on integral values.
struct PyFloat(f64);

impl fmt::Display for PyFloat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = self.0;
        if v.is_finite() && v == v.trunc() && v.abs() < 1e16 {
            write!(f, "{v}.0")
        } else {
            write!(f, "{v}")
        }
    }
}

/// A datagram under construction: on the stack, spilling to the heap only
/// when prefix, name and tags together are unusually long.
struct StackBuf {
    arr: [u8; 512],
    len: usize,
    heap: Option<Vec<u8>>,
}

impl StackBuf {
    fn new() -> StackBuf {
        StackBuf {
            arr: [0; 512],
            len: 0,
            heap: None,
        }
    }

    fn as_bytes(&self) -> &[u8] {
        match &self.heap {
            Some(v) => v,
            None => &self.arr[..self.len],
        }
    }
}

impl fmt::Write for StackBuf {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if let Some(v) = &mut self.heap {
            v.extend_from_slice(s.as_bytes());
            return Ok(());
        }
        let end = self.len + s.len();
        match self.arr.get_mut(self.len..end) {
            Some(dst) => {
                dst.copy_from_slice(s.as_bytes());
                self.len = end;
            }
            None => {
                let mut v = Vec::with_capacity(end * 2);
                v.extend_from_slice(&self.arr[..self.len]);
                v.extend_from_slice(s.as_bytes());
                self.heap = Some(v);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    struct Server {
        sock: UdpSocket,
    }

    impl Server {
        fn new() -> Server {
            let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
            sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            Server { sock }
        }

        fn addr(&self) -> StatsdAddr {
            StatsdAddr::Udp {
                host: "127.0.0.1".into(),
                port: self.sock.local_addr().unwrap().port(),
            }
        }

        fn recv(&self) -> String {
            let mut b = [0u8; 2048];
            let n = self.sock.recv(&mut b).unwrap();
            String::from_utf8(b[..n].to_vec()).unwrap()
        }

        fn nothing_pending(&self) -> bool {
            self.sock.set_nonblocking(true).unwrap();
            let mut b = [0u8; 64];
            let r = self.sock.recv(&mut b);
            self.sock.set_nonblocking(false).unwrap();
            r.is_err()
        }
    }

    #[test]
    fn request_metrics_exact_bytes() {
        let srv = Server::new();
        let s = Statsd::new(&srv.addr(), "", "").unwrap();
        s.request(200, Duration::from_micros(12_345));
        assert_eq!(srv.recv(), "gunicorn.request.duration:12.345|ms");
        assert_eq!(srv.recv(), "gunicorn.requests:1|c|@1.0");
        assert_eq!(srv.recv(), "gunicorn.request.status.200:1|c|@1.0");
        s.request(404, Duration::from_secs(2));
        assert_eq!(srv.recv(), "gunicorn.request.duration:2000.0|ms");
        assert_eq!(srv.recv(), "gunicorn.requests:1|c|@1.0");
        assert_eq!(srv.recv(), "gunicorn.request.status.404:1|c|@1.0");
        assert_eq!(s.dropped(), 0);
    }

    #[test]
    fn prefix_and_tags() {
        let srv = Server::new();
        let s = Statsd::new(&srv.addr(), "myapp", "env:prod,team:web").unwrap();
        assert_eq!(s.prefix(), "myapp.");
        s.increment("gunicorn.requests", 1);
        assert_eq!(
            srv.recv(),
            "myapp.gunicorn.requests:1|c|@1.0|#env:prod,team:web"
        );
        s.gauge("gunicorn.workers", 3);
        assert_eq!(srv.recv(), "myapp.gunicorn.workers:3|g|#env:prod,team:web");
        s.histogram("gunicorn.backlog", 7);
        assert_eq!(srv.recv(), "myapp.gunicorn.backlog:7|ms|#env:prod,team:web");
    }

    #[test]
    fn prefix_rule_matches_gunicorn_regex() {
        // Expected values are what re.sub(r"^(.+[^.]+)\.*$", r"\g<1>.", p) gives.
        let cases = [
            ("", ""),
            ("a", "a"),
            ("a.", "a."),
            ("a..", "a.."),
            ("ab", "ab."),
            ("ab.", "ab."),
            ("ab...", "ab."),
            ("app.web", "app.web."),
            (".x", ".x."),
            ("..", ".."),
            ("x.y..", "x.y."),
            ("é", "é"),
            ("éé", "éé."),
        ];
        for (p, want) in cases {
            assert_eq!(normalize_prefix(p), want, "prefix {p:?}");
        }
    }

    #[test]
    fn workers_gauge_only_on_change_and_never_zero() {
        let srv = Server::new();
        let s = Statsd::new(&srv.addr(), "", "").unwrap();
        s.workers(2);
        s.workers(2);
        s.workers(0);
        s.workers(2);
        s.workers(3);
        assert_eq!(srv.recv(), "gunicorn.workers:2|g");
        assert_eq!(srv.recv(), "gunicorn.workers:2|g");
        assert_eq!(srv.recv(), "gunicorn.workers:3|g");
        assert!(srv.nothing_pending());
    }

    #[test]
    fn log_counters() {
        let srv = Server::new();
        let s = Statsd::new(&srv.addr(), "p.", "").unwrap();
        s.log(LogLevel::Debug);
        s.log(LogLevel::Info);
        s.log(LogLevel::Warning);
        s.log(LogLevel::Error);
        s.log(LogLevel::Critical);
        s.exception();
        assert_eq!(srv.recv(), "p.gunicorn.log.warning:1|c|@1.0");
        assert_eq!(srv.recv(), "p.gunicorn.log.error:1|c|@1.0");
        assert_eq!(srv.recv(), "p.gunicorn.log.critical:1|c|@1.0");
        assert_eq!(srv.recv(), "p.gunicorn.log.exception:1|c|@1.0");
        assert!(srv.nothing_pending());
    }

    #[test]
    fn durations_print_like_python_repr() {
        let f = |us: u64| PyFloat(duration_ms(Duration::from_micros(us))).to_string();
        assert_eq!(f(0), "0.0");
        assert_eq!(f(1), "0.001");
        assert_eq!(f(1_000), "1.0");
        assert_eq!(f(1_500), "1.5");
        assert_eq!(f(123_456_789), "123456.789");
        assert_eq!(f(1_000_123), "1000.123");
        // Sub-microsecond parts are dropped, as timedelta does.
        assert_eq!(
            PyFloat(duration_ms(Duration::from_nanos(2_999))).to_string(),
            "0.002"
        );
        // A sum that is not exact in binary prints the same shortest digits
        // Python's repr prints: 1 + 0.1 = 1.1 exactly? No: repr is "1.1".
        assert_eq!(f(1_000_100), "1000.1");
        assert_eq!(PyFloat(0.1 + 0.2).to_string(), "0.30000000000000004");
    }

    #[test]
    fn long_prefix_and_tags_spill_to_heap() {
        let srv = Server::new();
        let prefix = "p".repeat(600);
        let tags = "t".repeat(300);
        let s = Statsd::new(&srv.addr(), &prefix, &tags).unwrap();
        s.increment("gunicorn.requests", 1);
        let got = srv.recv();
        assert_eq!(got, format!("{prefix}.gunicorn.requests:1|c|@1.0|#{tags}"));
    }

    #[test]
    fn nobody_listening_never_fails_or_blocks() {
        // Bind then drop a socket to get a port with (most likely) nobody on it.
        let port = {
            let s = UdpSocket::bind("127.0.0.1:0").unwrap();
            s.local_addr().unwrap().port()
        };
        let s = Statsd::new(
            &StatsdAddr::Udp {
                host: "127.0.0.1".into(),
                port,
            },
            "",
            "",
        )
        .unwrap();
        let start = std::time::Instant::now();
        for _ in 0..200 {
            s.request(500, Duration::from_millis(1));
        }
        // ICMP port-unreachable makes some sends fail: counted, not raised.
        assert!(start.elapsed() < Duration::from_secs(10));
        let _ = s.dropped();
    }

    #[test]
    fn full_socket_buffer_drops_instead_of_blocking() {
        // A receiver that never reads, with the smallest buffers.
        let srv = UdpSocket::bind("127.0.0.1:0").unwrap();
        let s = Statsd::new(
            &StatsdAddr::Udp {
                host: "127.0.0.1".into(),
                port: srv.local_addr().unwrap().port(),
            },
            &"x".repeat(400),
            "",
        )
        .unwrap();
        for _ in 0..20_000 {
            s.increment("gunicorn.requests", 1);
        }
        // Reaching here is the test: no send blocked. Loopback UDP may drop
        // or accept; either way nothing was raised.
        drop(srv);
    }

    #[test]
    fn unix_datagram_target_and_late_listener() {
        let dir = std::env::temp_dir().join(format!("h5-statsd-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("statsd.sock");
        let addr = StatsdAddr::parse(&format!("unix:{}", path.display())).unwrap();
        let s = Statsd::new(&addr, "", "a:b").unwrap();
        assert_eq!(s.unix_path(), Some(path.as_path()));
        // Nobody there yet: dropped, no error.
        s.increment("gunicorn.requests", 1);
        assert_eq!(s.dropped(), 1);
        // The agent starts later: reached without reconnecting anything.
        let rx = UnixDatagram::bind(&path).unwrap();
        rx.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.gauge("gunicorn.workers", 4);
        let mut b = [0u8; 256];
        let n = rx.recv(&mut b).unwrap();
        assert_eq!(&b[..n], b"gunicorn.workers:4|g|#a:b");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn address_parsing_like_gunicorn() {
        let udp = |h: &str, p: u16| StatsdAddr::Udp {
            host: h.into(),
            port: p,
        };
        let ok = |s: &str| StatsdAddr::parse(s).unwrap();
        assert_eq!(ok("localhost:8125"), udp("localhost", 8125));
        assert_eq!(ok("LocalHost"), udp("localhost", 8125));
        assert_eq!(ok("10.0.0.1:9000"), udp("10.0.0.1", 9000));
        assert_eq!(ok("[::1]:9000"), udp("::1", 9000));
        assert_eq!(ok("[::1]"), udp("::1", 8125));
        assert_eq!(ok("tcp://host:1"), udp("host", 1));
        assert_eq!(ok(""), udp("0.0.0.0", 8125));
        assert_eq!(ok("unix:1234"), udp("unix", 1234));
        assert_eq!(
            ok("unix:/run/statsd.sock"),
            StatsdAddr::Unix("/run/statsd.sock".into())
        );
        assert_eq!(
            ok("unix:///run/statsd.sock"),
            StatsdAddr::Unix("/run/statsd.sock".into())
        );
        assert_eq!(ok("unix://rel.sock"), StatsdAddr::Unix("rel.sock".into()));
        assert!(StatsdAddr::parse("host:port").is_err());
        assert!(StatsdAddr::parse("host:70000").is_err());
        assert!(StatsdAddr::parse("host:").is_err());
        assert!(StatsdAddr::parse("unix:").is_err());
        assert!(StatsdAddr::parse("fd://3").is_err());
        assert_eq!(ok("[::1]:9000").to_string(), "[::1]:9000");
        assert_eq!(ok("h:1").to_string(), "h:1");
    }

    #[test]
    fn unresolvable_host_is_an_error_not_a_panic() {
        let r = Statsd::new(
            &StatsdAddr::Udp {
                host: "no-such-host.invalid".into(),
                port: 8125,
            },
            "",
            "",
        );
        assert!(r.is_err());
    }

    #[test]
    fn ipv6_target() {
        let Ok(srv) = UdpSocket::bind("[::1]:0") else {
            return; // no IPv6 loopback here
        };
        srv.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let port = srv.local_addr().unwrap().port();
        let s = Statsd::new(
            &StatsdAddr::parse(&format!("[::1]:{port}")).unwrap(),
            "",
            "",
        )
        .unwrap();
        s.increment("gunicorn.requests", 1);
        let mut b = [0u8; 128];
        let n = srv.recv(&mut b).unwrap();
        assert_eq!(&b[..n], b"gunicorn.requests:1|c|@1.0");
    }
}
