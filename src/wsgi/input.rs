//! `wsgi.input`: the request body as a Python file-like object.
//!
//! Owns: the body bytes already read by the connection, a body the
//! connection spooled to an unlinked temporary file (inline mode), and, for
//! a body that streams (threaded mode), the socket reads that fetch more as
//! the application asks. Reads never go past the end of the body
//! (Content-Length or the chunked terminator), so the bytes of a pipelined
//! request stay in the buffer that goes back to the connection.
//!
//! Must never: hold the GIL while waiting for the client (reads release it),
//! or wait longer than `--body-timeout` for one piece of progress.

use std::os::fd::RawFd;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use pyo3::exceptions::{PyIOError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};

use crate::http::{ChunkedDecoder, HttpError};
use crate::rawio;

/// How much of the body remains, by framing.
pub enum Framing {
    Length(u64),
    Chunked(ChunkedDecoder),
}

/// The socket side of a streaming body.
pub struct StreamBody {
    pub fd: RawFd,
    /// Raw bytes read from the socket and not yet decoded.
    pub buf: BytesMut,
    pub framing: Framing,
    pub timeout: Duration,
    /// `Expect: 100-continue` was received and `100 Continue` is not sent yet:
    /// it goes out right before the first read from the socket.
    pub send_continue: bool,
    pub done: bool,
    /// Body bytes already decoded by the connection before the app was
    /// called (a chunked body that outgrew the buffer); handed to `wsgi.input` first.
    pub prefix: BytesMut,
    /// The client went away or broke the framing; the connection must close.
    pub broken: bool,
    /// `--limit-request-body` (0 = none), checked against `seen`.
    pub limit: u64,
    /// Decoded body bytes so far, the prefix included.
    pub seen: u64,
    /// The body went past `limit`: the answer is 413.
    pub too_large: bool,
    /// The chunked framing turned out invalid while the app read: the
    /// status to answer with (400, 501...) if no response started.
    pub bad_framing: Option<u16>,
}

const READ_CHUNK: usize = 64 * 1024;

/// A whole request body in an unlinked temporary file, written by the
/// connection task before an inline application is called.
pub struct Spool {
    pub file: std::fs::File,
    pub len: u64,
    /// Next offset to hand to the application.
    pub pos: u64,
}

impl Spool {
    /// Appends up to about `want` more body bytes to `out` (positional reads,
    /// so the file offset the connection left does not matter). Returns
    /// false at the end of the body.
    fn fill(&mut self, out: &mut BytesMut, want: usize) -> std::io::Result<bool> {
        use std::os::unix::fs::FileExt;
        let left = self.len - self.pos;
        if left == 0 {
            return Ok(false);
        }
        // At least a block (few, large reads), at most 4 MiB per step.
        let n = (want.clamp(READ_CHUNK, 4 << 20) as u64).min(left) as usize;
        let start = out.len();
        out.resize(start + n, 0);
        let r = self.file.read_at(&mut out[start..], self.pos);
        match r {
            Ok(0) => {
                out.truncate(start);
                Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the spooled request body is shorter than expected",
                ))
            }
            Ok(k) => {
                out.truncate(start + k);
                self.pos += k as u64;
                Ok(true)
            }
            Err(e) => {
                out.truncate(start);
                Err(e)
            }
        }
    }
}

/// Unread body bytes the server reads and discards after a response so the
/// connection can serve the next request; beyond this it closes instead.
pub const DRAIN_LIMIT: usize = 64 * 1024;

