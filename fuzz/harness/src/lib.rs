//! Fuzz harnesses for ferricorn's pure byte code, as plain functions.
//!
//! Each harness takes arbitrary bytes, decodes settings and data from them,
//! drives the code under test and panics when an invariant does not hold.
//! libFuzzer calls them through `fuzz/fuzz_targets/*.rs` (nightly,
//! `cargo fuzz`); `src/bin/replay.rs` calls the very same functions on stable
//! for the seed corpus plus pseudo-random mutations of it, so the checks run
//! in CI even where no nightly toolchain exists.
//!
//! Input layouts are documented on each harness; `fuzz/make_seeds.py` writes
//! the committed seed files in those layouts.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod access;
mod chunked;
mod head;

pub use access::access_log;
pub use chunked::chunked_body;
pub use head::http_head;

/// A harness: takes any bytes, panics when an invariant fails.
pub type Harness = fn(&[u8]);

/// Every target: (name, harness). Names match `fuzz/fuzz_targets/<name>.rs`
/// and `fuzz/corpus/<name>/`.
pub const TARGETS: &[(&str, Harness)] = &[
    ("http_head", http_head),
    ("chunked_body", chunked_body),
    ("access_log", access_log),
];

/// Tokens worth splicing into random inputs (the replay's mutator; libFuzzer
/// gets the same list from `fuzz/http.dict`).
pub const TOKENS: &[&[u8]] = &[
    b"\r\n",
    b"\r\n\r\n",
    b"\n",
    b"\r",
    b" ",
    b"\t",
    b":",
    b";",
    b"=",
    b"\"",
    b"\\",
    b",",
    b"GET",
    b"POST",
    b"CONNECT",
    b"OPTIONS",
    b"HTTP/1.1",
    b"HTTP/1.0",
    b"HTTP/2.0",
    b"Host: ",
    b"Content-Length: ",
    b"Transfer-Encoding: ",
    b"chunked",
    b"gzip",
    b"identity",
    b"Connection: ",
    b"close",
    b"keep-alive",
    b"Expect: ",
    b"100-continue",
    b"http://",
    b"[::1]",
    b"0\r\n\r\n",
    b"ffffffffffffffff",
    b"%(",
    b")s",
    b"%%",
    b"%({",
    b"}i)s",
    b"}o)s",
    b"%(h)s",
    b"%(r)s",
    b"%(t)s",
    b"\x00",
    b"\x7f",
    b"\xff",
];

/// Reads settings and slices off the front of a fuzz input. Running out of
/// bytes yields zeros / empty slices, so every input is usable.
pub(crate) struct Reader<'a> {
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Reader { data }
    }

    pub(crate) fn u8(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    pub(crate) fn u16(&mut self) -> u16 {
        u16::from(self.u8()) | (u16::from(self.u8()) << 8)
    }

    pub(crate) fn u64(&mut self) -> u64 {
        let mut v = 0u64;
        for i in 0..8 {
            v |= u64::from(self.u8()) << (8 * i);
        }
        v
    }

    /// `n` bytes (fewer if the input ends).
    pub(crate) fn take(&mut self, n: usize) -> &'a [u8] {
        let n = n.min(self.data.len());
        let (a, b) = self.data.split_at(n);
        self.data = b;
        a
    }

    /// A length byte, then that many bytes.
    pub(crate) fn slice(&mut self) -> &'a [u8] {
        let n = self.u8() as usize;
        self.take(n)
    }

    pub(crate) fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.data)
    }
}

/// Printable rendering of bytes for assertion messages.
pub(crate) fn show(b: &[u8]) -> String {
    let mut s = String::new();
    for &c in b.iter().take(400) {
        match c {
            b'\r' => s.push_str("\\r"),
            b'\n' => s.push_str("\\n"),
            b'\t' => s.push_str("\\t"),
            b'\\' => s.push_str("\\\\"),
            0x20..=0x7e => s.push(c as char),
            _ => s.push_str(&format!("\\x{c:02x}")),
        }
    }
    if b.len() > 400 {
        s.push_str(&format!("...({} bytes)", b.len()));
    }
    s
}

/// FNV-1a, to derive deterministic "random" choices from the input itself.
pub(crate) fn hash(b: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &c in b {
        h ^= u64::from(c);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}
