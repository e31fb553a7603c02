//! `Sec-WebSocket-Extensions` ([RFC 6455 §9.1](https://www.rfc-editor.org/rfc/rfc6455#section-9.1))
//! and the negotiation of permessage-deflate
//! ([RFC 7692 §5, §7.1](https://www.rfc-editor.org/rfc/rfc7692#section-7.1)): the server's
//! choice among the client's offers, the client's offer, and the client's check of the
//! server's answer.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// The extension's registered name.
pub const PERMESSAGE_DEFLATE: &str = "permessage-deflate";

/// One extension in a `Sec-WebSocket-Extensions` value: its name and its parameters in
/// order, a quoted value already unquoted.
///
/// ```
/// use wisp_codec::extension::parse_extensions;
/// let offers = parse_extensions("permessage-deflate; client_max_window_bits, x-foo; a=\"1\"").unwrap();
/// assert_eq!(offers[0].name, "permessage-deflate");
/// assert_eq!(offers[0].params, [("client_max_window_bits".to_string(), None)]);
/// assert_eq!(offers[1].params, [("a".to_string(), Some("1".to_string()))]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extension {
    /// The extension token, as sent.
    pub name: String,
    /// `(name, value)` pairs; `None` for a parameter without a value.
    pub params: Vec<(String, Option<String>)>,
}

/// A `Sec-WebSocket-Extensions` value that breaks the grammar of RFC 6455 §9.1.
///
/// ```
/// assert!(wisp_codec::extension::parse_extensions("a; =1").is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyntaxError;

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("malformed Sec-WebSocket-Extensions value (RFC 6455 §9.1)")
    }
}

fn is_tchar(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}

struct Cursor<'a> {
    s: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn skip_ws(&mut self) {
        while matches!(self.s.get(self.at), Some(b' ' | b'\t')) {
            self.at += 1;
        }
    }
    fn peek(&self) -> Option<u8> {
        self.s.get(self.at).copied()
    }
    fn token(&mut self) -> Result<String, SyntaxError> {
        let start = self.at;
        while self.peek().is_some_and(is_tchar) {
            self.at += 1;
        }
        if self.at == start {
            return Err(SyntaxError);
        }
        Ok(String::from_utf8_lossy(&self.s[start..self.at]).into_owned())
    }
    /// A quoted-string; §9.1: its unescaped value must itself be a token.
    fn quoted(&mut self) -> Result<String, SyntaxError> {
        self.at += 1;
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None => return Err(SyntaxError),
                Some(b'"') => {
                    self.at += 1;
                    break;
                }
                Some(b'\\') => {
                    let c = *self.s.get(self.at + 1).ok_or(SyntaxError)?;
                    out.push(c);
                    self.at += 2;
                }
                Some(c) => {
                    out.push(c);
                    self.at += 1;
                }
            }
        }
        if out.is_empty() || !out.iter().copied().all(is_tchar) {
            return Err(SyntaxError);
        }
        Ok(String::from_utf8_lossy(&out).into_owned())
    }
}

/// Parses a `Sec-WebSocket-Extensions` value (or several header lines joined with `,`):
/// `extension *( ";" param )` separated by commas, a parameter being `token [ "=" (token
/// / quoted-string) ]`. Empty list elements are skipped (RFC 9110 §5.6.1).
///
/// ```
/// use wisp_codec::extension::parse_extensions;
/// let e = parse_extensions("permessage-deflate;server_max_window_bits=\"10\"").unwrap();
/// assert_eq!(e[0].params[0].1.as_deref(), Some("10"));
/// assert!(parse_extensions("permessage-deflate; x=\"a b\"").is_err()); // not a token
/// ```
pub fn parse_extensions(value: &str) -> Result<Vec<Extension>, SyntaxError> {
    let mut c = Cursor {
        s: value.as_bytes(),
        at: 0,
    };
    let mut out = Vec::new();
    loop {
        c.skip_ws();
        match c.peek() {
            None => return Ok(out),
            Some(b',') => {
                c.at += 1;
                continue;
            }
            Some(_) => {}
        }
        let name = c.token()?;
        let mut params = Vec::new();
        loop {
            c.skip_ws();
            match c.peek() {
                None | Some(b',') => break,
                Some(b';') => c.at += 1,
                Some(_) => return Err(SyntaxError),
            }
            c.skip_ws();
            let key = c.token()?;
            c.skip_ws();
            let mut val = None;
            if c.peek() == Some(b'=') {
                c.at += 1;
                c.skip_ws();
                val = Some(if c.peek() == Some(b'"') {
                    c.quoted()?
                } else {
                    c.token()?
                });
            }
            params.push((key, val));
        }
        out.push(Extension { name, params });
    }
}

