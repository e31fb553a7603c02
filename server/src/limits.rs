//! The admission counts and the memory budget.
//!
//! - [`Admissions`]: connections served (`--max-connections`), connections being
//!   answered 503, and per address the connections open and handshakes in progress
//!   (`--max-connections-per-ip`, `--max-handshakes-per-ip`), so that one host cannot
//!   take every slot. Counted at accept, before a buffer is spent; looked at once per
//!   connection and once per handshake, never per message. An [`Admission`] counts its
//!   connection while it exists and uncounts it when dropped: no count is ever undone
//!   by hand.
//! - [`Budget`]: the memory that peers make the server hold, all connections together
//!   (`--memory-budget`), charged in [`BUDGET_GRAIN`] steps.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use log::warn;

use crate::metrics::{Metrics, Refusal};

/// Connections over the limit being answered 503 at once, at most; more are dropped.
const MAX_REFUSING: usize = 64;

/// Memory is charged against the budget in steps of this size, so that a connection
/// whose buffers stay within one step costs no shared counter updates at all.
pub(crate) const BUDGET_GRAIN: usize = 64 * 1024;

/// Adds one to `n` unless it is at `max`.
fn count_in(n: &AtomicUsize, max: usize) -> bool {
    n.fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
        (v < max).then_some(v + 1)
    })
    .is_ok()
}

/// Every admission count of a server.
pub(crate) struct Admissions {
    max_connections: usize,
    /// Connections being served (handshakes included), against `max_connections`.
    active: AtomicUsize,
    /// Connections being answered 503.
    refusing: AtomicUsize,
    per_ip: PerIp,
}

/// One connection's place in the [`Admissions`]: it holds its counts from the accept
/// until it is dropped.
pub(crate) struct Admission {
    counts: Arc<Admissions>,
    kind: Kind,
}

enum Kind {
    /// Served; `in_head` while its request head is still arriving.
    Serve { ip: Option<IpAddr>, in_head: bool },
    /// To be answered 503.
    Refuse,
}

impl Admissions {
    pub(crate) fn new(max_connections: usize, per_ip: usize, heads_per_ip: usize) -> Admissions {
        Admissions {
            max_connections,
            active: AtomicUsize::new(0),
            refusing: AtomicUsize::new(0),
            per_ip: PerIp::new(per_ip, heads_per_ip),
        }
    }

    /// Connections being served and being answered 503.
    pub(crate) fn counts(&self) -> (usize, usize) {
        (
            self.active.load(Ordering::Relaxed),
            self.refusing.load(Ordering::Relaxed),
        )
    }

    /// Counts a new connection from `addr` in, or marks it to be refused (503), or
    /// drops it (`None`) when even the refusals are at their limit.
    /// A connection from a trusted proxy (`per_ip` false) is counted per address only
    /// once its client's address is known ([`Admission::enter`]).
    pub(crate) fn admit(
        self: &Arc<Self>,
        addr: Option<SocketAddr>,
        per_ip: bool,
        metrics: &Metrics,
    ) -> Option<Admission> {
        let ip = addr.map(|a| a.ip()).filter(|_| per_ip);
        let why = if !count_in(&self.active, self.max_connections) {
            metrics.refused(Refusal::MaxConnections);
            format!("{} connections already", self.max_connections)
        } else {
            // Counted: from here on the admission's drop uncounts it.
            let served = Admission {
                counts: Arc::clone(self),
                kind: Kind::Serve {
                    ip: None,
                    in_head: true,
                },
            };
            match ip.map(|ip| self.per_ip.enter(ip)) {
                None => return Some(served),
                Some(Ok(())) => {
                    let mut served = served;
                    served.kind = Kind::Serve { ip, in_head: true };
                    return Some(served);
                }
                Some(Err(over)) => {
                    drop(served);
                    metrics.refused(match over {
                        Over::Connections => Refusal::PerIpConnections,
                        Over::Handshakes => Refusal::PerIpHandshakes,
                    });
                    match over {
                        Over::Connections => format!(
                            "{} connections from this address already",
                            self.per_ip.max_open
                        ),
                        Over::Handshakes => format!(
                            "{} handshakes from this address in progress",
                            self.per_ip.max_heads
                        ),
                    }
                }
            }
        };
        let peer = Peer(addr);
        if count_in(&self.refusing, MAX_REFUSING) {
            warn!("{peer} refused: {why} (503)");
            Some(Admission {
                counts: Arc::clone(self),
                kind: Kind::Refuse,
            })
        } else {
            metrics.refused(Refusal::Dropped);
            warn!("{peer} dropped: over the connection limit");
            None
        }
    }
}

impl Admission {
    /// Admitted over the limit: to be answered 503.
    pub(crate) fn refused(&self) -> bool {
        matches!(self.kind, Kind::Refuse)
    }

    /// Its request head is complete (or refused): no longer a handshake in progress.
    pub(crate) fn head_done(&mut self) {
        if let Kind::Serve { ip, in_head } = &mut self.kind {
            if *in_head {
                *in_head = false;
                if let Some(ip) = ip {
                    self.counts.per_ip.head_done(*ip);
                }
            }
        }
    }
}

