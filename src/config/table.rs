//! The settings table: one row per Gunicorn 23.0 setting, plus ferricorn's own.
//!
//! This file is pure data. It owns the *names*, flags, kinds, defaults,
//! environment fallbacks and implementation status of every setting; the
//! validation rules live in `value.rs` and the argv grammar in `cli.rs`.
//! It must never contain behaviour: the CLI parser, the `--help` text,
//! `docs/settings.md` and (later) the config-file loader and `--print-config`
//! are all generated from these rows, so a row is the single place a setting
//! is described.
//!
//! Names, flags, sections and defaults follow `gunicorn/config.py` at 23.0.0
//! (93 settings). The one-line descriptions are our own words.

/// Gunicorn's documentation sections, in the order `--help` prints them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Section {
    ConfigFile,
    ServerSocket,
    WorkerProcesses,
    Security,
    Debugging,
    ServerMechanics,
    Logging,
    ProcessNaming,
    Ssl,
    ServerHooks,
    /// Settings Gunicorn does not have.
    Ferricorn,
}

impl Section {
    pub const ALL: [Section; 11] = [
        Section::ConfigFile,
        Section::ServerSocket,
        Section::WorkerProcesses,
        Section::Security,
        Section::Debugging,
        Section::ServerMechanics,
        Section::Logging,
        Section::ProcessNaming,
        Section::Ssl,
        Section::ServerHooks,
        Section::Ferricorn,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Section::ConfigFile => "Config File",
            Section::ServerSocket => "Server Socket",
            Section::WorkerProcesses => "Worker Processes",
            Section::Security => "Security",
            Section::Debugging => "Debugging",
            Section::ServerMechanics => "Server Mechanics",
            Section::Logging => "Logging",
            Section::ProcessNaming => "Process Naming",
            Section::Ssl => "SSL",
            Section::ServerHooks => "Server Hooks",
            Section::Ferricorn => "Ferricorn extensions",
        }
    }
}

/// What kind of value a setting holds. This decides both the argparse action
/// (how the flag consumes argv) and the generic validator (Gunicorn's
/// `validate_*` function) applied before any setting-specific check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `type=int` on the CLI (base 10), `int(x, 0)` from a config file;
    /// never negative (`validate_pos_int`).
    Int,
    /// Like `Int`, but the CLI also takes octal with a bare leading zero
    /// (`auto_int`: `0022`), as `--umask` does.
    OctalInt,
    /// `store_true`: the flag takes no value and sets `True`.
    Flag,
    /// `store_const False` (only `--no-sendfile`): the flag sets `False`.
    FlagFalse,
    /// A single string, whitespace-trimmed (`validate_string`).
    Str,
    /// A repeatable flag collecting a list of strings (`action="append"`).
    List,
    /// One comma-separated string split into a list (`validate_string_to_list`).
    CommaList,
    /// A Python dict; config file only.
    Dict,
    /// A Python class or its dotted path / short name (`validate_class`).
    Class,
    /// A server hook: a callable taking this many positional arguments.
    /// Config file only. `post_request` also accepts 2 or 3.
    Hook(u8),
}

impl Kind {
    /// Whether the flag consumes one argv value (as opposed to a bare switch).
    pub fn takes_value(self) -> bool {
        !matches!(self, Kind::Flag | Kind::FlagFalse)
    }

    pub fn describe(self) -> &'static str {
        match self {
            Kind::Int | Kind::OctalInt => "int",
            Kind::Flag | Kind::FlagFalse => "bool flag",
            Kind::Str => "string",
            Kind::List => "list (repeatable)",
            Kind::CommaList => "comma-separated list",
            Kind::Dict => "dict",
            Kind::Class => "class",
            Kind::Hook(_) => "callable",
        }
    }
}