/// The parameters of an agreed permessage-deflate: what each side may assume of the
/// other's compressor (RFC 7692 §7.1). A window is 8-15 bits; 15 when not limited.
///
/// ```
/// let p = wisp_codec::extension::DeflateParams::default();
/// assert_eq!((p.server_max_window_bits, p.client_max_window_bits), (15, 15));
/// assert_eq!(p.to_header(), "permessage-deflate");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeflateParams {
    /// The server starts every message with an empty window (§7.1.1.1).
    pub server_no_context_takeover: bool,
    /// The client starts every message with an empty window (§7.1.1.2).
    pub client_no_context_takeover: bool,
    /// The server's LZ77 window is at most this many bits (§7.1.2.1).
    pub server_max_window_bits: u8,
    /// The client's LZ77 window is at most this many bits (§7.1.2.2).
    pub client_max_window_bits: u8,
}

impl Default for DeflateParams {
    fn default() -> Self {
        DeflateParams {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
        }
    }
}

impl DeflateParams {
    /// The server's answer to `offer` with these parameters: [`to_header`](DeflateParams::to_header),
    /// plus `server_max_window_bits` even at 15 when the offer named it (§7.1.2.1: a
    /// server accepts that parameter by including it).
    ///
    /// ```
    /// use wisp_codec::extension::{DeflateOffer, DeflateParams};
    /// let offer = DeflateOffer { server_max_window_bits: Some(15), ..Default::default() };
    /// assert_eq!(DeflateParams::default().response_header(&offer), "permessage-deflate; server_max_window_bits=15");
    /// ```
    pub fn response_header(&self, offer: &DeflateOffer) -> String {
        let mut s = self.to_header();
        if self.server_max_window_bits == 15 && offer.server_max_window_bits.is_some() {
            s.push_str("; server_max_window_bits=15");
        }
        s
    }

    /// The response header value for these parameters (a window of 15 is left out).
    ///
    /// ```
    /// let p = wisp_codec::extension::DeflateParams { server_no_context_takeover: true, client_max_window_bits: 10, ..Default::default() };
    /// assert_eq!(p.to_header(), "permessage-deflate; server_no_context_takeover; client_max_window_bits=10");
    /// ```
    pub fn to_header(&self) -> String {
        let mut s = header_start(
            self.server_no_context_takeover,
            self.client_no_context_takeover,
        );
        if self.server_max_window_bits < 15 {
            s.push_str(&alloc::format!(
                "; server_max_window_bits={}",
                self.server_max_window_bits
            ));
        }
        if self.client_max_window_bits < 15 {
            s.push_str(&alloc::format!(
                "; client_max_window_bits={}",
                self.client_max_window_bits
            ));
        }
        s
    }
}

/// `permessage-deflate` and its two flag parameters, the start of every offer and answer.
fn header_start(server_no_context_takeover: bool, client_no_context_takeover: bool) -> String {
    let mut s = String::from(PERMESSAGE_DEFLATE);
    if server_no_context_takeover {
        s.push_str("; server_no_context_takeover");
    }
    if client_no_context_takeover {
        s.push_str("; client_no_context_takeover");
    }
    s
}

/// A permessage-deflate offer from a client, parameters checked (§7.1).
///
/// ```
/// use wisp_codec::extension::{parse_extensions, DeflateOffer};
/// let e = &parse_extensions("permessage-deflate; client_max_window_bits").unwrap()[0];
/// assert_eq!(DeflateOffer::from_extension(e).unwrap().client_max_window_bits, Some(None));
/// let twice = &parse_extensions("permessage-deflate; server_no_context_takeover; server_no_context_takeover").unwrap()[0];
/// assert!(DeflateOffer::from_extension(twice).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DeflateOffer {
    /// The client asks the server not to keep its window across messages.
    pub server_no_context_takeover: bool,
    /// The client says it will not keep its window (a hint the server may echo).
    pub client_no_context_takeover: bool,
    /// The largest window the client lets the server use.
    pub server_max_window_bits: Option<u8>,
    /// `Some(None)`: the client can limit its window if asked; `Some(Some(n))`: it will
    /// use at most `n` bits.
    pub client_max_window_bits: Option<Option<u8>>,
}

/// Why a permessage-deflate offer or response is refused.
///
/// ```
/// use wisp_codec::extension::{parse_extensions, DeflateOffer, ParamError};
/// let e = &parse_extensions("permessage-deflate; server_max_window_bits=16").unwrap()[0];
/// assert_eq!(DeflateOffer::from_extension(e), Err(ParamError::InvalidValue("server_max_window_bits".into())));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamError {
    /// A parameter RFC 7692 does not define.
    Unknown(String),
    /// A parameter given twice.
    Repeated(String),
    /// A missing, extra or out-of-range value (window bits are 8-15).
    InvalidValue(String),
    /// A parameter the other side did not allow (the client's check of a response).
    NotAllowed(String),
}

