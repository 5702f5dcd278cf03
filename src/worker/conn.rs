//! One client connection, from accept to close: the HTTP/1.1 state machine.
//!
//! Owns: reading request heads (with the header timeout for a request in
//! progress and the keep-alive timeout between requests), reading bodies up
//! to `--body-buffer-size` before the application is called, answering
//! protocol errors, handing the request to the application thread, finishing
//! the response bytes the application thread left (and file bodies with
//! `sendfile(2)`), the access log line, and keep-alive / pipelining (requests
//! are answered strictly in order, one at a time).
//!
//! Must never: take the GIL itself (inline mode runs on a thread that holds
//! it; the dispatch decides), read past a body into the next request except
//! into the connection buffer, or read anything more from a connection after
//! rejecting a request.

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, Interest};
use tokio::net::{TcpStream, UnixStream};

use crate::http::{parse_head_from, BodyFraming, ChunkedDecoder, HttpError, RequestHead, Version};
use crate::logging;
use crate::wsgi::input::{Framing, StreamBody};
use crate::wsgi::{Body, Done, Exchange, Peer};

use super::{error_bytes, Worker};

/// A client socket of either family.
pub enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Stream {
    fn fd(&self) -> RawFd {
        match self {
            Stream::Tcp(s) => s.as_raw_fd(),
            Stream::Unix(s) => s.as_raw_fd(),
        }
    }

    async fn read_buf(&mut self, buf: &mut BytesMut) -> io::Result<usize> {
        // Small steps: an idle keep-alive connection should cost a few KiB,
        // not a large buffer (1 000 idle connections per worker are normal).
        if buf.capacity() - buf.len() < 1024 {
            buf.reserve(4096);
        }
        match self {
            Stream::Tcp(s) => s.read_buf(buf).await,
            Stream::Unix(s) => s.read_buf(buf).await,
        }
    }

    /// One read of at most `max` more bytes into `buf`: never past the end
    /// of a body into the next request.
    async fn read_at_most(&mut self, buf: &mut BytesMut, max: usize) -> io::Result<usize> {
        if max == 0 {
            return Ok(0);
        }
        let mut limited = bytes::BufMut::limit(buf, max);
        match self {
            Stream::Tcp(s) => s.read_buf(&mut limited).await,
            Stream::Unix(s) => s.read_buf(&mut limited).await,
        }
    }

    async fn writable(&self) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.writable().await,
            Stream::Unix(s) => s.writable().await,
        }
    }

    fn try_io<R>(&self, f: impl FnOnce() -> io::Result<R>) -> io::Result<R> {
        match self {
            Stream::Tcp(s) => s.try_io(Interest::WRITABLE, f),
            Stream::Unix(s) => s.try_io(Interest::WRITABLE, f),
        }
    }

    /// Runs one non-blocking write step (`send`, `sendfile`) until `total`
    /// bytes have gone, waiting for writability — at most `timeout` for each
    /// bit of progress — whenever the socket is full. `step(done)` gets the
    /// bytes written so far and returns how many more it wrote.
    async fn write_loop(
        &self,
        total: u64,
        timeout: Duration,
        mut step: impl FnMut(u64) -> io::Result<usize>,
    ) -> io::Result<()> {
        let mut done = 0u64;
        while done < total {
            match self.try_io(|| step(done)) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::WriteZero,
                        "no progress writing",
                    ))
                }
                Ok(n) => done += n as u64,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    tokio::time::timeout(timeout, self.writable())
                        .await
                        .map_err(|_| {
                            io::Error::new(io::ErrorKind::TimedOut, "write timed out")
                        })??;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Writes all of `data`, each bit of progress within `timeout`.
    async fn write_all(&self, data: &[u8], timeout: Duration) -> io::Result<()> {
        let fd = self.fd();
        self.write_loop(data.len() as u64, timeout, |done| {
            let rest = &data[done as usize..];
            // SAFETY: writing from a live slice.
            let n = unsafe { libc::send(fd, rest.as_ptr().cast(), rest.len(), libc::MSG_NOSIGNAL) };
            if n < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(n as usize)
            }
        })
        .await
    }

    /// Sends `len` bytes of `file` from `offset` with sendfile(2).
    async fn send_file(
        &self,
        file: RawFd,
        offset: u64,
        len: u64,
        timeout: Duration,
    ) -> io::Result<()> {
        let fd = self.fd();
        self.write_loop(len, timeout, |done| {
            let mut off = (offset + done) as libc::off_t;
            let chunk = (len - done).min(1 << 30) as usize;
            // SAFETY: both descriptors are open; `off` is a valid pointer.
            let n = unsafe { libc::sendfile(fd, file, &mut off, chunk) };
            if n < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(n as usize)
            }
        })
        .await
    }
}

