//! The error log and the access log.
//!
//! Owns: where log lines go (stderr, stdout or an appended file), Gunicorn's
//! error-log line format (`[2026-11-25 10:41:32 +0000] [pid] [LEVEL] message`)
//! and the access-log formatter, which turns Gunicorn's `%(h)s ...` format
//! string into a compiled list of atoms once and renders each request in Rust.
//!
//! Must never: take the GIL, panic on a failed write (a full disk or a closed
//! pipe must not stop the server; a failed log write is dropped), or buffer
//! lines across requests (each line is one `write(2)` so lines from several
//! processes appending to one file never interleave).

use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::sync::{Mutex, OnceLock};

use crate::config::LogLevel;
use pyo3::types::PyAnyMethods;

/// One destination of log lines.
enum Sink {
    Stderr,
    Stdout,
    File(File, String),
}

impl Sink {
    fn open(spec: &str, default_stdout: bool) -> std::io::Result<Sink> {
        match spec {
            "-" if default_stdout => Ok(Sink::Stdout),
            "-" => Ok(Sink::Stderr),
            path => Ok(Sink::File(open_append(path)?, path.to_string())),
        }
    }

    fn write_line(&mut self, line: &[u8]) {
        // Errors are deliberately ignored: logging must never take the server down.
        let _ = match self {
            Sink::Stderr => std::io::stderr().lock().write_all(line),
            Sink::Stdout => std::io::stdout().lock().write_all(line),
            Sink::File(f, _) => f.write_all(line),
        };
    }
}

fn open_append(path: &str) -> std::io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

impl Sink {
    /// Reopens a file sink by its path (after logrotate moved it away).
    fn reopen(&mut self) {
        if let Sink::File(f, path) = self {
            match open_append(path) {
                Ok(new) => *f = new,
                Err(e) => {
                    let _ = std::io::stderr().write_all(
                        format!("ferricorn: cannot reopen log {path:?}: {e}\n").as_bytes(),
                    );
                }
            }
        }
    }
}

/// Reopens every log file (SIGUSR1), as Gunicorn does for logrotate.
pub fn reopen() {
    if python_logging() {
        crate::gil::with_gil(|py| {
            let _ = py
                .import("ferricorn._logging")
                .and_then(|m| m.call_method0("reopen"));
        });
    }
    let Some(l) = LOGGER.get() else { return };
    if let Ok(mut s) = l.error.lock() {
        s.reopen();
    }
    if let Some((sink, _)) = &l.access {
        if let Ok(mut s) = sink.lock() {
            s.reopen();
        }
    }
}

struct Logger {
    level: LogLevel,
    error: Mutex<Sink>,
    access: Option<(Mutex<Sink>, AccessFormat)>,
    /// The access format refers to response headers: decided once here,
    /// asked on every request.
    needs_response_headers: bool,
}

static LOGGER: OnceLock<Logger> = OnceLock::new();

/// Opens the log destinations. Called once by the master before any fork;
/// workers inherit the open files. Returns a one-line error for the user.
pub fn init(
    errorlog: &str,
    level: LogLevel,
    accesslog: Option<&str>,
    access_format: &str,
) -> Result<(), String> {
    let error = Sink::open(errorlog, false)
        .map_err(|e| format!("ferricorn: error: cannot open error log {errorlog:?}: {e}"))?;
    let access = match accesslog {
        None => None,
        Some(spec) => {
            let sink = Sink::open(spec, true)
                .map_err(|e| format!("ferricorn: error: cannot open access log {spec:?}: {e}"))?;
            Some((Mutex::new(sink), AccessFormat::compile(access_format)))
        }
    };
    let needs_response_headers = access
        .as_ref()
        .is_some_and(|(_, f)| f.0.iter().any(|a| matches!(a, Atom::RespHeader(_))));
    let _ = LOGGER.set(Logger {
        level,
        error: Mutex::new(error),
        access,
        needs_response_headers,
    });
    Ok(())
}

