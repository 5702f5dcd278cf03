//! The HAProxy PROXY protocol, version 1 (one text line) and version 2
//! (binary), for `--proxy-protocol` and `--proxy-allow-from`.
//!
//! Owns: recognising a PROXY header at the very start of a connection's
//! bytes, validating it strictly against the specification
//! (haproxy's `doc/proxy-protocol.txt`), and saying how many bytes it took
//! and which client/server addresses it announces.
//!
//! Must never: do I/O, touch Python, panic or index out of bounds on any
//! input, allocate, or accept a header it cannot fully validate (a
//! malformed header is an error, never "probably fine"). It does not decide
//! whether the peer may send a header at all: that is the caller's check,
//! made *before* the header is trusted (see below).
//!
//! # How the connection code uses it
//!
//! On the first bytes of a connection (and only there), when the setting is
//! on, call [`parse`] with what has been read so far:
//!
//! * [`Parsed::Absent`]: no header of an enabled version; hand the bytes to
//!   the HTTP parser unchanged. Gunicorn does the same: the header is
//!   optional, a client that sends plain HTTP is served as usual.
//! * [`Parsed::Incomplete`]: read more (never more than `max_len` bytes in
//!   total for the header) and call again with the longer buffer.
//! * [`Parsed::Done`]: first check the peer (below); if allowed, drop
//!   `consumed` bytes from the buffer and remember `header` **for the whole
//!   connection** (Gunicorn's async/threaded workers carry the first
//!   request's PROXY data to later keep-alive requests: issues #899, #923).
//! * `Err(_)`: answer 400 Bad Request with `Connection: close` (Gunicorn:
//!   `InvalidProxyLine` / `InvalidProxyHeader`, both 400).
//!
//! Peer check (`--proxy-allow-from`, default `127.0.0.1,::1`): reuse
//! [`crate::wsgi::proxy::ProxyTrust`], which already implements Gunicorn's
//! allow-list semantics (exact address, CIDR, `*`, Unix-socket peers always
//! allowed):
//!
//! ```text
//! let (allow, bad) = ProxyTrust::new(&cfg.proxy_allow_ips, &[]);
//! // ... once a header was recognised (Parsed::Done, or even Err: Gunicorn
//! // checks the peer as soon as it sees the "PROXY " / v2 signature):
//! if !allow.trusts(peer_ip /* None for a Unix socket */) { /* 403 */ }
//! ```
//!
//! A peer outside the list that *sends* a header gets **403 Forbidden**
//! ("Request forbidden") and the connection closes; a peer outside the list
//! that sends plain HTTP is served normally (Gunicorn: `message.py`,
//! `proxy_protocol_access_check` runs only once a PROXY prefix is seen).
//!
//! What the application sees (Gunicorn `http/wsgi.py: proxy_environ`) for
//! [`ProxyHeader::Proxied`]: `REMOTE_ADDR`/`REMOTE_PORT` become the
//! announced source, plus `PROXY_PROTOCOL` (`TCP4`/`TCP6`), `PROXY_ADDR` and
//! `PROXY_PORT` (the announced destination). For [`ProxyHeader::Local`] the
//! socket's own peer stays in `REMOTE_ADDR` and only `PROXY_PROTOCOL`
//! ([`LocalKind::as_str`]) is added (Gunicorn puts `None` into REMOTE_ADDR
//! there, which is a bug we do not copy).
//!
//! Deliberate differences from Gunicorn (which follows the spec less
//! closely): v1 `UNKNOWN` is accepted as "keep the real addresses" (the spec
//! says SHOULD accept; Gunicorn answers 400); v1 ports with leading zeros
//! are refused (spec: "heading zeroes are not permitted"; Gunicorn's
//! `int()` accepts them); v2 `PROXY` with UDP or AF_UNIX addresses falls
//! back to the real addresses (spec: receivers fall back to UNSPEC for valid
//! combinations they do not support; Gunicorn answers 400); v2 TLVs are
//! walked and a `CRC32C` TLV is verified.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Longest v1 line, CRLF included (spec §2.1: the worst case, `UNKNOWN`
/// with two full IPv6 addresses and ports).
pub const V1_MAX_LEN: usize = 107;
/// The fixed part of a v2 header: signature, version/command, family, length.
pub const V2_FIXED_LEN: usize = 16;
/// Longest v2 header: the fixed part plus a 16-bit address length.
pub const V2_MAX_LEN: usize = V2_FIXED_LEN + u16::MAX as usize;
/// The v2 signature (spec §2.2).
pub const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";

const V1_PREFIX: &[u8] = b"PROXY ";

/// Which header versions `--proxy-protocol` accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Text lines only (Gunicorn ≤ 23, where the setting is a plain flag).
    V1,
    /// Binary headers only.
    V2,
    /// Either (Gunicorn ≥ 24.1 `auto`, the value of the bare flag there).
    Auto,
}

