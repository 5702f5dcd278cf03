//! A worker process: imports the application after fork and serves
//! connections on the inherited listeners until told to stop.
//!
//! Owns: the worker's event loop (a tokio current-thread runtime: all network
//! I/O, timers and signals), the accept loops, the heartbeat, graceful
//! shutdown, `--max-requests`, and the choice of where the application runs:
//!
//! * `--threads 1` (inline): the application is called on the event-loop
//!   thread, as bjoern and FastWSGI do — no hand-off, no queue, no context
//!   switch. That thread holds the GIL while it works and releases it only
//!   when the loop goes idle (tokio's park hooks), so other Python threads
//!   the application started still run.
//! * `--threads N` (N > 1): N application threads take requests from a queue
//!   ([`pool`]); the event-loop thread never takes the GIL.
//!
//! Must never: run application code before fork, hold the GIL while the loop
//! waits for the network, or panic on anything a client or the app does.

pub mod conn;
pub mod pool;
mod reloader;
mod watchdog;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use pyo3::prelude::*;
use tokio::net::{TcpListener, UnixListener};

use crate::arbiter::{WorkerBoot, WORKER_BOOT_ERROR};
use crate::config::Config;
use crate::hooks::{self, Hook};
use crate::http::{error_response, HttpDate, Limits};
use crate::listeners::Kind;
use crate::logging;
use crate::scoreboard::Scoreboard;
use crate::wsgi::app::{LoadError, WsgiApp};
use crate::wsgi::{handler, Done, Exchange, Peer};

thread_local! {
    static ERR_DATE: RefCell<HttpDate> = RefCell::new(HttpDate::new());
    /// The thread state saved while the inline event loop is parked.
    static SAVED_TSTATE: Cell<*mut pyo3::ffi::PyThreadState> = const { Cell::new(std::ptr::null_mut()) };
}

/// `0` means "no limit" for ferricorn's timeouts; tokio wants a finite
/// duration, and a year is one.
fn seconds_or_unlimited(secs: u64) -> Duration {
    Duration::from_secs(if secs == 0 { 365 * 24 * 3600 } else { secs })
}

/// How long a response write may wait for the client to make progress
/// (`--write-timeout`, 0 = no limit): a client that stops reading is cut
/// off after this, whatever `--timeout` says (a slow reader is not a stuck
/// worker).
pub fn write_timeout(cfg: &Config) -> Duration {
    seconds_or_unlimited(cfg.write_timeout)
}

/// A complete error response for `status`, closing the connection.
pub fn error_bytes(status: u16) -> Vec<u8> {
    ERR_DATE.with(|d| error_response(status, "ferricorn", d.borrow_mut().get()))
}

enum Dispatch {
    Inline(Arc<WsgiApp>),
    Pool(pool::Pool),
}

/// Per-worker state shared by the tasks of the event loop (single thread).
pub struct Worker {
    cfg: Arc<Config>,
    limits: Limits,
    dispatch: Dispatch,
    connections: Cell<usize>,
    /// `--worker-connections`: at this many open connections the accept
    /// loops pause (new clients wait in the kernel's backlog).
    max_connections: usize,
    /// Wakes paused accept loops when a connection closes.
    room: tokio::sync::Notify,
    /// `--request-timeout`: reports requests that run too long.
    watchdog: Option<watchdog::Watchdog>,
    /// `--proxy-protocol`: who may send a PROXY header (`--proxy-allow-from`).
    proxy_trust: Option<crate::wsgi::proxy::ProxyTrust>,
    requests: Cell<u64>,
    max_requests: u64,
    /// The worker is stopping (graceful): no new requests.
    closing: Cell<bool>,
    /// Wakes what waits in [`Worker::closed`] when `closing` is set.
    closing_notify: tokio::sync::Notify,
}

