//! Response-side helpers: reason phrases, the canned error response sent
//! when a request is refused, and the cached IMF-fixdate for `Date`.
//!
//! Must never: do I/O, touch Python, panic, or let configuration text
//! (server name, date) inject bytes that would split the response.

use std::time::{SystemTime, UNIX_EPOCH};

/// Reason phrase for a status code (RFC 9110 §15 plus the common IANA
/// registrations); "" for unknown codes.
pub fn reason_phrase(code: u16) -> &'static str {
    match code {
        100 => "Continue",
        101 => "Switching Protocols",
        102 => "Processing",
        103 => "Early Hints",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        203 => "Non-Authoritative Information",
        204 => "No Content",
        205 => "Reset Content",
        206 => "Partial Content",
        207 => "Multi-Status",
        208 => "Already Reported",
        226 => "IM Used",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        305 => "Use Proxy",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Range Not Satisfiable",
        417 => "Expectation Failed",
        421 => "Misdirected Request",
        422 => "Unprocessable Content",
        423 => "Locked",
        424 => "Failed Dependency",
        425 => "Too Early",
        426 => "Upgrade Required",
        428 => "Precondition Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        451 => "Unavailable For Legal Reasons",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        506 => "Variant Also Negotiates",
        507 => "Insufficient Storage",
        508 => "Loop Detected",
        511 => "Network Authentication Required",
        _ => "",
    }
}

/// A complete error response ending the connection:
/// `HTTP/1.1 <code> <reason>` with Server, Date, `Connection: close`, a
/// text/plain body `<code> <reason>\n` and its Content-Length.
/// Codes outside 100..=999 are answered as 500. Control characters in
/// `server` and `date` are dropped so they cannot split the response.
pub fn error_response(code: u16, server: &str, date: &[u8]) -> Vec<u8> {
    let code = if (100..=999).contains(&code) {
        code
    } else {
        500
    };
    let reason = reason_phrase(code);
    let mut digits = [0u8; 3];
    digits[0] = b'0' + (code / 100) as u8;
    digits[1] = b'0' + (code / 10 % 10) as u8;
    digits[2] = b'0' + (code % 10) as u8;
    // Body: "<code> <reason>\n".
    let body_len = 3 + 1 + reason.len() + 1;
    let mut out = Vec::with_capacity(160 + server.len() + date.len() + reason.len() * 2);
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(&digits);
    out.push(b' ');
    out.extend_from_slice(reason.as_bytes());
    out.extend_from_slice(b"\r\nServer: ");
    push_field_value(&mut out, server.as_bytes());
    out.extend_from_slice(b"\r\nDate: ");
    push_field_value(&mut out, date);
    out.extend_from_slice(
        b"\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ",
    );
    push_decimal(&mut out, body_len as u64);
    out.extend_from_slice(b"\r\n\r\n");
    out.extend_from_slice(&digits);
    out.push(b' ');
    out.extend_from_slice(reason.as_bytes());
    out.push(b'\n');
    out
}

/// Cuts a complete response down to its head (status line and fields), for
/// an answer to HEAD: the Content-Length stays, the content goes.
pub fn strip_body(response: &mut Vec<u8>) {
    if let Some(end) = response.windows(4).position(|w| w == b"\r\n\r\n") {
        response.truncate(end + 4);
    }
}

fn push_field_value(out: &mut Vec<u8>, v: &[u8]) {
    out.extend(
        v.iter()
            .copied()
            .filter(|&b| b == b'\t' || (b >= 0x20 && b != 0x7f)),
    );
}

fn push_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        if let Some(slot) = tmp.get_mut(i) {
            *slot = b'0' + (n % 10) as u8;
        }
        n /= 10;
        if n == 0 || i == 0 {
            break;
        }
    }
    out.extend_from_slice(tmp.get(i..).unwrap_or(&[]));
}

/// Length of an IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT".
pub const HTTP_DATE_LEN: usize = 29;

/// Latest instant an IMF-fixdate (4-digit year) can express.
const MAX_SECS: u64 = 253_402_300_799; // 9999-12-31T23:59:59Z