impl Mode {
    /// Gunicorn 24's spellings. `off` is `Ok(None)`.
    pub fn parse(s: &str) -> Result<Option<Mode>, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "off" => Ok(None),
            "v1" => Ok(Some(Mode::V1)),
            "v2" => Ok(Some(Mode::V2)),
            "auto" => Ok(Some(Mode::Auto)),
            _ => Err(format!(
                "invalid proxy protocol mode {s:?} (expected off, v1, v2 or auto)"
            )),
        }
    }

    fn v1(self) -> bool {
        matches!(self, Mode::V1 | Mode::Auto)
    }

    fn v2(self) -> bool {
        matches!(self, Mode::V2 | Mode::Auto)
    }
}

/// Which version a header was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    V1,
    V2,
}

/// Why a header carries no usable addresses (the value of the
/// `PROXY_PROTOCOL` environ key in that case).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LocalKind {
    /// v2 `LOCAL` command: the proxy's own connection (health checks).
    Local,
    /// v2 `PROXY` with an unspecified family or protocol, or one we do not
    /// use (UDP, AF_UNIX): the spec's fallback to the real addresses.
    Unspec,
    /// v1 `PROXY UNKNOWN ...`.
    Unknown,
}

impl LocalKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LocalKind::Local => "LOCAL",
            LocalKind::Unspec => "UNSPEC",
            LocalKind::Unknown => "UNKNOWN",
        }
    }
}

/// What a valid header says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProxyHeader {
    /// Keep the connection's real addresses.
    Local(LocalKind),
    /// A relayed TCP connection: `src` is the client, `dst` the address the
    /// client connected to (on the proxy). Both are the same family.
    Proxied { src: SocketAddr, dst: SocketAddr },
}

impl ProxyHeader {
    /// The `PROXY_PROTOCOL` environ value Gunicorn uses (`TCP4`, `TCP6`,
    /// `LOCAL`, `UNSPEC`; `UNKNOWN` is ours).
    pub fn protocol_name(&self) -> &'static str {
        match self {
            ProxyHeader::Local(k) => k.as_str(),
            ProxyHeader::Proxied { src, .. } if src.is_ipv4() => "TCP4",
            ProxyHeader::Proxied { .. } => "TCP6",
        }
    }
}

/// The outcome of looking at the start of a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parsed {
    /// The bytes do not start with a header of an enabled version.
    Absent,
    /// The bytes are a proper prefix of a header: read more. The whole
    /// header is at most `max_len` bytes (exact once a v2 length is known).
    Incomplete { max_len: usize },
    /// A complete, valid header of `consumed` bytes.
    Done {
        consumed: usize,
        version: Version,
        header: ProxyHeader,
    },
}

/// A malformed header. The connection must be refused (400) and closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProxyError {
    pub version: Version,
    pub reason: &'static str,
}

impl fmt::Display for ProxyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.version {
            Version::V1 => write!(f, "Invalid PROXY line: {}", self.reason),
            Version::V2 => write!(f, "Invalid PROXY header: {}", self.reason),
        }
    }
}

impl std::error::Error for ProxyError {}

fn v1_err(reason: &'static str) -> ProxyError {
    ProxyError {
        version: Version::V1,
        reason,
    }
}

fn v2_err(reason: &'static str) -> ProxyError {
    ProxyError {
        version: Version::V2,
        reason,
    }
}

/// Looks for a PROXY header at the start of `buf` (the first bytes of a
/// connection). Never reads past the header; never fails on bytes that are
/// not a header of an enabled version.
pub fn parse(buf: &[u8], mode: Mode) -> Result<Parsed, ProxyError> {
    if buf.is_empty() {
        return Ok(Parsed::Incomplete {
            max_len: max_len(mode),
        });
    }
    if mode.v2() {
        let n = buf.len().min(V2_SIGNATURE.len());
        if buf[..n] == V2_SIGNATURE[..n] {
            if n < V2_SIGNATURE.len() {
                return Ok(Parsed::Incomplete {
                    max_len: V2_MAX_LEN,
                });
            }
            return parse_v2(buf);
        }
    }
    if mode.v1() {
        let n = buf.len().min(V1_PREFIX.len());
        if buf[..n] == V1_PREFIX[..n] {
            if n < V1_PREFIX.len() {
                return Ok(Parsed::Incomplete {
                    max_len: V1_MAX_LEN,
                });
            }
            return parse_v1(buf);
        }
    }
    Ok(Parsed::Absent)
}

fn max_len(mode: Mode) -> usize {
    if mode.v2() {
        V2_MAX_LEN
    } else {
        V1_MAX_LEN
    }
}

// ---------------------------------------------------------------- v1 ----

