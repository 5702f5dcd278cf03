//! `start_response`, `write()` and the response's way onto the socket.
//!
//! Owns: validating what the application passed to `start_response` (status
//! line, header names and values), deciding the framing (Content-Length,
//! chunked, close-delimited, or no body for HEAD/1xx/204/304), writing head
//! and body with as few system calls as possible (head and first chunk in one
//! `writev`), and enforcing the application's Content-Length.
//!
//! Small responses are corked: up to [`CORK_LIMIT`] bytes are only queued
//! in `pending` (the connection's reused output buffer), and the connection
//! task writes them after the event loop has run the other requests that
//! were ready (inline mode: the other applications; threaded mode: the other
//! replies that came back from the application threads in the meantime).
//! The client then receives this tick's responses
//! in one burst instead of being woken once per response while its
//! neighbours' applications run; waking a sleeping reader on another core
//! is the largest kernel cost per request once the application takes more
//! than a few microseconds (libev servers such as bjoern get the same
//! effect by writing from the next loop iteration). Larger responses go out
//! at once, straight from the application's `bytes`. A streamed body is
//! never held back: before the iterable is asked for another block, what is
//! corked goes out (inline mode by suspending, threaded mode by writing it
//! from the application thread, [`Output::uncork`]).
//!
//! Bytes the socket does not take at once are copied to `pending`; up to the
//! write budget they are left for the connection task to finish without
//! Python. Beyond it a slow reader must not grow memory: in threaded mode
//! the application thread waits (GIL released) for the client to catch up;
//! in inline mode ([`Output::defer`]) waiting would stop the event loop, so
//! the handler stops pulling from the response iterable instead and the
//! connection task writes asynchronously before resuming it
//! (`handler::Resume`). Only the legacy `write()` callable, which cannot be
//! suspended, still waits in inline mode.
//!
//! Must never: send a header containing CR, LF or NUL, send a body where
//! HTTP forbids one, send more than the declared Content-Length, or block on
//! the socket with the GIL held.

use std::borrow::Cow;
use std::os::fd::RawFd;
use std::time::Duration;

use pyo3::exceptions::{PyAssertionError, PyIOError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyString, PyTuple};

use super::header_cache::{self, Kind};
use crate::http::{reason_phrase, HttpDate};
use crate::logging;
use crate::rawio;

/// Bytes of unsent response a request may leave to the connection task
/// before the application waits for the client (or, inline, is suspended).
pub const WRITE_BUDGET: usize = 1 << 20;

/// Inline mode: responses (head and body so far) up to this size are queued
/// for the connection task rather than written at once (see the module doc).
/// Small enough that the copy costs less than the wake-up it saves.
pub const CORK_LIMIT: usize = 16 * 1024;

thread_local! {
    static DATE: std::cell::RefCell<HttpDate> = std::cell::RefCell::new(HttpDate::new());
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// Not decided: headers not sent yet.
    Unset,
    Length(u64),
    Chunked,
    Close,
    NoBody,
}

/// The response side of one exchange.
pub struct Output {
    fd: RawFd,
    pub headers_sent: bool,
    pub status: u16,
    framing: Framing,
    pub keep_alive: bool,
    head_request: bool,
    http11: bool,
    pub pending: Vec<u8>,
    pub body_bytes: u64,
    /// A write failed: the client is gone.
    pub broken: bool,
    /// The response cannot be completed; close after flushing.
    pub abort: bool,
    truncated_logged: bool,
    write_timeout: Duration,
    pub resp_headers: Option<Vec<(Vec<u8>, Vec<u8>)>>,
    /// A request body that streams: when the head goes out, whatever the
    /// app left unread decides whether the connection can stay open (the
    /// head must say `Connection: close` if it cannot, RFC 9110 §10.1.1).
    pub input: Option<Py<super::input::Input>>,
    /// Inline mode: never wait for the client while iterating the response;
    /// past the budget the caller suspends instead (see [`Output::over_budget`]).
    defer: bool,
    /// Until the first suspension (inline) or the first streamed block
    /// (threaded): small output is queued rather than written (see the
    /// module doc).
    pub cork: bool,
    /// Inline mode, between resumptions: the connection task owns the
    /// socket, so `write()` (from another thread, a leaked callable) must
    /// not touch it.
    pub suspended: bool,
}

