//! ferricorn's Rust core, exposed to Python as `ferricorn._ferricorn`.
//!
//! `run(argv)` is the whole program: parse the command line, prepare the
//! Python side of the master (chdir, sys.path, environment), bind the
//! listeners, and hand over to the arbiter. Every user error is one line on
//! stderr and a non-zero status; nothing here lets a panic or a traceback
//! reach the user.
//!
//! Layout: `config` (settings and CLI), `listeners` (sockets), `arbiter`
//! (master process), `scoreboard` (heartbeats), `worker` (event loop,
//! connections, app threads), `http` (HTTP/1.1 parsing and encoding), `wsgi`
//! (the PEP 3333 bridge), `rawio` (blocking I/O for app threads), `logging`,
//! `pidfile`, `systemd` (socket activation, sd_notify), `daemon`
//! (`--daemon`), `privileges` (`--user`/`--group`), `proctitle` (process
//! titles).

pub mod arbiter;
pub mod config;
pub mod daemon;
pub mod gil;
pub mod hooks;
pub mod http;
pub mod listeners;
pub mod logging;
pub mod memory;
pub mod pidfile;
pub mod privileges;
pub mod proctitle;
pub mod rawio;
pub mod scoreboard;
pub mod statsd;
pub mod syslog;
pub mod systemd;
pub mod worker;
pub mod wsgi;

use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::PyList;

use config::{Command, Config};

/// Exit status for command-line errors (argparse's).
const USAGE_ERROR: i32 = 2;

/// The logconfig family (`logconfig_dict`, `--log-config-json`,
/// `--log-config`): Python's `logging` takes over the error and access logs,
/// set up as Gunicorn does it, in the master before any fork.
fn setup_python_logging(py: Python<'_>, cfg: &Config) -> Result<(), String> {
    if cfg.logconfig.is_none() && cfg.logconfig_json.is_none() && !cfg.logconfig_dict {
        return Ok(());
    }
    let m = py
        .import("ferricorn._logging")
        .map_err(|e| format!("cannot load ferricorn._logging: {e}"))?;
    m.call_method1(
        "setup",
        (
            cfg.loglevel.as_str(),
            cfg.errorlog.as_str(),
            cfg.accesslog.as_deref(),
            cfg.logconfig.as_deref(),
            cfg.logconfig_json.as_deref(),
            cfg.logconfig_dict,
        ),
    )
    .map_err(|e| e.value(py).to_string())?;
    logging::use_python_logging();
    Ok(())
}

fn fail(msg: &str) -> i32 {
    eprintln!("{msg}");
    1
}

/// Applies `--chdir`, `--pythonpath` and `-e` in the master, before any
/// worker exists, as Gunicorn does; the app is imported later, in workers.
/// Also used on HUP (from the launch directory): entries already on
/// `sys.path` are not added twice.
pub(crate) fn prepare_python(py: Python<'_>, cfg: &Config) -> Result<(), String> {
    if let Some(dir) = &cfg.chdir {
        std::env::set_current_dir(dir)
            .map_err(|e| format!("ferricorn: error: cannot chdir to {}: {e}", dir.display()))?;
    }
    let r = (|| -> PyResult<()> {
        let os = py.import("os")?;
        let environ = os.getattr("environ")?;
        for (k, v) in &cfg.raw_env {
            environ.set_item(k, v)?;
        }
        let sys = py.import("sys")?;
        let path = sys.getattr("path")?.cast_into::<PyList>()?;
        let cwd = os.call_method0("getcwd")?;
        // The current directory first, so `module:app` next to the user resolves.
        if !path.contains(&cwd)? {
            path.insert(0, &cwd)?;
        }
        let mut at = 0;
        for p in &cfg.pythonpath {
            if !path.contains(p)? {
                path.insert(at, p)?;
                at += 1;
            }
        }
        Ok(())
    })();
    r.map_err(|e| format!("ferricorn: error: cannot prepare the Python environment: {e}"))
}

