//! The head phase: the request head arrives under one deadline for the whole head
//! (`--handshake-timeout`), TLS handshake included. `handshake::parse_request` says
//! "partial" until the blank line, or gives an error that becomes an HTTP status
//! (400, 431...). A connection admitted over the limit reads its head briefly, then
//! gets its 503.

use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use log::{debug, info, warn};
use wisp_codec::handshake::{self, DEFAULT_MAX_HEAD};

use std::net::SocketAddr;

use super::respond::Respond;
use super::state::{drained, would_block, Cx, Io, Phase};
use super::upgrade;
use crate::config::Config;
use crate::forwarded;
use crate::http::{self, HttpResponse};
use crate::metrics::Refusal;
use crate::proxy_header::{self, Start};
use crate::shared::Shared;

/// A connection over the limit may send its head this long before its 503.
const REFUSE_WAIT: Duration = Duration::from_millis(100);

pub(super) struct Head {
    buf: Vec<u8>,
    /// When the worker took the socket (for the handshake's time in `/metrics`).
    opened: Instant,
    deadline: Instant,
    /// Admitted over the limit: answered 503 once its head is read.
    refused: bool,
    /// A PROXY header may still be coming (the first bytes are not yet known).
    proxy_stage: bool,
    /// The peer is a trusted proxy (`--trusted-proxy`).
    trusted: bool,
    /// A trusted proxy's PROXY header named the client.
    named: bool,
}

/// What the first bytes say about a PROXY header.
enum Proxy {
    /// Read more before deciding.
    More,
    /// Settled: go on to the request head.
    Done,
    /// Dropped.
    Drop,
}

impl Head {
    pub(super) fn new(refused: bool, trusted: bool, now: Instant, config: &Config) -> Head {
        let wait = if refused {
            REFUSE_WAIT
        } else {
            config.handshake_timeout
        };
        Head {
            buf: Vec::new(),
            opened: now,
            deadline: now + wait,
            refused,
            proxy_stage: true,
            trusted,
            named: false,
        }
    }

    /// The PROXY header (HAProxy's PROXY protocol) before the request head: taken
    /// from a trusted proxy, refused from anyone else.
    fn proxy_header(&mut self, io: &mut Io, cx: &mut Cx<'_>) -> Proxy {
        let start = proxy_header::detect(&self.buf);
        if !self.trusted {
            return match start {
                Start::No => Proxy::Done,
                Start::Maybe => Proxy::More,
                Start::Yes => {
                    info!(
                        "{} dropped: a PROXY protocol header from an address that is not a \
                         trusted proxy (--trusted-proxy)",
                        io.peer()
                    );
                    cx.shared.metrics.refused(Refusal::ProxyHeader);
                    Proxy::Drop
                }
            };
        }
        if start == Start::No {
            return Proxy::Done;
        }
        match proxy_header::parse(&self.buf) {
            Ok(None) => Proxy::More,
            Ok(Some((addr, n))) => {
                self.buf.drain(..n);
                if let Some(addr) = addr {
                    self.named = true;
                    name_client(io, addr);
                    if let Err(why) = cx.admission.enter(addr.ip(), &cx.shared.metrics) {
                        warn!("{} refused: {why} (503)", io.peer());
                        self.refused = true;
                    }
                }
                Proxy::Done
            }
            Err(e) => {
                info!("{} dropped: malformed PROXY header: {e}", io.peer());
                cx.shared.metrics.refused(Refusal::ProxyHeader);
                Proxy::Drop
            }
        }
    }

