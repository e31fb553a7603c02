//! Errors after the handshake: what the peer did wrong ([`ProtocolError`]) and what the
//! local caller misused ([`UsageError`]). The handshake's own errors, and their HTTP
//! statuses, are in [`handshake`](crate::handshake).
//!
//! Protocol errors map to close codes in exactly one place,
//! [`ProtocolError::close_code`]. Local misuse is never sent on the wire.

use core::fmt;

use crate::close::CloseCode;

/// The peer broke RFC 6455 after the handshake: the connection must be failed
/// ([§7.1.7](https://www.rfc-editor.org/rfc/rfc6455#section-7.1.7)) with
/// the close code of [`ProtocolError::close_code`].
///
/// ```
/// use wisp_codec::{CloseCode, ProtocolError};
/// assert_eq!(ProtocolError::UnmaskedFrame.close_code(), CloseCode::PROTOCOL_ERROR);
/// assert_eq!(ProtocolError::InvalidUtf8.close_code(), CloseCode::INVALID_PAYLOAD);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProtocolError {
    /// A client sent an unmasked frame (§5.1: "a server MUST close the connection upon
    /// receiving a frame that is not masked").
    UnmaskedFrame,
    /// A server sent a masked frame (§5.1: "A client MUST close a connection if it
    /// detects a masked frame").
    MaskedFrame,
    /// RSV1, RSV2 or RSV3 set without a negotiated extension (§5.2). Holds the three bits.
    ReservedBits(u8),
    /// An opcode from the reserved ranges 0x3-0x7 or 0xB-0xF (§5.2).
    ReservedOpcode(u8),
    /// A control frame with FIN = 0 (§5.5: "Control frames MUST NOT be fragmented").
    FragmentedControlFrame,
    /// A control frame payload over 125 bytes (§5.5). Holds the 7-bit length field
    /// (126 or 127): the frame is refused from its second byte, before its extended
    /// length arrives.
    ControlFrameTooLong(u64),
    /// A 64-bit payload length with the most significant bit set (§5.2).
    InvalidPayloadLength,
    /// A continuation frame with no message in progress (§5.4).
    UnexpectedContinuation,
    /// A new text or binary frame while a fragmented message is in progress (§5.4).
    ExpectedContinuation,
    /// Text or a close reason that is not UTF-8 (§5.6, §8.1).
    InvalidUtf8,
    /// A close frame with a 1-byte payload (§5.5.1: a body starts with a 2-byte code).
    CloseFrameTooShort,
    /// A close code that must not appear on the wire (§7.4).
    InvalidCloseCode(u16),
    /// A frame whose header claims more than the configured `max_frame_size`.
    FrameTooLarge {
        /// The length the header claimed.
        len: u64,
        /// The configured limit.
        max: u64,
    },
    /// RSV1 (permessage-deflate's "compressed" bit) on a control frame (RFC 7692 §6.1:
    /// "An endpoint MUST NOT set the "Per-Message Compressed" bit of control frames").
    CompressedControlFrame,
    /// RSV1 on a continuation frame (RFC 7692 §6.1: the bit is set on the first frame of
    /// a message only).
    CompressedContinuation,
    /// A compressed message whose payload is not valid DEFLATE (RFC 7692 §7.2.2, RFC 1951).
    InvalidCompressedData,
    /// A message that would grow past the configured `max_message_size` (for a
    /// compressed message: its inflated size, checked while inflating).
    MessageTooLarge {
        /// The size the message would have reached.
        len: u64,
        /// The configured limit.
        max: u64,
    },
}

impl ProtocolError {
    /// The close code this error is answered with: the one map from peer errors to the
    /// wire (1002 protocol error, 1007 invalid payload data, 1009 message too big).
    ///
    /// ```
    /// use wisp_codec::ProtocolError;
    /// let e = ProtocolError::FrameTooLarge { len: 1 << 40, max: 1 << 24 };
    /// assert_eq!(e.close_code().0, 1009);
    /// ```
    pub fn close_code(&self) -> CloseCode {
        match self {
            ProtocolError::InvalidUtf8 | ProtocolError::InvalidCompressedData => {
                CloseCode::INVALID_PAYLOAD
            }
            ProtocolError::FrameTooLarge { .. } | ProtocolError::MessageTooLarge { .. } => {
                CloseCode::MESSAGE_TOO_BIG
            }
            ProtocolError::UnmaskedFrame
            | ProtocolError::MaskedFrame
            | ProtocolError::ReservedBits(_)
            | ProtocolError::ReservedOpcode(_)
            | ProtocolError::FragmentedControlFrame
            | ProtocolError::ControlFrameTooLong(_)
            | ProtocolError::InvalidPayloadLength
            | ProtocolError::UnexpectedContinuation
            | ProtocolError::ExpectedContinuation
            | ProtocolError::CloseFrameTooShort
            | ProtocolError::CompressedControlFrame
            | ProtocolError::CompressedContinuation
            | ProtocolError::InvalidCloseCode(_) => CloseCode::PROTOCOL_ERROR,
        }
    }

