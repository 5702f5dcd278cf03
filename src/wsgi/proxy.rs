//! Trusting a proxy in front: `--forwarded-allow-ips` and
//! `secure_scheme_headers`, with Gunicorn's semantics.
//!
//! Owns: deciding whether a connection's peer is a trusted proxy (an exact
//! address, a CIDR network, `*`, or any Unix-socket peer, as in Gunicorn) and,
//! for trusted peers, what `wsgi.url_scheme` the scheme headers ask for.
//!
//! Must never: trust a header from an untrusted peer, or change REMOTE_ADDR
//! (Gunicorn deliberately keeps the socket peer there; so do we).

use std::net::IpAddr;

/// One entry of `--forwarded-allow-ips`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Allow {
    Any,
    Net(IpAddr, u8),
}

/// The parsed proxy settings of a worker.
#[derive(Debug, Clone, Default)]
pub struct ProxyTrust {
    allow: Vec<Allow>,
    /// (upper-case header name, exact value meaning https)
    secure: Vec<(Vec<u8>, Vec<u8>)>,
}

fn parse_allow(entry: &str) -> Option<Allow> {
    let e = entry.trim();
    if e == "*" {
        return Some(Allow::Any);
    }
    let (addr, prefix) = match e.split_once('/') {
        Some((a, p)) => (a, Some(p.parse::<u8>().ok()?)),
        None => (e, None),
    };
    let ip: IpAddr = addr
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let p = prefix.unwrap_or(max);
    (p <= max).then_some(Allow::Net(ip, p))
}

fn in_net(ip: IpAddr, net: IpAddr, prefix: u8) -> bool {
    // An IPv4 peer on a dual-stack socket shows up as ::ffff:a.b.c.d.
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    };
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = if prefix == 0 {
                0
            } else {
                u32::MAX << (32 - prefix as u32)
            };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = if prefix == 0 {
                0
            } else {
                u128::MAX << (128 - prefix as u32)
            };
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// What the scheme headers of a request say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// No (trusted) scheme header: the listener's own scheme.
    Default,
    Http,
    Https,
    /// Two scheme headers disagree: Gunicorn answers 400.
    Conflict,
}

impl ProxyTrust {
    /// Entries that do not parse are reported; the rest apply.
    pub fn new(allow: &[String], secure: &[(String, String)]) -> (ProxyTrust, Vec<String>) {
        let mut bad = Vec::new();
        let allow = allow
            .iter()
            .filter(|e| !e.trim().is_empty())
            .filter_map(|e| {
                let a = parse_allow(e);
                if a.is_none() {
                    bad.push(e.clone());
                }
                a
            })
            .collect();
        let secure = secure
            .iter()
            .map(|(k, v)| (k.to_ascii_uppercase().into_bytes(), v.clone().into_bytes()))
            .collect();
        (ProxyTrust { allow, secure }, bad)
    }

    /// Whether headers from this peer may set the scheme (Unix peers: yes).
    pub fn trusts(&self, peer: Option<IpAddr>) -> bool {
        match peer {
            None => true,
            Some(ip) => self.allow.iter().any(|a| match a {
                Allow::Any => true,
                Allow::Net(net, p) => in_net(ip, *net, *p),
            }),
        }
    }

    /// The scheme asked for by `headers` (name, value) of a trusted peer.
    pub fn scheme<'a>(&self, headers: impl Iterator<Item = (&'a [u8], &'a [u8])>) -> Scheme {
        if self.secure.is_empty() {
            return Scheme::Default;
        }
        let mut found = Scheme::Default;
        for (name, value) in headers {
            let Some((_, want)) = self
                .secure
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
            else {
                continue;
            };
            let s = if value == want.as_slice() {
                Scheme::Https
            } else {
                Scheme::Http
            };
            match found {
                Scheme::Default => found = s,
                f if f != s => return Scheme::Conflict,
                _ => {}
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trust(allow: &[&str]) -> ProxyTrust {
        let allow: Vec<String> = allow.iter().map(|s| s.to_string()).collect();
        let secure = vec![
            ("X-Forwarded-Proto".to_string(), "https".to_string()),
            ("X-FORWARDED-SSL".into(), "on".into()),
        ];
        ProxyTrust::new(&allow, &secure).0
    }

    #[test]
    fn allow_lists() {
        let t = trust(&["127.0.0.1", "::1", "10.0.0.0/8"]);
        assert!(t.trusts(Some("127.0.0.1".parse().unwrap())));
        assert!(t.trusts(Some("::1".parse().unwrap())));
        assert!(t.trusts(Some("10.2.3.4".parse().unwrap())));
        assert!(t.trusts(Some("::ffff:10.2.3.4".parse().unwrap())));
        assert!(!t.trusts(Some("192.168.1.1".parse().unwrap())));
        assert!(t.trusts(None));
        assert!(trust(&["*"]).trusts(Some("8.8.8.8".parse().unwrap())));
        assert_eq!(
            ProxyTrust::new(&["nope".into()], &[]).1,
            vec!["nope".to_string()]
        );
    }

    #[test]
    fn scheme_headers() {
        let t = trust(&["*"]);
        let h = |v: &[(&'static str, &'static str)]| {
            t.scheme(v.iter().map(|(a, b)| (a.as_bytes(), b.as_bytes())))
        };
        assert_eq!(h(&[]), Scheme::Default);
        assert_eq!(h(&[("x-forwarded-proto", "https")]), Scheme::Https);
        assert_eq!(h(&[("X-Forwarded-Proto", "http")]), Scheme::Http);
        assert_eq!(
            h(&[("X-Forwarded-Proto", "https"), ("X-Forwarded-SSL", "on")]),
            Scheme::Https
        );
        assert_eq!(
            h(&[("X-Forwarded-Proto", "https"), ("X-Forwarded-SSL", "off")]),
            Scheme::Conflict
        );
    }
}