impl fmt::Display for ParamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamError::Unknown(p) => write!(f, "unknown permessage-deflate parameter {p}"),
            ParamError::Repeated(p) => write!(f, "permessage-deflate parameter {p} repeated"),
            ParamError::InvalidValue(p) => {
                write!(f, "invalid value for permessage-deflate parameter {p}")
            }
            ParamError::NotAllowed(p) => {
                write!(f, "permessage-deflate parameter {p} was not offered")
            }
        }
    }
}

fn window_bits(name: &str, value: &Option<String>) -> Result<u8, ParamError> {
    // §7.1.2.1: a decimal integer 8-15, no leading zero or sign.
    match value.as_deref() {
        Some(v @ ("8" | "9" | "10" | "11" | "12" | "13" | "14" | "15")) => {
            v.parse().map_err(|_| ParamError::InvalidValue(name.into()))
        }
        _ => Err(ParamError::InvalidValue(name.into())),
    }
}

/// The four parameters as given, each at most once, flags without a value.
fn read_params(e: &Extension, client_window_may_be_bare: bool) -> Result<DeflateOffer, ParamError> {
    let mut o = DeflateOffer::default();
    let mut seen: Vec<&str> = Vec::new();
    for (name, value) in &e.params {
        let key = name.as_str();
        if seen.iter().any(|s| s.eq_ignore_ascii_case(key)) {
            return Err(ParamError::Repeated(name.clone()));
        }
        seen.push(key);
        let flag = |v: &Option<String>| {
            if v.is_some() {
                Err(ParamError::InvalidValue(name.clone()))
            } else {
                Ok(true)
            }
        };
        match key.to_ascii_lowercase().as_str() {
            "server_no_context_takeover" => o.server_no_context_takeover = flag(value)?,
            "client_no_context_takeover" => o.client_no_context_takeover = flag(value)?,
            "server_max_window_bits" => o.server_max_window_bits = Some(window_bits(key, value)?),
            "client_max_window_bits" => {
                o.client_max_window_bits = Some(if value.is_none() && client_window_may_be_bare {
                    None
                } else {
                    Some(window_bits(key, value)?)
                });
            }
            _ => return Err(ParamError::Unknown(name.clone())),
        }
    }
    Ok(o)
}

impl DeflateOffer {
    /// Reads a client's permessage-deflate offer; an unknown, repeated or invalid
    /// parameter makes it invalid (§7.1: "decline the offer").
    pub fn from_extension(e: &Extension) -> Result<DeflateOffer, ParamError> {
        read_params(e, true)
    }

    /// The offer as a header value.
    ///
    /// ```
    /// let o = wisp_codec::extension::DeflateOffer { client_max_window_bits: Some(None), ..Default::default() };
    /// assert_eq!(o.to_header(), "permessage-deflate; client_max_window_bits");
    /// ```
    pub fn to_header(&self) -> String {
        let mut s = header_start(
            self.server_no_context_takeover,
            self.client_no_context_takeover,
        );
        if let Some(n) = self.server_max_window_bits {
            s.push_str(&alloc::format!("; server_max_window_bits={n}"));
        }
        match self.client_max_window_bits {
            Some(Some(n)) => s.push_str(&alloc::format!("; client_max_window_bits={n}")),
            Some(None) => s.push_str("; client_max_window_bits"),
            None => {}
        }
        s
    }

    /// The client's check of the server's answer to this offer (§7.1): every parameter
    /// known, once, valid, and allowed by what was offered.
    ///
    /// ```
    /// use wisp_codec::extension::{parse_extensions, DeflateOffer, ParamError};
    /// let offer = DeflateOffer::default(); // no client_max_window_bits
    /// let answer = &parse_extensions("permessage-deflate; client_max_window_bits=10").unwrap()[0];
    /// assert_eq!(offer.check_response(answer), Err(ParamError::NotAllowed("client_max_window_bits".into())));
    /// let ok = &parse_extensions("permessage-deflate; server_no_context_takeover").unwrap()[0];
    /// assert!(offer.check_response(ok).unwrap().server_no_context_takeover);
    /// ```
    pub fn check_response(&self, e: &Extension) -> Result<DeflateParams, ParamError> {
        let r = read_params(e, false)?;
        if self.server_no_context_takeover && !r.server_no_context_takeover {
            // §7.1.1.1: a server that accepts this offer must include it.
            return Err(ParamError::NotAllowed(
                "a response without server_no_context_takeover".into(),
            ));
        }
        let server_bits = match (r.server_max_window_bits, self.server_max_window_bits) {
            (Some(n), Some(max)) if n > max => {
                return Err(ParamError::NotAllowed("server_max_window_bits".into()))
            }
            (Some(n), _) => n,
            (None, Some(_)) => {
                return Err(ParamError::NotAllowed(
                    "a response without server_max_window_bits".into(),
                ))
            }
            (None, None) => 15,
        };
        let client_bits = match (r.client_max_window_bits, self.client_max_window_bits) {
            (Some(_), None) => return Err(ParamError::NotAllowed("client_max_window_bits".into())),
            (Some(Some(n)), Some(Some(max))) if n > max => {
                return Err(ParamError::NotAllowed("client_max_window_bits".into()))
            }
            (Some(Some(n)), _) => n,
            (_, Some(Some(max))) => max,
            _ => 15,
        };
        Ok(DeflateParams {
            server_no_context_takeover: r.server_no_context_takeover,
            client_no_context_takeover: r.client_no_context_takeover,
            server_max_window_bits: server_bits,
            client_max_window_bits: client_bits,
        })
    }
}

