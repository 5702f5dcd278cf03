//! The application threads of a worker started with `--threads N` (N > 1).
//!
//! Owns: N long-lived Python threads, each attached to the interpreter for
//! its whole life, and the queue of requests waiting for one. Requests beyond
//! N wait in the queue while the I/O thread keeps reading, writing and
//! accepting.
//!
//! Must never: be touched by the I/O thread with the GIL (the queue is plain
//! Rust; a thread takes the GIL only after it has a job, and releases it
//! while it waits for the next).

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};

use pyo3::prelude::*;
use tokio::sync::oneshot;

use crate::logging;
use crate::wsgi::app::WsgiApp;
use crate::wsgi::{handler, Done, Exchange};

struct Job {
    ex: Exchange,
    reply: oneshot::Sender<Done>,
}

#[derive(Default)]
struct Queue {
    jobs: Mutex<VecDeque<Job>>,
    ready: Condvar,
}

impl Queue {
    fn pop(&self) -> Option<Job> {
        let mut jobs = self.jobs.lock().ok()?;
        loop {
            if let Some(j) = jobs.pop_front() {
                return Some(j);
            }
            jobs = self.ready.wait(jobs).ok()?;
        }
    }
}

/// A fixed set of application threads fed from one queue.
pub struct Pool {
    queue: Arc<Queue>,
}

impl Pool {
    pub fn start(app: Arc<WsgiApp>, threads: usize) -> std::io::Result<Pool> {
        let queue = Arc::new(Queue::default());
        for i in 0..threads {
            let q = queue.clone();
            let app = app.clone();
            std::thread::Builder::new()
                .name(format!("ferricorn-app-{i}"))
                .spawn(move || {
                    Python::attach(|py| loop {
                        let Some(job) = py.detach(|| q.pop()) else {
                            return;
                        };
                        // Not inline: past the write budget this thread waits
                        // for the client itself (no `Resume`).
                        let done = handler::handle(py, &app, job.ex, false);
                        // The connection may have been dropped at shutdown; nothing to do then.
                        let _ = job.reply.send(done);
                    })
                })?;
        }
        Ok(Pool { queue })
    }

    /// Queues `ex` and waits for the application's answer.
    pub async fn dispatch(&self, ex: Exchange) -> Option<Done> {
        let (tx, rx) = oneshot::channel();
        match self.queue.jobs.lock() {
            Ok(mut jobs) => jobs.push_back(Job { ex, reply: tx }),
            Err(_) => {
                logging::error("application queue poisoned");
                return None;
            }
        }
        self.queue.ready.notify_one();
        rx.await.ok()
    }
}
