//! Loading the application and the per-worker objects every request reuses.
//!
//! Owns: importing `APP_MODULE` (through `ferricorn._loader`, after fork),
//! the environ template dict (constant keys set once, copied per request),
//! interned key objects, and the per-listener SERVER_NAME/SERVER_PORT values.
//!
//! Must never: run per request, or print a traceback of ours: user mistakes
//! come back as one-line messages.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString, PyTuple};

use crate::config::{Config, HeaderMap};
use crate::listeners::{Kind, Listener};

use super::errors::ErrorStream;
use super::file_wrapper::FileWrapper;

/// Interned environ keys and common values, made once per worker.
pub struct Keys {
    pub request_method: Py<PyString>,
    pub script_name: Py<PyString>,
    pub path_info: Py<PyString>,
    pub query_string: Py<PyString>,
    pub raw_uri: Py<PyString>,
    pub request_uri: Py<PyString>,
    pub server_protocol: Py<PyString>,
    pub server_name: Py<PyString>,
    pub server_port: Py<PyString>,
    pub remote_addr: Py<PyString>,
    pub remote_port: Py<PyString>,
    pub content_type: Py<PyString>,
    pub content_length: Py<PyString>,
    pub wsgi_input: Py<PyString>,
    pub http_10: Py<PyString>,
    pub http_11: Py<PyString>,
    pub empty: Py<PyString>,
    pub close: Py<PyString>,
    pub url_scheme: Py<PyString>,
    pub http: Py<PyString>,
    pub https: Py<PyString>,
    /// GET, POST, ... as ready-made values.
    pub methods: Vec<(&'static [u8], Py<PyString>)>,
    /// Lower-case header name → interned `HTTP_*` key for common headers.
    pub headers: HashMap<&'static [u8], Py<PyString>, BuildHasherDefault<Fnv>>,
}

const COMMON_HEADERS: &[&str] = &[
    "host",
    "user-agent",
    "accept",
    "accept-encoding",
    "accept-language",
    "accept-charset",
    "connection",
    "cookie",
    "referer",
    "origin",
    "authorization",
    "cache-control",
    "pragma",
    "if-none-match",
    "if-modified-since",
    "if-match",
    "if-unmodified-since",
    "if-range",
    "range",
    "upgrade",
    "upgrade-insecure-requests",
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
    "x-forwarded-port",
    "x-real-ip",
    "x-request-id",
    "x-requested-with",
    "x-csrftoken",
    "x-csrf-token",
    "forwarded",
    "dnt",
    "te",
    "via",
    "expect",
    "sec-fetch-site",
    "sec-fetch-mode",
    "sec-fetch-dest",
    "sec-fetch-user",
    "sec-ch-ua",
    "sec-ch-ua-mobile",
    "sec-ch-ua-platform",
    "priority",
    "keep-alive",
    "transfer-encoding",
];

/// FNV-1a for the header-key table: a lookup per request header. The table
/// is fixed (our own keys, never grown from input), so SipHash's defence
/// against crafted collisions buys nothing here and costs more than the
/// rest of the lookup.
#[derive(Default)]
pub struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

fn s(py: Python<'_>, v: &str) -> Py<PyString> {
    PyString::intern(py, v).unbind()
}

impl Keys {
    fn new(py: Python<'_>) -> Keys {
        let methods = ["GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH"]
            .iter()
            .map(|m| (m.as_bytes(), s(py, m)))
            .collect();
        let headers = COMMON_HEADERS
            .iter()
            .map(|h| {
                (
                    h.as_bytes(),
                    s(
                        py,
                        &format!("HTTP_{}", h.to_ascii_uppercase().replace('-', "_")),
                    ),
                )
            })
            .collect();
        Keys {
            request_method: s(py, "REQUEST_METHOD"),
            script_name: s(py, "SCRIPT_NAME"),
            path_info: s(py, "PATH_INFO"),
            query_string: s(py, "QUERY_STRING"),
            raw_uri: s(py, "RAW_URI"),
            request_uri: s(py, "REQUEST_URI"),
            server_protocol: s(py, "SERVER_PROTOCOL"),
            server_name: s(py, "SERVER_NAME"),
            server_port: s(py, "SERVER_PORT"),
            remote_addr: s(py, "REMOTE_ADDR"),
            remote_port: s(py, "REMOTE_PORT"),
            content_type: s(py, "CONTENT_TYPE"),
            content_length: s(py, "CONTENT_LENGTH"),
            wsgi_input: s(py, "wsgi.input"),
            http_10: s(py, "HTTP/1.0"),
            http_11: s(py, "HTTP/1.1"),
            empty: s(py, ""),
            close: s(py, "close"),
            url_scheme: s(py, "wsgi.url_scheme"),
            http: s(py, "http"),
            https: s(py, "https"),
            methods,
            headers,
        }
    }
}

/// Everything a worker needs to run requests through the application.
pub struct WsgiApp {
    pub app: Py<PyAny>,
    /// One environ template per listener: constants, SERVER_NAME/PORT, and
    /// placeholders for every key each request sets, in a dict pre-sized so
    /// that copies take headers without resizing.
    pub templates: Vec<Py<PyDict>>,
    /// The shared `wsgi.input` for requests without a body (it holds no state).
    pub empty_input: Py<super::input::Input>,
    pub keys: Keys,
    /// `SCRIPT_NAME` from the environment, stripped from PATH_INFO.
    pub script_name: Vec<u8>,
    pub header_map: HeaderMap,
    pub format_exception: Py<PyAny>,
    pub proxy: super::proxy::ProxyTrust,
    pub cfg: Arc<Config>,
}

/// Imports the WSGI callable named by `uri` (`module:attr`, `module:factory(...)`).
/// Errors are one line (plus the traceback, for the user's own exceptions).
pub fn load_callable(py: Python<'_>, uri: &str) -> Result<Py<PyAny>, LoadError> {
    let loader = py
        .import("ferricorn._loader")
        .map_err(|e| LoadError::User(format!("cannot import ferricorn._loader: {e}")))?;
    let format_exception = loader
        .getattr("format_exception")
        .map_err(|e| LoadError::User(e.to_string()))?;
    let app = match loader.call_method1("load", (uri,)) {
        Ok(app) => app.unbind(),
        Err(e) => {
            let app_error = loader
                .getattr("AppError")
                .ok()
                .is_some_and(|t| e.get_type(py).is(&t));
            if app_error {
                let exit_code = e
                    .value(py)
                    .getattr("exit_code")
                    .and_then(|c| c.extract::<i32>())
                    .unwrap_or(4);
                return Err(LoadError::App {
                    message: e.value(py).to_string(),
                    exit_code,
                });
            }
            // One line at ERROR (what failed and where); the whole
            // traceback at DEBUG for those who ask with --log-level debug.
            // Before 3.12 the traceback travels beside the exception value
            // in the PyErr; into_value() attaches it to `__traceback__`.
            let value = e.clone_ref(py).into_value(py);
            let summary = loader
                .call_method1("summarize", (value.bind(py),))
                .and_then(|t| t.extract::<String>())
                .unwrap_or_else(|_| e.to_string());
            let tb = format_exception
                .call1((value.bind(py),))
                .and_then(|t| t.extract::<String>())
                .unwrap_or_else(|_| e.to_string());
            return Err(LoadError::Traceback {
                summary: format!("Failed to load application {uri:?}: {summary}"),
                traceback: tb,
            });
        }
    };
    Ok(app)
}

extern "C" {
    /// CPython's pre-sized dict constructor (exported by libpython 3.x,
    /// declared in Include/cpython/dictobject.h; pyo3-ffi skips private names).
    fn _PyDict_NewPresized(minused: pyo3::ffi::Py_ssize_t) -> *mut pyo3::ffi::PyObject;
}

/// Why the application could not be loaded.
pub enum LoadError {
    /// A mistake in the spec or environment: one line for the log.
    User(String),
    /// The module imported but holds no usable application (exit 4), or
    /// could not be found (exit 3): one line for the log and the exit status.
    App { message: String, exit_code: i32 },
    /// The user's module raised while importing.
    Traceback { summary: String, traceback: String },
}

impl WsgiApp {
    /// Imports the application named by `cfg.app_uri` and prepares the
    /// per-worker objects.
    /// Imports `cfg.app_uri` and prepares the per-worker objects (after fork).
    pub fn load(
        py: Python<'_>,
        cfg: &Arc<Config>,
        listeners: &[Listener],
    ) -> Result<WsgiApp, LoadError> {
        let app = load_callable(py, cfg.app_uri.as_deref().unwrap_or_default())?;
        Self::with_app(py, cfg, listeners, app)
    }

