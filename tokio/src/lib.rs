//! # wisp-tokio
//!
//! Wisp's WebSocket (RFC 6455, with permessage-deflate) for tokio: a
//! [`WebSocketStream`] over any `AsyncRead + AsyncWrite + Unpin` that is a
//! [`Stream`](futures_core::Stream) of messages and a [`Sink`](futures_sink::Sink) of
//! them. The protocol is wisp-codec's sans-IO [`Connection`]; this crate only drives
//! it from a task's polls.
//!
//! ## A client
//! ```no_run
//! use futures_util::{SinkExt, StreamExt};
//! use wisp_tokio::Message;
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let mut ws = wisp_tokio::connect_async("ws://127.0.0.1:9001/").await?;
//!     ws.send(Message::Text("Hello".into())).await?;
//!     println!("{:?}", ws.next().await);
//!     Ok(ws.close().await?)
//! }
//! ```
//!
//! ## A server
//! ```no_run
//! use futures_util::{SinkExt, StreamExt};
//! use wisp_tokio::Message;
//!
//! #[tokio::main]
//! async fn main() -> std::io::Result<()> {
//!     let listener = tokio::net::TcpListener::bind("127.0.0.1:9001").await?;
//!     loop {
//!         let (tcp, _) = listener.accept().await?;
//!         tokio::spawn(async move {
//!             let Ok(mut ws) = wisp_tokio::accept_async(tcp).await else { return };
//!             while let Some(Ok(m)) = ws.next().await {
//!                 if let Message::Text(_) | Message::Binary(_) = m { let _ = ws.feed(m).await; }
//!             }
//!         });
//!     }
//! }
//! ```
//! (`feed` queues the reply; the stream writes queued replies before it waits for
//! input, so a burst of messages is answered with one write.)
//!
//! ## What the stream does by itself
//! - answers pings, answers the peer's close and ends the stream after it;
//! - sends keepalive pings, drops an idle peer and gives up on a close that is not
//!   answered, per [`Config`] (`ping_interval`, `idle_timeout`, `close_timeout`), on
//!   tokio's timer;
//! - waits in `poll_ready` while more than the write buffer is unsent (backpressure);
//! - on bad input sends the close code the RFC asks for (the same codes as
//!   wisp-server and the blocking driver: it is the same codec).
//!
//! ## Cancel safety
//! Reads are cancel-safe: all state lives in the stream, none in the future of
//! `next()`, so dropping it (a `tokio::select!` branch that lost) loses no byte and no
//! message. See [`WebSocketStream`].
//!
//! ## Entry points
//! - [`accept_async`], [`accept_hdr_async`] (a callback that sees the request and
//!   answers or refuses, as `wisp_codec::blocking::accept_with`), [`accept_hdr_async_with`];
//! - [`connect_async`], [`connect_async_with`] (`wss://` through tokio-rustls),
//!   [`client_async_with`] over your own transport;
//! - [`from_raw`] for a connection already upgraded by hyper or axum, and [`Upgrade`]
//!   to check the request and build the 101's headers there (`examples/axum.rs`);
//! - [`split`] into a [`WsReader`] and a [`WsWriter`] for two tasks.
//!
//! permessage-deflate is negotiated as the blocking client and wisp-server do: a
//! client offers it ([`ClientOptions::deflate`]), a server accepts it with
//! [`ServerOptions::deflate`] (no server context takeover by default).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod accept;
mod connect;
#[cfg(feature = "http2")]
pub mod http2;
mod split;
mod stream;

pub use accept::{
    accept_async, accept_hdr_async, accept_hdr_async_with, AcceptError, ServerOptions, Upgrade,
};
pub use connect::{
    client_async_with, connect_async, connect_async_with, ClientOptions, ConnectError,
    MaybeTlsStream,
};
pub use split::{split, WsReader, WsWriter};
pub use stream::{Error, WebSocketStream, DEFAULT_WRITE_BUFFER};
pub use wisp_client::DeflateMode;
pub use wisp_codec::{
    extension, handshake, CloseCode, CloseFrame, Config, Connection, Message, OpCode,
    ProtocolError, Role, UsageError,
};

use tokio::io::{AsyncRead, AsyncWrite};

/// A stream over a connection whose opening handshake someone else did (hyper's or
/// axum's upgrade, a proxy): no handshake, no permessage-deflate (use
/// [`Upgrade::into_stream`] to keep what the handshake agreed). A client's masks come
/// from the OS random source.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use futures_util::{SinkExt, StreamExt};
/// use wisp_tokio::{from_raw, Config, Message, Role};
/// let (a, b) = tokio::io::duplex(1024);
/// let mut client = from_raw(a, Role::Client, Config::default());
/// let mut server = from_raw(b, Role::Server, Config::default());
/// client.send(Message::Text("hi".into())).await.unwrap();
/// assert_eq!(server.next().await.unwrap().unwrap(), Message::Text("hi".into()));
/// # }
/// ```
pub fn from_raw<S: AsyncRead + AsyncWrite + Unpin>(
    io: S,
    role: Role,
    config: Config,
) -> WebSocketStream<S> {
    let conn = match role {
        Role::Server => Connection::server(config),
        Role::Client => {
            let mut masks = connect::Masks {
                buf: [0; 256],
                used: 256,
            };
            Connection::client(config, move || masks.next())
        }
    };
    WebSocketStream::new(io, conn)
}
