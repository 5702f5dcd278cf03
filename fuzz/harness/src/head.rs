//! `http_head`: the request-head parser (`parse_head`, `parse_head_from`,
//! and the validation they run: request line, fields, framing, Host, Expect,
//! Connection, obs-fold rewriting, limits).
//!
//! Input layout: `[flags] [sizes] [field_size] head-bytes...`
//! * flags bit 0..3: permit_obs_fold, permit_unconventional_http_method,
//!   casefold_http_method, tolerate_dangerous_framing;
//! * sizes bits 0..2: `max_request_line` from [`LINE`], bits 3..5:
//!   `max_headers` from [`FIELDS`]; field_size bits 0..2:
//!   `max_header_size` from [`FIELD_SIZE`]. Index 0 is always gunicorn's
//!   default, so a seed starting with three zero bytes parses with the
//!   server's default limits.
//!
//! Invariants checked:
//! * `parse_head` and `parse_head_from` agree; the latter leaves the buffer
//!   untouched on `Ok(None)`/`Err` and splits exactly the head off on success;
//! * success: `0 < consumed <= len`, `consumed <= max_head_size()`, and the
//!   head is well-formed (spans, character classes, limits, framing / Host /
//!   Expect / keep-alive consistent with the fields — see [`validate`]);
//! * prefix stability: the head parses identically from exactly its own
//!   bytes and with more bytes appended; no strict prefix of it is refused
//!   or completes (a client whose head arrives in pieces gets the same
//!   answer); a refused input stays refused when more bytes arrive, and a
//!   refused prefix means the whole input is refused;
//! * incomplete (`Ok(None)`) never happens beyond `max_head_size()` bytes;
//! * errors carry one of the statuses the server answers with;
//! * re-serialising a parsed head (`method SP target SP version`, one
//!   `name:value` line per field) and parsing it again gives the same head.

use bytes::BytesMut;

use _ferricorn::http::request::{
    DEFAULT_FIELD_SIZE, HARD_MAX_FIELD_SIZE, HARD_MAX_REQUEST_LINE, MAX_HEADERS_CAP,
    MAX_LEADING_EMPTY_LINES,
};
use _ferricorn::http::{
    parse_head, parse_head_from, BodyFraming, HttpError, Limits, RequestHead, Version,
};

use crate::{hash, show, Reader};

const LINE: [usize; 8] = [4094, 0, 1, 16, 40, 8190, 100_000, usize::MAX];
const FIELDS: [usize; 8] = [100, 0, 1, 2, 32, 33, 40_000, usize::MAX];
const FIELD_SIZE: [usize; 8] = [8190, 0, 1, 8, 40, 65536, 100_000, usize::MAX];

/// Statuses a refused head may carry.
const STATUSES: [u16; 6] = [400, 414, 417, 431, 501, 505];

type Res = Result<Option<(RequestHead, usize)>, HttpError>;

#[allow(clippy::needless_update)]
pub(crate) fn limits_from(r: &mut Reader<'_>) -> Limits {
    let flags = r.u8();
    let sizes = r.u8();
    let fs = r.u8();
    Limits {
        max_request_line: LINE[(sizes & 7) as usize],
        max_headers: FIELDS[((sizes >> 3) & 7) as usize],
        max_header_size: FIELD_SIZE[(fs & 7) as usize],
        permit_obs_fold: flags & 1 != 0,
        permit_unconventional_http_method: flags & 2 != 0,
        casefold_http_method: flags & 4 != 0,
        tolerate_dangerous_framing: flags & 8 != 0,
        // Fields added to Limits later keep their defaults.
        ..Limits::default()
    }
}

/// The harness (see the module documentation).
pub fn http_head(data: &[u8]) {
    let mut r = Reader::new(data);
    let lim = limits_from(&mut r);
    check(r.rest(), &lim);
}

/// The limits after defaults and caps, as documented on [`Limits`].
struct Eff {
    line: usize,
    fields: usize,
    field: usize,
}

fn eff(l: &Limits) -> Eff {
    Eff {
        line: match l.max_request_line {
            0 => HARD_MAX_REQUEST_LINE,
            n => n.min(HARD_MAX_REQUEST_LINE),
        },
        fields: match l.max_headers {
            0 => MAX_HEADERS_CAP,
            n => n.min(MAX_HEADERS_CAP),
        },
        field: match l.max_header_size {
            0 => DEFAULT_FIELD_SIZE,
            n => n.min(HARD_MAX_FIELD_SIZE),
        },
    }
}

