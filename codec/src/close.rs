//! Close frames and close codes ([RFC 6455 §5.5.1](https://www.rfc-editor.org/rfc/rfc6455#section-5.5.1),
//! [§7.4](https://www.rfc-editor.org/rfc/rfc6455#section-7.4)).

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// A close status code: an open newtype over the 16-bit wire value, with the codes of
/// §7.4.1 (and the IANA registry's 1012-1014) as constants.
///
/// ```
/// use wisp_codec::CloseCode;
/// assert!(CloseCode::NORMAL.is_valid_on_wire());
/// assert!(!CloseCode::NO_STATUS_RECEIVED.is_valid_on_wire()); // 1005 is never sent
/// assert!(CloseCode(4000).is_valid_on_wire());                 // private use
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CloseCode(pub u16);

impl CloseCode {
    /// 1000: normal closure.
    ///
    /// ```
    /// assert_eq!(wisp_codec::CloseCode::NORMAL.0, 1000);
    /// assert!(wisp_codec::CloseCode::NORMAL.is_valid_on_wire());
    /// ```
    pub const NORMAL: CloseCode = CloseCode(1000);
    /// 1001: the endpoint is going away (server shutdown, page navigation).
    ///
    /// ```
    /// assert_eq!(wisp_codec::CloseCode::GOING_AWAY.0, 1001);
    /// assert!(wisp_codec::CloseCode::GOING_AWAY.is_valid_on_wire());
    /// ```
    pub const GOING_AWAY: CloseCode = CloseCode(1001);
    /// 1002: protocol error.
    ///
    /// ```
    /// assert_eq!(wisp_codec::CloseCode::PROTOCOL_ERROR.0, 1002);
    /// assert!(wisp_codec::CloseCode::PROTOCOL_ERROR.is_valid_on_wire());
    /// ```
    pub const PROTOCOL_ERROR: CloseCode = CloseCode(1002);
    /// 1003: a data type the endpoint cannot accept.
    ///
    /// ```
    /// assert_eq!(wisp_codec::CloseCode::UNSUPPORTED_DATA.0, 1003);
    /// assert!(wisp_codec::CloseCode::UNSUPPORTED_DATA.is_valid_on_wire());
    /// ```
    pub const UNSUPPORTED_DATA: CloseCode = CloseCode(1003);
    /// 1005: reserved; stands for "no status code was present". Never on the wire.
    ///
    /// ```
    /// assert_eq!(wisp_codec::CloseCode::NO_STATUS_RECEIVED.0, 1005);
    /// assert!(!wisp_codec::CloseCode::NO_STATUS_RECEIVED.is_valid_on_wire());
    /// ```
    pub const NO_STATUS_RECEIVED: CloseCode = CloseCode(1005);
    /// 1006: reserved; stands for "closed abnormally, no close frame". Never on the wire.
    ///
    /// ```
    /// assert_eq!(wisp_codec::CloseCode::ABNORMAL.0, 1006);
    /// assert!(!wisp_codec::CloseCode::ABNORMAL.is_valid_on_wire());
    /// ```
    pub const ABNORMAL: CloseCode = CloseCode(1006);
    /// 1007: data inconsistent with the message type (invalid UTF-8 in text).
    ///
    /// ```
    /// assert_eq!(wisp_codec::CloseCode::INVALID_PAYLOAD.0, 1007);
    /// assert!(wisp_codec::CloseCode::INVALID_PAYLOAD.is_valid_on_wire());
    /// ```
    pub const INVALID_PAYLOAD: CloseCode = CloseCode(1007);
    /// 1008: a message that violates the endpoint's policy.
    ///
    /// ```
    /// assert_eq!(wisp_codec::CloseCode::POLICY_VIOLATION.0, 1008);
    /// assert!(wisp_codec::CloseCode::POLICY_VIOLATION.is_valid_on_wire());
    /// ```
    pub const POLICY_VIOLATION: CloseCode = CloseCode(1008);
    /// 1009: a message too big to process.
    ///
    /// ```
    /// assert_eq!(wisp_codec::CloseCode::MESSAGE_TOO_BIG.0, 1009);
    /// assert!(wisp_codec::CloseCode::MESSAGE_TOO_BIG.is_valid_on_wire());
    /// ```
    pub const MESSAGE_TOO_BIG: CloseCode = CloseCode(1009);
    /// 1010: the client expected an extension the server did not negotiate.
    ///
    /// ```
    /// assert_eq!(wisp_codec::CloseCode::MANDATORY_EXTENSION.0, 1010);
    /// assert!(wisp_codec::CloseCode::MANDATORY_EXTENSION.is_valid_on_wire());
    /// ```
    pub const MANDATORY_EXTENSION: CloseCode = CloseCode(1010);
    /// 1011: the server met an unexpected condition.
    ///
    /// ```
    /// assert_eq!(wisp_codec::CloseCode::INTERNAL_ERROR.0, 1011);
    /// assert!(wisp_codec::CloseCode::INTERNAL_ERROR.is_valid_on_wire());
    /// ```
    pub const INTERNAL_ERROR: CloseCode = CloseCode(1011);
    /// 1012: the service is restarting (IANA registry).
    ///
    /// ```
    /// assert_eq!(wisp_codec::CloseCode::SERVICE_RESTART.0, 1012);
    /// assert!(wisp_codec::CloseCode::SERVICE_RESTART.is_valid_on_wire());
    /// ```
    pub const SERVICE_RESTART: CloseCode = CloseCode(1012);
    /// 1013: try again later (IANA registry).
    ///
    /// ```
    /// assert_eq!(wisp_codec::CloseCode::TRY_AGAIN_LATER.0, 1013);
    /// assert!(wisp_codec::CloseCode::TRY_AGAIN_LATER.is_valid_on_wire());
    /// ```
    pub const TRY_AGAIN_LATER: CloseCode = CloseCode(1013);
    /// 1014: bad gateway (IANA registry).
    ///
    /// ```
    /// assert_eq!(wisp_codec::CloseCode::BAD_GATEWAY.0, 1014);
    /// assert!(wisp_codec::CloseCode::BAD_GATEWAY.is_valid_on_wire());
    /// ```
    pub const BAD_GATEWAY: CloseCode = CloseCode(1014);
    /// 1015: reserved; TLS handshake failure. Never on the wire.
    ///
    /// ```
    /// assert_eq!(wisp_codec::CloseCode::TLS_HANDSHAKE.0, 1015);
    /// assert!(!wisp_codec::CloseCode::TLS_HANDSHAKE.is_valid_on_wire());
    /// ```
    pub const TLS_HANDSHAKE: CloseCode = CloseCode(1015);