/// Why reading a request stopped.
enum ReadEnd {
    /// Peer closed, timed out, or the worker is stopping: close quietly.
    Quiet,
    /// A protocol error: answer it, then close.
    Reject(HttpError),
}

/// Serves one connection until it closes. The accept loop counted it open.
pub async fn serve(worker: Rc<Worker>, mut stream: Stream, peer: Arc<Peer>, listener: usize) {
    let mut buf = BytesMut::with_capacity(4096);
    let mut first = true;
    loop {
        let head = match read_head(&worker, &mut stream, &mut buf, first).await {
            Ok(h) => h,
            Err(ReadEnd::Quiet) => break,
            Err(ReadEnd::Reject(e)) => {
                reject(&worker, &stream, &e, &peer).await;
                break;
            }
        };
        first = false;
        let started = Instant::now();
        let body = match read_body(&worker, &mut stream, &mut buf, &head).await {
            Ok(b) => b,
            Err(ReadEnd::Quiet) => break,
            Err(ReadEnd::Reject(e)) => {
                reject(&worker, &stream, &e, &peer).await;
                break;
            }
        };
        let access = logging::access_enabled().then(|| AccessHead::of(&head));
        let ex = Exchange {
            head,
            body,
            buf: std::mem::take(&mut buf),
            fd: stream.fd(),
            peer: peer.clone(),
            listener,
            // --keep-alive 0 turns keep-alive off, as in Gunicorn.
            closing: worker.is_closing() || worker.keepalive().is_zero(),
        };
        let Some(done) = worker.dispatch(ex).await else {
            break;
        };
        let Done {
            keep_alive,
            abort,
            linger,
            discard,
            pending,
            file,
            buf: rest,
            status,
            body_bytes,
            resp_headers,
        } = done;
        buf = rest;
        let timeout = worker.write_timeout();
        let mut ok = pending.is_empty() || stream.write_all(&pending, timeout).await.is_ok();
        if ok && !abort {
            if let Some(f) = &file {
                ok = stream
                    .send_file(f.file.as_raw_fd(), f.offset, f.len, timeout)
                    .await
                    .is_ok();
            }
        }
        if let Some(a) = access {
            a.log(&peer, status, body_bytes, &resp_headers, started.elapsed());
        }
        worker.request_done();
        if ok && discard > 0 && keep_alive && !abort {
            ok = skip_body(&worker, &mut stream, discard).await;
        }
        if ok && linger {
            linger_close(&stream).await;
            break;
        }
        if !ok || abort || !keep_alive || worker.is_closing() {
            break;
        }
    }
    drop(stream);
    worker.conn_closed();
}

/// What the access log needs from a head that is handed to the app thread.
struct AccessHead {
    method: Vec<u8>,
    target: Vec<u8>,
    path: Vec<u8>,
    query: Vec<u8>,
    version: &'static str,
    headers: Vec<(Vec<u8>, Vec<u8>)>,
}

impl AccessHead {
    fn of(head: &RequestHead) -> AccessHead {
        let (path, query) = head.path_and_query();
        AccessHead {
            method: head.method().to_vec(),
            target: head.target().to_vec(),
            path: path.to_vec(),
            query: query.to_vec(),
            version: version_str(head.version),
            headers: head
                .headers
                .iter()
                .map(|h| (head.bytes(h.name).to_vec(), head.bytes(h.value).to_vec()))
                .collect(),
        }
    }