/// Both entry points on `buf`; asserts they agree and returns the result.
pub(crate) fn parse_both(buf: &[u8], lim: &Limits) -> Res {
    let a = parse_head(buf, lim);
    let mut bm = BytesMut::from(buf);
    let b = parse_head_from(&mut bm, lim);
    match (&a, b) {
        (Ok(None), Ok(None)) => {
            assert!(
                &bm[..] == buf,
                "parse_head_from changed the buffer on Ok(None)"
            )
        }
        (Err(e1), Err(e2)) => {
            assert_eq!(*e1, e2, "parse_head and parse_head_from disagree");
            assert!(&bm[..] == buf, "parse_head_from changed the buffer on Err");
        }
        (Ok(Some((h1, c))), Ok(Some(h2))) => {
            assert_eq!(h1, &h2, "parse_head and parse_head_from disagree");
            assert!(
                bm[..] == buf[*c..],
                "parse_head_from left {} bytes, expected {}",
                bm.len(),
                buf.len() - c
            );
        }
        (a, b) => panic!(
            "parse_head {:?} vs parse_head_from {:?} on {}",
            a.as_ref().map(|o| o.as_ref().map(|x| x.1)),
            b.map(|o| o.is_some()),
            show(buf)
        ),
    }
    a
}

fn same(a: &Res, b: &Res) -> bool {
    a == b
}

fn brief(r: &Res) -> String {
    match r {
        Ok(None) => "incomplete".into(),
        Ok(Some((_, c))) => format!("head of {c} bytes"),
        Err(e) => format!("error {e}"),
    }
}

pub(crate) fn check(buf: &[u8], lim: &Limits) {
    let full = parse_both(buf, lim);
    match &full {
        Err(e) => {
            assert!(STATUSES.contains(&e.status), "unexpected status {e}");
            // More bytes never turn a refusal into something else.
            let mut more = buf.to_vec();
            more.extend_from_slice(b"\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n");
            let r = parse_both(&more, lim);
            assert!(
                r.is_err(),
                "refused input ({e}) accepted after appending bytes: {} / {}",
                brief(&r),
                show(buf)
            );
        }
        Ok(None) => {
            assert!(
                buf.len() <= lim.max_head_size(),
                "incomplete at {} bytes, beyond max_head_size {} ({lim:?})",
                buf.len(),
                lim.max_head_size()
            );
        }
        Ok(Some((h, c))) => {
            let c = *c;
            assert!(c > 0 && c <= buf.len(), "consumed {c} of {}", buf.len());
            assert!(
                c <= lim.max_head_size(),
                "head of {c} bytes beyond max_head_size {}",
                lim.max_head_size()
            );
            validate(h, c, buf, lim);
            // Exactly the head's bytes, and the head plus something else.
            let own = parse_both(&buf[..c], lim);
            assert!(
                same(&own, &full),
                "head parses differently from its own bytes: {} vs {}",
                brief(&own),
                brief(&full)
            );
            let mut more = buf[..c].to_vec();
            more.extend_from_slice(b"\x00\r\n garbage \xff\r\n\r\n");
            let more_r = parse_both(&more, lim);
            assert!(
                same(&more_r, &full),
                "head parses differently with bytes appended: {}",
                brief(&more_r)
            );
            roundtrip(h, lim);
        }
    }

    // Prefixes: the same answer whichever way the bytes are segmented.
    let end = match &full {
        Ok(Some((_, c))) => *c,
        _ => buf.len(),
    };
    for p in prefixes(buf, end) {
        let r = parse_both(&buf[..p], lim);
        match &r {
            Ok(None) => {}
            Ok(Some((_, c))) => panic!(
                "strict prefix of {p} bytes completed a head of {c} bytes, whole input: {}; input {}",
                brief(&full),
                show(buf)
            ),
            Err(e) => {
                assert!(
                    full.is_err(),
                    "prefix of {p} bytes refused ({e}) but the whole input gives {}; input {}",
                    brief(&full),
                    show(buf)
                );
            }
        }
    }
}

/// Strict prefix lengths to try: all of them for short inputs, a sample
/// (derived from the input) otherwise.
fn prefixes(buf: &[u8], end: usize) -> Vec<usize> {
    if end <= 48 {
        return (0..end).collect();
    }
    let mut v = vec![end - 1, end - 2, end - 3, end / 2, 1];
    let mut h = hash(&buf[..end.min(256)]);
    for _ in 0..4 {
        h = h
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        v.push((h >> 33) as usize % end);
    }
    v
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_field_vchar(b: u8) -> bool {
    b == b'\t' || (0x20..=0x7e).contains(&b) || b >= 0x80
}

fn count(h: &RequestHead, name: &str) -> usize {
    h.header_pairs()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
        .count()
}

fn tokens<'a>(v: &'a [u8]) -> impl Iterator<Item = &'a [u8]> + 'a {
    v.split(|&b| b == b',').map(|t| t.trim_ascii())
}

