//! `GET /metrics`: the server's counters in the Prometheus text format (version 0.0.4),
//! through the `prometheus-client` crate, with room for an application's own metrics.
//!
//! Nothing here is on the path of a message. A connection's codec counts its messages
//! with plain adds (`Connection::traffic`); after each step its session takes them
//! (`Connection::take_traffic`) into its worker's totals (plain adds again), and the
//! worker stores those totals in its atomics once per turn of its loop (relaxed stores,
//! written by that worker only). A scrape
//! reads them (a collector that runs per scrape) and encodes them.
//!
//! The names, one line each, are in the README ("Monitoring") and in [`NAMES`].

use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    prometheus_text, DescriptorEncoder, EncodeLabelSet, EncodeMetric,
};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use crate::http::HttpResponse;
use crate::metrics::{traffic_slots, REASONS};
use crate::shared::Shared;

/// The names of the server's own metrics, as a scrape shows them (a counter's with
/// its `_total`, the histogram's without its `_bucket`, `_sum`, `_count`).
pub const NAMES: [&str; 12] = [
    "wisp_connections_open",
    "wisp_connections_accepted_total",
    "wisp_connections_max",
    "wisp_messages_received_total",
    "wisp_messages_sent_total",
    "wisp_message_bytes_received_total",
    "wisp_message_bytes_sent_total",
    "wisp_refusals_total",
    "wisp_memory_held_bytes",
    "wisp_memory_budget_bytes",
    "wisp_deflate_memory_bytes",
    "wisp_handshake_duration_seconds",
];

/// A server's metrics for Prometheus, from
/// [`Server::prometheus`](crate::Server::prometheus): cloneable and `Send`, so an HTTP
/// handler (the binary's `--metrics`, or a port of its own with `--metrics-listen`) can
/// answer scrapes with it.
///
/// ```
/// use wisp_server::{Config, Server};
/// let server = Server::bind(Config::default().listen("127.0.0.1:0").workers(1))?;
/// let metrics = server.prometheus();
/// let text = metrics.encode();
/// assert!(text.contains("# TYPE wisp_messages_received_total counter"));
/// assert!(text.contains("wisp_connections_open{worker=\"0\"} 0"));
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
pub struct Prometheus {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Prometheus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prometheus").finish_non_exhaustive()
    }
}

impl Prometheus {
    /// The `Content-Type` of [`encode`](Prometheus::encode)'s text.
    pub const CONTENT_TYPE: &'static str = prometheus_text::CONTENT_TYPE;

    pub(crate) fn new(shared: Arc<Shared>) -> Prometheus {
        shared.metrics.count_traffic();
        Prometheus { shared }
    }

    /// Every metric, the server's and those registered with
    /// [`Server::register_metrics`](crate::Server::register_metrics), in the Prometheus
    /// text format. The traffic counters are as of each worker's last turn.
    pub fn encode(&self) -> String {
        let mut core = Registry::default();
        core.register_collector(Box::new(Core {
            shared: Arc::clone(&self.shared),
        }));
        let mut text = String::new();
        // Writing to a String cannot fail; a metric that fails to encode is left out.
        let _ = prometheus_text::encode(&mut text, &core);
        let extra = self
            .shared
            .registry
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let _ = prometheus_text::encode(&mut text, &extra);
        text
    }

    /// The answer to a scrape: 200 with [`encode`](Prometheus::encode)'s text (only the
    /// head when `head_only`, for a `HEAD`).
    pub fn response(&self, head_only: bool) -> HttpResponse {
        HttpResponse::fresh(Self::CONTENT_TYPE, &self.encode(), head_only)
    }
}

/// The server's own metrics, read at each scrape.
struct Core {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Core {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("wisp_server::Core")
    }
}

/// One metric with no labels.
fn single(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    metric: &impl EncodeMetric,
) -> Result<(), std::fmt::Error> {
    let m = encoder.encode_descriptor(name, help, None, metric.metric_type())?;
    metric.encode(m)
}