fn level_name(level: LogLevel) -> &'static str {
    match level {
        LogLevel::Debug => "DEBUG",
        LogLevel::Info => "INFO",
        LogLevel::Warning => "WARNING",
        LogLevel::Error => "ERROR",
        LogLevel::Critical => "CRITICAL",
    }
}

/// Whether a message at `level` would be written; lets callers skip formatting.
pub fn enabled(level: LogLevel) -> bool {
    LOGGER
        .get()
        .map_or(level >= LogLevel::Info, |l| level >= l.level)
}

/// Writes one error-log line (multi-line messages, e.g. tracebacks, are kept whole).
pub fn log(level: LogLevel, msg: &str) {
    let extras = EXTRAS.get();
    if let Some(st) = extras.and_then(|x| x.statsd.as_ref()) {
        // Gunicorn counts logger calls, shown or not.
        st.log(level);
    }
    if !enabled(level) {
        return;
    }
    if python_logging() {
        to_python(
            "error",
            (level_name(level).to_ascii_lowercase().as_str(), msg),
        );
        return;
    }
    if let Some(s) = extras.and_then(|x| x.syslog.as_ref()) {
        if let Ok(mut s) = s.lock() {
            s.error_log(level, msg);
        }
    }
    let mut line = String::with_capacity(msg.len() + 48);
    line.push('[');
    local_time(&mut line, "%Y-%m-%d %H:%M:%S %z");
    let _ = write!(
        line,
        "] [{}] [{}] {}",
        std::process::id(),
        level_name(level),
        msg
    );
    if !line.ends_with('\n') {
        line.push('\n');
    }
    match LOGGER.get() {
        Some(l) => {
            if let Ok(mut sink) = l.error.lock() {
                sink.write_line(line.as_bytes());
            }
        }
        None => {
            let _ = std::io::stderr().write_all(line.as_bytes());
        }
    }
}

pub fn debug(msg: &str) {
    log(LogLevel::Debug, msg)
}
pub fn info(msg: &str) {
    log(LogLevel::Info, msg)
}
pub fn warning(msg: &str) {
    log(LogLevel::Warning, msg)
}
pub fn error(msg: &str) {
    log(LogLevel::Error, msg)
}
pub fn critical(msg: &str) {
    log(LogLevel::Critical, msg)
}

/// Appends the local time formatted by `strftime(3)`. Local time (not UTC)
/// because Gunicorn's log lines use it and operators grep for it.
fn local_time(out: &mut String, fmt: &str) {
    let mut buf = [0u8; 64];
    let cfmt = match std::ffi::CString::new(fmt) {
        Ok(c) => c,
        Err(_) => return,
    };
    // SAFETY: `tm` is fully written by localtime_r before strftime reads it;
    // strftime writes at most buf.len() bytes and returns how many.
    let n = unsafe {
        let now = libc::time(std::ptr::null_mut());
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&now, &mut tm).is_null() {
            return;
        }
        libc::strftime(buf.as_mut_ptr().cast(), buf.len(), cfmt.as_ptr(), &tm)
    };
    if let Ok(s) = std::str::from_utf8(&buf[..n]) {
        out.push_str(s);
    }
}

/// The descriptor of the error log (for Python's faulthandler).
pub fn error_fd() -> i32 {
    use std::os::fd::AsRawFd;
    LOGGER
        .get()
        .and_then(|l| {
            l.error.lock().ok().map(|s| match &*s {
                Sink::Stderr => 2,
                Sink::Stdout => 1,
                Sink::File(f, _) => f.as_raw_fd(),
            })
        })
        .unwrap_or(2)
}

