//! What the acceptor and the workers share: the configuration, the admission counts
//! and the memory budget, the counters, the shutdown flag and the routes.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use crate::config::Config;
use crate::handler::HandlerFactory;
use crate::http::HttpHandler;
use crate::limits::{Admissions, Budget};
use crate::metrics::{Metrics, Totals};
use crate::wake::Inbox;

/// What the acceptor and the workers share.
pub(crate) struct Shared {
    pub(crate) config: Config,
    pub(crate) local_addr: SocketAddr,
    pub(crate) admissions: Arc<Admissions>,
    pub(crate) budget: Budget,
    pub(crate) shutting_down: AtomicBool,
    pub(crate) shutdown_at: OnceLock<Instant>,
    pub(crate) next_id: AtomicU64,
    /// Refusals by reason, connections per worker, the largest holders.
    pub(crate) metrics: Metrics,
    /// The WebSocket routes by path.
    pub(crate) routes: Mutex<HashMap<Arc<str>, HandlerFactory>>,
    /// The handlers of plain HTTP requests, in the order added.
    pub(crate) http: Mutex<Vec<HttpHandler>>,
    pub(crate) inboxes: Vec<Arc<Inbox>>,
    /// An application's own metrics, served after the server's by `/metrics`.
    pub(crate) registry: Mutex<prometheus_client::registry::Registry>,
}

impl Shared {
    pub(crate) fn stopping(&self) -> bool {
        self.shutting_down.load(Ordering::Acquire)
    }

    /// The paths of the WebSocket routes, sorted.
    pub(crate) fn route_paths(&self) -> Vec<String> {
        let routes = self.routes.lock().unwrap_or_else(|e| e.into_inner());
        let mut paths: Vec<String> = routes.keys().map(|p| p.to_string()).collect();
        paths.sort();
        paths
    }

    /// The route at `path`, with the table's copy of the path (which a session keeps
    /// without a string of its own).
    pub(crate) fn route(&self, path: &str) -> Option<(Arc<str>, HandlerFactory)> {
        let routes = self.routes.lock().ok()?;
        let (path, factory) = routes.get_key_value(path)?;
        Some((Arc::clone(path), Arc::clone(factory)))
    }

    /// The plain HTTP handlers, in order.
    pub(crate) fn http_handlers(&self) -> Vec<HttpHandler> {
        self.http.lock().map(|h| h.clone()).unwrap_or_default()
    }

    pub(crate) fn shutdown_deadline(&self) -> Instant {
        *self.shutdown_at.get_or_init(Instant::now) + self.config.shutdown_grace
    }

    /// The server-wide figures of a report.
    pub(crate) fn totals(&self) -> Totals {
        let (active, refusing) = self.admissions.counts();
        Totals {
            active,
            refusing,
            max_connections: self.config.max_connections,
            held: self.budget.held(),
            budget: self.budget.limit(),
        }
    }
}
