//! The PROXY protocol (HAProxy's `proxy-protocol.txt`, versions 1 and 2), sans-IO: the
//! header a load balancer (nginx `proxy_protocol on`, HAProxy `send-proxy[-v2]`) writes
//! before the client's bytes, naming the client's address. Bytes in, a verdict out:
//! more bytes needed, the address and the header's length, or an error that says what
//! is wrong. Every length is bounded before it is trusted: a v1 line is at most 107
//! bytes, a v2 header at most [`MAX_V2`].

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The 12 bytes a v2 header starts with.
pub(crate) const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
const V1_PREFIX: &[u8] = b"PROXY ";
/// The longest v1 line, CRLF included (the spec's 107).
const MAX_V1: usize = 107;
/// The longest v2 header accepted (16 bytes + addresses + TLVs): TLVs beyond this are
/// refused, however long the header says it is.
pub(crate) const MAX_V2: usize = 16 + 2048;

/// What the first bytes of a connection say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Start {
    /// Too few bytes yet: they begin like a PROXY header.
    Maybe,
    /// A PROXY header (v1 or v2) starts here.
    Yes,
    /// Not a PROXY header.
    No,
}

/// Whether `buf` starts with a PROXY header.
pub(crate) fn detect(buf: &[u8]) -> Start {
    for sig in [V1_PREFIX, &V2_SIGNATURE[..]] {
        let n = buf.len().min(sig.len());
        if buf[..n] == sig[..n] {
            return if n == sig.len() {
                Start::Yes
            } else {
                Start::Maybe
            };
        }
    }
    Start::No
}

/// A malformed PROXY header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ProxyHeaderError {
    /// Not a PROXY header at all.
    Signature,
    /// A v1 line longer than 107 bytes.
    V1TooLong,
    /// A v1 line that does not parse (`what`).
    V1(&'static str),
    /// A v2 version other than 2, or a command other than LOCAL and PROXY.
    V2Version(u8),
    /// A v2 header that says it is longer than [`MAX_V2`].
    V2TooLong(usize),
    /// A v2 address block shorter than its family needs.
    V2Short,
}

impl fmt::Display for ProxyHeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Signature => write!(f, "no PROXY protocol signature"),
            Self::V1TooLong => write!(f, "PROXY v1 line longer than {MAX_V1} bytes"),
            Self::V1(what) => write!(f, "PROXY v1 line: {what}"),
            Self::V2Version(b) => write!(f, "PROXY v2: bad version/command byte {b:#04x}"),
            Self::V2TooLong(n) => {
                write!(
                    f,
                    "PROXY v2 header of {n} bytes (at most {MAX_V2} accepted)"
                )
            }
            Self::V2Short => write!(f, "PROXY v2: address block too short for its family"),
        }
    }
}

/// A complete header: the client's address (`None`: `UNKNOWN` / `LOCAL` / an
/// unspecified family, so the connection's own address stands) and its length.
pub(crate) type Parsed = (Option<SocketAddr>, usize);

/// Parses a PROXY header at the start of `buf`: `Ok(None)` while more bytes are needed.
pub(crate) fn parse(buf: &[u8]) -> Result<Option<Parsed>, ProxyHeaderError> {
    match detect(buf) {
        Start::Maybe => Ok(None),
        Start::No => Err(ProxyHeaderError::Signature),
        Start::Yes if buf.starts_with(V1_PREFIX) => parse_v1(buf),
        Start::Yes => parse_v2(buf),
    }
}

