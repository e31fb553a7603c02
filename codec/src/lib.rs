//! # wisp-codec
//!
//! The whole of RFC 6455 (The WebSocket Protocol) as a sans-IO, `no_std` + `alloc`
//! protocol core: bytes in, events and bytes out. It never touches a socket, a clock or
//! a random number generator; masks and nonces are inputs. The same code runs in
//! `wisp-server`, `wisp-client` and, through `wasm-bindgen`, in the browser demo.
//!
//! ## Map of the RFC
//! | RFC 6455 | module |
//! |---|---|
//! | [§1.3, §4](https://www.rfc-editor.org/rfc/rfc6455#section-4) opening handshake | [`handshake`] |
//! | [§5.2](https://www.rfc-editor.org/rfc/rfc6455#section-5.2) opcodes, header | [`opcode`], [`header`] |
//! | [§5.3](https://www.rfc-editor.org/rfc/rfc6455#section-5.3) masking | [`mask`] |
//! | §5.2 incremental decoding | [`decoder`] |
//! | [§5.4](https://www.rfc-editor.org/rfc/rfc6455#section-5.4) fragmentation | [`message`] |
//! | [§5.6, §8.1](https://www.rfc-editor.org/rfc/rfc6455#section-8.1) UTF-8 | [`utf8`] |
//! | [§5.5.1, §7.4](https://www.rfc-editor.org/rfc/rfc6455#section-7.4) close codes | [`close`] |
//! | [§7](https://www.rfc-editor.org/rfc/rfc6455#section-7) closing handshake, state | [`connection`] |
//! | errors and their close codes / HTTP statuses | [`error`] |
//!
//! ## Features
//! - default: the `no_std` core (needs `alloc`).
//! - `std`: `std::error::Error` for the error types, and [`blocking`]: the one blocking
//!   IO loop over a `Read + Write` stream that `wisp-server` and `wisp-client` share.
//! - `wasm`: the `wasm-bindgen` API of the browser demo (implies `std`).
//!
//! ## Example: a client and a server in memory
//! ```
//! use wisp_codec::{CloseCode, Config, Connection, Message, State};
//! let mut client = Connection::client(Config::default(), || [1, 2, 3, 4]);
//! let mut server = Connection::server(Config::default());
//! client.send_text("ping?").unwrap();
//! server.handle_input(client.pending_output());
//! client.advance_output(client.pending_output().len());
//! while let Some(msg) = server.poll_event().unwrap() {
//!     if let Message::Text(t) = msg { server.send_text(&t).unwrap(); }
//! }
//! client.handle_input(server.pending_output());
//! assert_eq!(client.poll_event(), Ok(Some(Message::Text("ping?".into()))));
//! client.send_close(CloseCode::NORMAL, "").unwrap();
//! assert_eq!(client.state(), State::Closing);
//! ```
#![cfg_attr(not(feature = "std"), no_std)]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

extern crate alloc;

#[cfg(feature = "std")]
pub mod blocking;
pub mod close;
pub mod connection;
pub mod decoder;
pub mod error;
pub mod handshake;
pub mod header;
pub mod mask;
pub mod message;
pub mod opcode;
pub mod utf8;
#[cfg(feature = "wasm")]
pub mod wasm;

pub use close::{CloseCode, CloseFrame};
pub use connection::{Config, Connection, Direction, MaskSource, Role, State, WireFrame};
pub use decoder::{Decoded, DecoderState, FrameDecoder, WholeFrame};
pub use error::{HandshakeError, ProtocolError, UsageError};
pub use header::{FrameHeader, MAX_HEADER_LEN};
pub use mask::apply_mask;
pub use message::{Message, Reassembler};
pub use opcode::OpCode;
pub use utf8::{Utf8Error, Utf8Validator};