impl Admission {
    /// Counts a connection admitted uncounted per address (from a trusted proxy) under
    /// its client's address `ip`, or says which limit that address is at (the
    /// refusal is counted in `metrics`).
    pub(crate) fn enter(&mut self, ip: IpAddr, metrics: &Metrics) -> Result<(), String> {
        let Kind::Serve {
            ip: slot @ None,
            in_head,
        } = &mut self.kind
        else {
            return Ok(());
        };
        match self.counts.per_ip.enter(ip) {
            Ok(()) => {
                *slot = Some(ip);
                if !*in_head {
                    self.counts.per_ip.head_done(ip);
                }
                Ok(())
            }
            Err(over) => {
                let per_ip = &self.counts.per_ip;
                Err(match over {
                    Over::Connections => {
                        metrics.refused(Refusal::PerIpConnections);
                        format!("{} connections from this address already", per_ip.max_open)
                    }
                    Over::Handshakes => {
                        metrics.refused(Refusal::PerIpHandshakes);
                        format!(
                            "{} handshakes from this address in progress",
                            per_ip.max_heads
                        )
                    }
                })
            }
        }
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        match self.kind {
            Kind::Serve { ip, in_head } => {
                if let Some(ip) = ip {
                    self.counts.per_ip.leave(ip, in_head);
                }
                self.counts.active.fetch_sub(1, Ordering::AcqRel);
            }
            Kind::Refuse => {
                self.counts.refusing.fetch_sub(1, Ordering::AcqRel);
            }
        }
    }
}

/// The memory budget: bytes charged by every connection together.
pub(crate) struct Budget {
    limit: u64,
    held: AtomicU64,
}

impl Budget {
    pub(crate) fn new(limit: u64) -> Budget {
        Budget {
            limit,
            held: AtomicU64::new(0),
        }
    }

    /// The budget (`u64::MAX`: off).
    pub(crate) fn limit(&self) -> u64 {
        self.limit
    }

    /// Bytes charged now.
    pub(crate) fn held(&self) -> u64 {
        self.held.load(Ordering::Relaxed)
    }

    /// Brings what one connection has charged (`charged`) up or down to `held`, in
    /// [`BUDGET_GRAIN`] steps. False when growing it would pass the budget (nothing is
    /// charged then). With the budget off nothing is counted.
    pub(crate) fn charge(&self, charged: &mut usize, held: usize) -> bool {
        if self.limit == u64::MAX {
            return true;
        }
        let want = held.div_ceil(BUDGET_GRAIN) * BUDGET_GRAIN;
        if want < *charged {
            self.release(charged, want);
            return true;
        }
        let add = (want - *charged) as u64;
        if add == 0 {
            return true;
        }
        let limit = self.limit;
        let grown = self
            .held
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |h| {
                (h + add <= limit).then_some(h + add)
            });
        if grown.is_err() {
            return false;
        }
        *charged = want;
        true
    }

    /// Brings `charged` down to `to` bytes.
    pub(crate) fn release(&self, charged: &mut usize, to: usize) {
        if *charged > to {
            self.held
                .fetch_sub((*charged - to) as u64, Ordering::AcqRel);
            *charged = to;
        }
    }
}

/// Why an address was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Over {
    /// It has `max_connections_per_ip` connections open.
    Connections,
    /// It has `max_handshakes_per_ip` request heads still arriving.
    Handshakes,
}

#[derive(Default)]
struct Counts {
    open: usize,
    heads: usize,
}

/// The counts of every address with a connection open.
pub(crate) struct PerIp {
    max_open: usize,
    max_heads: usize,
    counts: Mutex<HashMap<IpAddr, Counts>>,
}

impl PerIp {
    pub(crate) fn new(max_open: usize, max_heads: usize) -> PerIp {
        PerIp {
            max_open,
            max_heads,
            counts: Mutex::new(HashMap::new()),
        }
    }

    /// Counts a new connection from `ip` (its head still to come), or says which limit
    /// it would pass.
    pub(crate) fn enter(&self, ip: IpAddr) -> Result<(), Over> {
        let Ok(mut map) = self.counts.lock() else {
            return Ok(());
        };
        let c = map.entry(ip).or_default();
        if c.open >= self.max_open {
            return Err(Over::Connections);
        }
        if c.heads >= self.max_heads {
            return Err(Over::Handshakes);
        }
        c.open += 1;
        c.heads += 1;
        Ok(())
    }

    /// The connection's request head is complete.
    pub(crate) fn head_done(&self, ip: IpAddr) {
        if let Ok(mut map) = self.counts.lock() {
            if let Some(c) = map.get_mut(&ip) {
                c.heads = c.heads.saturating_sub(1);
            }
        }
    }

    /// The connection is gone (`in_head`: before its head was complete).
    pub(crate) fn leave(&self, ip: IpAddr, in_head: bool) {
        if let Ok(mut map) = self.counts.lock() {
            if let Some(c) = map.get_mut(&ip) {
                c.open = c.open.saturating_sub(1);
                if in_head {
                    c.heads = c.heads.saturating_sub(1);
                }
                if c.open == 0 {
                    map.remove(&ip);
                }
            }
        }
    }
}

/// A peer address for the log (`?` when the OS no longer knows it): formatted when a
/// line is written, so a connection holds no string of it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Peer(pub(crate) Option<SocketAddr>);

impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(addr) => addr.fmt(f),
            None => f.write_str("?"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_per_address() {
        let a: IpAddr = [127, 0, 0, 1].into();
        let b: IpAddr = [127, 0, 0, 2].into();
        let l = PerIp::new(3, 2);
        assert_eq!(l.enter(a), Ok(()));
        assert_eq!(l.enter(a), Ok(()));
        // Two heads in progress: the third handshake waits for one of them.
        assert_eq!(l.enter(a), Err(Over::Handshakes));
        assert_eq!(l.enter(b), Ok(()), "another address is not affected");
        l.head_done(a);
        assert_eq!(l.enter(a), Ok(()));
        l.head_done(a);
        l.head_done(a);
        assert_eq!(l.enter(a), Err(Over::Connections));
        l.leave(a, false);
        assert_eq!(l.enter(a), Ok(()));
        for _ in 0..3 {
            l.leave(a, true);
        }
        assert!(
            l.counts.lock().unwrap().get(&a).is_none(),
            "no entry left behind"
        );
    }
}
