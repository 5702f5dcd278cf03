//! HTTP/1.1 wire codec for ferricorn: request-head parsing and validation,
//! request-body framing (including the incremental chunked decoder), and
//! the small response helpers (reason phrases, canned error responses, the
//! cached `Date` header).
//!
//! This module is pure byte work. It must never touch Python, never perform
//! I/O, never block and never allocate per byte: the worker feeds it buffers
//! and acts on the answers. Everything here is strict by default (RFC 9110 /
//! RFC 9112 and gunicorn 26.x behaviour) because ferricorn usually sits behind
//! a proxy, and any leniency that the proxy does not share is a request
//! smuggling vector.

pub mod body;
pub mod proxy_protocol;
pub mod request;
pub mod response;

pub use body::{ChunkedDecoder, Decoded};
pub use request::{
    parse_head, parse_head_from, BodyFraming, Header, Limits, RequestHead, Span, Version,
};
pub use response::{error_response, reason_phrase, strip_body, HttpDate};

/// A request the server must refuse; the connection is closed after the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpError {
    /// Status code to answer with (400, 414, 417, 431, 501, 505, ...).
    pub status: u16,
    /// Short text for the error log, e.g. "duplicate Host header".
    pub reason: &'static str,
}

impl HttpError {
    /// Builds an error; `const` so the common errors cost nothing to create.
    #[inline]
    pub const fn new(status: u16, reason: &'static str) -> Self {
        HttpError { status, reason }
    }

    /// 400 Bad Request with the given log text.
    #[inline]
    pub const fn bad_request(reason: &'static str) -> Self {
        HttpError::new(400, reason)
    }
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status,
            reason_phrase(self.status),
            self.reason
        )
    }
}

impl std::error::Error for HttpError {}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use bytes::{Buf, BytesMut};

    /// Head + chunked body + pipelined request, the way a worker drives it.
    #[test]
    fn head_then_chunked_body_then_next_request() {
        let wire = b"POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
4\r\nWiki\r\n5;x=y\r\npedia\r\n0\r\nX-Trailer: t\r\n\r\nGET /next HTTP/1.1\r\nHost: x\r\n\r\n";
        let limits = Limits::default();
        let mut buf = BytesMut::new();
        let mut body = Vec::new();
        let mut fed = 0;
        let mut head = None;
        let mut dec = ChunkedDecoder::new(4096, 8190);
        // Feed one byte at a time through both stages.
        while fed < wire.len() && !dec.is_done() {
            buf.extend_from_slice(&wire[fed..fed + 1]);
            fed += 1;
            if head.is_none() {
                head = parse_head_from(&mut buf, &limits).unwrap();
                continue;
            }
            loop {
                let r = dec.decode(&buf).unwrap();
                if let Some(rg) = r.data.clone() {
                    body.extend_from_slice(&buf[rg]);
                }
                buf.advance(r.consumed);
                if r.consumed == 0 || r.done || buf.is_empty() {
                    break;
                }
            }
        }
        let head = head.unwrap();
        assert_eq!(head.framing, BodyFraming::Chunked);
        assert_eq!(body, b"Wikipedia");
        assert!(dec.is_done());
        assert!(buf.is_empty());
        buf.extend_from_slice(&wire[fed..]);
        let next = parse_head_from(&mut buf, &limits).unwrap().unwrap();
        assert_eq!(next.target(), b"/next");
    }

    #[test]
    fn error_display() {
        let e = HttpError::new(431, "too many header fields");
        assert_eq!(
            e.to_string(),
            "431 Request Header Fields Too Large: too many header fields"
        );
        assert_eq!(HttpError::bad_request("x").status, 400);
    }
}