    /// True for codes an endpoint may put in a close frame (§7.4): 1000-1003,
    /// 1007-1014 and 3000-4999. 1004-1006 and 1015 are reserved, below 1000 is unused,
    /// 1016-2999 is reserved for future RFCs, 5000 and up is undefined.
    ///
    /// ```
    /// use wisp_codec::CloseCode;
    /// for ok in [1000, 1003, 1007, 1014, 3000, 4999] { assert!(CloseCode(ok).is_valid_on_wire()); }
    /// for bad in [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535] {
    ///     assert!(!CloseCode(bad).is_valid_on_wire());
    /// }
    /// ```
    pub const fn is_valid_on_wire(self) -> bool {
        matches!(self.0, 1000..=1003 | 1007..=1014 | 3000..=4999)
    }

    /// The code's name in the IANA WebSocket Close Code Number Registry
    /// ([§11.7](https://www.rfc-editor.org/rfc/rfc6455#section-11.7)), for 1000-1015;
    /// `None` for a code with no registered meaning.
    ///
    /// ```
    /// use wisp_codec::CloseCode;
    /// assert_eq!(CloseCode::GOING_AWAY.name(), Some("Going Away"));
    /// assert_eq!(CloseCode(4000).name(), None);
    /// ```
    pub const fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            1000 => "Normal Closure",
            1001 => "Going Away",
            1002 => "Protocol error",
            1003 => "Unsupported Data",
            1004 => "Reserved",
            1005 => "No Status Rcvd",
            1006 => "Abnormal Closure",
            1007 => "Invalid frame payload data",
            1008 => "Policy Violation",
            1009 => "Message Too Big",
            1010 => "Mandatory Ext.",
            1011 => "Internal Error",
            1012 => "Service Restart",
            1013 => "Try Again Later",
            1014 => "Bad Gateway",
            1015 => "TLS handshake",
            _ => return None,
        })
    }

    /// What the code means, in a few words: its registered name, else what its range is
    /// for (§7.4.2). With [`name`](CloseCode::name), the one table of close code meanings
    /// that the page, the server's log and the client show (as h2's `Reason::description`
    /// and Python websockets' close code explanations).
    ///
    /// ```
    /// use wisp_codec::CloseCode;
    /// assert_eq!(CloseCode::PROTOCOL_ERROR.description(), "Protocol error");
    /// assert_eq!(CloseCode::ABNORMAL.description(), "Abnormal Closure");
    /// assert_eq!(CloseCode(4321).description(), "private use");
    /// ```
    pub const fn description(self) -> &'static str {
        if let Some(name) = self.name() {
            return name;
        }
        match self.0 {
            0..=999 => "not used",
            1016..=2999 => "reserved for future RFCs",
            3000..=3999 => "registered for libraries and frameworks",
            4000..=4999 => "private use",
            _ => "undefined",
        }
    }
}

impl fmt::Display for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The body of a close frame: a code and a UTF-8 reason (§5.5.1).
///
/// ```
/// use wisp_codec::{CloseCode, CloseFrame};
/// let f = CloseFrame { code: CloseCode::NORMAL, reason: "bye".into() };
/// let mut payload = Vec::new();
/// f.encode_payload(&mut payload);
/// assert_eq!(payload, [0x03, 0xe8, b'b', b'y', b'e']);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseFrame {
    /// The status code.
    pub code: CloseCode,
    /// The reason, at most 123 bytes of UTF-8 so the payload fits in 125.
    pub reason: String,
}

impl CloseFrame {
    /// Appends the payload: the code in network byte order, then the reason.
    ///
    /// ```
    /// use wisp_codec::{CloseCode, CloseFrame};
    /// let mut p = Vec::new();
    /// CloseFrame { code: CloseCode::GOING_AWAY, reason: String::new() }.encode_payload(&mut p);
    /// assert_eq!(p, [0x03, 0xe9]);
    /// ```
    pub fn encode_payload(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.code.0.to_be_bytes());
        out.extend_from_slice(self.reason.as_bytes());
    }
}