/// The environ keys (as `{name}e` atoms spell them) the access-log format
/// asks for; empty for the common formats, so nothing is read then.
pub fn access_env_keys() -> &'static [String] {
    static KEYS: OnceLock<Vec<String>> = OnceLock::new();
    KEYS.get_or_init(|| {
        let mut keys = Vec::new();
        let formats = LOGGER
            .get()
            .and_then(|l| l.access.as_ref().map(|(_, f)| f))
            .into_iter()
            .chain(EXTRAS.get().map(|x| &x.access_format));
        for f in formats {
            for a in &f.0 {
                if let Atom::Env(n) = a {
                    if !keys.iter().any(|k: &String| k.eq_ignore_ascii_case(n)) {
                        keys.push(n.clone());
                    }
                }
            }
        }
        keys
    })
}

/// Whether the access-log format refers to response headers (`%({name}o)s`).
pub fn access_needs_response_headers() -> bool {
    LOGGER.get().is_some_and(|l| l.needs_response_headers)
}

/// `--capture-output`: points descriptors 1 and 2 at the error log file, so
/// whatever the application prints lands there. (The caller flushes
/// Python's own stdio buffers first.)
pub fn capture_output() {
    use std::os::fd::AsRawFd;
    let Some(l) = LOGGER.get() else { return };
    let Ok(sink) = l.error.lock() else { return };
    if let Sink::File(f, _) = &*sink {
        // SAFETY: dup2 of an open descriptor onto 1 and 2.
        unsafe {
            libc::dup2(f.as_raw_fd(), 1);
            libc::dup2(f.as_raw_fd(), 2);
        }
    }
}

/// Python's `logging` writes the logs (the logconfig family): every line
/// goes to the `gunicorn.error` / `gunicorn.access` loggers, with the GIL.
static PY_LOGGING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Hands the logs to Python's `logging` (after `ferricorn._logging.setup`).
pub fn use_python_logging() {
    PY_LOGGING.store(true, std::sync::atomic::Ordering::Relaxed);
}

fn python_logging() -> bool {
    PY_LOGGING.load(std::sync::atomic::Ordering::Relaxed)
}

fn to_python(func: &str, args: (&str, &str)) {
    crate::gil::with_gil(|py| {
        let r = py.import("ferricorn._logging").and_then(|m| match func {
            "access" => m.call_method1("access", (args.1,)),
            _ => m.call_method1("error", args),
        });
        if let Err(e) = r {
            let _ = std::io::stderr()
                .write_all(format!("ferricorn: logging failed: {e}\n{}\n", args.1).as_bytes());
        }
    });
}

/// Whether anything consumes finished requests: an access log, access lines
/// to syslog, or statsd (lets the hot path skip collecting fields).
pub fn access_enabled() -> bool {
    python_logging()
        || LOGGER.get().is_some_and(|l| l.access.is_some())
        || EXTRAS
            .get()
            .is_some_and(|x| x.statsd.is_some() || (x.syslog.is_some() && x.access_to_syslog))
}

/// Destinations beside the log files: `--log-syslog` and `--statsd-host`.
struct Extras {
    syslog: Option<Mutex<crate::syslog::Syslog>>,
    /// Access lines also go to syslog (Gunicorn's default with --log-syslog,
    /// unless --disable-redirect-access-to-syslog).
    access_to_syslog: bool,
    /// `--access-logformat`, for syslog when no access log file is set.
    access_format: AccessFormat,
    statsd: Option<crate::statsd::Statsd>,
}

static EXTRAS: OnceLock<Extras> = OnceLock::new();

