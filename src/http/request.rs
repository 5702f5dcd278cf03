//! Request-head parsing and validation: request line, header fields, and
//! the framing / persistence decisions derived from them.
//!
//! Owns: turning the bytes of a request head into a [`RequestHead`] of
//! spans (no per-header allocation: one `Vec<Header>` of offsets into one
//! `Bytes`), and refusing every head that RFC 9110/9112 or gunicorn's strict
//! parser would refuse, with the status to answer.
//!
//! Must never: do I/O, touch Python, panic on any input, allocate per byte or
//! per header, or buffer without bound (limits are enforced on partial input
//! too, so the caller can stop reading as soon as a head is hopeless).
//!
//! Hot path: a complete head in one buffer goes through our own request-line
//! check and httparse's SIMD field parser, then a few O(fields) checks on the
//! spans it returns. The slow paths (partial input, obs-fold compatibility)
//! scan lines themselves.

use bytes::{Buf, Bytes, BytesMut};

use super::HttpError;

/// A byte range into [`RequestHead::raw`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Span {
    pub start: u32,
    pub end: u32,
}

impl Span {
    #[inline]
    fn new(start: usize, end: usize) -> Span {
        // Heads are bounded by HARD_MAX_HEAD (far below u32::MAX) before any
        // span is built, so these casts cannot truncate.
        Span {
            start: start as u32,
            end: end as u32,
        }
    }

    /// Length of the range in bytes.
    #[inline]
    pub fn len(&self) -> usize {
        self.end.saturating_sub(self.start) as usize
    }

    /// True for an empty range.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.end <= self.start
    }
}

/// HTTP versions this server speaks. Anything else is refused while parsing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    Http10,
    Http11,
}

impl Version {
    /// The protocol token as it appears on the wire (and in SERVER_PROTOCOL).
    pub fn as_bytes(self) -> &'static [u8] {
        match self {
            Version::Http10 => b"HTTP/1.0",
            Version::Http11 => b"HTTP/1.1",
        }
    }
}

/// How the request body is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyFraming {
    /// No Content-Length and no Transfer-Encoding: zero-length body.
    None,
    /// Content-Length: exactly this many bytes follow the head.
    Length(u64),
    /// Transfer-Encoding ending in chunked: feed the bytes to a `ChunkedDecoder`.
    Chunked,
}

/// One header field: both spans index [`RequestHead::raw`]. The value has
/// leading and trailing SP/HTAB removed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub name: Span,
    pub value: Span,
}

/// Parser limits and compatibility switches (gunicorn's names and defaults).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// gunicorn `limit_request_line` (default 4094); 0 = unlimited, which
    /// still means [`HARD_MAX_REQUEST_LINE`].
    pub max_request_line: usize,
    /// gunicorn `limit_request_fields` (default 100); 0 or more than 32768
    /// means 32768, as in gunicorn.
    pub max_headers: usize,
    /// gunicorn `limit_request_field_size` (default 8190); 0 means the
    /// default 8190, which is what gunicorn actually does (its corpus case
    /// `limit_header_default_01`). Values above [`HARD_MAX_FIELD_SIZE`] are
    /// capped.
    pub max_header_size: usize,
    /// gunicorn `permit_obsolete_folding` (default false).
    pub permit_obs_fold: bool,
    /// gunicorn `permit_unconventional_http_method` (default false).
    pub permit_unconventional_http_method: bool,
    /// gunicorn `casefold_http_method` (default false).
    pub casefold_http_method: bool,
    /// gunicorn `tolerate_dangerous_framing` (default false): with it, a
    /// request carrying both CL and TE is accepted, TE wins, and the
    /// connection is closed after the response.
    pub tolerate_dangerous_framing: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_request_line: 4094,
            max_headers: 100,
            max_header_size: DEFAULT_FIELD_SIZE,
            permit_obs_fold: false,
            permit_unconventional_http_method: false,
            casefold_http_method: false,
            tolerate_dangerous_framing: false,
        }
    }
}

/// Request line bound used when `max_request_line` is 0.
pub const HARD_MAX_REQUEST_LINE: usize = 64 * 1024;
/// Upper bound on one field line whatever the configuration says.
pub const HARD_MAX_FIELD_SIZE: usize = 64 * 1024;
/// gunicorn's MAX_HEADERS: the field count used for 0 and the upper cap.
pub const MAX_HEADERS_CAP: usize = 32768;
/// gunicorn's default field size.
pub const DEFAULT_FIELD_SIZE: usize = 8190;
/// Upper bound on a whole head. With gunicorn's defaults the derived bound
/// (line + 100 fields of 8190) is about 804 KiB, below this cap.
pub const HARD_MAX_HEAD: usize = 1024 * 1024;
/// RFC 9112 §2.2: a server SHOULD ignore at least one empty line before the
/// request line. Clients that append a stray CRLF after a body send one; we
/// allow a few and refuse an endless stream of them.
pub const MAX_LEADING_EMPTY_LINES: usize = 8;

/// Limits after applying defaults and caps; computed per call (a few ops).
#[derive(Clone, Copy, Debug)]
struct Eff {
    line: usize,
    fields: usize,
    field: usize,
    head: usize,
}

impl Limits {
    fn effective(&self) -> Eff {
        let line = match self.max_request_line {
            0 => HARD_MAX_REQUEST_LINE,
            n => n.min(HARD_MAX_REQUEST_LINE),
        };
        let fields = match self.max_headers {
            0 => MAX_HEADERS_CAP,
            n => n.min(MAX_HEADERS_CAP),
        };
        let field = match self.max_header_size {
            0 => DEFAULT_FIELD_SIZE,
            n => n.min(HARD_MAX_FIELD_SIZE),
        };
        // Leading empty lines + request line + CRLF + fields + final CRLF.
        let head = (MAX_LEADING_EMPTY_LINES * 2)
            .saturating_add(line + 2)
            .saturating_add(fields.saturating_mul(field + 2))
            .saturating_add(2)
            .min(HARD_MAX_HEAD);
        Eff {
            line,
            fields,
            field,
            head,
        }
    }

    /// The most bytes a head may occupy (including up to
    /// [`MAX_LEADING_EMPTY_LINES`] empty lines); more gives 431. A caller's
    /// read buffer never needs to hold more than this before a verdict.
    pub fn max_head_size(&self) -> usize {
        self.effective().head
    }
}

/// A parsed, validated request head.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestHead {
    /// The whole head, request line through the blank line (leading empty
    /// lines excluded). With `permit_obs_fold`, folded fields are rewritten
    /// to one line each (fold replaced by one SP), so `raw` is then shorter
    /// than the bytes consumed. With `casefold_http_method` the method is
    /// uppercased in place.
    pub raw: Bytes,
    pub method: Span,
    pub target: Span,
    pub version: Version,
    /// Every field in order, including names containing '_' (the WSGI layer
    /// drops those).
    pub headers: Vec<Header>,
    pub framing: BodyFraming,
    /// Whether the connection may be reused after this exchange. Never after
    /// CONNECT: what follows its head is tunnel data (RFC 9110 §9.3.6), and
    /// a 2xx answer tells the client the connection has become a tunnel.
    pub keep_alive: bool,
    /// `Expect: 100-continue` on HTTP/1.1.
    pub expect_continue: bool,
}

impl RequestHead {
    /// The bytes a span points at (empty for an out-of-range span).
    #[inline]
    pub fn bytes(&self, s: Span) -> &[u8] {
        self.raw
            .get(s.start as usize..s.end as usize)
            .unwrap_or(&[])
    }

    #[inline]
    pub fn method(&self) -> &[u8] {
        self.bytes(self.method)
    }

    #[inline]
    pub fn target(&self) -> &[u8] {
        self.bytes(self.target)
    }

    /// Value of the first field with this name (compared case-insensitively).
    pub fn header(&self, name_lowercase: &str) -> Option<&[u8]> {
        let want = name_lowercase.as_bytes();
        self.headers
            .iter()
            .find(|h| self.bytes(h.name).eq_ignore_ascii_case(want))
            .map(|h| self.bytes(h.value))
    }

    /// Iterator over (name, value) byte pairs in wire order.
    pub fn header_pairs(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        self.headers
            .iter()
            .map(move |h| (self.bytes(h.name), self.bytes(h.value)))
    }

    /// (path, query) of the target, fragment dropped. origin-form "/p?q" →
    /// ("/p", "q"); absolute-form "http://h/p?q" → ("/p", "q") and "http://h"
    /// → ("/", ""); "*" → ("*", ""); authority-form (CONNECT) → (target, "").
    pub fn path_and_query(&self) -> (&[u8], &[u8]) {
        let t = self.target();
        if t == b"*" {
            return (t, b"");
        }
        let t = match t.iter().position(|&b| b == b'#') {
            Some(i) => t.get(..i).unwrap_or(t),
            None => t,
        };
        let rest: &[u8] = if t.first() == Some(&b'/') {
            t
        } else if let Some(after) = absolute_after_scheme(t) {
            // Skip the authority: it ends at the first '/' or '?'.
            match after.iter().position(|&b| b == b'/' || b == b'?') {
                Some(i) => after.get(i..).unwrap_or(b""),
                None => b"",
            }
        } else {
            return (t, b"");
        };
        let (path, query) = match rest.iter().position(|&b| b == b'?') {
            Some(i) => (
                rest.get(..i).unwrap_or(b""),
                rest.get(i + 1..).unwrap_or(b""),
            ),
            None => (rest, &b""[..]),
        };
        if path.is_empty() {
            // An absolute-form target with an empty path means "/" (RFC 9112 §3.2.1).
            (b"/", query)
        } else {
            (path, query)
        }
    }

    /// The authority of an absolute-form or authority-form target (RFC 9112
    /// §3.2.2 says it overrides Host), or None for origin-form and "*".
    pub fn target_authority(&self) -> Option<&[u8]> {
        let t = self.target();
        if t.first() == Some(&b'/') || t == b"*" {
            return None;
        }
        match absolute_after_scheme(t) {
            Some(after) => {
                let end = after
                    .iter()
                    .position(|&b| b == b'/' || b == b'?' || b == b'#')
                    .unwrap_or(after.len());
                after.get(..end)
            }
            None => Some(t),
        }
    }
}

/// Parse a request head from the start of `buf`, copying the head into
/// `RequestHead::raw` (one allocation).
///
/// * `Ok(None)`: incomplete but valid so far and within limits; read more.
/// * `Ok(Some((head, consumed)))`: the first `consumed` bytes were the head
///   (plus any skipped empty lines); the body, if any, follows.
/// * `Err(e)`: answer `e.status` and close the connection.
pub fn parse_head(buf: &[u8], limits: &Limits) -> Result<Option<(RequestHead, usize)>, HttpError> {
    let mut p = match parse_inner(buf, limits)? {
        Some(p) => p,
        None => return Ok(None),
    };
    let raw = match p.normalized.take() {
        Some(mut v) => {
            if p.casefold {
                uppercase_span(&mut v, p.method);
            }
            Bytes::from(v)
        }
        None => {
            let slice = buf.get(p.skip..p.end).unwrap_or(&[]);
            if p.casefold {
                let mut m = BytesMut::from(slice);
                uppercase_span(&mut m, p.method);
                m.freeze()
            } else {
                Bytes::copy_from_slice(slice)
            }
        }
    };
    let end = p.end;
    Ok(Some((p.into_head(raw), end)))
}

