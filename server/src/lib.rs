//! # wisp-server
//!
//! A `std::net` WebSocket server around [`wisp_codec`]: worker threads (one per core)
//! that each run an event loop over many non-blocking connections, the demo page's
//! static files, and the routes `/echo`, `/chat`, `/inspect` and `/inspect?watch=ID`
//! (see [`routes`] for what each sends, including the JSON formats), and routes of your
//! own ([`Server::route`]). [`Config`] holds the
//! limits and timeouts; [`ShutdownHandle`] stops the server gracefully.
//!
//! ## What bad input gets
//! | input | answer |
//! |---|---|
//! | not a valid upgrade request to a WebSocket route | HTTP 400 with the reason in the body |
//! | `Sec-WebSocket-Version` other than 13 | HTTP 426 + `Sec-WebSocket-Version: 13` |
//! | an `Origin` not in `--origin` (when given) | HTTP 403 |
//! | a request head over 8 KiB | HTTP 431 |
//! | a head not complete within `--handshake-timeout` | dropped |
//! | more than `--max-connections` connections | HTTP 503 + `Retry-After: 1` |
//! | an upgrade to an unknown path | HTTP 404 |
//! | a protocol error after the handshake | close 1002, 1007 or 1009 (from the codec) |
//! | a handler that panics | close 1011 `internal error`; the server keeps serving |
//! | `/inspect?watch=ID` for no such connection, or from another origin | close 1008 with the reason |
//! | a bad command message on `/inspect` | `{"type":"error","error":"..."}`; the connection goes on |
//! | silence (not even a pong) for `--idle-timeout` | dropped (close 1001 attempted) |
//!
//! ## What it holds: `GET /stats`
//! With [`Config::stats`] (`--stats`, off by default) the server answers `GET /stats`
//! with a JSON report for operators tuning its limits: connections (total, per worker,
//! being refused), bytes held against [`Config::memory_budget`] with the ten largest
//! holders (id, peer, path, bytes), and refusals by reason:
//!
//! ```json
//! {
//!   "uptime_secs": 12.5,
//!   "connections": { "total": 4, "per_worker": [3, 1], "refusing": 0, "max": 19936 },
//!   "memory": {
//!     "held_bytes": 2424832, "budget_bytes": 6318718976,
//!     "largest": [ { "id": 1, "peer": "127.0.0.11:57451", "path": "/echo", "bytes": 2424832 } ]
//!   },
//!   "refusals": { "max_connections": 0, "per_ip_connections": 2, "per_ip_handshakes": 0,
//!                 "dropped": 0, "bad_request": 2, "handshake_timeout": 0,
//!                 "memory_budget_1009": 0, "memory_budget_1013": 0 }
//! }
//! ```
//!
//! `total` counts connections being served, handshakes included (what
//! `--max-connections` limits); `per_worker` also counts those being answered 503.
//! Memory is charged in 64 KiB steps. `dropped` counts connections closed unanswered
//! because even the 503s were at their limit; `bad_request` counts 4xx answers to
//! upgrade requests and malformed heads. Holders on other workers are as of at most
//! 250 ms ago.
//!
//! ## Embedding it
//! ```no_run
//! use std::sync::Arc;
//! use wisp_server::{Config, Connection, Handler, Message, Server};
//!
//! /// A route that answers every text message with its length.
//! struct Length;
//! impl Handler for Length {
//!     fn on_message(&mut self, conn: &mut Connection, message: Message) {
//!         if let Message::Text(t) = message {
//!             let _ = conn.send_text(&t.len().to_string());
//!         }
//!     }
//! }
//!
//! let server = Server::bind(Config { listen: "127.0.0.1:0".into(), ..Config::default() })?;
//! server.route("/length", Arc::new(|| Box::new(Length) as Box<dyn Handler>));
//! println!("listening on http://{}/", server.local_addr());
//! server.run()?;
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! ## Logs and features
//! The server logs through the [`log`](https://docs.rs/log) facade (targets
//! `wisp_server::*`): a program that embeds it sees the lines in its own logger, and
//! the `wisp-server` binary prints them with `env_logger` (`RUST_LOG=wisp_server=debug`).
//! The default feature `cli` builds that binary (clap, env_logger); a library user sets
//! `default-features = false`.

mod chat;
mod cluster;
mod config;
mod http;
mod limits;
pub mod routes;
mod server;
mod shared;
mod stats;
mod wake;
mod watch;
mod worker;

pub use config::Config;

/// Connects to the Redis server at `url` (`redis://HOST:PORT[/DB]`) and pings it: the
/// check `wisp-server --redis` makes before it serves. The error says why not.
///
/// ```no_run
/// if let Err(e) = wisp_server::redis_reachable("redis://127.0.0.1:6379") {
///     eprintln!("no Redis: {e}");
/// }
/// ```
pub fn redis_reachable(url: &str) -> Result<(), String> {
    cluster::reachable(url)
}
pub use routes::{Echo, Handler, HandlerFactory, Inspect};
pub use server::{Server, ShutdownHandle};
/// The codec types a [`Handler`] works with, so one dependency is enough.
pub use wisp_codec::{CloseCode, CloseFrame, Connection, Message};
