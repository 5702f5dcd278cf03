//! `access_log`: the access-log formatter (`AccessFormat::compile` and
//! `AccessFormat::render` in src/logging.rs).
//!
//! Input layout: `[mode] ...`, by `mode % 3`:
//! * 0 — arbitrary: a format string and a record made of arbitrary bytes
//!   (length-prefixed slices: format, remote address, method, target, path,
//!   query, version, then status u16, bytes u64, elapsed ns u64, then up to 7
//!   request and 7 response headers). Must not panic; a format without
//!   `%(` renders as itself with `%%` → `%`; rendering twice is identical
//!   (when no time atom is involved).
//! * 1 — atoms: a sequence of pieces, each either a known atom (by index)
//!   or literal text without `%`, and a record as in mode 0. Checks each
//!   atom's value against the record (`%(h)s` is the remote address,
//!   `%({x}i)s` the first matching request header or `-`, ...) and that
//!   rendering the concatenated format equals concatenating the renderings.
//! * 2 — the server's contract: the record is built from a request head
//!   that `parse_head` accepted (exactly as worker/conn.rs builds it), with
//!   response headers that pass start_response's validation, a realistic
//!   remote address, and a format string free of control characters. The
//!   line (before the `\n` the logger appends) must then contain no CR, LF
//!   or other control character except HTAB — one request, one line.
//!   ferricorn documents that values are written as received (no
//!   escaping), so this relies on the parser and start_response refusing
//!   control characters.

use std::time::Duration;

use _ferricorn::http::{parse_head, Limits, Version};
use _ferricorn::logging::{AccessFormat, AccessRecord};

use crate::{show, Reader};

/// The record's owned parts.
struct Fields {
    remote: String,
    method: Vec<u8>,
    target: Vec<u8>,
    path: Vec<u8>,
    query: Vec<u8>,
    version: String,
    status: u16,
    bytes: u64,
    elapsed: Duration,
    req: Vec<(Vec<u8>, Vec<u8>)>,
    resp: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Fields {
    fn arbitrary(r: &mut Reader<'_>) -> Fields {
        let mut f = Fields {
            remote: String::from_utf8_lossy(r.slice()).into_owned(),
            method: r.slice().to_vec(),
            target: r.slice().to_vec(),
            path: r.slice().to_vec(),
            query: r.slice().to_vec(),
            version: String::from_utf8_lossy(r.slice()).into_owned(),
            status: r.u16(),
            bytes: r.u64(),
            elapsed: Duration::from_nanos(r.u64()),
            req: Vec::new(),
            resp: Vec::new(),
        };
        for _ in 0..(r.u8() % 8) {
            f.req.push((r.slice().to_vec(), r.slice().to_vec()));
        }
        for _ in 0..(r.u8() % 8) {
            f.resp.push((r.slice().to_vec(), r.slice().to_vec()));
        }
        f
    }

    fn render(&self, fmt: &AccessFormat) -> Vec<u8> {
        let req: Vec<(&[u8], &[u8])> = self
            .req
            .iter()
            .map(|(n, v)| (n.as_slice(), v.as_slice()))
            .collect();
        let rec = AccessRecord {
            remote_addr: &self.remote,
            method: &self.method,
            target: &self.target,
            path: &self.path,
            query: &self.query,
            version: &self.version,
            status: self.status,
            response_bytes: self.bytes,
            request_headers: &req,
            response_headers: &self.resp,
            environ: &[],
            elapsed: self.elapsed,
        };
        let mut out = Vec::new();
        fmt.render(&rec, &mut out);
        out
    }

    fn req_header(&self, name: &[u8]) -> Vec<u8> {
        self.req
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map_or(b"-".to_vec(), |(_, v)| v.clone())
    }

    fn resp_header(&self, name: &[u8]) -> Vec<u8> {
        self.resp
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map_or(b"-".to_vec(), |(_, v)| v.clone())
    }
}

/// The harness (see the module documentation).
pub fn access_log(data: &[u8]) {
    let mut r = Reader::new(data);
    match r.u8() % 3 {
        0 => arbitrary(&mut r),
        1 => atoms(&mut r),
        _ => contract(&mut r),
    }
}

fn has_time_atom(fmt: &str) -> bool {
    fmt.contains("(t)s")
}

fn arbitrary(r: &mut Reader<'_>) {
    let fmt = String::from_utf8_lossy(r.slice()).into_owned();
    let f = Fields::arbitrary(r);
    let compiled = AccessFormat::compile(&fmt);
    let out = f.render(&compiled);
    if !fmt.contains("%(") {
        let want = fmt.replace("%%", "%");
        assert!(
            out == want.as_bytes(),
            "format without atoms {:?} rendered as {}",
            fmt,
            show(&out)
        );
    }
    if !has_time_atom(&fmt) {
        assert_eq!(out, f.render(&compiled), "rendering is not deterministic");
    }
}

/// Atoms with a value computable from the record (no time, no pid).
const ATOMS: &[&str] = &[
    "h",
    "l",
    "u",
    "r",
    "m",
    "U",
    "q",
    "H",
    "s",
    "B",
    "b",
    "f",
    "a",
    "T",
    "D",
    "M",
    "L",
    "{user-agent}i",
    "{X-Id}i",
    "{x-id}i",
    "{content-type}o",
    "{X-Id}o",
    "{x}e",
    "zz",
    "",
];

/// Gunicorn's SafeAtoms: `"` in a text atom is written as `\"`.
fn esc(v: Vec<u8>) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len());
    for c in v {
        if c == b'"' {
            out.push(b'\\');
        }
        out.push(c);
    }
    out
}

