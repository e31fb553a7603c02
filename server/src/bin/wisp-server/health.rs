//! `GET /healthz` (the process is serving) and `GET /readyz` (it takes new
//! connections: 503 while draining after SIGTERM, or while the `--redis` link that is
//! required, without `--redis-optional`, is down), for Kubernetes-style probes. Served
//! through the public API (`Server::serve_http`, `Running::redis`), ahead of the demo's
//! handlers.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use wisp_server::demo::RedisLink;
use wisp_server::{HttpResponse, Server};

/// Whether the server is draining (set on SIGTERM, `--drain-delay` before the
/// graceful shutdown starts), and the Redis link it needs, if any.
#[derive(Clone, Default)]
pub struct Health {
    draining: Arc<AtomicBool>,
    redis: Arc<OnceLock<RedisLink>>,
}

impl Health {
    /// Serves `/healthz` and `/readyz` on `server`.
    pub fn install(&self, server: &Server) {
        let draining = Arc::clone(&self.draining);
        let redis = Arc::clone(&self.redis);
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
                "/readyz" if redis.get().is_some_and(|l| !l.up()) => Some(HttpResponse::text(
                    503,
                    "the link to Redis (--redis) is down\n",
                )),
                "/readyz" => Some(HttpResponse::text(200, "ready\n")),
                _ => None,
            }
        });
    }

    /// From now on `/readyz` says 503 while `link` is down.
    pub fn require(&self, link: RedisLink) {
        let _ = self.redis.set(link);
    }

    /// From now on `/readyz` says 503.
    pub fn drain(&self) {
        self.draining.store(true, Ordering::Release);
    }
}
