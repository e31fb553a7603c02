//! The `/inspect` route's reports: the JSON messages of the demo's routes, and the
//! [`Inspect`] handler (formats in [`demo`](crate::demo)).

use std::fmt::Write as _;
use std::sync::Arc;

use serde::Serialize;
use wisp_codec::{CloseCode, Direction, Message, PreparedMessage, WireFrame};

use crate::handler::{Echo, Handler, Session};
use crate::sender::{SendError, Sender};

/// `/inspect`'s echo, plus a JSON report of every frame in and out (formats in
/// [`demo`](crate::demo)), on any route whose [`Accept`](crate::Accept) records frames:
///
/// ```
/// use wisp_server::{Accept, Config, Inspect, Server};
/// let server = Server::bind(Config::default().listen("127.0.0.1:0"))?;
/// server.route("/debug", |_| Ok(Accept::new(Inspect).record_frames(true)))?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Default)]
pub struct Inspect;

/// The most wire bytes one report shows in hex.
pub const INSPECT_MAX_HEX: usize = 64 * 1024;

/// Every JSON message the built-in routes send, tagged by `"type"` (formats in the
/// module docs).
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub(crate) enum Report<'a> {
    Frame {
        dir: &'static str,
        #[serde(flatten)]
        header: Option<HeaderFields>,
        wire_len: usize,
        hex: String,
        truncated: bool,
        /// A received frame: the server's reads that brought its first and last bytes.
        #[serde(skip_serializing_if = "Option::is_none")]
        reads: Option<[u64; 2]>,
        /// The sizes of those reads (at most the first 16).
        #[serde(skip_serializing_if = "Option::is_none")]
        read_sizes: Option<&'a [usize]>,
        /// Watchers only: a close frame's code and reason.
        #[serde(skip_serializing_if = "Option::is_none")]
        close: Option<CloseFields>,
        /// Watchers only: the place of the report on its connection's timeline.
        #[serde(flatten)]
        at: Option<At>,
    },
    Handshake {
        request: &'a str,
        response: &'a str,
        /// The connection's id, for `/inspect?watch=ID`.
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<u64>,
        #[serde(flatten)]
        at: Option<At>,
    },
    /// The first message on a watcher.
    Watching {
        id: u64,
        ended: bool,
    },
    /// A scenario the connection asked for with a command message.
    Scenario {
        name: &'static str,
        does: String,
        rfc: &'static [RfcSentence],
        #[serde(flatten)]
        at: Option<At>,
    },
    /// A command message that could not be carried out.
    Error {
        error: String,
        #[serde(flatten)]
        at: Option<At>,
    },
    /// The end of a watched connection: its closing handshake and its TCP connection.
    End {
        how: &'a str,
        first: Option<&'static str>,
        sent: Option<CloseFields>,
        received: Option<CloseFields>,
        tcp: &'static str,
        #[serde(flatten)]
        at: Option<At>,
    },
    /// A watcher fell too far behind: no more reports, then close 1008.
    Dropped {
        reason: &'static str,
    },
    Join {
        who: &'a str,
        members: usize,
    },
    Message {
        from: &'a str,
        text: &'a str,
    },
    Leave {
        who: &'a str,
        members: usize,
    },
    /// The cluster link (`--redis`) went `"down"` or came back `"up"`.
    Notice {
        cluster: &'static str,
        text: &'static str,
    },
}

/// A close frame's status code (1005 when the frame has none) and reason.
#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
pub(crate) struct CloseFields {
    pub(crate) code: u16,
    pub(crate) reason: String,
}

/// Where a watcher's report lies: its number on the connection (from 1, no gaps unless
/// reports were dropped) and milliseconds since the opening handshake.
#[derive(Serialize, Clone, Copy)]
pub(crate) struct At {
    pub(crate) seq: u64,
    pub(crate) ms: f64,
}

/// An RFC sentence (6455, or 7692 for permessage-deflate), word for word, with its
/// section.
#[derive(Serialize, Debug)]
pub(crate) struct RfcSentence {
    pub(crate) rfc: u16,
    pub(crate) section: &'static str,
    pub(crate) text: &'static str,
}

/// The header fields of a reported frame, decoded from its bytes.
#[derive(Serialize)]
pub(crate) struct HeaderFields {
    fin: bool,
    rsv: u8,
    opcode: u8,
    masked: bool,
    len: u64,
}

