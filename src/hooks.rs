//! Gunicorn's server hooks, seen from the Rust core.
//!
//! Owns: which hooks the configuration defines (read once per config load
//! into a bit set, so a server without hooks pays one atomic load per call
//! point and runs no Python), and the calls into `ferricorn._hooks`, which
//! builds the `server` / `worker` / `req` / `resp` objects and runs the
//! user's callables.
//!
//! Must never: call into Python for a hook that is not defined, or let a
//! failing hook take the process down (`_hooks` logs the traceback; errors
//! that reach here are logged too). `on_starting` and `when_ready` are the
//! exception, as in Gunicorn: their failure stops the server.

use std::sync::atomic::{AtomicU32, Ordering};

use pyo3::prelude::*;
use pyo3::types::PyList;

use crate::config::{Config, Value};
use crate::logging;

/// One of Gunicorn's 16 hooks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hook {
    OnStarting = 0,
    OnReload,
    WhenReady,
    PreFork,
    PostFork,
    PostWorkerInit,
    WorkerInt,
    WorkerAbort,
    PreExec,
    PreRequest,
    PostRequest,
    ChildExit,
    WorkerExit,
    NworkersChanged,
    OnExit,
    SslContext,
}

const NAMES: [&str; 16] = [
    "on_starting",
    "on_reload",
    "when_ready",
    "pre_fork",
    "post_fork",
    "post_worker_init",
    "worker_int",
    "worker_abort",
    "pre_exec",
    "pre_request",
    "post_request",
    "child_exit",
    "worker_exit",
    "nworkers_changed",
    "on_exit",
    "ssl_context",
];

impl Hook {
    pub fn name(self) -> &'static str {
        NAMES[self as usize]
    }
}

/// Bit `h as u32` is set when hook `h` is defined.
static DEFINED: AtomicU32 = AtomicU32::new(0);

/// Whether the configuration defines `h`.
#[inline]
pub fn defined(h: Hook) -> bool {
    DEFINED.load(Ordering::Relaxed) & (1 << h as u32) != 0
}

/// Whether any hook that runs in a worker is defined.
pub fn any_in_worker() -> bool {
    [
        Hook::PostFork,
        Hook::PostWorkerInit,
        Hook::WorkerInt,
        Hook::WorkerAbort,
        Hook::PreRequest,
        Hook::PostRequest,
        Hook::WorkerExit,
    ]
    .into_iter()
    .any(defined)
}

/// Whether any per-request hook is defined.
#[inline]
pub fn per_request() -> bool {
    DEFINED.load(Ordering::Relaxed)
        & ((1 << Hook::PreRequest as u32) | (1 << Hook::PostRequest as u32))
        != 0
}

fn module(py: Python<'_>) -> PyResult<Bound<'_, PyModule>> {
    py.import("ferricorn._hooks")
}

/// After a configuration is loaded (start, HUP): hands the validated
/// settings to `_hooks` (for `server.cfg`) and reads which hooks are set.
/// Does nothing, and imports nothing, when no config file defined a hook.
pub fn configure(py: Python<'_>, cfg: &Config) {
    // Only a config file can define hooks, and loading one imports
    // `_hooks`: if it is not imported, there are none (and importing it
    // here would cost every server start for nothing).
    let loaded = py
        .import("sys")
        .and_then(|s| s.getattr("modules"))
        .and_then(|m| m.contains("ferricorn._hooks"))
        .unwrap_or(false);
    if !loaded {
        DEFINED.store(0, Ordering::Relaxed);
        return;
    }
    let Ok(m) = module(py) else {
        DEFINED.store(0, Ordering::Relaxed);
        return;
    };
    let names: Vec<String> = m
        .call_method0("defined")
        .and_then(|v| v.extract())
        .unwrap_or_default();
    let mut bits = 0u32;
    for n in &names {
        if let Some(i) = NAMES.iter().position(|x| x == n) {
            bits |= 1 << i;
        }
    }
    DEFINED.store(bits, Ordering::Relaxed);
    if bits == 0 {
        return;
    }
    let r = settings_dict(py, cfg).and_then(|d| m.call_method1("set_settings", (d,)));
    if let Err(e) = r {
        logging::error(&format!("Cannot prepare the hooks' server.cfg: {e}"));
    }
}

/// `server.cfg`'s values: every setting by name, as Python values.
fn settings_dict<'py>(py: Python<'py>, cfg: &Config) -> PyResult<Bound<'py, pyo3::types::PyDict>> {
    let d = pyo3::types::PyDict::new(py);
    for (name, v) in &cfg.values {
        let obj: Bound<'py, PyAny> = match v {
            Value::None | Value::Object(_) => py.None().into_bound(py),
            Value::Bool(b) => b.into_pyobject(py)?.to_owned().into_any(),
            Value::Int(i) => i.into_pyobject(py)?.into_any(),
            Value::Str(s) => s.into_pyobject(py)?.into_any(),
            Value::List(items) => PyList::new(py, items)?.into_any(),
            Value::Binds(items) => PyList::new(py, items.iter().map(|b| b.to_string()))?.into_any(),
            Value::Env(pairs) => {
                PyList::new(py, pairs.iter().map(|(k, v)| format!("{k}={v}")))?.into_any()
            }
            Value::Dict(pairs) => {
                let dd = pyo3::types::PyDict::new(py);
                for (k, v) in pairs {
                    dd.set_item(k, v)?;
                }
                dd.into_any()
            }
            other => other.to_string().into_pyobject(py)?.into_any(),
        };
        if !matches!(v, Value::Object(_)) {
            d.set_item(name, obj)?;
        }
    }
    Ok(d)
}

