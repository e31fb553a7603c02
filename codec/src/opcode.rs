//! Frame opcodes ([RFC 6455 §5.2](https://www.rfc-editor.org/rfc/rfc6455#section-5.2)).

/// The 4-bit opcode of a frame. Reserved values (0x3-0x7, 0xB-0xF) are not
/// representable: [`TryFrom<u8>`] gives the rejected value back as its error, and the
/// decoder turns it into `ProtocolError::ReservedOpcode`.
///
/// ```
/// use wisp_codec::OpCode;
/// assert_eq!(OpCode::try_from(0x1), Ok(OpCode::Text));
/// assert!(OpCode::Ping.is_control());
/// assert_eq!(OpCode::try_from(0x3), Err(0x3));
/// assert_eq!(OpCode::Pong.name(), "Pong");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum OpCode {
    /// %x0: a continuation frame.
    Continuation = 0x0,
    /// %x1: a text frame (UTF-8).
    Text = 0x1,
    /// %x2: a binary frame.
    Binary = 0x2,
    /// %x8: a connection close (§5.5.1).
    Close = 0x8,
    /// %x9: a ping (§5.5.2).
    Ping = 0x9,
    /// %xA: a pong (§5.5.3).
    Pong = 0xA,
}

impl OpCode {
    /// True for Close, Ping and Pong: §5.5 "Control frames are identified by opcodes
    /// where the most significant bit of the opcode is 1."
    ///
    /// ```
    /// assert!(!wisp_codec::OpCode::Binary.is_control());
    /// ```
    pub const fn is_control(self) -> bool {
        (self as u8) & 0x8 != 0
    }

    /// The opcode's 4-bit wire value.
    ///
    /// ```
    /// assert_eq!(wisp_codec::OpCode::Pong.as_u8(), 0xA);
    /// ```
    pub const fn as_u8(self) -> u8 {
        self as u8
    }

    /// The opcode's name, as the page, `--show-frames`, `/inspect` and the wasm API
    /// show it.
    ///
    /// ```
    /// assert_eq!(wisp_codec::OpCode::Continuation.name(), "Continuation");
    /// ```
    pub const fn name(self) -> &'static str {
        match self {
            OpCode::Continuation => "Continuation",
            OpCode::Text => "Text",
            OpCode::Binary => "Binary",
            OpCode::Close => "Close",
            OpCode::Ping => "Ping",
            OpCode::Pong => "Pong",
        }
    }
}

impl TryFrom<u8> for OpCode {
    /// The value, which is reserved (or over 4 bits).
    type Error = u8;

    #[inline]
    fn try_from(value: u8) -> Result<Self, u8> {
        Ok(match value {
            0x0 => OpCode::Continuation,
            0x1 => OpCode::Text,
            0x2 => OpCode::Binary,
            0x8 => OpCode::Close,
            0x9 => OpCode::Ping,
            0xA => OpCode::Pong,
            other => return Err(other),
        })
    }
}
