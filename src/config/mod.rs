//! Configuration: turns argv and the environment into a validated [`Config`]
//! or a one-line error.
//!
//! This module owns every setting ferricorn knows (all of Gunicorn 23.0's, by
//! Gunicorn's names, plus ferricorn's own), their defaults, environment
//! fallbacks (`PORT`, `WEB_CONCURRENCY`, ...), the Gunicorn-compatible command
//! line, `GUNICORN_CMD_ARGS`/`FERRICORN_CMD_ARGS`, precedence, and the
//! wording of configuration errors.
//!
//! It must never touch Python, sockets or processes, print, or exit: it
//! returns a [`Command`] or a [`ConfigError`] and the caller acts on it (a
//! `ConfigError` means "print it, exit 2"). Environment variables are read
//! only through the lookup function the caller passes in. The single piece
//! of outside state it consults is whether a path exists, for `--chdir` and
//! for Gunicorn's implicit `./gunicorn.conf.py`, exactly as Gunicorn does at
//! configuration time.
//!
//! Precedence, lowest first: built-in defaults (some taken from the
//! environment) < config file (`-c`, or `./gunicorn.conf.py`) < `GUNICORN_CMD_ARGS` <
//! `FERRICORN_CMD_ARGS` < argv. A later source replaces a setting's value
//! whole; repeated `-b`/`-e` accumulate only within one source.
//!
//! The config-file loader will reuse [`Builder::set`]: it applies one
//! setting by Gunicorn name with the same validation as the CLI.

mod cli;
mod docs;
mod table;
mod value;

#[cfg(test)]
mod tests;

use std::fmt;
use std::path::{Path, PathBuf};

pub use docs::settings_markdown;
pub use table::{DefaultValue, Kind, Origin, Section, Setting, Status, DEFAULT_ACCESS_LOG_FORMAT};
pub use value::{Input, Value};

/// Gunicorn's hard caps (`gunicorn/http/message.py`).
pub const MAX_REQUEST_LINE: usize = 8190;
pub const MAX_HEADERS: usize = 32768;

/// A listening address. Host names are not resolved here; that happens at
/// bind time.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum BindAddr {
    /// `host` has no brackets and is lowercased; an empty host in the
    /// address (`:8000`) becomes `0.0.0.0`, which is what Python binds it to.
    Tcp {
        host: String,
        port: u16,
    },
    Unix(PathBuf),
    /// An already-open listening socket inherited from the parent (`fd://N`).
    Fd(i32),
}

impl fmt::Display for BindAddr {
    /// The canonical spelling, which parses back to the same address.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BindAddr::Tcp { host, port } if host.contains(':') => write!(f, "[{host}]:{port}"),
            BindAddr::Tcp { host, port } => write!(f, "{host}:{port}"),
            BindAddr::Unix(path) => write!(f, "unix:{}", path.display()),
            BindAddr::Fd(fd) => write!(f, "fd://{fd}"),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug, Hash)]
pub enum LogLevel {
    Debug,
    Info,
    Warning,
    Error,
    Critical,
}

impl LogLevel {
    const NAMES: [&'static str; 5] = ["debug", "info", "warning", "error", "critical"];

    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warning => "warning",
            LogLevel::Error => "error",
            LogLevel::Critical => "critical",
        }
    }

    /// Case-insensitive, as Gunicorn lowercases the name. Gunicorn maps an
    /// unknown name to info without a word; we refuse it instead.
    fn parse(s: &str) -> Result<Self, value::Problem> {
        match s.trim().to_ascii_lowercase().as_str() {
            "debug" => Ok(LogLevel::Debug),
            "info" => Ok(LogLevel::Info),
            "warning" => Ok(LogLevel::Warning),
            "error" => Ok(LogLevel::Error),
            "critical" => Ok(LogLevel::Critical),
            _ => Err(value::choice_problem(s, &Self::NAMES)),
        }
    }
}

/// What to do with request header names containing `_` (`--header-map`).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum HeaderMap {
    /// Leave them out of the environ (the default).
    Drop,
    /// Answer 400.
    Refuse,
    /// Map them like `-` headers, so `X_A` and `X-A` collide (pre-22.0).
    Dangerous,
}

