//! Running one request through the application.
//!
//! Owns: the PEP 3333 call sequence — environ, `app(environ, start_response)`,
//! iterating the result (fast paths for a list of bytes and for
//! `wsgi.file_wrapper` over a real file), calling `close()` on the result in
//! every case, and turning failures into a 500 (before the head is sent) or
//! an aborted connection (after), with the traceback in the error log.
//!
//! In inline mode a response that gets more than the write budget ahead of
//! its client is suspended ([`Resume`]) instead of waited for, so the event
//! loop keeps serving other connections while this one drains.
//!
//! Must never: let a Python exception escape, or leave a Python object in
//! the returned [`Done`] (it is dropped by I/O code that has no GIL) other
//! than a [`Resume`], which only inline mode creates.

use std::os::fd::{FromRawFd, OwnedFd};
use std::sync::Arc;

use bytes::BytesMut;
use pyo3::exceptions::{PyIOError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyIterator, PyList, PyTuple};

use crate::hooks::{self, Hook};
use crate::http::Version;
use crate::logging;

use super::app::WsgiApp;
use super::environ;
use super::file_wrapper::FileWrapper;
use super::input::Input;
use super::responder::{Output, StartResponse};
use super::{Body, Done, Exchange, FileSend};

/// How much of an unread request body is drained so the connection can be
/// kept; beyond it the connection closes (as Gunicorn's gthread worker does).
use super::input::{Framing, DRAIN_LIMIT};

fn body_item<'a, 'py>(item: &'a Bound<'py, PyAny>) -> PyResult<&'a Bound<'py, PyBytes>> {
    item.cast::<PyBytes>().map_err(|_| {
        let t = item
            .get_type()
            .name()
            .map(|n| n.to_string())
            .unwrap_or_default();
        PyTypeError::new_err(format!("response body items must be bytes, not {t}"))
    })
}

/// Runs `ex` through the application; never fails.
///
/// `inline`: the caller is the event-loop thread. A response that gets more
/// than the write budget ahead of the client is then not waited for here:
/// the returned [`Done`] carries a [`Resume`] instead.
pub fn handle(py: Python<'_>, app: &Arc<WsgiApp>, mut ex: Exchange, inline: bool) -> Done {
    let head_request = ex.head.method() == b"HEAD";
    let http11 = ex.head.version == Version::Http11;
    let keep_alive = ex.head.keep_alive && !ex.closing;
    let mut whole = None;
    let (data, stream, spool) = match std::mem::replace(&mut ex.body, Body::Empty) {
        Body::Empty => (BytesMut::new(), None, None),
        Body::Full(b) => (b, None, None),
        Body::Bytes(b) => {
            whole = Some(b);
            (BytesMut::new(), None, None)
        }
        Body::Spooled(s) => (BytesMut::new(), None, Some(s)),
        Body::Stream(mut s) => (std::mem::take(&mut s.prefix), Some(*s), None),
    };
    let write_timeout = crate::worker::write_timeout(&app.cfg);

    let streaming = stream.is_some();
    let input = if let Some(b) = whole {
        Bound::new(py, Input::whole(b))
    } else if let Some(spool) = spool {
        Bound::new(py, Input::spooled(spool))
    } else if data.is_empty() && stream.is_none() {
        Ok(app.empty_input.bind(py).clone())
    } else {
        Bound::new(py, Input::new(data, stream))
    };
    let Ok(input) = input else {
        return internal();
    };
    let Ok(sr) = Bound::new(
        py,
        StartResponse::new(Output::new(
            ex.fd,
            keep_alive,
            head_request,
            http11,
            write_timeout,
            inline,
            std::mem::take(&mut ex.out),
        )),
    ) else {
        return internal();
    };
    if streaming {
        sr.borrow_mut().out.input = Some(input.clone().unbind());
    }
    let env = match environ::build(py, app, &ex, input.clone().into_any()) {
        Ok(Ok(env)) => env,
        Ok(Err(e)) => {
            logging::error(&e.reason);
            return early(simple(e.status), head_request);
        }
        Err(e) => {
            logging::error(&format!(
                "Error building environ: {}",
                app.traceback(py, &e)
            ));
            return early(internal(), head_request);
        }
    };
    // Hooks (pre_request / post_request) only when the config has them.
    let hook_req = if hooks::per_request() {
        hooks::pre_request(py, &env).map(|r| (r, env.clone().into_any()))
    } else {
        None
    };
    let mut file = None;
    let log_keys = logging::access_env_keys();
    let env_for_log = (!log_keys.is_empty()).then(|| env.clone());
    let (result, run) = match app.app.bind(py).call1((env, sr.clone())) {
        Ok(r) => {
            let run = run_result(py, &r, &sr, &mut file);
            (Some(r), run)
        }
        Err(e) => (None, Err(e)),
    };
    if let Some(env) = env_for_log {
        // After the call: middleware may have added keys (REMOTE_USER).
        ex.log_environ = environ_for_log(&env, log_keys);
    }
    let req = Req {
        ex,
        sr,
        input,
        result,
        hook_req,
        head_request,
    };
    match run {
        Ok(Some(source)) => suspend(app, req, source),
        Ok(None) => conclude(py, app, req, Ok(()), file),
        Err(e) => conclude(py, app, req, Err(e), file),
    }
}