impl Worker {
    fn limits(&self) -> &Limits {
        &self.limits
    }
    fn keepalive(&self) -> Duration {
        Duration::from_secs(self.cfg.keepalive)
    }
    fn header_timeout(&self) -> Duration {
        seconds_or_unlimited(self.cfg.header_timeout)
    }
    fn body_timeout(&self) -> Duration {
        seconds_or_unlimited(self.cfg.body_timeout)
    }
    fn write_timeout(&self) -> Duration {
        write_timeout(&self.cfg)
    }
    fn proxy_trust(&self) -> Option<&crate::wsgi::proxy::ProxyTrust> {
        self.proxy_trust.as_ref()
    }
    fn limit_request_body(&self) -> u64 {
        self.cfg.limit_request_body
    }
    fn body_buffer_size(&self) -> usize {
        self.cfg.body_buffer_size
    }
    fn is_closing(&self) -> bool {
        self.closing.get() || TERM_RECEIVED.load(Ordering::Relaxed)
    }
    /// Resolves once the worker starts stopping.
    /// Also resolves, when next polled, once SIGTERM has arrived and the
    /// loop has not handled it yet (in inline mode it may have arrived
    /// while the application ran).
    async fn closed(&self) {
        // Created before any check: notify_waiters reaches it from here on.
        let mut notified = std::pin::pin!(self.closing_notify.notified());
        std::future::poll_fn(|cx| {
            if self.is_closing() {
                return std::task::Poll::Ready(());
            }
            std::future::Future::poll(notified.as_mut(), cx)
        })
        .await
    }
    fn begin_shutdown(&self) {
        self.closing.set(true);
        self.closing_notify.notify_waiters();
    }
    fn conn_opened(&self) {
        self.connections.set(self.connections.get() + 1);
    }
    fn conn_closed(&self) {
        let n = self.connections.get().saturating_sub(1);
        self.connections.set(n);
        if n < self.max_connections {
            self.room.notify_waiters();
        }
    }
    /// Waits until one more connection fits under `--worker-connections`.
    /// Single-threaded: nothing runs between the check and the wait.
    async fn room_for_one_more(&self) {
        while self.connections.get() >= self.max_connections {
            self.room.notified().await;
        }
    }
    fn request_done(&self) {
        let n = self.requests.get() + 1;
        self.requests.set(n);
        if self.max_requests > 0 && n >= self.max_requests && !self.is_closing() {
            logging::info("Autorestarting worker after current request.");
            self.begin_shutdown();
        }
    }

    async fn dispatch(&self, ex: Exchange) -> Option<Done> {
        let _in_flight = self.watchdog.as_ref().map(|w| {
            w.begin(format!(
                "{} {} (pid {})",
                String::from_utf8_lossy(ex.head.method()),
                String::from_utf8_lossy(ex.head.target()),
                std::process::id()
            ))
        });
        match &self.dispatch {
            Dispatch::Inline(app) => {
                // SAFETY: inline mode runs the event loop on the thread that
                // holds the GIL whenever the loop is not parked.
                let py = unsafe { Python::assume_attached() };
                Some(handler::handle(py, app, ex, true))
            }
            Dispatch::Pool(p) => p.dispatch(ex).await,
        }
    }

    /// Inline mode: the application runs on this thread, so request bodies
    /// are read whole before it is called (conn.rs) and large responses
    /// come back as a [`handler::Resume`].
    pub(crate) fn is_inline(&self) -> bool {
        matches!(self.dispatch, Dispatch::Inline(_))
    }

    /// Continues a response suspended past the write budget, once the
    /// connection task has written what was pending (`wrote`).
    fn resume(&self, r: handler::Resume, wrote: std::io::Result<()>) -> Done {
        let _in_flight = self
            .watchdog
            .as_ref()
            .map(|w| w.begin(format!("{} (pid {})", r.describe(), std::process::id())));
        // SAFETY: only inline mode creates a `Resume`, and its connection
        // tasks run on the loop thread, which holds the GIL while not parked.
        let py = unsafe { Python::assume_attached() };
        r.resume(py, wrote)
    }
}

