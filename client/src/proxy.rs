//! Proxies: which one a URL goes through ([`Proxy`], the environment as curl reads it),
//! and the blocking IO around the codec's sans-IO handshakes
//! ([`wisp_codec::proxy::ProxyHandshake`]): connect to the proxy, write what the
//! handshake says, read under the connect deadline, until the tunnel is up.

use std::io::{self, Read, Write};
use std::net::{IpAddr, TcpStream};
use std::time::{Duration, Instant};

pub use wisp_codec::proxy::{Credentials, ProxyError};
use wisp_codec::proxy::{ProxyHandshake, Step, Target};

use crate::{Error, Url, UrlError, UrlErrorKind};

/// The kinds of proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyKind {
    /// `http://`: an HTTP `CONNECT` tunnel.
    Http,
    /// `socks5://`: SOCKS5, the destination's name resolved here (the proxy gets an
    /// address).
    Socks5,
    /// `socks5h://`: SOCKS5, the name resolved by the proxy (sent as a name, ATYP 3).
    Socks5h,
}

/// A proxy URL: `http://[user:pass@]host[:port]` (port 1080 by default, as curl),
/// `socks5://...` or `socks5h://...` (port 1080). User and password may be
/// percent-encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyUrl {
    /// How to talk to the proxy.
    pub kind: ProxyKind,
    /// The proxy's host (without brackets for IPv6).
    pub host: String,
    /// The proxy's port.
    pub port: u16,
    /// Basic auth (HTTP) or RFC 1929 (SOCKS5) credentials.
    pub credentials: Option<Credentials>,
}

impl ProxyUrl {
    /// Parses a proxy URL; no scheme means `http://`, as in curl.
    ///
    /// ```
    /// use wisp_client::{ProxyKind, ProxyUrl};
    /// let p = ProxyUrl::parse("socks5h://me:p%40ss@127.0.0.1:1080").unwrap();
    /// assert_eq!((p.kind, p.host.as_str(), p.port), (ProxyKind::Socks5h, "127.0.0.1", 1080));
    /// assert_eq!(p.credentials.unwrap().password, "p@ss");
    /// assert_eq!(ProxyUrl::parse("proxy.local:3128").unwrap().kind, ProxyKind::Http);
    /// assert!(ProxyUrl::parse("ftp://proxy.local").is_err());
    /// ```
    pub fn parse(url: &str) -> Result<ProxyUrl, Error> {
        let bad = |kind| Error::InvalidUrl(UrlError::new(url, kind));
        let (scheme, rest) = match url.split_once("://") {
            Some((s, r)) => (s.to_ascii_lowercase(), r),
            None => ("http".to_string(), url),
        };
        let kind = match scheme.as_str() {
            "http" => ProxyKind::Http,
            "socks5" => ProxyKind::Socks5,
            "socks5h" => ProxyKind::Socks5h,
            _ => return Err(bad(UrlErrorKind::ProxyScheme(scheme))),
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let credentials = userinfo.map(|u| {
            let (user, pass) = u.split_once(':').unwrap_or((u, ""));
            Credentials::new(&percent_decode(user), &percent_decode(pass))
        });
        let (host, port) = split_host_port(hostport).ok_or_else(|| bad(UrlErrorKind::NoHost))?;
        let port = match port {
            None => 1080,
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| bad(UrlErrorKind::Port(p.to_string())))?,
        };
        Ok(ProxyUrl {
            kind,
            host: host.to_string(),
            port,
            credentials,
        })
    }