/// A setting's built-in default, before environment fallbacks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DefaultValue {
    None,
    Bool(bool),
    Int(u64),
    Str(&'static str),
    List(&'static [&'static str]),
    Dict(&'static [(&'static str, &'static str)]),
    /// Computed by Gunicorn at start-up (the cwd, the euid...). The text is
    /// for documentation; the stored value is "not set".
    Dynamic(&'static str),
    /// A hook's default: a no-op function of this name.
    Hook,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Parsed, validated and honoured by ferricorn.
    Implemented,
    /// Parsed so that Gunicorn command lines are recognised, but any
    /// non-default value is refused: silently ignoring it would change
    /// behaviour behind the user's back.
    NotYetImplemented,
}

/// Where a setting comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// A Gunicorn 23.0 setting.
    Gunicorn,
    /// A temporary Gunicorn 22.0 setting that 23.0 removed. Kept so that
    /// command lines written for 22.0 still start.
    GunicornLegacy,
    /// Ours only; Gunicorn has no such setting.
    Ferricorn,
}

/// One row of the settings table.
#[derive(Clone, Copy, Debug)]
pub struct Setting {
    /// Gunicorn's setting name: the config-file variable and `--print-config` key.
    pub name: &'static str,
    pub section: Section,
    /// Every CLI spelling, as argparse lists them. Empty: config file only.
    pub flags: &'static [&'static str],
    /// The value placeholder shown in `--help` (`-w INT`).
    pub meta: &'static str,
    pub kind: Kind,
    pub default: DefaultValue,
    /// Environment variable that replaces the default when set.
    pub env: Option<&'static str>,
    pub status: Status,
    pub origin: Origin,
    /// One line, our own words.
    pub help: &'static str,
}

impl Setting {
    /// argparse's name for the option in error messages: `-w/--workers`.
    pub fn flag_label(&self) -> String {
        if self.flags.is_empty() {
            self.name.to_string()
        } else {
            self.flags.join("/")
        }
    }

    pub fn is_implemented(&self) -> bool {
        self.status == Status::Implemented
    }
}

use DefaultValue as D;
use Kind as K;
use Origin::{Ferricorn, Gunicorn, GunicornLegacy};
use Section as S;
use Status::{Implemented as IMPL, NotYetImplemented as NYI};

/// Row constructor, to keep the table one entry per line-group.
#[allow(clippy::too_many_arguments)]
const fn row(
    name: &'static str,
    section: Section,
    flags: &'static [&'static str],
    meta: &'static str,
    kind: Kind,
    default: DefaultValue,
    env: Option<&'static str>,
    status: Status,
    origin: Origin,
    help: &'static str,
) -> Setting {
    Setting {
        name,
        section,
        flags,
        meta,
        kind,
        default,
        env,
        status,
        origin,
        help,
    }
}

/// Gunicorn's default access log format.
pub const DEFAULT_ACCESS_LOG_FORMAT: &str =
    r#"%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s""#;

const fn hook(name: &'static str, arity: u8, help: &'static str) -> Setting {
    row(
        name,
        S::ServerHooks,
        &[],
        "",
        K::Hook(arity),
        D::Hook,
        None,
        IMPL,
        Gunicorn,
        help,
    )
}