/// What finishing a request needs once the application has returned.
struct Req<'py> {
    ex: Exchange,
    sr: Bound<'py, StartResponse>,
    input: Bound<'py, Input>,
    /// What the application returned (None if the call raised).
    result: Option<Bound<'py, PyAny>>,
    /// pre_request's value and the environ, for post_request.
    hook_req: Option<(Bound<'py, PyAny>, Bound<'py, PyAny>)>,
    head_request: bool,
}

/// Where the rest of a suspended response body comes from.
enum Source {
    /// A list (the fast path), from this index on.
    List(Py<PyList>, usize),
    Iter(Py<PyIterator>),
}

/// Inline mode: a response that got more than the write budget ahead of
/// its client. The connection task writes the pending bytes asynchronously
/// (the event loop serves others meanwhile), then calls [`Resume::resume`]
/// on the loop thread, which pulls more from the iterable — until the
/// budget again, or the end, where the request is finished exactly as an
/// unsuspended one (close(), post_request, the body's remainder).
///
/// Holds Python objects: it is created, resumed and dropped only on the
/// inline event-loop thread. Dropped without being resumed (the worker
/// stopped with the request in flight), it still finishes the request as
/// for a client that went away, so `close()` is always called.
pub struct Resume(Option<Box<Suspended>>);

struct Suspended {
    app: Arc<WsgiApp>,
    ex: Exchange,
    sr: Py<StartResponse>,
    input: Py<Input>,
    result: Option<Py<PyAny>>,
    hook_req: Option<(Py<PyAny>, Py<PyAny>)>,
    head_request: bool,
    source: Source,
}

impl Suspended {
    fn bind(self, py: Python<'_>) -> (Arc<WsgiApp>, Req<'_>, Source) {
        let req = Req {
            ex: self.ex,
            sr: self.sr.into_bound(py),
            input: self.input.into_bound(py),
            result: self.result.map(|r| r.into_bound(py)),
            hook_req: self
                .hook_req
                .map(|(r, e)| (r.into_bound(py), e.into_bound(py))),
            head_request: self.head_request,
        };
        (self.app, req, self.source)
    }
}

impl Resume {
    /// The request line, for the `--request-timeout` watchdog.
    pub fn describe(&self) -> String {
        match &self.0 {
            Some(s) => format!(
                "{} {}",
                String::from_utf8_lossy(s.ex.head.method()),
                String::from_utf8_lossy(s.ex.head.target())
            ),
            None => String::new(),
        }
    }

    /// Continues the response after the connection task wrote the pending
    /// bytes (`wrote` is how that went). Inline event-loop thread only.
    pub fn resume(mut self, py: Python<'_>, wrote: std::io::Result<()>) -> Done {
        let Some(s) = self.0.take() else {
            return internal();
        };
        let (app, req, source) = s.bind(py);
        {
            let mut me = req.sr.borrow_mut();
            me.out.suspended = false;
            // Corking is for the end of a response: from here on what the
            // iterator yields goes out as it comes.
            me.out.cork = false;
        }
        let run = match wrote {
            Ok(()) => pump(py, &req.sr, source),
            Err(e) => {
                req.sr.borrow_mut().out.broken = true;
                Err(PyIOError::new_err(format!("client disconnected: {e}")))
            }
        };
        match run {
            Ok(Some(source)) => suspend(&app, req, source),
            Ok(None) => conclude(py, &app, req, Ok(()), None),
            Err(e) => conclude(py, &app, req, Err(e), None),
        }
    }
}

impl Drop for Resume {
    fn drop(&mut self) {
        if let Some(s) = self.0.take() {
            Python::attach(|py| {
                let (app, req, _source) = s.bind(py);
                // The connection's socket may already be closed (and its
                // number reused): nothing more may be written to it.
                req.sr.borrow_mut().out.forget_socket();
                let err = PyIOError::new_err("connection closed before the response was sent");
                drop(conclude(py, &app, req, Err(err), None));
            });
        }
    }
}