/// Structural and semantic checks of an accepted head.
fn validate(h: &RequestHead, c: usize, buf: &[u8], lim: &Limits) {
    let e = eff(lim);
    let raw = &h.raw[..];
    let ctx = || format!("head {} from input {}", show(raw), show(buf));

    // Leading empty lines, then the head.
    let mut skip = 0;
    while buf[skip..c].starts_with(b"\r\n") && skip < 2 * MAX_LEADING_EMPTY_LINES {
        skip += 2;
    }
    if lim.permit_obs_fold {
        assert!(raw.len() <= c - skip, "unfolded head longer: {}", ctx());
    } else {
        assert_eq!(
            raw.len(),
            c - skip,
            "raw is not the consumed bytes: {}",
            ctx()
        );
        let m = h.method.end as usize;
        assert!(
            raw[..m].eq_ignore_ascii_case(&buf[skip..skip + m]) && raw[m..] == buf[skip + m..c],
            "raw differs from the wire bytes: {}",
            ctx()
        );
    }
    assert!(
        raw.ends_with(b"\r\n\r\n"),
        "head does not end in a blank line: {}",
        ctx()
    );

    // Request line: method SP target SP HTTP/1.x CRLF.
    let (ms, me) = (h.method.start as usize, h.method.end as usize);
    let (ts, te) = (h.target.start as usize, h.target.end as usize);
    assert_eq!(ms, 0, "{}", ctx());
    assert!(
        me < raw.len() && raw[me] == b' ' && ts == me + 1,
        "{}",
        ctx()
    );
    assert!(
        te > ts && te + 11 <= raw.len() && raw[te] == b' ',
        "{}",
        ctx()
    );
    let ver = &raw[te + 1..te + 9];
    assert!(
        ver.starts_with(b"HTTP/1.") && ver[7].is_ascii_digit() && &raw[te + 9..te + 11] == b"\r\n",
        "bad version or request-line end: {}",
        ctx()
    );
    let want = if ver == b"HTTP/1.0" {
        Version::Http10
    } else {
        Version::Http11
    };
    assert_eq!(h.version, want, "{}", ctx());
    assert!(
        te + 9 <= e.line,
        "request line longer than the limit: {}",
        ctx()
    );

    let m = h.method();
    assert!(
        !m.is_empty() && m.iter().all(|&b| is_tchar(b)),
        "method: {}",
        ctx()
    );
    if !lim.permit_unconventional_http_method {
        assert!(
            (3..=20).contains(&m.len()) && !m.contains(&b'#'),
            "unconventional method accepted: {}",
            ctx()
        );
    }
    if lim.casefold_http_method || !lim.permit_unconventional_http_method {
        assert!(
            !m.iter().any(u8::is_ascii_lowercase),
            "lowercase method: {}",
            ctx()
        );
    }
    let t = h.target();
    assert!(
        t.iter().all(|&b| (0x21..=0x7e).contains(&b) || b >= 0x80),
        "target has CTL/SP/DEL: {}",
        ctx()
    );
    if m != b"CONNECT" && t != b"*" {
        assert!(
            t.first() == Some(&b'/') || t.windows(3).any(|w| w == b"://"),
            "target form: {}",
            ctx()
        );
    }

    // Fields.
    assert!(h.headers.len() <= e.fields, "too many fields: {}", ctx());
    for (n, v) in h.header_pairs() {
        assert!(
            !n.is_empty() && n.iter().all(|&b| is_tchar(b)),
            "field name: {}",
            ctx()
        );
        assert!(
            v.iter().all(|&b| is_field_vchar(b)),
            "field value has CTL: {}",
            ctx()
        );
        assert!(
            !matches!(v.first(), Some(b' ' | b'\t')) && !matches!(v.last(), Some(b' ' | b'\t')),
            "field value not trimmed: {}",
            ctx()
        );
        assert!(
            n.len() + 1 + v.len() <= e.field,
            "field longer than the limit: {}",
            ctx()
        );
    }

    // Host.
    let hosts = count(h, "host");
    match h.version {
        Version::Http11 => assert_eq!(hosts, 1, "HTTP/1.1 needs exactly one Host: {}", ctx()),
        Version::Http10 => assert!(hosts <= 1, "duplicate Host: {}", ctx()),
    }

    // Framing.
    let cl = count(h, "content-length");
    let te_n = count(h, "transfer-encoding");
    match h.framing {
        BodyFraming::Chunked => {
            assert_eq!(h.version, Version::Http11, "chunked on 1.0: {}", ctx());
            assert_eq!(cl, 0, "chunked with a Content-Length field left: {}", ctx());
            let last_te = h
                .header_pairs()
                .filter(|(n, _)| n.eq_ignore_ascii_case(b"transfer-encoding"))
                .last()
                .map(|(_, v)| v)
                .unwrap_or_else(|| panic!("chunked without Transfer-Encoding: {}", ctx()));
            let last = tokens(last_te).last().unwrap_or_default();
            assert!(
                last.eq_ignore_ascii_case(b"chunked"),
                "chunked not last: {}",
                ctx()
            );
        }
        BodyFraming::Length(n) => {
            assert_eq!((cl, te_n), (1, 0), "Length framing: {}", ctx());
            let v = h.header("content-length").unwrap_or_default();
            assert!(v.iter().all(u8::is_ascii_digit), "{}", ctx());
            let parsed = std::str::from_utf8(v)
                .ok()
                .and_then(|s| s.parse::<u64>().ok());
            assert_eq!(
                parsed,
                Some(n),
                "Content-Length value vs framing: {}",
                ctx()
            );
        }
        BodyFraming::None => {
            assert_eq!(
                (cl, te_n),
                (0, 0),
                "no framing but CL/TE present: {}",
                ctx()
            )
        }
    }

    // Expect and persistence.
    for (n, v) in h.header_pairs() {
        if n.eq_ignore_ascii_case(b"expect") {
            assert!(
                v.eq_ignore_ascii_case(b"100-continue"),
                "Expect value: {}",
                ctx()
            );
        }
    }
    if h.expect_continue {
        assert!(
            h.version == Version::Http11 && count(h, "expect") >= 1,
            "{}",
            ctx()
        );
    }
    let conn_tokens = || {
        h.header_pairs()
            .filter(|(n, _)| n.eq_ignore_ascii_case(b"connection"))
            .flat_map(|(_, v)| tokens(v))
            .collect::<Vec<_>>()
    };
    if h.keep_alive {
        let toks = conn_tokens();
        assert!(
            !toks.iter().any(|t| t.eq_ignore_ascii_case(b"close")),
            "{}",
            ctx()
        );
        if h.version == Version::Http10 {
            assert!(
                toks.iter().any(|t| t.eq_ignore_ascii_case(b"keep-alive")),
                "{}",
                ctx()
            );
        }
    }

    // Helpers the WSGI layer calls must cope with every accepted head.
    let (path, _query) = h.path_and_query();
    assert!(!path.is_empty(), "empty path: {}", ctx());
    let _ = h.target_authority();
}

