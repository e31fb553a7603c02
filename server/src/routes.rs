//! What each WebSocket route does with the messages it receives.
//!
//! A route is a [`Handler`]: it sees every message of its connection (control frames
//! included, already answered by the codec) and replies through the [`Connection`].
//! The server's session loop owns the socket, the timeouts and the writes,
//! so a handler never blocks on IO. A handler that panics costs its own connection a
//! close 1011 and nothing else.
//!
//! ## `/echo`
//! Every text or binary message comes back with the same type and payload.
//!
//! ## `/inspect`
//! Echo, plus one JSON text message per frame that crossed the socket, in and out:
//!
//! ```text
//! {"type":"frame","dir":"in","fin":true,"rsv":0,"opcode":1,"masked":true,"len":5,
//!  "wire_len":11,"hex":"81 85 37 fa 21 3d 7f 9f 4d 51 58","truncated":false}
//! ```
//! - `dir`: `"in"` (from the client) or `"out"` (from the server).
//! - `fin`, `rsv` (RSV1-3 as a 3-bit number), `opcode` (number), `masked`, `len` (payload
//!   length): the header fields, decoded from the bytes.
//! - `wire_len`: the frame's size on the wire, header included.
//! - `hex`: the raw bytes exactly as they crossed the socket (client frames still masked
//!   with the client's key), lowercase, space separated; at most the first 65536 bytes,
//!   with `truncated: true` when the frame was longer.
//!
//! The first message on `/inspect` is the opening handshake, both heads exactly as they
//! crossed the socket (browsers never show them to scripts), and the connection's id:
//!
//! ```text
//! {"type":"handshake","request":"GET /inspect HTTP/1.1\r\nHost: ...","response":"HTTP/1.1 101 ...","id":7}
//! ```
//!
//! On the wire, the echo of a message comes first, then the reports of every frame
//! received for it (each fragment, in order), then the report of the echo frame.
//! Pings and pongs (the automatic pong and the server's keepalive pings too) are
//! reported the same way. The report messages are
//! frames too, but they are never reported themselves (that would never end). Close
//! frames are not reported on the connection itself: once a close is sent, no more
//! messages may follow it. A watcher sees them.
//!
//! ### Commands: conversation scenarios
//! A text message that is a JSON object with a `"command"` member is not echoed: the
//! server answers with a `scenario` report naming the RFC 6455 sentences it shows (word
//! for word), then sends the scenario's frames (reported as usual):
//!
//! | command | the server sends |
//! |---|---|
//! | `{"command":"fragments","text":"Hello","fragments":3,"ping":true}` | the text as `fragments` frames (1 to 16, default 3; Text with FIN=0, Continuation frames, FIN=1 on the last), split at equal byte counts; with `ping` (default false), a ping between each two |
//! | `{"command":"ping","data":"are you there?"}` | a ping with that application data (at most 125 bytes) |
//! | `{"command":"close","code":1001,"reason":"bye"}` | a close frame with that code (default 1001; one allowed on the wire) and reason (at most 123 bytes) |
//!
//! ```text
//! {"type":"scenario","name":"ping","does":"the server sends a ping ...","rfc":[{"section":"5.5.2","text":"Upon receipt of a Ping frame, ..."}]}
//! ```
//! An unknown command, a missing or unknown field, or a value out of range gets
//! `{"type":"error","error":"bad command: unknown variant `dance`, ..."}` and nothing else.
//!
//! ## `/inspect?watch=ID`
//! A read-only socket that receives the reports of `/inspect` connection `ID` (the `id`
//! of its handshake report), including those its own socket cannot carry: its close
//! frames in both directions and the end of its TCP connection. It starts with
//! `{"type":"watching","id":7,"ended":false}`, then the reports the connection kept for
//! late watchers (its most recent 64 KiB of reports; from the start, in practice), then
//! every new one as it happens. Each report of a watcher has two more fields: `seq`, its
//! number on the connection (1 is the handshake; consecutive unless a report was too big
//! to be kept for a late watcher) and `ms`, milliseconds since the opening handshake:
//!
//! ```text
//! {"type":"handshake","request":"...","response":"...","id":7,"seq":1,"ms":0.0}
//! {"type":"frame","dir":"in","fin":true,"rsv":0,"opcode":1,"masked":true,"len":5,"wire_len":11,"hex":"...","truncated":false,"seq":2,"ms":1503.25}
//! {"type":"scenario","name":"close","does":"...","rfc":[...],"seq":5,"ms":2001.5}
//! {"type":"frame","dir":"out",...,"opcode":8,...,"close":{"code":1001,"reason":"bye"},"seq":6,"ms":2001.6}
//! {"type":"frame","dir":"in",...,"opcode":8,...,"close":{"code":1001,"reason":"bye"},"seq":7,"ms":2003.1}
//! {"type":"end","how":"closing handshake done","first":"server","sent":{"code":1001,"reason":"bye"},"received":{"code":1001,"reason":"bye"},"tcp":"the server closed it","seq":8,"ms":2003.4}
//! ```
//! - Close frames carry `close`: the code (1005 when the frame has no body) and reason.
//! - `end` is the last report: how the session ended (as in the server's log), who sent
//!   the first close frame (`"client"`, `"server"` or `null`), the close frames sent
//!   and received (`null` when there was none), and who closed TCP. The watcher is then
//!   closed with 1000 "the watched connection ended".
//! - The last 16 ended connections can still be watched: the watcher gets their
//!   record, `"ended":true`, and the close 1000.
//!
//! A watcher's request passes the same `Origin` check as any route (`--origin`), and its
//! `Origin` must also be the watched connection's (absent for both, or equal), so a page
//! cannot watch a conversation opened from another site. An id that is not a number,
//! no such connection, or another origin: close 1008 with the reason. A data message
//! from a watcher: close 1008 "a watcher is read-only".
//!
//! A watcher never slows its target: each report is appended to the watcher's bounded
//! queue (`Config::watch_queue` reports) and written by the watcher's own thread. When a
//! watcher's queue is full, its backlog is replaced by
//! `{"type":"dropped","reason":"this watcher fell too far behind: later reports are dropped"}`
//! and it is closed with 1008 "too slow: outgoing queue full".
//!
//! ## `/chat`
//! `/chat?room=ROOM&name=NAME` joins room `ROOM` (default `lobby`). Every member of a
//! room receives JSON text messages:
//! - `{"type":"join","who":"NAME","members":N}` when someone joins (also yourself),
//! - `{"type":"message","from":"NAME","text":"..."}` for every text message a member
//!   of the room sends (the sender gets its own, too),
//! - `{"type":"leave","who":"NAME","members":N}` when someone leaves,
//! - with `--redis` only: `{"type":"notice","cluster":"down","text":"..."}` when the
//!   instance loses its link to Redis (members on other instances are out of reach
//!   until it returns) and `{"type":"notice","cluster":"up","text":"..."}` when it returns.
//!
//! `NAME` is `?name=...` of the request URL (letters, digits, `-`, `_`, `.`, at most 32),
//! else `user-ID`; `ROOM` takes the same letters, at most 64, and any other room name is
//! refused with close 1008. Binary messages are refused with close 1003. Each member has
//! a bounded outgoing queue (`Config::chat_queue` messages); a member whose queue is full
//! (it does not read fast enough) is closed with 1008, and the others never wait for it.
//!
//! ### Many instances (`--redis`)
//! With [`Config::redis`](crate::Config::redis), the instance is one of a cluster that
//! shares its rooms through Redis pub/sub: every join, message and leave is published on
//! the room's channel, every instance with members in the room delivers it to them,
//! and `members` counts the room's members on every instance. A member sees each
//! message once, and the messages of one sender in the order sent. A joining member
//! hears everything published after its join; it may also hear a few messages sent
//! just before it (before its own join notice).
//!
//! Delivery across instances is **at most once**, as Redis pub/sub is: what is
//! published while an instance is cut off from Redis (Redis down, or the instance's
//! subscriber disconnected by Redis for reading too slowly) never reaches that
//! instance's members, and nothing is replayed when the link returns. Members of the
//! same instance keep talking meanwhile (their counts then are the instance's own plus
//! the last counts it heard from the others). A message that finds the instance's queue
//! to Redis full (65,536 events) is dropped and its sender gets a notice.

