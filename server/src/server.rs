//! The server: an acceptor and worker threads that each run an event loop.
//!
//! ## Threads
//! - The **acceptor** (the thread that calls [`Server::run`]) accepts connections,
//!   counts them against [`Config::max_connections`], and hands each to a worker in
//!   turn through the worker's inbox, waking its loop. A connection over the limit goes
//!   to a worker too, marked to be answered 503 with `Retry-After`; the acceptor itself
//!   never reads or writes a socket, so it never waits.
//! - Each **worker** ([`Config::workers`], one per core by default) owns its
//!   connections and runs one event loop over their non-blocking sockets (see
//!   `worker.rs`): readiness from the OS through `mio`, one timer heap for every
//!   deadline (the handshake deadline, keepalive pings, the idle drop, the close wait,
//!   lingering closes), and an inbox for wake-ups from other threads.
//! - Nothing waits for another connection. A [`Sender`](crate::Sender) appends to its
//!   connection's bounded queue and wakes the connection's worker.
//!
//! ## Graceful shutdown
//! [`ShutdownHandle::shutdown`] stops the acceptor and wakes every worker; each sends
//! close 1001 to its WebSocket connections and waits for their answers, all within
//! [`Config::shutdown_grace`] of the signal, and [`Server::run`] returns.

use std::collections::HashMap;
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use log::{info, warn};

use crate::config::{Config, IoEngine};
use crate::forwarded::is_trusted;
use crate::handler::{Accept, Upgrade};
use crate::http::{HttpRequest, HttpResponse};
use crate::limits::{Admissions, Budget};
use crate::metrics::Metrics;
use crate::prometheus::Prometheus;
use crate::shared::Shared;
use crate::worker::Worker;
use wisp_codec::handshake::Refusal;

/// Why [`Server::route`] did not add a route.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RouteError {
    /// A route is already served at this path (a built-in one, or an earlier
    /// [`Server::route`]).
    Taken(String),
    /// A route's path starts with `/` and holds no `?`, `#` or whitespace.
    InvalidPath(String),
}

impl std::fmt::Display for RouteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RouteError::Taken(p) => write!(f, "the path {p:?} is already a route"),
            RouteError::InvalidPath(p) => write!(
                f,
                "{p:?} is not a route path (it starts with '/' and holds no '?', '#' or space)"
            ),
        }
    }
}

impl std::error::Error for RouteError {}

/// A bound server, ready to [`run`](Server::run).
///
/// ```no_run
/// let server = wisp_server::Server::bind(wisp_server::Config::default()).unwrap();
/// println!("listening on http://{}/", server.local_addr());
/// server.run().unwrap();
/// ```
pub struct Server {
    listener: TcpListener,
    shared: Arc<Shared>,
    workers: Vec<Worker>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("local_addr", &self.shared.local_addr)
            .field("workers", &self.workers.len())
            .finish_non_exhaustive()
    }
}

/// Stops a running server gracefully from any thread.
#[derive(Clone)]
pub struct ShutdownHandle {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for ShutdownHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShutdownHandle").finish_non_exhaustive()
    }
}

impl ShutdownHandle {
    /// Starts the graceful shutdown: no more connections are accepted, every connection
    /// gets close 1001, and [`Server::run`] returns once they are closed or the grace
    /// period is over.
    pub fn shutdown(&self) {
        let _ = self.shared.shutdown_at.get_or_init(Instant::now);
        if self.shared.shutting_down.swap(true, Ordering::AcqRel) {
            return;
        }
        for inbox in &self.shared.inboxes {
            inbox.nudge();
        }
        // Wake the acceptor with a connection of our own.
        let mut addr = self.shared.local_addr;
        if addr.ip().is_unspecified() {
            addr.set_ip(match addr {
                SocketAddr::V4(_) => [127, 0, 0, 1].into(),
                SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            });
        }
        let _ = TcpStream::connect_timeout(&addr, Duration::from_secs(1));
    }
}

impl Server {
    /// Binds the listening socket of `config.listen` and sets up the workers' event
    /// loops (they start with [`run`](Server::run)).
    pub fn bind(config: Config) -> io::Result<Server> {
        let listener = TcpListener::bind(&config.listen)?;
        let local_addr = listener.local_addr()?;
        let count = match config.workers {
            0 => thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let uring = choose_engine(config.io)?;
        let mut workers = Vec::with_capacity(count);
        let mut inboxes = Vec::with_capacity(count);
        for i in 0..count {
            let (w, inbox) = Worker::new(i, uring)?;
            workers.push(w);
            inboxes.push(inbox);
        }
        Ok(Server {
            listener,
            workers,
            shared: Arc::new(Shared {
                admissions: Arc::new(Admissions::new(
                    config.max_connections,
                    config.max_connections_per_ip,
                    config.max_handshakes_per_ip,
                )),
                budget: Budget::new(config.memory_budget),
                config,
                local_addr,
                shutting_down: AtomicBool::new(false),
                shutdown_at: OnceLock::new(),
                next_id: AtomicU64::new(1),
                metrics: Metrics::new(count),
                routes: Mutex::new(HashMap::new()),
                http: Mutex::new(Vec::new()),
                inboxes,
                registry: Mutex::new(prometheus_client::registry::Registry::default()),
            }),
        })
    }

    /// The address actually bound (the real port when `--listen` asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.shared.local_addr
    }