impl StreamBody {
    /// Fetches the next piece of decoded body into `out` (at most about
    /// `want` bytes). Returns false at the end of the body. Blocks: call it
    /// with the GIL released.
    pub fn fill(&mut self, out: &mut BytesMut, want: usize) -> std::io::Result<bool> {
        if self.done {
            return Ok(false);
        }
        loop {
            match &mut self.framing {
                Framing::Length(remaining) => {
                    if *remaining == 0 {
                        self.done = true;
                        return Ok(false);
                    }
                    if !self.buf.is_empty() {
                        let n = (self.buf.len() as u64)
                            .min(*remaining)
                            .min(want.max(1) as u64) as usize;
                        out.extend_from_slice(&self.buf[..n]);
                        self.buf.advance(n);
                        *remaining -= n as u64;
                        if *remaining == 0 {
                            self.done = true;
                        }
                        return Ok(true);
                    }
                }
                Framing::Chunked(dec) => {
                    if !self.buf.is_empty() {
                        let d = match dec.decode(&self.buf) {
                            Ok(d) => d,
                            Err(e) => {
                                self.broken = true;
                                self.bad_framing = Some(e.status);
                                return Err(http_to_io(e));
                            }
                        };
                        let mut got = false;
                        if let Some(r) = d.data {
                            self.seen += r.len() as u64;
                            if self.limit > 0 && self.seen > self.limit {
                                self.too_large = true;
                                self.broken = true;
                                return Err(std::io::Error::new(
                                    std::io::ErrorKind::InvalidData,
                                    format!(
                                        "request body is larger than the limit of {} bytes (--limit-request-body)",
                                        self.limit
                                    ),
                                ));
                            }
                            out.extend_from_slice(&self.buf[r]);
                            got = true;
                        }
                        self.buf.advance(d.consumed);
                        if d.done {
                            self.done = true;
                            return Ok(got);
                        }
                        if got {
                            return Ok(true);
                        }
                        if d.consumed > 0 {
                            continue;
                        }
                    }
                }
            }
            self.read_more()?;
        }
    }

    fn read_more(&mut self) -> std::io::Result<()> {
        if self.send_continue {
            self.send_continue = false;
            rawio::write_all(self.fd, b"HTTP/1.1 100 Continue\r\n\r\n", self.timeout)
                .inspect_err(|_| self.broken = true)?;
        }
        let len = self.buf.len();
        self.buf.resize(len + READ_CHUNK, 0);
        let r = rawio::read_some(self.fd, &mut self.buf[len..], self.timeout);
        match r {
            Ok(0) => {
                self.buf.truncate(len);
                self.broken = true;
                Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "client disconnected before the end of the request body",
                ))
            }
            Ok(n) => {
                self.buf.truncate(len + n);
                Ok(())
            }
            Err(e) => {
                self.buf.truncate(len);
                self.broken = true;
                Err(e)
            }
        }
    }
}

fn http_to_io(e: HttpError) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!("bad request body: {}", e.reason),
    )
}

/// The `wsgi.input` object.
#[pyclass(module = "ferricorn", name = "Input")]
pub struct Input {
    /// Inline mode: the whole body as one `bytes` object, untouched so far.
    /// `read()` of all of it returns this very object; any other read
    /// first moves it into `data`.
    whole: Option<Py<PyBytes>>,
    /// Decoded body bytes not yet returned to the application.
    data: BytesMut,
    stream: Option<StreamBody>,
    spool: Option<Spool>,
}

impl Input {
    pub fn new(data: BytesMut, stream: Option<StreamBody>) -> Input {
        Input {
            whole: None,
            data,
            stream,
            spool: None,
        }
    }

    /// A body the connection spooled to a file (inline mode).
    pub fn spooled(spool: Spool) -> Input {
        Input {
            whole: None,
            data: BytesMut::new(),
            stream: None,
            spool: Some(spool),
        }
    }

    /// A whole body the connection read into a `bytes` object (inline mode).
    pub fn whole(body: Py<PyBytes>) -> Input {
        Input {
            whole: Some(body),
            data: BytesMut::new(),
            stream: None,
            spool: None,
        }
    }

    /// Moves a whole-body `bytes` object into `data`, for reads that take
    /// only part of it.
    fn unwhole(&mut self, py: Python<'_>) {
        if let Some(b) = self.whole.take() {
            self.data = BytesMut::from(b.bind(py).as_bytes());
        }
    }

    /// Whether what the app left unread of a streaming body means the
    /// connection must close after the response: a `100 Continue` never
    /// sent (the client may or may not send the body), a chunked body (its
    /// remaining size is unknown), or more than [`DRAIN_LIMIT`] bytes left.
    pub fn unread_body_forces_close(&self) -> bool {
        match &self.stream {
            None => false,
            Some(s) if s.done => false,
            Some(s) if s.broken || s.send_continue => true,
            Some(s) => match &s.framing {
                Framing::Length(remaining) => *remaining > DRAIN_LIMIT as u64,
                Framing::Chunked(_) => true,
            },
        }
    }

    /// The client's fault, found while the app read the body: the status to
    /// answer with (413 over the limit, 400 bad framing), if any.
    pub fn client_error(&self) -> Option<u16> {
        let s = self.stream.as_ref()?;
        if s.too_large {
            Some(413)
        } else {
            s.bad_framing
        }
    }