/// Set by the SIGTERM handler the moment the signal arrives. The event loop
/// also learns of it through tokio's signal stream (which chains to this
/// handler), but in inline mode the loop may be inside the application when
/// the signal lands; this flag makes the loop stop accepting the instant it
/// gets control back, as Gunicorn's sync worker does.
static TERM_RECEIVED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_term(_sig: libc::c_int) {
    TERM_RECEIVED.store(true, Ordering::Relaxed);
}

extern "C" fn quit_now(_sig: libc::c_int) {
    // Fast stop (INT/QUIT): leave at once, as Gunicorn's workers do.
    // SAFETY: _exit is async-signal-safe.
    unsafe { libc::_exit(0) };
}

/// Set when SIGUSR1 arrives before the event loop watches for it.
static USR1_RECEIVED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_usr1(_sig: libc::c_int) {
    USR1_RECEIVED.store(true, Ordering::Relaxed);
}

fn install_flag_handlers() {
    for (sig, handler) in [
        (libc::SIGTERM, on_term as *const ()),
        (libc::SIGUSR1, on_usr1 as *const ()),
    ] {
        // SAFETY: a zeroed sigaction with a valid, async-signal-safe handler.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = handler as usize;
            sa.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
}

fn install_fast_exit() {
    for sig in [libc::SIGINT, libc::SIGQUIT] {
        // SAFETY: a zeroed sigaction with a valid handler.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = quit_now as *const () as usize;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
}

/// `--request-timeout` is on: faulthandler also dumps on the watchdog's signal.
static WATCHDOG_ON: AtomicBool = AtomicBool::new(false);

/// The descriptor faulthandler writes to: a private duplicate of the error
/// log's, so a log reopen (USR1) can never leave it pointing at a closed or
/// reused descriptor (a client socket, say).
static DUMP_FD: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(-1);

/// Enables Python's faulthandler on the error log: SIGABRT (what the master
/// sends a worker past `--timeout`) and fatal signals (a segfault in a C
/// extension) then write every Python thread's stack to the error log before
/// the process dies. (SIGABRT cannot be `register()`ed, only `enable()`d.)
/// Called at boot and again after the logs are reopened.
fn install_stack_dump(py: Python<'_>) {
    // SAFETY: dup of the error log descriptor; -1 on failure is handled.
    let fd = unsafe { libc::fcntl(logging::error_fd(), libc::F_DUPFD_CLOEXEC, 3) };
    if fd < 0 {
        return;
    }
    let r = (|| -> PyResult<()> {
        let kwargs = pyo3::types::PyDict::new(py);
        kwargs.set_item("file", fd)?;
        kwargs.set_item("all_threads", true)?;
        let fh = py.import("faulthandler")?;
        fh.call_method("enable", (), Some(&kwargs))?;
        if WATCHDOG_ON.load(Ordering::Relaxed) {
            // --request-timeout's stack dumps (the watchdog thread raises it).
            fh.call_method("register", (watchdog::dump_signal(),), Some(&kwargs))?;
        }
        Ok(())
    })();
    let old = DUMP_FD.swap(if r.is_ok() { fd } else { -1 }, Ordering::Relaxed);
    if old >= 0 {
        // SAFETY: the previous private duplicate, no longer used by faulthandler.
        unsafe { libc::close(old) };
    }
    if let Err(e) = r {
        // SAFETY: our own duplicate, unused.
        unsafe { libc::close(fd) };
        logging::warning(&format!(
            "faulthandler not enabled; timeouts will not show stacks: {e}"
        ));
    }
}

/// Reopens the log files (SIGUSR1) and re-aims the stack dumps at the new one.
fn reopen_logs() {
    logging::reopen();
    crate::gil::with_gil(install_stack_dump);
}

/// The worker's life; returns its exit status.
pub fn run(py: Python<'_>, boot: WorkerBoot<'_>) -> i32 {
    install_fast_exit();
    install_flag_handlers();
    // The master forked with every signal blocked (see spawn_worker).
    crate::arbiter::unblock_all_signals();
    logging::after_fork();
    if hooks::any_in_worker() {
        hooks::call(py, "worker_boot", (boot.age, boot.master_pid));
    }
    // Python-level handlers for worker_int / worker_abort, installed before
    // faulthandler so that its SIGABRT dump chains to the hook.
    let hook_signals = install_hook_signals(py);
    let watchdog = if boot.cfg.request_timeout > 0 {
        match watchdog::Watchdog::start(Duration::from_secs(boot.cfg.request_timeout)) {
            Ok(w) => {
                WATCHDOG_ON.store(true, Ordering::Relaxed);
                Some(w)
            }
            Err(e) => {
                logging::error(&format!("Cannot start the --request-timeout watchdog: {e}"));
                None
            }
        }
    } else {
        None
    };
    // Before the import: an app stuck while importing is timed out too, and
    // its stack should show where.
    install_stack_dump(py);
    let cfg = boot.cfg.clone();
    let loaded = match boot.preloaded {
        Some(app) => WsgiApp::with_app(py, &cfg, boot.listeners, app.clone_ref(py)),
        None => WsgiApp::load(py, &cfg, boot.listeners),
    };
    let app = match loaded {
        Ok(app) => Arc::new(app),
        Err(LoadError::User(msg)) => {
            logging::error(&msg);
            return WORKER_BOOT_ERROR;
        }
        Err(LoadError::App { message, exit_code }) => {
            logging::error(&message);
            return exit_code;
        }
        Err(LoadError::Traceback { summary, traceback }) => {
            logging::error(&summary);
            logging::debug(&traceback);
            return WORKER_BOOT_ERROR;
        }
    };
    if hooks::defined(Hook::PostWorkerInit) {
        hooks::call(py, "worker_ready", (app.app.clone_ref(py),));
    }
    let proxy_trust = if cfg.proxy_protocol {
        let (trust, bad) = crate::wsgi::proxy::ProxyTrust::new(&cfg.proxy_allow_ips, &[]);
        if !bad.is_empty() {
            logging::error(&format!(
                "invalid --proxy-allow-from entries: {}",
                bad.join(", ")
            ));
            return WORKER_BOOT_ERROR;
        }
        Some(trust)
    } else {
        None
    };
    let threads = cfg.threads.max(1) as usize;
    let inline = threads == 1;
    let dispatch = if inline {
        Dispatch::Inline(app)
    } else {
        match pool::Pool::start(app, threads) {
            Ok(p) => Dispatch::Pool(p),
            Err(e) => {
                logging::error(&format!("Cannot start application threads: {e}"));
                return 1;
            }
        }
    };

    let mut builder = tokio::runtime::Builder::new_current_thread();
    builder.enable_all();
    if inline {
        // The loop thread holds the GIL except while it sleeps in epoll.
        builder
            .on_thread_park(|| {
                // SAFETY: the loop thread holds the GIL whenever it is not parked.
                SAVED_TSTATE.with(|s| s.set(unsafe { pyo3::ffi::PyEval_SaveThread() }));
            })
            .on_thread_unpark(|| {
                let t = SAVED_TSTATE.with(|s| s.replace(std::ptr::null_mut()));
                if !t.is_null() {
                    // SAFETY: restoring the state saved by the park hook.
                    unsafe { pyo3::ffi::PyEval_RestoreThread(t) };
                }
            });
    }
    let rt = match builder.build() {
        Ok(rt) => rt,
        Err(e) => {
            logging::error(&format!("Cannot start the event loop: {e}"));
            return 1;
        }
    };
    let max_requests = if cfg.max_requests > 0 {
        cfg.max_requests + jitter(cfg.max_requests_jitter)
    } else {
        0
    };
    let worker = Rc::new(Worker {
        limits: limits_of(&cfg),
        cfg: cfg.clone(),
        dispatch,
        connections: Cell::new(0),
        max_connections: usize::try_from(cfg.worker_connections.max(1)).unwrap_or(usize::MAX),
        room: tokio::sync::Notify::new(),
        watchdog,
        proxy_trust,
        requests: Cell::new(0),
        max_requests,
        closing: Cell::new(false),
        closing_notify: tokio::sync::Notify::new(),
    });

    let serve = || {
        let local = tokio::task::LocalSet::new();
        local.block_on(
            &rt,
            serve_all(
                worker.clone(),
                boot.listeners,
                boot.scoreboard,
                boot.slot,
                boot.master_pid,
                hook_signals,
            ),
        )
    };
    let code = if inline {
        serve()
    } else {
        // The loop thread must not hold the GIL in threaded mode.
        // SAFETY: the GIL is held here and restored before `py` is used again.
        let saved = unsafe { pyo3::ffi::PyEval_SaveThread() };
        let code = serve();
        // SAFETY: restoring the state saved just above.
        unsafe { pyo3::ffi::PyEval_RestoreThread(saved) };
        code
    };
    drop(rt);
    if hooks::defined(Hook::WorkerExit) {
        hooks::call(py, "worker_exit", ());
    }
    code
}

/// When the config defines worker_int or worker_abort: Python handlers for
/// SIGINT/SIGQUIT/SIGABRT (they run between bytecodes, so also in the middle
/// of a request) and a wake-up pipe that Python's C-level handler writes to,
/// returned so the event loop can run the handler while it sleeps.
fn install_hook_signals(py: Python<'_>) -> Option<std::os::fd::OwnedFd> {
    if !hooks::defined(Hook::WorkerInt) && !hooks::defined(Hook::WorkerAbort) {
        return None;
    }
    let (r, w) =
        match nix::unistd::pipe2(nix::fcntl::OFlag::O_NONBLOCK | nix::fcntl::OFlag::O_CLOEXEC) {
            Ok(p) => p,
            Err(e) => {
                logging::error(&format!("Cannot create the hook signal pipe: {e}"));
                return None;
            }
        };
    use std::os::fd::AsRawFd;
    let installed = py
        .import("ferricorn._hooks")
        .and_then(|m| m.call_method1("install_worker_signals", (w.as_raw_fd(),)))
        .and_then(|v| v.extract::<bool>());
    match installed {
        Ok(true) => {
            // Python keeps using the write end's number; it must stay open.
            std::mem::forget(w);
            Some(r)
        }
        Ok(false) => None,
        Err(e) => {
            logging::error(&format!(
                "Cannot install the worker_int/worker_abort hooks: {e}"
            ));
            None
        }
    }
}

/// Runs pending Python signal handlers (worker_int / worker_abort) each time
/// Python's signal handler writes to the wake-up pipe.
async fn run_hook_signals(fd: std::os::fd::OwnedFd) {
    let Ok(rx) = tokio::net::unix::pipe::Receiver::from_owned_fd(fd) else {
        return;
    };
    let mut buf = [0u8; 64];
    loop {
        if rx.readable().await.is_err() {
            return;
        }
        while let Ok(n) = rx.try_read(&mut buf) {
            if n == 0 {
                return;
            }
        }
        crate::gil::with_gil(|py| {
            // SAFETY: attached; runs the handlers Python's C handler queued.
            if unsafe { pyo3::ffi::PyErr_CheckSignals() } != 0 {
                if let Some(e) = PyErr::take(py) {
                    logging::error(&format!("Error in a signal hook: {e}"));
                }
            }
        });
    }
}

fn limits_of(cfg: &Config) -> Limits {
    Limits {
        max_request_line: cfg.limit_request_line,
        max_headers: cfg.limit_request_fields,
        max_header_size: cfg.limit_request_field_size,
        permit_obs_fold: cfg.permit_obsolete_folding,
        permit_unconventional_http_method: cfg.permit_unconventional_http_method,
        casefold_http_method: cfg.casefold_http_method,
        tolerate_dangerous_framing: cfg.tolerate_dangerous_framing,
    }
}

fn jitter(max: u64) -> u64 {
    if max == 0 {
        return 0;
    }
    // Spread restarts of workers started together; no need for a strong RNG.
    let seed =
        (std::process::id() as u64).wrapping_mul(6364136223846793005) ^ crate::scoreboard::now_ms();
    seed % (max + 1)
}

async fn serve_all(
    worker: Rc<Worker>,
    listeners: &[crate::listeners::Listener],
    scoreboard: &Scoreboard,
    slot: usize,
    master_pid: libc::pid_t,
    hook_signals: Option<std::os::fd::OwnedFd>,
) -> i32 {
    if let Some(fd) = hook_signals {
        tokio::task::spawn_local(run_hook_signals(fd));
    }
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            logging::error(&format!("Cannot watch SIGTERM: {e}"));
            return 1;
        }
    };
    for (idx, l) in listeners.iter().enumerate() {
        let fd = match l.fd.try_clone() {
            Ok(fd) => fd,
            Err(e) => {
                logging::error(&format!("Cannot use listener {}: {e}", l.url()));
                return 1;
            }
        };
        // The worker keeps only the duplicate, owned by its accept loop, so
        // the socket closes in this process the moment the loop stops
        // accepting (graceful stop): once every process has let go, the
        // kernel refuses new connections instead of queueing them. The
        // inherited descriptor belongs to the master's copy of the listener
        // list, which a worker never drops (it leaves through _exit).
        // SAFETY: closing the inherited number; nothing in the worker uses it.
        unsafe { libc::close(l.raw_fd()) };
        let w = worker.clone();
        match &l.kind {
            Kind::Tcp(_) => match TcpListener::from_std(std::net::TcpListener::from(fd)) {
                Ok(tl) => {
                    tokio::task::spawn_local(accept_loop(w, tl, idx));
                }
                Err(e) => {
                    logging::error(&format!("Cannot use listener {}: {e}", l.url()));
                    return 1;
                }
            },
            Kind::Unix(_) => {
                match UnixListener::from_std(std::os::unix::net::UnixListener::from(fd)) {
                    Ok(ul) => {
                        tokio::task::spawn_local(accept_loop(w, ul, idx));
                    }
                    Err(e) => {
                        logging::error(&format!("Cannot use listener {}: {e}", l.url()));
                        return 1;
                    }
                }
            }
        }
    }

    let mut usr1 =
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::user_defined1()) {
            Ok(s) => s,
            Err(e) => {
                logging::error(&format!("Cannot watch SIGUSR1: {e}"));
                return 1;
            }
        };
    let mut reloader = worker
        .cfg
        .reload
        .then(|| reloader::Reloader::new(&worker.cfg.reload_extra_files));
    let mut beat = tokio::time::interval(Duration::from_millis(500));
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = term.recv() => {
                if !worker.closing.get() {
                    logging::info(&format!("Worker exiting (pid: {})", std::process::id()));
                    worker.begin_shutdown();
                }
            }
            _ = usr1.recv() => {
                USR1_RECEIVED.store(false, Ordering::Relaxed);
                reopen_logs();
            }
            _ = beat.tick() => {
                if USR1_RECEIVED.swap(false, Ordering::Relaxed) {
                    reopen_logs();
                }
                scoreboard.beat(slot);
                logging::tick();
                if let Some(r) = reloader.as_mut() {
                    if let Some(f) = crate::gil::with_gil(|py| r.check(py)) {
                        if !worker.is_closing() {
                            logging::info(&format!("Worker reloading: {} modified", f.display()));
                            worker.begin_shutdown();
                        }
                    }
                }
                // SAFETY: getppid cannot fail.
                if unsafe { libc::getppid() } != master_pid && !worker.is_closing() {
                    logging::info(&format!("Parent changed, shutting down: {}", std::process::id()));
                    worker.begin_shutdown();
                }
            }
        }
        if worker.is_closing() {
            // Also when only the raw TERM flag is set: wake idle connections.
            worker.begin_shutdown();
            break;
        }
    }
    // Graceful stop: accept loops have ended, idle keep-alive connections
    // close; wait for the requests in flight, up to --graceful-timeout
    // (the master enforces it too, with SIGKILL).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(worker.cfg.graceful_timeout);
    while worker.connections.get() > 0 && tokio::time::Instant::now() < deadline {
        scoreboard.beat(slot);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    0
}