/// What a server accepts of permessage-deflate, and what it asks for beyond the offer.
///
/// ```
/// use wisp_codec::extension::ServerDeflate;
/// let s = ServerDeflate::default();
/// let (p, header) = s.negotiate("permessage-deflate; client_max_window_bits").unwrap();
/// // Our default, the shared mode: no window kept either way, so an idle connection
/// // holds no deflate state and a worker's one compressor and inflater serve them all.
/// assert!(p.server_no_context_takeover && p.client_no_context_takeover);
/// assert_eq!(header, "permessage-deflate; server_no_context_takeover; client_no_context_takeover");
/// assert_eq!(s.negotiate("x-webkit-deflate-frame"), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerDeflate {
    /// Always answer `server_no_context_takeover` (default on: the compressor is freed
    /// between messages, and one compressed broadcast suits every member).
    pub server_no_context_takeover: bool,
    /// Always answer `client_no_context_takeover` (default on, which RFC 7692 §7.1.1.2
    /// lets a server add to any offer: the peer's messages inflate with a pooled
    /// inflater, not one of 44 KiB per connection; off, the peer may keep its window
    /// for a better ratio, and the connection keeps an inflater for it).
    pub client_no_context_takeover: bool,
    /// The largest window the server compresses with (15 by default); a smaller one
    /// costs less memory per compressor and some ratio (see the `deflate` module).
    pub server_max_window_bits: u8,
    /// The window asked of a client that offers `client_max_window_bits` (`None`: not
    /// limited).
    pub client_max_window_bits: Option<u8>,
}

impl Default for ServerDeflate {
    fn default() -> Self {
        ServerDeflate {
            server_no_context_takeover: true,
            client_no_context_takeover: true,
            server_max_window_bits: 15,
            client_max_window_bits: None,
        }
    }
}

impl ServerDeflate {
    /// Chooses among the offers in a `Sec-WebSocket-Extensions` value (all the header's
    /// lines joined with `,`): the first valid permessage-deflate offer, with the
    /// response header's value ([`DeflateParams::response_header`]). `None`: nothing to
    /// accept (a malformed value is ignored, as no extension is then agreed).
    pub fn negotiate(&self, header: &str) -> Option<(DeflateParams, String)> {
        let offers = parse_extensions(header).ok()?;
        offers
            .iter()
            .filter(|e| e.name.eq_ignore_ascii_case(PERMESSAGE_DEFLATE))
            .find_map(|e| {
                let offer = DeflateOffer::from_extension(e).ok()?;
                let params = self.accept(&offer)?;
                Some((params, params.response_header(&offer)))
            })
    }

    /// The answer to one valid offer.
    pub fn accept(&self, offer: &DeflateOffer) -> Option<DeflateParams> {
        let own = self.server_max_window_bits.clamp(8, 15);
        let server_bits = offer.server_max_window_bits.map_or(own, |n| n.min(own));
        let client_bits = match (offer.client_max_window_bits, self.client_max_window_bits) {
            (Some(Some(n)), Some(c)) => n.min(c.clamp(8, 15)),
            (Some(None), Some(c)) => c.clamp(8, 15),
            // A client that offers a value limits itself: no need to answer it.
            (Some(Some(n)), None) => n,
            _ => 15,
        };
        Some(DeflateParams {
            server_no_context_takeover: offer.server_no_context_takeover
                || self.server_no_context_takeover,
            client_no_context_takeover: offer.client_no_context_takeover
                || self.client_no_context_takeover,
            server_max_window_bits: server_bits,
            client_max_window_bits: client_bits,
        })
    }
}

impl fmt::Display for DeflateParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_header())
    }
}