    /// Prepares the per-worker objects around an already loaded application
    /// (`--preload`: imported by the master before fork).
    pub fn with_app(
        py: Python<'_>,
        cfg: &Arc<Config>,
        listeners: &[Listener],
        app: Py<PyAny>,
    ) -> Result<WsgiApp, LoadError> {
        let loader = py
            .import("ferricorn._loader")
            .map_err(|e| LoadError::User(format!("cannot import ferricorn._loader: {e}")))?;
        let format_exception = loader
            .getattr("format_exception")
            .map_err(|e| LoadError::User(e.to_string()))?
            .unbind();
        let keys = Keys::new(py);
        let templates = listeners
            .iter()
            .map(|l| Self::template(py, cfg, &keys, &l.kind).map(Bound::unbind))
            .collect::<PyResult<Vec<_>>>()
            .map_err(|e| LoadError::User(e.to_string()))?;
        let empty_input = Py::new(py, super::input::Input::new(bytes::BytesMut::new(), None))
            .map_err(|e| LoadError::User(e.to_string()))?;
        let script_name = std::env::var("SCRIPT_NAME")
            .unwrap_or_default()
            .into_bytes();
        let (proxy, bad) =
            super::proxy::ProxyTrust::new(&cfg.forwarded_allow_ips, &cfg.secure_scheme_headers);
        if !bad.is_empty() {
            return Err(LoadError::User(format!(
                "invalid --forwarded-allow-ips entries: {}",
                bad.join(", ")
            )));
        }
        Ok(WsgiApp {
            app,
            templates,
            empty_input,
            keys,
            script_name,
            header_map: cfg.header_map,
            format_exception,
            proxy,
            cfg: cfg.clone(),
        })
    }