    /// `host:port` of the proxy, for messages.
    pub fn address(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// `host[:port]` or `[v6][:port]`; `None` without a host.
fn split_host_port(s: &str) -> Option<(&str, Option<&str>)> {
    let (host, port) = if let Some(v6) = s.strip_prefix('[') {
        let (h, after) = v6.split_once(']')?;
        (h, after.strip_prefix(':'))
    } else {
        match s.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    (!host.is_empty()).then_some((host, port))
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Which proxy a connection goes through ([`Options::proxy`](crate::Options::proxy)).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Proxy {
    /// Straight to the server (the library's default).
    #[default]
    Direct,
    /// The environment, as curl reads it (the CLI's default): see [`proxy_from_env`].
    FromEnv,
    /// This proxy.
    Url(ProxyUrl),
}

impl Proxy {
    /// The proxy for `url`, if any.
    pub fn for_url(&self, url: &Url) -> Result<Option<ProxyUrl>, Error> {
        match self {
            Proxy::Direct => Ok(None),
            Proxy::Url(p) => Ok(Some(p.clone())),
            Proxy::FromEnv => proxy_from_env(url, |name| std::env::var(name).ok()),
        }
    }
}

/// The proxy the environment (through `env`) names for `url`, as curl reads it:
/// `wss://` takes `https_proxy`, `ws://` `http_proxy` (lower case first, then upper
/// case), then `all_proxy`/`ALL_PROXY`; empty values count as unset. `no_proxy` /
/// `NO_PROXY` then lets hosts go direct (see [`no_proxy_matches`]).
///
/// ```
/// use wisp_client::{parse_url, proxy_from_env, ProxyKind};
/// let env = |name: &str| match name {
///     "HTTPS_PROXY" => Some("socks5h://127.0.0.1:1080".to_string()),
///     "NO_PROXY" => Some("localhost,.internal".to_string()),
///     _ => None,
/// };
/// let via = proxy_from_env(&parse_url("wss://example.com/").unwrap(), env).unwrap();
/// assert_eq!(via.unwrap().kind, ProxyKind::Socks5h);
/// assert!(proxy_from_env(&parse_url("wss://db.internal/").unwrap(), env).unwrap().is_none());
/// assert!(proxy_from_env(&parse_url("ws://example.com/").unwrap(), env).unwrap().is_none());
/// ```
pub fn proxy_from_env(
    url: &Url,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<ProxyUrl>, Error> {
    let get = |lower: &str| {
        env(lower)
            .filter(|v| !v.trim().is_empty())
            .or_else(|| env(&lower.to_ascii_uppercase()).filter(|v| !v.trim().is_empty()))
    };
    let scheme_var = if url.tls { "https_proxy" } else { "http_proxy" };
    let Some(value) = get(scheme_var).or_else(|| get("all_proxy")) else {
        return Ok(None);
    };
    if let Some(no) = get("no_proxy") {
        if no_proxy_matches(&no, &url.host) {
            return Ok(None);
        }
    }
    ProxyUrl::parse(value.trim()).map(Some)
}

/// True when `host` is in a `NO_PROXY` list, as curl reads it: entries separated by
/// commas (or spaces); `*` matches everything; a name matches itself and its
/// subdomains (`example.com` and `.example.com` both match `www.example.com`); an IP
/// address matches itself, and `ADDR/BITS` a range. Case does not matter; ports in
/// entries are ignored.
///
/// ```
/// use wisp_client::no_proxy_matches;
/// assert!(no_proxy_matches("localhost, .corp.example", "git.corp.example"));
/// assert!(no_proxy_matches("example.com", "EXAMPLE.com"));
/// assert!(!no_proxy_matches("example.com", "badexample.com"));
/// assert!(no_proxy_matches("10.0.0.0/8,::1", "10.1.2.3"));
/// assert!(no_proxy_matches("10.0.0.0/8,[::1]", "::1"));
/// assert!(!no_proxy_matches("127.0.0.1", "127.0.0.2"));
/// assert!(no_proxy_matches("*", "anything"));
/// ```
pub fn no_proxy_matches(list: &str, host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let host_ip = host.parse::<IpAddr>().ok();
    list.split([',', ' ', '\t'])
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .any(|entry| {
            if entry == "*" {
                return true;
            }
            let entry = entry.to_ascii_lowercase();
            // An IP or a range: [v6], v6, v4, each maybe /bits.
            let bare = entry.trim_start_matches('[');
            let (addr, bits) = match bare.split_once('/') {
                Some((a, b)) => (a, b.parse::<u32>().ok()),
                None => (bare, None),
            };
            let addr = addr.split(']').next().unwrap_or(addr);
            if let (Ok(net), Some(ip)) = (addr.parse::<IpAddr>(), host_ip) {
                return in_range(ip, net, bits);
            }
            if addr.parse::<IpAddr>().is_ok() {
                return false;
            }
            // A name, maybe with a port (ignored) and a leading dot.
            let name = entry.split(':').next().unwrap_or(&entry);
            let name = name.trim_start_matches('.').trim_end_matches('.');
            !name.is_empty()
                && (host == name
                    || (host.len() > name.len()
                        && host.ends_with(name)
                        && host.as_bytes()[host.len() - name.len() - 1] == b'.'))
        })
}

fn in_range(ip: IpAddr, net: IpAddr, bits: Option<u32>) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let bits = bits.unwrap_or(32).min(32);
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - bits)
            };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let bits = bits.unwrap_or(128).min(128);
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - bits)
            };
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// Connects to the proxy and opens a tunnel to `url`'s host and port, all within
/// `timeout`. Returns the socket and the tunnel's first bytes, if the proxy sent any
/// with its answer.
pub(crate) fn open_tunnel(
    proxy: &ProxyUrl,
    url: &Url,
    timeout: Duration,
) -> Result<(TcpStream, Vec<u8>), Error> {
    let deadline = Instant::now() + timeout;
    let creds = proxy.credentials.as_ref();
    let handshake = match proxy.kind {
        ProxyKind::Http => ProxyHandshake::http_connect(&url.host, url.port, creds),
        ProxyKind::Socks5h => ProxyHandshake::socks5(Target::name(&url.host), url.port, creds),
        ProxyKind::Socks5 => {
            // DNS here: the proxy gets an address.
            let addr = crate::resolve(&url.host, url.port)?
                .into_iter()
                .next()
                .ok_or_else(|| crate::no_address(&url.host))?;
            ProxyHandshake::socks5(Target::Ip(addr.ip()), url.port, creds)
        }
    };
    let mut handshake = handshake.map_err(Error::Proxy)?;
    let mut tcp = crate::connect_tcp(&proxy.host, proxy.port, timeout, "the proxy ")?;
    let mut chunk = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Error::Io(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "the proxy {} did not open the tunnel in time",
                    proxy.address()
                ),
            )));
        }
        if !handshake.pending_output().is_empty() {
            tcp.set_write_timeout(Some(left))?;
            tcp.write_all(handshake.pending_output())
                .map_err(Error::Io)?;
            let n = handshake.pending_output().len();
            handshake.advance_output(n);
        }
        tcp.set_read_timeout(Some(left))?;
        let n = match tcp.read(&mut chunk) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            // Out of time: a refusal whose body never ended is still a refusal.
            Err(e) if wisp_codec::blocking::is_timeout(&e) => {
                return Err(match handshake.handle_eof() {
                    refused @ ProxyError::Refused { .. } => Error::Proxy(refused),
                    _ => Error::Io(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!(
                            "the proxy {} did not open the tunnel in time",
                            proxy.address()
                        ),
                    )),
                })
            }
            Err(e) => return Err(Error::Io(e)),
        };
        if n == 0 {
            return Err(Error::Proxy(handshake.handle_eof()));
        }
        match handshake.handle_input(&chunk[..n]).map_err(Error::Proxy)? {
            Step::Continue => {}
            Step::Done { consumed } => return Ok((tcp, chunk[consumed..n].to_vec())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_urls() {
        let p = ProxyUrl::parse("http://u:p@[::1]:3128/").unwrap();
        assert_eq!((p.host.as_str(), p.port), ("::1", 3128));
        assert_eq!(p.address(), "[::1]:3128");
        assert_eq!(p.credentials, Some(Credentials::new("u", "p")));
        assert!(ProxyUrl::parse("socks5://:1080").is_err());
        assert!(ProxyUrl::parse("socks5://h:0").is_err());
        assert!(ProxyUrl::parse("https://h:1").is_err());
        assert_eq!(percent_decode("a%20b%zz%"), "a b%zz%");
    }

    #[test]
    fn env_precedence() {
        let url = crate::parse_url("ws://example.com/").unwrap();
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |n: &str| {
                vars.iter()
                    .find(|(k, _)| *k == n)
                    .map(|(_, v)| v.to_string())
            }
        };
        let got = |vars| proxy_from_env(&url, env(vars)).unwrap().map(|p| p.port);
        assert_eq!(
            got(&[("http_proxy", "h:1"), ("HTTP_PROXY", "h:2")]),
            Some(1)
        );
        assert_eq!(got(&[("http_proxy", ""), ("HTTP_PROXY", "h:2")]), Some(2));
        assert_eq!(got(&[("https_proxy", "h:3")]), None);
        assert_eq!(got(&[("ALL_PROXY", "h:4")]), Some(4));
        assert_eq!(got(&[("ALL_PROXY", "h:4"), ("no_proxy", "*")]), None);
        assert_eq!(
            got(&[("all_proxy", "h:5"), ("NO_PROXY", "other.com")]),
            Some(5)
        );
    }
}