    /// The client went away (or stalled past --body-timeout) mid-body.
    pub fn client_gone(&self) -> bool {
        self.stream
            .as_ref()
            .is_some_and(|s| s.broken && !s.too_large && s.bad_framing.is_none())
    }

    /// Takes the socket side back once the application returned.
    pub fn take_stream(&mut self) -> Option<StreamBody> {
        self.stream.take()
    }

    /// Fetches more decoded body; false at the end. Releases the GIL.
    fn fill(&mut self, py: Python<'_>, want: usize) -> PyResult<bool> {
        let Some(stream) = self.stream.as_mut() else {
            let Some(spool) = self.spool.as_mut() else {
                return Ok(false);
            };
            let data = &mut self.data;
            return py
                .detach(|| spool.fill(data, want))
                .map_err(|e| PyIOError::new_err(format!("reading the spooled request body: {e}")));
        };
        let data = &mut self.data;
        py.detach(|| stream.fill(data, want)).map_err(|e| {
            if e.kind() == std::io::ErrorKind::TimedOut {
                PyIOError::new_err("timed out reading the request body")
            } else {
                PyIOError::new_err(e.to_string())
            }
        })
    }

    fn take(&mut self, py: Python<'_>, n: usize) -> Py<PyBytes> {
        let n = n.min(self.data.len());
        let out = PyBytes::new(py, &self.data[..n]).unbind();
        self.data.advance(n);
        out
    }

    fn read_line(&mut self, py: Python<'_>, limit: Option<usize>) -> PyResult<Py<PyBytes>> {
        self.unwhole(py);
        let mut scanned = 0;
        loop {
            let cap = limit.unwrap_or(usize::MAX);
            if let Some(i) = self.data[scanned..].iter().position(|&b| b == b'\n') {
                return Ok(self.take(py, (scanned + i + 1).min(cap)));
            }
            scanned = self.data.len();
            if scanned >= cap || !self.fill(py, READ_CHUNK)? {
                return Ok(self.take(py, scanned.min(cap)));
            }
        }
    }
}

fn size_arg(size: Option<&Bound<'_, PyAny>>) -> PyResult<Option<usize>> {
    match size {
        None => Ok(None),
        Some(s) if s.is_none() => Ok(None),
        Some(s) => {
            let n: i64 = s
                .extract()
                .map_err(|_| PyValueError::new_err("size must be an integer"))?;
            Ok(if n < 0 { None } else { Some(n as usize) })
        }
    }
}

#[pymethods]
impl Input {
    /// `read()` / `read(-1)` / `read(None)`: the rest of the body; `read(n)`: at most n bytes.
    #[pyo3(signature = (size=None))]
    fn read(&mut self, py: Python<'_>, size: Option<&Bound<'_, PyAny>>) -> PyResult<Py<PyBytes>> {
        let size = size_arg(size)?;
        if let Some(b) = &self.whole {
            let len = b.bind(py).as_bytes().len();
            match size {
                Some(0) => return Ok(PyBytes::new(py, b"").unbind()),
                Some(n) if n < len => self.unwhole(py),
                // All of it: the object itself, no copy.
                _ => {
                    return Ok(self
                        .whole
                        .take()
                        .unwrap_or_else(|| PyBytes::new(py, b"").unbind()))
                }
            }
        }
        match size {
            None => {
                while self.fill(py, READ_CHUNK)? {}
                Ok(self.take(py, self.data.len()))
            }
            Some(n) => {
                while self.data.len() < n && self.fill(py, n - self.data.len())? {}
                Ok(self.take(py, n))
            }
        }
    }

    #[pyo3(signature = (size=None))]
    fn readline(
        &mut self,
        py: Python<'_>,
        size: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyBytes>> {
        let limit = size_arg(size)?;
        self.read_line(py, limit)
    }

    /// Every remaining line. The hint is accepted and ignored, as in Gunicorn.
    #[pyo3(signature = (hint=None))]
    fn readlines(
        &mut self,
        py: Python<'_>,
        hint: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyList>> {
        let _ = hint;
        let list = PyList::empty(py);
        loop {
            let line = self.read_line(py, None)?;
            if line.bind(py).as_bytes().is_empty() {
                return Ok(list.unbind());
            }
            list.append(line)?;
        }
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&mut self, py: Python<'_>) -> PyResult<Option<Py<PyBytes>>> {
        let line = self.read_line(py, None)?;
        Ok(if line.bind(py).as_bytes().is_empty() {
            None
        } else {
            Some(line)
        })
    }

    fn close(&mut self) {}
}