impl Report<'_> {
    pub(crate) fn to_json(&self) -> String {
        // Serializing these types cannot fail: no maps with non-string keys, no I/O.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// The JSON report of one frame (see the module docs for the format).
pub(crate) fn frame_report(frame: &WireFrame) -> String {
    frame_report_at(frame, None, None)
}

/// A frame report with a watcher's extra fields.
pub(crate) fn frame_report_at(
    frame: &WireFrame,
    close: Option<CloseFields>,
    at: Option<At>,
) -> String {
    let bytes = &frame.bytes;
    let dir = match frame.direction {
        Direction::Received => "in",
        Direction::Sent => "out",
    };
    let shown = &bytes[..bytes.len().min(INSPECT_MAX_HEX)];
    let mut hex = String::with_capacity(shown.len() * 3);
    for (i, b) in shown.iter().enumerate() {
        if i > 0 {
            hex.push(' ');
        }
        let _ = write!(hex, "{b:02x}");
    }
    let h = &frame.header;
    let header = Some(HeaderFields {
        fin: h.fin,
        rsv: h.rsv,
        opcode: h.opcode.as_u8(),
        masked: h.mask.is_some(),
        len: h.payload_len,
    });
    Report::Frame {
        dir,
        header,
        wire_len: bytes.len(),
        hex,
        truncated: shown.len() < bytes.len(),
        reads: frame.reads.as_ref().map(|r| [r.first, r.last]),
        read_sizes: frame.reads.as_ref().map(|r| r.sizes.as_slice()),
        close,
        at,
    }
    .to_json()
}

impl Handler for Inspect {
    fn on_message(&mut self, conn: &mut Session<'_>, message: Message) {
        Echo.on_message(conn, message);
    }

    fn before_flush(&mut self, conn: &mut Session<'_>) {
        report_frames(conn, |_| {});
    }
}

/// Sends the report of every frame recorded since the last call (and passes each frame
/// to `also`); the frames of the reports themselves are dropped, never reported.
pub(crate) fn report_frames(conn: &mut Session<'_>, mut also: impl FnMut(&WireFrame)) {
    let mut frames = Vec::new();
    while let Some(f) = conn.poll_wire_frame() {
        frames.push(f);
    }
    for f in &frames {
        also(f);
        // Fails only once a close went out: then nothing more may be sent anyway.
        let _ = conn.send_text(&frame_report(f));
    }
    while conn.poll_wire_frame().is_some() {}
}

/// The JSON report of the opening handshake: the raw request and response heads, and
/// the connection's id when it can be watched.
pub(crate) fn handshake_report(
    request: &[u8],
    response: &[u8],
    id: Option<u64>,
    at: Option<At>,
) -> String {
    Report::Handshake {
        request: &String::from_utf8_lossy(request),
        response: &String::from_utf8_lossy(response),
        id,
        at,
    }
    .to_json()
}

// ---- /chat ------------------------------------------------------------------------

/// One `/chat` member, or one `/inspect` watcher: a name and the connection's
/// [`Sender`], the public per-connection queue. A producer only appends to queues and
/// wakes the consumers' workers: it never waits for a socket.
pub(crate) struct Member {
    pub(crate) name: String,
    sender: Sender,
    /// Sent in place of the dropped backlog when the queue overflows.
    notice: Option<Arc<str>>,
}

impl Member {
    pub(crate) fn new(name: String, sender: Sender) -> Arc<Member> {
        Member::with_notice(name, None, sender)
    }

    /// A member that gets `notice` as its last text if its queue overflows.
    pub(crate) fn with_notice(
        name: String,
        notice: Option<Arc<str>>,
        sender: Sender,
    ) -> Arc<Member> {
        Arc::new(Member {
            name,
            sender,
            notice,
        })
    }

    /// Asks the session to close with `code` and `reason` after what is queued, and
    /// wakes it. The first request wins.
    pub(crate) fn request_close(&self, code: CloseCode, reason: &str) {
        let _ = self.sender.close(code, reason);
    }

    /// Queues a text; a member whose queue is full is too slow: its backlog is dropped
    /// (the notice takes its place) and it is closed with 1008. Never waits for it.
    pub(crate) fn push_text(&self, text: &Arc<str>) {
        self.queued(self.sender.outbox().push_text(text));
    }

    /// Queues a prepared message (a broadcast compressed once for all), as
    /// [`push_text`](Member::push_text) does a text.
    pub(crate) fn push_prepared(&self, message: &Arc<PreparedMessage>) {
        self.queued(self.sender.outbox().push_prepared(message));
    }

    /// A full queue: the member is too slow (see [`push_text`](Member::push_text)).
    fn queued(&self, pushed: Result<(), SendError>) {
        if pushed == Err(SendError::Full) {
            log::warn!(
                "{} too slow: outgoing queue full, closing with 1008",
                self.name
            );
            self.sender.outbox().give_up(
                self.notice.clone(),
                CloseCode::POLICY_VIOLATION,
                "too slow: outgoing queue full",
            );
        }
    }

    /// Queues `texts` past the limit: a backlog already bounded by its producer.
    pub(crate) fn push_backlog<'t>(&self, texts: impl IntoIterator<Item = &'t Arc<str>>) {
        for t in texts {
            self.sender.outbox().push_unbounded(Arc::clone(t));
        }
    }
}