    fn log(
        &self,
        peer: &Peer,
        status: u16,
        bytes: u64,
        resp_headers: &[(Vec<u8>, Vec<u8>)],
        elapsed: Duration,
    ) {
        let hdrs: Vec<(&[u8], &[u8])> = self
            .headers
            .iter()
            .map(|(n, v)| (n.as_slice(), v.as_slice()))
            .collect();
        logging::access(&logging::AccessRecord {
            remote_addr: &peer.addr,
            method: &self.method,
            target: &self.target,
            path: &self.path,
            query: &self.query,
            version: self.version,
            status,
            response_bytes: bytes,
            request_headers: &hdrs,
            response_headers: resp_headers,
            elapsed,
        });
    }
}

fn version_str(v: Version) -> &'static str {
    match v {
        Version::Http10 => "HTTP/1.0",
        Version::Http11 => "HTTP/1.1",
    }
}

/// Reads until a whole request head is parsed.
async fn read_head(
    worker: &Worker,
    stream: &mut Stream,
    buf: &mut BytesMut,
    first: bool,
) -> Result<RequestHead, ReadEnd> {
    let limits = worker.limits();
    let mut deadline: Option<Instant> = None;
    loop {
        if !buf.is_empty() {
            match parse_head_from(buf, limits) {
                Ok(Some(head)) => return Ok(head),
                Ok(None) => {}
                Err(e) => return Err(ReadEnd::Reject(e)),
            }
        }
        // Between requests the keep-alive timeout applies and a stopping
        // worker closes at once; once a request has begun, the header timeout.
        let idle = buf.is_empty() && !first;
        if idle && worker.is_closing() {
            return Err(ReadEnd::Quiet);
        }
        let d = *deadline.get_or_insert_with(|| {
            Instant::now()
                + if idle {
                    worker.keepalive()
                } else {
                    worker.header_timeout()
                }
        });
        let was_empty = buf.is_empty();
        let read = tokio::select! {
            r = tokio::time::timeout_at(d.into(), stream.read_buf(buf)) => r,
            _ = worker.closed(), if idle => return Err(ReadEnd::Quiet),
        };
        match read {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return Err(ReadEnd::Quiet),
            Ok(Ok(_)) => {
                if was_empty && idle {
                    // The first byte of a new request starts the header clock.
                    deadline = Some(Instant::now() + worker.header_timeout());
                }
            }
        }
    }
}

async fn read_more(
    worker: &Worker,
    stream: &mut Stream,
    buf: &mut BytesMut,
) -> Result<(), ReadEnd> {
    match tokio::time::timeout(worker.body_timeout(), stream.read_buf(buf)).await {
        Ok(Ok(n)) if n > 0 => Ok(()),
        _ => Err(ReadEnd::Quiet),
    }
}

const TOO_LARGE: HttpError = HttpError::new(413, "request body larger than --limit-request-body");

