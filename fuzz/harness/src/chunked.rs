//! `chunked_body`: the incremental chunked-body decoder (`ChunkedDecoder`).
//!
//! Input layout: `[ext] [trailers] [n] n × u16-LE cut points, body-bytes...`
//! * ext bits 0..2: `max_chunk_ext` from [`EXT`]; trailers bits 0..2:
//!   `max_trailers_size` from [`TRAILERS`] (index 0 = the server's values);
//! * n (mod 16) cut points, each taken modulo `len + 1`, split the body into
//!   the pieces in which it "arrives".
//!
//! The body is decoded three ways — all at once, in the pieces the input
//! chose, and (up to 4 KiB) one byte at a time — driven the way the
//! connection drives it (unconsumed bytes are offered again with the next
//! piece). Invariants:
//! * every call: `consumed <= input`, the data range lies within
//!   `..consumed`, `done == is_done()`, a call with input consumes something
//!   unless the body is done (the decoder never stalls), an error is sticky,
//!   a finished decoder consumes nothing more;
//! * the three ways give the same outcome: done or incomplete with the same
//!   body and consumed count, or the same error (a failing call reports no
//!   data, so the body seen before an error may differ);
//! * `body <= consumed <= input`; incomplete means everything was consumed;
//! * done: an independent, non-incremental reading of the consumed bytes
//!   (size lines, data + CRLF, trailer lines, final CRLF) yields the same
//!   body and ends at the same byte, every size line and the trailer section
//!   are within the configured bounds, and no forbidden trailer got through.

use _ferricorn::http::{ChunkedDecoder, HttpError};

use crate::{show, Reader};

const EXT: [usize; 8] = [4096, 0, 1, 8, 64, 65536, usize::MAX, 16];
const TRAILERS: [usize; 8] = [8190, 0, 1, 16, 100, 65536, usize::MAX, 4];

#[derive(Debug, PartialEq, Eq)]
enum End {
    Done,
    Incomplete,
    Failed(HttpError),
}

#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    body: Vec<u8>,
    consumed: usize,
    end: End,
}

/// The harness (see the module documentation).
pub fn chunked_body(data: &[u8]) {
    let mut r = Reader::new(data);
    let max_ext = EXT[(r.u8() & 7) as usize];
    let max_trailers = TRAILERS[(r.u8() & 7) as usize];
    let n = (r.u8() % 16) as usize;
    let raw_cuts: Vec<u16> = (0..n).map(|_| r.u16()).collect();
    let input = r.rest();
    let mut cuts: Vec<usize> = raw_cuts
        .iter()
        .map(|&c| c as usize % (input.len() + 1))
        .collect();
    cuts.sort_unstable();

    // A failed call reports no data range, so how much body came out before
    // an error depends on the pieces; only the error itself must agree.
    let key = |o: Outcome| match o.end {
        End::Failed(_) => Outcome {
            body: Vec::new(),
            consumed: 0,
            end: o.end,
        },
        _ => o,
    };
    let whole = key(drive(input, &[], max_ext, max_trailers));
    let pieces = key(drive(input, &cuts, max_ext, max_trailers));
    assert_eq!(
        whole,
        pieces,
        "split at {cuts:?} decodes differently: {}",
        show(input)
    );
    if input.len() <= 4096 {
        let every: Vec<usize> = (1..input.len()).collect();
        let bytewise = key(drive(input, &every, max_ext, max_trailers));
        assert_eq!(
            whole,
            bytewise,
            "byte-at-a-time decodes differently: {}",
            show(input)
        );
    }

    let o = whole;
    assert!(
        o.body.len() <= o.consumed && o.consumed <= input.len(),
        "body {} consumed {} input {}",
        o.body.len(),
        o.consumed,
        input.len()
    );
    match o.end {
        End::Incomplete => assert_eq!(o.consumed, input.len(), "stalled short of the input"),
        End::Failed(e) => assert!(e.status == 400 || e.status == 431, "unexpected status {e}"),
        End::Done => {
            assert!(
                o.body.len() + 5 <= o.consumed,
                "done in under 5 framing bytes"
            );
            reference(&input[..o.consumed], &o.body, max_ext, max_trailers);
        }
    }
}

