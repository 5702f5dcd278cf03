//! The master process: binds nothing itself (the caller hands it listeners),
//! forks workers, watches them and obeys Gunicorn's signals.
//!
//! Owns: the set of live workers, their heartbeat slots, the self-pipe that
//! turns signals into loop events, and the decisions to respawn, scale,
//! reload, time out or halt.
//!
//! Must never: start a thread or a tokio runtime (it forks at any moment, and
//! a fork only copies the calling thread), call into the application, or
//! block anywhere but in `poll(2)` on the signal pipe.

use std::collections::HashMap;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;

use pyo3::Python;

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
/// comm): `NAME-master` / `NAME-worker` with `-n NAME`. Gunicorn changes
/// titles only when the setproctitle package is installed; argv-based
/// titles are not done yet.
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
}

pub struct Arbiter {
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
}

impl Arbiter {
    pub fn new(
        cfg: Arc<Config>,
        listeners: Vec<Listener>,
        preloaded: Option<pyo3::Py<pyo3::PyAny>>,
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
        })
    }

    /// Runs the master until it stops; returns the process exit status.
    pub fn run(mut self, py: Python<'_>) -> i32 {
        SIGNAL_PIPE_W.store(self.pipe_w, Ordering::Relaxed);
        set_handlers(Some(on_signal));
        set_process_name(&self.cfg, "master");
        if let Some(path) = self.cfg.pidfile.clone() {
            if let Err(e) = crate::pidfile::create(&path, self.pid) {
                logging::error(&e);
                return self.finish(1);
            }
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

        self.manage_workers(py);
        loop {
            self.reap_workers();
            if let Some((code, reason)) = self.halt.take() {
                self.stop(py, false);
                logging::info("Shutting down: Master");
                if !reason.is_empty() {
                    logging::info(&format!("Reason: {reason}"));
                }
                return self.finish(code);
            }
            self.murder_workers();
            self.manage_workers(py);
            for sig in self.wait_for_signals(1000) {
                match sig {
                    libc::SIGCHLD => {}
                    libc::SIGTERM => {
                        logging::info("Handling signal: term");
                        self.stop(py, true);
                        logging::info("Shutting down: Master");
                        return self.finish(0);
                    }
                    libc::SIGINT | libc::SIGQUIT => {
                        let name = if sig == libc::SIGINT { "int" } else { "quit" };
                        logging::info(&format!("Handling signal: {name}"));
                        self.stop(py, false);
                        logging::info("Shutting down: Master");
                        return self.finish(0);
                    }
                    libc::SIGHUP => {
                        logging::info("Handling signal: hup");
                        logging::info("Hang up: Master");
                        // Gunicorn's reload: start a full new set of workers,
                        // then manage_workers retires the oldest ones gracefully.
                        for _ in 0..self.num_workers {
                            self.spawn_worker(py);
                        }
                    }
                    libc::SIGTTIN => {
                        logging::info("Handling signal: ttin");
                        if self.num_workers < SLOTS {
                            self.num_workers += 1;
                        }
                    }
                    libc::SIGTTOU => {
                        logging::info("Handling signal: ttou");
                        if self.num_workers > 1 {
                            self.num_workers -= 1;
                        }
                    }
                    libc::SIGUSR1 => {
                        logging::info("Handling signal: usr1");
                        logging::reopen();
                        self.kill_all(libc::SIGUSR1);
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

    fn finish(&mut self, code: i32) -> i32 {
        crate::listeners::cleanup(&self.listeners);
        if let Some(path) = &self.cfg.pidfile {
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
        self.scoreboard.beat(slot);
        // SAFETY: CPython's fork protocol: PyOS_BeforeFork with the GIL held
        // (we are called from Python and never released it), then the
        // matching AfterFork call in each process.
        let pid = unsafe {
            pyo3::ffi::PyOS_BeforeFork();
            libc::fork()
        };
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
            set_process_name(&self.cfg, "worker");
            // Logged by the worker itself, so the bracketed pid is the worker's (as in Gunicorn).
            // SAFETY: getpid cannot fail.
            logging::info(&format!("Booting worker with pid: {}", unsafe {
                libc::getpid()
            }));
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
            },
        );
    }

    /// Starts missing workers and retires the oldest surplus ones gracefully.
    fn manage_workers(&mut self, py: Python<'_>) {
        if self.halt.is_some() {
            return;
        }
        while self.workers.len() < self.num_workers {
            let before = self.workers.len();
            self.spawn_worker(py);
            if self.workers.len() == before {
                break;
            }
        }
        if self.workers.len() > self.num_workers {
            let mut by_age: Vec<(libc::pid_t, u64)> =
                self.workers.iter().map(|(p, w)| (*p, w.age)).collect();
            by_age.sort_by_key(|(_, age)| *age);
            let surplus = self.workers.len() - self.num_workers;
            for (pid, _) in by_age.into_iter().take(surplus) {
                // SAFETY: signalling our own child.
                unsafe { libc::kill(pid, libc::SIGTERM) };
            }
        }
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
            let Some(_info) = self.workers.remove(&pid) else {
                continue;
            };
            if libc::WIFEXITED(status) {
                let code = libc::WEXITSTATUS(status);
                if code == WORKER_BOOT_ERROR && self.halt.is_none() {
                    logging::error(&format!("Worker (pid:{pid}) exited with code {code}"));
                    self.halt = Some((WORKER_BOOT_ERROR, "Worker failed to boot.".into()));
                } else if code == APP_LOAD_ERROR && self.halt.is_none() {
                    logging::error(&format!("Worker (pid:{pid}) exited with code {code}"));
                    self.halt = Some((APP_LOAD_ERROR, "App failed to load.".into()));
                } else if code != 0 {
                    logging::error(&format!("Worker (pid:{pid}) exited with code {code}."));
                } else {
                    // The worker logged "Worker exiting" itself (as in Gunicorn).
                    logging::debug(&format!("Worker (pid:{pid}) exited cleanly"));
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
        if self.cfg.timeout == 0 {
            return;
        }
        let now = now_ms();
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
        crate::listeners::cleanup(&self.listeners);
        self.listeners.clear();
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