fn expected(a: &str, f: &Fields) -> Vec<u8> {
    let num = |n: u128| n.to_string().into_bytes();
    let text = matches!(a, "h" | "u" | "r" | "m" | "U" | "q" | "f" | "a") || a.starts_with('{');
    let v = expected_raw(a, f, num);
    if text {
        esc(v)
    } else {
        v
    }
}

fn expected_raw(a: &str, f: &Fields, num: impl Fn(u128) -> Vec<u8>) -> Vec<u8> {
    match a {
        "h" => f.remote.as_bytes().to_vec(),
        "l" => b"-".to_vec(),
        "u" => basic_user(f),
        "r" => [&f.method[..], b" ", &f.target, b" ", f.version.as_bytes()].concat(),
        "m" => f.method.clone(),
        "U" => f.path.clone(),
        "q" => f.query.clone(),
        "H" => f.version.as_bytes().to_vec(),
        "s" => num(f.status.into()),
        "B" => num(f.bytes.into()),
        "b" if f.bytes == 0 => b"-".to_vec(),
        "b" => num(f.bytes.into()),
        "f" => f.req_header(b"referer"),
        "a" => f.req_header(b"user-agent"),
        "T" => num(f.elapsed.as_secs().into()),
        "D" => num(u128::from(f.elapsed.as_micros() as u64)),
        "M" => num(u128::from(f.elapsed.as_millis() as u64)),
        "L" => format!("{:.6}", f.elapsed.as_secs_f64()).into_bytes(),
        _ => {
            if let Some(h) = a.strip_prefix('{').and_then(|x| x.strip_suffix("}i")) {
                f.req_header(h.as_bytes())
            } else if let Some(h) = a.strip_prefix('{').and_then(|x| x.strip_suffix("}o")) {
                f.resp_header(h.as_bytes())
            } else {
                b"-".to_vec()
            }
        }
    }
}

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// `%(u)s`: the user of `Authorization: Basic base64(user:password)`, its
/// control characters shown as '?', or '-' (any other scheme, bad base64 —
/// '=' only as up to two trailing pad characters —, or an empty user).
/// Written independently of src/logging.rs: bits in, whole bytes out.
fn basic_user(f: &Fields) -> Vec<u8> {
    let dash = b"-".to_vec();
    let Some((_, v)) = f
        .req
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(b"authorization"))
    else {
        return dash;
    };
    let v = v.trim_ascii();
    let Some(sp) = v.iter().position(|&c| c == b' ') else {
        return dash;
    };
    if !v[..sp].eq_ignore_ascii_case(b"basic") {
        return dash;
    }
    let s = v[sp..].trim_ascii();
    let pad = s.iter().rev().take_while(|&&c| c == b'=').count();
    let s = &s[..s.len() - pad];
    if pad > 2 || s.contains(&b'=') {
        return dash;
    }
    let mut bits: Vec<bool> = Vec::with_capacity(s.len() * 6);
    for c in s {
        let Some(v) = BASE64.iter().position(|a| a == c) else {
            return dash;
        };
        bits.extend((0..6).rev().map(|i| v >> i & 1 == 1));
    }
    let decoded: Vec<u8> = bits
        .chunks_exact(8)
        .map(|byte| byte.iter().fold(0u8, |acc, &b| acc << 1 | u8::from(b)))
        .collect();
    let user = decoded.split(|&c| c == b':').next().unwrap_or_default();
    if user.is_empty() {
        return dash;
    }
    user.iter()
        .map(|&c| if c < 0x20 || c == 0x7f { b'?' } else { c })
        .collect()
}