impl HeaderMap {
    pub fn as_str(self) -> &'static str {
        match self {
            HeaderMap::Drop => "drop",
            HeaderMap::Refuse => "refuse",
            HeaderMap::Dangerous => "dangerous",
        }
    }

    fn parse(s: &str) -> Result<Self, value::Problem> {
        match s.trim().to_ascii_lowercase().as_str() {
            "drop" => Ok(HeaderMap::Drop),
            "refuse" => Ok(HeaderMap::Refuse),
            "dangerous" => Ok(HeaderMap::Dangerous),
            _ => Err(value::choice_problem(s, &["drop", "refuse", "dangerous"])),
        }
    }
}

/// The worker types ferricorn provides.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum WorkerClass {
    Sync,
    Gthread,
}

impl WorkerClass {
    pub fn as_str(self) -> &'static str {
        match self {
            WorkerClass::Sync => "sync",
            WorkerClass::Gthread => "gthread",
        }
    }

    /// Gunicorn's short names, dotted paths and `egg:` URIs for the two
    /// worker types we have. Anything else (gevent, eventlet, tornado,
    /// uvicorn, a custom class) needs a Python event loop we do not run.
    fn parse(s: &str) -> Result<Self, value::Problem> {
        match s.trim() {
            "sync" | "gunicorn.workers.sync.SyncWorker" | "egg:gunicorn#sync" => {
                Ok(WorkerClass::Sync)
            }
            "gthread" | "gunicorn.workers.gthread.ThreadWorker" | "egg:gunicorn#gthread" => {
                Ok(WorkerClass::Gthread)
            }
            other => Err(value::Problem(format!(
                "worker class {} is not supported (ferricorn provides 'sync' and 'gthread')",
                value::py_repr(other)
            ))),
        }
    }
}

