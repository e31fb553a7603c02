//! What the server holds and what it refused, for an operator tuning its limits: the
//! counters behind [`Stats`](crate::Stats) (the demo serves them as `GET /stats`).
//!
//! The counters cost nothing on the path of a message: refusals are counted where they
//! happen (rare by nature), and a worker updates its connection count when a connection
//! comes or goes. The largest holders are a snapshot that each worker publishes at most
//! every [`PUBLISH_EVERY`], and only after its connections' memory charges changed, once
//! someone asked for them ([`Metrics::track_holders`]): a report is at most that old.
//!
//! The report's format is in the crate docs (`GET /stats`).

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;

/// A worker publishes its largest holders at most this often.
pub(crate) const PUBLISH_EVERY: Duration = Duration::from_millis(250);
/// Holders listed in a report.
pub(crate) const TOP: usize = 10;

/// The server-wide figures a report shows beside the counters.
pub(crate) struct Totals {
    /// Connections being served, handshakes included.
    pub(crate) active: usize,
    /// Connections being answered 503.
    pub(crate) refusing: usize,
    pub(crate) max_connections: usize,
    /// Bytes charged against the budget.
    pub(crate) held: u64,
    pub(crate) budget: u64,
}

/// Why a connection was refused or failed by a server-wide limit.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Refusal {
    /// 503: `--max-connections` reached.
    MaxConnections,
    /// 503: `--max-connections-per-ip` reached.
    PerIpConnections,
    /// 503: `--max-handshakes-per-ip` reached.
    PerIpHandshakes,
    /// Dropped without an answer: even the 503s were at their limit.
    Dropped,
    /// A 4xx answer to a request head (malformed, not an upgrade we take, bad origin).
    BadRequest,
    /// No complete request head within `--handshake-timeout`.
    HandshakeTimeout,
    /// Close 1009: its message would have passed `--memory-budget`.
    MemoryBudget1009,
    /// Close 1013: its buffers would have passed `--memory-budget`.
    MemoryBudget1013,
    /// Dropped: a malformed PROXY header, or one from a peer not trusted to send it.
    ProxyHeader,
}

const REASONS: [&str; 9] = [
    "max_connections",
    "per_ip_connections",
    "per_ip_handshakes",
    "dropped",
    "bad_request",
    "handshake_timeout",
    "memory_budget_1009",
    "memory_budget_1013",
    "proxy_header",
];

/// One connection among the largest holders of memory.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Holder {
    pub(crate) id: u64,
    pub(crate) peer: String,
    pub(crate) path: String,
    pub(crate) bytes: u64,
}

/// Keeps the [`TOP`] largest holders, largest first (the older connection first on a tie).
fn keep_largest(holders: &mut Vec<Holder>) {
    holders.sort_unstable_by_key(|h| (std::cmp::Reverse(h.bytes), h.id));
    holders.truncate(TOP);
}

/// What one worker publishes.
#[derive(Default)]
struct WorkerStats {
    connections: AtomicUsize,
    holders: Mutex<Vec<Holder>>,
}

/// The server's counters, shared by the acceptor and the workers.
pub(crate) struct Metrics {
    started: Instant,
    refusals: [AtomicU64; REASONS.len()],
    workers: Vec<WorkerStats>,
    /// Someone reads the reports: the workers publish their largest holders.
    tracking: AtomicBool,
}

impl Metrics {
    pub(crate) fn new(workers: usize) -> Metrics {
        Metrics {
            started: Instant::now(),
            refusals: Default::default(),
            workers: (0..workers).map(|_| WorkerStats::default()).collect(),
            tracking: AtomicBool::new(false),
        }
    }

    /// From now on the workers publish their largest holders for the reports.
    pub(crate) fn track_holders(&self) {
        self.tracking.store(true, Ordering::Relaxed);
    }

    /// Whether the workers publish their largest holders.
    pub(crate) fn tracking_holders(&self) -> bool {
        self.tracking.load(Ordering::Relaxed)
    }