/// Feeds `input` to a fresh decoder in pieces ending at `cuts` (sorted), the
/// way the connection does: bytes not consumed yet are offered again,
/// followed by the next piece.
fn drive(input: &[u8], cuts: &[usize], max_ext: usize, max_trailers: usize) -> Outcome {
    let mut dec = ChunkedDecoder::new(max_ext, max_trailers);
    let mut body = Vec::new();
    let mut start = 0; // first byte not consumed yet
    let ends = cuts.iter().copied().chain(std::iter::once(input.len()));
    for avail in ends {
        loop {
            let chunk = &input[start..avail];
            match dec.decode(chunk) {
                Err(e) => {
                    // Sticky: the same error again, whatever comes next.
                    assert_eq!(dec.decode(b"0\r\n\r\n"), Err(e), "error not sticky");
                    assert!(!dec.is_done());
                    return Outcome {
                        body,
                        consumed: start,
                        end: End::Failed(e),
                    };
                }
                Ok(r) => {
                    assert!(r.consumed <= chunk.len(), "consumed past the input");
                    if let Some(rg) = &r.data {
                        assert!(
                            rg.start <= rg.end && rg.end <= r.consumed,
                            "data range {rg:?} outside ..{}",
                            r.consumed
                        );
                        assert!(!rg.is_empty(), "empty data range returned");
                        body.extend_from_slice(&chunk[rg.clone()]);
                    }
                    assert_eq!(r.done, dec.is_done(), "done flag vs is_done()");
                    start += r.consumed;
                    if r.done {
                        let again = dec.decode(b"1\r\nx\r\n");
                        assert!(
                            matches!(&again, Ok(d) if d.consumed == 0 && d.data.is_none() && d.done),
                            "finished decoder took more input: {again:?}"
                        );
                        return Outcome {
                            body,
                            consumed: start,
                            end: End::Done,
                        };
                    }
                    assert!(
                        r.consumed > 0 || chunk.is_empty(),
                        "decoder stalled on {} bytes",
                        chunk.len()
                    );
                    if start == avail {
                        break;
                    }
                }
            }
        }
    }
    Outcome {
        body,
        consumed: start,
        end: End::Incomplete,
    }
}

fn find_crlf(b: &[u8], from: usize) -> usize {
    b[from..]
        .windows(2)
        .position(|w| w == b"\r\n")
        .map(|p| from + p)
        .unwrap_or_else(|| panic!("accepted body lacks a CRLF after {from}: {}", show(b)))
}

const FORBIDDEN: [&[u8]; 6] = [
    b"host",
    b"content-length",
    b"transfer-encoding",
    b"trailer",
    b"authorization",
    b"te",
];

/// A plain, whole-buffer reading of an accepted chunked body.
fn reference(b: &[u8], body: &[u8], max_ext: usize, max_trailers: usize) {
    let ctx = || show(b);
    let mut out = Vec::new();
    let mut pos = 0;
    loop {
        let le = find_crlf(b, pos);
        let line = &b[pos..le];
        let digits = line.iter().take_while(|c| c.is_ascii_hexdigit()).count();
        assert!(digits > 0, "size line without digits: {}", ctx());
        // The decoder counts the size line's bytes up to and including CR:
        // line + 1 <= max_ext + 32.
        assert!(
            line.len() < max_ext.saturating_add(32),
            "size line of {} bytes accepted with max_chunk_ext {max_ext}: {}",
            line.len(),
            ctx()
        );
        let mut size: u128 = 0;
        for &d in &line[..digits] {
            size = size * 16 + u128::from((d as char).to_digit(16).unwrap_or(0));
            assert!(
                size <= u128::from(u64::MAX),
                "size overflow accepted: {}",
                ctx()
            );
        }
        let rest_of_line = &line[digits..];
        assert!(
            rest_of_line.is_empty() || rest_of_line.trim_ascii_start().starts_with(b";"),
            "junk after the size: {}",
            ctx()
        );
        pos = le + 2;
        if size == 0 {
            break;
        }
        let size = size as usize;
        assert!(
            pos + size + 2 <= b.len(),
            "chunk runs past the end: {}",
            ctx()
        );
        out.extend_from_slice(&b[pos..pos + size]);
        pos += size;
        assert_eq!(&b[pos..pos + 2], b"\r\n", "no CRLF after data: {}", ctx());
        pos += 2;
    }
    let t0 = pos;
    loop {
        let le = find_crlf(b, pos);
        if le == pos {
            pos += 2;
            break;
        }
        let line = &b[pos..le];
        let colon = line
            .iter()
            .position(|&c| c == b':')
            .unwrap_or_else(|| panic!("trailer without ':': {}", ctx()));
        let name = line[..colon].to_ascii_lowercase();
        assert!(
            !FORBIDDEN.contains(&name.as_slice()),
            "forbidden trailer accepted: {}",
            ctx()
        );
        pos = le + 2;
    }
    assert!(
        pos - t0 <= max_trailers,
        "trailer section of {} bytes accepted with max_trailers_size {max_trailers}: {}",
        pos - t0,
        ctx()
    );
    assert_eq!(
        pos,
        b.len(),
        "decoder stopped elsewhere than the final CRLF: {}",
        ctx()
    );
    assert!(out == body, "body differs from a plain reading: {}", ctx());
}