/// Like [`parse_head`] but splits the head off `buf` without copying: on
/// success `buf` starts with the body / next pipelined request. On
/// `Ok(None)` and on errors `buf` is left untouched.
pub fn parse_head_from(
    buf: &mut BytesMut,
    limits: &Limits,
) -> Result<Option<RequestHead>, HttpError> {
    let mut p = match parse_inner(&buf[..], limits)? {
        Some(p) => p,
        None => return Ok(None),
    };
    buf.advance(p.skip);
    let mut head = buf.split_to(p.end - p.skip);
    let raw = match p.normalized.take() {
        Some(mut v) => {
            if p.casefold {
                uppercase_span(&mut v, p.method);
            }
            // The folded copy replaces the wire bytes; drop them.
            drop(head);
            Bytes::from(v)
        }
        None => {
            if p.casefold {
                uppercase_span(&mut head, p.method);
            }
            head.freeze()
        }
    };
    Ok(Some(p.into_head(raw)))
}

fn uppercase_span(b: &mut [u8], s: Span) {
    if let Some(m) = b.get_mut(s.start as usize..s.end as usize) {
        m.make_ascii_uppercase();
    }
}

/// Everything parse_inner learned; spans are relative to `skip` (or to the
/// start of `normalized` when the head was rewritten).
struct Parsed {
    skip: usize,
    end: usize,
    normalized: Option<Vec<u8>>,
    casefold: bool,
    method: Span,
    target: Span,
    version: Version,
    headers: Vec<Header>,
    framing: BodyFraming,
    keep_alive: bool,
    expect_continue: bool,
}

impl Parsed {
    fn into_head(self, raw: Bytes) -> RequestHead {
        RequestHead {
            raw,
            method: self.method,
            target: self.target,
            version: self.version,
            headers: self.headers,
            framing: self.framing,
            keep_alive: self.keep_alive,
            expect_continue: self.expect_continue,
        }
    }
}

// ---------------------------------------------------------------------------
// Character classes
// ---------------------------------------------------------------------------

const fn build_table(kind: u8) -> [bool; 256] {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        let tchar = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'!' | b'#'
                    | b'$'
                    | b'%'
                    | b'&'
                    | b'\''
                    | b'*'
                    | b'+'
                    | b'-'
                    | b'.'
                    | b'^'
                    | b'_'
                    | b'`'
                    | b'|'
                    | b'~'
            );
        t[i] = match kind {
            0 => tchar,
            // request-target: visible ASCII and obs-text (gunicorn accepts
            // raw non-ASCII paths, corpus case 027); never CTL, SP or DEL.
            1 => (b >= 0x21 && b <= 0x7e) || b >= 0x80,
            // authority characters: unreserved / sub-delims / pct / ':' '@' '[' ']'
            _ => {
                b.is_ascii_alphanumeric()
                    || matches!(
                        b,
                        b'-' | b'.'
                            | b'_'
                            | b'~'
                            | b'!'
                            | b'$'
                            | b'&'
                            | b'\''
                            | b'('
                            | b')'
                            | b'*'
                            | b'+'
                            | b','
                            | b';'
                            | b'='
                            | b'%'
                            | b':'
                            | b'@'
                            | b'['
                            | b']'
                    )
            }
        };
        i += 1;
    }
    t
}

static TCHAR: [bool; 256] = build_table(0);
static TARGET_CHAR: [bool; 256] = build_table(1);
static AUTHORITY_CHAR: [bool; 256] = build_table(2);

/// RFC 9110 tchar.
#[inline]
pub(crate) fn is_tchar(b: u8) -> bool {
    TCHAR[b as usize]
}

/// RFC 3986 reg-name characters: unreserved, sub-delims and '%' (the
/// authority characters without the ':' '@' '[' ']' delimiters).
#[inline]
fn is_reg_name_char(b: u8) -> bool {
    AUTHORITY_CHAR[b as usize] && !matches!(b, b':' | b'@' | b'[' | b']')
}

#[inline]
fn find(hay: &[u8], needle: u8) -> Option<usize> {
    hay.iter().position(|&b| b == needle)
}

#[inline]
pub(crate) fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

// ---------------------------------------------------------------------------
// The parser
// ---------------------------------------------------------------------------

const E_BARE_LF: HttpError = HttpError::bad_request("line not terminated by CRLF (bare LF)");
const E_BARE_CR: HttpError = HttpError::bad_request("bare CR in request head");
const E_LINE: HttpError = HttpError::bad_request("malformed request line");
const E_METHOD: HttpError = HttpError::bad_request("invalid request method");
const E_TARGET: HttpError = HttpError::bad_request("invalid request target");
const E_VERSION: HttpError = HttpError::bad_request("invalid HTTP version");
const E_LINE_TOO_LONG: HttpError = HttpError::new(414, "request line too long");
const E_TOO_MANY: HttpError = HttpError::new(431, "too many header fields");
const E_FIELD_TOO_LONG: HttpError = HttpError::new(431, "header field line too long");
const E_HEAD_TOO_LONG: HttpError = HttpError::new(431, "request head too large");
const E_OBS_FOLD: HttpError = HttpError::bad_request("obsolete line folding in header");

fn parse_inner(buf: &[u8], limits: &Limits) -> Result<Option<Parsed>, HttpError> {
    let eff = limits.effective();

    let skip = match skip_empty_lines(buf)? {
        Some(s) => s,
        None => return Ok(None),
    };

    // Request line: find its LF without looking further than the limit, so
    // an endless line is refused as soon as it is provably too long.
    let window = buf.get(skip..).unwrap_or(&[]);
    let lf_rel = match find(window.get(..eff.line + 2).unwrap_or(window), b'\n') {
        Some(k) => k,
        None => {
            if window.len() >= eff.line + 2 {
                return Err(E_LINE_TOO_LONG);
            }
            check_partial_request_line(window)?;
            return Ok(None);
        }
    };
    if lf_rel == 0 || window.get(lf_rel - 1) != Some(&b'\r') {
        return Err(E_BARE_LF);
    }
    let line = window.get(..lf_rel - 1).unwrap_or(&[]);
    if line.len() > eff.line {
        return Err(E_LINE_TOO_LONG);
    }
    let rl = parse_request_line(line, limits)?;
    let h0 = skip + lf_rel + 1;

    // obs-fold compatibility: scan the lines ourselves, and if any field is
    // folded, rewrite the head into unfolded form and parse that instead.
    if limits.permit_obs_fold {
        let end = match scan_fields(buf, h0, &eff, true)? {
            Some(e) => e,
            None => return Ok(None),
        };
        if has_fold(buf.get(h0..end).unwrap_or(&[])) {
            let norm = unfold(buf, skip, h0, end)?;
            let h0n = h0 - skip;
            let (headers, nend) = match fast_fields(&norm, h0n, 0, &eff)? {
                Some(x) => x,
                // The rewritten head is complete by construction.
                None => return Err(HttpError::bad_request("malformed folded header")),
            };
            if nend != norm.len() {
                return Err(HttpError::bad_request("malformed folded header"));
            }
            let mut headers = headers;
            let sem = analyze(&norm, rl.version, &headers, limits)?;
            if sem.drop_content_length {
                drop_content_length(&norm, &mut headers);
            }
            return Ok(Some(Parsed {
                skip,
                end,
                normalized: Some(norm),
                casefold: rl.casefold,
                method: rl.method,
                target: rl.target,
                version: rl.version,
                headers,
                framing: sem.framing,
                keep_alive: sem.keep_alive && !rl.connect,
                expect_continue: sem.expect_continue,
            }));
        }
    }

    let (headers, end) = match fast_fields(buf, h0, skip, &eff)? {
        Some(x) => x,
        None => {
            // Incomplete: make sure what we hold is still within limits, so
            // the caller never buffers a hopeless head.
            scan_fields(buf, h0, &eff, limits.permit_obs_fold)?;
            return Ok(None);
        }
    };
    let mut headers = headers;
    let raw = buf.get(skip..end).unwrap_or(&[]);
    let sem = analyze(raw, rl.version, &headers, limits)?;
    if sem.drop_content_length {
        drop_content_length(raw, &mut headers);
    }
    Ok(Some(Parsed {
        skip,
        end,
        normalized: None,
        casefold: rl.casefold,
        method: rl.method,
        target: rl.target,
        version: rl.version,
        headers,
        framing: sem.framing,
        keep_alive: sem.keep_alive && !rl.connect,
        expect_continue: sem.expect_continue,
    }))
}

/// Skips up to MAX_LEADING_EMPTY_LINES CRLFs. Ok(None) when the buffer ends
/// inside them (more may still be coming).
fn skip_empty_lines(buf: &[u8]) -> Result<Option<usize>, HttpError> {
    let mut i = 0;
    let mut n = 0;
    loop {
        match buf.get(i..) {
            Some([b'\r', b'\n', ..]) => {
                n += 1;
                if n > MAX_LEADING_EMPTY_LINES {
                    return Err(HttpError::bad_request(
                        "too many empty lines before request line",
                    ));
                }
                i += 2;
            }
            Some([] | [b'\r']) | None => return Ok(None),
            Some([b'\r', ..]) => return Err(E_BARE_CR),
            Some([b'\n', ..]) => return Err(E_BARE_LF),
            Some(_) => return Ok(Some(i)),
        }
    }
}

/// Early rejection of a request line that has not ended yet: anything that
/// cannot appear in a valid line (CTLs, a non-token method byte) is refused
/// now rather than after the client has sent up to the limit. Refuses e.g.
/// a TLS ClientHello sent to a plain-text port on its first byte.
fn check_partial_request_line(line: &[u8]) -> Result<(), HttpError> {
    let body = match line {
        [rest @ .., b'\r'] => rest,
        _ => line,
    };
    let mut in_method = true;
    for &b in body {
        if in_method {
            if b == b' ' {
                in_method = false;
                continue;
            }
            if !is_tchar(b) {
                return Err(E_METHOD);
            }
        } else if b == b'\r' {
            return Err(E_BARE_CR);
        } else if b < 0x20 || b == 0x7f {
            return Err(E_LINE);
        }
    }
    Ok(())
}

struct RequestLine {
    method: Span,
    target: Span,
    version: Version,
    casefold: bool,
    /// The method is CONNECT: the connection is never reused afterwards.
    connect: bool,
}

