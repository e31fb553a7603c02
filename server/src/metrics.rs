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

use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use serde::Serialize;
use wisp_codec::{OpCode, Traffic};

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

pub(crate) const REASONS: [&str; 9] = [
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

/// Counters of a worker's traffic, in the order of [`traffic_slots`].
const TRAFFIC_SLOTS: usize = 4 * Traffic::KINDS.len();

/// One counter of a worker's traffic: direction, what is counted, message kind.
pub(crate) struct TrafficSlot {
    pub(crate) sent: bool,
    pub(crate) bytes: bool,
    pub(crate) kind: OpCode,
}

/// The traffic counters in the order a worker stores them.
pub(crate) fn traffic_slots() -> impl Iterator<Item = TrafficSlot> {
    [false, true].into_iter().flat_map(|sent| {
        [false, true].into_iter().flat_map(move |bytes| {
            Traffic::KINDS
                .into_iter()
                .map(move |kind| TrafficSlot { sent, bytes, kind })
        })
    })
}

/// What a worker has counted since the last time it published, beside its totals:
/// plain numbers, touched by its own thread only.
#[derive(Default)]
pub(crate) struct WorkerCounts {
    /// Messages and payload bytes of every connection this worker served, so far.
    pub(crate) traffic: Traffic,
    /// permessage-deflate state its connections hold for themselves (dedicated mode).
    pub(crate) deflate_held: usize,
    /// Something changed since the last publication.
    pub(crate) dirty: bool,
}

/// What one worker publishes.
#[derive(Default)]
struct WorkerStats {
    connections: AtomicUsize,
    holders: Mutex<Vec<Holder>>,
    /// The worker's traffic totals, stored (not added) by the worker once per turn of
    /// its loop, in the order of [`traffic_slots`].
    traffic: [AtomicU64; TRAFFIC_SLOTS],
    /// permessage-deflate memory: the worker's pool and its connections' own state.
    deflate: AtomicU64,
}

/// The server's counters, shared by the acceptor and the workers.
pub(crate) struct Metrics {
    started: Instant,
    refusals: [AtomicU64; REASONS.len()],
    workers: Vec<WorkerStats>,
    /// Someone reads the reports: the workers publish their largest holders.
    tracking: AtomicBool,
    /// Someone reads `/metrics`: the workers publish their traffic and time handshakes.
    counting: AtomicBool,
    /// Connections accepted (the acceptor's count, refused ones included).
    accepted: AtomicU64,
    /// From the accepted socket to the 101 queued, in seconds.
    handshakes: Histogram,
}

/// The handshake histogram's upper bounds, in seconds: 100 µs to 6.6 s.
fn handshake_buckets() -> impl Iterator<Item = f64> {
    exponential_buckets(0.0001, 2.0, 17)
}

impl Metrics {
    pub(crate) fn new(workers: usize) -> Metrics {
        Metrics {
            started: Instant::now(),
            refusals: Default::default(),
            workers: (0..workers).map(|_| WorkerStats::default()).collect(),
            tracking: AtomicBool::new(false),
            counting: AtomicBool::new(false),
            accepted: AtomicU64::new(0),
            handshakes: Histogram::new(handshake_buckets()),
        }
    }

    /// From now on the workers publish their traffic and time their handshakes.
    pub(crate) fn count_traffic(&self) {
        self.counting.store(true, Ordering::Relaxed);
    }

    /// Whether the workers publish their traffic.
    pub(crate) fn counting(&self) -> bool {
        self.counting.load(Ordering::Relaxed)
    }

    /// Counts one accepted connection.
    pub(crate) fn accepted(&self) {
        self.accepted.fetch_add(1, Ordering::Relaxed);
    }

    /// Connections accepted so far.
    pub(crate) fn accepted_total(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }

    /// A handshake took `d`, from the accepted socket to the 101 queued.
    pub(crate) fn handshake(&self, d: Duration) {
        self.handshakes.observe(d.as_secs_f64());
    }

    /// The handshake histogram, for `/metrics`.
    pub(crate) fn handshakes(&self) -> &Histogram {
        &self.handshakes
    }

    /// A worker's totals, stored for `/metrics` (relaxed stores of what only that worker
    /// writes: no read-modify-write).
    pub(crate) fn publish_counts(&self, worker: usize, counts: &mut WorkerCounts, pool: usize) {
        let Some(w) = self.workers.get(worker) else {
            return;
        };
        let t = &counts.traffic;
        for (cell, slot) in w.traffic.iter().zip(traffic_slots()) {
            let tally = if slot.sent { &t.sent } else { &t.received };
            let v = if slot.bytes {
                tally.bytes(slot.kind)
            } else {
                tally.messages(slot.kind)
            };
            cell.store(v, Ordering::Relaxed);
        }
        w.deflate
            .store((counts.deflate_held + pool) as u64, Ordering::Relaxed);
        counts.dirty = false;
    }

    /// Workers.
    pub(crate) fn worker_count(&self) -> usize {
        self.workers.len()
    }

    /// A worker's published traffic counters, in the order of [`traffic_slots`].
    pub(crate) fn worker_traffic(&self, worker: usize) -> Vec<u64> {
        self.workers.get(worker).map_or_else(Vec::new, |w| {
            w.traffic
                .iter()
                .map(|c| c.load(Ordering::Relaxed))
                .collect()
        })
    }

    /// A worker's connections (handshakes included).
    pub(crate) fn worker_connections(&self, worker: usize) -> usize {
        self.workers
            .get(worker)
            .map_or(0, |w| w.connections.load(Ordering::Relaxed))
    }

    /// A worker's permessage-deflate memory, as last published.
    pub(crate) fn worker_deflate(&self, worker: usize) -> u64 {
        self.workers
            .get(worker)
            .map_or(0, |w| w.deflate.load(Ordering::Relaxed))
    }

    /// The refusals counted so far, by reason (in the order of [`REASONS`]).
    pub(crate) fn refusal_counts(&self) -> [u64; REASONS.len()] {
        std::array::from_fn(|i| self.refusals[i].load(Ordering::Relaxed))
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