/// Response headers the server treats specially.
enum Special {
    None,
    Connection,
    /// Transfer-Encoding and Keep-Alive: hop-by-hop, decided by the server.
    Framing,
    ContentLength,
    Server,
    Date,
}

fn special_header(name: &[u8]) -> Special {
    // Dispatch on length first: most headers are compared against nothing.
    match name.len() {
        4 if name.eq_ignore_ascii_case(b"date") => Special::Date,
        6 if name.eq_ignore_ascii_case(b"server") => Special::Server,
        10 if name.eq_ignore_ascii_case(b"connection") => Special::Connection,
        10 if name.eq_ignore_ascii_case(b"keep-alive") => Special::Framing,
        14 if name.eq_ignore_ascii_case(b"content-length") => Special::ContentLength,
        17 if name.eq_ignore_ascii_case(b"transfer-encoding") => Special::Framing,
        _ => Special::None,
    }
}

/// 1*DIGIT with optional surrounding spaces; None on anything else or overflow.
fn parse_length(v: &[u8]) -> Option<u64> {
    let v = v.trim_ascii();
    if v.is_empty() {
        return None;
    }
    v.iter().try_fold(0u64, |n, &c| {
        if c.is_ascii_digit() {
            n.checked_mul(10)?.checked_add((c - b'0') as u64)
        } else {
            None
        }
    })
}

fn itoa(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[i..];
        }
    }
}

/// A `str` as latin-1 bytes; errors for code points above U+00FF.
/// ASCII strings (nearly all headers) are borrowed from the str itself.
fn latin1_bytes<'a>(s: &'a Bound<'_, PyAny>, what: &str) -> PyResult<Cow<'a, [u8]>> {
    let s = s
        .cast::<PyString>()
        .map_err(|_| PyTypeError::new_err(format!("{what} must be a str, not {}", type_name(s))))?;
    let t = s.to_str()?;
    if t.is_ascii() {
        return Ok(Cow::Borrowed(t.as_bytes()));
    }
    t.chars()
        .map(|c| u8::try_from(c as u32).ok())
        .collect::<Option<Vec<u8>>>()
        .map(Cow::Owned)
        .ok_or_else(|| PyValueError::new_err(format!("{what} {t:?} is not latin-1 encodable")))
}

fn type_name(o: &Bound<'_, PyAny>) -> String {
    o.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into())
}

impl Output {
    pub fn new(
        fd: RawFd,
        keep_alive: bool,
        head_request: bool,
        http11: bool,
        write_timeout: Duration,
        defer: bool,
        mut pending: Vec<u8>,
    ) -> Output {
        pending.clear();
        Output {
            fd,
            headers_sent: false,
            status: 0,
            framing: Framing::Unset,
            keep_alive,
            head_request,
            http11,
            pending,
            body_bytes: 0,
            broken: false,
            abort: false,
            truncated_logged: false,
            write_timeout,
            resp_headers: if logging::access_needs_response_headers() {
                Some(Vec::new())
            } else {
                None
            },
            input: None,
            defer,
            cork: true,
            suspended: false,
        }
    }

    /// The socket may be gone (a connection dropped with its response
    /// suspended): nothing more is written through this output.
    pub fn forget_socket(&mut self) {
        self.fd = -1;
        self.broken = true;
        self.suspended = false;
    }

    /// Inline mode only: more than the write budget is waiting, so the
    /// caller should stop producing and let the connection task write.
    #[inline]
    pub fn over_budget(&self) -> bool {
        self.defer && self.pending.len() > WRITE_BUDGET
    }

    /// Corked bytes are waiting. Before an iterator is asked for its next
    /// item (which may block: a generator that streams), they must go out
    /// first (PEP 3333: a block is sent before the next is requested):
    /// inline the caller suspends, threaded it calls [`Output::uncork`].
    #[inline]
    pub fn corked(&self) -> bool {
        self.cork && !self.pending.is_empty()
    }