/// Calls `_hooks.<func>(*args)`; a failure is logged, never raised.
pub fn call<'py>(py: Python<'py>, func: &str, args: impl pyo3::call::PyCallArgs<'py>) {
    if let Err(e) = module(py).and_then(|m| m.call_method1(func, args).map(|_| ())) {
        logging::error(&format!(
            "Error in server hook ({func}): {}",
            describe(py, &e)
        ));
    }
}

/// Like [`call`] but the error is returned: on_starting / when_ready.
pub fn call_fatal<'py>(
    py: Python<'py>,
    func: &str,
    args: impl pyo3::call::PyCallArgs<'py>,
) -> Result<(), String> {
    module(py)
        .and_then(|m| m.call_method1(func, args).map(|_| ()))
        .map_err(|e| describe(py, &e))
}

fn describe(py: Python<'_>, e: &PyErr) -> String {
    let tb = py
        .import("traceback")
        .and_then(|t| t.call_method1("format_exception", (e.clone_ref(py).into_value(py),)))
        .and_then(|l| l.extract::<Vec<String>>())
        .map(|v| v.concat())
        .unwrap_or_else(|_| e.to_string());
    tb.trim_end().to_string()
}

/// pre_request: returns the `req` object (kept for post_request), or None
/// when the call failed (logged).
pub fn pre_request<'py>(py: Python<'py>, environ: &Bound<'py, PyAny>) -> Option<Bound<'py, PyAny>> {
    match module(py).and_then(|m| m.call_method1("pre_request", (environ,))) {
        Ok(r) => Some(r),
        Err(e) => {
            logging::error(&format!(
                "Error in server hook (pre_request): {}",
                describe(py, &e)
            ));
            None
        }
    }
}

/// `_ferricorn._metric(kind, name, value)`: the hooks' `log.increment`,
/// `log.gauge`, `log.histogram` (Gunicorn's statsd logger methods).
#[pyfunction]
pub fn _metric(kind: &str, name: &str, value: &Bound<'_, PyAny>) {
    let rendered = value
        .str()
        .map(|s| s.to_string())
        .unwrap_or_else(|_| "0".into());
    logging::metric(kind, name, &rendered);
}

/// `_ferricorn._log(level, message)`: the hooks' `server.log` / `worker.log`
/// write through the core's error log.
#[pyfunction]
pub fn _log(level: &str, message: &str) {
    match level {
        "debug" => logging::debug(message),
        "warning" => logging::warning(message),
        "error" => logging::error(message),
        "critical" => logging::critical(message),
        _ => logging::info(message),
    }
}

#[cfg(test)]
mod tests {
    /// The hook names here (whose order is the `Hook` discriminants) must be
    /// the settings table's hook rows, in the same order.
    #[test]
    fn names_match_the_settings_table() {
        let table: Vec<&str> = crate::config::settings()
            .iter()
            .filter(|s| matches!(s.kind, crate::config::Kind::Hook(_)))
            .map(|s| s.name)
            .collect();
        assert_eq!(table, super::NAMES.to_vec());
        assert_eq!(super::Hook::SslContext.name(), "ssl_context");
    }
}
