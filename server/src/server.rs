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
//! - Nothing waits for another connection. A `/chat` broadcast appends to each member's
//!   bounded queue and wakes the member's worker; a member that cannot keep up gets 1008.
//!
//! ## Graceful shutdown
//! [`ShutdownHandle::shutdown`] stops the acceptor and wakes every worker; each sends
//! close 1001 to its WebSocket connections and waits for their answers, all within
//! [`Config::shutdown_grace`] of the signal, and [`Server::run`] returns.

use std::collections::HashMap;
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use log::{info, warn};

use crate::chat::Rooms;
use crate::config::Config;
use crate::handler::{Accept, HandlerFactory, Upgrade};
use crate::limits::PerIp;
use crate::routes::Echo;
use crate::shared::{admit, release, Route, Shared};
use crate::stats::Stats;
use crate::watch::Registry;
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
    /// loops (they start with [`run`](Server::run)). With [`Config::redis`], it also
    /// starts the cluster link, and fails if Redis is unreachable (unless
    /// [`Config::redis_optional`]).
    pub fn bind(config: Config) -> io::Result<Server> {
        let listener = TcpListener::bind(&config.listen)?;
        let local_addr = listener.local_addr()?;
        let count = match config.workers {
            0 => thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let rooms = match &config.redis {
            Some(url) => {
                if !config.redis_optional {
                    crate::cluster::reachable(url).map_err(|e| {
                        io::Error::new(
                            io::ErrorKind::ConnectionRefused,
                            format!("cannot reach Redis at {url}: {e}"),
                        )
                    })?;
                }
                Rooms::clustered(url)?
            }
            None => Arc::new(Rooms::default()),
        };
        let per_ip = PerIp::new(config.max_connections_per_ip, config.max_handshakes_per_ip);
        let mut workers = Vec::with_capacity(count);
        let mut inboxes = Vec::with_capacity(count);
        for i in 0..count {
            let (w, inbox) = Worker::new(i)?;
            workers.push(w);
            inboxes.push(inbox);
        }
        let mut routes = HashMap::new();
        let builtin = config.builtin_routes;
        if builtin.echo {
            let echo: HandlerFactory = Arc::new(|_: &Upgrade<'_>| Ok(Accept::new(Echo)));
            routes.insert("/echo".to_string(), Route::Factory(echo));
        }
        if builtin.chat {
            let chat = crate::chat::route(Arc::clone(&rooms), config.chat_queue);
            routes.insert("/chat".to_string(), Route::Factory(chat));
        }
        if builtin.inspect {
            routes.insert("/inspect".to_string(), Route::Inspect);
        }
        Ok(Server {
            listener,
            workers,
            shared: Arc::new(Shared {
                config,
                local_addr,
                active: AtomicUsize::new(0),
                refusing: AtomicUsize::new(0),
                shutting_down: AtomicBool::new(false),
                shutdown_at: OnceLock::new(),
                next_id: AtomicU64::new(1),
                rooms,
                watch: Registry::default(),
                held: AtomicU64::new(0),
                stats: Stats::new(count),
                per_ip,
                routes: Mutex::new(routes),
                inboxes,
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
    /// A path that is taken (by a built-in route that is on, or an earlier `route`) is
    /// [`RouteError::Taken`]; one that does not start with `/` or holds a `?` or `#` is
    /// [`RouteError::InvalidPath`]. Routes may be added while the server runs.
    ///
    /// ```
    /// use wisp_server::{Accept, BuiltinRoutes, Config, Echo, Refusal, RouteError, Server};
    /// let server = Server::bind(Config {
    ///     listen: "127.0.0.1:0".into(),
    ///     builtin_routes: BuiltinRoutes::ALL,
    ///     ..Config::default()
    /// })?;
    /// server.route("/private", |up| match up.header("authorization") {
    ///     Some("Bearer s3cret") => Ok(Accept::new(Echo)),
    ///     _ => Err(Refusal::new(401, "a token is needed")),
    /// })?;
    /// let taken = server.route("/echo", |_| Ok(Accept::new(Echo)));
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
        routes.insert(path.to_string(), Route::Factory(Arc::new(factory)));
        Ok(())
    }

    /// The paths of the WebSocket routes, sorted.
    pub fn routes(&self) -> Vec<String> {
        self.shared.route_paths()
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
            let admit = admit(&shared, &stream);
            let Some(admit) = admit else { continue };
            if stream.set_nonblocking(true).is_err() {
                release(&shared, &admit);
                continue;
            }
            let inbox = &shared.inboxes[next % shared.inboxes.len()];
            next = next.wrapping_add(1);
            inbox.accept(stream, admit);
        }
        drop(self.listener);
        for t in threads {
            if t.join().is_err() {
                warn!("a worker thread panicked");
            }
        }
        shared.rooms.stop();
        let left = shared.active.load(Ordering::Acquire);
        if left > 0 {
            warn!("shutdown: {left} connection(s) did not finish the close handshake in time");
        }
        info!("shutdown complete");
        Ok(())
    }
}