/// `line` is the request line without its CRLF; spans are relative to its start.
fn parse_request_line(line: &[u8], limits: &Limits) -> Result<RequestLine, HttpError> {
    // Exactly `method SP target SP version`: split on single spaces only.
    let sp1 = find(line, b' ').ok_or(E_LINE)?;
    let method = line.get(..sp1).unwrap_or(&[]);
    let rest = line.get(sp1 + 1..).unwrap_or(&[]);
    let sp2 = find(rest, b' ').ok_or(E_LINE)?;
    let target = rest.get(..sp2).unwrap_or(&[]);
    let version = rest.get(sp2 + 1..).unwrap_or(&[]);
    if target.is_empty() {
        return Err(E_LINE);
    }

    if method.is_empty() || !method.iter().all(|&b| is_tchar(b)) {
        return Err(E_METHOD);
    }
    if !limits.permit_unconventional_http_method {
        // gunicorn: 3-20 characters, no lowercase, no '#'.
        if !(3..=20).contains(&method.len())
            || method.iter().any(|&b| b.is_ascii_lowercase() || b == b'#')
        {
            return Err(E_METHOD);
        }
    }
    let casefold = limits.casefold_http_method && method.iter().any(|b| b.is_ascii_lowercase());
    let is_method = |m: &[u8]| {
        if limits.casefold_http_method {
            method.eq_ignore_ascii_case(m)
        } else {
            method == m
        }
    };

    let version = parse_version(version)?;

    if !target.iter().all(|&b| TARGET_CHAR[b as usize]) {
        return Err(E_TARGET);
    }
    let connect = is_method(b"CONNECT");
    if connect {
        if !is_authority_form(target) {
            return Err(HttpError::bad_request(
                "CONNECT requires an authority-form target",
            ));
        }
    } else {
        match target {
            [b'/', ..] => {}
            b"*" => {
                if !is_method(b"OPTIONS") {
                    return Err(HttpError::bad_request(
                        "'*' target is only valid with OPTIONS",
                    ));
                }
            }
            _ => {
                if !is_absolute_form(target) {
                    return Err(E_TARGET);
                }
            }
        }
    }

    let t0 = sp1 + 1;
    Ok(RequestLine {
        method: Span::new(0, sp1),
        target: Span::new(t0, t0 + target.len()),
        version,
        casefold,
        connect,
    })
}

/// `uri-host [ ":" port ]` (RFC 9110 §7.2, RFC 3986 §3.2.2), or empty.
fn valid_host(v: &[u8]) -> bool {
    let port_ok = |p: &[u8]| p.len() <= 5 && p.iter().all(u8::is_ascii_digit);
    if let Some(rest) = v.strip_prefix(b"[") {
        // IP-literal: IPv6 (hex, ':' and an embedded IPv4's '.') or IPvFuture.
        let Some(close) = rest.iter().position(|&c| c == b']') else {
            return false;
        };
        let (lit, after) = (&rest[..close], &rest[close + 1..]);
        let lit_ok = !lit.is_empty()
            && lit
                .iter()
                .all(|&c| c.is_ascii_hexdigit() || matches!(c, b':' | b'.' | b'v' | b'V'));
        return lit_ok
            && match after {
                [] => true,
                [b':', port @ ..] => port_ok(port),
                _ => false,
            };
    }
    let (host, port) = match v.iter().rposition(|&c| c == b':') {
        Some(i) => (&v[..i], Some(&v[i + 1..])),
        None => (v, None),
    };
    let mut i = 0;
    while i < host.len() {
        let c = host[i];
        if c == b'%' {
            // pct-encoded
            if !(host.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && host.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
            {
                return false;
            }
            i += 3;
            continue;
        }
        if !is_reg_name_char(c) {
            return false;
        }
        i += 1;
    }
    port.map_or(true, port_ok)
}

fn parse_version(v: &[u8]) -> Result<Version, HttpError> {
    match *v {
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            match (major, minor) {
                (b'1', b'0') => Ok(Version::Http10),
                (b'1', b'1') => Ok(Version::Http11),
                // RFC 9112 §2.3: a higher minor version of a major version we
                // implement is processed as the highest one we know (1.1).
                (b'1', b'2'..=b'9') => Ok(Version::Http11),
                (b'2'..=b'9', _) => Err(HttpError::new(505, "HTTP version not supported")),
                // 0.x: HTTP/0.9 has no headers and is not served.
                _ => Err(E_VERSION),
            }
        }
        _ => Err(E_VERSION),
    }
}

/// `scheme "://"` prefix of an absolute-form target; returns what follows.
fn absolute_after_scheme(t: &[u8]) -> Option<&[u8]> {
    let colon = find(t, b':')?;
    let scheme = t.get(..colon)?;
    match scheme.first() {
        Some(c) if c.is_ascii_alphabetic() => {}
        _ => return None,
    }
    if !scheme
        .iter()
        .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
    {
        return None;
    }
    t.get(colon + 1..)?.strip_prefix(b"//")
}

/// absolute-form: scheme "://" authority [path-abempty] ["?" query], with
/// no userinfo: RFC 9110 §4.2.4 says to treat userinfo in an http(s) URI as
/// an error (it is used to disguise the authority, and a proxy that routes
/// on it may disagree with an application that reads it).
fn is_absolute_form(t: &[u8]) -> bool {
    let after = match absolute_after_scheme(t) {
        Some(a) => a,
        None => return false,
    };
    let end = after
        .iter()
        .position(|&b| b == b'/' || b == b'?' || b == b'#')
        .unwrap_or(after.len());
    let authority = after.get(..end).unwrap_or(&[]);
    !authority.is_empty()
        && !authority.contains(&b'@')
        && authority.iter().all(|&b| AUTHORITY_CHAR[b as usize])
}

