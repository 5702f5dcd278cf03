//! The master process: binds nothing itself (the caller hands it listeners),
//! forks workers, watches them and obeys Gunicorn's signals.
//!
//! Owns: the set of live workers, their heartbeat slots, the self-pipe that
//! turns signals into loop events, the decisions to respawn, scale,
//! reload, time out or halt, and the USR2 upgrade: forking a child that
//! executes a new master with the listening sockets (`GUNICORN_FD`), and,
//! in that new master, taking over (pid file, name) once the old one exits.
//!
//! Must never: start a thread or a tokio runtime (it forks at any moment, and
//! a fork only copies the calling thread), call into the application, or
//! block anywhere but in `poll(2)` on the signal pipe.

use std::collections::HashMap;
use std::ffi::{CString, OsString};
use std::os::fd::RawFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;

use pyo3::prelude::*;

use crate::config::Config;
use crate::listeners::Listener;
use crate::logging;
use crate::scoreboard::{now_ms, Scoreboard, SLOTS};

/// Exit status of a worker whose application could not be imported
/// (Gunicorn's WORKER_BOOT_ERROR); the master halts with it.
pub const WORKER_BOOT_ERROR: i32 = 3;
/// Exit status of a worker whose application failed to load (APP_LOAD_ERROR).
pub const APP_LOAD_ERROR: i32 = 4;

/// Signals the master acts on, all delivered through the self-pipe.
const HANDLED: [libc::c_int; 10] = [
    libc::SIGHUP,
    libc::SIGTERM,
    libc::SIGINT,
    libc::SIGQUIT,
    libc::SIGTTIN,
    libc::SIGTTOU,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGWINCH,
    libc::SIGCHLD,
];

static SIGNAL_PIPE_W: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_signal(sig: libc::c_int) {
    // Only async-signal-safe work here: one write(2) of the signal number.
    // A full pipe drops the byte, which is harmless: the loop drains what is
    // there, and SIGCHLD is also handled by the periodic reap.
    let fd = SIGNAL_PIPE_W.load(Ordering::Relaxed);
    if fd >= 0 {
        let saved = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
        let b = sig as u8;
        // SAFETY: writing one byte from a valid stack location.
        unsafe { libc::write(fd, (&b as *const u8).cast(), 1) };
        // SAFETY: restoring errno so the interrupted code sees its own value.
        unsafe { *libc::__errno_location() = saved };
    }
}

fn signal_name(sig: libc::c_int) -> String {
    // SAFETY: strsignal returns a pointer to a static or thread-local string.
    let s = unsafe { std::ffi::CStr::from_ptr(libc::strsignal(sig)) };
    match sig {
        libc::SIGKILL => "SIGKILL".into(),
        libc::SIGTERM => "SIGTERM".into(),
        libc::SIGINT => "SIGINT".into(),
        libc::SIGQUIT => "SIGQUIT".into(),
        libc::SIGABRT => "SIGABRT".into(),
        libc::SIGSEGV => "SIGSEGV".into(),
        libc::SIGHUP => "SIGHUP".into(),
        libc::SIGTTIN => "SIGTTIN".into(),
        libc::SIGTTOU => "SIGTTOU".into(),
        libc::SIGUSR1 => "SIGUSR1".into(),
        libc::SIGUSR2 => "SIGUSR2".into(),
        libc::SIGWINCH => "SIGWINCH".into(),
        _ => s.to_string_lossy().into_owned(),
    }
}

/// Installs `handler` (or SIG_DFL when None) for every signal the master handles.
/// Blocks every signal for this thread; returns the previous mask.
fn block_all_signals() -> libc::sigset_t {
    // SAFETY: plain sigset manipulation on stack values.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_BLOCK, &all, &mut old);
        old
    }
}

fn restore_signals(mask: &libc::sigset_t) {
    // SAFETY: restoring a mask returned by pthread_sigmask.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, mask, std::ptr::null_mut()) };
}

/// In a new worker, once its own handlers are installed: no signal blocked.
pub fn unblock_all_signals() {
    // SAFETY: an empty set; pthread_sigmask has no other preconditions.
    unsafe {
        let mut none: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut none);
        libc::pthread_sigmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
    }
}

fn set_handlers(handler: Option<extern "C" fn(libc::c_int)>) {
    for sig in HANDLED {
        // SAFETY: a zeroed sigaction with a valid handler address or SIG_DFL.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = match handler {
                Some(h) => h as *const () as usize,
                None => libc::SIG_DFL,
            };
            sa.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
}

/// Names this process for `top` and `ps -o comm` (the kernel's 15-byte
/// comm): `NAME-master` / `NAME-worker` with `-n NAME`. The full title
/// (`ps -f`, `/proc/PID/cmdline`) is [`set_title`]'s.
pub fn set_process_name(cfg: &Config, role: &str) {
    let Some(name) = cfg.proc_name.as_deref() else {
        return;
    };
    let base: String = name.chars().filter(|c| !c.is_control()).take(8).collect();
    let mut comm = format!("{base}-{role}").into_bytes();
    comm.truncate(15);
    comm.push(0);
    // SAFETY: PR_SET_NAME reads a NUL-terminated string of at most 16 bytes.
    unsafe { libc::prctl(libc::PR_SET_NAME, comm.as_ptr() as libc::c_ulong, 0, 0, 0) };
}

/// Sets the process title as Gunicorn does with setproctitle:
/// `ferricorn: master [NAME]` / `ferricorn: worker [NAME]`, NAME being `-n`,
/// else the application (`module:app`), with `.2` appended in the second
/// master of a USR2 upgrade (and its workers) until it is promoted.
pub fn set_title(cfg: &Config, role: &str, second: bool) {
    let suffix = if second { ".2" } else { "" };
    crate::proctitle::set(&format!(
        "ferricorn: {role} [{}{suffix}]",
        cfg.proc_title_base()
    ));
}

/// Whether a hook that runs in the master is defined (then the master keeps
/// `_hooks`' view of its workers up to date).
fn master_hooks() -> bool {
    use crate::hooks::{defined, Hook};
    [
        Hook::WhenReady,
        Hook::OnReload,
        Hook::PreFork,
        Hook::ChildExit,
        Hook::NworkersChanged,
        Hook::PreExec,
        Hook::OnExit,
    ]
    .into_iter()
    .any(defined)
}

