//! The head phase: the request head arrives under one deadline for the whole head
//! (`--handshake-timeout`), TLS handshake included. `handshake::parse_request` says
//! "partial" until the blank line, or gives an error that becomes an HTTP status
//! (400, 431...). A connection admitted over the limit reads its head briefly, then
//! gets its 503.

use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use log::{debug, info};
use wisp_codec::handshake::{self, DEFAULT_MAX_HEAD};

use super::respond::Respond;
use super::state::{drained, would_block, Cx, Io, Phase};
use super::upgrade;
use crate::config::Config;
use crate::http;
use crate::metrics::Refusal;
use crate::shared::Shared;

/// A connection over the limit may send its head this long before its 503.
const REFUSE_WAIT: Duration = Duration::from_millis(100);

pub(super) struct Head {
    buf: Vec<u8>,
    deadline: Instant,
    /// Admitted over the limit: answered 503 once its head is read.
    refused: bool,
}

impl Head {
    pub(super) fn new(refused: bool, now: Instant, config: &Config) -> Head {
        let wait = if refused {
            REFUSE_WAIT
        } else {
            config.handshake_timeout
        };
        Head {
            buf: Vec::new(),
            deadline: now + wait,
            refused,
        }
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
            info!("{} dropped: {e}", io.peer);
            return None;
        }
        while io.readable {
            match io.stream.read(cx.scratch) {
                Ok(0) => {
                    debug!("{} closed before a complete request head", io.peer);
                    return None;
                }
                Ok(n) => {
                    self.buf.extend_from_slice(&cx.scratch[..n]);
                    io.readable = !drained(n < cx.scratch.len(), io.hup);
                }
                Err(e) if would_block(&e) => io.readable = false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    info!("{} dropped: {e}", io.peer);
                    return None;
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
                    let buf = std::mem::take(&mut self.buf);
                    return upgrade::start(req, buf, n, io, cx);
                }
                Err(e) => {
                    info!("{} bad request head: {} {e}", io.peer, e.status());
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
                io.peer
            );
            cx.shared.metrics.refused(Refusal::HandshakeTimeout);
            return None;
        }
        Some(self)
    }
}