    /// Inline mode: the connection task, not this request, waits for the client.
    #[inline]
    pub fn defers(&self) -> bool {
        self.defer
    }

    /// Threaded mode: sends what is corked now, and everything after it as
    /// it comes (a streamed body: the next block may take a while).
    pub fn uncork(&mut self, py: Python<'_>) -> PyResult<()> {
        self.cork = false;
        self.output(py, &[])
    }

    /// The head is out and the body can take no more bytes (its declared
    /// Content-Length is reached, or it has none: HEAD, 204, 304). What the
    /// iterable still yields is never sent, so the corked response need not
    /// wait for it.
    #[inline]
    pub fn complete(&self) -> bool {
        matches!(self.framing, Framing::Length(0) | Framing::NoBody)
    }

    /// Validates status and headers and queues the response head.
    /// `known_len` is the body length when the whole body is already known.
    pub fn send_headers(
        &mut self,
        status: &Bound<'_, PyAny>,
        headers: &Bound<'_, PyAny>,
        known_len: Option<u64>,
    ) -> PyResult<()> {
        let status_b = latin1_bytes(status, "status")?;
        if status_b
            .iter()
            .any(|&c| c < 0x20 && c != b'\t' || c == 0x7f)
        {
            return Err(PyValueError::new_err("status contains a control character"));
        }
        let code = match status_b.get(..3) {
            Some(d)
                if d.iter().all(u8::is_ascii_digit)
                    && (status_b.len() == 3 || status_b[3] == b' ') =>
            {
                (d[0] - b'0') as u16 * 100 + (d[1] - b'0') as u16 * 10 + (d[2] - b'0') as u16
            }
            _ => {
                return Err(PyValueError::new_err(format!(
                    "invalid status {:?}: expected 'NNN Reason'",
                    String::from_utf8_lossy(&status_b)
                )))
            }
        };
        if code < 200 {
            // A 1xx is never a final response; WSGI has no way to send an
            // interim one, so the client would be left without an answer.
            return Err(PyValueError::new_err(format!(
                "invalid final status code {code}"
            )));
        }
        let no_body = self.head_request || code < 200 || code == 204 || code == 304;
        // The head is built in place in `pending`: status line, the app's
        // headers, then ours (Server/Date unless the app set them, framing,
        // Connection). Header order carries no meaning in HTTP.
        let head = &mut self.pending;
        head.reserve(256);
        head.extend_from_slice(b"HTTP/1.1 ");
        head.extend_from_slice(&status_b);
        if status_b.len() == 3 {
            head.push(b' ');
            head.extend_from_slice(reason_phrase(code).as_bytes());
        }
        head.extend_from_slice(b"\r\n");
        let mut app_len: Option<u64> = None;
        let mut has_server = false;
        let mut has_date = false;
        let mut keep_alive = self.keep_alive;
        let mut each = |item: Bound<'_, PyAny>| -> PyResult<()> {
            // A constant header tuple seen before: checked and encoded already.
            let hit = header_cache::with(&item, |e| {
                match e.kind {
                    Kind::ContentLength(n) => {
                        if app_len.is_some() {
                            return Err(PyValueError::new_err(
                                "more than one Content-Length header",
                            ));
                        }
                        app_len = Some(n);
                        if code < 200 || code == 204 {
                            return Ok(()); // RFC 9110 §8.6: never on 1xx or 204
                        }
                    }
                    Kind::Server => has_server = true,
                    Kind::Date => has_date = true,
                    Kind::Plain => {}
                }
                head.extend_from_slice(&e.line);
                if let Some(rh) = self.resp_headers.as_mut() {
                    rh.push((e.name().to_vec(), e.value().to_vec()));
                }
                Ok(())
            });
            if let Some(r) = hit {
                return r;
            }
            let pair = item.cast::<PyTuple>().map_err(|_| {
                PyTypeError::new_err(format!(
                    "header must be a (name, value) tuple, not {}",
                    type_name(&item)
                ))
            })?;
            if pair.len() != 2 {
                return Err(PyTypeError::new_err("header must be a (name, value) tuple"));
            }
            let (name_obj, value_obj) = (pair.get_item(0)?, pair.get_item(1)?);
            let name = latin1_bytes(&name_obj, "header name")?;
            let value = latin1_bytes(&value_obj, "header value")?;
            if name.is_empty() || !name.iter().all(|&c| crate::http::request::is_tchar(c)) {
                return Err(PyValueError::new_err(format!(
                    "invalid header name {:?}",
                    String::from_utf8_lossy(&name)
                )));
            }
            if value.iter().any(|&c| (c < 0x20 && c != b'\t') || c == 0x7f) {
                return Err(PyValueError::new_err(format!(
                    "invalid value for header {:?}: contains a control character",
                    String::from_utf8_lossy(&name)
                )));
            }
            let special = special_header(&name);
            let mut kind = Kind::Plain;
            match special {
                Special::Connection => {
                    // Hop-by-hop: we write our own; "close" from the app is honoured.
                    if value
                        .split(|&c| c == b',')
                        .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"close"))
                    {
                        keep_alive = false;
                    }
                    return Ok(());
                }
                Special::Framing => return Ok(()), // the server decides the framing
                Special::ContentLength => {
                    if app_len.is_some() {
                        return Err(PyValueError::new_err("more than one Content-Length header"));
                    }
                    let n = parse_length(&value).ok_or_else(|| {
                        PyValueError::new_err(format!(
                            "invalid Content-Length {:?}",
                            String::from_utf8_lossy(&value)
                        ))
                    })?;
                    app_len = Some(n);
                    kind = Kind::ContentLength(n);
                    if code < 200 || code == 204 {
                        header_cache::remember(&item, &name, &value, kind, 1);
                        return Ok(()); // RFC 9110 §8.6: never on 1xx or 204
                    }
                }
                Special::Server => {
                    has_server = true;
                    kind = Kind::Server;
                }
                Special::Date => {
                    has_date = true;
                    kind = Kind::Date;
                }
                Special::None => {}
            }
            // The iteration holds one reference to `item`.
            header_cache::remember(&item, &name, &value, kind, 1);
            head.extend_from_slice(&name);
            head.extend_from_slice(b": ");
            head.extend_from_slice(&value);
            head.extend_from_slice(b"\r\n");
            if let Some(rh) = self.resp_headers.as_mut() {
                rh.push((name.into_owned(), value.into_owned()));
            }
            Ok(())
        };
        let r = match headers.cast::<PyList>() {
            Ok(list) => list.iter().try_for_each(&mut each),
            Err(_) => headers.try_iter()?.try_for_each(|item| each(item?)),
        };
        if let Err(e) = r {
            self.pending.clear();
            return Err(e);
        }
        self.keep_alive = keep_alive;
        let head = &mut self.pending;
        if !has_server {
            head.extend_from_slice(b"Server: ferricorn\r\n");
        }
        if !has_date {
            head.extend_from_slice(b"Date: ");
            DATE.with(|d| head.extend_from_slice(d.borrow_mut().get()));
            head.extend_from_slice(b"\r\n");
        }
        self.framing = if no_body {
            Framing::NoBody
        } else if let Some(n) = app_len {
            Framing::Length(n)
        } else if let Some(n) = known_len {
            head.extend_from_slice(b"Content-Length: ");
            head.extend_from_slice(itoa(n, &mut [0u8; 20]));
            head.extend_from_slice(b"\r\n");
            Framing::Length(n)
        } else if self.http11 {
            head.extend_from_slice(b"Transfer-Encoding: chunked\r\n");
            Framing::Chunked
        } else {
            self.keep_alive = false;
            Framing::Close
        };
        if self.keep_alive {
            if let Some(input) = &self.input {
                // Borrowed elsewhere (a read in progress on another thread):
                // unknown, so close.
                let unread = input
                    .bind(status.py())
                    .try_borrow()
                    .map_or(true, |i| i.unread_body_forces_close());
                if unread {
                    self.keep_alive = false;
                }
            }
        }
        if !self.keep_alive {
            head.extend_from_slice(b"Connection: close\r\n");
        } else if !self.http11 {
            head.extend_from_slice(b"Connection: keep-alive\r\n");
        }
        head.extend_from_slice(b"\r\n");
        self.status = code;
        self.headers_sent = true;
        Ok(())
    }

    /// Sends body bytes under the chosen framing.
    pub fn body(&mut self, py: Python<'_>, data: &[u8]) -> PyResult<()> {
        if self.broken {
            return Err(PyIOError::new_err("client disconnected"));
        }
        match self.framing {
            Framing::NoBody | Framing::Unset => Ok(()),
            Framing::Length(rem) => {
                let n = (data.len() as u64).min(rem) as usize;
                if n < data.len() && !self.truncated_logged {
                    self.truncated_logged = true;
                    logging::warning(
                        "Response body is longer than its Content-Length; extra bytes dropped",
                    );
                }
                self.framing = Framing::Length(rem - n as u64);
                self.body_bytes += n as u64;
                self.output(py, &[&data[..n]])
            }
            Framing::Chunked => {
                if data.is_empty() {
                    return Ok(()); // an empty chunk would end the body
                }
                let size = format!("{:x}\r\n", data.len());
                self.body_bytes += data.len() as u64;
                self.output(py, &[size.as_bytes(), data, b"\r\n"])
            }
            Framing::Close => {
                self.body_bytes += data.len() as u64;
                self.output(py, &[data])
            }
        }
    }

    /// Ends the body: the chunked terminator, or a short Content-Length
    /// check (fewer bytes than declared → the connection must close).
    pub fn finish(&mut self, py: Python<'_>) -> PyResult<()> {
        match self.framing {
            Framing::Chunked => self.output(py, &[b"0\r\n\r\n"]),
            Framing::Length(rem) if rem > 0 => {
                logging::warning(&format!(
                    "Response body ended {rem} bytes short of its Content-Length; closing the connection"
                ));
                self.keep_alive = false;
                self.abort = true;
                self.wait_over_budget(py)
            }
            _ => self.wait_over_budget(py),
        }
    }

    /// Writes `pending` and `parts` with one `writev`, keeping what the
    /// socket did not take; waits for the client beyond the budget.
    fn output(&mut self, py: Python<'_>, parts: &[&[u8]]) -> PyResult<()> {
        let total: usize = self.pending.len() + parts.iter().map(|p| p.len()).sum::<usize>();
        if total == 0 {
            return Ok(());
        }
        if self.cork && total <= CORK_LIMIT {
            for p in parts {
                self.pending.extend_from_slice(p);
            }
            return Ok(());
        }
        let mut iov: Vec<&[u8]> = Vec::with_capacity(4);
        iov.push(&self.pending);
        iov.extend_from_slice(parts);
        let written = match rawio::try_writev(self.fd, &iov) {
            Ok(n) => n,
            Err(e) => {
                self.broken = true;
                self.pending.clear();
                return Err(PyIOError::new_err(format!("client disconnected: {e}")));
            }
        };
        if written < total {
            // Keep the unwritten tail of pending + parts.
            let mut skip = written;
            let mut rest = Vec::with_capacity(total - written);
            for p in std::iter::once(self.pending.as_slice()).chain(parts.iter().copied()) {
                if skip >= p.len() {
                    skip -= p.len();
                } else {
                    rest.extend_from_slice(&p[skip..]);
                    skip = 0;
                }
            }
            self.pending = rest;
            self.wait_over_budget(py)?;
        } else {
            self.pending.clear();
        }
        Ok(())
    }

    /// Threaded mode: waits past the budget. Inline mode leaves it all to
    /// the connection task (the caller suspends on [`Output::over_budget`]).
    fn wait_over_budget(&mut self, py: Python<'_>) -> PyResult<()> {
        if self.defer {
            return Ok(());
        }
        self.flush_over_budget(py)
    }

    /// Waits (GIL released) until every pending byte is written, if more
    /// than the budget is pending.
    fn flush_over_budget(&mut self, py: Python<'_>) -> PyResult<()> {
        if self.pending.len() <= WRITE_BUDGET {
            return Ok(()); // the connection task finishes it without Python
        }
        let fd = self.fd;
        let timeout = self.write_timeout;
        let pending = std::mem::take(&mut self.pending);
        let r = py.detach(|| rawio::write_all(fd, &pending, timeout));
        if let Err(e) = r {
            self.broken = true;
            return Err(PyIOError::new_err(format!("client disconnected: {e}")));
        }
        Ok(())
    }
}