/// HUP, before the configuration is read again: the variables `-e` set go
/// back to their launch values (or away), as Gunicorn restores them, so
/// `GUNICORN_CMD_ARGS` and friends are read as they were at launch.
pub(crate) fn unapply_env(py: Python<'_>, cfg: &Config, launch: &arbiter::Launch) {
    let Ok(environ) = py.import("os").and_then(|os| os.getattr("environ")) else {
        return;
    };
    for (k, _) in &cfg.raw_env {
        let orig = launch
            .env
            .iter()
            .find(|(name, _)| name.as_os_str() == std::ffi::OsStr::new(k))
            .map(|(_, v)| v.to_string_lossy().into_owned());
        let _ = match orig {
            Some(v) => environ.set_item(k, v),
            None => environ.call_method1("pop", (k, py.None())).map(|_| ()),
        };
    }
}

/// HUP: reads the configuration exactly as at launch (same arguments, from
/// the launch directory, config file executed again). On success the
/// working directory is the launch directory (the caller applies
/// `--chdir`); on failure it is unchanged. Errors are one line.
pub(crate) fn reload_config(py: Python<'_>, launch: &arbiter::Launch) -> Result<Config, String> {
    let here = std::env::current_dir().ok();
    std::env::set_current_dir(&launch.cwd)
        .map_err(|e| format!("cannot enter {}: {e}", launch.cwd.display()))?;
    let load_file = |path: &str| load_config_file(py, path);
    let parsed = config::parse(&launch.args, &|k| std::env::var(k).ok(), &load_file);
    let r = match parsed {
        Ok(Command::Run(cfg)) if cfg.app_uri.is_some() => return Ok(cfg),
        Ok(Command::Run(_)) => Err("No application module specified.".to_string()),
        Ok(_) => Err("the configuration now asks for --help, --version or a check".to_string()),
        Err(e) => Err(e
            .0
            .strip_prefix("ferricorn: error: ")
            .unwrap_or(&e.0)
            .to_string()),
    };
    if let Some(h) = here {
        let _ = std::env::set_current_dir(h);
    }
    r
}

/// Checks that the application's top-level module exists, without running
/// any of its code, so a typo fails fast with one line instead of booting workers.
pub(crate) fn check_app_module(py: Python<'_>, uri: &str) -> Result<(), String> {
    let module = uri.split(':').next().unwrap_or_default();
    let r = py
        .import("ferricorn._loader")
        .and_then(|l| l.call_method1("find_module", (module,)).map(|_| ()));
    match r {
        Ok(()) => Ok(()),
        Err(e) => Err(format!("ferricorn: error: {}", e.value(py))),
    }
}

