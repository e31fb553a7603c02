//! What the acceptor and the workers share: the configuration, the connection counts,
//! the shutdown flag, the routes and the `/chat` rooms.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use log::warn;

use crate::chat::Rooms;
use crate::config::Config;
use crate::handler::HandlerFactory;
use crate::limits::{Over, PerIp};
use crate::stats::{Refusal, Stats};
use crate::wake::{Admit, Inbox};
use crate::watch::Registry;

/// What a WebSocket path is served by.
#[derive(Clone)]
pub(crate) enum Route {
    /// `/inspect` (and `/inspect?watch=ID`): it needs the server's own records.
    Inspect,
    /// Everything else, the built-in `/echo` and `/chat` included.
    Factory(HandlerFactory),
}

/// Connections over the limit being answered 503 at once, at most; more are dropped.
const MAX_REFUSING: usize = 64;

/// What the acceptor and the workers share.
pub(crate) struct Shared {
    pub(crate) config: Config,
    pub(crate) local_addr: SocketAddr,
    /// Connections being served (handshakes included), against `max_connections`.
    pub(crate) active: AtomicUsize,
    /// Connections being answered 503.
    pub(crate) refusing: AtomicUsize,
    pub(crate) shutting_down: AtomicBool,
    pub(crate) shutdown_at: OnceLock<Instant>,
    pub(crate) next_id: AtomicU64,
    /// The `/chat` rooms (and the cluster link with `--redis`).
    pub(crate) rooms: Arc<Rooms>,
    /// Bytes charged against `Config::memory_budget` by all connections.
    pub(crate) held: AtomicU64,
    /// What `/stats` reports: refusals by reason, connections per worker, largest holders.
    pub(crate) stats: Stats,
    /// Connections and handshakes per address.
    pub(crate) per_ip: PerIp,
    /// The `/inspect` connections that `/inspect?watch=ID` can watch.
    pub(crate) watch: Registry,
    /// The WebSocket routes by path: the built-in ones that are on, and
    /// `Server::route`'s.
    pub(crate) routes: Mutex<HashMap<String, Route>>,
    pub(crate) inboxes: Vec<Arc<Inbox>>,
}

impl Shared {
    pub(crate) fn stopping(&self) -> bool {
        self.shutting_down.load(Ordering::Acquire)
    }

    /// The paths of the WebSocket routes, sorted.
    pub(crate) fn route_paths(&self) -> Vec<String> {
        let routes = self.routes.lock().unwrap_or_else(|e| e.into_inner());
        let mut paths: Vec<String> = routes.keys().cloned().collect();
        paths.sort();
        paths
    }

    pub(crate) fn shutdown_deadline(&self) -> Instant {
        *self.shutdown_at.get_or_init(Instant::now) + self.config.shutdown_grace
    }
}

/// Counts a new connection in, or marks it to be refused (503), or drops it when even
/// the refusals are at their limit.
pub(crate) fn admit(shared: &Shared, stream: &TcpStream) -> Option<Admit> {
    let max = shared.config.max_connections;
    let addr = stream.peer_addr().ok();
    let ip = addr.map(|a| a.ip());
    let why = if shared.active.fetch_add(1, Ordering::AcqRel) >= max {
        shared.active.fetch_sub(1, Ordering::AcqRel);
        shared.stats.refused(Refusal::MaxConnections);
        format!("{max} connections already")
    } else {
        match ip.map(|ip| shared.per_ip.enter(ip)) {
            None | Some(Ok(())) => return Some(Admit::Serve(ip)),
            Some(Err(over)) => {
                shared.active.fetch_sub(1, Ordering::AcqRel);
                shared.stats.refused(match over {
                    Over::Connections => Refusal::PerIpConnections,
                    Over::Handshakes => Refusal::PerIpHandshakes,
                });
                match over {
                    Over::Connections => format!(
                        "{} connections from this address already",
                        shared.config.max_connections_per_ip
                    ),
                    Over::Handshakes => format!(
                        "{} handshakes from this address in progress",
                        shared.config.max_handshakes_per_ip
                    ),
                }
            }
        }
    };
    let peer = fmt_peer(addr);
    if shared.refusing.fetch_add(1, Ordering::AcqRel) < MAX_REFUSING {
        warn!("{peer} refused: {why} (503)");
        Some(Admit::Refuse)
    } else {
        shared.refusing.fetch_sub(1, Ordering::AcqRel);
        shared.stats.refused(Refusal::Dropped);
        warn!("{peer} dropped: over the connection limit");
        None
    }
}

/// Undoes [`admit`]'s count for a connection that never reached a worker.
pub(crate) fn release(shared: &Shared, admit: &Admit) {
    match admit {
        Admit::Serve(ip) => {
            if let Some(ip) = ip {
                shared.per_ip.leave(*ip, true);
            }
            shared.active.fetch_sub(1, Ordering::AcqRel)
        }
        Admit::Refuse => shared.refusing.fetch_sub(1, Ordering::AcqRel),
    };
}

/// A peer address for the log (`?` when the OS no longer knows it).
pub(crate) fn fmt_peer(peer: Option<SocketAddr>) -> String {
    peer.map_or_else(|| "?".to_string(), |p| p.to_string())
}
