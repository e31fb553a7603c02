//! The server's settings. The `wisp-server` binary sets them from its command line.

use std::time::Duration;

/// Everything the server can be told, with the defaults of [`Config::default`].
///
/// A library's server serves nothing it was not asked for: no route until
/// [`Server::route`](crate::Server::route), and 404 to every plain HTTP request until
/// [`Server::serve_http`](crate::Server::serve_http). The demo's routes and page are an
/// application of that API ([`demo`](crate::demo)).
///
/// Fields are public to read and set; new ones may come, so a config is built from
/// [`Config::default`] and its setters, one per field:
///
/// ```
/// use std::time::Duration;
/// let c = wisp_server::Config::default().listen("127.0.0.1:0").workers(2).max_connections(100);
/// assert_eq!((c.listen.as_str(), c.workers, c.max_connections), ("127.0.0.1:0", 2, 100));
/// // The protocol's own limits and timers are the codec's config, nested.
/// let c = c.codec(wisp_codec::Config { max_message_size: 1 << 20, ..Default::default() });
/// assert_eq!(c.codec.max_message_size, 1 << 20);
/// assert_eq!(wisp_server::Config::default().codec.ping_interval, Some(Duration::from_secs(30)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// Address to listen on (`--listen`).
    pub listen: String,
    /// Worker threads, each running an event loop over its share of the connections
    /// (`--workers`); 0: one per core.
    pub workers: usize,
    /// The protocol's limits and timers for every connection: the largest frame and
    /// message accepted (`--max-frame-size`, `--max-message-size`; more is closed with
    /// 1009), the keepalive ping after silence (`--ping-interval`), the idle drop
    /// (`--idle-timeout`: a peer that completes no frame, not even a pong, and sends
    /// less than 64 KiB of one for this long), and the wait for the peer's close. A
    /// route's [`Accept::record_frames`](crate::Accept::record_frames) decides
    /// `record_frames`. Defaults: the codec's, with a close wait of 2 s.
    pub codec: wisp_codec::Config,
    /// Messages a connection's [`Sender`](crate::Sender) holds before a send is
    /// [`SendError::Full`](crate::SendError::Full) (default 256).
    pub send_queue: usize,
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
    /// Allowed `Origin` values (`--origin`, repeatable); empty: any origin, `null` included.
    pub origins: Vec<String>,
    /// Subprotocols the server speaks, in no order (`--subprotocol`, repeatable).
    pub subprotocols: Vec<String>,
    /// Memory that peers can make the server hold, all connections together
    /// (`--memory-budget`): receive and send buffers and messages being reassembled. A
    /// connection whose growth would pass it is failed: close 1009 when it is building a
    /// large message, 1013 (try again later) otherwise. Default: a quarter of the
    /// machine's memory. `u64::MAX` turns the budget off: nothing is accounted (the load
    /// bench compares the two).
    pub memory_budget: u64,
    /// Time the graceful shutdown waits for close handshakes.
    pub shutdown_grace: Duration,
    /// permessage-deflate (RFC 7692): what the server accepts of a client's offer
    /// (default on, the shared mode: `server_no_context_takeover` and
    /// `client_no_context_takeover`, so each worker's one compressor and inflater serve
    /// all its connections and an idle connection holds no deflate state); `None`
    /// declines every offer (`--no-deflate`).
    pub deflate: Option<wisp_codec::extension::ServerDeflate>,
    /// Serve `https://` and `wss://` instead of `http://` and `ws://` on the listening
    /// port (`--tls-cert FILE --tls-key FILE`); `None`: plain TCP.
    pub tls: Option<crate::tls::TlsConfig>,
    /// Proxies whose word on the client's address is taken (`--trusted-proxy CIDR`,
    /// repeatable): from a peer in one of these ranges, a PROXY protocol header (v1 or
    /// v2) before the request, else the last untrusted hop of `Forwarded` (RFC 7239) or
    /// `X-Forwarded-For`, is the client's address for the per-address limits, the log,
    /// the stats and [`Upgrade::peer`](crate::Upgrade::peer). From anyone else those
    /// headers are ignored and a PROXY header is refused. Default: none.
    pub trusted_proxies: Vec<crate::forwarded::Cidr>,
    /// The workers' IO engine (`--io`): [`IoEngine::Epoll`] by default (measured ahead of
    /// the io_uring engine on small and large messages, ARCHITECTURE.md); `Auto` takes
    /// io_uring where the kernel allows it, else epoll, and logs which and why.
    pub io: IoEngine,
}