/// Executes a config file through `ferricorn._config` and converts what it
/// defines into setting inputs; errors are one line.
fn load_config_file(py: Python<'_>, path: &str) -> Result<Vec<(String, config::Input)>, String> {
    use config::Input;
    let module = py
        .import("ferricorn._config")
        .map_err(|e| format!("cannot load ferricorn._config: {e}"))?;
    let pairs = match module.call_method1("load", (path,)) {
        Ok(p) => p,
        Err(e) => return Err(e.value(py).to_string()),
    };
    let pairs: Vec<(String, (String, Bound<'_, PyAny>))> = pairs
        .extract()
        .map_err(|e| format!("config file {path:?}: {e}"))?;
    let mut out = Vec::with_capacity(pairs.len());
    for (name, (tag, value)) in pairs {
        let bad = |e: PyErr| format!("config file {path:?}: {name}: {e}");
        let input = match tag.as_str() {
            "none" => Input::None,
            "bool" => Input::Bool(value.extract().map_err(bad)?),
            // Python ints are unbounded; anything past i128 is out of range anyway.
            "int" => match value.extract::<i128>() {
                Ok(n) => Input::Int(n),
                Err(_) => Input::Str(value.to_string()),
            },
            "str" => Input::Str(value.extract().map_err(bad)?),
            "list" => Input::List(value.extract().map_err(bad)?),
            "dict" => Input::Dict(value.extract().map_err(bad)?),
            _ => Input::Object(value.extract().map_err(bad)?),
        };
        out.push((name, input));
    }
    Ok(out)
}

fn flush_python_stdio(py: Python<'_>) {
    if let Ok(sys) = py.import("sys") {
        for name in ["stdout", "stderr"] {
            if let Ok(s) = sys.getattr(name) {
                let _ = s.call_method0("flush");
            }
        }
    }
}

/// `--preload`: imports the application in the master, then freezes the
/// garbage collector's view of everything imported so far (`gc.freeze()`),
/// so forked workers do not touch — and copy — those pages when they collect.
/// An error is one line and the exit status a worker would have had.
fn preload(py: Python<'_>, uri: &str) -> Result<Py<PyAny>, (String, i32)> {
    use wsgi::app::LoadError;
    let err = |msg: &str, code| (format!("ferricorn: error: {msg}"), code);
    match wsgi::app::load_callable(py, uri) {
        Ok(app) => {
            if let Err(e) = py.import("gc").and_then(|gc| gc.call_method0("freeze")) {
                logging::warning(&format!("gc.freeze() failed: {e}"));
            }
            Ok(app)
        }
        Err(LoadError::User(msg)) => Err(err(&msg, arbiter::WORKER_BOOT_ERROR)),
        Err(LoadError::App { message, exit_code }) => Err(err(&message, exit_code)),
        Err(LoadError::Traceback { summary, traceback }) => {
            logging::debug(&traceback);
            Err(err(&summary, arbiter::WORKER_BOOT_ERROR))
        }
    }
}

/// `--check-config`: the settings parsed; now import the application in
/// this process (as Gunicorn does) and report. Exit 0 when it loads.
fn check_config(py: Python<'_>, cfg: &Config) -> i32 {
    let Some(uri) = cfg.app_uri.as_deref() else {
        eprintln!("ferricorn: error: No application module specified.");
        return USAGE_ERROR;
    };
    if let Err(e) = prepare_python(py, cfg) {
        return fail(&e);
    }
    let r = py
        .import("ferricorn._loader")
        .and_then(|l| l.call_method1("load", (uri,)).map(|_| ()));
    match r {
        Ok(()) => 0,
        Err(e) => {
            let msg = py
                .import("ferricorn._loader")
                .and_then(|l| l.call_method1("summarize", (e.value(py),)))
                .and_then(|s| s.extract::<String>())
                .unwrap_or_else(|_| e.to_string());
            fail(&format!("ferricorn: error: cannot load {uri:?}: {msg}"))
        }
    }
}

/// The launch directory as Gunicorn computes it: `$PWD` when it names the
/// current directory (so a path through a symlink is kept), else getcwd.
fn launch_dir() -> std::path::PathBuf {
    use std::os::unix::fs::MetadataExt;
    let cwd = std::env::current_dir().unwrap_or_else(|_| std::path::PathBuf::from("."));
    if let Some(pwd) = std::env::var_os("PWD") {
        if let (Ok(a), Ok(b)) = (std::fs::metadata(&pwd), std::fs::metadata(&cwd)) {
            if a.dev() == b.dev() && a.ino() == b.ino() {
                return std::path::PathBuf::from(pwd);
            }
        }
    }
    cwd
}

/// Records how we were started (for USR2 and HUP) before anything changes it.
fn capture_launch(py: Python<'_>, args: &[String]) -> arbiter::Launch {
    use std::ffi::CString;
    let env = std::env::vars_os()
        .filter(|(k, _)| {
            !listeners::HANDOVER_VARS
                .iter()
                .any(|h| k.as_os_str() == std::ffi::OsStr::new(h))
        })
        .collect();
    let (exe, exec_argv) = (|| -> PyResult<(Option<CString>, Vec<CString>)> {
        let sys = py.import("sys")?;
        let exe: Option<String> = sys.getattr("executable")?.extract()?;
        let Some(exe) = exe.filter(|e| !e.is_empty()) else {
            return Ok((None, Vec::new()));
        };
        // The interpreter's own arguments (`-m ferricorn`, a script path)
        // followed by ours, exactly as this process was started.
        let orig: Vec<String> = match sys.getattr("orig_argv") {
            Ok(v) => v.extract()?,
            Err(_) => {
                let mut v = vec![exe.clone()];
                v.extend(sys.getattr("argv")?.extract::<Vec<String>>()?);
                v
            }
        };
        let mut argv = vec![exe.clone()];
        argv.extend(orig.into_iter().skip(1));
        let argv: Vec<CString> = argv
            .into_iter()
            .filter_map(|a| CString::new(a).ok())
            .collect();
        Ok((CString::new(exe).ok(), argv))
    })()
    .unwrap_or((None, Vec::new()));
    arbiter::Launch {
        args: args.to_vec(),
        exe,
        exec_argv,
        cwd: launch_dir(),
        env,
    }
}

/// Removes the hand-over variables from the environment (Python's view
/// and the C library's), so workers and the application never see them.
fn forget_handover_vars(py: Python<'_>) {
    let environ = py.import("os").and_then(|os| os.getattr("environ"));
    for var in listeners::HANDOVER_VARS {
        if let Ok(environ) = &environ {
            let _ = environ.call_method1("pop", (var, py.None()));
        }
        // SAFETY: the master is single-threaded at this point.
        unsafe { std::env::remove_var(var) };
    }
}

#[pyfunction]
fn run(py: Python<'_>, argv: Vec<String>) -> i32 {
    let args = argv.get(1..).unwrap_or_default();
    let launch = capture_launch(py, args);
    // While this is the only thread (before a preloaded app can start one).
    proctitle::init();
    let load_file = |path: &str| load_config_file(py, path);
    let cmd = match config::parse(args, &|k| std::env::var(k).ok(), &load_file) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{}", e.0);
            return USAGE_ERROR;
        }
    };
    let cfg = match cmd {
        Command::Help(text) => {
            print!("{text}");
            return 0;
        }
        Command::Version(text) => {
            println!("{text}");
            return 0;
        }
        Command::PrintConfig(text, cfg) => {
            println!("{text}");
            return if cfg.app_uri.is_some() {
                check_config(py, &cfg)
            } else {
                0
            };
        }
        Command::CheckConfig(cfg) => return check_config(py, &cfg),
        Command::Run(cfg) => cfg,
    };
    let Some(uri) = cfg.app_uri.clone() else {
        eprintln!("ferricorn: error: No application module specified.");
        return USAGE_ERROR;
    };
    // Sockets and the old master's pid handed over by whoever started us:
    // systemd (LISTEN_FDS) or a master re-executing itself on USR2.
    // SAFETY: getpid cannot fail.
    let pid = unsafe { libc::getpid() };
    let env = |k: &str| std::env::var(k).ok();
    let inherited = match listeners::inherited_from_env(&env, pid) {
        Ok(i) => i,
        Err(e) => return fail(&e),
    };
    let master_pid = ["FERRICORN_PID", "GUNICORN_PID"]
        .iter()
        .find_map(|k| env(k))
        .and_then(|v| v.trim().parse::<libc::pid_t>().ok())
        .filter(|p| *p > 0)
        .unwrap_or(0);
    forget_handover_vars(py);
    let owner = match check_master_settings(&cfg) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            return USAGE_ERROR;
        }
    };
    if let Err(e) = logging::init(
        &cfg.errorlog,
        cfg.loglevel,
        cfg.accesslog.as_deref(),
        &cfg.access_log_format,
    ) {
        return fail(&e);
    }
    if let Err(e) = logging::init_extras(&cfg) {
        eprintln!("{e}");
        return USAGE_ERROR;
    }
    if let Err(e) = setup_python_logging(py, &cfg) {
        eprintln!("ferricorn: error: {e}");
        return USAGE_ERROR;
    }
    if let Some(owner) = &owner {
        give_log_files(&cfg, owner);
    }
    if cfg.capture_output && cfg.errorlog != "-" {
        flush_python_stdio(py);
        logging::capture_output();
    }
    if let Err(e) = prepare_python(py, &cfg) {
        return fail(&e);
    }
    if let Err(e) = check_app_module(py, &uri) {
        eprintln!("{e}");
        return arbiter::WORKER_BOOT_ERROR;
    }
    // --daemon: detach once everything that can fail on the command line
    // has been checked (the sockets are bound), but not in a master started
    // by a USR2 re-exec (its parent already detached), as in Gunicorn.
    let detach = cfg.daemon && master_pid == 0 && (inherited.fds.is_empty() || inherited.systemd);
    let mut preloaded = None;
    if cfg.preload_app && !detach {
        match preload(py, &uri) {
            Ok(app) => preloaded = Some(app),
            Err((msg, code)) => {
                eprintln!("{msg}");
                return code;
            }
        }
    }
    if let Some(path) = &cfg.pidfile {
        if let Err(e) = pidfile::check(&pidfile::name_for(path, master_pid != 0)) {
            return fail(&e);
        }
    }
    hooks::configure(py, &cfg);
    if hooks::defined(hooks::Hook::OnStarting) {
        if let Err(e) = hooks::call_fatal(py, "master_event", ("on_starting",)) {
            return fail(&format!("on_starting hook failed: {e}"));
        }
    }
    let bind_opts = bind_options(&cfg, owner.as_ref());
    let listeners = match listeners::bind_all(&cfg.bind, bind_opts, &inherited) {
        Ok(l) => l,
        Err(e) => return fail(&e),
    };
    if detach {
        flush_python_stdio(py);
        if let Err(e) = daemon::daemonize(py, cfg.enable_stdio_inheritance) {
            return fail(&e);
        }
        if cfg.capture_output && cfg.errorlog != "-" {
            logging::capture_output();
        }
        if cfg.preload_app {
            // After the fork: threads the application starts must live in
            // the daemon. Errors go to the error log; stderr is gone.
            match preload(py, &uri) {
                Ok(app) => preloaded = Some(app),
                Err((msg, code)) => {
                    logging::error(msg.strip_prefix("ferricorn: error: ").unwrap_or(&msg));
                    listeners::cleanup(&listeners);
                    return code;
                }
            }
        }
    }
    let startup = arbiter::Startup {
        launch,
        master_pid,
        systemd: inherited.systemd,
        owner,
    };
    let arbiter = match arbiter::Arbiter::new(Arc::new(cfg), listeners, preloaded, startup) {
        Ok(a) => a,
        Err(e) => return fail(&e),
    };
    arbiter.run(py)
}

