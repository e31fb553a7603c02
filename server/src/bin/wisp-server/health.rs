//! `GET /healthz` (the process is serving) and `GET /readyz` (it takes new
//! connections: 503 while draining after SIGTERM), for Kubernetes-style probes. Served
//! through the public API (`Server::serve_http`), ahead of the demo's handlers.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use wisp_server::{HttpResponse, Server};

/// Whether the server is draining: set on SIGTERM, `--drain-delay` before the
/// graceful shutdown starts.
#[derive(Clone, Default)]
pub struct Health {
    draining: Arc<AtomicBool>,
}

impl Health {
    /// Serves `/healthz` and `/readyz` on `server`.
    pub fn install(&self, server: &Server) {
        let draining = Arc::clone(&self.draining);
        server.serve_http(move |req| {
            let head = req.method() == "HEAD";
            if !(head || req.method() == "GET") {
                return None;
            }
            match req.path() {
                "/healthz" => Some(HttpResponse::text(200, "ok\n")),
                "/readyz" if draining.load(Ordering::Acquire) => {
                    Some(HttpResponse::text(503, "draining\n"))
                }
                "/readyz" => Some(HttpResponse::text(200, "ready\n")),
                _ => None,
            }
        });
    }

    /// From now on `/readyz` says 503.
    pub fn drain(&self) {
        self.draining.store(true, Ordering::Release);
    }
}