/// `buf` starts with "PROXY ".
fn parse_v1(buf: &[u8]) -> Result<Parsed, ProxyError> {
    let window = &buf[..buf.len().min(V1_MAX_LEN)];
    // Scan for CRLF, refusing as early as possible what can never become a
    // valid line: control bytes, non-ASCII, a lone CR or LF.
    let mut end = None;
    for (i, &b) in window.iter().enumerate().skip(V1_PREFIX.len()) {
        match b {
            b'\r' => match window.get(i + 1) {
                Some(b'\n') => {
                    end = Some(i);
                    break;
                }
                Some(_) => return Err(v1_err("CR without LF")),
                None => {}
            },
            b'\n' => return Err(v1_err("LF without CR")),
            0x20..=0x7e => {}
            _ => return Err(v1_err("invalid character")),
        }
    }
    let Some(end) = end else {
        if window.len() >= V1_MAX_LEN {
            return Err(v1_err("line too long"));
        }
        return Ok(Parsed::Incomplete {
            max_len: V1_MAX_LEN,
        });
    };
    let line = &buf[V1_PREFIX.len()..end];
    let header = parse_v1_fields(line)?;
    Ok(Parsed::Done {
        consumed: end + 2,
        version: Version::V1,
        header,
    })
}

/// The part of the line after "PROXY " and before CRLF (printable ASCII).
fn parse_v1_fields(line: &[u8]) -> Result<ProxyHeader, ProxyError> {
    let (proto, rest) = match line.iter().position(|&b| b == b' ') {
        Some(i) => (&line[..i], Some(&line[i + 1..])),
        None => (line, None),
    };
    let v6 = match proto {
        // The spec: whatever follows UNKNOWN before the CRLF is ignored.
        b"UNKNOWN" => return Ok(ProxyHeader::Local(LocalKind::Unknown)),
        b"TCP4" => false,
        b"TCP6" => true,
        _ => return Err(v1_err("unsupported protocol")),
    };
    let rest = rest.ok_or(v1_err("missing addresses"))?;
    // Exactly one space between fields: splitting on single spaces turns
    // any doubled or trailing space into an empty field, refused below.
    let mut fields = rest.split(|&b| b == b' ');
    let (Some(src), Some(dst), Some(sport), Some(dport), None) = (
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
    ) else {
        return Err(v1_err("wrong number of fields"));
    };
    let src = v1_addr(src, v6)?;
    let dst = v1_addr(dst, v6)?;
    let sport = v1_port(sport)?;
    let dport = v1_port(dport)?;
    Ok(ProxyHeader::Proxied {
        src: SocketAddr::new(src, sport),
        dst: SocketAddr::new(dst, dport),
    })
}

fn v1_addr(field: &[u8], v6: bool) -> Result<IpAddr, ProxyError> {
    // Printable ASCII was checked by the caller, so this cannot fail; an
    // error here is just another malformed field.
    let s = std::str::from_utf8(field).map_err(|_| v1_err("invalid address"))?;
    // std's parsers take exactly the literal: no brackets, zone ids,
    // whitespace or (for IPv4) leading zeroes.
    if v6 {
        s.parse::<Ipv6Addr>()
            .map(IpAddr::V6)
            .map_err(|_| v1_err("invalid IPv6 address"))
    } else {
        s.parse::<Ipv4Addr>()
            .map(IpAddr::V4)
            .map_err(|_| v1_err("invalid IPv4 address"))
    }
}

/// A decimal 0..=65535 without sign or leading zero.
fn v1_port(field: &[u8]) -> Result<u16, ProxyError> {
    let bad = || v1_err("invalid port");
    if field.is_empty() || field.len() > 5 || !field.iter().all(u8::is_ascii_digit) {
        return Err(bad());
    }
    if field.len() > 1 && field[0] == b'0' {
        return Err(bad());
    }
    let n = field
        .iter()
        .fold(0u32, |n, &d| n * 10 + u32::from(d - b'0'));
    u16::try_from(n).map_err(|_| bad())
}

// ---------------------------------------------------------------- v2 ----

const CMD_LOCAL: u8 = 0x0;
const CMD_PROXY: u8 = 0x1;
const TLV_CRC32C: u8 = 0x03;

/// `buf` starts with the 12-byte signature.
fn parse_v2(buf: &[u8]) -> Result<Parsed, ProxyError> {
    let Some(fixed) = buf.get(..V2_FIXED_LEN) else {
        // Refuse a bad version/command byte as soon as it arrives.
        if let Some(&vc) = buf.get(12) {
            check_ver_cmd(vc)?;
        }
        return Ok(Parsed::Incomplete {
            max_len: V2_MAX_LEN,
        });
    };
    let ver_cmd = fixed[12];
    let fam = fixed[13];
    let len = usize::from(u16::from_be_bytes([fixed[14], fixed[15]]));
    let command = check_ver_cmd(ver_cmd)?;
    let total = V2_FIXED_LEN + len;

    // Check what can be checked before the body arrives.
    let need = if command == CMD_PROXY {
        let need = address_len(fam)?;
        if let Some(n) = need {
            if len < n {
                return Err(v2_err("address block shorter than its family needs"));
            }
        }
        need
    } else {
        None
    };

    let Some(header) = buf.get(..total) else {
        return Ok(Parsed::Incomplete { max_len: total });
    };
    let body = &header[V2_FIXED_LEN..];

    let parsed = if command == CMD_LOCAL {
        // Spec: "discard the protocol block including the family".
        ProxyHeader::Local(LocalKind::Local)
    } else {
        match need {
            None => ProxyHeader::Local(LocalKind::Unspec),
            Some(alen) => {
                walk_tlvs(header, alen)?;
                v2_addresses(fam, body).unwrap_or(ProxyHeader::Local(LocalKind::Unspec))
            }
        }
    };
    Ok(Parsed::Done {
        consumed: total,
        version: Version::V2,
        header: parsed,
    })
}