    /// The client's address from a trusted proxy's forwarded headers (when no PROXY
    /// header named it), counted per address: `Err` is the response that refuses it.
    fn forwarded(
        &self,
        req: &handshake::Request,
        io: &mut Io,
        cx: &mut Cx<'_>,
    ) -> Result<(), Option<Box<dyn Phase>>> {
        if !self.trusted || self.named {
            return Ok(());
        }
        match forwarded::client_addr(&req.headers, &cx.shared.config.trusted_proxies) {
            Ok(Some(ip)) => name_client(io, SocketAddr::new(ip, 0)),
            Ok(None) => {}
            Err(e) => {
                info!("{} bad forwarded header: 400 {e}", io.peer());
                cx.shared.metrics.refused(Refusal::BadRequest);
                let body = format!("bad forwarded header: {e}\n");
                return Err(Respond::start(HttpResponse::text(400, &body), io, cx));
            }
        }
        let Some(ip) = io.addr.map(|a| a.ip()) else {
            return Ok(());
        };
        if let Err(why) = cx.admission.enter(ip, &cx.shared.metrics) {
            warn!("{} refused: {why} (503)", io.peer());
            return Err(Respond::bytes(503, http::service_unavailable(), io, cx));
        }
        Ok(())
    }

    /// Whether the head read so far is whole, or as long as a head may be.
    fn whole(&self) -> bool {
        self.buf.windows(4).any(|w| w == b"\r\n\r\n") || self.buf.len() >= DEFAULT_MAX_HEAD
    }
}

impl Phase for Head {
    fn deadline(&self, _: &Shared) -> Instant {
        self.deadline
    }

    fn step(mut self: Box<Self>, io: &mut Io, cx: &mut Cx<'_>) -> Option<Box<dyn Phase>> {
        if cx.stopping {
            return None;
        }
        // TLS: the handshake's answer may still wait for a writable edge.
        if let Err(e) = io.stream.flush() {
            info!("{} dropped: {e}", io.peer());
            return None;
        }
        while io.readable {
            match io.stream.read(cx.scratch) {
                Ok(0) => {
                    debug!("{} closed before a complete request head", io.peer());
                    return None;
                }
                Ok(n) => {
                    self.buf.extend_from_slice(&cx.scratch[..n]);
                    io.readable = !drained(n < cx.scratch.len(), io.hup);
                }
                Err(e) if would_block(&e) => io.readable = false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    info!("{} dropped: {e}", io.peer());
                    return None;
                }
            }
            if self.proxy_stage && !self.refused {
                match self.proxy_header(io, cx) {
                    Proxy::More => continue,
                    Proxy::Drop => return None,
                    Proxy::Done => self.proxy_stage = false,
                }
            }
            if self.refused {
                if self.whole() {
                    break;
                }
                continue;
            }
            let parsed = handshake::parse_request(&self.buf, DEFAULT_MAX_HEAD);
            if !matches!(parsed, Ok(None)) {
                cx.admission.head_done();
            }
            match parsed {
                Ok(None) => {}
                Ok(Some((req, n))) => {
                    if let Err(refusal) = self.forwarded(&req, io, cx) {
                        return refusal;
                    }
                    let buf = std::mem::take(&mut self.buf);
                    return upgrade::start(req, buf, n, self.opened, io, cx);
                }
                Err(e) => {
                    info!("{} bad request head: {} {e}", io.peer(), e.status());
                    cx.shared.metrics.refused(Refusal::BadRequest);
                    return Respond::bytes(e.status(), e.response(), io, cx);
                }
            }
        }
        if self.refused {
            // Read what the client sent (briefly), then answer.
            if self.whole() || cx.now >= self.deadline {
                return Respond::bytes(503, http::service_unavailable(), io, cx);
            }
            return Some(self);
        }
        if cx.now >= self.deadline {
            let what = if io.stream.handshaking() {
                "TLS handshake"
            } else {
                "request head"
            };
            info!(
                "{} dropped: no complete {what} within the handshake timeout",
                io.peer()
            );
            cx.shared.metrics.refused(Refusal::HandshakeTimeout);
            return None;
        }
        Some(self)
    }
}

/// A trusted proxy named the client: its address stands for the connection's from here
/// on, the proxy's own kept beside it.
fn name_client(io: &mut Io, addr: SocketAddr) {
    if io.proxy.is_none() {
        io.proxy = io.addr;
    }
    io.addr = Some(addr);
}