fn parse_v1(buf: &[u8]) -> Result<Option<Parsed>, ProxyHeaderError> {
    let window = &buf[..buf.len().min(MAX_V1)];
    let Some(end) = window.windows(2).position(|w| w == b"\r\n") else {
        return if buf.len() >= MAX_V1 {
            Err(ProxyHeaderError::V1TooLong)
        } else {
            Ok(None)
        };
    };
    let line = std::str::from_utf8(&buf[V1_PREFIX.len()..end])
        .map_err(|_| ProxyHeaderError::V1("not ASCII"))?;
    let mut parts = line.split(' ');
    let family = parts.next().unwrap_or("");
    if family == "UNKNOWN" {
        return Ok(Some((None, end + 2)));
    }
    let fields: Vec<&str> = parts.collect();
    let [src, _dst, sport, _dport] = fields[..] else {
        return Err(ProxyHeaderError::V1("expected 4 fields after the family"));
    };
    let ip: IpAddr = match family {
        "TCP4" => src
            .parse::<Ipv4Addr>()
            .map_err(|_| ProxyHeaderError::V1("bad IPv4 source"))?
            .into(),
        "TCP6" => src
            .parse::<Ipv6Addr>()
            .map_err(|_| ProxyHeaderError::V1("bad IPv6 source"))?
            .into(),
        _ => return Err(ProxyHeaderError::V1("unknown family")),
    };
    let port = parse_port(sport).ok_or(ProxyHeaderError::V1("bad source port"))?;
    if parse_port(fields[3]).is_none() {
        return Err(ProxyHeaderError::V1("bad destination port"));
    }
    Ok(Some((Some(SocketAddr::new(ip, port)), end + 2)))
}

fn parse_port(s: &str) -> Option<u16> {
    // Digits only, no sign, no leading zeros beyond "0" itself.
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0'))
    {
        return None;
    }
    s.parse().ok()
}

