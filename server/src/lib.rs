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
mod tls;
mod wake;
mod watch;
mod worker;

pub use config::Config;
pub use tls::TlsConfig;

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
