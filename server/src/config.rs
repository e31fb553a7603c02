//! The server's settings. The `wisp-server` binary sets them from its command line.

use std::path::PathBuf;
use std::time::Duration;

/// Everything the server can be told, with the defaults of [`Config::default`].
///
/// A library's defaults serve nothing it did not ask for: no built-in route
/// ([`Config::builtin_routes`]) and no static files ([`Config::web`]), so an embedding
/// program exposes its own routes only. [`Config::demo`] is what the `wisp-server`
/// binary starts from: every built-in route and the demo page from `./web`.
///
/// ```
/// let c = wisp_server::Config::default();
/// assert_eq!(c.listen, "127.0.0.1:9001");
/// assert_eq!(c.max_connections, 10_000);
/// assert_eq!((c.web, c.builtin_routes), (None, wisp_server::BuiltinRoutes::NONE));
/// let d = wisp_server::Config::demo();
/// assert_eq!(d.builtin_routes, wisp_server::BuiltinRoutes::ALL);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Address to listen on (`--listen`).
    pub listen: String,
    /// Directory of the static files served to plain HTTP requests (`--web`, the demo
    /// page); it may not exist (then 404). `None` (the default): every plain HTTP
    /// request gets 404, and nothing is read from the working directory.
    pub web: Option<PathBuf>,
    /// The built-in WebSocket routes served besides those added with
    /// [`Server::route`](crate::Server::route) (default none; the binary serves all).
    pub builtin_routes: BuiltinRoutes,
    /// Messages a connection's [`Sender`](crate::Sender) holds before a send is
    /// [`SendError::Full`](crate::SendError::Full) (default 256).
    pub send_queue: usize,
    /// Largest message accepted, in bytes (`--max-message-size`); more is closed with 1009.
    pub max_message_size: u64,
    /// Largest frame accepted, in bytes (`--max-frame-size`); more is closed with 1009.
    pub max_frame_size: u64,
    /// Connections served at once, handshakes included (`--max-connections`); more get 503.
    pub max_connections: usize,
    /// Connections open at once from one IP address (`--max-connections-per-ip`); more
    /// get 503. The default leaves room for a large NAT.
    pub max_connections_per_ip: usize,
    /// Request heads arriving at once from one IP address (`--max-handshakes-per-ip`);
    /// more get 503, so slow heads from one host cannot fill the slots. The default is as
    /// generous as the connections per address (a NAT's burst of clients connects at
    /// once); lower it when that limit is raised.
    pub max_handshakes_per_ip: usize,
    /// Time for the whole request head to arrive (`--handshake-timeout`).
    pub handshake_timeout: Duration,
    /// A ping goes out after this much silence from the peer (`--ping-interval`).
    pub ping_interval: Duration,
    /// A peer that completes no frame (not even a pong) and sends less than 64 KiB of
    /// one for this long is dropped (`--idle-timeout`): silence and a frame dribbled a
    /// byte at a time are treated alike.
    pub idle_timeout: Duration,
    /// Allowed `Origin` values (`--origin`, repeatable); empty: any origin, `null` included.
    pub origins: Vec<String>,
    /// Subprotocols the server speaks, in no order (`--subprotocol`, repeatable).
    pub subprotocols: Vec<String>,
    /// Messages queued for one /chat member before it counts as too slow (closed with 1008).
    pub chat_queue: usize,
    /// Memory that peers can make the server hold, all connections together
    /// (`--memory-budget`): receive and send buffers and messages being reassembled. A
    /// connection whose growth would pass it is failed: close 1009 when it is building a
    /// large message, 1013 (try again later) otherwise. Default: a quarter of the
    /// machine's memory. `u64::MAX` turns the budget off: nothing is accounted (the load
    /// bench compares the two).
    pub memory_budget: u64,
    /// Worker threads, each running an event loop over its share of the connections
    /// (`--workers`); 0: one per core.
    pub workers: usize,
    /// Reports queued for one `/inspect?watch=ID` watcher before it counts as too slow
    /// (it gets a `dropped` notice and close 1008; its target never waits).
    pub watch_queue: usize,
    /// Time the graceful shutdown waits for close handshakes.
    pub shutdown_grace: Duration,
    /// Redis to share `/chat` rooms with other instances through (`--redis
    /// redis://HOST:PORT[/DB]`); `None`: this instance alone. Delivery across instances
    /// is at most once (Redis pub/sub): see [`routes`](crate::routes#many-instances---redis).
    /// The server reconnects by itself whenever Redis is unreachable, and serves its own
    /// members meanwhile; the binary refuses to start when Redis is unreachable at start,
    /// unless `--redis-optional` is given.
    pub redis: Option<String>,
    /// With `redis`: start even when Redis is unreachable, serving alone until it is
    /// (`--redis-optional`). Otherwise [`Server::bind`](crate::Server::bind) fails.
    pub redis_optional: bool,
    /// permessage-deflate (RFC 7692): what the server accepts of a client's offer
    /// (default on: `server_no_context_takeover`, so an idle connection holds no
    /// compressor); `None` declines every offer (`--no-deflate`).
    pub deflate: Option<wisp_codec::extension::ServerDeflate>,
    /// Serve `GET /stats`: a JSON report of connections (total and per worker), memory
    /// held against the budget, the largest holders and refusals by reason (`--stats`).
    /// Off by default: the report shows peer addresses. Its format is in the crate docs
    /// (`GET /stats`).
    pub stats: bool,
    /// Serve `https://` and `wss://` instead of `http://` and `ws://` on the listening
    /// port (`--tls-cert FILE --tls-key FILE`); `None`: plain TCP.
    pub tls: Option<crate::tls::TlsConfig>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:9001".into(),
            web: None,
            builtin_routes: BuiltinRoutes::NONE,
            send_queue: 256,
            max_message_size: 64 << 20,
            max_frame_size: 16 << 20,
            max_connections: 10_000,
            max_connections_per_ip: 256,
            max_handshakes_per_ip: 256,
            handshake_timeout: Duration::from_secs(10),
            ping_interval: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            origins: Vec::new(),
            subprotocols: Vec::new(),
            chat_queue: 256,
            memory_budget: default_memory_budget(),
            workers: 0,
            watch_queue: 256,
            shutdown_grace: Duration::from_secs(5),
            redis: None,
            redis_optional: false,
            deflate: Some(Default::default()),
            stats: false,
            tls: None,
        }
    }
}

