//! Loading the application and the per-worker objects every request reuses.
//!
//! Owns: importing `APP_MODULE` (through `ferricorn._loader`, after fork),
//! the environ template dict (constant keys set once, copied per request),
//! interned key objects, and the per-listener SERVER_NAME/SERVER_PORT values.
//!
//! Must never: run per request, or print a traceback of ours: user mistakes
//! come back as one-line messages.

use std::collections::HashMap;
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
    /// GET, POST, ... as ready-made values.
    pub methods: Vec<(&'static [u8], Py<PyString>)>,
    /// Lower-case header name → interned `HTTP_*` key for common headers.
    pub headers: HashMap<&'static [u8], Py<PyString>>,
}

const COMMON_HEADERS: &[&str] = &[
    "host", "user-agent", "accept", "accept-encoding", "accept-language", "accept-charset",
    "connection", "cookie", "referer", "origin", "authorization", "cache-control", "pragma",
    "if-none-match", "if-modified-since", "if-match", "if-unmodified-since", "if-range", "range",
    "upgrade", "upgrade-insecure-requests", "x-forwarded-for", "x-forwarded-proto",
    "x-forwarded-host", "x-forwarded-port", "x-real-ip", "x-request-id", "x-requested-with",
    "x-csrftoken", "x-csrf-token", "forwarded", "dnt", "te", "via", "expect", "sec-fetch-site",
    "sec-fetch-mode", "sec-fetch-dest", "sec-fetch-user", "sec-ch-ua", "sec-ch-ua-mobile",
    "sec-ch-ua-platform", "priority", "keep-alive", "transfer-encoding",
];

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
            .map(|h| (h.as_bytes(), s(py, &format!("HTTP_{}", h.to_ascii_uppercase().replace('-', "_")))))
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
            methods,
            headers,
        }
    }
}

/// Everything a worker needs to run requests through the application.
pub struct WsgiApp {
    pub app: Py<PyAny>,
    pub template: Py<PyDict>,
    pub keys: Keys,
    /// `SCRIPT_NAME` from the environment, stripped from PATH_INFO.
    pub script_name: Vec<u8>,
    pub header_map: HeaderMap,
    /// Per listener: SERVER_NAME and SERVER_PORT values.
    pub servers: Vec<(Py<PyString>, Py<PyString>)>,
    pub format_exception: Py<PyAny>,
    pub cfg: Arc<Config>,
}

/// Why the application could not be loaded.
pub enum LoadError {
    /// A mistake in the spec or environment: one line for the log.
    User(String),
    /// The user's module raised while importing.
    Traceback { summary: String, traceback: String },
}

impl WsgiApp {
    /// Imports the application named by `cfg.app_uri` and prepares the
    /// per-worker objects.
    pub fn load(py: Python<'_>, cfg: &Arc<Config>, listeners: &[Listener]) -> Result<WsgiApp, LoadError> {
        let uri = cfg.app_uri.clone().unwrap_or_default();
        let loader = py
            .import("ferricorn._loader")
            .map_err(|e| LoadError::User(format!("cannot import ferricorn._loader: {e}")))?;
        let format_exception = loader
            .getattr("format_exception")
            .map_err(|e| LoadError::User(e.to_string()))?
            .unbind();
        let app = match loader.call_method1("load", (uri.as_str(),)) {
            Ok(app) => app.unbind(),
            Err(e) => {
                let app_error = loader
                    .getattr("AppError")
                    .ok()
                    .is_some_and(|t| e.get_type(py).is(&t));
                if app_error {
                    return Err(LoadError::User(e.value(py).to_string()));
                }
                // One line at ERROR (what failed and where); the whole
                // traceback at DEBUG for those who ask with --log-level debug.
                let summary = loader
                    .call_method1("summarize", (e.value(py),))
                    .and_then(|t| t.extract::<String>())
                    .unwrap_or_else(|_| e.to_string());
                let tb = format_exception
                    .call1(py, (e.value(py),))
                    .and_then(|t| t.extract::<String>(py))
                    .unwrap_or_else(|_| e.to_string());
                return Err(LoadError::Traceback {
                    summary: format!("Failed to load application {uri:?}: {summary}"),
                    traceback: tb,
                });
            }
        };
        let keys = Keys::new(py);
        let template = Self::template(py, cfg).map_err(|e| LoadError::User(e.to_string()))?;
        let servers = listeners
            .iter()
            .map(|l| match &l.kind {
                Kind::Tcp(sa) => (
                    PyString::new(py, &sa.ip().to_string()).unbind(),
                    PyString::new(py, &sa.port().to_string()).unbind(),
                ),
                Kind::Unix(_) => (keys.empty.clone_ref(py), keys.empty.clone_ref(py)),
            })
            .collect();
        let script_name = std::env::var("SCRIPT_NAME").unwrap_or_default().into_bytes();
        Ok(WsgiApp {
            app,
            template,
            keys,
            script_name,
            header_map: cfg.header_map,
            servers,
            format_exception,
            cfg: cfg.clone(),
        })
    }

    fn template(py: Python<'_>, cfg: &Config) -> PyResult<Py<PyDict>> {
        let d = PyDict::new(py);
        d.set_item("wsgi.version", PyTuple::new(py, [1, 0])?)?;
        d.set_item("wsgi.url_scheme", "http")?;
        d.set_item("wsgi.errors", Py::new(py, ErrorStream)?)?;
        d.set_item("wsgi.multithread", cfg.threads > 1)?;
        d.set_item("wsgi.multiprocess", cfg.workers > 1)?;
        d.set_item("wsgi.run_once", false)?;
        d.set_item("wsgi.file_wrapper", py.get_type::<FileWrapper>())?;
        d.set_item("wsgi.input_terminated", true)?;
        d.set_item("SERVER_SOFTWARE", concat!("ferricorn/", env!("CARGO_PKG_VERSION")))?;
        d.set_item("SCRIPT_NAME", std::env::var("SCRIPT_NAME").unwrap_or_default())?;
        Ok(d.unbind())
    }

    /// Formats a Python exception with its traceback for the error log.
    pub fn traceback(&self, py: Python<'_>, e: &PyErr) -> String {
        self.format_exception
            .call1(py, (e.value(py),))
            .and_then(|t| t.extract::<String>(py))
            .unwrap_or_else(|_| e.to_string())
    }
}