/// authority-form (CONNECT only): host ":" port, no userinfo.
fn is_authority_form(t: &[u8]) -> bool {
    let colon = match t.iter().rposition(|&b| b == b':') {
        Some(c) => c,
        None => return false,
    };
    let host = t.get(..colon).unwrap_or(&[]);
    let port = t.get(colon + 1..).unwrap_or(&[]);
    if port.is_empty() || port.len() > 5 || !port.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let port_value = port
        .iter()
        .fold(0u32, |acc, &d| acc * 10 + u32::from(d - b'0'));
    if port_value > 65535 {
        return false;
    }
    match host {
        [b'[', inner @ .., b']'] => {
            !inner.is_empty()
                && inner
                    .iter()
                    .all(|&b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        }
        _ => !host.is_empty() && host.iter().all(|&b| is_reg_name_char(b)),
    }
}

/// Header slots tried first; requests with more fields retry with a Vec.
const STACK_HEADERS: usize = 32;

/// Parses the field block starting at `h0` with httparse. Returns the
/// fields (spans relative to `base`) and the end of the head, or None if
/// the head is not complete yet.
fn fast_fields(
    buf: &[u8],
    h0: usize,
    base: usize,
    eff: &Eff,
) -> Result<Option<(Vec<Header>, usize)>, HttpError> {
    let block = buf.get(h0..).unwrap_or(&[]);
    let mut stack = [httparse::EMPTY_HEADER; STACK_HEADERS];
    let first_slots = eff.fields.min(STACK_HEADERS);
    let res = httparse::parse_headers(block, stack.get_mut(..first_slots).unwrap_or(&mut []));
    match res {
        Ok(httparse::Status::Complete((n, hdrs))) => {
            finish_fields(buf, h0, base, n, hdrs, eff).map(Some)
        }
        Ok(httparse::Status::Partial) => Ok(None),
        Err(httparse::Error::TooManyHeaders) if eff.fields > STACK_HEADERS => {
            // Rare: more than STACK_HEADERS fields. Size the retry by the
            // number of lines actually present, not by the configured cap.
            let scan = block.get(..eff.head).unwrap_or(block);
            let lines = scan.iter().filter(|&&b| b == b'\n').count();
            let mut heap = vec![httparse::EMPTY_HEADER; eff.fields.min(lines)];
            match httparse::parse_headers(block, &mut heap) {
                Ok(httparse::Status::Complete((n, hdrs))) => {
                    finish_fields(buf, h0, base, n, hdrs, eff).map(Some)
                }
                Ok(httparse::Status::Partial) => Ok(None),
                Err(e) => Err(map_httparse_error(e, block)),
            }
        }
        Err(e) => Err(map_httparse_error(e, block)),
    }
}

fn map_httparse_error(e: httparse::Error, block: &[u8]) -> HttpError {
    match e {
        httparse::Error::TooManyHeaders => E_TOO_MANY,
        httparse::Error::HeaderName => {
            // A line starting with SP/HTAB is obs-fold; give it its own
            // reason so the log says what happened.
            if block.windows(2).any(|w| matches!(w, [b'\n', b' ' | b'\t']))
                || block.first().is_some_and(|&b| b == b' ' || b == b'\t')
            {
                E_OBS_FOLD
            } else {
                HttpError::bad_request("invalid header field name")
            }
        }
        httparse::Error::HeaderValue => {
            if block
                .windows(2)
                .any(|w| matches!(w, [b'\r', n] if *n != b'\n'))
            {
                E_BARE_CR
            } else {
                HttpError::bad_request("invalid character in header field value")
            }
        }
        httparse::Error::NewLine => E_BARE_CR,
        _ => HttpError::bad_request("malformed header section"),
    }
}

/// Turns httparse's slices into spans and checks what httparse lets
/// through: bare-LF line endings, per-line size and total head size.
fn finish_fields(
    buf: &[u8],
    h0: usize,
    base: usize,
    n: usize,
    hdrs: &[httparse::Header<'_>],
    eff: &Eff,
) -> Result<(Vec<Header>, usize), HttpError> {
    let end = h0 + n;
    if end > eff.head {
        return Err(E_HEAD_TOO_LONG);
    }
    if hdrs.len() > eff.fields {
        return Err(E_TOO_MANY);
    }
    // httparse accepts a bare LF as a line end; we do not (see
    // `check_crlf`). The blank line must be exactly CRLF.
    if buf.get(end.wrapping_sub(2)..end) != Some(b"\r\n") || n < 2 {
        return Err(E_BARE_LF);
    }
    let blank_start = end - 2;
    let origin = buf.as_ptr() as usize;
    let offset = |p: *const u8| -> Result<usize, HttpError> {
        let o = (p as usize).wrapping_sub(origin);
        if o <= end {
            Ok(o)
        } else {
            Err(HttpError::bad_request("malformed header section"))
        }
    };
    let mut out = Vec::with_capacity(hdrs.len());
    for (i, h) in hdrs.iter().enumerate() {
        let ns = offset(h.name.as_ptr())?;
        let vs = offset(h.value.as_ptr())?;
        let ne = ns + h.name.len();
        let ve = vs + h.value.len();
        // httparse (default config) starts every field line at its name and
        // never folds, so a line ends where the next one's name begins.
        let line_end = match hdrs.get(i + 1) {
            Some(next) => offset(next.name.as_ptr())?,
            None => blank_start,
        };
        check_crlf(buf, line_end)?;
        if line_end.saturating_sub(ns + 2) > eff.field {
            return Err(E_FIELD_TOO_LONG);
        }
        if ve > end || ne > end || ns < base || vs < base {
            return Err(HttpError::bad_request("malformed header section"));
        }
        out.push(Header {
            name: Span::new(ns - base, ne - base),
            value: Span::new(vs - base, ve - base),
        });
    }
    Ok((out, end))
}

/// Each line must end in CRLF. RFC 9112 §2.2 lets a recipient accept a bare
/// LF, but a proxy in front of us may split lines differently (treat the LF
/// as data, or the CR as a line end), which is the classic request
/// smuggling set-up; so bare LF is refused.
#[inline]
fn check_crlf(buf: &[u8], line_end: usize) -> Result<(), HttpError> {
    match buf.get(line_end.wrapping_sub(2)..line_end) {
        Some(b"\r\n") => Ok(()),
        _ => Err(E_BARE_LF),
    }
}

/// Line-by-line scan of the field block from `h0`: enforces line endings
/// and limits. Returns the end of the head if the blank line was found.
/// Used for partial input (limits before completion) and obs-fold mode.
fn scan_fields(
    buf: &[u8],
    h0: usize,
    eff: &Eff,
    allow_fold: bool,
) -> Result<Option<usize>, HttpError> {
    let mut pos = h0;
    let mut count = 0usize;
    let mut field_len = 0usize;
    loop {
        let rest = buf.get(pos..).unwrap_or(&[]);
        match find(rest, b'\n') {
            Some(k) => {
                let lf = pos + k;
                if k == 0 || buf.get(lf - 1) != Some(&b'\r') {
                    return Err(E_BARE_LF);
                }
                let content = k - 1;
                if content == 0 {
                    let end = lf + 1;
                    if end > eff.head {
                        return Err(E_HEAD_TOO_LONG);
                    }
                    return Ok(Some(end));
                }
                let line = rest.get(..content).unwrap_or(&[]);
                if find(line, b'\r').is_some() {
                    return Err(E_BARE_CR);
                }
                account_line(line, &mut count, &mut field_len, eff, allow_fold)?;
                pos = lf + 1;
            }
            None => {
                if buf.len() > eff.head {
                    return Err(E_HEAD_TOO_LONG);
                }
                let line = match rest {
                    [l @ .., b'\r'] => l,
                    l => l,
                };
                if find(line, b'\r').is_some() {
                    return Err(E_BARE_CR);
                }
                if !line.is_empty() {
                    account_line(line, &mut count, &mut field_len, eff, allow_fold)?;
                }
                return Ok(None);
            }
        }
    }
}

#[inline]
fn account_line(
    line: &[u8],
    count: &mut usize,
    field_len: &mut usize,
    eff: &Eff,
    allow_fold: bool,
) -> Result<(), HttpError> {
    let folded = matches!(line.first(), Some(b' ' | b'\t'));
    if folded {
        if !allow_fold {
            return Err(E_OBS_FOLD);
        }
        if *count == 0 {
            return Err(HttpError::bad_request(
                "folded line before the first header field",
            ));
        }
        // gunicorn counts a folded field's lines together against the size
        // limit (corpus invalid/013).
        *field_len = field_len.saturating_add(2 + line.len());
    } else {
        *count += 1;
        if *count > eff.fields {
            return Err(E_TOO_MANY);
        }
        *field_len = line.len();
    }
    if *field_len > eff.field {
        return Err(E_FIELD_TOO_LONG);
    }
    Ok(())
}

fn has_fold(block: &[u8]) -> bool {
    block.windows(2).any(|w| matches!(w, [b'\n', b' ' | b'\t']))
}

/// Rewrites buf[skip..end] with every obs-fold replaced by one SP (RFC 9112
/// §5.2: replace each obs-fold with one or more SP before interpreting).
/// Line endings were already checked by `scan_fields`.
fn unfold(buf: &[u8], skip: usize, h0: usize, end: usize) -> Result<Vec<u8>, HttpError> {
    let mut out = Vec::with_capacity(end - skip);
    out.extend_from_slice(buf.get(skip..h0).unwrap_or(&[]));
    let mut pos = h0;
    let mut open = false;
    while pos < end {
        let rest = buf.get(pos..end).unwrap_or(&[]);
        let k = find(rest, b'\n').ok_or(E_BARE_LF)?;
        let content = rest.get(..k.saturating_sub(1)).unwrap_or(&[]);
        if content.is_empty() {
            if open {
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(b"\r\n");
            break;
        }
        if matches!(content.first(), Some(b' ' | b'\t')) {
            if !open {
                return Err(HttpError::bad_request(
                    "folded line before the first header field",
                ));
            }
            while matches!(out.last(), Some(b' ' | b'\t')) {
                out.pop();
            }
            let t = trim_ows(content);
            if !t.is_empty() {
                out.push(b' ');
                out.extend_from_slice(t);
            }
        } else {
            if open {
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(content);
            open = true;
        }
        pos += k + 1;
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// Semantics: framing, persistence, expectations, singleton fields
// ---------------------------------------------------------------------------

struct Semantics {
    framing: BodyFraming,
    keep_alive: bool,
    expect_continue: bool,
    /// CL+TE tolerated: the Content-Length field must not reach the app.
    drop_content_length: bool,
}

#[derive(Default)]
struct TeState {
    present: bool,
    chunked: bool,
    /// A compression coding precedes chunked: we cannot decode it, so the
    /// app gets the compressed bytes and the connection is not reused.
    compressed: bool,
}

fn analyze(
    raw: &[u8],
    version: Version,
    headers: &[Header],
    limits: &Limits,
) -> Result<Semantics, HttpError> {
    let get = |s: Span| raw.get(s.start as usize..s.end as usize).unwrap_or(&[]);
    let mut hosts = 0u32;
    let mut content_types = 0u32;
    let mut content_length: Option<u64> = None;
    let mut te = TeState::default();
    let mut conn_close = false;
    let mut conn_keep_alive = false;
    let mut expect_continue = false;

    for h in headers {
        let name = get(h.name);
        // Dispatch on length first: most fields match none of these.
        match name.len() {
            4 if name.eq_ignore_ascii_case(b"host") => {
                hosts += 1;
                if hosts > 1 {
                    return Err(HttpError::bad_request("duplicate Host header"));
                }
                // RFC 9112 §3.2: an invalid Host value is a 400 as well.
                if !valid_host(get(h.value)) {
                    return Err(HttpError::bad_request("invalid Host header"));
                }
            }
            6 if name.eq_ignore_ascii_case(b"expect") => {
                if get(h.value).eq_ignore_ascii_case(b"100-continue") {
                    // RFC 9110 §10.1.1: ignore 100-continue from HTTP/1.0.
                    expect_continue = version == Version::Http11;
                } else {
                    return Err(HttpError::new(417, "unsupported Expect value"));
                }
            }
            10 if name.eq_ignore_ascii_case(b"connection") => {
                for tok in get(h.value).split(|&b| b == b',') {
                    let tok = trim_ows(tok);
                    if tok.eq_ignore_ascii_case(b"close") {
                        conn_close = true;
                    } else if tok.eq_ignore_ascii_case(b"keep-alive") {
                        conn_keep_alive = true;
                    }
                }
            }
            12 if name.eq_ignore_ascii_case(b"content-type") => {
                content_types += 1;
                if content_types > 1 {
                    return Err(HttpError::bad_request("duplicate Content-Type header"));
                }
            }
            14 if name.eq_ignore_ascii_case(b"content-length") => {
                // Strict: a second CL is refused even when equal, since
                // intermediaries disagree on which one wins.
                if content_length.is_some() {
                    return Err(HttpError::bad_request("duplicate Content-Length header"));
                }
                content_length = Some(parse_content_length(get(h.value))?);
            }
            17 if name.eq_ignore_ascii_case(b"transfer-encoding") => {
                te.present = true;
                parse_transfer_encoding(get(h.value), &mut te)?;
            }
            _ => {}
        }
    }

    if version == Version::Http11 && hosts == 0 {
        return Err(HttpError::bad_request("missing Host header"));
    }

    let mut drop_content_length = false;
    let mut keep_alive = match version {
        Version::Http11 => !conn_close,
        Version::Http10 => conn_keep_alive && !conn_close,
    };

    let framing = if te.present {
        if version == Version::Http10 {
            return Err(HttpError::bad_request(
                "Transfer-Encoding in an HTTP/1.0 request",
            ));
        }
        if !te.chunked {
            return Err(HttpError::bad_request(
                "chunked is not the final transfer coding",
            ));
        }
        if content_length.is_some() {
            if !limits.tolerate_dangerous_framing {
                return Err(HttpError::bad_request(
                    "both Content-Length and Transfer-Encoding",
                ));
            }
            // RFC 9112 §6.3: TE overrides CL, and the connection must close
            // afterwards because an upstream may have framed it differently.
            keep_alive = false;
            drop_content_length = true;
        }
        if te.compressed {
            // RFC 9112 §6.1: a coding the server does not decode gets 501
            // (checked after the framing rules, which answer 400). Passing
            // gzip bytes to the app as if they were the body, as Gunicorn
            // does, silently corrupts uploads.
            return Err(HttpError::new(501, "transfer coding not implemented"));
        }
        BodyFraming::Chunked
    } else {
        match content_length {
            Some(n) => BodyFraming::Length(n),
            None => BodyFraming::None,
        }
    };

    Ok(Semantics {
        framing,
        keep_alive,
        expect_continue,
        drop_content_length,
    })
}

/// With tolerate_dangerous_framing, TE wins over CL; remove the CL field so
/// the application never sees a length that does not describe the body.
fn drop_content_length(raw: &[u8], headers: &mut Vec<Header>) {
    headers.retain(|h| {
        !raw.get(h.name.start as usize..h.name.end as usize)
            .unwrap_or(&[])
            .eq_ignore_ascii_case(b"content-length")
    });
}

/// Content-Length = 1*DIGIT. No sign, no spaces, no list ("5, 5"), no hex.
/// Leading zeros are digits, so they are accepted.
fn parse_content_length(v: &[u8]) -> Result<u64, HttpError> {
    if v.is_empty() {
        return Err(HttpError::bad_request("empty Content-Length"));
    }
    let mut n: u64 = 0;
    for &b in v {
        if !b.is_ascii_digit() {
            return Err(HttpError::bad_request("invalid Content-Length"));
        }
        n = n
            .checked_mul(10)
            .and_then(|n| n.checked_add(u64::from(b - b'0')))
            .ok_or(HttpError::bad_request("Content-Length overflows"))?;
    }
    Ok(n)
}

/// Folds one Transfer-Encoding field value into `te`. Several TE lines form
/// one list (RFC 9110 §5.3), so the state carries across calls.
fn parse_transfer_encoding(v: &[u8], te: &mut TeState) -> Result<(), HttpError> {
    for elem in v.split(|&b| b == b',') {
        let elem = trim_ows(elem);
        if elem.is_empty() {
            // Also refuses an empty TE value (CVE-2024-6827 hardening).
            return Err(HttpError::bad_request("empty transfer coding"));
        }
        if te.chunked {
            // chunked must be applied exactly once and last (RFC 9112 §6.1).
            return Err(HttpError::bad_request("transfer coding after chunked"));
        }
        let (name, has_params) = match find(elem, b';') {
            Some(i) => (trim_ows(elem.get(..i).unwrap_or(&[])), true),
            None => (elem, false),
        };
        if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
            return Err(HttpError::bad_request("invalid transfer coding"));
        }
        if name.eq_ignore_ascii_case(b"chunked") {
            if has_params {
                return Err(HttpError::bad_request("chunked with parameters"));
            }
            te.chunked = true;
        } else if name.eq_ignore_ascii_case(b"identity") {
            // Obsolete no-op; gunicorn accepts it before chunked (valid/029).
        } else if name.eq_ignore_ascii_case(b"gzip")
            || name.eq_ignore_ascii_case(b"x-gzip")
            || name.eq_ignore_ascii_case(b"deflate")
            || name.eq_ignore_ascii_case(b"compress")
            || name.eq_ignore_ascii_case(b"x-compress")
        {
            te.compressed = true;
        } else {
            return Err(HttpError::new(501, "unsupported transfer coding"));
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn lim() -> Limits {
        Limits::default()
    }

    fn s(b: &[u8]) -> String {
        String::from_utf8_lossy(b).into_owned()
    }

    /// Parses a valid head with `limits`: whole, every strict prefix
    /// (must be Ok(None)), and through `parse_head_from` byte by byte.
    /// Returns the head and the bytes consumed.
    fn ok_with(input: &[u8], limits: &Limits) -> (RequestHead, usize) {
        let (head, consumed) = match parse_head(input, limits) {
            Ok(Some(x)) => x,
            other => panic!("{:?} => {:?}", s(input), other.map(|o| o.map(|(_, n)| n))),
        };
        assert!(consumed <= input.len());
        for i in 0..consumed {
            match parse_head(&input[..i], limits) {
                Ok(None) => {}
                other => panic!(
                    "prefix {i} of {:?} => {:?}",
                    s(input),
                    other.map(|o| o.map(|(_, n)| n))
                ),
            }
        }
        // Zero-copy variant, fed one byte at a time.
        let mut buf = BytesMut::new();
        let mut fed = 0;
        let head2 = loop {
            assert!(fed < input.len(), "parse_head_from never completed");
            buf.extend_from_slice(&input[fed..fed + 1]);
            fed += 1;
            if let Some(h) = parse_head_from(&mut buf, limits).unwrap() {
                break h;
            }
        };
        assert_eq!(fed, consumed);
        assert!(buf.is_empty());
        assert_eq!(head2.raw, head.raw);
        assert_eq!(head2.headers, head.headers);
        assert_eq!(
            (head2.method, head2.target, head2.version),
            (head.method, head.target, head.version)
        );
        assert_eq!(
            (head2.framing, head2.keep_alive, head2.expect_continue),
            (head.framing, head.keep_alive, head.expect_continue)
        );
        // Folding mode must agree on heads without folds.
        if !limits.permit_obs_fold && !has_fold(input) {
            let fold = Limits {
                permit_obs_fold: true,
                ..*limits
            };
            let (h3, c3) = parse_head(input, &fold).unwrap().unwrap();
            assert_eq!(c3, consumed);
            assert_eq!(h3.raw, head.raw);
            assert_eq!(h3.headers, head.headers);
        }
        for h in &head.headers {
            assert!(
                h.name.end as usize <= head.raw.len() && h.value.end as usize <= head.raw.len()
            );
        }
        (head, consumed)
    }

    fn ok(input: &[u8]) -> RequestHead {
        let (h, n) = ok_with(input, &lim());
        assert_eq!(
            n,
            input.len(),
            "trailing bytes after head in {:?}",
            s(input)
        );
        h
    }

    /// Expects the whole input to be refused; every prefix must be Ok(None)
    /// or an error, never a head.
    fn bad_with(input: &[u8], limits: &Limits) -> HttpError {
        for i in 0..input.len() {
            if let Ok(Some(_)) = parse_head(&input[..i], limits) {
                panic!("prefix {i} of {:?} parsed", s(input));
            }
        }
        let mut buf = BytesMut::from(input);
        let e2 = parse_head_from(&mut buf, limits).err();
        assert_eq!(
            buf.len(),
            input.len(),
            "buffer touched on error: {}",
            s(input)
        );
        match parse_head(input, limits) {
            Err(e) => {
                assert_eq!(Some(e), e2);
                e
            }
            Ok(x) => panic!("accepted {:?}: {:?}", s(input), x.map(|(_, n)| n)),
        }
    }

    fn bad(input: &[u8]) -> u16 {
        bad_with(input, &lim()).status
    }

    fn hdrs(h: &RequestHead) -> Vec<(String, String)> {
        h.header_pairs().map(|(n, v)| (s(n), s(v))).collect()
    }

    // ----- valid heads (gunicorn tests/requests/valid themes) -----

    #[test]
    fn simple_get() {
        let h = ok(b"GET /test HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n");
        assert_eq!(h.method(), b"GET");
        assert_eq!(h.target(), b"/test");
        assert_eq!(h.version, Version::Http11);
        assert_eq!(
            hdrs(&h),
            [
                ("Host".into(), "example.com".into()),
                ("Accept".into(), "*/*".into())
            ]
        );
        assert_eq!(h.framing, BodyFraming::None);
        assert!(h.keep_alive);
        assert!(!h.expect_continue);
        assert_eq!(h.header("host"), Some(&b"example.com"[..]));
        assert_eq!(h.header("HOST"), Some(&b"example.com"[..]));
        assert_eq!(h.header("nope"), None);
        assert_eq!(h.path_and_query(), (&b"/test"[..], &b""[..]));
    }

    #[test]
    fn gunicorn_001_put_http10_with_body() {
        let body = b"{\"nom\": \"nom\"}\n";
        let mut req = b"PUT /stuff/here?foo=bar HTTP/1.0\r\nServer: http://127.0.0.1:5984\r\n\
Content-Type: application/json\r\nContent-Length: 15\r\n\r\n"
            .to_vec();
        let head_len = req.len();
        req.extend_from_slice(body);
        let (h, n) = ok_with(&req, &lim());
        assert_eq!(n, head_len);
        assert_eq!(h.version, Version::Http10);
        assert_eq!(h.framing, BodyFraming::Length(15));
        assert!(!h.keep_alive);
        assert_eq!(h.path_and_query(), (&b"/stuff/here"[..], &b"foo=bar"[..]));
        assert_eq!(h.header("server"), Some(&b"http://127.0.0.1:5984"[..]));
    }

    #[test]
    fn gunicorn_003_browser_headers() {
        let h = ok(b"GET /favicon.ico HTTP/1.1\r\nHost: 0.0.0.0=5000\r\n\
User-Agent: Mozilla/5.0 (X11; U; Linux i686; en-US; rv:1.9) Gecko/2008061015 Firefox/3.0\r\n\
Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n\
Accept-Language: en-us,en;q=0.5\r\nAccept-Encoding: gzip,deflate\r\n\
Accept-Charset: ISO-8859-1,utf-8;q=0.7,*;q=0.7\r\nKeep-Alive: 300\r\nConnection: keep-alive\r\n\r\n");
        assert_eq!(h.headers.len(), 8);
        assert!(h.keep_alive);
    }

    #[test]
    fn gunicorn_005_fragment_dropped() {
        let h = ok(b"GET /forums/1/topics/2375?page=1#posts-17408 HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(
            h.path_and_query(),
            (&b"/forums/1/topics/2375"[..], &b"page=1"[..])
        );
        assert_eq!(h.target(), b"/forums/1/topics/2375?page=1#posts-17408");
    }

    #[test]
    fn gunicorn_014_quotes_027_nonascii_100_slashes() {
        let h = ok(b"GET /with_\"quotes\"?foo=\"bar\" HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(
            h.path_and_query(),
            (&b"/with_\"quotes\""[..], &b"foo=\"bar\""[..])
        );
        let h = ok(b"GET /\xc3\xa0%20k HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(h.path_and_query().0, b"/\xc3\xa0%20k");
        let h = ok(b"GET ///keeping_slashes HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(h.path_and_query().0, b"///keeping_slashes");
        assert_eq!(h.target_authority(), None);
    }

    #[test]
    fn chunked_framing_and_te_lists() {
        let h = ok(b"POST /chunked HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
        assert_eq!(h.framing, BodyFraming::Chunked);
        assert!(h.keep_alive);
        // 025: compression codings before chunked are refused with 501 (we do
        // not decode them), in one line or two.
        for req in [
            &b"POST /chunked HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"[..],
            b"POST /chunked HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"POST /chunked HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: x-gzip ,\tDEFLATE , compress,chunked\r\n\r\n",
            b"POST /chunked HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip;level=1, chunked\r\n\r\n",
        ] {
            assert_eq!(bad(req), 501, "{}", s(req));
        }
        // 029/030: identity then chunked; case-insensitive codings.
        for req in [
            &b"GET /stuff/here?foo=bar HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\nTransfer-Encoding: chunked\r\n\r\n"[..],
            b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity, CHUNKED\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: \tChunked \r\n\r\n",
        ] {
            let h = ok(req);
            assert_eq!(h.framing, BodyFraming::Chunked);
            assert!(h.keep_alive, "{}", s(req));
        }
    }

    #[test]
    fn content_length_forms() {
        let h = ok(b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(h.framing, BodyFraming::Length(0));
        let h = ok(b"POST / HTTP/1.1\r\nHost: x\r\ncontent-length: 007\r\n\r\n");
        assert_eq!(h.framing, BodyFraming::Length(7));
        let h = ok(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length:  18446744073709551615 \r\n\r\n");
        assert_eq!(h.framing, BodyFraming::Length(u64::MAX));
        let h = ok(b"POST / HTTP/1.0\r\nContent-Length: 5\r\n\r\n");
        assert_eq!(h.framing, BodyFraming::Length(5));
    }

    #[test]
    fn value_trimming_obs_text_and_special_names() {
        let h = ok(b"GET / HTTP/1.1\r\nHost: x\r\nX-Pad: \t  padded value \t \r\nX-Empty:\r\nX-Empty2: \t \r\n\
X-Latin: caf\xe9 \xff\r\n!#$%&'*+-.^_`|~09azAZ: tokens\r\nX_Under: kept\r\n\r\n");
        assert_eq!(h.header("x-pad"), Some(&b"padded value"[..]));
        assert_eq!(h.header("x-empty"), Some(&b""[..]));
        assert_eq!(h.header("x-empty2"), Some(&b""[..]));
        assert_eq!(h.header("x-latin"), Some(&b"caf\xe9 \xff"[..]));
        assert_eq!(h.header("!#$%&'*+-.^_`|~09azaz"), Some(&b"tokens"[..]));
        assert_eq!(h.header("x_under"), Some(&b"kept"[..]));
        assert_eq!(h.headers.len(), 7);
    }

    #[test]
    fn target_forms() {
        let h = ok(b"GET http://example.com:8080/p/a?q=1#frag HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(h.path_and_query(), (&b"/p/a"[..], &b"q=1"[..]));
        assert_eq!(h.target_authority(), Some(&b"example.com:8080"[..]));
        let h = ok(b"GET https://[::1]:8443 HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(h.path_and_query(), (&b"/"[..], &b""[..]));
        assert_eq!(h.target_authority(), Some(&b"[::1]:8443"[..]));
        let h = ok(b"GET http://h?x=y HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(h.path_and_query(), (&b"/"[..], &b"x=y"[..]));
        let h = ok(b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(h.path_and_query(), (&b"*"[..], &b""[..]));
        let h = ok(b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n");
        assert_eq!(h.path_and_query(), (&b"example.com:443"[..], &b""[..]));
        assert_eq!(h.target_authority(), Some(&b"example.com:443"[..]));
        // RFC 9110 §9.3.6: bytes after a CONNECT head are tunnel data, never
        // a next request, so the connection is not reused.
        assert!(!h.keep_alive);
        ok(b"CONNECT [2001:db8::1]:443 HTTP/1.1\r\nHost: x\r\n\r\n");
        ok(b"CONNECT 10.0.0.1:8080 HTTP/1.1\r\nHost: x\r\n\r\n");
        let h = ok(b"GET /p?a=1?b=2 HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(h.path_and_query(), (&b"/p"[..], &b"a=1?b=2"[..]));
    }

    #[test]
    fn versions_and_keep_alive() {
        let h = ok(b"GET / HTTP/1.0\r\n\r\n"); // 1.0 may omit Host
        assert_eq!(h.version, Version::Http10);
        assert!(!h.keep_alive);
        assert!(ok(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").keep_alive);
        assert!(!ok(b"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n").keep_alive);
        assert!(!ok(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: CLOSE\r\n\r\n").keep_alive);
        assert!(
            !ok(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nConnection: close\r\n\r\n")
                .keep_alive
        );
        assert!(
            ok(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: upgrade, x-close\r\n\r\n").keep_alive
        );
        assert_eq!(Version::Http11.as_bytes(), b"HTTP/1.1");
    }

    #[test]
    fn expect_continue() {
        assert!(
            ok(b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-Continue\r\nContent-Length: 3\r\n\r\n")
                .expect_continue
        );
        // Ignored (but valid) on HTTP/1.0.
        assert!(
            !ok(b"POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n")
                .expect_continue
        );
        assert_eq!(
            bad(b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 200-ok\r\n\r\n"),
            417
        );
        assert_eq!(bad(b"POST / HTTP/1.1\r\nHost: x\r\nExpect: \r\n\r\n"), 417);
        assert_eq!(
            bad(b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue, foo\r\n\r\n"),
            417
        );
    }

    #[test]
    fn methods() {
        for m in [
            "GET",
            "HEAD",
            "POST",
            "PUT",
            "DELETE",
            "PATCH",
            "PROPFIND",
            "M-SEARCH",
            "X.Y_Z$",
            "ABCDEFGHIJKLMNOPQRST",
        ] {
            let req = format!("{m} / HTTP/1.1\r\nHost: x\r\n\r\n");
            assert_eq!(ok(req.as_bytes()).method(), m.as_bytes());
        }
        for m in [
            "GE",
            "get",
            "Get",
            "G#T",
            "ABCDEFGHIJKLMNOPQRSTU",
            "GET:",
            "bla:rgh",
            "-bl",
            "G\u{cb}T",
            "G(T",
        ] {
            let req = format!("{m} / HTTP/1.1\r\nHost: x\r\n\r\n");
            assert_eq!(bad(req.as_bytes()), 400, "{m}");
        }
        assert_eq!(bad(b"GET\0 / HTTP/1.1\r\nHost: x\r\n\r\n"), 400);
        assert_eq!(bad(b"\0GET / HTTP/1.1\r\nHost: x\r\n\r\n"), 400);
        // Compatibility switches (gunicorn 031compat, 031compat2).
        let unconv = Limits {
            permit_unconventional_http_method: true,
            ..lim()
        };
        for m in ["get", "G", "M#", "ABCDEFGHIJKLMNOPQRSTUVWXYZ"] {
            let req = format!("{m} / HTTP/1.1\r\nHost: x\r\n\r\n");
            assert_eq!(ok_with(req.as_bytes(), &unconv).0.method(), m.as_bytes());
        }
        assert_eq!(
            bad_with(b"G:T / HTTP/1.1\r\nHost: x\r\n\r\n", &unconv).status,
            400
        );
        let fold = Limits {
            permit_unconventional_http_method: true,
            casefold_http_method: true,
            ..lim()
        };
        let (h, _) = ok_with(
            b"connect example.com:443 HTTP/1.1\r\nHost: x\r\n\r\n",
            &fold,
        );
        assert_eq!(h.method(), b"CONNECT");
        assert_eq!(h.raw.get(..7), Some(&b"CONNECT"[..]));
        assert!(!h.keep_alive);
        let (h, _) = ok_with(b"options * HTTP/1.1\r\nHost: x\r\n\r\n", &fold);
        assert_eq!(h.method(), b"OPTIONS");
        // casefold alone does not permit lowercase (gunicorn checks first).
        let cf = Limits {
            casefold_http_method: true,
            ..lim()
        };
        assert_eq!(
            bad_with(b"get / HTTP/1.1\r\nHost: x\r\n\r\n", &cf).status,
            400
        );
    }

    #[test]
    fn pipelined_requests() {
        let a = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n";
        let b = b"POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc";
        let c = b"GET /c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
        let all = [&a[..], &b[..], &c[..]].concat();
        let (h, n) = ok_with(&all, &lim());
        assert_eq!((h.target(), n), (&b"/a"[..], a.len()));
        let (h, n2) = ok_with(&all[n..], &lim());
        assert_eq!(h.target(), b"/b");
        assert_eq!(h.framing, BodyFraming::Length(3));
        assert_eq!(&all[n + n2..n + n2 + 3], b"abc");
        let mut buf = BytesMut::from(&all[..]);
        let h = parse_head_from(&mut buf, &lim()).unwrap().unwrap();
        assert_eq!(h.target(), b"/a");
        let h = parse_head_from(&mut buf, &lim()).unwrap().unwrap();
        assert_eq!(h.target(), b"/b");
        assert_eq!(&buf[..3], b"abc");
        buf.advance(3);
        let h = parse_head_from(&mut buf, &lim()).unwrap().unwrap();
        assert_eq!(h.target(), b"/c");
        assert!(!h.keep_alive);
        assert!(buf.is_empty());
        assert_eq!(parse_head_from(&mut buf, &lim()), Ok(None));
    }

    #[test]
    fn leading_empty_lines() {
        let req = b"\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n";
        let (h, n) = ok_with(req, &lim());
        assert_eq!(n, req.len());
        assert!(h.raw.starts_with(b"GET / HTTP/1.1\r\n"));
        assert_eq!(h.method(), b"GET");
        let mut many = b"\r\n".repeat(MAX_LEADING_EMPTY_LINES);
        many.extend_from_slice(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        ok_with(&many, &lim());
        let mut too_many = b"\r\n".repeat(MAX_LEADING_EMPTY_LINES + 1);
        too_many.extend_from_slice(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(bad(&too_many), 400);
        assert_eq!(bad(b"\nGET / HTTP/1.1\r\nHost: x\r\n\r\n"), 400);
        assert_eq!(bad(b"\rGET / HTTP/1.1\r\nHost: x\r\n\r\n"), 400);
        assert_eq!(parse_head(b"", &lim()), Ok(None));
        assert_eq!(parse_head(b"\r", &lim()), Ok(None));
    }

    #[test]
    fn obs_fold_permitted() {
        let l = Limits {
            permit_obs_fold: true,
            ..lim()
        };
        let req = b"GET / HTTP/1.1\r\nHost: x\r\nX-Long: first  \r\n \t second\r\n\tthird\r\nX-Next: y\r\n\r\n";
        let (h, n) = ok_with(req, &l);
        assert_eq!(n, req.len());
        assert_eq!(h.header("x-long"), Some(&b"first second third"[..]));
        assert_eq!(h.header("x-next"), Some(&b"y"[..]));
        assert_eq!(h.header("host"), Some(&b"x"[..]));
        // A fold of an empty value, and a whitespace-only continuation.
        let (h, _) = ok_with(
            b"GET / HTTP/1.1\r\nHost: x\r\nX-A:\r\n  v\r\nX-B: w\r\n   \r\n\r\n",
            &l,
        );
        assert_eq!(h.header("x-a"), Some(&b"v"[..]));
        assert_eq!(h.header("x-b"), Some(&b"w"[..]));
        // Folded framing headers are interpreted after unfolding.
        let (h, _) = ok_with(
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity,\r\n chunked\r\n\r\n",
            &l,
        );
        assert_eq!(h.framing, BodyFraming::Chunked);
        let (h, _) = ok_with(
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length:\r\n 12\r\n\r\n",
            &l,
        );
        assert_eq!(h.framing, BodyFraming::Length(12));
        // Still refused: fold before any field, bad chars, folding past the size limit.
        assert_eq!(
            bad_with(b"GET / HTTP/1.1\r\n folded\r\nHost: x\r\n\r\n", &l).status,
            400
        );
        assert_eq!(
            bad_with(b"GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\x07\r\n\r\n", &l).status,
            400
        );
        assert_eq!(
            bad_with(b"GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\nc\r\n\r\n", &l).status,
            400
        );
        let small = Limits {
            max_header_size: 20,
            ..l
        };
        let e = bad_with(
            b"GET / HTTP/1.1\r\nHost: x\r\nX: 0123456789\r\n 0123456789\r\n\r\n",
            &small,
        );
        assert_eq!(e.status, 431); // gunicorn invalid/013
                                   // Duplicate Host hidden behind a fold is still a duplicate.
        assert_eq!(
            bad_with(
                b"GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\nHost: y\r\n\r\n",
                &l
            )
            .status,
            400
        );
    }

    #[test]
    fn compat_obs_fold_huge() {
        // gunicorn valid/compat_obs_fold_huge: many continuation lines within limits.
        let l = Limits {
            permit_obs_fold: true,
            ..lim()
        };
        let mut req = b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: start\r\n".to_vec();
        for _ in 0..100 {
            req.extend_from_slice(b" 0123456789012345678901234567890123456789\r\n");
        }
        req.extend_from_slice(b"\r\n");
        let (h, _) = ok_with(&req, &l);
        assert_eq!(h.header("x-big").map(|v| v.len()), Some(5 + 100 * 41));
        assert_eq!(h.headers.len(), 2);
    }

    // ----- invalid heads (gunicorn tests/requests/invalid themes) -----

    #[test]
    fn malformed_request_lines() {
        for req in [
            &b"GET HTTP/1.1\r\nHost: x\r\n\r\n"[..], // 002 missing URI
            b"GET  / HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET /  HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET / HTTP/1.1 \r\nHost: x\r\n\r\n",
            b" GET / HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET\t/ HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET /\tx HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET / x HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET /\x7f HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET /\x00 HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET / HTTP/1.1\r\r\nHost: x\r\n\r\n",
            b"GET /\rx HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET / HTTP/1.1",
        ] {
            if req.ends_with(b"HTTP/1.1") {
                assert_eq!(parse_head(req, &lim()), Ok(None));
                continue;
            }
            assert_eq!(bad(req), 400, "{}", s(req));
        }
        // 003: LF-only separators; bare LF after the request line.
        assert_eq!(bad(b"GET /foo HTTP/1.1\nHost: x\n\n"), 400);
    }

    #[test]
    fn invalid_targets() {
        for req in [
            &b"GET * HTTP/1.1\r\nHost: x\r\n\r\n"[..],
            b"OPTIONS *x HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET example.com:443 HTTP/1.1\r\nHost: x\r\n\r\n", // authority-form outside CONNECT
            b"GET foo/bar HTTP/1.1\r\nHost: x\r\n\r\n",         // relative
            b"GET ../x HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET http:/x HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET http:///x HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET 1http://h/ HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET http://h<>/ HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET ://h/ HTTP/1.1\r\nHost: x\r\n\r\n",
            b"CONNECT / HTTP/1.1\r\nHost: x\r\n\r\n",
            b"CONNECT example.com HTTP/1.1\r\nHost: x\r\n\r\n",
            b"CONNECT example.com: HTTP/1.1\r\nHost: x\r\n\r\n",
            b"CONNECT example.com:99999 HTTP/1.1\r\nHost: x\r\n\r\n",
            b"CONNECT user@example.com:443 HTTP/1.1\r\nHost: x\r\n\r\n",
            b"CONNECT http://example.com:443 HTTP/1.1\r\nHost: x\r\n\r\n",
            b"CONNECT [zz]:443 HTTP/1.1\r\nHost: x\r\n\r\n",
            b"CONNECT :443 HTTP/1.1\r\nHost: x\r\n\r\n",
            // RFC 9110 §4.2.4: userinfo in an http(s) URI is an error.
            b"GET http://user:pass@example.com:8080/p HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET http://trusted.example@evil.example/ HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET http://@h/ HTTP/1.1\r\nHost: x\r\n\r\n",
        ] {
            assert_eq!(bad(req), 400, "{}", s(req));
        }
    }

    #[test]
    fn invalid_versions() {
        for v in [
            "FTP/1.1",
            "HTTP/111",
            "HTTP/0.99",
            "HTTP/0.9",
            "HTTP/1.10",
            "http/1.1",
            "HTTP/1",
            "HTTP/1.a",
            "HTTP 1.1",
            "HTTP/10000000000000000000000.1",
            "HTTP/1.1x",
        ] {
            let req = format!("GET / {v}\r\nHost: x\r\n\r\n");
            assert_eq!(bad(req.as_bytes()), 400, "{v}");
        }
        for v in ["HTTP/2.0", "HTTP/3.0", "HTTP/9.9", "HTTP/2.1"] {
            let req = format!("GET / {v}\r\nHost: x\r\n\r\n");
            assert_eq!(bad(req.as_bytes()), 505, "{v}");
        }
    }

    #[test]
    fn bare_cr_and_bare_lf() {
        for req in [
            &b"GET / HTTP/1.1\r\nHost: x\nX: y\r\n\r\n"[..],
            b"GET / HTTP/1.1\r\nHost: x\r\nX: y\n\r\n",
            b"GET / HTTP/1.1\r\nHost: x\r\n\n",
            b"GET / HTTP/1.1\r\nHost: x\r\nX: a\nContent-Length: 5\r\n\r\n", // invalid_field_value_01
            b"GET / HTTP/1.1\r\nHost: x\r\nX:\n\r\n",
            b"GET / HTTP/1.0\r\n\n",
        ] {
            let e = bad_with(req, &lim());
            assert_eq!(e.status, 400, "{}", s(req));
            assert_eq!(e, E_BARE_LF, "{}", s(req));
        }
        for req in [
            &b"GET / HTTP/1.1\r\nHost: x\rX: y\r\n\r\n"[..],
            b"GET / HTTP/1.1\r\nHost: x\r\n\rX",
            b"GET / HTTP/1.1\r\nX\r: y\r\nHost: x\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n",
        ] {
            assert_eq!(bad(req), 400, "{}", s(req));
        }
        // Same results with folding enabled (its own scanner).
        let l = Limits {
            permit_obs_fold: true,
            ..lim()
        };
        assert_eq!(
            bad_with(b"GET / HTTP/1.1\r\nHost: x\nX: y\r\n\r\n", &l).status,
            400
        );
        assert_eq!(
            bad_with(b"GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", &l).status,
            400
        );
    }

    #[test]
    fn invalid_field_names_and_values() {
        for req in [
            &b"GET / HTTP/1.1\r\nHost: x\r\nX\0Y: z\r\n\r\n"[..], // 005
            b"GET / HTTP/1.1\r\nHost: x\r\nX-Y : z\r\n\r\n",      // 020
            b"GET / HTTP/1.1\r\nHost: x\r\nX-Y\t: z\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: x\r\nX-\xc3\xa9: z\r\n\r\n", // nonascii
            b"GET / HTTP/1.1\r\nHost: x\r\n: z\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: x\r\nX(Y): z\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: x\r\nX: a\x07b\r\n\r\n", // BEL
            b"GET / HTTP/1.1\r\nHost: x\r\nX: a\x7fb\r\n\r\n", // DEL
            b"GET / HTTP/1.1\r\nHost: x\r\nX: a\x00b\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: x\r\nX: a\x1bb\r\n\r\n",
        ] {
            assert_eq!(bad(req), 400, "{}", s(req));
        }
        // obs_fold_01
        let e = bad_with(
            b"GET / HTTP/1.1\r\nHost: x\r\nLong: one\r\n two\r\n\r\n",
            &lim(),
        );
        assert_eq!(e, E_OBS_FOLD);
        assert_eq!(bad(b"GET / HTTP/1.1\r\n Host: x\r\n\r\n"), 400);
    }

    #[test]
    fn host_values() {
        for v in [
            "example.com",
            "example.com:8080",
            "0.0.0.0=5000",
            "[::1]",
            "[::1]:80",
            "a%20b",
            "",
            "x:",
        ] {
            assert!(valid_host(v.as_bytes()), "{v}");
        }
        for v in [
            "a b", "a/b", "user@a", "a:port", "[::1", "[::1]x", "a:123456", "a%2", "a\\b",
        ] {
            assert!(!valid_host(v.as_bytes()), "{v}");
        }
    }

    #[test]
    fn host_and_singletons() {
        assert_eq!(bad(b"GET / HTTP/1.1\r\n\r\n"), 400);
        assert_eq!(bad(b"GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n"), 400); // 042
        assert_eq!(bad(b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n"), 400);
        assert_eq!(bad(b"GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n"), 400);
        assert_eq!(
            bad(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Type: a\r\nContent-type: b\r\n\r\n"),
            400
        ); // 041
        ok(b"GET / HTTP/1.1\r\nHost:\r\n\r\n"); // empty Host is allowed
    }

    #[test]
    fn invalid_content_length() {
        for v in [
            "-1", "abc", "-0", "0_1", "+1", "0 1", "3 1", "5, 5", "5,5", "0x5", "", "1.0", "١",
        ] {
            let req = format!("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {v}\r\n\r\n");
            assert_eq!(bad(req.as_bytes()), 400, "{v:?}");
        }
        assert_eq!(
            bad(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 18446744073709551616\r\n\r\n"),
            400
        );
        assert_eq!(
            bad(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n"),
            400
        );
        // 021: duplicate CL, even equal.
        assert_eq!(
            bad(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n"),
            400
        );
        assert_eq!(
            bad(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"),
            400
        );
    }

    #[test]
    fn invalid_transfer_encoding() {
        let base = "POST / HTTP/1.1\r\nHost: x\r\n";
        let cases: &[(&str, u16)] = &[
            ("Content-Length: 3\r\nTransfer-Encoding: \tchunked\r\n", 400), // chunked_02
            (
                "Transfer-Encoding: identity, chunked, identity, chunked\r\n",
                400,
            ), // chunked_03
            (
                "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
                400,
            ), // chunked_04
            ("Transfer-Encoding: chunked, gzip\r\n", 400),                  // chunked_06
            ("Transfer-Encoding: chunked, identity\r\n", 400),              // chunked_08
            ("Transfer-Encoding: chunked\r\nContent-Length: 3\r\n", 400),
            ("Transfer-Encoding: gzip\r\n", 400),
            ("Transfer-Encoding: identity\r\n", 400),
            ("Transfer-Encoding: \r\n", 400),
            ("Transfer-Encoding: ,chunked\r\n", 400),
            ("Transfer-Encoding: gzip,,chunked\r\n", 400),
            ("Transfer-Encoding: chunked;q=1\r\n", 400),
            ("Transfer-Encoding: chun\"ked\r\n", 400),
            (
                "Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n",
                400,
            ),
            ("Transfer-Encoding: foo, chunked\r\n", 501),
            ("Transfer-Encoding: br\r\n", 501),
            ("Transfer-Encoding: xchunked\r\n", 501),
        ];
        for &(h, status) in cases {
            let req = format!("{base}{h}\r\n");
            assert_eq!(bad(req.as_bytes()), status, "{h:?}");
        }
        // chunked_05: TE in HTTP/1.0.
        assert_eq!(
            bad(b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"),
            400
        );
    }

    #[test]
    fn tolerate_dangerous_framing() {
        let l = Limits {
            tolerate_dangerous_framing: true,
            ..lim()
        };
        let (h, _) = ok_with(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", &l);
        assert_eq!(h.framing, BodyFraming::Chunked);
        assert!(!h.keep_alive);
        assert_eq!(h.header("content-length"), None);
        assert_eq!(h.headers.len(), 2);
        // Still refused: TE in 1.0, chunked not last, duplicate CL.
        assert_eq!(
            bad_with(
                b"POST / HTTP/1.0\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
                &l
            )
            .status,
            400
        );
        assert_eq!(bad_with(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", &l).status, 400);
        assert_eq!(bad_with(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", &l).status, 400);
    }

    // ----- limits, including on partial input -----

    #[test]
    fn request_line_limit() {
        // 006: over the limit → 414, both complete and still arriving.
        let long = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(5000));
        assert_eq!(bad(long.as_bytes()), 414);
        let partial = format!("GET /{}", "a".repeat(5000));
        assert_eq!(
            parse_head(partial.as_bytes(), &lim())
                .err()
                .map(|e| e.status),
            Some(414)
        );
        // Exactly at the limit is fine.
        let target = "a".repeat(4094 - "GET / HTTP/1.1".len());
        let exact = format!("GET /{target} HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(exact.find("\r\n"), Some(4094));
        ok(exact.as_bytes());
        let over = format!("GET /{target}a HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(bad(over.as_bytes()), 414);
        // A line of exactly limit bytes plus its CR, still waiting for LF.
        assert_eq!(parse_head(&exact.as_bytes()[..4095], &lim()), Ok(None));
        // gunicorn valid/024: long URI under raised limits; 0 = hard cap.
        let l = Limits {
            max_request_line: 0,
            ..lim()
        };
        ok_with(long.as_bytes(), &l);
        let huge = format!("GET /{}", "a".repeat(HARD_MAX_REQUEST_LINE + 2));
        assert_eq!(
            parse_head(huge.as_bytes(), &l).err().map(|e| e.status),
            Some(414)
        );
    }

    #[test]
    fn partial_request_line_garbage_refused_early() {
        assert_eq!(
            parse_head(b"\x16\x03\x01\x02\x00", &lim())
                .err()
                .map(|e| e.status),
            Some(400)
        );
        assert_eq!(
            parse_head(b"GET /a\x00", &lim()).err().map(|e| e.status),
            Some(400)
        );
        assert_eq!(
            parse_head(b"GET /a\rb", &lim()).err().map(|e| e.status),
            Some(400)
        );
        assert_eq!(parse_head(b"GET /a HTTP/1.1\r", &lim()), Ok(None));
    }

    #[test]
    fn header_count_limit() {
        let mut req = b"GET / HTTP/1.1\r\nHost: x\r\n".to_vec();
        for i in 0..99 {
            req.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
        }
        let mut full = req.clone();
        full.extend_from_slice(b"\r\n");
        assert_eq!(ok(&full).headers.len(), 100);
        req.extend_from_slice(b"X-100: v\r\n");
        let mut over = req.clone();
        over.extend_from_slice(b"\r\n");
        assert_eq!(bad(&over), 431);
        // Partial: the 101st line is already there, no blank line yet.
        assert_eq!(parse_head(&req, &lim()).err().map(|e| e.status), Some(431));
        // ...even before that line ends.
        assert_eq!(
            parse_head(&req[..req.len() - 4], &lim())
                .err()
                .map(|e| e.status),
            Some(431)
        );
        // 011: limit_request_fields = 2
        let l = Limits {
            max_headers: 2,
            ..lim()
        };
        assert_eq!(
            bad_with(b"GET / HTTP/1.1\r\nHost: x\r\nA: 1\r\nB: 2\r\n\r\n", &l).status,
            431
        );
        ok_with(b"GET / HTTP/1.1\r\nHost: x\r\nA: 1\r\n\r\n", &l);
    }

    #[test]
    fn many_headers_beyond_stack_slots() {
        let l = Limits {
            max_headers: 1000,
            ..lim()
        };
        let mut req = b"GET / HTTP/1.1\r\nHost: x\r\n".to_vec();
        for i in 0..499 {
            req.extend_from_slice(format!("X-{i}: v{i}\r\n").as_bytes());
        }
        req.extend_from_slice(b"\r\n");
        let (h, _) = parse_head(&req, &l).unwrap().unwrap();
        assert_eq!(h.headers.len(), 500);
        assert_eq!(h.header("x-498"), Some(&b"v498"[..]));
        let l = Limits {
            max_headers: 40,
            ..lim()
        };
        assert_eq!(parse_head(&req, &l).err().map(|e| e.status), Some(431));
        let l = Limits {
            max_headers: 0,
            ..lim()
        }; // 0 = gunicorn's 32768
        assert_eq!(parse_head(&req, &l).unwrap().unwrap().0.headers.len(), 500);
    }

    #[test]
    fn header_size_limit() {
        // 007-009 at defaults: one field line over 8190.
        let v = "a".repeat(8190 - 3);
        let at = format!("GET / HTTP/1.1\r\nHost: x\r\nX: {v}\r\n\r\n");
        ok(at.as_bytes());
        let over = format!("GET / HTTP/1.1\r\nHost: x\r\nX: {v}a\r\n\r\n");
        assert_eq!(bad(over.as_bytes()), 431);
        // Partial over-long line.
        let partial = format!("GET / HTTP/1.1\r\nHost: x\r\nX: {}", "a".repeat(9000));
        assert_eq!(
            parse_head(partial.as_bytes(), &lim())
                .err()
                .map(|e| e.status),
            Some(431)
        );
        // 010/012: small field size.
        let l = Limits {
            max_header_size: 10,
            ..lim()
        };
        assert_eq!(
            bad_with(b"GET / HTTP/1.1\r\nHost: x\r\nX: 12345678\r\n\r\n", &l).status,
            431
        );
        ok_with(b"GET / HTTP/1.1\r\nHost: x\r\nX: 1234567\r\n\r\n", &l);
        // limit_header_default_01: 0 means gunicorn's 8190.
        let l = Limits {
            max_header_size: 0,
            ..lim()
        };
        assert_eq!(bad_with(over.as_bytes(), &l).status, 431);
        ok_with(at.as_bytes(), &l);
    }

    #[test]
    fn total_head_bound_on_partial_input() {
        let l = Limits {
            max_headers: 0,
            max_header_size: 60000,
            ..lim()
        };
        assert_eq!(l.max_head_size(), HARD_MAX_HEAD);
        let mut req = b"GET / HTTP/1.1\r\nHost: x\r\n".to_vec();
        let line = format!("X: {}\r\n", "v".repeat(1000));
        while req.len() <= HARD_MAX_HEAD {
            req.extend_from_slice(line.as_bytes());
        }
        assert_eq!(parse_head(&req, &l).err().map(|e| e.status), Some(431));
        req.extend_from_slice(b"\r\n");
        assert_eq!(parse_head(&req, &l).err().map(|e| e.status), Some(431));
        assert!(Limits::default().max_head_size() < HARD_MAX_HEAD);
    }

    // ----- robustness -----

    #[test]
    fn no_panic_on_mutations() {
        let seeds: &[&[u8]] = &[
            b"GET /a?b#c HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nX: y\r\n\r\n",
            b"POST http://h:1/p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\nExpect: 100-continue\r\n\r\n",
            b"\r\nCONNECT [::1]:1 HTTP/1.0\r\nConnection: keep-alive\r\nX: a\r\n b\r\n\r\n",
        ];
        let alphabet = b" \t\r\n:;,\"\\/?#*[]@0123456789AaZz\x00\x7f\x80\xff";
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let limit_sets = [
            lim(),
            Limits {
                permit_obs_fold: true,
                casefold_http_method: true,
                permit_unconventional_http_method: true,
                tolerate_dangerous_framing: true,
                ..lim()
            },
            Limits {
                max_headers: 2,
                max_header_size: 8,
                max_request_line: 16,
                ..lim()
            },
        ];
        for _ in 0..4000 {
            let seed = seeds[(next() % seeds.len() as u64) as usize];
            let mut m = seed.to_vec();
            for _ in 0..(1 + next() % 4) {
                let pos = (next() % (m.len() as u64 + 1)) as usize;
                let c = alphabet[(next() % alphabet.len() as u64) as usize];
                match next() % 3 {
                    0 if pos < m.len() => m[pos] = c,
                    1 if pos < m.len() => {
                        m.remove(pos);
                    }
                    _ => m.insert(pos, c),
                }
            }
            for l in &limit_sets {
                if let Ok(Some((h, n))) = parse_head(&m, l) {
                    assert!(n <= m.len());
                    let _ = (h.path_and_query(), h.target_authority(), h.header("host"));
                    for hd in &h.headers {
                        assert!(hd.name.end as usize <= h.raw.len());
                        assert!(hd.value.start <= hd.value.end);
                    }
                    // Prefixes of an accepted head never error.
                    let cut = (next() % n.max(1) as u64) as usize;
                    assert_eq!(
                        parse_head(&m[..cut], l).map(|o| o.is_none()),
                        Ok(true),
                        "{}",
                        s(&m)
                    );
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod bench {
    use super::*;

    /// Rough throughput check: `cargo test --release -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn bench_parse_head() {
        let req: &[u8] = b"GET /api/v1/users/12345?expand=profile&fields=name,email HTTP/1.1\r\n\
Host: api.example.com\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36\r\n\
Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\nAccept-Language: en-US,en;q=0.5\r\n\
Accept-Encoding: gzip, deflate, br\r\nConnection: keep-alive\r\nCookie: session=abcdef0123456789; theme=dark\r\n\
Cache-Control: max-age=0\r\n\r\n";
        let l = Limits::default();
        let n = 1_000_000;
        let t = std::time::Instant::now();
        let mut total = 0usize;
        for _ in 0..n {
            let (h, c) = parse_head(std::hint::black_box(req), &l).unwrap().unwrap();
            total += c + h.headers.len();
        }
        let el = t.elapsed();
        println!(
            "parse_head: {:?}/req ({} bytes, {total})",
            el / n,
            req.len()
        );
        let t = std::time::Instant::now();
        let mut buf = BytesMut::with_capacity(req.len());
        for _ in 0..n {
            buf.extend_from_slice(req);
            let h = parse_head_from(&mut buf, &l).unwrap().unwrap();
            total += h.headers.len();
        }
        println!("parse_head_from: {:?}/req ({total})", t.elapsed() / n);
    }

    #[test]
    #[ignore]
    fn bench_httparse_alone() {
        let req: &[u8] = b"GET /api/v1/users/12345?expand=profile&fields=name,email HTTP/1.1\r\n\
Host: api.example.com\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36\r\n\
Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\nAccept-Language: en-US,en;q=0.5\r\n\
Accept-Encoding: gzip, deflate, br\r\nConnection: keep-alive\r\nCookie: session=abcdef0123456789; theme=dark\r\n\
Cache-Control: max-age=0\r\n\r\n";
        let n = 1_000_000u32;
        let t = std::time::Instant::now();
        let mut total = 0usize;
        for _ in 0..n {
            let mut h = [httparse::EMPTY_HEADER; 32];
            let mut r = httparse::Request::new(&mut h);
            if let Ok(httparse::Status::Complete(c)) = r.parse(std::hint::black_box(req)) {
                total += c;
            }
        }
        println!(
            "httparse Request::parse: {:?}/req ({total})",
            t.elapsed() / n
        );
    }
}