fn parse_v2(buf: &[u8]) -> Result<Option<Parsed>, ProxyHeaderError> {
    if buf.len() < 16 {
        return Ok(None);
    }
    let ver_cmd = buf[12];
    if ver_cmd >> 4 != 2 || ver_cmd & 0xf > 1 {
        return Err(ProxyHeaderError::V2Version(ver_cmd));
    }
    let len = 16 + usize::from(u16::from_be_bytes([buf[14], buf[15]]));
    if len > MAX_V2 {
        return Err(ProxyHeaderError::V2TooLong(len));
    }
    if buf.len() < len {
        return Ok(None);
    }
    let block = &buf[16..len];
    // LOCAL: the proxy's own connection (a health check): its address stands.
    if ver_cmd & 0xf == 0 {
        return Ok(Some((None, len)));
    }
    let addr = match buf[13] >> 4 {
        1 => {
            let b: [u8; 12] = block
                .get(..12)
                .and_then(|b| b.try_into().ok())
                .ok_or(ProxyHeaderError::V2Short)?;
            let ip = Ipv4Addr::new(b[0], b[1], b[2], b[3]);
            Some(SocketAddr::new(ip.into(), u16::from_be_bytes([b[8], b[9]])))
        }
        2 => {
            let b: [u8; 36] = block
                .get(..36)
                .and_then(|b| b.try_into().ok())
                .ok_or(ProxyHeaderError::V2Short)?;
            let mut ip = [0u8; 16];
            ip.copy_from_slice(&b[..16]);
            let ip = Ipv6Addr::from(ip);
            Some(SocketAddr::new(
                ip.into(),
                u16::from_be_bytes([b[32], b[33]]),
            ))
        }
        // AF_UNSPEC, AF_UNIX: no IP address to use.
        _ => None,
    };
    Ok(Some((addr, len)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v2(fam: u8, block: &[u8]) -> Vec<u8> {
        let mut b = V2_SIGNATURE.to_vec();
        b.extend_from_slice(&[0x21, fam]);
        b.extend_from_slice(&(block.len() as u16).to_be_bytes());
        b.extend_from_slice(block);
        b
    }

    #[test]
    fn v1_lines() {
        let h = b"PROXY TCP4 127.0.0.7 127.0.0.1 40000 9001\r\nGET / HTTP/1.1\r\n";
        assert_eq!(
            parse(h),
            Ok(Some((Some("127.0.0.7:40000".parse().unwrap()), 43)))
        );
        let h = b"PROXY TCP6 ::1 ::2 1 2\r\n";
        assert_eq!(
            parse(h),
            Ok(Some((Some("[::1]:1".parse().unwrap()), h.len())))
        );
        assert_eq!(parse(b"PROXY UNKNOWN\r\n"), Ok(Some((None, 15))));
        assert_eq!(parse(b"PROXY UNKNOWN a b c d\r\n"), Ok(Some((None, 23))));
        for partial in [&b"P"[..], b"PROX", b"PROXY TCP4 1.2.3.4"] {
            assert_eq!(parse(partial), Ok(None), "{partial:?}");
        }
        for bad in [
            &b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n"[..],
            b"PROXY TCP4 ::1 ::1 1 2\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 70000 1\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 -1 1\r\n",
            b"PROXY UDP4 1.2.3.4 5.6.7.8 1 1\r\n",
            b"PROXY  TCP4 1.2.3.4 5.6.7.8 1 1\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 1 \r\n",
        ] {
            assert!(
                matches!(parse(bad), Err(ProxyHeaderError::V1(_))),
                "{bad:?}"
            );
        }
        let long = [b"PROXY ".as_slice(), &[b'A'; 200]].concat();
        assert_eq!(parse(&long), Err(ProxyHeaderError::V1TooLong));
    }

    #[test]
    fn v2_headers() {
        let mut block = vec![127, 0, 0, 9, 127, 0, 0, 1];
        block.extend_from_slice(&40001u16.to_be_bytes());
        block.extend_from_slice(&9001u16.to_be_bytes());
        let h = v2(0x11, &block);
        assert_eq!(
            parse(&h),
            Ok(Some((Some("127.0.0.9:40001".parse().unwrap()), 28)))
        );
        // TLVs after the addresses are skipped.
        let mut with_tlv = block.clone();
        with_tlv.extend_from_slice(&[0x04, 0, 2, 0, 0]);
        assert_eq!(parse(&v2(0x11, &with_tlv)).unwrap().unwrap().1, 33);
        let mut six = vec![0u8; 36];
        six[15] = 1;
        six[32..34].copy_from_slice(&7u16.to_be_bytes());
        assert_eq!(
            parse(&v2(0x21, &six)),
            Ok(Some((Some("[::1]:7".parse().unwrap()), 52)))
        );
        // LOCAL and AF_UNSPEC: no address.
        let mut local = v2(0x00, &[]);
        local[12] = 0x20;
        assert_eq!(parse(&local), Ok(Some((None, 16))));
        assert_eq!(parse(&v2(0x00, &[])), Ok(Some((None, 16))));
        // Truncated: wait for more; too short for the family: refused.
        for n in 0..h.len() {
            assert_eq!(parse(&h[..n]), Ok(None), "{n}");
        }
        assert_eq!(
            parse(&v2(0x11, &block[..6])),
            Err(ProxyHeaderError::V2Short)
        );
        let mut bad = h.clone();
        bad[12] = 0x11;
        assert_eq!(parse(&bad), Err(ProxyHeaderError::V2Version(0x11)));
        let mut huge = h.clone();
        huge[14..16].copy_from_slice(&u16::MAX.to_be_bytes());
        assert_eq!(parse(&huge), Err(ProxyHeaderError::V2TooLong(65551)));
        assert_eq!(
            parse(b"GET / HTTP/1.1\r\n"),
            Err(ProxyHeaderError::Signature)
        );
        assert_eq!(detect(b"\r\n\r\n\0"), Start::Maybe);
        assert_eq!(detect(b"\r\n\r\nX"), Start::No);
    }

    /// Malformed input of every shape: never a panic, never a length past the input,
    /// never more than a header may be, and a prefix of a whole header never errs.
    #[test]
    fn property_malformed_input() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let seeds: Vec<Vec<u8>> = vec![
            b"PROXY TCP4 127.0.0.7 127.0.0.1 40000 9001\r\n".to_vec(),
            b"PROXY TCP6 ::1 ::2 1 2\r\n".to_vec(),
            v2(0x11, &[127, 0, 0, 9, 127, 0, 0, 1, 1, 2, 3, 4]),
            v2(0x21, &[1; 36]),
        ];
        for round in 0..20_000 {
            let mut b = seeds[round % seeds.len()].clone();
            for _ in 0..(next() % 4) {
                let i = (next() as usize) % b.len();
                match next() % 3 {
                    0 => b[i] = next() as u8,
                    1 => b.truncate(i),
                    _ => b.insert(i, next() as u8),
                }
                if b.is_empty() {
                    b.push(next() as u8);
                }
            }
            let cut = (next() as usize) % (b.len() + 1);
            for input in [&b[..], &b[..cut]] {
                if let Ok(Some((_, n))) = parse(input) {
                    assert!(n <= input.len() && n <= MAX_V2, "{input:?}");
                }
            }
        }
        // A whole header's every prefix asks for more.
        for s in &seeds {
            for n in 0..s.len() {
                assert_eq!(parse(&s[..n]), Ok(None));
            }
        }
    }
}