/// Everything the server needs, validated. Values are the *effective* ones:
/// where Gunicorn silently adjusts a setting (`--threads 4` with `sync`,
/// limits above their caps) the adjustment is already made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// The positional APP_MODULE. Missing is not an error here: the caller
    /// reports it (a config file may supply `wsgi_app` later).
    pub app_uri: Option<String>,
    /// Never empty.
    pub bind: Vec<BindAddr>,
    /// At least 1.
    pub workers: u32,
    /// `Sync` becomes `Gthread` when `threads > 1`, as in Gunicorn.
    pub worker_class: WorkerClass,
    /// At least 1.
    pub threads: u32,
    /// Simultaneous connections per worker; at the cap the worker stops
    /// accepting until one closes (0 is treated as 1).
    pub worker_connections: u64,
    pub backlog: i32,
    /// Seconds.
    pub keepalive: u64,
    /// Seconds; 0 disables the heartbeat timeout.
    pub timeout: u64,
    /// Seconds.
    pub graceful_timeout: u64,
    /// At most [`MAX_REQUEST_LINE`] (larger values are lowered to it, as
    /// Gunicorn does); 0 = the parser's hard ceiling.
    pub limit_request_line: usize,
    /// 1..=[`MAX_HEADERS`]; a configured 0 or anything above the cap means
    /// the cap, as in Gunicorn.
    pub limit_request_fields: usize,
    /// 0 = the default 8190, which is what Gunicorn does.
    pub limit_request_field_size: usize,
    /// As given (relative to the launch directory); verified to exist.
    pub chdir: Option<PathBuf>,
    /// `--pythonpath a,b`: entries trimmed, empty ones dropped, in order.
    pub pythonpath: Vec<String>,
    /// `-e KEY=VALUE`, split on the first `=`, in order given.
    pub raw_env: Vec<(String, String)>,
    /// `None`: no access log. `"-"`: stdout. Otherwise a file path.
    pub accesslog: Option<String>,
    pub access_log_format: String,
    /// `"-"`: stderr. Otherwise a file path.
    pub errorlog: String,
    pub loglevel: LogLevel,
    pub proc_name: Option<String>,
    /// `--pid`: file the master writes its pid to (removed at exit).
    pub pidfile: Option<String>,
    /// `--reuse-port`: SO_REUSEPORT on TCP listeners.
    pub reuse_port: bool,
    /// `--capture-output`: stdout/stderr of master and workers go to the error log file.
    pub capture_output: bool,
    /// `-D/--daemon`: detach from the terminal.
    pub daemon: bool,
    /// `-R/--enable-stdio-inheritance`: a daemon keeps stdout/stderr.
    pub enable_stdio_inheritance: bool,
    /// `-u/--user`, `-g/--group` as given (a name or a number); resolved to
    /// ids at start-up, outside this module.
    pub user: Option<String>,
    pub group: Option<String>,
    /// `--initgroups`: workers get the supplementary groups of `user`.
    pub initgroups: bool,
    /// `--worker-tmp-dir`: accepted and checked to be a directory; ferricorn's
    /// heartbeats use shared memory, not files.
    pub worker_tmp_dir: Option<PathBuf>,
    /// `-m/--umask`, applied by the master at start.
    pub umask: u32,
    /// 0 = never recycle.
    /// `--preload`: import the app in the master before forking workers.
    pub preload_app: bool,
    /// The logconfig family: Python's `logging` writes the logs.
    pub logconfig: Option<String>,
    pub logconfig_json: Option<String>,
    /// `logconfig_dict` is set (non-empty) in the config file; its Python
    /// value stays in `ferricorn._logging`.
    pub logconfig_dict: bool,
    /// `--proxy-protocol` and who may use it (`--proxy-allow-from`).
    pub proxy_protocol: bool,
    pub proxy_allow_ips: Vec<String>,
    /// `--reload`: workers stop when a module file or an extra file changes.
    pub reload: bool,
    pub reload_extra_files: Vec<String>,
    pub max_requests: u64,
    pub max_requests_jitter: u64,
    /// ferricorn: body bytes read before the app is called.
    pub body_buffer_size: usize,
    /// ferricorn: seconds to receive a complete request head; 0 = no limit.
    pub header_timeout: u64,
    /// ferricorn: seconds of inactivity while reading a body; 0 = no limit.
    pub body_timeout: u64,
    /// `--log-syslog` and its address, prefix and facility (as given;
    /// validated when the logs open).
    pub syslog: bool,
    pub syslog_addr: String,
    pub syslog_prefix: Option<String>,
    pub syslog_facility: String,
    pub disable_redirect_access_to_syslog: bool,
    /// `--statsd-host`, `--statsd-prefix`, `--dogstatsd-tags`.
    pub statsd_host: Option<String>,
    pub statsd_prefix: String,
    pub dogstatsd_tags: String,
    /// ferricorn: seconds a write may wait for the client; 0 = no limit.
    pub write_timeout: u64,
    /// ferricorn: seconds after which a running request is reported; 0 = off.
    pub request_timeout: u64,
    /// ferricorn: MiB of RSS above which a worker is recycled; 0 = no limit.
    pub max_worker_memory: u64,
    /// ferricorn: largest request body in bytes; 0 = no limit.
    pub limit_request_body: u64,
    pub permit_obsolete_folding: bool,
    pub casefold_http_method: bool,
    pub permit_unconventional_http_method: bool,
    pub tolerate_dangerous_framing: bool,
    pub header_map: HeaderMap,
    /// Peers trusted for scheme headers: addresses, CIDR networks or `*`.
    pub forwarded_allow_ips: Vec<String>,
    /// Not configurable yet: always `["SCRIPT_NAME", "PATH_INFO"]`.
    pub forwarder_headers: Vec<String>,
    /// (header, value) pairs by which a trusted proxy marks https; header
    /// names upper-case.
    pub secure_scheme_headers: Vec<(String, String)>,
    /// Every setting's final value by Gunicorn name, in table order (for the
    /// hooks' `server.cfg`).
    pub values: Vec<(&'static str, Value)>,
}

impl Config {
    /// The base of process titles: `proc_name`, else the app URI, else
    /// "ferricorn" (Gunicorn's `default_proc_name` logic).
    pub fn proc_title_base(&self) -> &str {
        self.proc_name
            .as_deref()
            .or(self.app_uri.as_deref())
            .unwrap_or("ferricorn")
    }
}

