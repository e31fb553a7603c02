//! # wisp-codec
//!
//! The whole of RFC 6455 (The WebSocket Protocol) as a sans-IO, `no_std` + `alloc`
//! protocol core: bytes in, events and bytes out. It never touches a socket, a clock or
//! a random number generator; masks, nonces and the time are inputs. The same code runs
//! in `wisp-server`, `wisp-client` and, compiled to wasm, in the browser demo (whose
//! `wasm-bindgen` bindings are a crate of their own, unpublished: `wasm/` in the repository).
//!
//! ## Example: echo over any transport
//! ```
//! use std::time::Duration;
//! use wisp_codec::{Config, Connection, Message};
//!
//! let mut conn = Connection::server(Config::default());
//! conn.handle_input(&[0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]); // bytes read
//! while let Some(message) = conn.poll_event().unwrap() {
//!     if let Message::Text(_) | Message::Binary(_) = message {
//!         conn.send(message).unwrap(); // echo it
//!     }
//! }
//! conn.handle_timeout(Duration::from_secs(0)); // time since an epoch you pick
//! assert_eq!(conn.pending_output_front(), b"\x81\x05Hello"); // bytes to write
//! let wake_at = conn.poll_timeout(); // read until then, then call handle_timeout
//! # assert!(wake_at.is_some());
//! ```
//!
//! ## Features
//! - default: the `no_std` core (needs `alloc`): [`Connection`], the frame encoder, the
//!   [`handshake`].
//! - `std`: `std::error::Error` for the error types; the IO adapter
//!   ([`Connection::read_from`], [`Connection::write_to`]: the read policy and the
//!   vectored write loop every native driver uses, `wisp-server`'s event loops
//!   included); and [`blocking`], a driver over a `Read + Write` stream (the client's).
//!
//! ## Map of the RFC
//! | RFC 6455 | file | job |
//! |---|---|---|
//! | [§1.3, §4](https://www.rfc-editor.org/rfc/rfc6455#section-4) opening handshake | `handshake.rs`, `http.rs` | request and response heads, their errors and HTTP statuses |
//! | [RFC 8441 §4-5](https://www.rfc-editor.org/rfc/rfc8441#section-5) the handshake over HTTP/2 | `handshake.rs` | an extended CONNECT checked ([`handshake::Request::validate_extended_connect`]), the client's fields and its check of the 200 |
//! | [§5.1](https://www.rfc-editor.org/rfc/rfc6455#section-5.1) | `role.rs` | [`Role`] |
//! | [§5.2](https://www.rfc-editor.org/rfc/rfc6455#section-5.2) opcodes, header | `opcode.rs`, `header.rs` | [`OpCode`], [`FrameHeader`], [`encode_frame`] |
//! | [§5.3](https://www.rfc-editor.org/rfc/rfc6455#section-5.3) masking | `mask.rs` | [`apply_mask`] |
//! | §5.2 incremental decoding | `decoder.rs` | every header check, once |
//! | [§5.4](https://www.rfc-editor.org/rfc/rfc6455#section-5.4) fragmentation | `message.rs` | [`Message`], reassembly |
//! | [§5.6, §8.1](https://www.rfc-editor.org/rfc/rfc6455#section-8.1) UTF-8 | `utf8.rs` | streaming validation |
//! | [§5.5.1, §7.4](https://www.rfc-editor.org/rfc/rfc6455#section-7.4) close codes | `close.rs` | [`CloseCode`], [`CloseFrame`] |
//! | [§7](https://www.rfc-editor.org/rfc/rfc6455#section-7) closing handshake, state | `connection.rs` | the state machine |
//! | | `recv.rs`, `send.rs`, `record.rs`, `keepalive.rs` | input buffer, output queue, frame recording, timers |
//! | [§7.1.7](https://www.rfc-editor.org/rfc/rfc6455#section-7.1.7) errors | `error.rs` | [`ProtocolError`] and its close code, [`UsageError`] |
//! | [RFC 7692 §5, §7.1](https://www.rfc-editor.org/rfc/rfc7692#section-7.1) negotiation | `extension.rs` | [`extension`]: offers, the server's choice, the client's check |
//! | [RFC 7692 §7.2](https://www.rfc-editor.org/rfc/rfc7692#section-7.2) compression | `deflate.rs`, `pool.rs`, `prepared.rs` | the compressor and the bounded inflater (miniz_oxide), a worker's shared pool of them, [`PreparedMessage`] (compress once, send to many) |
//! | [RFC 9110 §9.3.6](https://www.rfc-editor.org/rfc/rfc9110#section-9.3.6), [RFC 1928](https://www.rfc-editor.org/rfc/rfc1928), [RFC 1929](https://www.rfc-editor.org/rfc/rfc1929) proxies | `proxy.rs` | [`proxy`]: HTTP CONNECT and SOCKS5 handshakes, sans-IO |
#![cfg_attr(not(feature = "std"), no_std)]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

extern crate alloc;

// A namespace of its own where it helps: the handshake's items (`Request`, `Offer`,
// `response`...) would read as frame-level ones at the root, and `blocking` is an
// optional driver, not part of the protocol core.
#[cfg(feature = "std")]
pub mod blocking;
pub mod extension;
pub mod handshake;
pub mod proxy;

mod close;
mod connection;
mod decoder;
mod deflate;
mod error;
mod header;
mod http;
#[cfg(feature = "std")]
mod io;
mod keepalive;
mod mask;
mod message;
mod opcode;
mod pool;
mod prepared;
mod record;
mod recv;
mod role;
mod send;
mod traffic;
mod utf8;

pub use close::{CloseCode, CloseFrame};
pub use connection::{Config, Connection, MaskSource, State, DEFAULT_COMPRESS_THRESHOLD};
pub use deflate::DeflatePool;
pub use error::{ProtocolError, UsageError};
pub use header::{encode_frame, FrameHeader, MAX_HEADER_LEN};
#[cfg(feature = "std")]
pub use io::{ReadSize, BIG_READ};
pub use mask::apply_mask;
pub use message::Message;
pub use opcode::OpCode;
pub use prepared::PreparedMessage;
pub use record::{Direction, Reads, WireFrame, READ_SIZES_KEPT};
pub use role::Role;
pub use traffic::{Tally, Traffic};

/// The layers under [`Connection`], for the fuzz targets, the property tests, the
/// benchmarks and the demo page's wasm bindings (`wasm/`, which step the decoder and the
/// permessage-deflate halves one at a time). Not a stable API: use [`Connection`].
#[doc(hidden)]
pub mod internals {
    pub use crate::decoder::{
        decode_header, Decoded, DecoderState, FrameDecoder, PayloadPiece, WholeFrame,
    };
    pub use crate::deflate::{Deflater, InflateError, Inflater, TAIL};
    pub use crate::mask::{apply_mask_naive, extend_unmasked};
    pub use crate::message::{parse_close, Reassembler};
    pub use crate::utf8::{Utf8Error, Utf8Validator};
}