/// Reads a body of up to `--body-buffer-size` before the app is called;
/// larger ones (and ones behind `Expect: 100-continue` whose size is not
/// known) stream through `wsgi.input`.
async fn read_body(
    worker: &Worker,
    stream: &mut Stream,
    buf: &mut BytesMut,
    head: &RequestHead,
) -> Result<Body, ReadEnd> {
    let threshold = worker.body_buffer_size();
    let expect = head.expect_continue;
    let fd = stream.fd();
    let streaming =
        |buf: &mut BytesMut, framing: Framing, prefix: BytesMut, send_continue: bool| {
            Body::Stream(StreamBody {
                fd,
                buf: std::mem::take(buf),
                framing,
                timeout: worker.body_timeout(),
                send_continue,
                done: false,
                broken: false,
                limit: worker.limit_request_body(),
                seen: prefix.len() as u64,
                too_large: false,
                bad_framing: None,
                prefix,
            })
        };
    let limit = worker.limit_request_body();
    if let BodyFraming::Length(n) = head.framing {
        if limit > 0 && n > limit {
            return Err(ReadEnd::Reject(TOO_LARGE));
        }
    }
    match head.framing {
        BodyFraming::None | BodyFraming::Length(0) => Ok(Body::Empty),
        BodyFraming::Length(n) if n <= threshold as u64 => {
            let n = n as usize;
            if expect && buf.len() < n {
                stream
                    .write_all(b"HTTP/1.1 100 Continue\r\n\r\n", worker.write_timeout())
                    .await
                    .map_err(|_| ReadEnd::Quiet)?;
            }
            if buf.len() >= n {
                return Ok(Body::Full(buf.split_to(n)));
            }
            // The rest goes straight into a buffer of exactly the body's
            // size: reads can never run into a pipelined request, and the
            // connection buffer stays small (no growth, no copy on growth).
            let mut body = BytesMut::with_capacity(n);
            body.extend_from_slice(buf);
            buf.clear();
            while body.len() < n {
                let want = n - body.len();
                match tokio::time::timeout(
                    worker.body_timeout(),
                    stream.read_at_most(&mut body, want),
                )
                .await
                {
                    Ok(Ok(k)) if k > 0 => {}
                    _ => return Err(ReadEnd::Quiet),
                }
            }
            Ok(Body::Full(body))
        }
        BodyFraming::Length(n) => Ok(streaming(buf, Framing::Length(n), BytesMut::new(), expect)),
        BodyFraming::Chunked => {
            let mut dec = ChunkedDecoder::new(4096, 8190);
            if expect {
                return Ok(streaming(buf, Framing::Chunked(dec), BytesMut::new(), true));
            }
            let mut decoded = BytesMut::new();
            loop {
                if !buf.is_empty() {
                    let d = dec.decode(buf).map_err(ReadEnd::Reject)?;
                    if let Some(r) = d.data {
                        decoded.extend_from_slice(&buf[r]);
                        if limit > 0 && decoded.len() as u64 > limit {
                            return Err(ReadEnd::Reject(TOO_LARGE));
                        }
                    }
                    buf.advance(d.consumed);
                    if d.done {
                        return Ok(Body::Full(decoded));
                    }
                    if decoded.len() > threshold {
                        return Ok(streaming(buf, Framing::Chunked(dec), decoded, false));
                    }
                    if d.consumed > 0 {
                        continue;
                    }
                }
                read_more(worker, stream, buf).await?;
            }
        }
    }
}

/// Reads and throws away the `n` body bytes the app left unread, so the
/// next request starts where it should. False if the client stalls past
/// `--body-timeout` or goes away.
async fn skip_body(worker: &Worker, stream: &mut Stream, mut n: u64) -> bool {
    let mut scratch = BytesMut::with_capacity(n.min(16 * 1024) as usize);
    while n > 0 {
        scratch.clear();
        let want = n.min(scratch.capacity() as u64) as usize;
        match tokio::time::timeout(
            worker.body_timeout(),
            stream.read_at_most(&mut scratch, want),
        )
        .await
        {
            Ok(Ok(k)) if k > 0 => n -= k as u64,
            _ => return false,
        }
    }
    true
}

/// Answers a protocol error and closes without reading another request.
async fn reject(worker: &Worker, stream: &Stream, e: &HttpError, peer: &Peer) {
    logging::debug(&format!(
        "Invalid request from {}: {} ({})",
        peer.addr, e.reason, e.status
    ));
    let bytes = error_bytes(e.status);
    let _ = stream.write_all(&bytes, worker.write_timeout()).await;
    linger_close(stream).await;
}

/// Half-closes and discards what the client still sends for a moment, so
/// the error response is not destroyed by a TCP reset.
async fn linger_close(stream: &Stream) {
    let fd = stream.fd();
    // SAFETY: shutdown on our own open socket.
    unsafe { libc::shutdown(fd, libc::SHUT_WR) };
    let deadline = Instant::now() + Duration::from_secs(1);
    // On the heap: an array here would be part of every connection task's
    // state (futures are sized for their largest await point), idle or not.
    let mut scratch = vec![0u8; 16 * 1024];
    let mut total = 0usize;
    while total < 256 * 1024 {
        let ready = match stream {
            Stream::Tcp(s) => tokio::time::timeout_at(deadline.into(), s.readable()).await,
            Stream::Unix(s) => tokio::time::timeout_at(deadline.into(), s.readable()).await,
        };
        if !matches!(ready, Ok(Ok(()))) {
            return;
        }
        let r = match stream {
            Stream::Tcp(s) => s.try_read(&mut scratch),
            Stream::Unix(s) => s.try_read(&mut scratch),
        };
        match r {
            Ok(0) => return,
            Ok(n) => total += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(_) => return,
        }
    }
}
