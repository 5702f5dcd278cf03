//! Request-body framing: the incremental, zero-copy decoder for
//! `Transfer-Encoding: chunked` (RFC 9112 §7.1).
//!
//! Owns: the chunked state machine. It is fed whatever bytes have arrived
//! (down to one byte at a time), reports which input range is body data,
//! and never consumes a byte past the final CRLF of the message, so
//! pipelined requests are left for the head parser.
//!
//! Must never: copy or buffer body data (it only returns ranges of the
//! caller's input), allocate, do I/O, touch Python, or panic on any input.
//! Chunk-size lines, extensions and trailers are validated byte by byte and
//! discarded; their sizes are bounded so a client cannot make us scan
//! forever without producing body bytes.

use std::ops::Range;

use super::request::is_tchar;
use super::HttpError;

/// Result of one [`ChunkedDecoder::decode`] call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// Input bytes consumed by this call (always a prefix of the input).
    pub consumed: usize,
    /// Body data found in this call, as a range of the input (within
    /// `..consumed`). At most one range per call.
    pub data: Option<Range<usize>>,
    /// The last chunk, trailers and final CRLF have been consumed.
    pub done: bool,
}

/// Longest trailer field name we need to recognise ("transfer-encoding").
const NAME_BUF: usize = 17;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading hex digits of a chunk size; `digits` seen so far.
    Size {
        digits: u32,
    },
    /// After the size: BWS, allowed only when an extension follows.
    SizeWs,
    /// After ';': BWS then an extension name.
    ExtPreName,
    ExtName,
    /// After an extension name: BWS, then '=', ';' or CR.
    ExtPostName,
    /// After '=': BWS then a token or quoted-string.
    ExtPreValue,
    ExtValueToken,
    ExtValueQuoted,
    ExtValueQuotedEscape,
    /// After a complete value: BWS, then ';' or CR.
    ExtPostValue,
    /// CR seen at the end of the size line.
    SizeLf,
    /// Inside chunk data; `remaining` bytes to go.
    Data {
        remaining: u64,
    },
    /// After chunk data: CR then LF required.
    DataCr,
    DataLf,
    /// Start of a trailer line (or the final CRLF).
    TrailerStart,
    TrailerName,
    TrailerValue,
    TrailerLf,
    /// CR of the final empty line seen.
    FinalLf,
    Done,
    Failed(HttpError),
}

/// Incremental chunked-body decoder.
#[derive(Debug, Clone)]
pub struct ChunkedDecoder {
    state: State,
    size: u64,
    /// Bytes of the current chunk-size line (digits + extensions).
    line_len: usize,
    max_chunk_ext: usize,
    /// Bytes of the trailer section so far (including the final CRLF).
    trailers_len: usize,
    max_trailers_size: usize,
    /// Lowercased prefix of the current trailer name, for the deny list.
    name: [u8; NAME_BUF],
    name_len: usize,
}

impl ChunkedDecoder {
    /// `max_chunk_ext`: bound on one chunk-size line's extensions (e.g. 4096);
    /// `max_trailers_size`: bound on the whole trailer section (e.g. 8190).
    pub fn new(max_chunk_ext: usize, max_trailers_size: usize) -> Self {
        ChunkedDecoder {
            state: State::Size { digits: 0 },
            size: 0,
            line_len: 0,
            max_chunk_ext,
            trailers_len: 0,
            max_trailers_size,
            name: [0; NAME_BUF],
            name_len: 0,
        }
    }