/// Runs `hook(server)` (on_reload, pre_exec, on_exit) if it is defined;
/// a failure is logged by `hooks`.
fn master_hook(py: Python<'_>, hook: crate::hooks::Hook, num_workers: usize) {
    if crate::hooks::defined(hook) {
        crate::hooks::call(py, "master_event", (hook.name(), num_workers));
    }
}

/// How this server was started, kept for USR2 (execute the same program
/// again) and HUP (read the same configuration again).
#[derive(Debug, Clone, Default)]
pub struct Launch {
    /// The arguments `run()` was given, without argv[0].
    pub args: Vec<String>,
    /// `sys.executable`; None when Python does not know it (USR2 then
    /// refuses with an error line).
    pub exe: Option<CString>,
    /// The argv to execute: `sys.executable` and the interpreter's original
    /// arguments (`sys.orig_argv[1:]`, e.g. `-m ferricorn ...`).
    pub exec_argv: Vec<CString>,
    /// The working directory at launch (before `--chdir`), `$PWD` when that
    /// names the same directory, so a deploy that moved a symlink is seen.
    pub cwd: PathBuf,
    /// The environment at launch, before `-e` and without the handover
    /// variables (`LISTEN_*`, `GUNICORN_FD`, ...).
    pub env: Vec<(OsString, OsString)>,
}

/// What the master learns before it starts.
#[derive(Debug, Default)]
pub struct Startup {
    pub launch: Launch,
    /// The master that re-executed us on USR2, or 0. While it lives, this
    /// master is "Master.2" and writes `<pidfile>.2`.
    pub master_pid: libc::pid_t,
    /// The listeners came from systemd socket activation.
    pub systemd: bool,
    /// `--user`/`--group`: who workers become after fork.
    pub owner: Option<crate::privileges::Owner>,
}

/// What a worker child needs from the master, handed over at fork.
pub struct WorkerBoot<'a> {
    pub cfg: &'a Arc<Config>,
    /// The application imported by the master (`--preload`), inherited at fork.
    pub preloaded: Option<&'a pyo3::Py<pyo3::PyAny>>,
    pub listeners: &'a [Listener],
    pub scoreboard: &'a Scoreboard,
    pub slot: usize,
    /// Gunicorn's worker age: the spawn counter when this worker was made.
    pub age: u64,
    pub master_pid: libc::pid_t,
}

struct WorkerInfo {
    slot: usize,
    age: u64,
    aborted_at: Option<u64>,
    /// The heartbeat stamp the master wrote at spawn; the worker has booted
    /// (imported the application, started its loop) once its own first
    /// beat replaces it.
    spawned_ms: u64,
    booted: bool,
    /// Sent TERM to leave (surplus, old generation after a HUP, WINCH,
    /// over --max-worker-memory, server stopping): no longer counted as one
    /// of the `num_workers`.
    retiring: bool,
    /// When it was sent TERM to retire: SIGKILL after --graceful-timeout.
    retired_at: Option<u64>,
}

/// A HUP in progress: the new generation of workers (age above `boundary`)
/// is booting while the old one keeps serving. When every new worker has
/// booted, the old ones are stopped gracefully; if a new worker cannot boot
/// (exit 3 or 4), the new ones are stopped and everything below comes back.
struct PendingReload {
    boundary: u64,
    old_cfg: Arc<Config>,
    old_num_workers: usize,
    old_owner: Option<crate::privileges::Owner>,
    /// Listeners bound for the new configuration (closed on failure).
    added: Vec<RawFd>,
    /// Listeners the new configuration dropped (closed on success).
    retired: Vec<Listener>,
    old_pidfile: Option<String>,
}

pub struct Arbiter {
    launch: Launch,
    /// The old master while we are the second one of a USR2 upgrade, else 0.
    master_pid: libc::pid_t,
    /// The child executing a new master after USR2, while it lives, else 0.
    reexec_pid: libc::pid_t,
    systemd: bool,
    /// `--user`/`--group` of the configuration in force.
    owner: Option<crate::privileges::Owner>,
    /// The pid file this master wrote (`--pid`, or `<pid>.2`).
    pidfile: Option<String>,
    cfg: Arc<Config>,
    preloaded: Option<pyo3::Py<pyo3::PyAny>>,
    listeners: Vec<Listener>,
    scoreboard: Scoreboard,
    workers: HashMap<libc::pid_t, WorkerInfo>,
    num_workers: usize,
    next_age: u64,
    pipe_r: RawFd,
    pipe_w: RawFd,
    pid: libc::pid_t,
    halt: Option<(i32, String)>,
    /// READY=1 is owed to systemd once every worker has booted.
    ready_pending: bool,
    reload: Option<PendingReload>,
    /// Why the pending reload failed (a new worker could not boot); acted
    /// on by the main loop.
    reload_failed: Option<String>,
}

