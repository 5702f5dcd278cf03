//! Building the per-request `environ` dict.
//!
//! Owns: the mapping from a parsed request to PEP 3333 / CGI keys, done as a
//! copy of the worker's template dict plus one `PyDict_SetItem` per
//! request-specific key, with interned keys (their hashes are cached).
//!
//! Must never: merge `os.environ` (request data would be shadowed and it
//! costs per request), or pass a header whose name contains `_` unless
//! `--header-map dangerous` asks for it (CVE-2015-0219: `X_Forwarded_For`
//! must not masquerade as `X-Forwarded-For`).

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};

use crate::config::HeaderMap;
use crate::http::Version;

use super::app::WsgiApp;
use super::Exchange;

/// A Python `str` from bytes decoded as latin-1 (PEP 3333 "native strings").
pub fn latin1<'py>(py: Python<'py>, b: &[u8]) -> PyResult<Bound<'py, PyString>> {
    // SAFETY: PyUnicode_DecodeLatin1 reads exactly `len` bytes from a live
    // slice; a NULL result is turned into the pending Python exception.
    unsafe {
        let p = ffi::PyUnicode_DecodeLatin1(
            b.as_ptr().cast(),
            b.len() as ffi::Py_ssize_t,
            std::ptr::null(),
        );
        Bound::from_owned_ptr_or_err(py, p).map(|o| o.cast_into_unchecked())
    }
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Percent-decodes a path; invalid escapes are kept as they are.
pub fn percent_decode(path: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    if !path.contains(&b'%') {
        return std::borrow::Cow::Borrowed(path);
    }
    let mut out = Vec::with_capacity(path.len());
    let mut i = 0;
    while i < path.len() {
        if path[i] == b'%' && i + 2 < path.len() {
            if let (Some(h), Some(l)) = (hex(path[i + 1]), hex(path[i + 2])) {
                out.push(h * 16 + l);
                i += 3;
                continue;
            }
        }
        out.push(path[i]);
        i += 1;
    }
    std::borrow::Cow::Owned(out)
}

/// `host[:port]` / `[v6]:port` → (host, port).
fn split_host(h: &[u8]) -> (&[u8], Option<&[u8]>) {
    let colon = if h.starts_with(b"[") {
        h.iter()
            .position(|&c| c == b']')
            .and_then(|e| (h.get(e + 1) == Some(&b':')).then_some(e + 1))
    } else {
        h.iter().rposition(|&c| c == b':')
    };
    match colon {
        Some(i) => (&h[..i], Some(&h[i + 1..])),
        None => (h, None),
    }
}

/// Whether two header names map to the same environ key.
fn same_key(a: &[u8], b: &[u8]) -> bool {
    let norm = |c: u8| {
        if c == b'-' {
            b'_'
        } else {
            c.to_ascii_uppercase()
        }
    };
    a.len() == b.len() && a.iter().zip(b).all(|(&x, &y)| norm(x) == norm(y))
}

/// The problem that makes a request unanswerable by the app (mapped to a status).
pub struct EnvironError {
    pub status: u16,
    pub reason: String,
}