/// The raw value of `name` in a request target's query, if there is one.
pub(crate) fn query_param<'t>(target: &'t str, name: &str) -> Option<&'t str> {
    let query = target.split_once('?')?.1;
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
}

/// The chat name from a request target's `?name=` (sanitized), if any.
pub(crate) fn chat_name(target: &str) -> Option<String> {
    query_param(target, "name")
        .filter(|v| plain_name(v, 32))
        .map(str::to_string)
}

/// Letters, digits, `-`, `_` and `.`: one to `max` of them.
pub(crate) fn plain_name(value: &str, max: usize) -> bool {
    !value.is_empty()
        && value.len() <= max
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The header of an unmasked, final frame.
    fn header(opcode: wisp_codec::OpCode, payload_len: u64) -> wisp_codec::FrameHeader {
        wisp_codec::FrameHeader {
            fin: true,
            rsv: 0,
            opcode,
            mask: None,
            payload_len,
        }
    }

    #[test]
    fn frame_report_fields_in_order() {
        let f = WireFrame {
            direction: Direction::Sent,
            header: header(wisp_codec::OpCode::Text, 2),
            bytes: b"\x81\x02hi".to_vec(),
            reads: None,
        };
        assert_eq!(
            frame_report(&f),
            r#"{"type":"frame","dir":"out","fin":true,"rsv":0,"opcode":1,"masked":false,"len":2,"wire_len":4,"hex":"81 02 68 69","truncated":false}"#
        );
    }

    #[test]
    fn frame_report_truncates_hex() {
        let mut bytes = vec![0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0];
        bytes.resize(10 + 65536, 0xab);
        let r = frame_report(&WireFrame {
            direction: Direction::Received,
            header: header(wisp_codec::OpCode::Binary, 65536),
            bytes,
            reads: Some(wisp_codec::Reads {
                first: 2,
                last: 5,
                sizes: vec![100, 30000, 30000, 5446],
            }),
        });
        let v: serde_json::Value = serde_json::from_str(&r).unwrap();
        assert_eq!(v["dir"], "in");
        assert_eq!(v["len"], 65536);
        assert_eq!(v["wire_len"], 65546);
        assert_eq!(v["truncated"], true);
        assert_eq!(v["reads"], serde_json::json!([2, 5]));
        assert_eq!(
            v["read_sizes"],
            serde_json::json!([100, 30000, 30000, 5446])
        );
        assert_eq!(v["hex"].as_str().unwrap().len(), INSPECT_MAX_HEX * 3 - 1);
    }

    #[test]
    fn handshake_report_escapes_heads() {
        let r = handshake_report(
            b"GET / HTTP/1.1\r\n\r\n",
            b"HTTP/1.1 101 x\r\n\r\n",
            None,
            None,
        );
        assert_eq!(
            r,
            r#"{"type":"handshake","request":"GET / HTTP/1.1\r\n\r\n","response":"HTTP/1.1 101 x\r\n\r\n"}"#
        );
        let at = At { seq: 1, ms: 0.0 };
        let r = handshake_report(b"GET", b"HTTP", Some(7), Some(at));
        assert_eq!(
            r,
            r#"{"type":"handshake","request":"GET","response":"HTTP","id":7,"seq":1,"ms":0.0}"#
        );
    }

    #[test]
    fn chat_messages_are_json_with_escapes() {
        let r = Report::Message {
            from: "a\"b",
            text: "line\nnext \u{1}",
        }
        .to_json();
        assert_eq!(
            r,
            r#"{"type":"message","from":"a\"b","text":"line\nnext \u0001"}"#
        );
        let j = Report::Join {
            who: "alice",
            members: 2,
        }
        .to_json();
        assert_eq!(j, r#"{"type":"join","who":"alice","members":2}"#);
    }

    #[test]
    fn chat_name_is_sanitized() {
        assert_eq!(chat_name("/chat?name=alice"), Some("alice".into()));
        assert_eq!(chat_name("/chat?x=1&name=bob_2"), Some("bob_2".into()));
        assert_eq!(chat_name("/chat?name=<b>"), None);
        assert_eq!(chat_name("/chat"), None);
    }
}
