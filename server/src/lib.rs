//! # wisp-server
//!
//! A `std::net` WebSocket server around [`wisp_codec`]: worker threads (one per core)
//! that each run an event loop over many non-blocking connections, and your routes
//! ([`Server::route`]). A route's factory sees each upgrade request ([`Upgrade`]: path,
//! query, headers, subprotocol, peer) and accepts it with a [`Handler`] or refuses it
//! with an HTTP status ([`Refusal`]); the handler sees its connection through a
//! [`Session`]; a [`Sender`] pushes messages to a connection from any thread. Plain HTTP
//! requests go to handlers of your own ([`Server::serve_http`]). [`Config`] holds the
//! limits and timeouts; [`ShutdownHandle`] stops the server gracefully.
//!
//! The event loop knows no route: the demo's `/echo`, `/chat`, `/inspect`, `GET /stats`
//! and page ([`demo`], with the JSON formats) are built on this same API, and the
//! `wisp-server` binary installs them all ([`demo::Demo::all`]).
//!
//! ## Embedding it
//! A route that wants a token in a header, then pushes the time every second while
//! answering every text message with its length:
//!
//! ```no_run
//! use std::time::{Duration, SystemTime};
//! use wisp_server::{Accept, Config, Handler, Message, Refusal, Server, Session, Upgrade};
//!
//! /// Answers every text message with its length.
//! struct Length;
//! impl Handler for Length {
//!     fn on_open(&mut self, session: &mut Session<'_>) {
//!         let _ = session.send_text("welcome");
//!     }
//!     fn on_message(&mut self, session: &mut Session<'_>, message: Message) {
//!         if let Message::Text(t) = message {
//!             let _ = session.send_text(&t.len().to_string());
//!         }
//!     }
//! }
//!
//! fn ticks(up: &Upgrade) -> Result<Accept, Refusal> {
//!     if up.header("x-token") != Some("s3cret") {
//!         return Err(Refusal::new(401, "an X-Token header is needed"));
//!     }
//!     // The sender is Send + Clone: a thread (or anything) pushes through it.
//!     let sender = up.sender();
//!     std::thread::spawn(move || loop {
//!         std::thread::sleep(Duration::from_secs(1));
//!         let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
//!         // Err once the connection is gone (or too slow for its queue): stop then.
//!         if sender.send_text(format!("tick {}", now.as_secs())).is_err() {
//!             return;
//!         }
//!     });
//!     Accept::new(Length).header("X-Ticks", "1s").map_err(|e| Refusal::new(500, &e.to_string()))
//! }
//!
//! let server = Server::bind(Config::default().listen("127.0.0.1:0"))?;
//! server.route("/ticks", ticks)?;
//! println!("listening on ws://{}/ticks", server.local_addr());
//! server.run()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
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
//! | an upgrade to an unknown path | HTTP 404, the body lists the routes |
//! | a request a route's factory refuses | the route's status, reason and headers |
//! | a route's factory that panics | HTTP 500 |
//! | a protocol error after the handshake | close 1002, 1007 or 1009 (from the codec) |
//! | a handler that panics | close 1011 `internal error`; the server keeps serving |
//! | silence (not even a pong) for `--idle-timeout` | dropped (close 1001 attempted) |
//!
//! ## Prometheus: [`Prometheus`] (`GET /metrics`)
//! [`Server::prometheus`] gives the server's metrics in the Prometheus text format
//! (the binary serves them with `--metrics` or on a port of its own with
//! `--metrics-listen`): connections open and accepted, messages and payload bytes each
//! way by type and worker, refusals by reason, memory held and the budget, deflate
//! memory, the handshake latency histogram ([`METRIC_NAMES`]). An application adds its
//! own through [`Server::register_metrics`].
//!
//! ## What it holds: [`Stats`] (`GET /stats`)
//! [`Server::stats`] gives a JSON report for operators tuning its limits (the demo
//! serves it as `GET /stats` with `--stats`, off by default): connections (total, per worker,
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
//! upgrade requests and malformed heads. Holders are as of at most 250 ms ago.
//!
//! ## Logs and features
//! The server logs through the [`log`](https://docs.rs/log) facade (targets
//! `wisp_server::*`): a program that embeds it sees the lines in its own logger, and
//! the `wisp-server` binary prints them with `env_logger` (`RUST_LOG=wisp_server=debug`).
//! The default feature `cli` builds that binary (clap, env_logger); a library user sets
//! `default-features = false`.

mod config;
pub mod demo;
mod forwarded;
mod handler;
mod http;
mod limits;
mod metrics;
mod prometheus;
mod proxy_header;
mod sender;
mod server;
mod shared;
mod tls;
mod wake;
mod worker;

pub use config::{Config, IoEngine};
pub use demo::Inspect;
pub use forwarded::{Cidr, CidrError};
pub use handler::{Accept, Echo, Handler, HandlerFactory, Handshake, Session, Upgrade};
pub use http::{HttpHandler, HttpRequest, HttpResponse};
pub use prometheus::{Prometheus, NAMES as METRIC_NAMES};
/// The `prometheus-client` crate this server's [`Prometheus`] is built with: register an
/// application's own metrics with it ([`Server::register_metrics`]).
pub use prometheus_client;
pub use sender::{SendError, Sender};
pub use server::{RouteError, RouteList, Server, ShutdownHandle, Stats};
pub use tls::{TlsConfig, TlsFileError};
/// The whole codec (`wisp_server::codec::handshake`...), for what the root does not
/// re-export.
pub use wisp_codec as codec;
/// A route's refusal ([`Refusal`]) and the error of a header that cannot be sent.
pub use wisp_codec::handshake::{HeaderError, Refusal};
/// The codec types a [`Handler`] works with, so one dependency is enough.
pub use wisp_codec::{
    CloseCode, CloseFrame, Connection, Message, OpCode, PreparedMessage, ProtocolError, State,
    UsageError,
};