    /// The variant's name, for programs that show or match errors as text (the wasm
    /// API's `kind`).
    ///
    /// ```
    /// use wisp_codec::ProtocolError;
    /// assert_eq!(ProtocolError::ReservedOpcode(3).kind(), "ReservedOpcode");
    /// ```
    pub fn kind(&self) -> &'static str {
        match self {
            ProtocolError::UnmaskedFrame => "UnmaskedFrame",
            ProtocolError::MaskedFrame => "MaskedFrame",
            ProtocolError::ReservedBits(_) => "ReservedBits",
            ProtocolError::ReservedOpcode(_) => "ReservedOpcode",
            ProtocolError::FragmentedControlFrame => "FragmentedControlFrame",
            ProtocolError::ControlFrameTooLong(_) => "ControlFrameTooLong",
            ProtocolError::InvalidPayloadLength => "InvalidPayloadLength",
            ProtocolError::UnexpectedContinuation => "UnexpectedContinuation",
            ProtocolError::ExpectedContinuation => "ExpectedContinuation",
            ProtocolError::InvalidUtf8 => "InvalidUtf8",
            ProtocolError::CloseFrameTooShort => "CloseFrameTooShort",
            ProtocolError::InvalidCloseCode(_) => "InvalidCloseCode",
            ProtocolError::FrameTooLarge { .. } => "FrameTooLarge",
            ProtocolError::CompressedControlFrame => "CompressedControlFrame",
            ProtocolError::CompressedContinuation => "CompressedContinuation",
            ProtocolError::InvalidCompressedData => "InvalidCompressedData",
            ProtocolError::MessageTooLarge { .. } => "MessageTooLarge",
        }
    }

    /// The RFC 6455 requirement that was broken, quoted word for word (emphasis as the
    /// RFC marks it, `_Fail the WebSocket Connection_`), with its section.
    ///
    /// ```
    /// use wisp_codec::ProtocolError;
    /// assert!(ProtocolError::FragmentedControlFrame.rfc_reason().contains("5.5"));
    /// ```
    pub fn rfc_reason(&self) -> &'static str {
        match self {
            ProtocolError::UnmaskedFrame => "§5.1: The server MUST close the connection upon receiving a frame that is not masked.",
            ProtocolError::MaskedFrame => "§5.1: A client MUST close a connection if it detects a masked frame.",
            ProtocolError::ReservedBits(_) => "§5.2: MUST be 0 unless an extension is negotiated that defines meanings for non-zero values.",
            ProtocolError::ReservedOpcode(_) => "§5.2: If an unknown opcode is received, the receiving endpoint MUST _Fail the WebSocket Connection_.",
            ProtocolError::FragmentedControlFrame | ProtocolError::ControlFrameTooLong(_) => "§5.5: All control frames MUST have a payload length of 125 bytes or less and MUST NOT be fragmented.",
            ProtocolError::InvalidPayloadLength => "§5.2: If 127, the following 8 bytes interpreted as a 64-bit unsigned integer (the most significant bit MUST be 0) are the payload length.",
            ProtocolError::UnexpectedContinuation => "§5.4: A fragmented message consists of a single frame with the FIN bit clear and an opcode other than 0, followed by zero or more frames with the FIN bit clear and the opcode set to 0, and terminated by a single frame with the FIN bit set and an opcode of 0.",
            ProtocolError::ExpectedContinuation => "§5.4: The fragments of one message MUST NOT be interleaved between the fragments of another message unless an extension has been negotiated that can interpret the interleaving.",
            ProtocolError::InvalidUtf8 => "§8.1: When an endpoint is to interpret a byte stream as UTF-8 but finds that the byte stream is not, in fact, a valid UTF-8 stream, that endpoint MUST _Fail the WebSocket Connection_.",
            ProtocolError::CloseFrameTooShort => "§5.5.1: If there is a body, the first two bytes of the body MUST be a 2-byte unsigned integer (in network byte order) representing a status code with value /code/ defined in Section 7.4.",
            ProtocolError::InvalidCloseCode(c) => match c {
                0..=999 => "§7.4.2: Status codes in the range 0-999 are not used.",
                1004 => "§7.4.1: Reserved.  The specific meaning might be defined in the future.",
                1005 => "§7.4.1: 1005 is a reserved value and MUST NOT be set as a status code in a Close control frame by an endpoint.",
                1006 => "§7.4.1: 1006 is a reserved value and MUST NOT be set as a status code in a Close control frame by an endpoint.",
                1015 => "§7.4.1: 1015 is a reserved value and MUST NOT be set as a status code in a Close control frame by an endpoint.",
                1000..=2999 => "§7.4.2: Status codes in the range 1000-2999 are reserved for definition by this protocol, its future revisions, and extensions specified in a permanent and readily available public specification.",
                _ => "§7.4: This specification defines a set of pre-defined status codes and specifies which ranges may be used by extensions, frameworks, and end applications.",
            },
            ProtocolError::CompressedControlFrame => "RFC 7692 §6.1: An endpoint MUST NOT set the \"Per-Message Compressed\" bit of control frames and non-first fragments of a data message.",
            ProtocolError::CompressedContinuation => "RFC 7692 §6.1: An endpoint MUST NOT set the \"Per-Message Compressed\" bit of control frames and non-first fragments of a data message. An endpoint receiving such a frame MUST _Fail the WebSocket Connection_.",
            ProtocolError::InvalidCompressedData => "§7.4.1: 1007 indicates that an endpoint is terminating the connection because it has received data within a message that was not consistent with the type of the message.",
            ProtocolError::FrameTooLarge { .. } | ProtocolError::MessageTooLarge { .. } => "§7.4.1: 1009 indicates that an endpoint is terminating the connection because it has received a message that is too big for it to process.",
        }
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolError::UnmaskedFrame => f.write_str("client frame is not masked"),
            ProtocolError::MaskedFrame => f.write_str("server frame is masked"),
            ProtocolError::ReservedBits(b) => {
                write!(f, "reserved bits {b:03b} set without an extension")
            }
            ProtocolError::ReservedOpcode(op) => write!(f, "reserved opcode {op:#x}"),
            ProtocolError::FragmentedControlFrame => f.write_str("fragmented control frame"),
            ProtocolError::ControlFrameTooLong(n) => {
                let form = match n {
                    126 => " (16-bit length form)",
                    127 => " (64-bit length form)",
                    _ => "",
                };
                write!(f, "control frame payload over 125 bytes{form}")
            }
            ProtocolError::InvalidPayloadLength => {
                f.write_str("64-bit payload length with the top bit set")
            }
            ProtocolError::UnexpectedContinuation => {
                f.write_str("continuation frame without a message in progress")
            }
            ProtocolError::ExpectedContinuation => {
                f.write_str("new data frame inside a fragmented message")
            }
            ProtocolError::InvalidUtf8 => f.write_str("invalid UTF-8"),
            ProtocolError::CompressedControlFrame => f.write_str("RSV1 set on a control frame"),
            ProtocolError::CompressedContinuation => {
                f.write_str("RSV1 set on a continuation frame")
            }
            ProtocolError::InvalidCompressedData => f.write_str("invalid deflate data"),
            ProtocolError::CloseFrameTooShort => f.write_str("close frame payload of 1 byte"),
            ProtocolError::InvalidCloseCode(c) => write!(f, "invalid close code {c}"),
            ProtocolError::FrameTooLarge { len, max } => {
                write!(f, "frame of {len} bytes exceeds the limit of {max}")
            }
            ProtocolError::MessageTooLarge { len, max } => {
                write!(f, "message of {len} bytes exceeds the limit of {max}")
            }
        }
    }
}