fn check_ver_cmd(vc: u8) -> Result<u8, ProxyError> {
    if vc >> 4 != 2 {
        return Err(v2_err("unsupported version"));
    }
    match vc & 0x0f {
        c @ (CMD_LOCAL | CMD_PROXY) => Ok(c),
        _ => Err(v2_err("unsupported command")),
    }
}

/// For a PROXY command: the length of the address block of this
/// family/protocol byte, `None` for AF_UNSPEC (no layout: skip everything),
/// or an error for combinations the spec does not define.
fn address_len(fam: u8) -> Result<Option<usize>, ProxyError> {
    match fam {
        0x00 => Ok(None),
        0x11 | 0x12 => Ok(Some(12)),
        0x21 | 0x22 => Ok(Some(36)),
        0x31 | 0x32 => Ok(Some(216)),
        _ => Err(v2_err("unsupported address family or protocol")),
    }
}

/// TCP over IPv4/IPv6: the announced addresses. Anything else (UDP,
/// AF_UNIX) is `None`: fall back to the real ones.
fn v2_addresses(fam: u8, body: &[u8]) -> Option<ProxyHeader> {
    let port = |i: usize| -> Option<u16> {
        let b = body.get(i..i + 2)?;
        Some(u16::from_be_bytes([b[0], b[1]]))
    };
    match fam {
        0x11 => {
            let s: [u8; 4] = body.get(0..4)?.try_into().ok()?;
            let d: [u8; 4] = body.get(4..8)?.try_into().ok()?;
            Some(ProxyHeader::Proxied {
                src: SocketAddr::new(IpAddr::V4(Ipv4Addr::from(s)), port(8)?),
                dst: SocketAddr::new(IpAddr::V4(Ipv4Addr::from(d)), port(10)?),
            })
        }
        0x21 => {
            let s: [u8; 16] = body.get(0..16)?.try_into().ok()?;
            let d: [u8; 16] = body.get(16..32)?.try_into().ok()?;
            Some(ProxyHeader::Proxied {
                src: SocketAddr::new(IpAddr::V6(Ipv6Addr::from(s)), port(32)?),
                dst: SocketAddr::new(IpAddr::V6(Ipv6Addr::from(d)), port(34)?),
            })
        }
        _ => None,
    }
}

/// Walks the TLVs after the address block: each must fit in the header; a
/// CRC32C TLV must be 4 bytes and match.
fn walk_tlvs(header: &[u8], addr_len: usize) -> Result<(), ProxyError> {
    let mut i = V2_FIXED_LEN + addr_len;
    while i < header.len() {
        let Some(&[kind, hi, lo]) = header
            .get(i..i + 3)
            .and_then(|s| <&[u8; 3]>::try_from(s).ok())
        else {
            return Err(v2_err("truncated TLV"));
        };
        let vlen = usize::from(u16::from_be_bytes([hi, lo]));
        let start = i + 3;
        let end = start + vlen;
        if end > header.len() {
            return Err(v2_err("TLV longer than the header"));
        }
        if kind == TLV_CRC32C {
            check_crc(header, start, vlen)?;
        }
        i = end;
    }
    Ok(())
}

fn check_crc(header: &[u8], start: usize, vlen: usize) -> Result<(), ProxyError> {
    let Some(v) = header.get(start..start + 4).filter(|_| vlen == 4) else {
        return Err(v2_err("CRC32C TLV must be 4 bytes"));
    };
    let want = u32::from_be_bytes([v[0], v[1], v[2], v[3]]);
    // The checksum covers the whole header with its own field zeroed.
    let mut crc = Crc32c::new();
    crc.update(&header[..start]);
    crc.update(&[0; 4]);
    crc.update(&header[start + 4..]);
    if crc.finish() == want {
        Ok(())
    } else {
        Err(v2_err("CRC32C mismatch"))
    }
}

/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), as RFC 4960
/// appendix B. Bitwise: headers are small and seen once per connection.
struct Crc32c(u32);

impl Crc32c {
    fn new() -> Crc32c {
        Crc32c(!0)
    }