/// What the caller should do.
// Built once per process, so boxing the large variant would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    Run(Config),
    /// Print this to stdout and exit 0.
    Help(String),
    /// Print this to stdout and exit 0.
    Version(String),
    /// `--print-config`: every setting's final value; print it, then check
    /// the application loads as for `--check-config`.
    PrintConfig(String, Config),
    /// `--check-config`: the configuration is valid; the caller checks that
    /// the application loads, then exits 0 (or 1).
    CheckConfig(Config),
}

/// A configuration error: the complete one-line message, already prefixed
/// `ferricorn: error: `. Print it to stderr and exit with [`ConfigError::EXIT_CODE`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl ConfigError {
    /// argparse's exit status for usage errors.
    pub const EXIT_CODE: i32 = 2;

    fn new(msg: impl fmt::Display) -> Self {
        ConfigError(format!("ferricorn: error: {msg}"))
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

/// The settings table, for docs, `--print-config` and the config-file loader.
pub fn settings() -> &'static [Setting] {
    table::SETTINGS
}

/// Where a value came from; decides how an error names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Argv,
    /// `GUNICORN_CMD_ARGS` or `FERRICORN_CMD_ARGS`.
    CmdArgs(&'static str),
    /// An environment fallback such as `WEB_CONCURRENCY`.
    EnvVar(&'static str),
    ConfigFile,
}

/// The environment variables holding extra arguments, lowest precedence first.
const CMD_ARGS_VARS: [&str; 2] = ["GUNICORN_CMD_ARGS", "FERRICORN_CMD_ARGS"];

/// Reads a config file (`-c PATH` or `python:module`) and returns its
/// module-level names with their values; the caller runs Python for it.
/// The error is one line naming the problem.
pub type FileLoader<'a> = &'a dyn Fn(&str) -> Result<Vec<(String, Input)>, String>;

/// `args` excludes argv[0]. `env` looks up environment variables (injected for tests).
pub fn parse(
    args: &[String],
    env: &dyn Fn(&str) -> Option<String>,
    load_file: FileLoader<'_>,
) -> Result<Command, ConfigError> {
    parse_full(args, env, &|p: &Path| p.exists(), load_file)
}

/// [`parse`] with the filesystem probe injected and no config-file loader
/// (a config file is then an error), for tests.
pub fn parse_with(
    args: &[String],
    env: &dyn Fn(&str) -> Option<String>,
    path_exists: &dyn Fn(&Path) -> bool,
) -> Result<Command, ConfigError> {
    parse_full(args, env, path_exists, &|p: &str| {
        Err(format!(
            "cannot read config file {}: no loader in this context",
            value::py_repr(p)
        ))
    })
}

/// Everything injected: environment, filesystem probe, config-file loader.
pub fn parse_full(
    args: &[String],
    env: &dyn Fn(&str) -> Option<String>,
    path_exists: &dyn Fn(&Path) -> bool,
    load_file: FileLoader<'_>,
) -> Result<Command, ConfigError> {
    // argparse reads argv completely before GUNICORN_CMD_ARGS, and neither
    // is applied until both parse, so syntax errors come in that order.
    let argv = cli::parse_args(args).map_err(ConfigError::new)?;
    if argv.help {
        return Ok(Command::Help(cli::help_text()));
    }
    if argv.version {
        return Ok(Command::Version(version_text()));
    }
    if argv.positionals.len() > 1 {
        let extra = argv.positionals[1..].join(" ");
        let noun = if argv.positionals.len() == 2 {
            "argument"
        } else {
            "arguments"
        };
        return Err(ConfigError::new(format!("unrecognized {noun}: {extra}")));
    }

    let mut layers = Vec::new();
    for var in CMD_ARGS_VARS {
        let Some(text) = env(var) else { continue };
        let words = cli::shell_split(&text).map_err(|e| ConfigError::new(format!("{var}: {e}")))?;
        let parsed =
            cli::parse_args(&words).map_err(|e| ConfigError::new(format!("{var}: {e}")))?;
        if parsed.help {
            return Ok(Command::Help(cli::help_text()));
        }
        if parsed.version {
            return Ok(Command::Version(version_text()));
        }
        // Gunicorn silently drops a positional here; we say so instead.
        if let Some(p) = parsed.positionals.first() {
            return Err(ConfigError::new(format!(
                "{var}: APP_MODULE cannot be given here, pass it on the command line: {}",
                value::py_repr(p)
            )));
        }
        layers.push((var, parsed));
    }

    // The config file to execute: -c from the highest-precedence source
    // that gives one, else Gunicorn's implicit ./gunicorn.conf.py.
    let config_idx = table::find("config").map(|(i, _)| i);
    let mut config_path: Option<String> = None;
    for items in layers
        .iter()
        .map(|(_, p)| &p.items)
        .chain(std::iter::once(&argv.items))
    {
        for (idx, input) in items {
            if Some(*idx) == config_idx {
                if let Input::Str(p) = input {
                    config_path = Some(p.trim().to_string());
                }
            }
        }
    }
    if config_path.is_none() && path_exists(Path::new("gunicorn.conf.py")) {
        config_path = Some("gunicorn.conf.py".to_string());
    }

    let mut b = Builder::new(env, path_exists)?;
    let mut file_app: Option<String> = None;
    if let Some(path) = config_path.as_deref().filter(|p| !p.is_empty()) {
        let pairs = load_file(path).map_err(ConfigError::new)?;
        for (name, input) in pairs {
            // Like Gunicorn, names that are not settings (imports, helpers)
            // are ignored; settings are validated as on the command line.
            if table::find(&name).is_none() || name == "config" {
                continue;
            }
            if name == "wsgi_app" {
                if let Input::Str(app) = &input {
                    file_app = Some(app.clone());
                }
            }
            b.set(&name, input, Source::ConfigFile)?;
        }
    }
    for (var, parsed) in layers {
        for (idx, input) in parsed.items {
            if Some(idx) == config_idx {
                continue; // already executed above
            }
            b.store(idx, input, Source::CmdArgs(var))?;
        }
    }
    for (idx, input) in argv.items {
        if Some(idx) == config_idx {
            continue;
        }
        b.store(idx, input, Source::Argv)?;
    }
    b.app_uri = argv.positionals.into_iter().next().or(file_app);
    if b.flag("print_config")? {
        // Gunicorn: print the resolved settings, then check like --check-config.
        let text = b.print_config();
        return b.build().map(|cfg| Command::PrintConfig(text, cfg));
    }
    if b.flag("check_config")? {
        return b.build().map(Command::CheckConfig);
    }

    b.build().map(Command::Run)
}

fn version_text() -> String {
    format!("ferricorn (version {})", env!("CARGO_PKG_VERSION"))
}

/// Accumulates settings from any source, validating each as it is applied.
/// The config-file loader drives it through [`Builder::set`].
pub struct Builder<'a> {
    values: Vec<Value>,
    /// Built-in defaults, validated: the yardstick for "not yet implemented".
    defaults: Vec<Value>,
    /// Errors from environment fallbacks, reported only if nothing with
    /// higher precedence replaces the value (a bad `PORT` does not matter
    /// when `-b` is given).
    pending: Vec<Option<ConfigError>>,
    app_uri: Option<String>,
    path_exists: &'a dyn Fn(&Path) -> bool,
}