fn atoms(r: &mut Reader<'_>) {
    let n = r.u8() % 12;
    let mut pieces: Vec<(String, Option<&str>)> = Vec::new();
    for _ in 0..n {
        let k = r.u8();
        if (k as usize) < ATOMS.len() * 2 {
            let a = ATOMS[k as usize % ATOMS.len()];
            pieces.push((format!("%({a})s"), Some(a)));
        } else {
            // Literal text; '%' is written as "%%" and must render as one '%'.
            let lit: String = String::from_utf8_lossy(r.slice()).replace('%', "%%");
            pieces.push((lit, None));
        }
    }
    let f = Fields::arbitrary(r);
    let whole_fmt: String = pieces.iter().map(|(p, _)| p.as_str()).collect();
    let whole = f.render(&AccessFormat::compile(&whole_fmt));
    let mut concat = Vec::new();
    for (p, atom) in &pieces {
        let out = f.render(&AccessFormat::compile(p));
        match atom {
            Some(a) => assert!(
                out == expected(a, &f),
                "atom %({a})s rendered {} expected {}",
                show(&out),
                show(&expected(a, &f))
            ),
            None => assert!(
                out == p.replace("%%", "%").as_bytes(),
                "literal {p:?} rendered {}",
                show(&out)
            ),
        }
        concat.extend_from_slice(&out);
    }
    assert!(
        whole == concat,
        "format {whole_fmt:?} rendered {} but its pieces give {}",
        show(&whole),
        show(&concat)
    );
}

/// start_response's header checks (src/wsgi/responder.rs).
fn response_header_ok(n: &[u8], v: &[u8]) -> bool {
    !n.is_empty()
        && n.iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
        && !v.iter().any(|&c| (c < 0x20 && c != b'\t') || c == 0x7f)
}

const REMOTES: [&str; 4] = ["127.0.0.1", "::1", "203.0.113.9", ""];

fn contract(r: &mut Reader<'_>) {
    let fmt: String = String::from_utf8_lossy(r.slice())
        .chars()
        .filter(|c| !c.is_control())
        .collect();
    let remote = REMOTES[(r.u8() % 4) as usize];
    let status = r.u16();
    let bytes = r.u64();
    let elapsed = Duration::from_nanos(r.u64());
    let mut resp = Vec::new();
    for _ in 0..(r.u8() % 8) {
        let (n, v) = (r.slice().to_vec(), r.slice().to_vec());
        if response_header_ok(&n, &v) {
            resp.push((n, v));
        }
    }
    let flags = r.u8();
    let lim = Limits {
        permit_obs_fold: flags & 1 != 0,
        permit_unconventional_http_method: flags & 2 != 0,
        casefold_http_method: flags & 4 != 0,
        tolerate_dangerous_framing: flags & 8 != 0,
        ..Limits::default()
    };
    let wire = r.rest();
    let Ok(Some((head, _))) = parse_head(wire, &lim) else {
        return;
    };
    // As worker/conn.rs (AccessHead::of) builds the record.
    let (path, query) = head.path_and_query();
    let f = Fields {
        remote: remote.to_string(),
        method: head.method().to_vec(),
        target: head.target().to_vec(),
        path: path.to_vec(),
        query: query.to_vec(),
        version: match head.version {
            Version::Http10 => "HTTP/1.0",
            Version::Http11 => "HTTP/1.1",
        }
        .to_string(),
        status,
        bytes,
        elapsed,
        req: head
            .header_pairs()
            .map(|(n, v)| (n.to_vec(), v.to_vec()))
            .collect(),
        resp,
    };
    let out = f.render(&AccessFormat::compile(&fmt));
    assert!(
        !out.iter().any(|&c| (c < 0x20 && c != b'\t') || c == 0x7f),
        "access-log line has a control character: {} (format {fmt:?}, request {})",
        show(&out),
        show(wire)
    );
}