impl Config {
    /// The defaults of the `wisp-server` binary: [`Config::default`] with every built-in
    /// route ([`BuiltinRoutes::ALL`]) and the static files of `./web`.
    pub fn demo() -> Config {
        Config {
            web: Some(PathBuf::from("web")),
            builtin_routes: BuiltinRoutes::ALL,
            ..Config::default()
        }
    }
}

/// Which built-in routes a server has (formats in [`routes`](crate::routes)). A path
/// that is on here cannot be taken by [`Server::route`](crate::Server::route).
///
/// ```
/// use wisp_server::BuiltinRoutes;
/// let only_echo = BuiltinRoutes { echo: true, ..BuiltinRoutes::NONE };
/// assert!(!only_echo.chat);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuiltinRoutes {
    /// `/echo`: every message back.
    pub echo: bool,
    /// `/chat`: rooms (with [`Config::redis`], shared across instances).
    pub chat: bool,
    /// `/inspect` and `/inspect?watch=ID`: every frame reported as JSON, and watchers of
    /// other `/inspect` connections (from the same origin). A debugging aid: it shows a
    /// connection its own request head, headers included.
    pub inspect: bool,
}

impl BuiltinRoutes {
    /// No built-in route.
    pub const NONE: BuiltinRoutes = BuiltinRoutes {
        echo: false,
        chat: false,
        inspect: false,
    };
    /// `/echo`, `/chat` and `/inspect`.
    pub const ALL: BuiltinRoutes = BuiltinRoutes {
        echo: true,
        chat: true,
        inspect: true,
    };
}

/// A quarter of the machine's memory (`MemTotal` in `/proc/meminfo`), in whole MiB, or
/// 1 GiB where that cannot be read.
pub(crate) fn default_memory_budget() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))?
                .split_whitespace()
                .next()?
                .parse::<u64>()
                .ok()
        })
        .map_or(1 << 30, |kib| (kib * 1024 / 4) & !((1 << 20) - 1))
}