/// The `start_response` callable handed to the application.
#[pyclass(module = "ferricorn", name = "StartResponse")]
pub struct StartResponse {
    pub status: Option<Py<PyAny>>,
    pub headers: Option<Py<PyAny>>,
    pub out: Output,
}

impl StartResponse {
    pub fn new(out: Output) -> StartResponse {
        StartResponse {
            status: None,
            headers: None,
            out,
        }
    }

    /// Ends this object's use for the request and hands back its output.
    /// The application may keep `start_response` or `write` (a thread, a
    /// leaked closure); after this they can no longer reach the socket,
    /// which by then may carry another request, or another connection.
    pub fn retire(&mut self) -> Output {
        self.status = None;
        self.headers = None;
        std::mem::replace(
            &mut self.out,
            Output::new(-1, false, false, false, Duration::ZERO, false, Vec::new()),
        )
    }

    /// Sends the head now if it has not gone yet.
    pub fn ensure_headers(&mut self, py: Python<'_>, known_len: Option<u64>) -> PyResult<()> {
        if self.out.headers_sent {
            return Ok(());
        }
        let (Some(status), Some(headers)) = (self.status.as_ref(), self.headers.as_ref()) else {
            return Err(PyAssertionError::new_err(
                "the application did not call start_response()",
            ));
        };
        let (status, headers) = (status.bind(py).clone(), headers.bind(py).clone());
        self.out.send_headers(&status, &headers, known_len)
    }
}

