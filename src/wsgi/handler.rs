//! Running one request through the application.
//!
//! Owns: the PEP 3333 call sequence — environ, `app(environ, start_response)`,
//! iterating the result (fast paths for a list of bytes and for
//! `wsgi.file_wrapper` over a real file), calling `close()` on the result in
//! every case, and turning failures into a 500 (before the head is sent) or
//! an aborted connection (after), with the traceback in the error log.
//!
//! Must never: let a Python exception escape, or leave a Python object in
//! the returned [`Done`] (it is dropped by I/O code that has no GIL).

use std::os::fd::{FromRawFd, OwnedFd};

use bytes::BytesMut;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyTuple};

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
// The early-exit value of the inner closure is a whole `Done`, built once.
#[allow(clippy::result_large_err)]
pub fn handle(py: Python<'_>, app: &WsgiApp, mut ex: Exchange) -> Done {
    let head_request = ex.head.method() == b"HEAD";
    let http11 = ex.head.version == Version::Http11;
    let keep_alive = ex.head.keep_alive && !ex.closing;
    let (data, stream) = match std::mem::replace(&mut ex.body, Body::Empty) {
        Body::Empty => (BytesMut::new(), None),
        Body::Full(b) => (b, None),
        Body::Stream(mut s) => (std::mem::take(&mut s.prefix), Some(s)),
    };
    let write_timeout = crate::worker::write_timeout(&app.cfg);
    let mut file = None;

    let streaming = stream.is_some();
    let outcome: Result<(Bound<'_, Input>, Bound<'_, StartResponse>), Done> = (|| {
        let input = if data.is_empty() && stream.is_none() {
            app.empty_input.bind(py).clone()
        } else {
            Bound::new(py, Input::new(data, stream)).map_err(|_| internal())?
        };
        let sr = Bound::new(
            py,
            StartResponse::new(Output::new(
                ex.fd,
                keep_alive,
                head_request,
                http11,
                write_timeout,
            )),
        )
        .map_err(|_| internal())?;
        if streaming {
            sr.borrow_mut().out.input = Some(input.clone().unbind());
        }
        let env = match environ::build(py, app, &ex, input.clone().into_any()) {
            Ok(Ok(env)) => env,
            Ok(Err(e)) => {
                logging::error(&e.reason);
                return Err(simple(e.status));
            }
            Err(e) => {
                logging::error(&format!(
                    "Error building environ: {}",
                    app.traceback(py, &e)
                ));
                return Err(internal());
            }
        };
        // Hooks (pre_request / post_request) only when the config has them.
        let hook_req = if hooks::per_request() {
            hooks::pre_request(py, &env).map(|r| (r, env.clone()))
        } else {
            None
        };
        let result = match app.app.bind(py).call1((env, sr.clone())) {
            Ok(r) => {
                let run = run_result(py, &r, &sr, &mut file);
                let closed = call_close(&r);
                run.and(closed)
            }
            Err(e) => Err(e),
        };
        let result = result.and_then(|()| sr.borrow_mut().out.finish(py));
        if let Some((req, env)) = hook_req {
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
                hooks::call(py, "post_request", (req, env, status, headers, sent));
            }
        }
        if let Err(e) = result {
            let mut me = sr.borrow_mut();
            let client_error = input.borrow().client_error();
            if client_error == Some(413) {
                logging::info(&format!(
                    "Request body of {} is larger than --limit-request-body",
                    String::from_utf8_lossy(ex.head.target())
                ));
            } else if client_error.is_some() || input.borrow().client_gone() {
                logging::debug(&format!(
                    "Bad or incomplete request body for {}: {e}",
                    String::from_utf8_lossy(ex.head.target())
                ));
            } else if me.out.broken {
                logging::debug(&format!(
                    "Client disconnected during {}",
                    String::from_utf8_lossy(ex.head.target())
                ));
            } else {
                logging::error(&format!(
                    "Error handling request {}\n{}",
                    String::from_utf8_lossy(ex.head.target()),
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
                return Err(d);
            } else {
                drop(me);
                sr.borrow_mut().retire();
                let buf = input_stream_buf(&input, &mut ex);
                return Err(internal_with(buf));
            }
        }
        Ok((input, sr))
    })();

    let (input, sr) = match outcome {
        Ok(v) => v,
        Err(mut done) => {
            if head_request {
                // A response to HEAD never has content (RFC 9110 §9.3.2).
                crate::http::strip_body(&mut done.pending);
            }
            return done;
        }
    };
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
        None => std::mem::take(&mut ex.buf),
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
    }
}

fn input_stream_buf(input: &Bound<'_, Input>, ex: &mut Exchange) -> BytesMut {
    match input.borrow_mut().take_stream() {
        Some(mut s) => std::mem::take(&mut s.buf),
        None => std::mem::take(&mut ex.buf),
    }
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

fn run_result(
    py: Python<'_>,
    result: &Bound<'_, PyAny>,
    sr: &Bound<'_, StartResponse>,
    file: &mut Option<FileSend>,
) -> PyResult<()> {
    // Fast path: a list of bytes, the common case. The total length is known,
    // so the head carries Content-Length and goes out with the body in one writev.
    if let Ok(list) = result.cast::<PyList>() {
        let mut total = 0u64;
        for item in list.iter() {
            total += body_item(&item)?.as_bytes().len() as u64;
        }
        let mut me = sr.borrow_mut();
        me.ensure_headers(py, Some(total))?;
        for item in list.iter() {
            me.out.body(py, body_item(&item)?.as_bytes())?;
        }
        return Ok(());
    }
    if let Ok(fw) = result.cast::<FileWrapper>() {
        if send_file(py, fw, sr, file)? {
            return Ok(());
        }
    }
    let mut it = result.try_iter()?;
    // start_response may first be called while the first item is produced.
    match it.next() {
        None => {
            sr.borrow_mut().ensure_headers(py, Some(0))?;
        }
        Some(first) => {
            let first = first?;
            // Check the item before the head goes out, so a wrong type is still a clean 500.
            let first = body_item(&first)?;
            let mut me = sr.borrow_mut();
            me.ensure_headers(py, None)?;
            me.out.body(py, first.as_bytes())?;
            drop(me);
            for item in it {
                let item = item?;
                sr.borrow_mut().out.body(py, body_item(&item)?.as_bytes())?;
            }
        }
    }
    Ok(())
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