    /// True once the whole chunked body, trailers included, has been consumed.
    #[inline]
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Decode from `input`; see [`Decoded`]. Once an error is returned the
    /// decoder stays failed and returns the same error again.
    pub fn decode(&mut self, input: &[u8]) -> Result<Decoded, HttpError> {
        let mut pos = 0usize;
        let mut data: Option<Range<usize>> = None;
        while pos < input.len() {
            match self.state {
                State::Done => break,
                State::Failed(e) => return Err(e),
                State::Data { remaining } => {
                    if data.is_some() {
                        // One range per call: let the caller come back.
                        break;
                    }
                    let avail = input.len() - pos;
                    let take = if remaining < avail as u64 {
                        remaining as usize
                    } else {
                        avail
                    };
                    data = Some(pos..pos + take);
                    pos += take;
                    let left = remaining - take as u64;
                    self.state = if left == 0 {
                        State::DataCr
                    } else {
                        State::Data { remaining: left }
                    };
                }
                _ => {
                    let b = input.get(pos).copied().unwrap_or(0);
                    pos += 1;
                    if let Err(e) = self.step(b) {
                        self.state = State::Failed(e);
                        return Err(e);
                    }
                }
            }
        }
        if let State::Failed(e) = self.state {
            return Err(e);
        }
        Ok(Decoded {
            consumed: pos,
            data,
            done: self.state == State::Done,
        })
    }

    /// One byte of framing (never called in `Data`, `Done` or `Failed`).
    fn step(&mut self, b: u8) -> Result<(), HttpError> {
        const E_SIZE: HttpError = HttpError::bad_request("invalid chunk size");
        const E_EXT: HttpError = HttpError::bad_request("invalid chunk extension");
        const E_CRLF: HttpError = HttpError::bad_request("chunk data not followed by CRLF");
        const E_TRAILER: HttpError = HttpError::bad_request("invalid trailer field");

        if self.in_size_line() {
            self.line_len += 1;
            // Digits (leading zeros included) and extensions share one bound.
            if self.line_len > self.max_chunk_ext.saturating_add(32) {
                return Err(HttpError::bad_request("chunk size line too long"));
            }
        } else if self.in_trailers() {
            self.trailers_len += 1;
            if self.trailers_len > self.max_trailers_size {
                return Err(HttpError::new(431, "chunked trailers too large"));
            }
        }

        self.state = match self.state {
            State::Size { digits } => match hex_value(b) {
                Some(v) => {
                    if self.size > (u64::MAX >> 4) {
                        return Err(HttpError::bad_request("chunk size overflows"));
                    }
                    self.size = (self.size << 4) | u64::from(v);
                    State::Size {
                        digits: digits.saturating_add(1),
                    }
                }
                None if digits == 0 => return Err(E_SIZE),
                None => match b {
                    b';' => State::ExtPreName,
                    b' ' | b'\t' => State::SizeWs,
                    b'\r' => State::SizeLf,
                    _ => return Err(E_SIZE),
                },
            },
            // BWS after the size is only legal before an extension:
            // "0 \r\n" is refused (gunicorn corpus), "0 ;a\r\n" accepted.
            State::SizeWs => match b {
                b' ' | b'\t' => State::SizeWs,
                b';' => State::ExtPreName,
                _ => return Err(E_SIZE),
            },
            State::ExtPreName => match b {
                b' ' | b'\t' => State::ExtPreName,
                _ if is_tchar(b) => State::ExtName,
                _ => return Err(E_EXT),
            },
            State::ExtName => match b {
                _ if is_tchar(b) => State::ExtName,
                b' ' | b'\t' => State::ExtPostName,
                b'=' => State::ExtPreValue,
                b';' => State::ExtPreName,
                b'\r' => State::SizeLf,
                _ => return Err(E_EXT),
            },
            State::ExtPostName => match b {
                b' ' | b'\t' => State::ExtPostName,
                b'=' => State::ExtPreValue,
                b';' => State::ExtPreName,
                _ => return Err(E_EXT),
            },
            State::ExtPreValue => match b {
                b' ' | b'\t' => State::ExtPreValue,
                b'"' => State::ExtValueQuoted,
                _ if is_tchar(b) => State::ExtValueToken,
                _ => return Err(E_EXT),
            },
            State::ExtValueToken => match b {
                _ if is_tchar(b) => State::ExtValueToken,
                b' ' | b'\t' => State::ExtPostValue,
                b';' => State::ExtPreName,
                b'\r' => State::SizeLf,
                _ => return Err(E_EXT),
            },
            // qdtext = HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text
            State::ExtValueQuoted => match b {
                b'"' => State::ExtPostValue,
                b'\\' => State::ExtValueQuotedEscape,
                b'\t' | b' '..=0x7e | 0x80..=0xff => State::ExtValueQuoted,
                _ => return Err(E_EXT),
            },
            // quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text )
            State::ExtValueQuotedEscape => match b {
                b'\t' | b' '..=0x7e | 0x80..=0xff => State::ExtValueQuoted,
                _ => return Err(E_EXT),
            },
            State::ExtPostValue => match b {
                b' ' | b'\t' => State::ExtPostValue,
                b';' => State::ExtPreName,
                b'\r' => State::SizeLf,
                _ => return Err(E_EXT),
            },
            State::SizeLf => {
                if b != b'\n' {
                    return Err(E_SIZE);
                }
                self.line_len = 0;
                let size = self.size;
                self.size = 0;
                if size == 0 {
                    State::TrailerStart
                } else {
                    State::Data { remaining: size }
                }
            }
            State::DataCr => match b {
                b'\r' => State::DataLf,
                _ => return Err(E_CRLF),
            },
            State::DataLf => match b {
                b'\n' => State::Size { digits: 0 },
                _ => return Err(E_CRLF),
            },
            State::TrailerStart => match b {
                b'\r' => State::FinalLf,
                _ if is_tchar(b) => {
                    self.name_len = 0;
                    self.push_name(b);
                    State::TrailerName
                }
                // Includes obs-fold (SP/HTAB), never accepted in trailers.
                _ => return Err(E_TRAILER),
            },
            State::TrailerName => match b {
                _ if is_tchar(b) => {
                    self.push_name(b);
                    State::TrailerName
                }
                b':' => {
                    if self.forbidden_trailer() {
                        return Err(HttpError::bad_request("forbidden trailer field"));
                    }
                    State::TrailerValue
                }
                // Whitespace before ':' and everything else.
                _ => return Err(E_TRAILER),
            },
            State::TrailerValue => match b {
                b'\t' | b' '..=0x7e | 0x80..=0xff => State::TrailerValue,
                b'\r' => State::TrailerLf,
                _ => return Err(E_TRAILER),
            },
            State::TrailerLf => match b {
                b'\n' => State::TrailerStart,
                _ => return Err(E_TRAILER),
            },
            State::FinalLf => match b {
                b'\n' => State::Done,
                _ => return Err(HttpError::bad_request("chunked body missing final CRLF")),
            },
            // Not reached: decode() handles these without calling step().
            State::Data { .. } | State::Done | State::Failed(_) => self.state,
        };
        Ok(())
    }