impl<'a> Builder<'a> {
    /// Defaults, then the environment fallbacks (`PORT`, `WEB_CONCURRENCY`,
    /// `FORWARDED_ALLOW_IPS`, `SENDFILE`).
    pub fn new(
        env: &dyn Fn(&str) -> Option<String>,
        path_exists: &'a dyn Fn(&Path) -> bool,
    ) -> Result<Self, ConfigError> {
        let mut defaults = Vec::with_capacity(table::SETTINGS.len());
        for s in table::SETTINGS {
            let v = value::validate_kind(s.kind, value::default_input(s))
                .and_then(|v| value::refine(s, v, path_exists))
                .map_err(|p| {
                    ConfigError::new(format!(
                        "internal error: bad default for {}: {}",
                        s.name, p.0
                    ))
                })?;
            defaults.push(v);
        }
        let mut b = Builder {
            values: defaults.clone(),
            pending: vec![None; defaults.len()],
            defaults,
            app_uri: None,
            path_exists,
        };
        for (idx, s) in table::SETTINGS.iter().enumerate() {
            let Some(var) = s.env else { continue };
            let Some(raw) = env(var) else { continue };
            let input = match s.name {
                "bind" => Input::List(vec![format!("0.0.0.0:{raw}")]),
                // Gunicorn: sendfile stays on unless SENDFILE is set to something
                // other than y/1/yes/true.
                "sendfile" => match raw.to_ascii_lowercase().as_str() {
                    "y" | "1" | "yes" | "true" => continue,
                    _ => Input::Bool(false),
                },
                // Gunicorn reads these with Python's int(), base 10.
                _ if s.kind == Kind::Int => match value::py_int_base10(&raw) {
                    Some(n) => Input::Int(n),
                    None => {
                        b.pending[idx] = Some(ConfigError::new(format!(
                            "environment variable {var}: invalid int value: {}",
                            value::py_repr(&raw)
                        )));
                        continue;
                    }
                },
                _ => Input::Str(raw),
            };
            if let Err(e) = b.store(idx, input, Source::EnvVar(var)) {
                b.pending[idx] = Some(e);
            }
        }
        Ok(b)
    }