    /// A handle that stops the server from another thread or a signal watcher.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle {
            shared: Arc::clone(&self.shared),
        }
    }

    /// Adds a WebSocket route at `path` (the request target's path: `/feed` serves
    /// `/feed?room=a` too). For each upgrade request to it, `factory` sees the request
    /// ([`Upgrade`]: path, query, headers, subprotocol, peer) and returns the
    /// connection's handler ([`Accept`], with headers for the 101 response if it likes)
    /// or a [`Refusal`] (an HTTP status and reason). It runs on a worker thread, so it
    /// must not block.
    ///
    /// A path that is taken (by an earlier `route`) is [`RouteError::Taken`]; one that does not start with `/` or holds a `?` or `#` is
    /// [`RouteError::InvalidPath`]. Routes may be added while the server runs.
    ///
    /// ```
    /// use wisp_server::{Accept, Config, Echo, Refusal, RouteError, Server};
    /// let server = Server::bind(Config::default().listen("127.0.0.1:0"))?;
    /// server.route("/private", |up| match up.header("authorization") {
    ///     Some("Bearer s3cret") => Ok(Accept::new(Echo)),
    ///     _ => Err(Refusal::new(401, "a token is needed")),
    /// })?;
    /// let taken = server.route("/private", |_| Ok(Accept::new(Echo)));
    /// assert!(matches!(taken, Err(RouteError::Taken(_))));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn route<F>(&self, path: &str, factory: F) -> Result<(), RouteError>
    where
        F: Fn(&Upgrade<'_>) -> Result<Accept, Refusal> + Send + Sync + 'static,
    {
        if !path.starts_with('/') || path.contains(['?', '#']) || path.contains(char::is_whitespace)
        {
            return Err(RouteError::InvalidPath(path.to_string()));
        }
        let mut routes = self.shared.routes.lock().unwrap_or_else(|e| e.into_inner());
        if routes.contains_key(path) {
            return Err(RouteError::Taken(path.to_string()));
        }
        routes.insert(path.into(), Arc::new(factory));
        Ok(())
    }

    /// Adds a handler of plain HTTP requests (those that are not WebSocket upgrades):
    /// handlers are asked in the order added, the first that answers (`Some`) wins, and
    /// a request none answers gets 404. A handler runs on a worker thread, so it must
    /// not block; a response's body may be a file, sent a chunk at a time as the socket
    /// drains. A handler that panics costs the request a 500.
    ///
    /// ```
    /// use wisp_server::{Config, HttpResponse, Server};
    /// let server = Server::bind(Config::default().listen("127.0.0.1:0"))?;
    /// server.serve_http(|req| (req.path() == "/health").then(|| HttpResponse::text(200, "ok\n")));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn serve_http<F>(&self, handler: F)
    where
        F: Fn(&HttpRequest<'_>) -> Option<HttpResponse> + Send + Sync + 'static,
    {
        let mut http = self.shared.http.lock().unwrap_or_else(|e| e.into_inner());
        http.push(Arc::new(handler));
    }

    /// What the server holds and refused, as a report any thread can take
    /// ([`Stats::to_json`]). From this call on, the workers also keep a list of the
    /// connections holding the most memory.
    pub fn stats(&self) -> Stats {
        self.shared.metrics.track_holders();
        Stats {
            shared: Arc::clone(&self.shared),
        }
    }

    /// The server's metrics for Prometheus ([`Prometheus::encode`]: the text format).
    /// From this call on, the workers also publish their traffic (once per turn of their
    /// loop) and time each handshake.
    pub fn prometheus(&self) -> Prometheus {
        Prometheus::new(Arc::clone(&self.shared))
    }

    /// Lets an application register its own metrics (counters, gauges, histograms, or a
    /// `Collector` read at each scrape) in the registry that [`Prometheus::encode`]
    /// encodes after the server's own; `wisp_server::prometheus_client` is the crate.
    ///
    /// ```
    /// use wisp_server::prometheus_client::metrics::counter::Counter;
    /// use wisp_server::{Config, Server};
    /// let server = Server::bind(Config::default().listen("127.0.0.1:0").workers(1))?;
    /// let jobs: Counter = Counter::default();
    /// server.register_metrics(|r| r.register("myapp_jobs", "Jobs done", jobs.clone()));
    /// jobs.inc();
    /// assert!(server.prometheus().encode().contains("myapp_jobs_total 1"));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn register_metrics(
        &self,
        register: impl FnOnce(&mut prometheus_client::registry::Registry),
    ) {
        let mut r = self
            .shared
            .registry
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        register(&mut r);
    }

    /// The paths of the WebSocket routes, sorted.
    pub fn routes(&self) -> Vec<String> {
        self.shared.route_paths()
    }

    /// The WebSocket routes as any thread can read them later, routes added after this
    /// call included: for an HTTP handler that lists them (the demo's `GET /routes`).
    ///
    /// ```
    /// use wisp_server::{Accept, Config, Echo, Server};
    /// let server = Server::bind(Config::default().listen("127.0.0.1:0"))?;
    /// let list = server.route_list();
    /// server.route("/echo", |_| Ok(Accept::new(Echo)))?;
    /// assert_eq!(list.paths(), ["/echo"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn route_list(&self) -> RouteList {
        RouteList {
            shared: Arc::clone(&self.shared),
        }
    }

    /// Accepts and serves connections until [`ShutdownHandle::shutdown`], then closes
    /// every connection with 1001 and returns when all are closed or the grace period
    /// ([`Config::shutdown_grace`]) is over.
    pub fn run(self) -> io::Result<()> {
        let shared = self.shared;
        let mut threads = Vec::with_capacity(self.workers.len());
        for w in self.workers {
            let s = Arc::clone(&shared);
            let name = format!("worker-{}", w.index());
            threads.push(thread::Builder::new().name(name).spawn(move || w.run(&s))?);
        }
        info!("{} worker(s), each an event loop", threads.len());
        let mut next = 0usize;
        for stream in self.listener.incoming() {
            if shared.stopping() {
                break;
            }
            let stream = match stream {
                Ok(s) => s,
                Err(e) => {
                    warn!("accept failed: {e}");
                    // Out of file descriptors, say: let connections end before retrying.
                    thread::sleep(Duration::from_millis(20));
                    continue;
                }
            };
            shared.metrics.accepted();
            let peer = stream.peer_addr().ok();
            let trusted = peer.is_some_and(|p| is_trusted(&shared.config.trusted_proxies, p.ip()));
            let Some(admission) = shared.admissions.admit(peer, !trusted, &shared.metrics) else {
                continue;
            };
            if stream.set_nonblocking(true).is_err() {
                continue;
            }
            let inbox = &shared.inboxes[next % shared.inboxes.len()];
            next = next.wrapping_add(1);
            inbox.accept(stream, admission);
        }
        drop(self.listener);
        for t in threads {
            if t.join().is_err() {
                warn!("a worker thread panicked");
            }
        }
        let (left, _) = shared.admissions.counts();
        if left > 0 {
            warn!("shutdown: {left} connection(s) did not finish the close handshake in time");
        }
        info!("shutdown complete");
        Ok(())
    }
}