/// Hands the response back to the connection task with what is pending.
fn suspend(app: &Arc<WsgiApp>, req: Req<'_>, source: Source) -> Done {
    let mut me = req.sr.borrow_mut();
    me.out.suspended = true;
    let pending = std::mem::take(&mut me.out.pending);
    let (status, body_bytes) = (me.out.status, me.out.body_bytes);
    drop(me);
    Done {
        keep_alive: false,
        abort: false,
        linger: false,
        discard: 0,
        pending,
        file: None,
        buf: BytesMut::new(),
        status,
        body_bytes,
        resp_headers: Vec::new(),
        log_environ: Vec::new(),
        resume: Some(Resume(Some(Box::new(Suspended {
            app: app.clone(),
            ex: req.ex,
            sr: req.sr.unbind(),
            input: req.input.unbind(),
            result: req.result.map(Bound::unbind),
            hook_req: req.hook_req.map(|(r, e)| (r.unbind(), e.unbind())),
            head_request: req.head_request,
            source,
        })))),
    }
}

/// A response decided before the application produced one.
fn early(mut done: Done, head_request: bool) -> Done {
    if head_request {
        // A response to HEAD never has content (RFC 9110 §9.3.2).
        crate::http::strip_body(&mut done.pending);
    }
    done
}

/// The end of every request that reached the application: `close()` on
/// the result (PEP 3333: always), the end of the body, post_request, error
/// reporting, and what the request body's remainder means for the
/// connection.
fn conclude(
    py: Python<'_>,
    app: &WsgiApp,
    mut req: Req<'_>,
    run: PyResult<()>,
    mut file: Option<FileSend>,
) -> Done {
    let sr = &req.sr;
    let input = &req.input;
    let result = match &req.result {
        Some(r) => {
            let closed = call_close(r);
            run.and(closed)
        }
        None => run,
    };
    let result = result.and_then(|()| sr.borrow_mut().out.finish(py));
    if let Some((hreq, env)) = req.hook_req.take() {
        if hooks::defined(Hook::PostRequest) {
            let me = sr.borrow();
            let status = if result.is_err() && !me.out.headers_sent {
                "500 Internal Server Error"
                    .into_pyobject(py)
                    .map(|s| s.into_any().unbind())
                    .ok()
            } else {
                me.status.as_ref().map(|s| s.clone_ref(py))
            };
            let headers = me.headers.as_ref().map(|h| h.clone_ref(py));
            let sent = me.out.body_bytes;
            drop(me);
            hooks::call(py, "post_request", (hreq, env, status, headers, sent));
        }
    }
    let target = req.ex.head.target();
    if let Err(e) = result {
        let mut me = sr.borrow_mut();
        let client_error = input.borrow().client_error();
        if client_error == Some(413) {
            logging::info(&format!(
                "Request body of {} is larger than --limit-request-body",
                String::from_utf8_lossy(target)
            ));
        } else if client_error.is_some() || input.borrow().client_gone() {
            logging::debug(&format!(
                "Bad or incomplete request body for {}: {e}",
                String::from_utf8_lossy(target)
            ));
        } else if me.out.broken {
            logging::debug(&format!(
                "Client disconnected during {}",
                String::from_utf8_lossy(target)
            ));
        } else {
            logging::error(&format!(
                "Error handling request {}\n{}",
                String::from_utf8_lossy(target),
                app.traceback(py, &e)
            ));
        }
        if me.out.headers_sent {
            me.out.abort = true;
            me.out.keep_alive = false;
            file = None;
        } else if let Some(status) = client_error {
            drop(me);
            sr.borrow_mut().retire();
            let mut d = simple(status);
            // The client may still be sending: half-close and discard
            // for a moment so it sees the answer, not a reset.
            d.linger = true;
            return early(d, req.head_request);
        } else {
            drop(me);
            sr.borrow_mut().retire();
            let buf = input_stream_buf(input, &mut req.ex);
            return early(internal_with(buf), req.head_request);
        }
    }
    let mut out = sr.borrow_mut().retire();
    // What is left of the request body decides whether the connection can
    // serve another request.
    let mut linger = false;
    let mut discard = 0u64;
    let buf = match input.borrow_mut().take_stream() {
        Some(mut s) => {
            if !s.done {
                // What the app left unread. A known, small remainder is
                // skipped by the connection task (asynchronously: never a
                // blocking wait here, on a thread that may run the event
                // loop); anything else closes the connection, which the
                // response head already announced.
                match s.framing {
                    Framing::Length(rem)
                        if out.keep_alive
                            && !s.broken
                            && !s.send_continue
                            && rem <= DRAIN_LIMIT as u64 =>
                    {
                        let now = (s.buf.len() as u64).min(rem) as usize;
                        bytes::Buf::advance(&mut s.buf, now);
                        discard = rem - now as u64;
                    }
                    _ => {
                        out.keep_alive = false;
                        // Unless the client is gone, its body may still be coming.
                        linger = s.too_large || !s.broken;
                    }
                }
            }
            std::mem::take(&mut s.buf)
        }
        None => std::mem::take(&mut req.ex.buf),
    };
    Done {
        keep_alive: out.keep_alive && !out.abort && !out.broken,
        abort: out.abort || out.broken,
        linger,
        discard,
        pending: out.pending,
        file,
        buf,
        status: out.status,
        body_bytes: out.body_bytes,
        resp_headers: out.resp_headers.unwrap_or_default(),
        log_environ: std::mem::take(&mut req.ex.log_environ),
        resume: None,
    }
}

