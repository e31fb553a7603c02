//! The server's settings. The `wisp-server` binary sets them from its command line.

use std::path::PathBuf;
use std::time::Duration;

/// Everything the server can be told, with the defaults of [`Config::default`].
///
/// ```
/// let c = wisp_server::Config::default();
/// assert_eq!(c.listen, "127.0.0.1:9001");
/// assert_eq!(c.max_connections, 10_000);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Address to listen on (`--listen`).
    pub listen: String,
    /// Directory of the demo page and its files (`--web`); may not exist (then 404).
    pub web: PathBuf,
    /// Largest message accepted, in bytes (`--max-message-size`); more is closed with 1009.
    pub max_message_size: u64,
    /// Largest frame accepted, in bytes (`--max-frame-size`); more is closed with 1009.
    pub max_frame_size: u64,
    /// Connections served at once, handshakes included (`--max-connections`); more get 503.
    pub max_connections: usize,
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
    /// Worker threads, each running an event loop over its share of the connections
    /// (`--workers`); 0: one per core.
    pub workers: usize,
    /// Reports queued for one `/inspect?watch=ID` watcher before it counts as too slow
    /// (it gets a `dropped` notice and close 1008; its target never waits).
    pub watch_queue: usize,
    /// Time the graceful shutdown waits for close handshakes.
    pub shutdown_grace: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:9001".into(),
            web: PathBuf::from("web"),
            max_message_size: 64 << 20,
            max_frame_size: 16 << 20,
            max_connections: 10_000,
            handshake_timeout: Duration::from_secs(10),
            ping_interval: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            origins: Vec::new(),
            subprotocols: Vec::new(),
            chat_queue: 256,
            workers: 0,
            watch_queue: 256,
            shutdown_grace: Duration::from_secs(5),
        }
    }
}