#[rustfmt::skip]
pub static SETTINGS: &[Setting] = &[
    // ---- Config File ----
    row("config", S::ConfigFile, &["-c", "--config"], "CONFIG", K::Str, D::Str("./gunicorn.conf.py"), None, IMPL, Gunicorn,
        "Config file to execute: PATH, file:PATH or python:MODULE."),
    row("wsgi_app", S::ConfigFile, &[], "STRING", K::Str, D::None, None, IMPL, Gunicorn,
        "Application as MODULE:VARIABLE, used when no APP_MODULE is given (config file only)."),
    // ---- Server Socket ----
    row("bind", S::ServerSocket, &["-b", "--bind"], "ADDRESS", K::List, D::List(&["127.0.0.1:8000"]), Some("PORT"), IMPL, Gunicorn,
        "Address to listen on: HOST, HOST:PORT, [IPV6]:PORT, unix:PATH or fd://FD; repeatable."),
    row("backlog", S::ServerSocket, &["--backlog"], "INT", K::Int, D::Int(2048), None, IMPL, Gunicorn,
        "Maximum number of pending connections passed to listen()."),
    // ---- Worker Processes ----
    row("workers", S::WorkerProcesses, &["-w", "--workers"], "INT", K::Int, D::Int(1), Some("WEB_CONCURRENCY"), IMPL, Gunicorn,
        "Number of worker processes."),
    row("worker_class", S::WorkerProcesses, &["-k", "--worker-class"], "STRING", K::Class, D::Str("sync"), None, IMPL, Gunicorn,
        "Worker type: sync or gthread."),
    row("threads", S::WorkerProcesses, &["--threads"], "INT", K::Int, D::Int(1), None, IMPL, Gunicorn,
        "Threads per worker; above 1 a sync worker becomes gthread."),
    row("worker_connections", S::WorkerProcesses, &["--worker-connections"], "INT", K::Int, D::Int(1000), None, IMPL, Gunicorn,
        "Maximum simultaneous connections per worker; at the cap the worker stops accepting until one closes."),
    row("max_requests", S::WorkerProcesses, &["--max-requests"], "INT", K::Int, D::Int(0), None, IMPL, Gunicorn,
        "Restart a worker after it has served this many requests (0 = never)."),
    row("max_requests_jitter", S::WorkerProcesses, &["--max-requests-jitter"], "INT", K::Int, D::Int(0), None, IMPL, Gunicorn,
        "Add a random 0..N to max_requests per worker so workers do not restart together."),
    row("timeout", S::WorkerProcesses, &["-t", "--timeout"], "INT", K::Int, D::Int(30), None, IMPL, Gunicorn,
        "Kill a worker that has been silent this many seconds (0 = never)."),
    row("graceful_timeout", S::WorkerProcesses, &["--graceful-timeout"], "INT", K::Int, D::Int(30), None, IMPL, Gunicorn,
        "Seconds workers get to finish in-flight requests on a graceful stop or restart."),
    row("keepalive", S::WorkerProcesses, &["--keep-alive"], "INT", K::Int, D::Int(2), None, IMPL, Gunicorn,
        "Seconds an idle keep-alive connection is kept open; 0 turns keep-alive off."),
    // ---- Security ----
    row("limit_request_line", S::Security, &["--limit-request-line"], "INT", K::Int, D::Int(4094), None, IMPL, Gunicorn,
        "Maximum request-line size in bytes (values above 8190 mean 8190; 0 = the built-in ceiling of 65536)."),
    row("limit_request_fields", S::Security, &["--limit-request-fields"], "INT", K::Int, D::Int(100), None, IMPL, Gunicorn,
        "Maximum number of header fields (0 or above 32768 mean 32768)."),
    row("limit_request_field_size", S::Security, &["--limit-request-field_size"], "INT", K::Int, D::Int(8190), None, IMPL, Gunicorn,
        "Maximum size of one header field in bytes (0 = the default 8190, as Gunicorn does)."),
    // ---- Debugging ----
    row("reload", S::Debugging, &["--reload"], "", K::Flag, D::Bool(false), None, IMPL, Gunicorn,
        "Restart workers when application source files change."),
    row("reload_engine", S::Debugging, &["--reload-engine"], "STRING", K::Str, D::Str("auto"), None, IMPL, Gunicorn,
        "How to watch files for --reload: auto, poll or inotify (ferricorn always polls, once a second)."),
    row("reload_extra_files", S::Debugging, &["--reload-extra-file"], "FILES", K::List, D::List(&[]), None, IMPL, Gunicorn,
        "Extra files that trigger a reload; repeatable."),
    row("spew", S::Debugging, &["--spew"], "", K::Flag, D::Bool(false), None, NYI, Gunicorn,
        "Trace every line of Python the server executes."),
    row("check_config", S::Debugging, &["--check-config"], "", K::Flag, D::Bool(false), None, IMPL, Gunicorn,
        "Load the configuration and the app, then exit 0 or 1."),
    row("print_config", S::Debugging, &["--print-config"], "", K::Flag, D::Bool(false), None, IMPL, Gunicorn,
        "Print every resolved setting, then act as --check-config."),
    // ---- Server Mechanics ----
    row("preload_app", S::ServerMechanics, &["--preload"], "", K::Flag, D::Bool(false), None, IMPL, Gunicorn,
        "Import the application in the master before forking workers."),
    row("sendfile", S::ServerMechanics, &["--no-sendfile"], "", K::FlagFalse, D::None, Some("SENDFILE"), NYI, Gunicorn,
        "Do not use sendfile() for wsgi.file_wrapper responses."),
    row("reuse_port", S::ServerMechanics, &["--reuse-port"], "", K::Flag, D::Bool(false), None, IMPL, Gunicorn,
        "Set SO_REUSEPORT on the listening sockets."),
    row("chdir", S::ServerMechanics, &["--chdir"], "CHDIR", K::Str, D::Dynamic("current directory"), None, IMPL, Gunicorn,
        "Change to this directory before loading the app (it also goes first on sys.path)."),
    row("daemon", S::ServerMechanics, &["-D", "--daemon"], "", K::Flag, D::Bool(false), None, IMPL, Gunicorn,
        "Detach from the terminal and run in the background."),
    row("raw_env", S::ServerMechanics, &["-e", "--env"], "ENV", K::List, D::List(&[]), None, IMPL, Gunicorn,
        "Set an environment variable KEY=VALUE in the master and workers; repeatable."),
    row("pidfile", S::ServerMechanics, &["-p", "--pid"], "FILE", K::Str, D::None, None, IMPL, Gunicorn,
        "Write the master's pid to this file."),
    row("worker_tmp_dir", S::ServerMechanics, &["--worker-tmp-dir"], "DIR", K::Str, D::None, None, IMPL, Gunicorn,
        "Accepted for Gunicorn compatibility (must be a directory); heartbeats use shared memory."),
    row("user", S::ServerMechanics, &["-u", "--user"], "USER", K::Str, D::Dynamic("effective uid"), None, IMPL, Gunicorn,
        "Run workers as this user (name or uid)."),
    row("group", S::ServerMechanics, &["-g", "--group"], "GROUP", K::Str, D::Dynamic("effective gid"), None, IMPL, Gunicorn,
        "Run workers as this group (name or gid)."),
    row("umask", S::ServerMechanics, &["-m", "--umask"], "INT", K::OctalInt, D::Int(0), None, IMPL, Gunicorn,
        "File mode mask for files the server creates, unix sockets included."),
    row("initgroups", S::ServerMechanics, &["--initgroups"], "", K::Flag, D::Bool(false), None, IMPL, Gunicorn,
        "Give workers the supplementary groups of --user."),
    row("tmp_upload_dir", S::ServerMechanics, &[], "DIR", K::Str, D::None, None, NYI, Gunicorn,
        "Unused legacy setting (config file only)."),
    row("secure_scheme_headers", S::ServerMechanics, &[], "", K::Dict,
        D::Dict(&[("X-FORWARDED-PROTOCOL", "ssl"), ("X-FORWARDED-PROTO", "https"), ("X-FORWARDED-SSL", "on")]),
        None, IMPL, Gunicorn,
        "Headers (and values) by which a trusted proxy marks a request as https (config file only)."),
    row("forwarded_allow_ips", S::ServerMechanics, &["--forwarded-allow-ips"], "STRING", K::CommaList, D::Str("127.0.0.1,::1"),
        Some("FORWARDED_ALLOW_IPS"), IMPL, Gunicorn,
        "Comma-separated proxy addresses (or *) trusted for scheme and forwarder headers."),
    row("pythonpath", S::ServerMechanics, &["--pythonpath"], "STRING", K::Str, D::None, None, IMPL, Gunicorn,
        "Comma-separated directories to put in front of sys.path."),
    row("paste", S::ServerMechanics, &["--paste", "--paster"], "STRING", K::Str, D::None, None, NYI, Gunicorn,
        "Load the app from a PasteDeploy ini file (FILE[#section])."),
    row("proxy_protocol", S::ServerMechanics, &["--proxy-protocol"], "", K::Flag, D::Bool(false), None, IMPL, Gunicorn,
        "Accept a HAProxy PROXY protocol header (v1 or v2) at connection start; plain HTTP is still served."),
    row("proxy_allow_ips", S::ServerMechanics, &["--proxy-allow-from"], "PROXY_ALLOW_IPS", K::CommaList, D::Str("127.0.0.1,::1"),
        None, IMPL, Gunicorn,
        "Comma-separated addresses (or *) allowed to send PROXY headers."),
    row("raw_paste_global_conf", S::ServerMechanics, &["--paste-global"], "CONF", K::List, D::List(&[]), None, NYI, Gunicorn,
        "A PasteDeploy global variable KEY=VALUE; repeatable."),
    row("permit_obsolete_folding", S::ServerMechanics, &["--permit-obsolete-folding"], "", K::Flag, D::Bool(false), None, IMPL, Gunicorn,
        "Accept obsolete line folding (continuation lines) in request headers."),
    row("strip_header_spaces", S::ServerMechanics, &["--strip-header-spaces"], "", K::Flag, D::Bool(false), None, NYI, Gunicorn,
        "Accept whitespace between a header name and the colon (unsafe, deprecated)."),
    row("permit_unconventional_http_method", S::ServerMechanics, &["--permit-unconventional-http-method"], "", K::Flag, D::Bool(false),
        None, IMPL, Gunicorn,
        "Accept methods that are lowercase, contain #, or are shorter than 3 or longer than 20 bytes."),
    row("permit_unconventional_http_version", S::ServerMechanics, &["--permit-unconventional-http-version"], "", K::Flag, D::Bool(false),
        None, NYI, Gunicorn,
        "Accept HTTP versions other than 1.0 and 1.1."),
    row("casefold_http_method", S::ServerMechanics, &["--casefold-http-method"], "", K::Flag, D::Bool(false), None, IMPL, Gunicorn,
        "Uppercase the request method, as Gunicorn did before 22.0."),
    row("forwarder_headers", S::ServerMechanics, &["--forwarder-headers"], "FORWARDER_HEADERS", K::CommaList,
        D::Str("SCRIPT_NAME,PATH_INFO"), None, NYI, Gunicorn,
        "Underscore headers a trusted proxy may set in the environ (e.g. SCRIPT_NAME)."),
    row("header_map", S::ServerMechanics, &["--header-map"], "HEADER_MAP", K::Str, D::Str("drop"), None, IMPL, Gunicorn,
        "Headers whose names contain an underscore: drop, refuse (400) or dangerous (map them)."),
    row("tolerate_dangerous_framing", S::ServerMechanics, &["--tolerate-dangerous-framing"], "", K::Flag, D::Bool(false), None,
        IMPL, GunicornLegacy,
        "Gunicorn 22 escape hatch: accept request framing that is normally refused as a smuggling risk."),
    // ---- Logging ----
    row("accesslog", S::Logging, &["--access-logfile"], "FILE", K::Str, D::None, None, IMPL, Gunicorn,
        "Access log file; - means stdout. Off by default."),
    row("disable_redirect_access_to_syslog", S::Logging, &["--disable-redirect-access-to-syslog"], "", K::Flag, D::Bool(false),
        None, IMPL, Gunicorn,
        "Keep access log lines out of syslog."),
    row("access_log_format", S::Logging, &["--access-logformat"], "STRING", K::Str, D::Str(DEFAULT_ACCESS_LOG_FORMAT), None, IMPL,
        Gunicorn, "Access log line format, built from Gunicorn's %(x)s atoms."),
    row("errorlog", S::Logging, &["--error-logfile", "--log-file"], "FILE", K::Str, D::Str("-"), None, IMPL, Gunicorn,
        "Error log file; - means stderr."),
    row("loglevel", S::Logging, &["--log-level"], "LEVEL", K::Str, D::Str("info"), None, IMPL, Gunicorn,
        "Error log level: debug, info, warning, error or critical."),
    row("capture_output", S::Logging, &["--capture-output"], "", K::Flag, D::Bool(false), None, IMPL, Gunicorn,
        "Send the app's stdout and stderr to the error log."),
    row("logger_class", S::Logging, &["--logger-class"], "STRING", K::Class, D::Str("gunicorn.glogging.Logger"), None, NYI, Gunicorn,
        "Python class that does the logging."),
    row("logconfig", S::Logging, &["--log-config"], "FILE", K::Str, D::None, None, IMPL, Gunicorn,
        "Python logging fileConfig ini file."),
    row("logconfig_dict", S::Logging, &[], "", K::Dict, D::Dict(&[]), None, IMPL, Gunicorn,
        "Python logging dictConfig dict (config file only)."),
    row("logconfig_json", S::Logging, &["--log-config-json"], "FILE", K::Str, D::None, None, IMPL, Gunicorn,
        "JSON file passed to Python logging dictConfig."),
    row("syslog_addr", S::Logging, &["--log-syslog-to"], "SYSLOG_ADDR", K::Str, D::Str("udp://localhost:514"), None, IMPL, Gunicorn,
        "Where syslog messages go: unix://PATH#TYPE, udp://HOST:PORT or tcp://HOST:PORT."),
    row("syslog", S::Logging, &["--log-syslog"], "", K::Flag, D::Bool(false), None, IMPL, Gunicorn,
        "Also send logs to syslog."),
    row("syslog_prefix", S::Logging, &["--log-syslog-prefix"], "SYSLOG_PREFIX", K::Str, D::None, None, IMPL, Gunicorn,
        "Program name used in syslog entries."),
    row("syslog_facility", S::Logging, &["--log-syslog-facility"], "SYSLOG_FACILITY", K::Str, D::Str("user"), None, IMPL, Gunicorn,
        "Syslog facility name."),
    row("enable_stdio_inheritance", S::Logging, &["-R", "--enable-stdio-inheritance"], "", K::Flag, D::Bool(false), None, IMPL,
        Gunicorn, "Keep stdout and stderr open when daemonizing."),
    row("statsd_host", S::Logging, &["--statsd-host"], "STATSD_ADDR", K::Str, D::None, None, IMPL, Gunicorn,
        "StatsD server to send metrics to: HOST:PORT or unix://PATH."),
    row("dogstatsd_tags", S::Logging, &["--dogstatsd-tags"], "DOGSTATSD_TAGS", K::Str, D::Str(""), None, IMPL, Gunicorn,
        "Comma-separated DogStatsD tags added to every metric."),
    row("statsd_prefix", S::Logging, &["--statsd-prefix"], "STATSD_PREFIX", K::Str, D::Str(""), None, IMPL, Gunicorn,
        "Prefix for StatsD metric names."),
    // ---- Process Naming ----
    row("proc_name", S::ProcessNaming, &["-n", "--name"], "STRING", K::Str, D::None, None, IMPL, Gunicorn,
        "Base name for process names (the kernel's 15-character comm, shown by top and ps -o comm)."),
    row("default_proc_name", S::ProcessNaming, &[], "STRING", K::Str, D::Str("gunicorn"), None, NYI, Gunicorn,
        "Fallback process title base when proc_name is unset (internal; config file only)."),
    // ---- SSL ----
    row("keyfile", S::Ssl, &["--keyfile"], "FILE", K::Str, D::None, None, NYI, Gunicorn,
        "TLS private key file."),
    row("certfile", S::Ssl, &["--certfile"], "FILE", K::Str, D::None, None, NYI, Gunicorn,
        "TLS certificate file; setting it or --keyfile turns TLS on."),
    row("ssl_version", S::Ssl, &["--ssl-version"], "SSL_VERSION", K::Str, D::Str("TLS"), None, NYI, Gunicorn,
        "Deprecated and ignored by Gunicorn; use the ssl_context hook."),
    row("cert_reqs", S::Ssl, &["--cert-reqs"], "CERT_REQS", K::Int, D::Int(0), None, NYI, Gunicorn,
        "Client certificates: 0 not asked, 1 optional, 2 required."),
    row("ca_certs", S::Ssl, &["--ca-certs"], "FILE", K::Str, D::None, None, NYI, Gunicorn,
        "CA bundle used to verify client certificates."),
    row("suppress_ragged_eofs", S::Ssl, &["--suppress-ragged-eofs"], "", K::Flag, D::Bool(true), None, NYI, Gunicorn,
        "Treat a TLS connection closed without close_notify as a normal EOF."),
    row("do_handshake_on_connect", S::Ssl, &["--do-handshake-on-connect"], "", K::Flag, D::Bool(false), None, NYI, Gunicorn,
        "Do the TLS handshake as soon as the connection is accepted."),
    row("ciphers", S::Ssl, &["--ciphers"], "CIPHERS", K::Str, D::None, None, NYI, Gunicorn,
        "OpenSSL cipher list."),
    // ---- Server Hooks (config file only) ----
    hook("on_starting", 1, "on_starting(server): in the master, before sockets are bound."),
    hook("on_reload", 1, "on_reload(server): in the master, on SIGHUP."),
    hook("when_ready", 1, "when_ready(server): in the master, after binding and before the first fork."),
    hook("pre_fork", 2, "pre_fork(server, worker): in the master, just before each fork."),
    hook("post_fork", 2, "post_fork(server, worker): in the worker, right after the fork."),
    hook("post_worker_init", 1, "post_worker_init(worker): in the worker, after the app is loaded."),
    hook("worker_int", 1, "worker_int(worker): in the worker, on SIGINT or SIGQUIT."),
    hook("worker_abort", 1, "worker_abort(worker): in the worker, on SIGABRT (timeout)."),
    hook("pre_exec", 1, "pre_exec(server): in the master, on SIGUSR2, just before it forks the new master."),
    hook("pre_request", 2, "pre_request(worker, req): before each request."),
    hook("post_request", 4, "post_request(worker, req, environ, resp): after each request (2 or 3 arguments also accepted)."),
    hook("child_exit", 2, "child_exit(server, worker): in the master, after a worker is reaped."),
    hook("worker_exit", 2, "worker_exit(server, worker): in the worker, as it exits."),
    hook("nworkers_changed", 3, "nworkers_changed(server, new, old): in the master, when the worker count changes."),
    hook("on_exit", 1, "on_exit(server): in the master, just before it exits."),
    hook("ssl_context", 2, "ssl_context(config, default_factory): returns the SSLContext to use."),
    // ---- ferricorn extensions ----
    row("body_buffer_size", S::Ferricorn, &["--body-buffer-size"], "INT", K::Int, D::Int(65536), None, IMPL, Ferricorn,
        "Bytes of request body read by the Rust core before the app is called."),
    row("header_timeout", S::Ferricorn, &["--header-timeout"], "INT", K::Int, D::Int(10), None, IMPL, Ferricorn,
        "Seconds allowed to receive a complete request head (0 = no limit)."),
    row("body_timeout", S::Ferricorn, &["--body-timeout"], "INT", K::Int, D::Int(30), None, IMPL, Ferricorn,
        "Seconds of inactivity allowed while reading a request body (0 = no limit)."),
    row("write_timeout", S::Ferricorn, &["--write-timeout"], "INT", K::Int, D::Int(30), None, IMPL, Ferricorn,
        "Seconds a response write may wait for the client to read (0 = no limit); a client that stops reading is disconnected after this."),
    row("request_timeout", S::Ferricorn, &["--request-timeout"], "INT", K::Int, D::Int(0), None, IMPL, Ferricorn,
        "Seconds after which a running request is reported in the error log with every Python thread's stack (0 = off); the request is not interrupted."),
    row("max_worker_memory", S::Ferricorn, &["--max-worker-memory"], "INT", K::Int, D::Int(0), None, IMPL, Ferricorn,
        "Resident memory in MiB above which the master recycles a worker gracefully (0 = no limit), like uWSGI's reload-on-rss."),
    row("limit_request_body", S::Ferricorn, &["--limit-request-body"], "INT", K::Int, D::Int(0), None, IMPL, Ferricorn,
        "Largest request body accepted, in bytes (0 = no limit); a larger one is answered 413."),
];

/// Look a setting up by its Gunicorn name.
pub fn find(name: &str) -> Option<(usize, &'static Setting)> {
    SETTINGS.iter().enumerate().find(|(_, s)| s.name == name)
}
