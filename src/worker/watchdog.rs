//! `--request-timeout`: reports requests that run too long.
//!
//! Owns: one plain thread per worker (started only when the setting is on)
//! that looks at the requests in flight a few times a second; a request
//! past the limit is logged once, with its request line, and the worker's
//! Python stacks are written to the error log (faulthandler, registered on
//! [`dump_signal`]), so the line that hangs is visible while it hangs.
//!
//! Must never: touch Python (the thread has no Python thread state; the
//! stack dump is faulthandler's async-signal-safe writer), or interrupt the
//! request: a stuck request is reported here and killed only by
//! `--timeout` (the whole worker, as in Gunicorn).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::logging;

/// The signal whose faulthandler registration dumps every Python thread's
/// stack (a real-time signal: nothing else in a worker uses it).
pub fn dump_signal() -> libc::c_int {
    libc::SIGRTMIN() + 2
}

struct InFlight {
    id: u64,
    started: Instant,
    line: String,
    reported: bool,
}

struct Shared {
    limit: Duration,
    requests: Mutex<(u64, Vec<InFlight>)>,
}

/// Handle kept by the worker; cheap to clone.
#[derive(Clone)]
pub struct Watchdog(Arc<Shared>);

/// Marks one request in flight until dropped.
pub struct Guard {
    dog: Watchdog,
    id: u64,
}

impl Watchdog {
    /// Starts the watching thread.
    pub fn start(limit: Duration) -> std::io::Result<Watchdog> {
        let shared = Arc::new(Shared {
            limit,
            requests: Mutex::new((0, Vec::new())),
        });
        let dog = Watchdog(shared.clone());
        let tick = (limit / 4).clamp(Duration::from_millis(50), Duration::from_millis(500));
        std::thread::Builder::new()
            .name("request-watchdog".into())
            .spawn(move || loop {
                std::thread::sleep(tick);
                watch(&shared);
            })?;
        Ok(dog)
    }

    /// Records the start of a request (`line` is its request line).
    pub fn begin(&self, line: String) -> Guard {
        let mut g = match self.0.requests.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        g.0 += 1;
        let id = g.0;
        g.1.push(InFlight {
            id,
            started: Instant::now(),
            line,
            reported: false,
        });
        Guard {
            dog: self.clone(),
            id,
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let mut g = match self.dog.0.requests.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        g.1.retain(|r| r.id != self.id);
    }
}

fn watch(shared: &Shared) {
    let mut late = Vec::new();
    {
        let mut g = match shared.requests.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        for r in g.1.iter_mut() {
            if !r.reported && r.started.elapsed() >= shared.limit {
                r.reported = true;
                late.push((r.line.clone(), r.started.elapsed()));
            }
        }
    }
    if late.is_empty() {
        return;
    }
    for (line, took) in &late {
        logging::error(&format!(
            "Request running for {:.1} s, over --request-timeout ({} s): {line}; Python stacks follow",
            took.as_secs_f64(),
            shared.limit.as_secs()
        ));
    }
    // SAFETY: signalling our own process; faulthandler handles it.
    unsafe { libc::kill(libc::getpid(), dump_signal()) };
}