impl Arbiter {
    pub fn new(
        cfg: Arc<Config>,
        listeners: Vec<Listener>,
        preloaded: Option<pyo3::Py<pyo3::PyAny>>,
        startup: Startup,
    ) -> Result<Arbiter, String> {
        let scoreboard = Scoreboard::new()
            .map_err(|e| format!("ferricorn: error: cannot map scoreboard: {e}"))?;
        let mut fds = [0 as RawFd; 2];
        // SAFETY: pipe2 fills both descriptors on success.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) } != 0 {
            return Err(format!(
                "ferricorn: error: cannot create signal pipe: {}",
                std::io::Error::last_os_error()
            ));
        }
        let num_workers = cfg.workers.max(1) as usize;
        Ok(Arbiter {
            launch: startup.launch,
            master_pid: startup.master_pid,
            reexec_pid: 0,
            systemd: startup.systemd,
            owner: startup.owner,
            pidfile: None,
            cfg,
            preloaded,
            listeners,
            scoreboard,
            workers: HashMap::new(),
            num_workers,
            next_age: 0,
            pipe_r: fds[0],
            pipe_w: fds[1],
            // SAFETY: getpid cannot fail.
            pid: unsafe { libc::getpid() },
            halt: None,
            ready_pending: false,
            reload: None,
            reload_failed: None,
        })
    }

    /// Runs the master until it stops; returns the process exit status.
    pub fn run(mut self, py: Python<'_>) -> i32 {
        SIGNAL_PIPE_W.store(self.pipe_w, Ordering::Relaxed);
        set_handlers(Some(on_signal));
        self.refresh_names();
        if let Some(path) = self.cfg.pidfile.clone() {
            let name = crate::pidfile::name_for(&path, self.master_pid != 0);
            if let Err(e) = crate::pidfile::create(&name, self.pid) {
                logging::error(&e);
                return self.finish(1);
            }
            self.pidfile = Some(name);
        }
        logging::info(&format!("Starting ferricorn {}", env!("CARGO_PKG_VERSION")));
        for l in &self.listeners {
            logging::info(&format!("Listening at: {} ({})", l.url(), self.pid));
        }
        let kind = if self.cfg.threads > 1 {
            "gthread"
        } else {
            "sync"
        };
        logging::info(&format!("Using worker: {kind}"));
        if crate::hooks::defined(crate::hooks::Hook::WhenReady) {
            // As in Gunicorn: after binding, before the first fork; an
            // exception stops the server.
            let r = crate::hooks::call_fatal(py, "master_event", ("when_ready", self.num_workers));
            if let Err(e) = r {
                logging::error(&format!("when_ready hook failed: {e}"));
                return self.finish(1);
            }
        }
        self.nworkers_changed(py, None);

        self.manage_workers(py);
        self.ready_pending = true;
        loop {
            self.maybe_promote();
            self.reap_workers();
            if let Some((code, reason)) = self.halt.take() {
                crate::systemd::notify("STOPPING=1");
                self.stop(py, false);
                logging::info(&format!("Shutting down: {}", self.master_name()));
                if !reason.is_empty() {
                    logging::info(&format!("Reason: {reason}"));
                }
                return self.finish(code);
            }
            if let Some(reason) = self.reload_failed.take() {
                self.abort_reload(py, &reason);
            }
            self.update_boot_state();
            self.murder_workers();
            self.check_memory();
            self.manage_workers(py);
            crate::logging::gauge_workers(self.workers.len());
            // Look again soon while workers are booting (readiness, a
            // reload waiting for its new workers), else once a second.
            let wait = if self.ready_pending || self.reload.is_some() {
                100
            } else {
                1000
            };
            for sig in self.wait_for_signals(wait) {
                match sig {
                    libc::SIGCHLD => {}
                    libc::SIGTERM => {
                        logging::info("Handling signal: term");
                        crate::systemd::notify("STOPPING=1");
                        self.stop(py, true);
                        logging::info(&format!("Shutting down: {}", self.master_name()));
                        return self.finish(0);
                    }
                    libc::SIGINT | libc::SIGQUIT => {
                        let name = if sig == libc::SIGINT { "int" } else { "quit" };
                        logging::info(&format!("Handling signal: {name}"));
                        crate::systemd::notify("STOPPING=1");
                        self.stop(py, false);
                        logging::info(&format!("Shutting down: {}", self.master_name()));
                        return self.finish(0);
                    }
                    libc::SIGHUP => {
                        logging::info("Handling signal: hup");
                        logging::info(&format!("Hang up: {}", self.master_name()));
                        self.reload(py);
                    }
                    libc::SIGTTIN => {
                        logging::info("Handling signal: ttin");
                        if self.num_workers < SLOTS {
                            self.num_workers += 1;
                            self.nworkers_changed(py, Some(self.num_workers - 1));
                        }
                    }
                    libc::SIGTTOU => {
                        logging::info("Handling signal: ttou");
                        if self.num_workers > 1 {
                            self.num_workers -= 1;
                            self.nworkers_changed(py, Some(self.num_workers + 1));
                        }
                    }
                    libc::SIGUSR1 => {
                        logging::info("Handling signal: usr1");
                        logging::reopen();
                        if let Some(o) = &self.owner {
                            // Files logrotate moved away were just created
                            // by the master: the workers must be able to
                            // open them too.
                            crate::give_log_files(&self.cfg, o);
                        }
                        self.kill_all(libc::SIGUSR1);
                    }
                    libc::SIGUSR2 => {
                        logging::info("Handling signal: usr2");
                        self.reexec(py);
                    }
                    libc::SIGWINCH => {
                        logging::info("Handling signal: winch");
                        if self.cfg.daemon {
                            // Gunicorn's step between USR2 and TERM for a
                            // daemon: the old workers go, the master stays
                            // (HUP or TTIN bring workers back).
                            logging::info("graceful stop of workers");
                            let old = self.num_workers;
                            self.num_workers = 0;
                            self.nworkers_changed(py, Some(old));
                            if let Some(p) = self.reload.take() {
                                self.close_listeners(p.retired);
                            }
                            self.retire_where(|_| true);
                        } else {
                            logging::debug("SIGWINCH ignored. Not daemonized");
                        }
                    }
                    other => {
                        logging::info(&format!(
                            "Ignoring signal {} (not supported yet)",
                            signal_name(other)
                        ));
                    }
                }
            }
        }
    }

    /// "Master", or "Master.2" while the old master of a USR2 upgrade lives.
    fn master_name(&self) -> &'static str {
        if self.master_pid != 0 {
            "Master.2"
        } else {
            "Master"
        }
    }

    /// Whether a stop may remove the unix socket files: not while the other
    /// master of a USR2 upgrade still serves on them, and never systemd's.
    fn may_unlink(&self) -> bool {
        self.reexec_pid == 0 && self.master_pid == 0 && !self.systemd
    }

    /// Second master of a USR2 upgrade whose parent (the old master) is
    /// gone: take over its name and its pid file, as Gunicorn does.
    fn maybe_promote(&mut self) {
        // SAFETY: getppid cannot fail.
        if self.master_pid == 0 || unsafe { libc::getppid() } == self.master_pid {
            return;
        }
        logging::info("Master has been promoted.");
        self.master_pid = 0;
        self.refresh_names();
        if let (Some(from), Some(to)) = (self.pidfile.clone(), self.cfg.pidfile.clone()) {
            match crate::pidfile::rename(&from, &to, self.pid) {
                Ok(()) => self.pidfile = Some(to),
                Err(e) => logging::error(&e),
            }
        }
    }

    /// USR2: fork a child that executes the same program again, in the
    /// launch directory with the launch environment, handing it the
    /// listening sockets. This master and its workers carry on; the new
    /// master starts its own workers on the same sockets.
    fn reexec(&mut self, py: Python<'_>) {
        if self.reexec_pid != 0 {
            logging::warning("USR2 signal ignored. Child exists.");
            return;
        }
        if self.master_pid != 0 {
            logging::warning("USR2 signal ignored. Parent exists.");
            return;
        }
        let plan = match ExecPlan::new(&self.launch, &self.listeners, self.pid, self.systemd) {
            Ok(p) => p,
            Err(e) => {
                logging::error(&format!("USR2 signal ignored: {e}"));
                return;
            }
        };
        // Gunicorn documents pre_exec as "just before a new master process
        // is forked"; the child here only executes, so it runs here.
        master_hook(py, crate::hooks::Hook::PreExec, self.num_workers);
        match plan.spawn() {
            Ok(pid) => {
                self.reexec_pid = pid;
                logging::info(&format!("Forked new master (pid:{pid}) for USR2"));
            }
            Err(e) => logging::error(&format!("USR2: cannot fork: {e}")),
        }
    }

    fn finish(&mut self, code: i32) -> i32 {
        if crate::hooks::defined(crate::hooks::Hook::OnExit) {
            Python::attach(|py| master_hook(py, crate::hooks::Hook::OnExit, self.num_workers));
        }
        if let Some(p) = self.reload.take() {
            self.close_listeners(p.retired);
        }
        if self.may_unlink() {
            crate::listeners::cleanup(&self.listeners);
        }
        if let Some(path) = &self.pidfile {
            crate::pidfile::remove(path, self.pid);
        }
        set_handlers(None);
        SIGNAL_PIPE_W.store(-1, Ordering::Relaxed);
        // SAFETY: closing our own pipe descriptors once.
        unsafe {
            libc::close(self.pipe_r);
            libc::close(self.pipe_w);
        }
        code
    }

    /// Waits up to `timeout_ms` for signals; returns them in arrival order.
    fn wait_for_signals(&self, timeout_ms: i32) -> Vec<libc::c_int> {
        let mut pfd = libc::pollfd {
            fd: self.pipe_r,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
        let mut out = Vec::new();
        if n <= 0 {
            return out;
        }
        let mut buf = [0u8; 64];
        loop {
            // SAFETY: reading into a stack buffer of the given length.
            let r = unsafe { libc::read(self.pipe_r, buf.as_mut_ptr().cast(), buf.len()) };
            if r <= 0 {
                break;
            }
            out.extend(buf[..r as usize].iter().map(|&b| b as libc::c_int));
        }
        out
    }

    fn free_slot(&self) -> Option<usize> {
        (0..SLOTS).find(|s| !self.workers.values().any(|w| w.slot == *s))
    }

    fn spawn_worker(&mut self, py: Python<'_>) {
        let Some(slot) = self.free_slot() else {
            logging::error("No free worker slot; not spawning");
            return;
        };
        self.next_age += 1;
        if crate::hooks::defined(crate::hooks::Hook::PreFork) {
            crate::hooks::call(py, "pre_fork", (self.next_age, self.num_workers));
        }
        self.scoreboard.beat(slot);
        let spawned_ms = self.scoreboard.last(slot);
        // SAFETY: CPython's fork protocol: PyOS_BeforeFork with the GIL held
        // (we are called from Python and never released it), then the
        // matching AfterFork call in each process.
        // Signals stay blocked across the fork: a TERM landing between fork
        // and the worker's own handlers would otherwise hit the master's
        // handler in the child (a byte in the master's pipe, lost). The
        // parent unblocks at once; the worker once its handlers are in.
        let saved = block_all_signals();
        let pid = unsafe {
            pyo3::ffi::PyOS_BeforeFork();
            libc::fork()
        };
        if pid != 0 {
            restore_signals(&saved);
        }
        if pid == 0 {
            // SAFETY: in the child right after fork, as CPython requires.
            unsafe { pyo3::ffi::PyOS_AfterFork_Child() };
            set_handlers(None);
            // SAFETY: the child must not keep the master's signal pipe.
            unsafe {
                libc::close(self.pipe_r);
                libc::close(self.pipe_w);
            }
            SIGNAL_PIPE_W.store(-1, Ordering::Relaxed);
            // Nor the sockets a pending reload dropped: the kernel would
            // keep queueing connections on them for as long as we lived.
            if let Some(p) = &self.reload {
                for l in &p.retired {
                    // SAFETY: closing the inherited copy; the worker never uses it.
                    unsafe { libc::close(l.raw_fd()) };
                }
            }
            set_process_name(&self.cfg, "worker");
            set_title(&self.cfg, "worker", self.master_pid != 0);
            // Logged by the worker itself, so the bracketed pid is the worker's (as in Gunicorn).
            // SAFETY: getpid cannot fail.
            logging::info(&format!("Booting worker with pid: {}", unsafe {
                libc::getpid()
            }));
            // --user/--group: before anything of the application runs.
            if let Some(owner) = &self.owner {
                if let Err(e) = crate::privileges::drop_to(owner) {
                    logging::error(&e);
                    crate::worker::exit_process(py, WORKER_BOOT_ERROR);
                }
            }
            let boot = WorkerBoot {
                cfg: &self.cfg,
                preloaded: self.preloaded.as_ref(),
                listeners: &self.listeners,
                scoreboard: &self.scoreboard,
                slot,
                age: self.next_age,
                master_pid: self.pid,
            };
            let code = crate::worker::run(py, boot);
            crate::worker::exit_process(py, code);
        }
        // SAFETY: in the parent after fork (also after a failed fork).
        unsafe { pyo3::ffi::PyOS_AfterFork_Parent() };
        if pid < 0 {
            logging::error(&format!(
                "Unable to fork a worker: {}",
                std::io::Error::last_os_error()
            ));
            return;
        }
        self.workers.insert(
            pid,
            WorkerInfo {
                slot,
                age: self.next_age,
                aborted_at: None,
                retired_at: None,
                spawned_ms,
                booted: false,
                retiring: false,
            },
        );
        if master_hooks() {
            crate::hooks::call(py, "worker_spawned", (pid, self.next_age));
        }
    }

    /// Notes which workers have booted (their first own heartbeat), and
    /// tells systemd READY=1 once all of them have.
    fn update_boot_state(&mut self) {
        for w in self.workers.values_mut() {
            if !w.booted && self.scoreboard.last(w.slot) > w.spawned_ms {
                w.booted = true;
            }
        }
        if let Some(p) = &self.reload {
            let boundary = p.boundary;
            let new: Vec<&WorkerInfo> = self
                .workers
                .values()
                .filter(|w| w.age > boundary && !w.retiring)
                .collect();
            if new.len() >= self.num_workers && new.iter().all(|w| w.booted) {
                self.commit_reload();
            }
            return;
        }
        let active: Vec<&WorkerInfo> = self.workers.values().filter(|w| !w.retiring).collect();
        if self.ready_pending && active.len() >= self.num_workers && active.iter().all(|w| w.booted)
        {
            self.ready_pending = false;
            crate::systemd::notify(&format!(
                "READY=1\nSTATUS=Serving with {} workers",
                self.workers.len()
            ));
        }
    }

    /// Starts missing workers and retires the oldest surplus ones gracefully.
    /// While a reload is pending, only the new generation is counted: it is
    /// brought up to `num_workers`, and the old one is left alone.
    fn manage_workers(&mut self, py: Python<'_>) {
        if self.halt.is_some() {
            return;
        }
        let boundary = self.reload.as_ref().map_or(0, |p| p.boundary);
        let counted = |w: &WorkerInfo| !w.retiring && w.age > boundary;
        loop {
            let n = self.workers.values().filter(|w| counted(w)).count();
            if n >= self.num_workers {
                break;
            }
            let before = self.workers.len();
            self.spawn_worker(py);
            if self.workers.len() == before {
                break;
            }
        }
        let mut by_age: Vec<(libc::pid_t, u64)> = self
            .workers
            .iter()
            .filter(|(_, w)| counted(w))
            .map(|(p, w)| (*p, w.age))
            .collect();
        if by_age.len() > self.num_workers {
            by_age.sort_by_key(|(_, age)| *age);
            let surplus = by_age.len() - self.num_workers;
            for (pid, _) in by_age.into_iter().take(surplus) {
                self.retire(pid);
            }
        }
    }

    /// Asks one worker to stop gracefully, for good.
    fn retire(&mut self, pid: libc::pid_t) {
        if let Some(w) = self.workers.get_mut(&pid) {
            w.retiring = true;
            w.retired_at = Some(now_ms());
            // SAFETY: signalling our own child.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
    }

    /// Retires every worker `which` selects.
    fn retire_where(&mut self, which: impl Fn(&WorkerInfo) -> bool) {
        let pids: Vec<libc::pid_t> = self
            .workers
            .iter()
            .filter(|(_, w)| !w.retiring && which(w))
            .map(|(p, _)| *p)
            .collect();
        for pid in pids {
            self.retire(pid);
        }
    }

    /// HUP: read the configuration again and apply it, then start a new
    /// generation of workers; the old one stops once the new one has booted.
    /// A configuration that does not load (or a module that cannot be found)
    /// changes nothing: an error line, and the server carries on as it was.
    fn reload(&mut self, py: Python<'_>) {
        crate::systemd::notify("RELOADING=1\nSTATUS=Reloading");
        if self.reload.is_some() {
            // A HUP while the previous one is still booting its workers:
            // start over from the configuration in force before it.
            self.abort_reload(py, "");
        }
        let old = self.cfg.clone();
        crate::unapply_env(py, &old, &self.launch);
        let _ = py
            .import("importlib")
            .and_then(|m| m.call_method0("invalidate_caches"));
        let new = crate::reload_config(py, &self.launch).and_then(|c| {
            let uri = c.app_uri.clone().unwrap_or_default();
            let checked = crate::prepare_python(py, &c)
                .and_then(|()| crate::check_app_module(py, &uri))
                .and_then(|()| crate::check_master_settings(&c));
            match checked {
                Ok(owner) => Ok((c, owner)),
                Err(e) => {
                    crate::unapply_env(py, &c, &self.launch);
                    Err(e
                        .strip_prefix("ferricorn: error: ")
                        .unwrap_or(&e)
                        .to_string())
                }
            }
        });
        let (new, owner) = match new {
            Ok(c) => c,
            Err(e) => {
                self.restore_python(py);
                logging::error(&format!(
                    "Reload failed, keeping the current configuration and workers: {e}"
                ));
                crate::systemd::notify("READY=1\nSTATUS=Reload failed");
                return;
            }
        };

        // Listening sockets: keep those still configured, bind new ones.
        let mut added = Vec::new();
        let mut retired = Vec::new();
        if !self.systemd && !crate::listeners::same_addresses(&new.bind, &self.listeners) {
            let before: Vec<RawFd> = self.listeners.iter().map(|l| l.raw_fd()).collect();
            let current = std::mem::take(&mut self.listeners);
            let opts = crate::bind_options(&new, owner.as_ref());
            match crate::listeners::rebind(&new.bind, opts, current) {
                Ok((list, removed)) => {
                    for l in &list {
                        if !before.contains(&l.raw_fd()) {
                            added.push(l.raw_fd());
                            logging::info(&format!("Listening at: {} ({})", l.url(), self.pid));
                        }
                    }
                    self.listeners = list;
                    retired = removed;
                }
                Err((e, back)) => {
                    self.listeners = back;
                    crate::unapply_env(py, &new, &self.launch);
                    self.restore_python(py);
                    let e = e.strip_prefix("ferricorn: error: ").unwrap_or(&e);
                    logging::error(&format!(
                        "Reload failed, keeping the current configuration and workers: {e}"
                    ));
                    crate::systemd::notify("READY=1\nSTATUS=Reload failed");
                    return;
                }
            }
        }
        warn_restart_only(&old, &new);
        logging::reopen();

        let old_pidfile = self.pidfile.clone();
        if new.pidfile != old.pidfile {
            let second = self.master_pid != 0;
            let name = new
                .pidfile
                .as_deref()
                .map(|p| crate::pidfile::name_for(p, second));
            self.switch_pidfile(name);
        }
        if let Some(o) = &owner {
            crate::give_log_files(&new, o);
        }
        // The config file was executed again: its hooks are the ones now.
        crate::hooks::configure(py, &new);
        let new = Arc::new(new);
        self.reload = Some(PendingReload {
            boundary: self.next_age,
            old_cfg: std::mem::replace(&mut self.cfg, new),
            old_num_workers: self.num_workers,
            old_owner: std::mem::replace(&mut self.owner, owner),
            added,
            retired,
            old_pidfile,
        });
        let old_num = self.num_workers;
        self.num_workers = self.cfg.workers.max(1) as usize;
        self.nworkers_changed(py, Some(old_num));
        self.refresh_names();
        master_hook(py, crate::hooks::Hook::OnReload, self.num_workers);
        self.manage_workers(py);
    }

    /// The nworkers_changed hook (Gunicorn calls it whenever the count is
    /// set: at start with `old` None, TTIN, TTOU, WINCH, HUP).
    fn nworkers_changed(&self, py: Python<'_>, old: Option<usize>) {
        if crate::hooks::defined(crate::hooks::Hook::NworkersChanged) {
            crate::hooks::call(
                py,
                "master_event",
                ("nworkers_changed", self.num_workers, self.num_workers, old),
            );
        }
    }

    /// Puts the Python side of the master (working directory, `-e`
    /// variables, sys.path) back to the configuration in force.
    fn restore_python(&self, py: Python<'_>) {
        let _ = std::env::set_current_dir(&self.launch.cwd);
        if let Err(e) = crate::prepare_python(py, &self.cfg) {
            logging::error(&e);
        }
    }

    /// Writes the pid file under a new name (or none), removing ours.
    fn switch_pidfile(&mut self, name: Option<String>) {
        if let Some(old) = self.pidfile.take() {
            crate::pidfile::remove(&old, self.pid);
        }
        if let Some(name) = name {
            match crate::pidfile::create(&name, self.pid) {
                Ok(()) => self.pidfile = Some(name),
                Err(e) => logging::error(&e),
            }
        }
    }

    /// Every worker of the new generation has booted: stop the old one.
    fn commit_reload(&mut self) {
        let Some(p) = self.reload.take() else { return };
        let boundary = p.boundary;
        self.retire_where(|w| w.age <= boundary);
        self.close_listeners(p.retired);
        self.ready_pending = false;
        crate::systemd::notify(&format!(
            "READY=1\nSTATUS=Serving with {} workers",
            self.num_workers
        ));
    }

    /// The new generation cannot boot (or a newer HUP supersedes it): stop
    /// its workers and go back to the previous configuration, whose workers
    /// never stopped serving. `reason` empty: superseded, nothing to log.
    fn abort_reload(&mut self, py: Python<'_>, reason: &str) {
        let Some(p) = self.reload.take() else { return };
        if !reason.is_empty() {
            logging::error(&format!(
                "Reload failed: {reason}; the previous workers keep serving with the previous configuration"
            ));
        }
        let boundary = p.boundary;
        self.retire_where(|w| w.age > boundary);
        let (dropped, kept): (Vec<Listener>, Vec<Listener>) = std::mem::take(&mut self.listeners)
            .into_iter()
            .partition(|l| p.added.contains(&l.raw_fd()));
        self.listeners = kept;
        self.listeners.extend(p.retired);
        self.close_listeners(dropped);
        let failed = std::mem::replace(&mut self.cfg, p.old_cfg);
        self.num_workers = p.old_num_workers;
        self.owner = p.old_owner;
        crate::unapply_env(py, &failed, &self.launch);
        self.restore_python(py);
        if self.pidfile != p.old_pidfile {
            self.switch_pidfile(p.old_pidfile);
        }
        self.refresh_names();
        if !reason.is_empty() && !self.ready_pending {
            crate::systemd::notify("READY=1\nSTATUS=Reload failed");
        }
    }

    /// Closes listeners no longer served (the workers that used them are
    /// stopping), removing their socket files when that is ours to do.
    fn close_listeners(&self, listeners: Vec<Listener>) {
        if self.may_unlink() {
            crate::listeners::cleanup(&listeners);
        }
        drop(listeners);
    }

    /// The master's names (comm, title) from the configuration in force.
    fn refresh_names(&self) {
        set_process_name(&self.cfg, "master");
        set_title(&self.cfg, "master", self.master_pid != 0);
    }

    /// Collects every exited worker, logs how it ended, and decides whether
    /// the whole server must halt (a worker that cannot boot).
    fn reap_workers(&mut self) {
        loop {
            let mut status = 0;
            // SAFETY: waitpid with WNOHANG on any child.
            let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
            if pid <= 0 {
                break;
            }
            if pid == self.reexec_pid && self.reexec_pid != 0 {
                self.reexec_pid = 0;
                let how = if libc::WIFEXITED(status) {
                    format!("exited with code {}", libc::WEXITSTATUS(status))
                } else {
                    format!("was killed by {}", signal_name(libc::WTERMSIG(status)))
                };
                logging::info(&format!("New master (pid:{pid}) {how}"));
                continue;
            }
            let Some(info) = self.workers.remove(&pid) else {
                continue;
            };
            if crate::hooks::defined(crate::hooks::Hook::ChildExit) {
                let n = self.num_workers;
                Python::attach(|py| crate::hooks::call(py, "child_exit", (pid, info.age, n)));
            }
            let in_new_generation = self.reload.as_ref().is_some_and(|p| info.age > p.boundary);
            if libc::WIFEXITED(status) {
                let code = libc::WEXITSTATUS(status);
                let boot_failure = code == WORKER_BOOT_ERROR || code == APP_LOAD_ERROR;
                if boot_failure && info.retiring {
                    logging::error(&format!("Worker (pid:{pid}) exited with code {code}"));
                } else if boot_failure && in_new_generation {
                    logging::error(&format!("Worker (pid:{pid}) exited with code {code}"));
                    if self.reload_failed.is_none() {
                        self.reload_failed =
                            Some(format!("a new worker could not boot (exit code {code})"));
                    }
                } else if code == WORKER_BOOT_ERROR && self.halt.is_none() {
                    logging::error(&format!("Worker (pid:{pid}) exited with code {code}"));
                    self.halt = Some((WORKER_BOOT_ERROR, "Worker failed to boot.".into()));
                } else if code == APP_LOAD_ERROR && self.halt.is_none() {
                    logging::error(&format!("Worker (pid:{pid}) exited with code {code}"));
                    self.halt = Some((APP_LOAD_ERROR, "App failed to load.".into()));
                } else if code != 0 {
                    logging::error(&format!("Worker (pid:{pid}) exited with code {code}."));
                } else if info.retiring {
                    // The worker logged "Worker exiting" itself (as in Gunicorn).
                    logging::debug(&format!("Worker (pid:{pid}) exited cleanly"));
                } else {
                    // Not asked to: --max-requests, or the app called exit.
                    logging::info(&format!(
                        "Worker (pid:{pid}) exited on its own with code 0; replacing it"
                    ));
                }
            } else if libc::WIFSIGNALED(status) {
                let sig = libc::WTERMSIG(status);
                if sig == libc::SIGKILL {
                    logging::error(&format!(
                        "Worker (pid:{pid}) was sent SIGKILL! Perhaps out of memory?"
                    ));
                } else {
                    logging::error(&format!(
                        "Worker (pid:{pid}) was sent {}!",
                        signal_name(sig)
                    ));
                }
            }
        }
    }

    /// Kills workers whose heartbeat is older than `--timeout`: first SIGABRT
    /// (the worker dumps every Python thread's stack to the error log), then
    /// SIGKILL on the next pass if it is still there.
    fn murder_workers(&mut self) {
        let now = now_ms();
        let grace = self.cfg.graceful_timeout.saturating_mul(1000);
        for (pid, w) in &self.workers {
            if w.retired_at
                .is_some_and(|t| now.saturating_sub(t) > grace + 1000)
            {
                // Retired and still there after --graceful-timeout.
                // SAFETY: signalling our own child.
                unsafe { libc::kill(*pid, libc::SIGKILL) };
            }
        }
        if self.cfg.timeout == 0 {
            return;
        }
        let limit = self.cfg.timeout.saturating_mul(1000);
        for (pid, w) in self.workers.iter_mut() {
            let last = self.scoreboard.last(w.slot);
            if now.saturating_sub(last) <= limit {
                continue;
            }
            match w.aborted_at {
                None => {
                    logging::critical(&format!("WORKER TIMEOUT (pid:{pid})"));
                    // SAFETY: signalling our own child.
                    unsafe { libc::kill(*pid, libc::SIGABRT) };
                    w.aborted_at = Some(now);
                }
                Some(t) if now.saturating_sub(t) >= 1000 => {
                    // SAFETY: signalling our own child.
                    unsafe { libc::kill(*pid, libc::SIGKILL) };
                }
                Some(_) => {}
            }
        }
    }

    /// `--max-worker-memory`: a worker whose resident memory is above the
    /// limit is retired gracefully (it finishes its requests; a new one takes
    /// its place), like uWSGI's reload-on-rss.
    fn check_memory(&mut self) {
        let limit_mib = self.cfg.max_worker_memory;
        if limit_mib == 0 {
            return;
        }
        let over: Vec<(libc::pid_t, u64)> = self
            .workers
            .iter()
            .filter(|(_, w)| !w.retiring)
            .filter_map(|(pid, _)| {
                let rss = crate::memory::rss_bytes(*pid)?;
                (rss > limit_mib.saturating_mul(1 << 20)).then_some((*pid, rss))
            })
            .collect();
        for (pid, rss) in over {
            logging::warning(&format!(
                "Worker (pid:{pid}) uses {} MiB, over --max-worker-memory ({limit_mib} MiB): recycling it",
                rss >> 20
            ));
            self.retire(pid);
        }
    }

    fn kill_all(&self, sig: libc::c_int) {
        for pid in self.workers.keys() {
            // SAFETY: signalling our own child.
            unsafe { libc::kill(*pid, sig) };
        }
    }

    /// Stops every worker: TERM (graceful) or QUIT (fast), then SIGKILL for
    /// those still alive after `--graceful-timeout`. The master's copies of
    /// the listening sockets are closed first, so once the workers have let
    /// go of theirs the kernel refuses new connections instead of queueing
    /// them where nobody will answer. INT or QUIT during a graceful stop
    /// turns it into a fast one, as in Gunicorn.
    fn stop(&mut self, _py: Python<'_>, graceful: bool) {
        if let Some(p) = self.reload.take() {
            self.close_listeners(p.retired);
        }
        if self.may_unlink() {
            crate::listeners::cleanup(&self.listeners);
        }
        self.listeners.clear();
        for w in self.workers.values_mut() {
            w.retiring = true;
        }
        self.kill_all(if graceful {
            libc::SIGTERM
        } else {
            libc::SIGQUIT
        });
        let deadline = now_ms() + self.cfg.graceful_timeout.saturating_mul(1000);
        while !self.workers.is_empty() && now_ms() < deadline {
            self.reap_workers();
            if self.workers.is_empty() {
                break;
            }
            let sigs = self.wait_for_signals(100);
            if sigs
                .iter()
                .any(|&s| s == libc::SIGINT || s == libc::SIGQUIT)
            {
                logging::info("Handling signal: quit (fast stop)");
                self.kill_all(libc::SIGQUIT);
            }
        }
        self.kill_all(libc::SIGKILL);
        while !self.workers.is_empty() {
            self.reap_workers();
            if self.workers.is_empty() {
                break;
            }
            let _ = self.wait_for_signals(50);
        }
    }
}

/// Everything the USR2 child needs to execute the new master, built before
/// the fork so the child only makes async-signal-safe calls.
struct ExecPlan {
    exe: CString,
    argv: Vec<CString>,
    env: Vec<Vec<u8>>,
    /// Index in `env` of the `LISTEN_PID=` entry to fill in with the child's
    /// own pid (systemd hand-over).
    listen_pid_at: Option<usize>,
    cwd: CString,
    fds: Vec<RawFd>,
    systemd: bool,
}

const LISTEN_PID_PREFIX: &[u8] = b"LISTEN_PID=";

impl ExecPlan {
    fn new(
        launch: &Launch,
        listeners: &[Listener],
        master_pid: libc::pid_t,
        systemd: bool,
    ) -> Result<ExecPlan, String> {
        use std::os::unix::ffi::OsStrExt;
        let Some(exe) = launch.exe.clone() else {
            return Err("the Python executable is not known (sys.executable is empty)".into());
        };
        let cwd = CString::new(launch.cwd.as_os_str().as_bytes())
            .map_err(|_| "the launch directory contains a NUL byte".to_string())?;
        let fds: Vec<RawFd> = listeners.iter().map(|l| l.raw_fd()).collect();
        let mut env: Vec<Vec<u8>> = Vec::with_capacity(launch.env.len() + 3);
        for (k, v) in &launch.env {
            let mut e = k.as_bytes().to_vec();
            e.push(b'=');
            e.extend_from_slice(v.as_bytes());
            if !e.contains(&0) {
                e.push(0);
                env.push(e);
            }
        }
        env.push(format!("GUNICORN_PID={master_pid}\0").into_bytes());
        let mut listen_pid_at = None;
        if systemd {
            env.push(format!("LISTEN_FDS={}\0", fds.len()).into_bytes());
            // Room for any pid; the child writes its own and a NUL.
            let mut e = LISTEN_PID_PREFIX.to_vec();
            e.extend_from_slice(&[0u8; 24]);
            listen_pid_at = Some(env.len());
            env.push(e);
        } else {
            let list: Vec<String> = fds.iter().map(|fd| fd.to_string()).collect();
            env.push(format!("GUNICORN_FD={}\0", list.join(",")).into_bytes());
        }
        Ok(ExecPlan {
            exe,
            argv: launch.exec_argv.clone(),
            env,
            listen_pid_at,
            cwd,
            fds,
            systemd,
        })
    }

    /// Forks; the child executes the new master and never returns.
    fn spawn(mut self) -> std::io::Result<libc::pid_t> {
        let mut argv: Vec<*const libc::c_char> = self.argv.iter().map(|a| a.as_ptr()).collect();
        if argv.is_empty() {
            argv.push(self.exe.as_ptr());
        }
        argv.push(std::ptr::null());
        let listen_pid_ptr = self
            .listen_pid_at
            .and_then(|i| self.env.get_mut(i))
            .map(|e| e.as_mut_ptr());
        let mut envp: Vec<*const libc::c_char> =
            self.env.iter().map(|e| e.as_ptr().cast()).collect();
        envp.push(std::ptr::null());
        // Signals are blocked across the fork so that none runs our handler
        // in the child (it would write to the master's signal pipe).
        // SAFETY: sigset manipulation on stack values.
        let mut all: libc::sigset_t = unsafe { std::mem::zeroed() };
        let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        unsafe {
            libc::sigfillset(&mut all);
            libc::sigprocmask(libc::SIG_SETMASK, &all, &mut old);
        }
        // SAFETY: the child below only calls async-signal-safe functions on
        // memory prepared before the fork, then execve or _exit.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            // SAFETY: see above.
            unsafe { self.child(&argv, &envp, listen_pid_ptr, &old) }
        }
        let err = std::io::Error::last_os_error();
        // SAFETY: restoring the mask saved above.
        unsafe { libc::sigprocmask(libc::SIG_SETMASK, &old, std::ptr::null_mut()) };
        if pid < 0 {
            return Err(err);
        }
        Ok(pid)
    }

    /// In the forked child: arrange the descriptors, restore default signal
    /// dispositions and the mask, and execute.
    unsafe fn child(
        &self,
        argv: &[*const libc::c_char],
        envp: &[*const libc::c_char],
        listen_pid: Option<*mut u8>,
        mask: &libc::sigset_t,
    ) -> ! {
        for sig in HANDLED {
            libc::signal(sig, libc::SIG_DFL);
        }
        if self.systemd {
            // systemd's convention: the sockets are descriptors 3, 4, ...
            // Move them out of the way first, then into place.
            let n = self.fds.len() as RawFd;
            let mut tmp = Vec::new();
            for &fd in &self.fds {
                tmp.push(libc::fcntl(fd, libc::F_DUPFD, 3 + n));
            }
            for (i, &t) in tmp.iter().enumerate() {
                if t < 0 || libc::dup2(t, 3 + i as RawFd) < 0 {
                    libc::_exit(1);
                }
                libc::close(t);
            }
            if let Some(p) = listen_pid {
                let mut pid = libc::getpid() as u64;
                let mut digits = [0u8; 20];
                let mut len = 0;
                loop {
                    digits[len] = b'0' + (pid % 10) as u8;
                    len += 1;
                    pid /= 10;
                    if pid == 0 {
                        break;
                    }
                }
                let at = p.add(LISTEN_PID_PREFIX.len());
                for i in 0..len {
                    *at.add(i) = digits[len - 1 - i];
                }
                *at.add(len) = 0;
            }
        } else {
            for &fd in &self.fds {
                let flags = libc::fcntl(fd, libc::F_GETFD);
                if flags >= 0 {
                    libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC);
                }
            }
        }
        libc::sigprocmask(libc::SIG_SETMASK, mask, std::ptr::null_mut());
        if libc::chdir(self.cwd.as_ptr()) == 0 {
            libc::execve(self.exe.as_ptr(), argv.as_ptr(), envp.as_ptr());
        }
        let msg = b"ferricorn: USR2: cannot execute the new master\n";
        libc::write(2, msg.as_ptr().cast(), msg.len());
        libc::_exit(127)
    }
}

/// Settings a HUP reads but cannot apply to a running master: say so
/// rather than pretend (Gunicorn 23 ignores the logging ones silently).
fn warn_restart_only(old: &Config, new: &Config) {
    // Settings the logs and the master were opened with: a HUP cannot
    // change them (Gunicorn before 26.1 did not re-apply logging either).
    const RESTART_ONLY: &[&str] = &[
        "errorlog",
        "loglevel",
        "accesslog",
        "access_log_format",
        "capture_output",
        "logconfig",
        "logconfig_dict",
        "logconfig_json",
        "syslog",
        "syslog_addr",
        "syslog_prefix",
        "syslog_facility",
        "disable_redirect_access_to_syslog",
        "statsd_host",
        "statsd_prefix",
        "dogstatsd_tags",
        "preload_app",
        "daemon",
    ];
    let value = |c: &Config, name: &str| {
        c.values
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
    };
    let changed: Vec<&str> = RESTART_ONLY
        .iter()
        .copied()
        .filter(|n| value(old, n) != value(new, n))
        .collect();
    if !changed.is_empty() {
        logging::warning(&format!(
            "Changed settings take effect only after a restart or USR2: {}",
            changed.join(", ")
        ));
    }
}