use std::fmt::Write as _;
use std::sync::Arc;

use serde::Serialize;
use wisp_codec::{CloseCode, Connection, Direction, Message, WireFrame};

pub use crate::handler::{Handler, HandlerFactory};
use crate::handler::{SendError, Sender};

/// `/echo`: every message back, same type.
#[derive(Debug, Default)]
pub struct Echo;

impl Handler for Echo {
    fn on_message(&mut self, conn: &mut Connection, message: Message) {
        // By value: a large payload goes back out without a copy.
        if let Message::Text(_) | Message::Binary(_) = message {
            let _ = conn.send(message);
        }
    }
}

/// `/inspect`: echo, plus a JSON report of every frame in and out (see the module docs).
/// Needs `record_frames` on in the connection's config.
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

/// An RFC 6455 sentence, word for word, with its section.
#[derive(Serialize, Debug)]
pub(crate) struct RfcSentence {
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
        close,
        at,
    }
    .to_json()
}

impl Handler for Inspect {
    fn on_message(&mut self, conn: &mut Connection, message: Message) {
        Echo.on_message(conn, message);
    }

    fn before_flush(&mut self, conn: &mut Connection) {
        report_frames(conn, |_| {});
    }
}

/// Sends the report of every frame recorded since the last call (and passes each frame
/// to `also`); the frames of the reports themselves are dropped, never reported.
pub(crate) fn report_frames(conn: &mut Connection, mut also: impl FnMut(&WireFrame)) {
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
        if self.sender.outbox().push_text(text) == Err(SendError::Full) {
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
        });
        let v: serde_json::Value = serde_json::from_str(&r).unwrap();
        assert_eq!(v["dir"], "in");
        assert_eq!(v["len"], 65536);
        assert_eq!(v["wire_len"], 65546);
        assert_eq!(v["truncated"], true);
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
