//! `--reload`: a worker stops itself when a Python file it uses changes.
//!
//! Owns: the modification times of every file in `sys.modules` (re-read on
//! each check, so modules imported later are watched too) and of
//! `--reload-extra-file`. Checked from the worker's heartbeat tick, about
//! once a second; on a change the worker stops gracefully and the master
//! starts a fresh one, which imports the new code (Gunicorn's poll engine).
//!
//! Must never: run when --reload is off (it takes the GIL briefly on the
//! loop thread), or reload on a file that merely appeared or vanished.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use pyo3::prelude::*;

/// Watches the files; see the module docs.
pub struct Reloader {
    mtimes: HashMap<PathBuf, SystemTime>,
    extra: Vec<PathBuf>,
    last: Instant,
}

impl Reloader {
    pub fn new(extra: &[String]) -> Reloader {
        Reloader {
            mtimes: HashMap::new(),
            extra: extra.iter().map(PathBuf::from).collect(),
            last: Instant::now() - Duration::from_secs(10),
        }
    }

    /// The first watched file whose modification time changed since the
    /// previous check (at most one check a second).
    pub fn check(&mut self, py: Python<'_>) -> Option<PathBuf> {
        if self.last.elapsed() < Duration::from_millis(900) {
            return None;
        }
        self.last = Instant::now();
        let mut files = module_files(py);
        files.extend(self.extra.iter().cloned());
        let mut changed = None;
        for f in files {
            let Ok(mtime) = std::fs::metadata(&f).and_then(|m| m.modified()) else {
                continue;
            };
            match self.mtimes.insert(f.clone(), mtime) {
                Some(before) if before != mtime && changed.is_none() => changed = Some(f),
                _ => {}
            }
        }
        changed
    }
}

/// `__file__` of every loaded module that has one.
fn module_files(py: Python<'_>) -> Vec<PathBuf> {
    let r = (|| -> PyResult<Vec<PathBuf>> {
        let modules = py.import("sys")?.getattr("modules")?;
        let values = py
            .import("builtins")?
            .getattr("list")?
            .call1((modules.call_method0("values")?,))?;
        let mut out = Vec::new();
        for m in values.try_iter()? {
            let Ok(f) = m?.getattr("__file__") else {
                continue;
            };
            if let Ok(s) = f.extract::<String>() {
                out.push(PathBuf::from(s));
            }
        }
        Ok(out)
    })();
    r.unwrap_or_default()
}