/// Builds the environ for `ex`; `input` becomes `wsgi.input`.
pub fn build<'py>(
    py: Python<'py>,
    app: &WsgiApp,
    ex: &Exchange,
    input: Bound<'py, PyAny>,
) -> PyResult<Result<Bound<'py, PyDict>, EnvironError>> {
    let k = &app.keys;
    let head = &ex.head;
    let Some(template) = app.templates.get(ex.listener) else {
        return Ok(Err(EnvironError {
            status: 500,
            reason: "unknown listener".into(),
        }));
    };
    let env = template.bind(py).copy()?;

    let method = head.method();
    match k.methods.iter().find(|(m, _)| *m == method) {
        Some((_, v)) => env.set_item(&k.request_method, v.bind(py))?,
        None => env.set_item(&k.request_method, latin1(py, method)?)?,
    }

    let target = head.target();
    let (path, query) = head.path_and_query();
    let decoded = percent_decode(path);
    let mut path_info: &[u8] = &decoded;
    if !app.script_name.is_empty() {
        match path_info.strip_prefix(app.script_name.as_slice()) {
            Some(rest) => path_info = rest,
            None => {
                return Ok(Err(EnvironError {
                    status: 500,
                    reason: format!(
                        "Request path {:?} does not start with SCRIPT_NAME {:?}",
                        String::from_utf8_lossy(&decoded),
                        String::from_utf8_lossy(&app.script_name)
                    ),
                }))
            }
        }
    }
    env.set_item(&k.path_info, latin1(py, path_info)?)?;
    env.set_item(
        &k.query_string,
        if query.is_empty() {
            k.empty.bind(py).clone()
        } else {
            latin1(py, query)?
        },
    )?;
    let raw = latin1(py, target)?;
    env.set_item(&k.raw_uri, &raw)?;
    env.set_item(&k.request_uri, &raw)?;
    env.set_item(
        &k.server_protocol,
        match head.version {
            Version::Http10 => k.http_10.bind(py),
            Version::Http11 => k.http_11.bind(py),
        },
    )?;
    env.set_item(&k.remote_addr, latin1(py, ex.peer.addr.as_bytes())?)?;
    if let Some(port) = &ex.peer.port {
        env.set_item(&k.remote_port, latin1(py, port.as_bytes())?)?;
    }

    if let Some(p) = &ex.peer.proxy {
        env.set_item("PROXY_PROTOCOL", p.protocol)?;
        env.set_item("PROXY_ADDR", &p.addr)?;
        env.set_item("PROXY_PORT", &p.port)?;
    }

    let mut name_buf = [0u8; 256];
    for (i, h) in head.headers.iter().enumerate() {
        let name = head.bytes(h.name);
        let value = head.bytes(h.value);
        if name.contains(&b'_') {
            match app.header_map {
                HeaderMap::Drop => continue,
                HeaderMap::Refuse => {
                    return Ok(Err(EnvironError {
                        status: 400,
                        reason: "header name contains an underscore".into(),
                    }))
                }
                HeaderMap::Dangerous => {}
            }
        }
        let key: Bound<'py, PyString> = if name.eq_ignore_ascii_case(b"content-type") {
            k.content_type.bind(py).clone()
        } else if name.eq_ignore_ascii_case(b"content-length") {
            k.content_length.bind(py).clone()
        } else {
            let lower_hit = if name.len() <= 64 {
                let mut low = [0u8; 64];
                for (d, s) in low.iter_mut().zip(name) {
                    *d = s.to_ascii_lowercase();
                }
                k.headers
                    .get(&low[..name.len()])
                    .map(|v| v.bind(py).clone())
            } else {
                None
            };
            match lower_hit {
                Some(key) => key,
                None => {
                    let n = name.len() + 5;
                    let mut owned;
                    let buf: &mut [u8] = if n <= name_buf.len() {
                        &mut name_buf[..n]
                    } else {
                        owned = vec![0u8; n];
                        &mut owned[..]
                    };
                    buf[..5].copy_from_slice(b"HTTP_");
                    for (d, s) in buf[5..].iter_mut().zip(name) {
                        *d = match s {
                            b'-' => b'_',
                            c => c.to_ascii_uppercase(),
                        };
                    }
                    latin1(py, buf)?
                }
            }
        };
        let val = latin1(py, value)?;
        // Repeated fields are joined with "," as Gunicorn does. Duplicates are
        // rare: look for an earlier field of the same name in Rust and only
        // then ask the dict. Names differing only in '-'/'_' map to one key.
        let repeated = head.headers[..i]
            .iter()
            .any(|p| same_key(head.bytes(p.name), name));
        match if repeated { env.get_item(&key)? } else { None } {
            Some(prev) => {
                let joined = format!("{},{}", prev.str()?.to_str()?, val.to_str()?);
                env.set_item(&key, joined)?;
            }
            None => env.set_item(&key, val)?,
        }
    }
    // An absolute-form target's authority replaces Host (RFC 9112 §3.2.2:
    // the server MUST ignore the Host field then); the parser already
    // checked that a Host field is present.
    let authority = if method == b"CONNECT" {
        None
    } else {
        head.target_authority()
    };
    if let Some(auth) = authority {
        match k.headers.get(&b"host"[..]) {
            Some(key) => env.set_item(key.bind(py), latin1(py, auth)?)?,
            None => env.set_item("HTTP_HOST", latin1(py, auth)?)?,
        }
    }
    let mut https = false;
    // A trusted proxy may say the client spoke https (Gunicorn's
    // forwarded_allow_ips + secure_scheme_headers; default: localhost only).
    if app.proxy.trusts(ex.peer.ip) {
        match app.proxy.scheme(
            head.headers
                .iter()
                .map(|h| (head.bytes(h.name), head.bytes(h.value))),
        ) {
            super::proxy::Scheme::Default | super::proxy::Scheme::Http => {}
            super::proxy::Scheme::Https => {
                https = true;
                env.set_item(&k.url_scheme, k.https.bind(py))?
            }
            super::proxy::Scheme::Conflict => {
                return Ok(Err(EnvironError {
                    status: 400,
                    reason: "conflicting scheme headers".into(),
                }))
            }
        }
    }
    // On a Unix socket there is no local address to report: Gunicorn takes
    // SERVER_NAME/SERVER_PORT from the Host header (default port by scheme).
    if ex.peer.ip.is_none() {
        if let Some(host) = authority.or_else(|| head.header("host")) {
            let (name, port) = split_host(host);
            env.set_item(&k.server_name, latin1(py, name)?)?;
            env.set_item(
                &k.server_port,
                latin1(py, port.unwrap_or(if https { b"443" } else { b"80" }))?,
            )?;
        }
    }
    env.set_item(&k.wsgi_input, input)?;
    Ok(Ok(env))
}