/// A server's WebSocket routes, from [`Server::route_list`]; cloneable and `Send`.
#[derive(Clone)]
pub struct RouteList {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for RouteList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("RouteList").field(&self.paths()).finish()
    }
}

impl RouteList {
    /// The paths of the routes now, sorted (as [`Server::routes`]).
    pub fn paths(&self) -> Vec<String> {
        self.shared.route_paths()
    }
}

/// The server's counters for an operator: connections (total, per worker, being
/// refused), memory held against [`Config::memory_budget`] with the largest holders,
/// and refusals by reason. From [`Server::stats`]; cloneable and `Send`.
#[derive(Clone)]
pub struct Stats {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Stats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stats").finish_non_exhaustive()
    }
}

impl Stats {
    /// The report as JSON (the format is in the crate docs, `GET /stats`). The largest
    /// holders of each worker are as of at most 250 ms ago.
    pub fn to_json(&self) -> String {
        self.shared.metrics.report(self.shared.totals())
    }
}

/// Whether the workers run on io_uring, from `--io`: `auto` takes it where the kernel
/// allows it. One log line says which engine and why.
fn choose_engine(io: IoEngine) -> io::Result<bool> {
    #[cfg(target_os = "linux")]
    let check = crate::worker::uring::check();
    #[cfg(not(target_os = "linux"))]
    let check: Result<(), String> = Err("io_uring is Linux's".into());
    match (io, check) {
        (IoEngine::Epoll, _) => {
            info!("IO engine: epoll (--io epoll)");
            Ok(false)
        }
        (IoEngine::Uring, Ok(())) => {
            info!("IO engine: io_uring (--io uring)");
            Ok(true)
        }
        (IoEngine::Uring, Err(why)) => Err(io::Error::other(format!(
            "--io uring: this kernel cannot run the io_uring engine: {why}"
        ))),
        (IoEngine::Auto, Ok(())) => {
            info!(
                "IO engine: io_uring (--io auto: the kernel has multishot receive and \
                 provided buffer rings)"
            );
            Ok(true)
        }
        (IoEngine::Auto, Err(why)) => {
            info!("IO engine: epoll (--io auto: no io_uring here: {why})");
            Ok(false)
        }
    }
}