/// Opens syslog and statsd as the configuration asks (in the master, before
/// forking; each worker calls [`after_fork`]). Errors are one line.
pub fn init_extras(cfg: &crate::config::Config) -> Result<(), String> {
    let syslog = if cfg.syslog {
        let addr = crate::syslog::SyslogAddr::parse(&cfg.syslog_addr)
            .map_err(|e| format!("ferricorn: error: --log-syslog-to: {e}"))?;
        let facility = crate::syslog::facility(&cfg.syslog_facility)
            .map_err(|e| format!("ferricorn: error: --log-syslog-facility: {e}"))?;
        // Gunicorn's default process name is the application URI.
        let proc_name = cfg
            .proc_name
            .as_deref()
            .or(cfg.app_uri.as_deref())
            .unwrap_or("ferricorn");
        let prefix = crate::syslog::program_prefix(cfg.syslog_prefix.as_deref(), proc_name);
        let s = crate::syslog::Syslog::new(&addr, facility, &prefix).map_err(|e| {
            format!(
                "ferricorn: error: cannot open syslog {}: {e}",
                cfg.syslog_addr
            )
        })?;
        Some(Mutex::new(s))
    } else {
        None
    };
    let statsd = match &cfg.statsd_host {
        Some(host) => {
            let addr = crate::statsd::StatsdAddr::parse(host)
                .map_err(|e| format!("ferricorn: error: --statsd-host: {e}"))?;
            Some(
                crate::statsd::Statsd::new(&addr, &cfg.statsd_prefix, &cfg.dogstatsd_tags)
                    .map_err(|e| format!("ferricorn: error: --statsd-host {host}: {e}"))?,
            )
        }
        None => None,
    };
    let _ = EXTRAS.set(Extras {
        syslog,
        access_to_syslog: !cfg.disable_redirect_access_to_syslog,
        access_format: AccessFormat::compile(&cfg.access_log_format),
        statsd,
    });
    Ok(())
}

/// In a new worker: its own syslog connection (a stream is not shared).
pub fn after_fork() {
    if let Some(s) = EXTRAS.get().and_then(|x| x.syslog.as_ref()) {
        if let Ok(mut s) = s.lock() {
            s.after_fork();
        }
    }
}

/// Periodic upkeep (the worker's heartbeat tick): drains a queued syslog
/// stream backlog.
pub fn tick() {
    if let Some(s) = EXTRAS.get().and_then(|x| x.syslog.as_ref()) {
        if let Ok(mut s) = s.lock() {
            s.flush();
        }
    }
}

/// A metric from the application (the hooks' `log.increment` / `gauge` /
/// `histogram`), when `--statsd-host` is set. `value` is already rendered.
pub fn metric(kind: &str, name: &str, value: &str) {
    let Some(st) = EXTRAS.get().and_then(|x| x.statsd.as_ref()) else {
        return;
    };
    match kind {
        "gauge" => st.gauge(name, value),
        "histogram" => st.histogram(name, value),
        _ => st.increment(name, value),
    }
}

/// statsd's `gunicorn.workers` gauge (the master, when the count changes).
pub fn gauge_workers(n: usize) {
    if let Some(st) = EXTRAS.get().and_then(|x| x.statsd.as_ref()) {
        st.workers(n);
    }
}

/// Everything the access-log atoms can refer to, gathered by the connection
/// after the response is written.
pub struct AccessRecord<'a> {
    pub remote_addr: &'a str,
    pub method: &'a [u8],
    pub target: &'a [u8],
    pub path: &'a [u8],
    pub query: &'a [u8],
    pub version: &'a str,
    pub status: u16,
    pub response_bytes: u64,
    pub request_headers: &'a [(&'a [u8], &'a [u8])],
    pub response_headers: &'a [(Vec<u8>, Vec<u8>)],
    /// The environ values the format's `{name}e` atoms ask for (lower-case
    /// names), read from the WSGI environ after the app ran.
    pub environ: &'a [(Vec<u8>, Vec<u8>)],
    pub elapsed: std::time::Duration,
}

impl AccessRecord<'_> {
    fn request_header(&self, name: &str) -> &[u8] {
        self.request_headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map_or(&b"-"[..], |(_, v)| v)
    }
    fn response_header(&self, name: &str) -> &[u8] {
        self.response_headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map_or(&b"-"[..], |(_, v)| v.as_slice())
    }
}

