//! Frame opcodes ([RFC 6455 §5.2](https://www.rfc-editor.org/rfc/rfc6455#section-5.2)).

use crate::error::ProtocolError;

/// The 4-bit opcode of a frame. Reserved values (0x3-0x7, 0xB-0xF) are not
/// representable: [`TryFrom<u8>`] rejects them with [`ProtocolError::ReservedOpcode`].
///
/// ```
/// use wisp_codec::{OpCode, ProtocolError};
/// assert_eq!(OpCode::try_from(0x1), Ok(OpCode::Text));
/// assert!(OpCode::Ping.is_control());
/// assert_eq!(OpCode::try_from(0x3), Err(ProtocolError::ReservedOpcode(0x3)));
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
}

impl TryFrom<u8> for OpCode {
    type Error = ProtocolError;

    #[inline]
    fn try_from(value: u8) -> Result<Self, ProtocolError> {
        Ok(match value {
            0x0 => OpCode::Continuation,
            0x1 => OpCode::Text,
            0x2 => OpCode::Binary,
            0x8 => OpCode::Close,
            0x9 => OpCode::Ping,
            0xA => OpCode::Pong,
            other => return Err(ProtocolError::ReservedOpcode(other)),
        })
    }
}