#[pymethods]
impl StartResponse {
    #[pyo3(signature = (status, headers, exc_info=None))]
    fn __call__(
        slf: &Bound<'_, Self>,
        status: Bound<'_, PyAny>,
        headers: Bound<'_, PyAny>,
        exc_info: Option<Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        {
            let mut me = slf.borrow_mut();
            match exc_info.filter(|e| !e.is_none()) {
                Some(ei) => {
                    if me.out.headers_sent {
                        // PEP 3333: too late to change the response; re-raise.
                        let value = ei.get_item(1)?;
                        return Err(PyErr::from_value(value));
                    }
                }
                None => {
                    if me.status.is_some() {
                        return Err(PyAssertionError::new_err(
                            "start_response() called a second time without exc_info",
                        ));
                    }
                }
            }
            me.status = Some(status.unbind());
            me.headers = Some(headers.unbind());
        }
        Ok(slf.getattr(pyo3::intern!(slf.py(), "write"))?.unbind())
    }

    /// The legacy `write(data)` callable returned by `start_response`.
    fn write(&mut self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<()> {
        let bytes = data.cast::<PyBytes>().map_err(|_| {
            PyTypeError::new_err(format!(
                "write() argument must be bytes, not {}",
                type_name(data)
            ))
        })?;
        if self.out.fd < 0 {
            return Err(PyIOError::new_err(
                "write() called after the response was finished",
            ));
        }
        if self.out.suspended {
            return Err(PyIOError::new_err(
                "write() called while the server is sending the response",
            ));
        }
        self.ensure_headers(py, None)?;
        // Legacy write() must transmit before returning: no corking.
        self.out.cork = false;
        self.out.body(py, bytes.as_bytes())?;
        // write() cannot be suspended like iteration: past the budget it
        // waits for the client, in inline mode too (the legacy path).
        self.out.flush_over_budget(py)
    }
}

impl Output {
    /// Accounts for `avail` file bytes that the connection will send with
    /// sendfile; returns how many of them belong to the body.
    pub fn take_for_file(&mut self, avail: u64) -> u64 {
        match self.framing {
            Framing::Length(rem) => {
                let n = rem.min(avail);
                self.framing = Framing::Length(rem - n);
                self.body_bytes += n;
                n
            }
            _ => 0,
        }
    }
}