fn input_stream_buf(input: &Bound<'_, Input>, ex: &mut Exchange) -> BytesMut {
    match input.borrow_mut().take_stream() {
        Some(mut s) => std::mem::take(&mut s.buf),
        None => std::mem::take(&mut ex.buf),
    }
}

/// The values of `keys` (matched without regard to case, as Gunicorn's
/// lower-cased `{name}e` atoms) in `env`, as text.
fn environ_for_log(
    env: &Bound<'_, pyo3::types::PyDict>,
    keys: &[String],
) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out = Vec::new();
    for (k, v) in env.iter() {
        let Ok(k) = k.extract::<String>() else {
            continue;
        };
        if keys.iter().any(|want| want.eq_ignore_ascii_case(&k)) {
            let text = v.str().map(|s| s.to_string()).unwrap_or_default();
            out.push((k.into_bytes(), text.into_bytes()));
        }
    }
    out
}

fn simple(status: u16) -> Done {
    Done {
        keep_alive: false,
        abort: false,
        linger: false,
        discard: 0,
        pending: crate::worker::error_bytes(status),
        file: None,
        buf: BytesMut::new(),
        status,
        body_bytes: 0,
        resp_headers: Vec::new(),
        log_environ: Vec::new(),
        resume: None,
    }
}

fn internal() -> Done {
    simple(500)
}

fn internal_with(buf: BytesMut) -> Done {
    let mut d = simple(500);
    d.buf = buf;
    d
}

/// Calls `result.close()` if it exists (PEP 3333: always, even on error).
fn call_close(result: &Bound<'_, PyAny>) -> PyResult<()> {
    // Built-in sequences have no close(); asking would raise and swallow an
    // AttributeError on every request.
    if result.is_exact_instance_of::<PyList>()
        || result.is_exact_instance_of::<PyTuple>()
        || result.is_exact_instance_of::<PyBytes>()
    {
        return Ok(());
    }
    if result.hasattr(pyo3::intern!(result.py(), "close"))? {
        result.call_method0(pyo3::intern!(result.py(), "close"))?;
    }
    Ok(())
}