/// One finished request: the access-log line (file and/or syslog) and the
/// statsd request metrics, whichever are configured.
pub fn access(rec: &AccessRecord<'_>) {
    let Some(logger) = LOGGER.get() else { return };
    let extras = EXTRAS.get();
    if let Some(st) = extras.and_then(|x| x.statsd.as_ref()) {
        st.request(rec.status, rec.elapsed);
    }
    if python_logging() {
        let mut line = Vec::with_capacity(160);
        let fmt = match (&logger.access, extras) {
            (Some((_, f)), _) => f,
            (None, Some(x)) => &x.access_format,
            (None, None) => return,
        };
        fmt.render(rec, &mut line);
        to_python("access", ("info", &String::from_utf8_lossy(&line)));
        return;
    }
    let to_syslog = extras
        .filter(|x| x.access_to_syslog)
        .and_then(|x| x.syslog.as_ref());
    if logger.access.is_none() && to_syslog.is_none() {
        return;
    }
    let fmt = match (&logger.access, extras) {
        (Some((_, f)), _) => f,
        (None, Some(x)) => &x.access_format,
        (None, None) => return,
    };
    let mut line = Vec::with_capacity(160);
    fmt.render(rec, &mut line);
    if let Some(s) = to_syslog {
        if let Ok(mut s) = s.lock() {
            s.access_log(&String::from_utf8_lossy(&line));
        }
    }
    if let Some((sink, _)) = &logger.access {
        line.push(b'\n');
        if let Ok(mut sink) = sink.lock() {
            sink.write_line(&line);
        }
    }
}

/// One piece of a compiled access-log format.
#[derive(Debug, Clone, PartialEq)]
enum Atom {
    Literal(Vec<u8>),
    RemoteAddr,  // h
    Dash,        // l (no identd)
    User,        // u: the user name of a Basic Authorization header
    Time,        // t
    RequestLine, // r
    Method,      // m
    UrlPath,     // U
    Query,       // q
    Protocol,    // H
    Status,      // s
    Bytes,       // B
    BytesOrDash, // b
    Referer,     // f
    UserAgent,   // a
    Seconds,     // T
    Micros,      // D
    Millis,      // M
    Decimal,     // L
    Pid,         // p
    ReqHeader(String),
    RespHeader(String),
    Env(String),
}

/// A compiled `--access-logformat`.
#[derive(Debug, Clone)]
pub struct AccessFormat(Vec<Atom>);