fn is_resource_exhaustion(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

thread_local! {
    /// When the last "cannot accept" line was logged (one per 10 s at most:
    /// descriptor exhaustion can last, the log must not fill the disk).
    static LAST_ACCEPT_ERROR_LOG: Cell<u64> = const { Cell::new(0) };
}

/// After a failed accept. Out of descriptors or memory: log (rate-limited)
/// and pause 100 ms, so the loop neither spins on a listener that stays
/// readable nor dies; it serves again as soon as descriptors are free.
/// Other errors (a client that reset before accept) are the client's.
async fn accept_backoff(e: std::io::Error) {
    if is_resource_exhaustion(&e) {
        let now = crate::scoreboard::now_ms();
        let last = LAST_ACCEPT_ERROR_LOG.with(Cell::get);
        if last == 0 || now.saturating_sub(last) >= 10_000 {
            LAST_ACCEPT_ERROR_LOG.with(|c| c.set(now.max(1)));
            logging::error(&format!(
                "Cannot accept a connection: {e}; pausing accepts and retrying"
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A listening socket of either family.
trait Accept {
    async fn accept_one(&self) -> std::io::Result<(conn::Stream, Peer)>;
}

impl Accept for TcpListener {
    async fn accept_one(&self) -> std::io::Result<(conn::Stream, Peer)> {
        let (s, addr) = self.accept().await?;
        let _ = s.set_nodelay(true);
        let peer = Peer {
            ip: Some(addr.ip()),
            addr: addr.ip().to_string(),
            port: Some(addr.port().to_string()),
            proxy: None,
        };
        Ok((conn::Stream::Tcp(s), peer))
    }
}

impl Accept for UnixListener {
    async fn accept_one(&self) -> std::io::Result<(conn::Stream, Peer)> {
        let (s, _) = self.accept().await?;
        let peer = Peer {
            ip: None,
            addr: String::new(),
            port: None,
            proxy: None,
        };
        Ok((conn::Stream::Unix(s), peer))
    }
}

/// Accepts connections on one listener until the worker stops, pausing
/// while the worker is at `--worker-connections`.
async fn accept_loop(worker: Rc<Worker>, l: impl Accept, idx: usize) {
    loop {
        tokio::select! {
            _ = worker.room_for_one_more() => {}
            _ = worker.closed() => return,
        }
        // SIGTERM may have arrived while the application ran (inline mode)
        // before the loop saw it: leave what is queued to the replacement.
        if worker.is_closing() {
            return;
        }
        let r = tokio::select! {
            // Checked first: a stopping worker leaves queued connections to
            // its replacement (or, if the server stops, to the kernel).
            biased;
            _ = worker.closed() => return,
            r = l.accept_one() => r,
        };
        match r {
            Ok((stream, peer)) => {
                // Counted here, not in the task: a burst of accepts must see
                // the connections it already took.
                worker.conn_opened();
                tokio::task::spawn_local(conn::serve(worker.clone(), stream, Arc::new(peer), idx));
                if worker.is_closing() {
                    // Taken just as the stop began: it is answered (with
                    // `Connection: close`), never dropped; no more are taken.
                    return;
                }
            }
            Err(e) => accept_backoff(e).await,
        }
    }
}

/// Leaves the worker process: flushes Python's stdio (the app's prints) and
/// exits without running the master's Python shutdown a second time.
pub fn exit_process(py: Python<'_>, code: i32) -> ! {
    if let Ok(sys) = py.import("sys") {
        for name in ["stdout", "stderr"] {
            if let Ok(s) = sys.getattr(name) {
                let _ = s.call_method0("flush");
            }
        }
    }
    // SAFETY: terminating the process; nothing runs after this.
    unsafe { libc::_exit(code) }
}