/// Settings the master checks itself before it starts (or reloads):
/// `--worker-tmp-dir` must be a directory, and `--user`/`--group` must
/// name existing ids. Returns who workers run as; errors are one line.
pub(crate) fn check_master_settings(cfg: &Config) -> Result<Option<privileges::Owner>, String> {
    if let Some(dir) = &cfg.worker_tmp_dir {
        if !dir.is_dir() {
            return Err(format!(
                "ferricorn: error: argument --worker-tmp-dir: not a directory: {:?}",
                dir.display().to_string()
            ));
        }
    }
    privileges::resolve(cfg.user.as_deref(), cfg.group.as_deref(), cfg.initgroups)
        .map_err(|e| format!("ferricorn: error: {e}"))
}

/// The socket options of `cfg` that apply when binding; unix socket files
/// go to `--user`/`--group` when given.
pub(crate) fn bind_options(
    cfg: &Config,
    owner: Option<&privileges::Owner>,
) -> listeners::BindOptions {
    listeners::BindOptions {
        backlog: cfg.backlog,
        reuse_port: cfg.reuse_port,
        umask: cfg.umask,
        owner: owner.map(|o| (o.uid, o.gid)),
    }
}

/// Gives the log files to `--user`/`--group`, as Gunicorn does, so workers
/// can reopen them after USR1. A failure is a warning (Gunicorn ignores it).
pub(crate) fn give_log_files(cfg: &Config, owner: &privileges::Owner) {
    let files = [Some(cfg.errorlog.as_str()), cfg.accesslog.as_deref()];
    for path in files.into_iter().flatten().filter(|p| *p != "-") {
        if let Err(e) = privileges::chown_path(path, owner) {
            logging::warning(&e);
        }
    }
}

#[pymodule]
fn _ferricorn(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(run, m)?)?;
    m.add_function(wrap_pyfunction!(hooks::_log, m)?)?;
    m.add_function(wrap_pyfunction!(hooks::_metric, m)?)?;
    m.add_class::<wsgi::file_wrapper::FileWrapper>()?;
    Ok(())
}