    /// Counts one refusal.
    pub(crate) fn refused(&self, why: Refusal) {
        self.refusals[why as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// The refusals counted for one reason.
    #[cfg(test)]
    pub(crate) fn refusals(&self, why: Refusal) -> u64 {
        self.refusals[why as usize].load(Ordering::Relaxed)
    }

    /// A worker's connection count, as it changes.
    pub(crate) fn set_connections(&self, worker: usize, n: usize) {
        if let Some(w) = self.workers.get(worker) {
            w.connections.store(n, Ordering::Relaxed);
        }
    }

    /// A worker's largest holders, replacing what it published before.
    pub(crate) fn publish(&self, worker: usize, mut holders: Vec<Holder>) {
        keep_largest(&mut holders);
        if let Some(w) = self.workers.get(worker) {
            if let Ok(mut h) = w.holders.lock() {
                *h = holders;
            }
        }
    }

    /// The JSON report.
    pub(crate) fn report(&self, totals: Totals) -> String {
        #[derive(Serialize)]
        struct Report {
            uptime_secs: f64,
            connections: Connections,
            memory: Memory,
            refusals: serde_json::Map<String, serde_json::Value>,
        }
        #[derive(Serialize)]
        struct Connections {
            total: usize,
            per_worker: Vec<usize>,
            refusing: usize,
            max: usize,
        }
        #[derive(Serialize)]
        struct Memory {
            held_bytes: u64,
            budget_bytes: u64,
            largest: Vec<Holder>,
        }
        let mut largest: Vec<Holder> = self
            .workers
            .iter()
            .flat_map(|w| w.holders.lock().map(|h| h.clone()).unwrap_or_default())
            .collect();
        keep_largest(&mut largest);
        let refusals = REASONS
            .iter()
            .zip(&self.refusals)
            .map(|(name, n)| (name.to_string(), n.load(Ordering::Relaxed).into()))
            .collect();
        let report = Report {
            uptime_secs: (self.started.elapsed().as_millis() as f64) / 1000.0,
            connections: Connections {
                total: totals.active,
                per_worker: self
                    .workers
                    .iter()
                    .map(|w| w.connections.load(Ordering::Relaxed))
                    .collect(),
                refusing: totals.refusing,
                max: totals.max_connections,
            },
            memory: Memory {
                held_bytes: totals.held,
                budget_bytes: totals.budget,
                largest,
            },
            refusals,
        };
        let mut body = serde_json::to_string_pretty(&report).unwrap_or_default();
        body.push('\n');
        body
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holder(id: u64, bytes: u64) -> Holder {
        Holder {
            id,
            peer: format!("127.0.0.1:{id}"),
            path: "/echo".into(),
            bytes,
        }
    }

    #[test]
    fn a_worker_keeps_its_largest_holders_in_order() {
        let s = Metrics::new(2);
        s.publish(0, (1..=30).map(|i| holder(i, i * 65536)).collect());
        let h = s.workers[0].holders.lock().unwrap().clone();
        let ids: Vec<u64> = h.iter().map(|h| h.id).collect();
        assert_eq!(ids, (21..=30).rev().collect::<Vec<_>>());
        s.publish(0, vec![holder(5, 1)]);
        assert_eq!(s.workers[0].holders.lock().unwrap().len(), 1);
    }

    #[test]
    fn refusals_are_counted_by_reason() {
        let s = Metrics::new(1);
        s.refused(Refusal::PerIpConnections);
        s.refused(Refusal::PerIpConnections);
        s.refused(Refusal::MemoryBudget1013);
        assert_eq!(s.refusals(Refusal::PerIpConnections), 2);
        assert_eq!(s.refusals(Refusal::MemoryBudget1013), 1);
        assert_eq!(s.refusals(Refusal::MaxConnections), 0);
        assert_eq!(
            REASONS[Refusal::MemoryBudget1013 as usize],
            "memory_budget_1013"
        );
    }
}