    #[inline]
    fn in_size_line(&self) -> bool {
        matches!(
            self.state,
            State::Size { .. }
                | State::SizeWs
                | State::ExtPreName
                | State::ExtName
                | State::ExtPostName
                | State::ExtPreValue
                | State::ExtValueToken
                | State::ExtValueQuoted
                | State::ExtValueQuotedEscape
                | State::ExtPostValue
        )
    }

    #[inline]
    fn in_trailers(&self) -> bool {
        matches!(
            self.state,
            State::TrailerStart
                | State::TrailerName
                | State::TrailerValue
                | State::TrailerLf
                | State::FinalLf
        )
    }

    #[inline]
    fn push_name(&mut self, b: u8) {
        // Names longer than NAME_BUF cannot be on the deny list; remember
        // only that they are long.
        if let Some(slot) = self.name.get_mut(self.name_len) {
            *slot = b.to_ascii_lowercase();
        }
        self.name_len = self.name_len.saturating_add(1);
    }

    /// RFC 9110 §6.5.1: fields that frame the message, route it or
    /// authenticate it must not arrive as trailers (gunicorn's list).
    fn forbidden_trailer(&self) -> bool {
        let name = match self.name.get(..self.name_len) {
            Some(n) => n,
            None => return false,
        };
        matches!(
            name,
            b"host"
                | b"content-length"
                | b"transfer-encoding"
                | b"trailer"
                | b"authorization"
                | b"te"
        )
    }
}