/// Serialise the parsed head canonically and parse it again.
fn roundtrip(h: &RequestHead, lim: &Limits) {
    let raw = &h.raw[..];
    let te = h.target.end as usize;
    let mut s = raw[..te + 9].to_vec();
    s.extend_from_slice(b"\r\n");
    for (n, v) in h.header_pairs() {
        s.extend_from_slice(n);
        s.push(b':');
        s.extend_from_slice(v);
        s.extend_from_slice(b"\r\n");
    }
    s.extend_from_slice(b"\r\n");
    let r = parse_both(&s, lim);
    let (h2, c2) = match r {
        Ok(Some(x)) => x,
        other => panic!(
            "re-serialised head not accepted: {} for {} (original {})",
            brief(&other),
            show(&s),
            show(raw)
        ),
    };
    let ctx = || format!("re-serialised {} from {}", show(&s), show(raw));
    assert_eq!(c2, s.len(), "{}", ctx());
    assert_eq!(h2.method(), h.method(), "{}", ctx());
    assert_eq!(h2.target(), h.target(), "{}", ctx());
    assert_eq!(h2.version, h.version, "{}", ctx());
    assert!(
        h2.header_pairs().eq(h.header_pairs()),
        "fields differ: {}",
        ctx()
    );
    assert_eq!(h2.framing, h.framing, "{}", ctx());
    assert_eq!(h2.expect_continue, h.expect_continue, "{}", ctx());
    if !lim.tolerate_dangerous_framing {
        assert_eq!(h2.keep_alive, h.keep_alive, "{}", ctx());
    }
}
