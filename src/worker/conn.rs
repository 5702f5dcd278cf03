//! One client connection, from accept to close: the HTTP/1.1 state machine.
//!
//! Owns: reading request heads (with the header timeout for a request in
//! progress and the keep-alive timeout between requests), reading bodies
//! before the application is called (up to `--body-buffer-size` in threaded
//! mode; whole in inline mode, larger ones spooled to an unlinked temporary
//! file), answering protocol errors, handing the request to the application
//! thread, finishing the response bytes the application thread left (and
//! file bodies with `sendfile(2)`; inline, resuming a response suspended
//! past the write budget), the access log line, and keep-alive / pipelining
//! (requests are answered strictly in order, one at a time).
//!
//! Must never: take the GIL itself (inline mode runs on a thread that holds
//! it; the dispatch decides), read past a body into the next request except
//! into the connection buffer, or read anything more from a connection after
//! rejecting a request.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, Interest};
use tokio::net::{TcpStream, UnixStream};

use crate::http::{parse_head_from, BodyFraming, ChunkedDecoder, HttpError, RequestHead, Version};
use crate::logging;
use crate::wsgi::input::{Framing, Spool, StreamBody};
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

    /// Reads more of a body, at most `max` bytes into `body`. When `max` is
    /// all that is left of the body, `after` is the connection buffer: the
    /// same `readv` puts whatever follows the body (a pipelined request)
    /// into its spare room. A read that leaves room unfilled
    /// drained the socket, so the read readiness is cleared: the next read
    /// waits for epoll instead of trying a `recv` that would fail with
    /// EAGAIN (an exact-size read cannot tell; tokio's own reads do this for
    /// short reads).
    async fn read_body_part(
        &mut self,
        body: &mut BytesMut,
        max: usize,
        after: Option<&mut BytesMut>,
    ) -> io::Result<usize> {
        if max == 0 {
            return Ok(0);
        }
        body.reserve(max);
        let n = self
            .read_into(&mut body.spare_capacity_mut()[..max], after)
            .await?;
        // SAFETY: read_into initialised the first min(n, max) bytes of the
        // spare room it was given.
        unsafe { body.set_len(body.len() + n.min(max)) };
        Ok(n)
    }

    /// One `readv` (waiting for readability) into `room` and, past it, into
    /// the spare room of `after` (whose length it advances). Returns the
    /// bytes read in all: `room` gets the first `min(n, room.len())`. A
    /// short read clears the read readiness (see [`Stream::read_body_part`]).
    async fn read_into(
        &mut self,
        room: &mut [std::mem::MaybeUninit<u8>],
        mut after: Option<&mut BytesMut>,
    ) -> io::Result<usize> {
        if let Some(buf) = after.as_deref_mut() {
            if buf.capacity() - buf.len() < 1024 {
                buf.reserve(4096);
            }
        }
        let fd = self.fd();
        loop {
            self.ready(Interest::READABLE).await?;
            let mut none: [std::mem::MaybeUninit<u8>; 0] = [];
            let buf_room = match after.as_deref_mut() {
                Some(buf) => buf.spare_capacity_mut(),
                None => &mut none[..],
            };
            let offered = room.len() + buf_room.len();
            let iov = [
                libc::iovec {
                    iov_base: room.as_mut_ptr().cast(),
                    iov_len: room.len(),
                },
                libc::iovec {
                    iov_base: buf_room.as_mut_ptr().cast(),
                    iov_len: buf_room.len(),
                },
            ];
            let r = self.try_io(Interest::READABLE, || {
                // SAFETY: both iovecs point into memory that stays allocated
                // (and unaliased) for the duration of the call.
                let n = unsafe { libc::readv(fd, iov.as_ptr(), 2) };
                if n < 0 {
                    Err(io::Error::last_os_error())
                } else {
                    Ok(n as usize)
                }
            });
            match r {
                Ok(n) => {
                    if let Some(buf) = after.as_deref_mut() {
                        // SAFETY: readv initialised the bytes past `room`
                        // at the start of buf's spare room.
                        unsafe { buf.set_len(buf.len() + n.saturating_sub(room.len())) };
                    }
                    if n > 0 && n < offered {
                        let _ = self.try_io(Interest::READABLE, || {
                            Err::<(), _>(io::ErrorKind::WouldBlock.into())
                        });
                    }
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Waits until the socket is ready for `interest`.
    async fn ready(&self, interest: Interest) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.ready(interest).await.map(drop),
            Stream::Unix(s) => s.ready(interest).await.map(drop),
        }
    }

    /// One non-blocking step for `interest`; WouldBlock clears that readiness.
    fn try_io<R>(&self, interest: Interest, f: impl FnOnce() -> io::Result<R>) -> io::Result<R> {
        match self {
            Stream::Tcp(s) => s.try_io(interest, f),
            Stream::Unix(s) => s.try_io(interest, f),
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
            match self.try_io(Interest::WRITABLE, || step(done)) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::WriteZero,
                        "no progress writing",
                    ))
                }
                Ok(n) => done += n as u64,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    tokio::time::timeout(timeout, self.ready(Interest::WRITABLE))
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
    // Reused for every response (inline mode queues small ones in it).
    let mut out: Vec<u8> = Vec::new();
    let mut first = true;
    // --proxy-protocol: the connection may start with a PROXY header that
    // names the real client (only from --proxy-allow-from addresses).
    let peer = match worker.proxy_trust() {
        None => Some(peer),
        Some(trust) => {
            match read_proxy_header(&worker, &mut stream, &mut buf, &peer, trust).await {
                Ok(p) => Some(p),
                Err(ReadEnd::Quiet) => None,
                Err(ReadEnd::Reject(e)) => {
                    reject(&worker, &stream, &e, &peer).await;
                    None
                }
            }
        }
    };
    let Some(peer) = peer else {
        drop(stream);
        worker.conn_closed();
        return;
    };
    let mut timer = std::pin::pin!(tokio::time::sleep(worker.keepalive()));
    loop {
        let head = match read_head(&worker, &mut stream, &mut buf, first, timer.as_mut()).await {
            Ok(h) => h,
            Err(ReadEnd::Quiet) => break,
            Err(ReadEnd::Reject(e)) => {
                reject(&worker, &stream, &e, &peer).await;
                break;
            }
        };
        first = false;
        // Only the access log needs the request's duration (one clock read
        // less per request without it).
        let started = logging::access_enabled().then(Instant::now);
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
            log_environ: Vec::new(),
            out: std::mem::take(&mut out),
        };
        // How long the request is in the application's hands (with the
        // queue wait in threaded mode) decides whether corking pays (below).
        let app_start = coarse_now();
        let Some(mut done) = worker.dispatch(ex).await else {
            break;
        };
        let timeout = worker.write_timeout();
        // The response was queued (responder::CORK_LIMIT): let the loop
        // run the other ready requests first — inline, the other apps;
        // threaded, the other replies that came back while the loop slept —
        // so their clients get this tick's responses in one burst. Only
        // after a fast app: a corked response waits for the rest of the tick
        // (tokio polls the driver at the latest every 61 tasks), which must
        // stay short next to the app's own time; after a slow one (≥ 1 ms)
        // the wake-up it would save is noise.
        if !done.pending.is_empty() && coarse_now().saturating_sub(app_start) < CORK_MAX_APP_NS {
            tokio::task::yield_now().await;
        }
        // Inline mode: a response that got more than the write budget ahead
        // of the client comes back in parts; the loop serves others while
        // this one is written.
        while let Some(r) = done.resume.take() {
            let wrote = stream.write_all(&done.pending, timeout).await;
            done = worker.resume(r, wrote);
        }
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
            log_environ,
            resume: _,
        } = done;
        buf = rest;
        let mut ok = pending.is_empty() || stream.write_all(&pending, timeout).await.is_ok();
        // Kept for the next response only while small: an idle keep-alive
        // connection must stay cheap (a few KiB), whatever it last sent.
        if pending.capacity() <= KEEP_OUT_BUF {
            out = pending;
        }
        if ok && !abort {
            if let Some(f) = &file {
                ok = stream
                    .send_file(f.file.as_raw_fd(), f.offset, f.len, timeout)
                    .await
                    .is_ok();
            }
        }
        if let Some(a) = access {
            a.log(
                &peer,
                status,
                body_bytes,
                &resp_headers,
                &log_environ,
                started.map(|t| t.elapsed()).unwrap_or_default(),
            );
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

/// The largest output buffer a connection keeps between requests.
const KEEP_OUT_BUF: usize = 4096;

/// Inline mode corks a response only after an app call shorter than this.
const CORK_MAX_APP_NS: u64 = 1_000_000;

/// The coarse monotonic clock in nanoseconds (a kernel-tick resolution,
/// 1–4 ms, read without touching the clock source: cheap enough for every
/// request).
fn coarse_now() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own.
    if unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut ts) } != 0 {
        return 0;
    }
    (ts.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(ts.tv_nsec as u64)
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
        environ: &[(Vec<u8>, Vec<u8>)],
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
            environ,
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

/// Reads until a whole request head is parsed. `timer` is the
/// connection's one keep-alive/header timer, moved forward for every wait:
/// a deadline later than the armed one costs a store, not a timer-wheel
/// removal and insertion per request.
async fn read_head(
    worker: &Worker,
    stream: &mut Stream,
    buf: &mut BytesMut,
    first: bool,
    mut timer: std::pin::Pin<&mut tokio::time::Sleep>,
) -> Result<RequestHead, ReadEnd> {
    let limits = worker.limits();
    let mut deadline: Option<Instant> = None;
    let mut first_byte_seen = false;
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
        let idle = buf.is_empty() && !first && !first_byte_seen;
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
        if timer.deadline() != d.into() {
            timer.as_mut().reset(d.into());
        }
        let read = tokio::select! {
            biased;
            r = stream.read_buf(buf) => r,
            () = timer.as_mut() => return Err(ReadEnd::Quiet),
            _ = worker.closed(), if idle => return Err(ReadEnd::Quiet),
        };
        match read {
            Ok(0) | Err(_) => return Err(ReadEnd::Quiet),
            Ok(_) => {
                if was_empty && idle {
                    // The first byte of a new request starts the header
                    // clock: the next wait (if the head is incomplete)
                    // takes its deadline from now.
                    deadline = None;
                    first_byte_seen = true;
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

const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// Reads the body before the app is called. Threaded mode: up to
/// `--body-buffer-size`; larger ones (and ones behind
/// `Expect: 100-continue` whose size is not known) stream through
/// `wsgi.input`. Inline mode: always whole ([`Sink`]), because an app that
/// waited on the socket would stop the event loop for every connection.
async fn read_body(
    worker: &Worker,
    stream: &mut Stream,
    buf: &mut BytesMut,
    head: &RequestHead,
) -> Result<Body, ReadEnd> {
    let threshold = worker.body_buffer_size();
    let expect = head.expect_continue;
    let inline = worker.is_inline();
    let fd = stream.fd();
    let streaming =
        |buf: &mut BytesMut, framing: Framing, prefix: BytesMut, send_continue: bool| {
            Body::Stream(Box::new(StreamBody {
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
            }))
        };
    let limit = worker.limit_request_body();
    if let BodyFraming::Length(n) = head.framing {
        if limit > 0 && n > limit {
            return Err(ReadEnd::Reject(TOO_LARGE));
        }
    }
    let in_memory = threshold.max(MAX_BODY_IN_MEMORY);
    match head.framing {
        BodyFraming::None | BodyFraming::Length(0) => Ok(Body::Empty),
        BodyFraming::Length(n) if n <= threshold as u64 || inline => {
            if expect && (buf.len() as u64) < n {
                stream
                    .write_all(CONTINUE, worker.write_timeout())
                    .await
                    .map_err(|_| ReadEnd::Quiet)?;
            }
            if buf.len() as u64 >= n {
                return Ok(Body::Full(buf.split_to(n as usize)));
            }
            if inline && n <= in_memory as u64 {
                return read_body_bytes(worker, stream, buf, n as usize).await;
            }
            // The rest goes straight into a buffer of exactly the body's
            // size (or, spooling, a staging buffer): reads can never run
            // into a pipelined request, and the connection buffer stays
            // small (no growth, no copy on growth).
            let mut sink = Sink::new(in_memory, Some(n));
            sink.mem.extend_from_slice(buf);
            buf.clear();
            sink.settle().await.map_err(spool_failed)?;
            while sink.len() < n {
                let left = n - sink.len();
                let want = left.min(sink.room() as u64) as usize;
                // Only a read that can finish the body may run past it.
                let after = (want as u64 == left).then_some(&mut *buf);
                match tokio::time::timeout(
                    worker.body_timeout(),
                    stream.read_body_part(&mut sink.mem, want, after),
                )
                .await
                {
                    Ok(Ok(k)) if k > 0 => {}
                    _ => return Err(ReadEnd::Quiet),
                }
                sink.settle().await.map_err(spool_failed)?;
            }
            sink.finish().await.map_err(spool_failed)
        }
        BodyFraming::Length(n) => Ok(streaming(buf, Framing::Length(n), BytesMut::new(), expect)),
        BodyFraming::Chunked => {
            let mut dec = ChunkedDecoder::new(4096, 8190);
            if expect && !inline {
                return Ok(streaming(buf, Framing::Chunked(dec), BytesMut::new(), true));
            }
            // Inline: `100 Continue` right before the first read that needs it.
            let mut continue_due = expect;
            let mut grown = false;
            let mut sink = Sink::new(in_memory, None);
            loop {
                if !buf.is_empty() {
                    let d = dec.decode(buf).map_err(ReadEnd::Reject)?;
                    if let Some(r) = d.data {
                        sink.mem.extend_from_slice(&buf[r]);
                        if limit > 0 && sink.len() > limit {
                            return Err(ReadEnd::Reject(TOO_LARGE));
                        }
                    }
                    buf.advance(d.consumed);
                    if d.done {
                        if grown {
                            // Back to a small connection buffer (only
                            // pipelined bytes, if any, are left in it).
                            *buf = BytesMut::from(&buf[..]);
                        }
                        return sink.finish().await.map_err(spool_failed);
                    }
                    if !inline && sink.len() > threshold as u64 {
                        return Ok(streaming(buf, Framing::Chunked(dec), sink.mem, false));
                    }
                    if inline {
                        sink.settle().await.map_err(spool_failed)?;
                    }
                    if d.consumed > 0 {
                        continue;
                    }
                }
                if continue_due {
                    continue_due = false;
                    stream
                        .write_all(CONTINUE, worker.write_timeout())
                        .await
                        .map_err(|_| ReadEnd::Quiet)?;
                }
                if inline && !grown && sink.len() > threshold as u64 {
                    // A large body: read it in large pieces.
                    grown = true;
                    let mut big = BytesMut::with_capacity(READ_CHUNK.max(buf.len()));
                    big.extend_from_slice(buf);
                    *buf = big;
                }
                read_more(worker, stream, buf).await?;
            }
        }
    }
}

/// Inline mode: reads the rest of a `Content-Length` body straight into a
/// new Python `bytes` object (`wsgi.input.read()` then returns it without a
/// copy). The part already in the connection buffer is copied in first.
async fn read_body_bytes(
    worker: &Worker,
    stream: &mut Stream,
    buf: &mut BytesMut,
    n: usize,
) -> Result<Body, ReadEnd> {
    use pyo3::types::PyBytes;
    // SAFETY: inline mode: this task runs on the loop thread, which holds
    // the GIL whenever a task runs (and pyo3 counts it as held there, so the
    // object is also dropped correctly if the read fails).
    let py = unsafe { pyo3::Python::assume_attached() };
    // SAFETY: a new, uninitialised bytes object of `n` bytes, owned here;
    // nothing else can see it until it is filled and handed over.
    let raw = unsafe { pyo3::ffi::PyBytes_FromStringAndSize(std::ptr::null(), n as isize) };
    // SAFETY: `raw` is a new reference to a bytes object (or null, an error).
    let Ok(body) = (unsafe { pyo3::Bound::from_owned_ptr_or_err(py, raw) }) else {
        return Err(ReadEnd::Quiet); // MemoryError: drop the connection
    };
    // SAFETY: PyBytes_FromStringAndSize returns a bytes object.
    let body: pyo3::Py<PyBytes> = unsafe { body.cast_into_unchecked::<PyBytes>() }.unbind();
    // SAFETY: the object's buffer is `n` bytes long and lives as long as `body`.
    let data = unsafe {
        std::slice::from_raw_parts_mut(
            pyo3::ffi::PyBytes_AsString(raw).cast::<std::mem::MaybeUninit<u8>>(),
            n,
        )
    };
    let mut filled = buf.len();
    for (d, &b) in data.iter_mut().zip(buf.iter()) {
        d.write(b);
    }
    buf.clear();
    while filled < n {
        // The last read may also take what follows (a pipelined request).
        match tokio::time::timeout(
            worker.body_timeout(),
            stream.read_into(&mut data[filled..], Some(&mut *buf)),
        )
        .await
        {
            Ok(Ok(k)) if k > 0 => filled += k.min(n - filled),
            _ => return Err(ReadEnd::Quiet),
        }
    }
    Ok(Body::Bytes(body))
}

/// Inline mode keeps a request body up to this size in memory (or
/// `--body-buffer-size`, if larger); beyond it the body goes to a file. The
/// same figure as the response write budget, so one connection's worst case
/// is the same on both sides, and a body this size costs a fraction of a
/// millisecond to copy.
const MAX_BODY_IN_MEMORY: usize = 1 << 20;

/// How much of a spooled body is gathered before one write to the file.
const SPOOL_STAGE: usize = 256 * 1024;

/// Socket reads of a large chunked body.
const READ_CHUNK: usize = 64 * 1024;

/// The directory for spooled bodies (`$TMPDIR`, else `/tmp`), looked up
/// once, on the loop thread (never concurrently with the application's own
/// `os.environ` changes, which hold the GIL).
static SPOOL_DIR: std::sync::OnceLock<CString> = std::sync::OnceLock::new();

/// A request body read whole before an inline app is called: in memory up
/// to a threshold, beyond it in an unlinked temporary file written by
/// tokio's blocking pool (a page-cache write can still stall under
/// writeback pressure; the event loop must not).
struct Sink {
    /// The body (in memory), or the bytes staged for the next file write.
    mem: BytesMut,
    file: Option<std::fs::File>,
    /// Bytes already in the file.
    in_file: u64,
    max_in_memory: usize,
    /// The body goes (or went) to the file.
    to_file: bool,
}

impl Sink {
    /// `size`: the Content-Length, if known.
    fn new(max_in_memory: usize, size: Option<u64>) -> Sink {
        let to_file = size.is_some_and(|n| n > max_in_memory as u64);
        let mem = match size {
            Some(_) if to_file => BytesMut::with_capacity(SPOOL_STAGE),
            Some(n) => BytesMut::with_capacity(n as usize),
            None => BytesMut::new(),
        };
        Sink {
            mem,
            file: None,
            in_file: 0,
            max_in_memory,
            to_file,
        }
    }

    fn len(&self) -> u64 {
        self.in_file + self.mem.len() as u64
    }

    /// How many bytes may be read into `mem` before a file write is due.
    fn room(&self) -> usize {
        if self.to_file {
            SPOOL_STAGE.saturating_sub(self.mem.len()).max(1)
        } else {
            usize::MAX
        }
    }

    /// After bytes were added: switches to the file past the threshold and
    /// writes the staged bytes once there are enough.
    async fn settle(&mut self) -> io::Result<()> {
        if !self.to_file && self.mem.len() > self.max_in_memory {
            self.to_file = true;
        }
        if self.to_file && self.mem.len() >= SPOOL_STAGE {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> io::Result<()> {
        let dir = SPOOL_DIR.get_or_init(|| {
            CString::new(std::os::unix::ffi::OsStrExt::as_bytes(
                std::env::temp_dir().as_os_str(),
            ))
            .unwrap_or_else(|_| c"/tmp".to_owned())
        });
        let file = self.file.take();
        let data = std::mem::take(&mut self.mem);
        let n = data.len() as u64;
        let (file, mut data) = tokio::task::spawn_blocking(move || {
            let mut file = match file {
                Some(f) => f,
                None => spool_file(dir)?,
            };
            io::Write::write_all(&mut file, &data)?;
            Ok::<_, io::Error>((file, data))
        })
        .await
        .map_err(io::Error::other)??;
        data.clear();
        if data.capacity() > 2 * SPOOL_STAGE {
            // The in-memory phase of a chunked body grew it; stage in less.
            data = BytesMut::with_capacity(SPOOL_STAGE);
        }
        self.file = Some(file);
        self.mem = data;
        self.in_file += n;
        Ok(())
    }

    async fn finish(mut self) -> io::Result<Body> {
        if !self.to_file {
            return Ok(Body::Full(self.mem));
        }
        self.flush().await?;
        match self.file {
            Some(file) => Ok(Body::Spooled(Spool {
                file,
                len: self.in_file,
                pos: 0,
            })),
            None => Err(io::Error::other("no spool file")),
        }
    }
}

/// A new temporary file without a name: `O_TMPFILE`, or (file systems
/// without it) `mkostemp` then `unlink`. Blocking.
fn spool_file(dir: &CString) -> io::Result<std::fs::File> {
    // SAFETY: open(2) on a NUL-terminated path; the result is checked.
    let fd = unsafe {
        libc::open(
            dir.as_ptr(),
            libc::O_TMPFILE | libc::O_RDWR | libc::O_CLOEXEC,
            0o600,
        )
    };
    if fd >= 0 {
        // SAFETY: a fresh descriptor we own.
        return Ok(unsafe { std::fs::File::from_raw_fd(fd) });
    }
    let mut template = dir.as_bytes().to_vec();
    template.extend_from_slice(b"/ferricorn-body-XXXXXX\0");
    // SAFETY: a writable NUL-terminated template, as mkostemp requires.
    let fd = unsafe { libc::mkostemp(template.as_mut_ptr().cast(), libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh descriptor we own; the name mkostemp filled in.
    let file = unsafe { std::fs::File::from_raw_fd(fd) };
    // SAFETY: unlink(2) on the NUL-terminated name just created.
    unsafe { libc::unlink(template.as_ptr().cast()) };
    Ok(file)
}

/// A body that could not be stored (disk full, no temporary directory):
/// the server's fault, so 500 and an error log line.
fn spool_failed(e: io::Error) -> ReadEnd {
    logging::error(&format!(
        "Cannot store a request body in {}: {e}",
        std::env::temp_dir().display()
    ));
    ReadEnd::Reject(HttpError::new(500, "cannot store the request body"))
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

/// Reads a PROXY protocol header (v1 or v2) at the start of a connection,
/// within --header-timeout. No header: plain HTTP, served as usual (as in
/// Gunicorn). A header from an address not in --proxy-allow-from: 403; a
/// malformed one: 400. Returns the peer the application will see.
async fn read_proxy_header(
    worker: &Worker,
    stream: &mut Stream,
    buf: &mut BytesMut,
    peer: &Arc<Peer>,
    trust: &crate::wsgi::proxy::ProxyTrust,
) -> Result<Arc<Peer>, ReadEnd> {
    use crate::http::proxy_protocol::{parse, Mode, Parsed, ProxyHeader};
    const FORBIDDEN: HttpError = HttpError::new(
        403,
        "PROXY header from an address not in --proxy-allow-from",
    );
    const MALFORMED: HttpError = HttpError::new(400, "malformed PROXY protocol header");
    let deadline = Instant::now() + worker.header_timeout();
    loop {
        if !buf.is_empty() {
            match parse(buf, Mode::Auto) {
                Ok(Parsed::Absent) => return Ok(peer.clone()),
                Ok(Parsed::Incomplete { .. }) => {}
                Ok(Parsed::Done {
                    consumed, header, ..
                }) => {
                    if !trust.trusts(peer.ip) {
                        return Err(ReadEnd::Reject(FORBIDDEN));
                    }
                    buf.advance(consumed);
                    return Ok(match header {
                        ProxyHeader::Local(_) => peer.clone(),
                        ProxyHeader::Proxied { src, dst } => Arc::new(Peer {
                            ip: Some(src.ip()),
                            addr: src.ip().to_string(),
                            port: Some(src.port().to_string()),
                            proxy: Some(crate::wsgi::ProxyInfo {
                                protocol: header.protocol_name(),
                                addr: dst.ip().to_string(),
                                port: dst.port().to_string(),
                            }),
                        }),
                    });
                }
                Err(e) => {
                    logging::debug(&format!("From {}: {e}", peer.addr));
                    return Err(ReadEnd::Reject(MALFORMED));
                }
            }
        }
        match tokio::time::timeout_at(deadline.into(), stream.read_buf(buf)).await {
            Ok(Ok(n)) if n > 0 => {}
            _ => return Err(ReadEnd::Quiet),
        }
    }
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