#[inline]
fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn dec() -> ChunkedDecoder {
        ChunkedDecoder::new(4096, 8190)
    }

    /// Feeds `input` in pieces of `step` bytes (re-offering unconsumed
    /// bytes, as a real caller would). Returns (body, consumed, done).
    fn run(input: &[u8], step: usize) -> Result<(Vec<u8>, usize, bool), HttpError> {
        let mut d = dec();
        let mut body = Vec::new();
        let mut start = 0; // first byte not yet consumed
        let mut avail = 0; // bytes delivered so far
        loop {
            avail = (avail + step).min(input.len());
            // Drain what is available.
            loop {
                let chunk = &input[start..avail];
                let r = d.decode(chunk)?;
                assert!(r.consumed <= chunk.len());
                if let Some(rg) = &r.data {
                    assert!(rg.end <= r.consumed && rg.start <= rg.end);
                    body.extend_from_slice(&chunk[rg.clone()]);
                }
                start += r.consumed;
                assert_eq!(r.done, d.is_done());
                if r.done {
                    return Ok((body, start, true));
                }
                if r.consumed == 0 || start == avail {
                    break;
                }
            }
            if avail == input.len() {
                return Ok((body, start, d.is_done()));
            }
        }
    }

    fn ok_all(input: &[u8], body: &[u8], consumed: usize) {
        for step in [input.len().max(1), 1, 2, 3, 7] {
            let (b, c, done) = run(input, step).unwrap_or_else(|e| panic!("step {step}: {e:?}"));
            assert!(done, "step {step}");
            assert_eq!(b, body, "step {step}");
            assert_eq!(c, consumed, "step {step}");
        }
    }

    fn bad(input: &[u8]) -> u16 {
        let whole = run(input, input.len().max(1)).err().map(|e| e.status);
        let bytewise = run(input, 1).err().map(|e| e.status);
        assert_eq!(whole, bytewise, "{:?}", String::from_utf8_lossy(input));
        whole.unwrap_or_else(|| panic!("accepted {:?}", String::from_utf8_lossy(input)))
    }

    #[test]
    fn simple_body() {
        let i = b"1e\r\nall your base are belong to us\r\n0\r\n\r\n";
        ok_all(i, b"all your base are belong to us", i.len());
    }

    #[test]
    fn two_chunks_and_trailers_gunicorn_012() {
        let i = b"5\r\nhello\r\n6\r\n world\r\n0\r\nVary: *\r\nContent-Type: text/plain\r\n\r\n";
        ok_all(i, b"hello world", i.len());
    }

    #[test]
    fn extensions_gunicorn_013() {
        let i = b"5; ihatew3;whatthefuckaretheseparametersfor\r\nhello\r\n6; blahblah; blah\r\n world\r\n0\r\n\r\n";
        ok_all(i, b"hello world", i.len());
        let i = b"5;name=\"quoted; \\\"value\\\"\" ;b=tok\r\nhello\r\n0 ; last\r\n\r\n";
        ok_all(i, b"hello", i.len());
        let i = b"5 ;a = b\r\nhello\r\n0\r\n\r\n";
        ok_all(i, b"hello", i.len());
    }

    #[test]
    fn leading_zeros_uppercase_hex_and_000_terminator() {
        let i = b"0005\r\nhello\r\nA\r\n0123456789\r\n000\r\n\r\n";
        ok_all(i, b"hello0123456789", i.len());
        let i = b"a\r\n0123456789\r\n0\r\n\r\n";
        ok_all(i, b"0123456789", i.len());
    }

    #[test]
    fn empty_body() {
        ok_all(b"0\r\n\r\n", b"", 5);
    }

    #[test]
    fn stops_at_final_crlf_pipelined() {
        let mut i = b"3\r\nabc\r\n0\r\n\r\n".to_vec();
        let n = i.len();
        i.extend_from_slice(b"GET / HTTP/1.1\r\n\r\n");
        ok_all(&i, b"abc", n);
        let mut d = dec();
        let r = d.decode(&i).unwrap();
        assert_eq!(
            r,
            Decoded {
                consumed: n,
                data: Some(3..6),
                done: true
            }
        );
        // After done, nothing more is consumed.
        let r = d.decode(b"more").unwrap();
        assert_eq!(
            r,
            Decoded {
                consumed: 0,
                data: None,
                done: true
            }
        );
    }

    #[test]
    fn one_range_per_call() {
        let i = b"3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n";
        let mut d = dec();
        let r = d.decode(i).unwrap();
        assert_eq!(r.data, Some(3..6));
        assert_eq!(r.consumed, 11);
        assert!(!r.done);
        let r = d.decode(&i[11..]).unwrap();
        assert_eq!(r.data, Some(0..3));
        assert!(r.done);
        assert_eq!(11 + r.consumed, i.len());
    }

    #[test]
    fn large_chunk_split_and_empty_input() {
        let mut d = dec();
        assert_eq!(
            d.decode(b"").unwrap(),
            Decoded {
                consumed: 0,
                data: None,
                done: false
            }
        );
        assert_eq!(d.decode(b"ffffffffffffffff\r\n").unwrap().consumed, 18); // u64::MAX is a valid size
        let r = d.decode(&[b'x'; 100]).unwrap();
        assert_eq!(
            r,
            Decoded {
                consumed: 100,
                data: Some(0..100),
                done: false
            }
        );
    }

    #[test]
    fn invalid_sizes_gunicorn_corpus() {
        for i in [
            &b"6_0\r\nhello!\r\n0\r\n\r\n"[..],
            b"5\r\nhello\r\n0 \r\n\r\n",
            b" 5\r\nhello\r\n0\r\n\r\n",
            b"5\n;\r\nhello\r\n0\r\n\r\n",
            b"5\nhello\r\n0\r\n\r\n",
            b";ext\r\nhello\r\n0\r\n\r\n",
            b"\r\nhello\r\n0\r\n\r\n",
            b"-5\r\nhello\r\n0\r\n\r\n",
            b"+5\r\nhello\r\n0\r\n\r\n",
            b"0x5\r\nhello\r\n0\r\n\r\n",
            b"5 \r\nhello\r\n0\r\n\r\n",
            b"g\r\n",
            b"10000000000000000\r\n",
        ] {
            assert_eq!(bad(i), 400, "{:?}", String::from_utf8_lossy(i));
        }
    }

    #[test]
    fn invalid_extensions() {
        for i in [
            &b"5;a\rb\r\nhello\r\n0\r\n\r\n"[..], // bare CR in extension (gunicorn)
            b"5;a\nb\r\nhello\r\n0\r\n\r\n",
            b"5;\r\nhello\r\n0\r\n\r\n",
            b"5;=x\r\nhello\r\n0\r\n\r\n",
            b"5;a=\r\nhello\r\n0\r\n\r\n",
            b"5;a=\"unterminated\r\nhello\r\n0\r\n\r\n",
            b"5;a=\"x\0y\"\r\nhello\r\n0\r\n\r\n",
            b"5;a=b c\r\nhello\r\n0\r\n\r\n",
            b"5;a@b\r\nhello\r\n0\r\n\r\n",
        ] {
            assert_eq!(bad(i), 400, "{:?}", String::from_utf8_lossy(i));
        }
        // Bounded extension length.
        let mut i = b"5;a=".to_vec();
        i.extend(std::iter::repeat(b'x').take(5000));
        i.extend_from_slice(b"\r\nhello\r\n0\r\n\r\n");
        assert_eq!(bad(&i), 400);
        // Endless leading zeros are bounded by the same limit.
        let mut i = vec![b'0'; 5000];
        i.extend_from_slice(b"5\r\nhello\r\n0\r\n\r\n");
        assert_eq!(bad(&i), 400);
    }

    #[test]
    fn missing_crlf_after_data_and_final() {
        assert_eq!(bad(b"5\r\nhelloX\r\n0\r\n\r\n"), 400);
        assert_eq!(bad(b"5\r\nhello\rX0\r\n\r\n"), 400);
        assert_eq!(bad(b"5\r\nhello\n0\r\n\r\n"), 400);
        assert_eq!(bad(b"5\r\nhello\r\n0\r\n\rX"), 400);
        assert_eq!(bad(b"0\r\n\n"), 400);
        // Truncated (gunicorn ChunkMissingTerminator) is not an error for
        // the decoder: it just is not done; the caller sees EOF.
        let (_, _, done) = run(b"5\r\nhello\r\n0\r\n", 1).unwrap();
        assert!(!done);
    }

    #[test]
    fn forbidden_and_invalid_trailers() {
        for name in [
            "Content-Length",
            "Host",
            "Transfer-Encoding",
            "trailer",
            "AUTHORIZATION",
            "TE",
        ] {
            let i = format!("5\r\nhello\r\n0\r\n{name}: x\r\n\r\n");
            assert_eq!(bad(i.as_bytes()), 400, "{name}");
        }
        // Similar but allowed names.
        for name in [
            "Hosts",
            "Tes",
            "Content-Lengths",
            "X-Transfer-Encoding-Extra-Long-Name",
        ] {
            let i = format!("5\r\nhello\r\n0\r\n{name}: x\r\n\r\n");
            ok_all(i.as_bytes(), b"hello", i.len());
        }
        for i in [
            &b"0\r\nVary : x\r\n\r\n"[..],
            b"0\r\n folded\r\n\r\n",
            b"0\r\nVary: a\r\n folded\r\n\r\n",
            b"0\r\nVary: a\x07b\r\n\r\n",
            b"0\r\nVary: a\x7fb\r\n\r\n",
            b"0\r\nVary: a\rb\r\n\r\n",
            b"0\r\nVary: a\nb\r\n\r\n",
            b"0\r\nNoColon\r\n\r\n",
            b"0\r\n\x00x: y\r\n\r\n",
        ] {
            assert_eq!(bad(i), 400, "{:?}", String::from_utf8_lossy(i));
        }
        // obs-text and HTAB in trailer values are fine.
        let i = b"0\r\nX-T: a\tb \xe9\r\n\r\n";
        ok_all(i, b"", i.len());
    }

    #[test]
    fn trailer_size_bounded() {
        let mut i = b"0\r\n".to_vec();
        for n in 0..200 {
            i.extend_from_slice(format!("X-{n}: {}\r\n", "v".repeat(50)).as_bytes());
        }
        i.extend_from_slice(b"\r\n");
        assert_eq!(bad(&i), 431);
    }

    #[test]
    fn error_is_sticky() {
        let mut d = dec();
        assert!(d.decode(b"z").is_err());
        assert_eq!(d.decode(b"0\r\n\r\n").err().map(|e| e.status), Some(400));
        assert!(!d.is_done());
    }

    #[test]
    fn no_panic_on_noise() {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let alphabet = b"0123456789abcdefABCDEF;= \t\r\n\"\\xyz:\x00\x7f\xff";
        for _ in 0..3000 {
            let mut d = dec();
            let mut buf = Vec::new();
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = (x % 40) as usize;
            for _ in 0..len {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                buf.push(alphabet[(x % alphabet.len() as u64) as usize]);
            }
            let mut rest = &buf[..];
            while let Ok(r) = d.decode(rest) {
                if r.consumed == 0 {
                    break;
                }
                rest = &rest[r.consumed..];
            }
        }
    }
}
