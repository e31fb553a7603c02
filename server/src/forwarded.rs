//! Trusted proxies (`--trusted-proxy CIDR`) and the client address they forward:
//! [`Cidr`], and the last untrusted hop of `Forwarded` (RFC 7239) or `X-Forwarded-For`.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

/// An address range, `10.0.0.0/8` or `::1/128`; a bare address is its own /32 or /128.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    bits: u8,
}

impl Cidr {
    /// Whether `ip` is in the range (an IPv4-mapped IPv6 address counts as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        match (self.addr, ip) {
            (IpAddr::V4(a), IpAddr::V4(b)) => prefix_eq(&a.octets(), &b.octets(), self.bits),
            (IpAddr::V6(a), IpAddr::V6(b)) => prefix_eq(&a.octets(), &b.octets(), self.bits),
            _ => false,
        }
    }
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn prefix_eq(a: &[u8], b: &[u8], bits: u8) -> bool {
    let (whole, rest) = (usize::from(bits / 8), bits % 8);
    if a[..whole] != b[..whole] {
        return false;
    }
    rest == 0 || (a[whole] ^ b[whole]) >> (8 - rest) == 0
}

/// Why a `--trusted-proxy` value is not a range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CidrError(String);

impl fmt::Display for CidrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} is not an address range (expected 10.0.0.0/8, ::1/128 or an address)",
            self.0
        )
    }
}

impl std::error::Error for CidrError {}

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(s: &str) -> Result<Cidr, CidrError> {
        let err = || CidrError(s.to_string());
        let (addr, bits) = match s.split_once('/') {
            Some((a, b)) => (a, Some(b)),
            None => (s, None),
        };
        let addr = canonical(addr.parse::<IpAddr>().map_err(|_| err())?);
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let bits = match bits {
            None => max,
            Some(b) if !b.is_empty() && b.bytes().all(|c| c.is_ascii_digit()) => {
                b.parse::<u8>().map_err(|_| err())?
            }
            Some(_) => return Err(err()),
        };
        if bits > max {
            return Err(err());
        }
        Ok(Cidr { addr, bits })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.bits)
    }
}

/// Whether `ip` is in one of `trusted`.
pub(crate) fn is_trusted(trusted: &[Cidr], ip: IpAddr) -> bool {
    trusted.iter().any(|c| c.contains(ip))
}

/// A forwarded header that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ForwardedError(pub(crate) &'static str);

impl fmt::Display for ForwardedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// The client's address from the request's `Forwarded` (preferred) or
/// `X-Forwarded-For` headers: walking the hops from the nearest, the first that is
/// not a trusted proxy (or the farthest when all are). `Ok(None)`: neither header.
/// An obfuscated or `unknown` hop in `Forwarded` ends the walk there: that hop is the
/// client, with no address, so the connection's own stands (`Ok(None)`).
pub(crate) fn client_addr(
    headers: &[(String, String)],
    trusted: &[Cidr],
) -> Result<Option<IpAddr>, ForwardedError> {
    let values = |name: &str| -> Vec<&str> {
        headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .flat_map(|(_, v)| v.split(','))
            .collect()
    };
    let hops: Vec<Option<IpAddr>> = {
        let fwd = values("forwarded");
        if !fwd.is_empty() {
            fwd.iter()
                .map(|e| forwarded_for(e))
                .collect::<Result<_, _>>()?
        } else {
            let xff = values("x-forwarded-for");
            if xff.is_empty() {
                return Ok(None);
            }
            xff.iter()
                .map(|e| parse_node(e.trim()).map(Some))
                .collect::<Result<_, _>>()?
        }
    };
    let mut client = None;
    for hop in hops.iter().rev() {
        match hop {
            Some(ip) if is_trusted(trusted, *ip) => client = Some(*ip),
            Some(ip) => return Ok(Some(*ip)),
            None => return Ok(None),
        }
    }
    Ok(client)
}