/// Sends what the application returned. `Some(source)`: inline mode, more
/// than the write budget is waiting for the client; the rest of the body is
/// in `source`.
fn run_result(
    py: Python<'_>,
    result: &Bound<'_, PyAny>,
    sr: &Bound<'_, StartResponse>,
    file: &mut Option<FileSend>,
) -> PyResult<Option<Source>> {
    // Fast path: a list of bytes, the common case. The total length is known,
    // so the head carries Content-Length and goes out with the body in one writev.
    if let Ok(list) = result.cast::<PyList>() {
        let mut total = 0u64;
        for item in list.iter() {
            total += body_item(&item)?.as_bytes().len() as u64;
        }
        let mut me = sr.borrow_mut();
        me.ensure_headers(py, Some(total))?;
        let n = list.len();
        // No Python code runs in this loop: the list cannot change under it.
        for (i, item) in list.iter().enumerate() {
            me.out.body(py, body_item(&item)?.as_bytes())?;
            if me.out.over_budget() && i + 1 < n {
                return Ok(Some(Source::List(list.clone().unbind(), i + 1)));
            }
        }
        return Ok(None);
    }
    if let Ok(fw) = result.cast::<FileWrapper>() {
        if send_file(py, fw, sr, file)? {
            return Ok(None);
        }
    }
    let mut it = result.try_iter()?;
    // start_response may first be called while the first item is produced.
    match it.next() {
        None => {
            sr.borrow_mut().ensure_headers(py, Some(0))?;
            Ok(None)
        }
        Some(first) => {
            let first = first?;
            // Check the item before the head goes out, so a wrong type is still a clean 500.
            let first = body_item(&first)?;
            let mut me = sr.borrow_mut();
            me.ensure_headers(py, None)?;
            me.out.body(py, first.as_bytes())?;
            // A block still corked must be on the wire before the iterator
            // is asked for more (it may block: a stream), unless the body is
            // already complete (Flask, Django: one item with Content-Length).
            if me.out.over_budget() {
                return Ok(Some(Source::Iter(it.unbind())));
            }
            if me.out.corked() && !me.out.complete() {
                if me.out.defers() {
                    // Inline: the connection task writes it, then resumes us.
                    return Ok(Some(Source::Iter(it.unbind())));
                }
                // An application thread may wait for the client itself.
                me.out.uncork(py)?;
            }
            drop(me);
            pump(py, sr, Source::Iter(it.unbind()))
        }
    }
}

/// Sends the rest of a body from `source`, the head already out; stops
/// early (inline mode) once more than the write budget is pending.
fn pump(py: Python<'_>, sr: &Bound<'_, StartResponse>, source: Source) -> PyResult<Option<Source>> {
    match source {
        Source::List(list, mut i) => {
            let list = list.into_bound(py);
            // By index: the application may have changed the list while
            // the response was suspended.
            while i < list.len() {
                let item = list.get_item(i)?;
                i += 1;
                let mut me = sr.borrow_mut();
                me.out.body(py, body_item(&item)?.as_bytes())?;
                if me.out.over_budget() && i < list.len() {
                    drop(me);
                    return Ok(Some(Source::List(list.unbind(), i)));
                }
            }
            Ok(None)
        }
        Source::Iter(it) => {
            let mut it = it.into_bound(py);
            // `sr` is borrowed only around each write: producing an item
            // runs Python code, which may call `write()`.
            while let Some(item) = it.next() {
                let item = item?;
                let mut me = sr.borrow_mut();
                me.out.body(py, body_item(&item)?.as_bytes())?;
                if me.out.over_budget() {
                    drop(me);
                    return Ok(Some(Source::Iter(it.unbind())));
                }
            }
            Ok(None)
        }
    }
}

/// The `sendfile(2)` path: only for a wrapper around a regular file with a
/// real descriptor. Returns false to fall back to iteration.
fn send_file(
    py: Python<'_>,
    fw: &Bound<'_, FileWrapper>,
    sr: &Bound<'_, StartResponse>,
    file: &mut Option<FileSend>,
) -> PyResult<bool> {
    let filelike = fw.borrow().filelike.bind(py).clone();
    let Ok(fileno) = filelike
        .call_method0("fileno")
        .and_then(|f| f.extract::<i32>())
    else {
        return Ok(false);
    };
    // SAFETY: fstat on a descriptor number into a zeroed struct.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstat(fileno, &mut st) } != 0 || (st.st_mode & libc::S_IFMT) != libc::S_IFREG
    {
        return Ok(false);
    }
    // The logical position of a buffered Python file is tell(), not the OS offset.
    let offset: u64 = match filelike
        .call_method0("tell")
        .and_then(|t| t.extract::<u64>())
    {
        Ok(o) => o,
        // SAFETY: lseek on a valid descriptor.
        Err(_) => unsafe { libc::lseek(fileno, 0, libc::SEEK_CUR) }.max(0) as u64,
    };
    let avail = (st.st_size as u64).saturating_sub(offset);
    let mut me = sr.borrow_mut();
    me.ensure_headers(py, Some(avail))?;
    let len = me.out.take_for_file(avail);
    if len == 0 {
        return Ok(true);
    }
    // SAFETY: F_DUPFD_CLOEXEC returns a new descriptor we own, or -1.
    let dup = unsafe { libc::fcntl(fileno, libc::F_DUPFD_CLOEXEC, 0) };
    if dup < 0 {
        return Err(std::io::Error::last_os_error().into());
    }
    // SAFETY: `dup` is a fresh descriptor owned by nobody else.
    let owned = unsafe { OwnedFd::from_raw_fd(dup) };
    *file = Some(FileSend {
        file: owned,
        offset,
        len,
    });
    Ok(true)
}
