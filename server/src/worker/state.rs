//! What every phase of a connection shares: the [`Phase`] each phase implements, the
//! transport ([`Io`]) and what a step may use of its worker ([`Cx`]).
//!
//! A phase owns its step and returns the next phase (as rustls' `State::handle` does),
//! so the loop never matches a phase again to find out what it is.

use std::io;
use std::sync::Arc;
use std::time::Instant;

use wisp_codec::DeflatePool;

use crate::limits::{Admission, Peer};
use crate::metrics::{Holder, WorkerCounts};
use crate::shared::Shared;
use crate::tls::Stream;
use crate::wake::Inbox;

/// Reads of one connection per turn before the others get theirs.
pub(super) const READS_PER_TURN: usize = 16;

/// One phase of a connection: head, upgrade, session, response or linger.
pub(super) trait Phase: Send {
    /// Reads, reacts and writes what it can now; returns the next phase (itself, to
    /// stay), or `None` when the connection is over.
    fn step(self: Box<Self>, io: &mut Io, cx: &mut Cx<'_>) -> Option<Box<dyn Phase>>;

    /// The next moment this phase needs the clock.
    fn deadline(&self, shared: &Shared) -> Instant;

    /// Bytes charged against the memory budget.
    fn charged(&self) -> usize {
        0
    }

    /// What it holds, for the largest holders.
    fn holder(&self, peer: Peer) -> Option<Holder> {
        let _ = peer;
        None
    }

    /// The connection is dropped in this phase (`why`): the session's handler hears of
    /// it.
    fn finish(&mut self, peer: Peer, why: &str, shared: &Shared) {
        let _ = (peer, why, shared);
    }
}

/// The transport of a connection and what its readiness said, for every phase.
pub(super) struct Io {
    /// The socket, or TLS over it (`tls/`).
    pub(super) stream: Stream,
    /// The client's address (from a trusted proxy's PROXY header or forwarded headers,
    /// else the socket's peer).
    pub(super) addr: Option<std::net::SocketAddr>,
    /// The trusted proxy's own address, when `addr` came from it.
    pub(super) proxy: Option<std::net::SocketAddr>,
    /// A readable edge was seen and the socket has not said `WouldBlock` since.
    pub(super) readable: bool,
    /// The peer ended its side (read returned 0).
    pub(super) eof: bool,
    /// The poller said the peer's side is closed: read until the 0, never stop at a
    /// short read (the FIN raises no second edge).
    pub(super) hup: bool,
}

impl Io {
    /// The client's address for the log: the real one once a trusted proxy named it.
    pub(super) fn peer(&self) -> Peer {
        Peer(self.addr)
    }
}

/// What a phase's step may use of its worker.
pub(super) struct Cx<'a> {
    pub(super) shared: &'a Arc<Shared>,
    pub(super) inbox: &'a Arc<Inbox>,
    /// The connection's place in the admission counts.
    pub(super) admission: &'a mut Admission,
    /// The worker's read buffer, shared by its connections.
    pub(super) scratch: &'a mut [u8],
    /// The worker's permessage-deflate compressor and inflater, lent to each
    /// connection without context takeover for its step (the shared mode).
    pub(super) deflate: &'a mut DeflatePool,
    pub(super) slot: usize,
    pub(super) now: Instant,
    /// The server is shutting down.
    pub(super) stopping: bool,
    /// Set by a step that yielded with more to read: drive it again next turn.
    pub(super) again: bool,
    /// The worker's traffic totals, while `/metrics` is read (`None`: nobody asked).
    pub(super) counts: Option<&'a mut WorkerCounts>,
}

pub(super) fn would_block(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock
}

/// Whether a read that came back `short` drained the socket. With the edge-triggered
/// readiness of epoll and kqueue, a short read took everything there was, and whatever
/// arrives later raises a new edge: the read that would only say `WouldBlock` is
/// skipped (one syscall less per message). Not once the peer's FIN is known (`hup`): it
/// may already wait behind the data, and it raises no second edge. Elsewhere (mio on
/// Windows re-arms only on `WouldBlock`) every socket is read until it says so.
pub(super) fn drained(short: bool, hup: bool) -> bool {
    cfg!(unix) && short && !hup
}