/// Cached `Date` header value, reformatted at most once per second.
/// Not shared: keep one per I/O thread (or in a thread-local).
#[derive(Debug, Clone)]
pub struct HttpDate {
    secs: u64,
    buf: [u8; HTTP_DATE_LEN],
}

impl Default for HttpDate {
    fn default() -> Self {
        Self::new()
    }
}

impl HttpDate {
    pub fn new() -> Self {
        let secs = now_secs();
        HttpDate {
            secs,
            buf: format_http_date(secs),
        }
    }

    /// The current date as an IMF-fixdate (29 bytes).
    pub fn get(&mut self) -> &[u8] {
        self.get_at(now_secs())
    }

    /// The date for `secs` since the epoch, reusing the cache when the
    /// second has not changed (exposed for tests and for callers that
    /// already read the clock).
    pub fn get_at(&mut self, secs: u64) -> &[u8] {
        if secs != self.secs {
            self.secs = secs;
            self.buf = format_http_date(secs);
        }
        &self.buf
    }
}

fn now_secs() -> u64 {
    // The coarse clock (updated every tick, a few ms) is plenty for a
    // one-second field and costs no clock-source read: this runs for every
    // response.
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own.
    if unsafe { libc::clock_gettime(libc::CLOCK_REALTIME_COARSE, &mut ts) } == 0 {
        return u64::try_from(ts.tv_sec).unwrap_or(0);
    }
    // A clock before 1970 is a broken host; send the epoch rather than panic.
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Formats `secs` since the Unix epoch as an IMF-fixdate (RFC 9110 §5.6.7).
pub fn format_http_date(secs: u64) -> [u8; HTTP_DATE_LEN] {
    const DAYS: [&[u8; 3]; 7] = [b"Thu", b"Fri", b"Sat", b"Sun", b"Mon", b"Tue", b"Wed"];
    const MONTHS: [&[u8; 3]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec",
    ];

    let secs = secs.min(MAX_SECS);
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (hh, mm, ss) = (rem / 3600, rem / 60 % 60, rem % 60);
    let (year, month, day) = civil_from_days(days as i64);
    // 1970-01-01 was a Thursday.
    let wd = DAYS.get((days % 7) as usize).copied().unwrap_or(b"Thu");
    let mon = MONTHS
        .get((month as usize).wrapping_sub(1))
        .copied()
        .unwrap_or(b"Jan");

    let mut b = *b"Thu, 01 Jan 1970 00:00:00 GMT";
    let two = |n: u64| [b'0' + (n / 10 % 10) as u8, b'0' + (n % 10) as u8];
    b[0..3].copy_from_slice(wd);
    b[5..7].copy_from_slice(&two(u64::from(day)));
    b[8..11].copy_from_slice(mon);
    let y = year.clamp(0, 9999) as u64;
    b[12..14].copy_from_slice(&two(y / 100));
    b[14..16].copy_from_slice(&two(y % 100));
    b[17..19].copy_from_slice(&two(hh));
    b[20..22].copy_from_slice(&two(mm));
    b[23..25].copy_from_slice(&two(ss));
    b
}

/// Days since 1970-01-01 → (year, month 1-12, day 1-31), proleptic
/// Gregorian. Howard Hinnant's `civil_from_days`: shift the year to start
/// in March so the leap day is last, then split into 400-year eras.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468; // days from 0000-03-01 to 1970-01-01
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11], March = 0
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32; // [1, 31]
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32; // [1, 12]
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn reason_phrases() {
        assert_eq!(reason_phrase(200), "OK");
        assert_eq!(reason_phrase(404), "Not Found");
        assert_eq!(reason_phrase(413), "Content Too Large");
        assert_eq!(reason_phrase(414), "URI Too Long");
        assert_eq!(reason_phrase(417), "Expectation Failed");
        assert_eq!(reason_phrase(431), "Request Header Fields Too Large");
        assert_eq!(reason_phrase(505), "HTTP Version Not Supported");
        assert_eq!(reason_phrase(599), "");
        assert_eq!(reason_phrase(0), "");
    }

    #[test]
    fn error_response_exact_bytes() {
        let r = error_response(400, "ferricorn", b"Wed, 25 Nov 2026 10:41:32 GMT");
        let expected = "HTTP/1.1 400 Bad Request\r\nServer: ferricorn\r\nDate: Wed, 25 Nov 2026 10:41:32 GMT\r\n\
Connection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 16\r\n\r\n400 Bad Request\n";
        assert_eq!(String::from_utf8_lossy(&r), expected);
    }

    #[test]
    fn error_response_content_length_matches_body() {
        for code in [400u16, 414, 417, 431, 501, 505, 599, 42, 1000] {
            let r = error_response(code, "s", b"d");
            let text = String::from_utf8_lossy(&r).into_owned();
            let (head, body) = text.split_once("\r\n\r\n").unwrap();
            let cl: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("Content-Length: "))
                .unwrap()
                .parse()
                .unwrap();
            assert_eq!(cl, body.len(), "code {code}");
        }
        let r = error_response(42, "s", b"d");
        assert!(r.starts_with(b"HTTP/1.1 500 Internal Server Error\r\n"));
        let r = error_response(599, "s", b"d");
        assert!(r.starts_with(b"HTTP/1.1 599 \r\n"));
    }

    #[test]
    fn error_response_strips_control_chars() {
        let r = error_response(400, "evil\r\nSet-Cookie: x=1", b"d\r\nX: y");
        let text = String::from_utf8_lossy(&r);
        assert!(!text.contains("\r\nSet-Cookie"));
        assert!(text.contains("Server: evilSet-Cookie: x=1\r\n"));
        assert!(text.contains("Date: dX: y\r\n"));
    }

    #[test]
    fn push_decimal_values() {
        for n in [0u64, 7, 10, 16, 12345, u64::MAX] {
            let mut v = Vec::new();
            push_decimal(&mut v, n);
            assert_eq!(v, n.to_string().as_bytes());
        }
    }

    #[test]
    fn known_dates() {
        let cases: &[(u64, &str)] = &[
            (0, "Thu, 01 Jan 1970 00:00:00 GMT"),
            (784_111_777, "Sun, 06 Nov 1994 08:49:37 GMT"), // RFC 9110 example
            (951_782_400, "Tue, 29 Feb 2000 00:00:00 GMT"),
            (1_709_208_000, "Thu, 29 Feb 2024 12:00:00 GMT"),
            (1_735_689_599, "Tue, 31 Dec 2024 23:59:59 GMT"),
            (1_735_689_600, "Wed, 01 Jan 2025 00:00:00 GMT"),
            (4_107_542_400, "Mon, 01 Mar 2100 00:00:00 GMT"), // 2100 is not leap
            (253_402_300_799, "Fri, 31 Dec 9999 23:59:59 GMT"),
            (u64::MAX, "Fri, 31 Dec 9999 23:59:59 GMT"),
        ];
        for &(secs, want) in cases {
            assert_eq!(
                std::str::from_utf8(&format_http_date(secs)).unwrap(),
                want,
                "{secs}"
            );
        }
    }

    #[test]
    fn civil_round_trip_against_naive_walk() {
        // Walk day by day from 1970 to 2200 with a naive calendar.
        let mut y = 1970i64;
        let mut m = 1u32;
        let mut d = 1u32;
        for z in 0..(230 * 366) {
            assert_eq!(civil_from_days(z), (y, m, d), "day {z}");
            let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
            let mdays = match m {
                2 if leap => 29,
                2 => 28,
                4 | 6 | 9 | 11 => 30,
                _ => 31,
            };
            d += 1;
            if d > mdays {
                d = 1;
                m += 1;
                if m > 12 {
                    m = 1;
                    y += 1;
                }
            }
        }
    }

    #[test]
    fn http_date_cache() {
        let mut h = HttpDate::new();
        let live = h.get().to_vec();
        assert_eq!(live.len(), HTTP_DATE_LEN);
        assert!(live.ends_with(b" GMT"));
        assert_eq!(h.get_at(0), b"Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(h.get_at(0), b"Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(h.get_at(1), b"Thu, 01 Jan 1970 00:00:01 GMT");
    }
}