/// How the workers do their IO (`--io uring|epoll|auto`). Both engines drive the same
/// phases, routes, TLS, deflate, budgets and timers; only the loop differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IoEngine {
    /// io_uring where the kernel allows it (multishot receive into provided buffer
    /// rings, checked once at start), else epoll.
    Auto,
    /// io_uring: completions instead of readiness; the server fails to start without it.
    Uring,
    /// epoll through `mio` (kqueue or IOCP elsewhere): readiness, edge-triggered. The
    /// default.
    #[default]
    Epoll,
}

impl std::str::FromStr for IoEngine {
    type Err = String;

    fn from_str(s: &str) -> Result<IoEngine, String> {
        match s {
            "auto" => Ok(IoEngine::Auto),
            "uring" | "io_uring" => Ok(IoEngine::Uring),
            "epoll" => Ok(IoEngine::Epoll),
            _ => Err(format!("unknown IO engine {s:?} (uring, epoll or auto)")),
        }
    }
}

impl std::fmt::Display for IoEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            IoEngine::Auto => "auto",
            IoEngine::Uring => "uring",
            IoEngine::Epoll => "epoll",
        })
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:9001".into(),
            workers: 0,
            codec: wisp_codec::Config {
                close_timeout: Some(Duration::from_secs(2)),
                ..wisp_codec::Config::default()
            },
            send_queue: 256,
            max_connections: 10_000,
            max_connections_per_ip: 256,
            max_handshakes_per_ip: 256,
            handshake_timeout: Duration::from_secs(10),
            origins: Vec::new(),
            subprotocols: Vec::new(),
            memory_budget: default_memory_budget(),
            shutdown_grace: Duration::from_secs(5),
            deflate: Some(Default::default()),
            tls: None,
            trusted_proxies: Vec::new(),
            io: IoEngine::Epoll,
        }
    }
}

/// A setter per field: `Config::default().workers(2)`.
macro_rules! setters {
    ($ty:ty { $($field:ident: $t:ty),* $(,)? }) => {
        impl $ty {
            $(
                #[doc = concat!("Sets [`", stringify!($field), "`](Self::", stringify!($field), ").")]
                pub fn $field(mut self, value: $t) -> Self {
                    self.$field = value;
                    self
                }
            )*
        }
    };
}
pub(crate) use setters;

setters!(Config {
    workers: usize,
    codec: wisp_codec::Config,
    send_queue: usize,
    max_connections: usize,
    max_connections_per_ip: usize,
    max_handshakes_per_ip: usize,
    handshake_timeout: Duration,
    origins: Vec<String>,
    subprotocols: Vec<String>,
    memory_budget: u64,
    shutdown_grace: Duration,
    deflate: Option<wisp_codec::extension::ServerDeflate>,
    tls: Option<crate::tls::TlsConfig>,
    trusted_proxies: Vec<crate::forwarded::Cidr>,
    io: IoEngine,
});

impl Config {
    /// Sets [`listen`](Self::listen).
    pub fn listen(mut self, addr: impl Into<String>) -> Self {
        self.listen = addr.into();
        self
    }

    /// The time a connection may stay silent before it is dropped: the codec's idle
    /// timeout, or 60 s when it is off (it still bounds a plain HTTP response and a
    /// session's sleep).
    pub(crate) fn idle_timeout(&self) -> Duration {
        self.codec.idle_timeout.unwrap_or(Duration::from_secs(60))
    }
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