impl AccessFormat {
    /// Compiles Gunicorn's `%(name)s` syntax. Unknown atoms render as `-`,
    /// as Gunicorn's SafeAtoms dictionary does.
    pub fn compile(fmt: &str) -> AccessFormat {
        let mut atoms = Vec::new();
        let mut lit = Vec::new();
        let b = fmt.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%' && b.get(i + 1) == Some(&b'(') {
                if let Some(close) = fmt[i + 2..].find(")s") {
                    let name = &fmt[i + 2..i + 2 + close];
                    if !lit.is_empty() {
                        atoms.push(Atom::Literal(std::mem::take(&mut lit)));
                    }
                    atoms.push(Self::atom(name));
                    i += 2 + close + 2;
                    continue;
                }
            }
            if b[i] == b'%' && b.get(i + 1) == Some(&b'%') {
                lit.push(b'%');
                i += 2;
                continue;
            }
            lit.push(b[i]);
            i += 1;
        }
        if !lit.is_empty() {
            atoms.push(Atom::Literal(lit));
        }
        AccessFormat(atoms)
    }

    fn atom(name: &str) -> Atom {
        match name {
            "h" => Atom::RemoteAddr,
            "l" => Atom::Dash,
            "u" => Atom::User,
            "t" => Atom::Time,
            "r" => Atom::RequestLine,
            "m" => Atom::Method,
            "U" => Atom::UrlPath,
            "q" => Atom::Query,
            "H" => Atom::Protocol,
            "s" => Atom::Status,
            "B" => Atom::Bytes,
            "b" => Atom::BytesOrDash,
            "f" => Atom::Referer,
            "a" => Atom::UserAgent,
            "T" => Atom::Seconds,
            "D" => Atom::Micros,
            "M" => Atom::Millis,
            "L" => Atom::Decimal,
            "p" => Atom::Pid,
            _ => {
                let lower = name.to_ascii_lowercase();
                if let Some(h) = name.strip_prefix('{').and_then(|n| n.strip_suffix("}i")) {
                    Atom::ReqHeader(h.to_string())
                } else if let Some(h) = name.strip_prefix('{').and_then(|n| n.strip_suffix("}o")) {
                    Atom::RespHeader(h.to_string())
                } else if let Some(h) = name.strip_prefix('{').and_then(|n| n.strip_suffix("}e")) {
                    Atom::Env(h.to_string())
                } else {
                    let _ = lower;
                    Atom::Literal(b"-".to_vec())
                }
            }
        }
    }

    /// Appends one rendered line (without the newline) to `out`. Public for
    /// the fuzz harness (fuzz/harness/src/access.rs).
    #[doc(hidden)]
    pub fn render(&self, rec: &AccessRecord<'_>, out: &mut Vec<u8>) {
        for atom in &self.0 {
            match atom {
                Atom::Literal(l) => out.extend_from_slice(l),
                Atom::RemoteAddr => push_escaped(out, rec.remote_addr.as_bytes()),
                Atom::Dash => out.push(b'-'),
                Atom::User => match basic_auth_user(rec.request_header("authorization")) {
                    Some(u) if !u.is_empty() => {
                        out.extend(
                            u.iter()
                                .map(|&c| if c < 0x20 || c == 0x7f { b'?' } else { c }),
                        )
                    }
                    _ => out.push(b'-'),
                },
                Atom::Time => {
                    let mut s = String::with_capacity(32);
                    s.push('[');
                    local_time(&mut s, "%d/%b/%Y:%H:%M:%S %z");
                    s.push(']');
                    out.extend_from_slice(s.as_bytes());
                }
                Atom::RequestLine => {
                    push_escaped(out, rec.method);
                    out.push(b' ');
                    push_escaped(out, rec.target);
                    out.push(b' ');
                    push_escaped(out, rec.version.as_bytes());
                }
                Atom::Method => push_escaped(out, rec.method),
                Atom::UrlPath => push_escaped(out, rec.path),
                Atom::Query => push_escaped(out, rec.query),
                Atom::Protocol => out.extend_from_slice(rec.version.as_bytes()),
                Atom::Status => push_num(out, rec.status as u64),
                Atom::Bytes => push_num(out, rec.response_bytes),
                Atom::BytesOrDash => {
                    if rec.response_bytes == 0 {
                        out.push(b'-')
                    } else {
                        push_num(out, rec.response_bytes)
                    }
                }
                Atom::Referer => push_escaped(out, rec.request_header("referer")),
                Atom::UserAgent => push_escaped(out, rec.request_header("user-agent")),
                Atom::Seconds => push_num(out, rec.elapsed.as_secs()),
                Atom::Micros => push_num(out, rec.elapsed.as_micros() as u64),
                Atom::Millis => push_num(out, rec.elapsed.as_millis() as u64),
                Atom::Decimal => {
                    out.extend_from_slice(format!("{:.6}", rec.elapsed.as_secs_f64()).as_bytes())
                }
                Atom::Pid => {
                    out.extend_from_slice(b"<");
                    push_num(out, std::process::id() as u64);
                    out.extend_from_slice(b">");
                }
                Atom::ReqHeader(h) => push_escaped(out, rec.request_header(h)),
                Atom::RespHeader(h) => push_escaped(out, rec.response_header(h)),
                Atom::Env(name) => match rec
                    .environ
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(name.as_bytes()))
                {
                    Some((_, v)) => push_escaped(out, v),
                    None => out.push(b'-'),
                },
            }
        }
    }
}

/// The user of `Authorization: Basic base64(user:password)`, as Gunicorn's
/// `u` atom shows it; None for any other scheme or a malformed value.
fn basic_auth_user(value: &[u8]) -> Option<Vec<u8>> {
    let value = value.trim_ascii();
    let (scheme, rest) = value.split_at(value.iter().position(|&c| c == b' ')?);
    if !scheme.eq_ignore_ascii_case(b"basic") {
        return None;
    }
    let decoded = base64_decode(rest.trim_ascii())?;
    let user = match decoded.iter().position(|&c| c == b':') {
        Some(i) => decoded[..i].to_vec(),
        None => decoded,
    };
    Some(user)
}