/// The `for=` of one `Forwarded` element: `Some(ip)`, or `None` for `unknown` and
/// obfuscated identifiers (`_hidden`).
fn forwarded_for(element: &str) -> Result<Option<IpAddr>, ForwardedError> {
    for pair in element.split(';') {
        let Some((k, v)) = pair.trim().split_once('=') else {
            return Err(ForwardedError("Forwarded: a pair without '='"));
        };
        if !k.trim().eq_ignore_ascii_case("for") {
            continue;
        }
        let v = v.trim();
        let v = match v.strip_prefix('"') {
            Some(q) => q
                .strip_suffix('"')
                .ok_or(ForwardedError("Forwarded: an unterminated quoted string"))?,
            None => v,
        };
        if v.eq_ignore_ascii_case("unknown") || v.starts_with('_') {
            return Ok(None);
        }
        return parse_node(v).map(Some);
    }
    Err(ForwardedError("Forwarded: an element without for="))
}

/// `1.2.3.4`, `1.2.3.4:80`, `[::1]`, `[::1]:80` or `::1`.
fn parse_node(s: &str) -> Result<IpAddr, ForwardedError> {
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Ok(canonical(ip));
    }
    if let Ok(sa) = s.parse::<SocketAddr>() {
        return Ok(canonical(sa.ip()));
    }
    if let Some(inner) = s.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        if let Ok(ip) = inner.parse::<IpAddr>() {
            return Ok(canonical(ip));
        }
    }
    // `[::1]:_obf` and the like: an address with an obfuscated port.
    if let Some((host, _)) = s.rsplit_once(':') {
        if let Some(inner) = host.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            if let Ok(ip) = inner.parse::<IpAddr>() {
                return Ok(canonical(ip));
            }
        }
    }
    Err(ForwardedError(
        "a forwarded address that is not an IP address",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn cidrs() {
        let c: Cidr = "10.0.0.0/8".parse().unwrap();
        assert!(c.contains([10, 1, 2, 3].into()));
        assert!(!c.contains([11, 0, 0, 0].into()));
        assert!(c.contains("::ffff:10.0.0.1".parse().unwrap()));
        let c: Cidr = "127.0.0.1".parse().unwrap();
        assert!(c.contains([127, 0, 0, 1].into()) && !c.contains([127, 0, 0, 2].into()));
        let c: Cidr = "fd00::/8".parse().unwrap();
        assert!(c.contains("fd12::1".parse().unwrap()));
        assert!(!c.contains([10, 0, 0, 1].into()));
        let c: Cidr = "192.168.4.0/22".parse().unwrap();
        assert!(c.contains([192, 168, 7, 255].into()) && !c.contains([192, 168, 8, 0].into()));
        assert!("0.0.0.0/0"
            .parse::<Cidr>()
            .unwrap()
            .contains([1, 2, 3, 4].into()));
        for bad in [
            "",
            "10.0.0.0/33",
            "10.0.0.0/",
            "10/8",
            "::/129",
            "x",
            "1.2.3.4/+8",
        ] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn last_untrusted_hop() {
        let t: Vec<Cidr> = vec!["10.0.0.0/8".parse().unwrap()];
        let xff = h(&[("X-Forwarded-For", "6.6.6.6, 1.2.3.4, 10.0.0.2")]);
        assert_eq!(client_addr(&xff, &t), Ok(Some([1, 2, 3, 4].into())));
        // Split over two headers: one list.
        let xff = h(&[
            ("x-forwarded-for", "6.6.6.6"),
            ("X-Forwarded-For", "1.2.3.4:5"),
        ]);
        assert_eq!(client_addr(&xff, &t), Ok(Some([1, 2, 3, 4].into())));
        // All trusted: the farthest.
        let xff = h(&[("X-Forwarded-For", "10.0.0.9, 10.0.0.2")]);
        assert_eq!(client_addr(&xff, &t), Ok(Some([10, 0, 0, 9].into())));
        let fwd = h(&[(
            "Forwarded",
            "for=6.6.6.6, for=\"[2001:db8::1]:4711\";proto=https, for=10.1.1.1;by=x",
        )]);
        assert_eq!(
            client_addr(&fwd, &t),
            Ok(Some("2001:db8::1".parse().unwrap()))
        );
        let fwd = h(&[("Forwarded", "for=unknown, for=10.0.0.1")]);
        assert_eq!(client_addr(&fwd, &t), Ok(None));
        assert_eq!(client_addr(&h(&[("Host", "x")]), &t), Ok(None));
        for bad in ["for=\"1.2.3.4", "proto=http", "for", "for=example.com"] {
            assert!(client_addr(&h(&[("Forwarded", bad)]), &t).is_err(), "{bad}");
        }
        assert!(client_addr(&h(&[("X-Forwarded-For", "1.2.3.4, nope")]), &t).is_err());
    }
}
