//! `GET /metrics` for Prometheus: on the listening port (`--metrics`), or on a port of
//! its own (`--metrics-listen ADDR`), served by a second wisp-server with one worker,
//! no WebSocket route and this one HTTP handler. Both through the public API
//! (`Server::prometheus`, `Server::serve_http`).

use std::io;
use std::thread::JoinHandle;

use log::warn;
use wisp_server::{Config, HttpResponse, Prometheus, Server, ShutdownHandle};

/// Where GET /metrics is served.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Where {
    /// `--metrics`: on the listening port.
    pub main_port: bool,
    /// `--metrics-listen ADDR`: on a port of its own.
    pub listen: Option<String>,
}

/// Connections the metrics port serves at once (Prometheus scrapes one at a time).
const METRICS_CONNECTIONS: usize = 16;

/// The answer to `GET /metrics` or `HEAD /metrics`; `None` for anything else.
fn scrape(metrics: &Prometheus, method: &str, path: &str) -> Option<HttpResponse> {
    let head = method == "HEAD";
    (path == "/metrics" && (head || method == "GET")).then(|| metrics.response(head))
}

/// The metrics port while it runs: stopped with the main server.
pub struct MetricsPort {
    handle: ShutdownHandle,
    thread: JoinHandle<()>,
}

impl MetricsPort {
    /// Stops it and waits for its thread.
    pub fn stop(self) {
        self.handle.shutdown();
        if self.thread.join().is_err() {
            warn!("the metrics port's thread panicked");
        }
    }
}

impl Where {
    /// Serves GET /metrics where asked: on `server`'s own port, and on a port of its
    /// own (bound now, so a bad address fails before anything is served).
    pub fn install(&self, server: &Server) -> io::Result<Option<MetricsPort>> {
        if !self.main_port && self.listen.is_none() {
            return Ok(None);
        }
        let metrics = server.prometheus();
        if self.main_port {
            let m = metrics.clone();
            server.serve_http(move |req| scrape(&m, req.method(), req.path()));
        }
        let Some(addr) = &self.listen else {
            return Ok(None);
        };
        let config = Config::default()
            .listen(addr.as_str())
            .workers(1)
            .max_connections(METRICS_CONNECTIONS)
            .max_connections_per_ip(METRICS_CONNECTIONS)
            .max_handshakes_per_ip(METRICS_CONNECTIONS);
        let port = Server::bind(config).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot listen on {addr} for --metrics-listen: {e}"),
            )
        })?;
        port.serve_http(move |req| scrape(&metrics, req.method(), req.path()));
        log::info!("metrics on http://{}/metrics", port.local_addr());
        let handle = port.shutdown_handle();
        let thread = std::thread::Builder::new()
            .name("metrics".into())
            .spawn(move || {
                if let Err(e) = port.run() {
                    warn!("the metrics port stopped: {e}");
                }
            })?;
        Ok(Some(MetricsPort { handle, thread }))
    }
}