/// Standard base64 with optional padding; None on any other byte.
fn base64_decode(s: &[u8]) -> Option<Vec<u8>> {
    let s = match s.iter().position(|&c| c == b'=') {
        Some(i) if s[i..].iter().all(|&c| c == b'=') && s.len() - i <= 2 => &s[..i],
        Some(_) => return None,
        None => s,
    };
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0u32;
    for &c in s {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// Appends an atom's value with `"` escaped as `\"`, as Gunicorn's
/// SafeAtoms does (so a quote in a header cannot break a quoted field).
fn push_escaped(out: &mut Vec<u8>, v: &[u8]) {
    if !v.contains(&b'"') {
        out.extend_from_slice(v);
        return;
    }
    for &c in v {
        if c == b'"' {
            out.push(b'\\');
        }
        out.push(c);
    }
}

fn push_num(out: &mut Vec<u8>, n: u64) {
    let mut buf = itoa_buf(n);
    out.append(&mut buf);
}

fn itoa_buf(mut n: u64) -> Vec<u8> {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    digits[i..].to_vec()
}

#[cfg(test)]
mod tests {
    #[test]
    fn basic_auth_user_is_decoded() {
        use super::basic_auth_user;
        // "alice:secret"
        assert_eq!(
            basic_auth_user(b"Basic YWxpY2U6c2VjcmV0").as_deref(),
            Some(&b"alice"[..])
        );
        assert_eq!(
            basic_auth_user(b"basic YWxpY2U=").as_deref(),
            Some(&b"alice"[..])
        );
        assert_eq!(basic_auth_user(b"Bearer abc"), None);
        assert_eq!(basic_auth_user(b"Basic !!!"), None);
        assert_eq!(basic_auth_user(b""), None);
    }

    use super::*;

    fn rec<'a>(headers: &'a [(&'a [u8], &'a [u8])]) -> AccessRecord<'a> {
        AccessRecord {
            remote_addr: "127.0.0.1",
            method: b"GET",
            target: b"/a?b=1",
            path: b"/a",
            query: b"b=1",
            version: "HTTP/1.1",
            status: 200,
            response_bytes: 13,
            request_headers: headers,
            response_headers: &[],
            environ: &[],
            elapsed: std::time::Duration::from_micros(1500),
        }
    }

    #[test]
    fn default_format_matches_gunicorn_shape() {
        let f =
            AccessFormat::compile(r#"%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s""#);
        let h: [(&[u8], &[u8]); 1] = [(b"User-Agent", b"curl/8")];
        let mut out = Vec::new();
        f.render(&rec(&h), &mut out);
        let s = String::from_utf8(out).unwrap();
        assert!(s.starts_with("127.0.0.1 - - ["), "{s}");
        assert!(
            s.ends_with(r#"] "GET /a?b=1 HTTP/1.1" 200 13 "-" "curl/8""#),
            "{s}"
        );
    }

    #[test]
    fn timing_and_header_atoms() {
        let f = AccessFormat::compile("%(D)s %(M)s %({x-id}i)s %(zz)s 100%%");
        let h: [(&[u8], &[u8]); 1] = [(b"X-Id", b"abc")];
        let mut out = Vec::new();
        f.render(&rec(&h), &mut out);
        assert_eq!(String::from_utf8(out).unwrap(), "1500 1 abc - 100%");
    }
}

/// Writes bytes to the error log as they are (`wsgi.errors`, tracebacks).
pub fn log_raw(data: &[u8]) {
    match LOGGER.get() {
        Some(l) => {
            if let Ok(mut sink) = l.error.lock() {
                sink.write_line(data);
            }
        }
        None => {
            let _ = std::io::stderr().write_all(data);
        }
    }
}