    fn update(&mut self, data: &[u8]) {
        let mut c = self.0;
        for &b in data {
            c ^= u32::from(b);
            for _ in 0..8 {
                c = if c & 1 != 0 {
                    (c >> 1) ^ 0x82F6_3B78
                } else {
                    c >> 1
                };
            }
        }
        self.0 = c;
    }

    fn finish(&self) -> u32 {
        !self.0
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn done(buf: &[u8], mode: Mode) -> (usize, ProxyHeader) {
        match parse(buf, mode) {
            Ok(Parsed::Done {
                consumed, header, ..
            }) => (consumed, header),
            other => panic!("expected Done for {buf:?}, got {other:?}"),
        }
    }

    fn err(buf: &[u8], mode: Mode) -> ProxyError {
        match parse(buf, mode) {
            Err(e) => e,
            other => panic!("expected error for {buf:?}, got {other:?}"),
        }
    }

    // ------------------------------------------------------------ v1 --

    #[test]
    fn v1_tcp4() {
        let buf = b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\nGET / HTTP/1.1\r\n\r\n";
        let (n, h) = done(buf, Mode::V1);
        assert_eq!(&buf[n..n + 3], b"GET");
        assert_eq!(
            h,
            ProxyHeader::Proxied {
                src: sa("192.168.0.1:56324"),
                dst: sa("192.168.0.11:443"),
            }
        );
        assert_eq!(h.protocol_name(), "TCP4");
        assert_eq!(done(buf, Mode::Auto), (n, h));
    }

    #[test]
    fn v1_tcp6() {
        let buf = b"PROXY TCP6 2001:db8::1 ::1 65535 0\r\n";
        let (n, h) = done(buf, Mode::V1);
        assert_eq!(n, buf.len());
        assert_eq!(
            h,
            ProxyHeader::Proxied {
                src: sa("[2001:db8::1]:65535"),
                dst: sa("[::1]:0"),
            }
        );
        assert_eq!(h.protocol_name(), "TCP6");
    }

    #[test]
    fn v1_longest_lines() {
        let ff = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
        let tcp6 = format!("PROXY TCP6 {ff} {ff} 65535 65535\r\n");
        assert_eq!(tcp6.len(), 104);
        assert_eq!(done(tcp6.as_bytes(), Mode::V1).0, 104);
        let unk = format!("PROXY UNKNOWN {ff} {ff} 65535 65535\r\n");
        assert_eq!(unk.len(), V1_MAX_LEN);
        assert_eq!(
            done(unk.as_bytes(), Mode::V1),
            (V1_MAX_LEN, ProxyHeader::Local(LocalKind::Unknown))
        );
        let v4 = b"PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n";
        assert_eq!(done(v4, Mode::V1).0, 56);
    }

    #[test]
    fn v1_unknown() {
        assert_eq!(
            done(b"PROXY UNKNOWN\r\nGET", Mode::V1),
            (15, ProxyHeader::Local(LocalKind::Unknown))
        );
        assert_eq!(
            done(b"PROXY UNKNOWN whatever 1 2\r\n", Mode::V1).1,
            ProxyHeader::Local(LocalKind::Unknown)
        );
        assert_eq!(
            ProxyHeader::Local(LocalKind::Unknown).protocol_name(),
            "UNKNOWN"
        );
        // UNKNOWN must be the whole token.
        err(b"PROXY UNKNOWNX\r\n", Mode::V1);
    }

    #[test]
    fn v1_incomplete_then_done() {
        let full = b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\nGET";
        let end = full.len() - 3;
        for i in 1..end {
            assert_eq!(
                parse(&full[..i], Mode::V1),
                Ok(Parsed::Incomplete {
                    max_len: V1_MAX_LEN
                }),
                "prefix of {i} bytes"
            );
        }
        assert_eq!(done(&full[..end], Mode::V1).0, end);
        assert_eq!(
            parse(b"", Mode::V1),
            Ok(Parsed::Incomplete {
                max_len: V1_MAX_LEN
            })
        );
    }

    #[test]
    fn v1_too_long() {
        let mut line = b"PROXY UNKNOWN ".to_vec();
        line.resize(V1_MAX_LEN - 1, b'a');
        assert!(matches!(
            parse(&line, Mode::V1),
            Ok(Parsed::Incomplete { .. })
        ));
        line.push(b'a');
        assert_eq!(err(&line, Mode::V1).reason, "line too long");
        // CRLF straddling the limit is too late.
        line.truncate(V1_MAX_LEN - 1);
        line.extend_from_slice(b"\r\n");
        assert_eq!(err(&line, Mode::V1).reason, "line too long");
    }

    #[test]
    fn v1_malformed() {
        let bad: &[&[u8]] = &[
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",       // bare LF
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX",      // bare CR
            b"PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n",    // double space
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n",    // trailing space
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",       // missing port
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",   // extra field
            b"PROXY TCP4\r\n",                         // no addresses
            b"PROXY TCP4 1.2.3.4\t5.6.7.8 1 2\r\n",    // tab
            b"PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n",     // protocol
            b"PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n",     // case
            b"PROXY TCP4 ::1 5.6.7.8 1 2\r\n",         // v6 under TCP4
            b"PROXY TCP6 1.2.3.4 ::1 1 2\r\n",         // v4 under TCP6
            b"PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n",    // leading zero
            b"PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n",       // short v4
            b"PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n",   // octet range
            b"PROXY TCP6 [::1] ::1 1 2\r\n",           // brackets
            b"PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n",    // zone id
            b"PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n",    // sign
            b"PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n",    // sign
            b"PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",    // leading zero
            b"PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n", // range
            b"PROXY TCP4 1.2.3.4 5.6.7.8 99999 2\r\n", // range
            b"PROXY TCP4 1.2.3.4 5.6.7.8 123456 2\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1a 2\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\0\r\n", // NUL
            "PROXY TCP4 1.2.3.4 5.6.7.8 \u{664} 2\r\n".as_bytes(), // non-ASCII digit
            b"PROXY \r\n",
        ];
        for b in bad {
            let e = err(b, Mode::V1);
            assert_eq!(e.version, Version::V1);
            assert!(e.to_string().starts_with("Invalid PROXY line: "));
        }
        // A lone LF is refused before any CRLF could arrive.
        err(b"PROXY TCP4 1.2\n", Mode::V1);
    }

    #[test]
    fn v1_port_bounds() {
        assert_eq!(v1_port(b"0"), Ok(0));
        assert_eq!(v1_port(b"65535"), Ok(65535));
        assert!(v1_port(b"65536").is_err());
        assert!(v1_port(b"").is_err());
        assert!(v1_port(b"00").is_err());
    }

    #[test]
    fn absent_when_not_a_header() {
        for mode in [Mode::V1, Mode::V2, Mode::Auto] {
            assert_eq!(parse(b"GET / HTTP/1.1\r\n", mode), Ok(Parsed::Absent));
            assert_eq!(parse(b"G", mode), Ok(Parsed::Absent));
        }
        // "PROXY" without the space is a method name, not a header.
        assert_eq!(parse(b"PROXYX", Mode::V1), Ok(Parsed::Absent));
        // A version that is not enabled is just bytes.
        assert_eq!(parse(b"PROXY TCP4", Mode::V2), Ok(Parsed::Absent));
        assert_eq!(parse(&V2_SIGNATURE, Mode::V1), Ok(Parsed::Absent));
        // An empty line before a request (RFC 9112 §2.2) is not v2.
        assert_eq!(parse(b"\r\nGET", Mode::V2), Ok(Parsed::Absent));
    }

    #[test]
    fn proxy_method_request_line_is_refused_when_v1_on() {
        // Gunicorn 24 does the same: "PROXY " is always the header.
        err(b"PROXY / HTTP/1.1\r\n", Mode::V1);
    }

    // ------------------------------------------------------------ v2 --

    fn v2(ver_cmd: u8, fam: u8, body: &[u8]) -> Vec<u8> {
        let mut v = V2_SIGNATURE.to_vec();
        v.push(ver_cmd);
        v.push(fam);
        v.extend_from_slice(&(body.len() as u16).to_be_bytes());
        v.extend_from_slice(body);
        v
    }

    fn tcp4_body() -> Vec<u8> {
        let mut b = vec![10, 0, 0, 1, 192, 168, 1, 2];
        b.extend_from_slice(&1234u16.to_be_bytes());
        b.extend_from_slice(&443u16.to_be_bytes());
        b
    }

    #[test]
    fn v2_tcp4() {
        let mut buf = v2(0x21, 0x11, &tcp4_body());
        let hlen = buf.len();
        buf.extend_from_slice(b"GET / HTTP/1.1\r\n");
        let (n, h) = done(&buf, Mode::V2);
        assert_eq!(n, hlen);
        assert_eq!(
            h,
            ProxyHeader::Proxied {
                src: sa("10.0.0.1:1234"),
                dst: sa("192.168.1.2:443"),
            }
        );
        assert_eq!(done(&buf, Mode::Auto), (n, h));
        assert!(matches!(
            parse(&buf, Mode::Auto),
            Ok(Parsed::Done {
                version: Version::V2,
                ..
            })
        ));
    }

    #[test]
    fn v2_tcp6() {
        let mut body = Vec::new();
        body.extend_from_slice(&"2001:db8::7".parse::<Ipv6Addr>().unwrap().octets());
        body.extend_from_slice(&Ipv6Addr::LOCALHOST.octets());
        body.extend_from_slice(&[0xff, 0xff, 0, 80]);
        let buf = v2(0x21, 0x21, &body);
        assert_eq!(
            done(&buf, Mode::V2),
            (
                52,
                ProxyHeader::Proxied {
                    src: sa("[2001:db8::7]:65535"),
                    dst: sa("[::1]:80"),
                }
            )
        );
    }

    #[test]
    fn v2_local_ignores_the_block() {
        let buf = v2(0x20, 0x00, &[]);
        assert_eq!(
            done(&buf, Mode::V2),
            (16, ProxyHeader::Local(LocalKind::Local))
        );
        // LOCAL with garbage in the block (even an undefined family): skipped.
        let buf = v2(0x20, 0xff, &[1, 2, 3, 4, 5]);
        assert_eq!(
            done(&buf, Mode::V2),
            (21, ProxyHeader::Local(LocalKind::Local))
        );
        assert_eq!(
            ProxyHeader::Local(LocalKind::Local).protocol_name(),
            "LOCAL"
        );
    }

    #[test]
    fn v2_unspec_udp_unix_fall_back() {
        let buf = v2(0x21, 0x00, &[9; 7]);
        assert_eq!(
            done(&buf, Mode::V2),
            (23, ProxyHeader::Local(LocalKind::Unspec))
        );
        let buf = v2(0x21, 0x12, &tcp4_body());
        assert_eq!(
            done(&buf, Mode::V2).1,
            ProxyHeader::Local(LocalKind::Unspec)
        );
        let buf = v2(0x21, 0x31, &[0; 216]);
        assert_eq!(
            done(&buf, Mode::V2),
            (232, ProxyHeader::Local(LocalKind::Unspec))
        );
        let buf = v2(0x21, 0x32, &[0; 216]);
        assert_eq!(
            done(&buf, Mode::V2).1,
            ProxyHeader::Local(LocalKind::Unspec)
        );
        assert_eq!(
            ProxyHeader::Local(LocalKind::Unspec).protocol_name(),
            "UNSPEC"
        );
    }

    #[test]
    fn v2_incomplete() {
        let buf = v2(0x21, 0x11, &tcp4_body());
        for i in 1..V2_FIXED_LEN {
            assert_eq!(
                parse(&buf[..i], Mode::Auto),
                Ok(Parsed::Incomplete {
                    max_len: V2_MAX_LEN
                }),
                "prefix of {i} bytes"
            );
        }
        for i in V2_FIXED_LEN..buf.len() {
            assert_eq!(
                parse(&buf[..i], Mode::Auto),
                Ok(Parsed::Incomplete { max_len: 28 }),
                "prefix of {i} bytes"
            );
        }
        assert_eq!(done(&buf, Mode::Auto).0, 28);
        // The largest length is announced exactly.
        let mut big = V2_SIGNATURE.to_vec();
        big.extend_from_slice(&[0x20, 0x00, 0xff, 0xff]);
        assert_eq!(
            parse(&big, Mode::V2),
            Ok(Parsed::Incomplete {
                max_len: V2_MAX_LEN
            })
        );
    }

    #[test]
    fn v2_malformed() {
        // Version nibble.
        assert_eq!(
            err(&v2(0x11, 0x11, &tcp4_body()), Mode::V2).reason,
            "unsupported version"
        );
        assert_eq!(
            err(&v2(0x31, 0x11, &tcp4_body()), Mode::V2).reason,
            "unsupported version"
        );
        // Bad version refused as soon as byte 13 arrives.
        let b = v2(0x11, 0x11, &tcp4_body());
        assert!(parse(&b[..13], Mode::V2).is_err());
        // Command.
        assert_eq!(
            err(&v2(0x22, 0x11, &tcp4_body()), Mode::V2).reason,
            "unsupported command"
        );
        assert_eq!(
            err(&v2(0x2f, 0x11, &tcp4_body()), Mode::V2).reason,
            "unsupported command"
        );
        // Families/protocols outside the spec.
        for fam in [0x01, 0x02, 0x10, 0x13, 0x20, 0x30, 0x41, 0xff] {
            let e = err(&v2(0x21, fam, &[0; 216]), Mode::V2);
            assert_eq!(
                e.reason, "unsupported address family or protocol",
                "fam {fam:#x}"
            );
        }
        // Length too short for the family: refused from the fixed part alone.
        let short = v2(0x21, 0x11, &[0; 11]);
        assert!(parse(&short[..16], Mode::V2).is_err());
        err(&v2(0x21, 0x21, &[0; 35]), Mode::V2);
        err(&v2(0x21, 0x31, &[0; 215]), Mode::V2);
        let e = err(&short, Mode::V2);
        assert_eq!(e.version, Version::V2);
        assert!(e.to_string().starts_with("Invalid PROXY header: "));
    }

    #[test]
    fn v2_tlvs() {
        // Well-formed TLVs after the addresses, including an empty NOOP.
        let mut body = tcp4_body();
        body.extend_from_slice(&[0x04, 0, 0]); // NOOP, empty
        body.extend_from_slice(&[0x02, 0, 3, b'a', b'b', b'c']); // AUTHORITY
        body.extend_from_slice(&[0xEA, 0, 1, 7]); // custom (AWS)
        let buf = v2(0x21, 0x11, &body);
        assert_eq!(done(&buf, Mode::V2).0, buf.len());

        // A TLV header cut short.
        let mut body = tcp4_body();
        body.extend_from_slice(&[0x04, 0]);
        assert_eq!(
            err(&v2(0x21, 0x11, &body), Mode::V2).reason,
            "truncated TLV"
        );
        // A TLV value past the end.
        let mut body = tcp4_body();
        body.extend_from_slice(&[0x02, 0, 9, b'a']);
        assert_eq!(
            err(&v2(0x21, 0x11, &body), Mode::V2).reason,
            "TLV longer than the header"
        );
        // TLVs are not walked for LOCAL or UNSPEC (no known layout).
        assert_eq!(done(&v2(0x20, 0x11, &[0x04, 0]), Mode::V2).0, 18);
        assert_eq!(done(&v2(0x21, 0x00, &[0x04, 0]), Mode::V2).0, 18);
    }

    #[test]
    fn crc32c_known_vector() {
        let mut c = Crc32c::new();
        c.update(b"123456789");
        assert_eq!(c.finish(), 0xE306_9283);
    }

    fn with_crc(corrupt: bool) -> Vec<u8> {
        let mut body = tcp4_body();
        body.extend_from_slice(&[TLV_CRC32C, 0, 4, 0, 0, 0, 0]);
        let mut buf = v2(0x21, 0x11, &body);
        let mut c = Crc32c::new();
        c.update(&buf);
        let crc = c.finish() ^ u32::from(corrupt);
        let at = buf.len() - 4;
        buf[at..].copy_from_slice(&crc.to_be_bytes());
        buf
    }

    #[test]
    fn v2_crc32c() {
        let good = with_crc(false);
        assert_eq!(done(&good, Mode::V2).0, good.len());
        assert_eq!(err(&with_crc(true), Mode::V2).reason, "CRC32C mismatch");
        let mut body = tcp4_body();
        body.extend_from_slice(&[TLV_CRC32C, 0, 2, 0, 0]);
        assert_eq!(
            err(&v2(0x21, 0x11, &body), Mode::V2).reason,
            "CRC32C TLV must be 4 bytes"
        );
    }

    #[test]
    fn never_panics_on_noise() {
        // Every prefix and every single-byte corruption of valid headers.
        let mut samples = vec![
            v2(0x21, 0x11, &tcp4_body()),
            with_crc(false),
            v2(0x21, 0x31, &[0; 216]),
            b"PROXY TCP6 2001:db8::1 ::1 65535 0\r\n".to_vec(),
            b"PROXY UNKNOWN\r\n".to_vec(),
        ];
        // A small deterministic pseudo-random generator (no dependency).
        let mut x: u32 = 0x1234_5678;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x
        };
        for _ in 0..2000 {
            let mut v = V2_SIGNATURE.to_vec();
            let n = (next() % 80) as usize;
            v.extend((0..n).map(|_| next() as u8));
            samples.push(v);
        }
        for s in &samples {
            for mode in [Mode::V1, Mode::V2, Mode::Auto] {
                for i in 0..=s.len() {
                    let _ = parse(&s[..i], mode);
                }
                for i in 0..s.len() {
                    let mut c = s.clone();
                    c[i] = c[i].wrapping_add(1 + (next() % 255) as u8);
                    if let Ok(Parsed::Done { consumed, .. }) = parse(&c, mode) {
                        assert!(consumed <= c.len());
                    }
                }
            }
        }
    }