/// Local misuse of the API: nothing is sent on the wire for these.
///
/// ```
/// use wisp_codec::{Connection, Config, UsageError};
/// let mut server = Connection::server(Config::default());
/// assert_eq!(server.send_ping(&[0; 126]), Err(UsageError::ControlPayloadTooLong));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum UsageError {
    /// We already sent a close frame (or the connection failed): §5.5.1 "The application
    /// MUST NOT send any more data frames after sending a Close frame."
    Closed,
    /// A control frame payload over 125 bytes (§5.5).
    ControlPayloadTooLong,
    /// A close code that may not be sent (§7.4), or a reason over 123 bytes.
    InvalidCloseCode,
    /// A continuation was sent with no fragmented message in progress, or a new message
    /// was started inside one.
    BadFragmentSequence,
    /// A [`PreparedMessage`](crate::PreparedMessage) of a control message: only text
    /// and binary messages are prepared.
    NotADataMessage,
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UsageError::Closed => "the connection is closing or closed",
            UsageError::ControlPayloadTooLong => "control frame payload over 125 bytes",
            UsageError::InvalidCloseCode => {
                "close code not allowed on the wire, or reason over 123 bytes"
            }
            UsageError::BadFragmentSequence => "fragments out of sequence",
            UsageError::NotADataMessage => "only text and binary messages can be prepared",
        })
    }
}

#[cfg(feature = "std")]
impl std::error::Error for ProtocolError {}
#[cfg(feature = "std")]
impl std::error::Error for UsageError {}