    /// Apply one setting by its Gunicorn name, with the CLI's validation.
    /// Later calls replace earlier values.
    pub fn set(&mut self, name: &str, input: Input, source: Source) -> Result<(), ConfigError> {
        match table::find(name) {
            Some((idx, _)) => self.store(idx, input, source),
            None => Err(ConfigError::new(format!("unknown setting: {name}"))),
        }
    }

    /// The current value of a setting.
    pub fn get(&self, name: &str) -> Option<&Value> {
        table::find(name).map(|(idx, _)| &self.values[idx])
    }

    /// `--print-config`'s format: `name = value`, sorted, names padded.
    pub fn print_config(&self) -> String {
        let mut rows: Vec<(&str, String)> = table::SETTINGS
            .iter()
            .zip(&self.values)
            .map(|(s, v)| (s.name, v.to_string()))
            .collect();
        rows.sort();
        let width = rows.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
        rows.iter()
            .map(|(n, v)| format!("{n:width$} = {v}"))
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn store(&mut self, idx: usize, input: Input, source: Source) -> Result<(), ConfigError> {
        let s = &table::SETTINGS[idx];
        let value = value::validate_kind(s.kind, input)
            .and_then(|v| value::refine(s, v, self.path_exists))
            .map_err(|p| ConfigError::new(describe_value_error(s, source, &p.0)))?;
        // `config` names a file to execute: giving it at all needs the
        // loader, even when it spells the default path.
        let changed = value != self.defaults[idx] || s.name == "config";
        if !s.is_implemented() && changed {
            return Err(ConfigError::new(describe_unsupported(s, source)));
        }
        self.values[idx] = value;
        self.pending[idx] = None;
        Ok(())
    }

    fn value(&self, name: &str) -> Result<&Value, ConfigError> {
        table::find(name)
            .map(|(idx, _)| &self.values[idx])
            .ok_or_else(|| ConfigError::new(format!("internal error: no setting {name}")))
    }

    fn int(&self, name: &str) -> Result<u64, ConfigError> {
        match self.value(name)? {
            Value::Int(n) => Ok(*n),
            other => Err(mismatch(name, other)),
        }
    }

    fn usize(&self, name: &str) -> Result<usize, ConfigError> {
        let n = self.int(name)?;
        usize::try_from(n).map_err(|_| ConfigError::new(format!("{name}: value is too large: {n}")))
    }

    fn flag(&self, name: &str) -> Result<bool, ConfigError> {
        match self.value(name)? {
            Value::Bool(b) => Ok(*b),
            Value::None => Ok(false),
            other => Err(mismatch(name, other)),
        }
    }

    fn opt_str(&self, name: &str) -> Result<Option<String>, ConfigError> {
        match self.value(name)? {
            Value::Str(s) => Ok(Some(s.clone())),
            Value::None => Ok(None),
            other => Err(mismatch(name, other)),
        }
    }

    fn list(&self, name: &str) -> Result<Vec<String>, ConfigError> {
        match self.value(name)? {
            Value::List(items) => Ok(items.clone()),
            other => Err(mismatch(name, other)),
        }
    }

    /// Cross-setting rules and Gunicorn's silent adjustments, then the struct.
    pub fn build(self) -> Result<Config, ConfigError> {
        if let Some(err) = self.pending.iter().flatten().next() {
            return Err(err.clone());
        }
        let bind = match self.value("bind")? {
            Value::Binds(b) if !b.is_empty() => b.clone(),
            Value::Binds(_) => {
                return Err(ConfigError::new(
                    "argument -b/--bind: at least one address is required",
                ))
            }
            other => return Err(mismatch("bind", other)),
        };
        let mut worker_class = match self.value("worker_class")? {
            Value::Worker(w) => *w,
            other => return Err(mismatch("worker_class", other)),
        };
        let mut threads = u32::try_from(self.int("threads")?)
            .map_err(|_| ConfigError::new("argument --threads: value is too large"))?;
        if threads > 1 && worker_class == WorkerClass::Sync {
            worker_class = WorkerClass::Gthread;
        }
        if threads == 0 {
            // The sync worker never looks at threads, so Gunicorn runs fine
            // with 0; gthread would fail to start its pool.
            if worker_class == WorkerClass::Gthread {
                return Err(ConfigError::new(
                    "argument --threads: value must be at least 1 for the gthread worker: 0",
                ));
            }
            threads = 1;
        }
        let workers = u32::try_from(self.int("workers")?)
            .map_err(|_| ConfigError::new("argument -w/--workers: value is too large"))?;
        let backlog = i32::try_from(self.int("backlog")?)
            .map_err(|_| ConfigError::new("argument --backlog: value is too large"))?;

        let limit_request_line = self.usize("limit_request_line")?.min(MAX_REQUEST_LINE);
        let limit_request_fields = match self.usize("limit_request_fields")? {
            0 => MAX_HEADERS,
            n => n.min(MAX_HEADERS),
        };
        let raw_env = match self.value("raw_env")? {
            Value::Env(pairs) => pairs.clone(),
            other => return Err(mismatch("raw_env", other)),
        };
        let loglevel = match self.value("loglevel")? {
            Value::Level(l) => *l,
            other => return Err(mismatch("loglevel", other)),
        };
        let header_map = match self.value("header_map")? {
            Value::HeaderMap(h) => *h,
            other => return Err(mismatch("header_map", other)),
        };
        let secure_scheme_headers = match self.value("secure_scheme_headers")? {
            Value::Dict(pairs) => pairs
                .iter()
                .map(|(k, v)| (k.to_ascii_uppercase(), v.clone()))
                .collect(),
            other => return Err(mismatch("secure_scheme_headers", other)),
        };
        let pythonpath = self
            .opt_str("pythonpath")?
            .map(|p| {
                p.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default();

        Ok(Config {
            app_uri: self.app_uri.clone(),
            bind,
            workers,
            worker_class,
            threads,
            worker_connections: self.int("worker_connections")?,
            backlog,
            keepalive: self.int("keepalive")?,
            timeout: self.int("timeout")?,
            graceful_timeout: self.int("graceful_timeout")?,
            limit_request_line,
            limit_request_fields,
            limit_request_field_size: self.usize("limit_request_field_size")?,
            chdir: self.opt_str("chdir")?.map(PathBuf::from),
            pythonpath,
            raw_env,
            accesslog: self.opt_str("accesslog")?,
            access_log_format: self.opt_str("access_log_format")?.unwrap_or_default(),
            errorlog: self.opt_str("errorlog")?.unwrap_or_else(|| "-".to_string()),
            loglevel,
            proc_name: self.opt_str("proc_name")?,
            pidfile: self.opt_str("pidfile")?,
            reuse_port: self.flag("reuse_port")?,
            capture_output: self.flag("capture_output")?,
            daemon: self.flag("daemon")?,
            enable_stdio_inheritance: self.flag("enable_stdio_inheritance")?,
            user: self.opt_str("user")?,
            group: self.opt_str("group")?,
            initgroups: self.flag("initgroups")?,
            worker_tmp_dir: self.opt_str("worker_tmp_dir")?.map(PathBuf::from),
            umask: u32::try_from(self.int("umask")?)
                .map_err(|_| ConfigError::new("argument -m/--umask: value is too large"))?,
            preload_app: self.flag("preload_app")?,
            logconfig: self.opt_str("logconfig")?,
            logconfig_json: self.opt_str("logconfig_json")?,
            logconfig_dict: matches!(self.value("logconfig_dict")?, Value::Dict(d) if !d.is_empty()),
            proxy_protocol: self.flag("proxy_protocol")?,
            proxy_allow_ips: self.list("proxy_allow_ips")?,
            reload: self.flag("reload")?,
            reload_extra_files: self.list("reload_extra_files")?,
            max_requests: self.int("max_requests")?,
            max_requests_jitter: self.int("max_requests_jitter")?,
            body_buffer_size: self.usize("body_buffer_size")?,
            header_timeout: self.int("header_timeout")?,
            body_timeout: self.int("body_timeout")?,
            write_timeout: self.int("write_timeout")?,
            syslog: self.flag("syslog")?,
            syslog_addr: self.opt_str("syslog_addr")?.unwrap_or_default(),
            syslog_prefix: self.opt_str("syslog_prefix")?,
            syslog_facility: self
                .opt_str("syslog_facility")?
                .unwrap_or_else(|| "user".into()),
            disable_redirect_access_to_syslog: self.flag("disable_redirect_access_to_syslog")?,
            statsd_host: self.opt_str("statsd_host")?,
            statsd_prefix: self.opt_str("statsd_prefix")?.unwrap_or_default(),
            dogstatsd_tags: self.opt_str("dogstatsd_tags")?.unwrap_or_default(),
            request_timeout: self.int("request_timeout")?,
            max_worker_memory: self.int("max_worker_memory")?,
            limit_request_body: self.int("limit_request_body")?,
            permit_obsolete_folding: self.flag("permit_obsolete_folding")?,
            casefold_http_method: self.flag("casefold_http_method")?,
            permit_unconventional_http_method: self.flag("permit_unconventional_http_method")?,
            tolerate_dangerous_framing: self.flag("tolerate_dangerous_framing")?,
            header_map,
            forwarded_allow_ips: self.list("forwarded_allow_ips")?,
            forwarder_headers: self.list("forwarder_headers")?,
            secure_scheme_headers,
            values: table::SETTINGS
                .iter()
                .map(|s| s.name)
                .zip(self.values.iter().cloned())
                .collect(),
        })
    }
}

fn mismatch(name: &str, v: &Value) -> ConfigError {
    ConfigError::new(format!(
        "internal error: unexpected value for {name}: {v:?}"
    ))
}

/// "argument -w/--workers: ..." for flags (argparse's form); the variable or
/// setting name for other sources.
fn describe_value_error(s: &Setting, source: Source, problem: &str) -> String {
    match source {
        Source::Argv => format!("argument {}: {problem}", s.flag_label()),
        Source::CmdArgs(var) => format!("{var}: argument {}: {problem}", s.flag_label()),
        Source::EnvVar(var) => format!("environment variable {var}: {problem}"),
        Source::ConfigFile => format!("invalid value for {}: {problem}", s.name),
    }
}

fn describe_unsupported(s: &Setting, source: Source) -> String {
    match source {
        Source::Argv => format!("{} ({}) is not supported yet", s.flag_label(), s.name),
        Source::CmdArgs(var) => format!(
            "{var}: {} ({}) is not supported yet",
            s.flag_label(),
            s.name
        ),
        Source::EnvVar(var) => format!(
            "environment variable {var} ({}) is not supported yet",
            s.name
        ),
        Source::ConfigFile => format!("config file setting {} is not supported yet", s.name),
    }
}
