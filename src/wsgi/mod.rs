//! The WSGI bridge (PEP 3333): everything that runs with the GIL held.
//!
//! Owns: loading the application, building `environ`, the `start_response`,
//! `wsgi.input`, `wsgi.errors` and `wsgi.file_wrapper` objects, running the
//! application and turning what it returns into bytes on the socket.
//!
//! The connection task hands over an [`Exchange`] (a parsed request, any body
//! bytes already read, and the socket's descriptor) and gets back a
//! [`Done`]: what is left to write, whether the connection may be kept, and
//! the connection buffer. Every Python object is created and dropped inside
//! [`handler::handle`], on the thread that holds the GIL, so I/O code never
//! needs it — with one exception, inline mode only: a response larger than
//! the write budget comes back as a [`handler::Resume`] (the iterable and
//! what finishing the request needs), which the connection task, running on
//! the loop thread that holds the GIL, resumes once the client has taken the
//! pending bytes.
//!
//! Must never: parse HTTP (the `http` module did), wait on a socket with the
//! GIL held, let a Python exception escape to the connection (it becomes a
//! 500 or an aborted connection and a traceback in the error log), or write
//! a traceback to the client.

pub mod app;
pub mod environ;
pub mod errors;
pub mod file_wrapper;
pub mod handler;
pub mod header_cache;
pub mod input;
pub mod proxy;
pub mod responder;

use std::os::fd::{OwnedFd, RawFd};

use bytes::BytesMut;

use crate::http::RequestHead;

/// The peer of a connection, pre-rendered for `REMOTE_ADDR`/`REMOTE_PORT`.
#[derive(Debug, Clone)]
pub struct Peer {
    /// The peer's IP (None on a Unix socket), for `--forwarded-allow-ips`.
    pub ip: Option<std::net::IpAddr>,
    pub addr: String,
    /// The port, already rendered (once per connection, not per request).
    pub port: Option<String>,
    /// What a PROXY protocol header said (`--proxy-protocol`); `ip`, `addr`
    /// and `port` are then the client's.
    pub proxy: Option<ProxyInfo>,
}

/// The environ keys Gunicorn adds for a connection that began with a PROXY
/// header: `PROXY_PROTOCOL` (TCP4/TCP6), `PROXY_ADDR`, `PROXY_PORT` (the
/// proxy side of the proxied connection).
#[derive(Debug, Clone)]
pub struct ProxyInfo {
    pub protocol: &'static str,
    pub addr: String,
    pub port: String,
}

/// How the request body reaches the application.
pub enum Body {
    /// No body (no Content-Length and no Transfer-Encoding, or length 0).
    Empty,
    /// The whole body, read by the connection before the app was called.
    Full(BytesMut),
    /// Inline mode: the whole body, read by the connection straight into a
    /// Python `bytes` object, so `wsgi.input.read()` hands it over without
    /// a copy. Created and dropped only on the inline loop thread, which
    /// holds the GIL whenever a task runs.
    Bytes(pyo3::Py<pyo3::types::PyBytes>),
    /// Inline mode: a body larger than the in-memory threshold, read whole
    /// by the connection into an unlinked temporary file before the app was
    /// called (so the app never waits on the socket on the loop thread).
    Spooled(input::Spool),
    /// Threaded mode: a body larger than `--body-buffer-size`, or one behind
    /// `Expect: 100-continue`: `wsgi.input` reads it from the socket as the
    /// application asks, with the GIL released while waiting.
    Stream(Box<input::StreamBody>),
}

/// One request handed to the application thread.
pub struct Exchange {
    pub head: RequestHead,
    pub body: Body,
    /// The connection's read buffer: bytes after this request's body (a
    /// pipelined request) travel with it and come back in [`Done::buf`].
    /// When the body streams, the buffer lives in the `StreamBody` instead.
    pub buf: BytesMut,
    pub fd: RawFd,
    pub peer: std::sync::Arc<Peer>,
    pub listener: usize,
    /// The worker is stopping: answer with `Connection: close`.
    pub closing: bool,
    /// Filled by the handler: environ values the access log asks for.
    pub log_environ: Vec<(Vec<u8>, Vec<u8>)>,
    /// The connection's output buffer, reused from request to request:
    /// becomes the response's `pending` (see `responder::CORK_LIMIT`).
    pub out: Vec<u8>,
}

/// A file body to finish with `sendfile(2)` after the head was written.
pub struct FileSend {
    pub file: OwnedFd,
    pub offset: u64,
    pub len: u64,
}

/// What the application thread hands back to the connection.
pub struct Done {
    pub keep_alive: bool,
    /// Close at once after writing `pending`: the response is known broken
    /// (error after the head was sent, short Content-Length).
    pub abort: bool,
    /// Request body bytes may still be arriving (the app left them unread):
    /// after the response, half-close and discard for a moment before
    /// closing, so the client sees the response instead of a reset.
    pub linger: bool,
    /// Request body bytes still to be read and skipped before the next
    /// request on this connection (what the app left unread, at most
    /// `DRAIN_LIMIT`).
    pub discard: u64,
    /// Response bytes the socket did not take yet.
    pub pending: Vec<u8>,
    pub file: Option<FileSend>,
    pub buf: BytesMut,
    pub status: u16,
    pub body_bytes: u64,
    /// Response headers, kept only when the access log format needs them.
    pub resp_headers: Vec<(Vec<u8>, Vec<u8>)>,
    /// Environ values for the access log's `{name}e` atoms (usually none).
    pub log_environ: Vec<(Vec<u8>, Vec<u8>)>,
    /// Inline mode only: the response is not finished. Write `pending`,
    /// then hand this back to the application side (`Worker::resume`),
    /// which produces the next `Done`; every other field is meaningless
    /// until a `Done` without it arrives.
    pub resume: Option<handler::Resume>,
}