/// A family of metrics of `kind`: one sample per label set.
fn family<L: EncodeLabelSet, M: EncodeMetric>(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    kind: MetricType,
    samples: impl IntoIterator<Item = (L, M)>,
) -> Result<(), std::fmt::Error> {
    let mut m = encoder.encode_descriptor(name, help, None, kind)?;
    for (labels, metric) in samples {
        metric.encode(m.encode_family(&labels)?)?;
    }
    Ok(())
}

impl Collector for Core {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let metrics = &self.shared.metrics;
        let totals = self.shared.totals();
        let workers: Vec<String> = (0..metrics.worker_count()).map(|w| w.to_string()).collect();
        let per_worker = |value: &dyn Fn(usize) -> i64| {
            workers
                .iter()
                .enumerate()
                .map(|(i, w)| ([("worker", w.clone())], ConstGauge::new(value(i))))
                .collect::<Vec<_>>()
        };

        family(
            &mut encoder,
            "wisp_connections_open",
            "Connections being served (handshakes included), per worker",
            MetricType::Gauge,
            per_worker(&|i| metrics.worker_connections(i) as i64),
        )?;
        single(
            &mut encoder,
            "wisp_connections_accepted",
            "Connections accepted, refused ones included",
            &ConstCounter::new(metrics.accepted_total()),
        )?;
        single(
            &mut encoder,
            "wisp_connections_max",
            "The most connections served at once (--max-connections)",
            &ConstGauge::new(totals.max_connections as i64),
        )?;

        // Four families of traffic counters, one per direction and measure.
        let traffic: Vec<Vec<u64>> = (0..workers.len())
            .map(|i| metrics.worker_traffic(i))
            .collect();
        let families = [
            (
                "wisp_messages_received",
                "Messages received, by type, per worker",
                false,
                false,
            ),
            (
                "wisp_messages_sent",
                "Messages sent, by type, per worker",
                true,
                false,
            ),
            (
                "wisp_message_bytes_received",
                "Payload bytes received (before permessage-deflate), by type, per worker",
                false,
                true,
            ),
            (
                "wisp_message_bytes_sent",
                "Payload bytes sent (before permessage-deflate), by type, per worker",
                true,
                true,
            ),
        ];
        for (name, help, sent, bytes) in families {
            let mut samples = Vec::new();
            for (j, slot) in traffic_slots().enumerate() {
                if slot.sent != sent || slot.bytes != bytes {
                    continue;
                }
                let kind = slot.kind.name().to_ascii_lowercase();
                for (i, w) in workers.iter().enumerate() {
                    let v = traffic[i].get(j).copied().unwrap_or(0);
                    samples.push((
                        [("worker", w.clone()), ("type", kind.clone())],
                        ConstCounter::new(v),
                    ));
                }
            }
            family(&mut encoder, name, help, MetricType::Counter, samples)?;
        }

        family(
            &mut encoder,
            "wisp_refusals",
            "Connections refused or failed by a server-wide limit, by reason",
            MetricType::Counter,
            REASONS
                .iter()
                .zip(metrics.refusal_counts())
                .map(|(reason, n)| ([("reason", *reason)], ConstCounter::new(n))),
        )?;
        single(
            &mut encoder,
            "wisp_memory_held_bytes",
            "Bytes charged against the memory budget, all connections together",
            &ConstGauge::new(totals.held as i64),
        )?;
        single(
            &mut encoder,
            "wisp_memory_budget_bytes",
            "The memory budget (--memory-budget)",
            &ConstGauge::new(i64::try_from(totals.budget).unwrap_or(i64::MAX)),
        )?;
        family(
            &mut encoder,
            "wisp_deflate_memory_bytes",
            "permessage-deflate state held: the worker's shared compressor and inflater, \
             and its connections' own",
            MetricType::Gauge,
            per_worker(&|i| metrics.worker_deflate(i) as i64),
        )?;
        single(
            &mut encoder,
            "wisp_handshake_duration_seconds",
            "From the accepted socket to the 101 queued (the request head's arrival included)",
            metrics.handshakes(),
        )
    }
}