    #[test]
    fn mode_spellings() {
        assert_eq!(Mode::parse("off"), Ok(None));
        assert_eq!(Mode::parse("V1"), Ok(Some(Mode::V1)));
        assert_eq!(Mode::parse("v2"), Ok(Some(Mode::V2)));
        assert_eq!(Mode::parse(" auto "), Ok(Some(Mode::Auto)));
        assert!(Mode::parse("v3").is_err());
    }

    #[test]
    fn allow_list_reuses_proxy_trust() {
        use crate::wsgi::proxy::ProxyTrust;
        let allow: Vec<String> = ["127.0.0.1", "::1"].iter().map(|s| s.to_string()).collect();
        let (t, bad) = ProxyTrust::new(&allow, &[]);
        assert!(bad.is_empty());
        assert!(t.trusts(Some("127.0.0.1".parse().unwrap())));
        assert!(t.trusts(Some("::1".parse().unwrap())));
        assert!(!t.trusts(Some("10.0.0.1".parse().unwrap())));
        assert!(
            t.trusts(None),
            "Unix-socket peers are allowed, as in Gunicorn"
        );
        let (t, _) = ProxyTrust::new(&["10.0.0.0/8".to_string()], &[]);
        assert!(t.trusts(Some("10.9.8.7".parse().unwrap())));
        let (t, _) = ProxyTrust::new(&["*".to_string()], &[]);
        assert!(t.trusts(Some("203.0.113.9".parse().unwrap())));
    }
}