    fn template<'py>(
        py: Python<'py>,
        cfg: &Config,
        k: &Keys,
        kind: &Kind,
    ) -> PyResult<Bound<'py, PyDict>> {
        // Pre-sized for ~48 entries: PyDict_Copy clones the key table as it
        // is, so every per-request copy has room for the request's headers
        // without a resize (measured: resizing was ~5% of a hello request).
        // SAFETY: _PyDict_NewPresized returns a new reference or NULL with an exception set.
        let d = unsafe {
            Bound::from_owned_ptr_or_err(py, _PyDict_NewPresized(48))?
                .cast_into_unchecked::<PyDict>()
        };
        d.set_item("wsgi.version", PyTuple::new(py, [1, 0])?)?;
        d.set_item("wsgi.url_scheme", "http")?;
        d.set_item("wsgi.errors", Py::new(py, ErrorStream)?)?;
        d.set_item("wsgi.multithread", cfg.threads > 1)?;
        d.set_item("wsgi.multiprocess", cfg.workers > 1)?;
        d.set_item("wsgi.run_once", false)?;
        d.set_item("wsgi.file_wrapper", py.get_type::<FileWrapper>())?;
        d.set_item("wsgi.input_terminated", true)?;
        d.set_item(
            "SERVER_SOFTWARE",
            concat!("ferricorn/", env!("CARGO_PKG_VERSION")),
        )?;
        d.set_item(
            &k.script_name,
            std::env::var("SCRIPT_NAME").unwrap_or_default(),
        )?;
        match kind {
            Kind::Tcp(sa) => {
                d.set_item(&k.server_name, sa.ip().to_string())?;
                d.set_item(&k.server_port, sa.port().to_string())?;
                d.set_item(&k.remote_port, &k.empty)?;
            }
            Kind::Unix(_) => {
                d.set_item(&k.server_name, &k.empty)?;
                d.set_item(&k.server_port, &k.empty)?;
            }
        }
        // Placeholders, overwritten by every request: a copy then only
        // replaces values in place instead of inserting.
        for key in [
            &k.request_method,
            &k.path_info,
            &k.query_string,
            &k.raw_uri,
            &k.request_uri,
            &k.server_protocol,
            &k.remote_addr,
            &k.wsgi_input,
        ] {
            d.set_item(key, &k.empty)?;
        }
        Ok(d)
    }

    /// Formats a Python exception with its traceback for the error log.
    pub fn traceback(&self, py: Python<'_>, e: &PyErr) -> String {
        // Before 3.12 the traceback travels beside the value in the PyErr;
        // into_value() attaches it (else only the last line would show).
        let value = e.clone_ref(py).into_value(py);
        self.format_exception
            .call1(py, (value,))
            .and_then(|t| t.extract::<String>(py))
            .unwrap_or_else(|_| e.to_string())
    }
}
