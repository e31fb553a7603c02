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
//! crossed the socket (browsers never show them to scripts):
//!
//! ```text
//! {"type":"handshake","request":"GET /inspect HTTP/1.1\r\nHost: ...","response":"HTTP/1.1 101 ..."}
//! ```
//!
//! On the wire, the echo of a message comes first, then the reports of every frame
//! received for it (each fragment, in order), then the report of the echo frame.
//! Pings and pongs (the automatic pong and the server's keepalive pings too) are
//! reported the same way. The report messages are
//! frames too, but they are never reported themselves (that would never end). Close
//! frames are not reported: once a close is sent, no more messages may follow it.
//!
//! ## `/chat`
//! Every member receives JSON text messages:
//! - `{"type":"join","who":"NAME","members":N}` when someone joins (also yourself),
//! - `{"type":"message","from":"NAME","text":"..."}` for every text message a member
//!   sends (the sender gets its own, too),
//! - `{"type":"leave","who":"NAME","members":N}` when someone leaves.
//!
//! `NAME` is `?name=...` of the request URL (letters, digits, `-`, `_`, `.`, at most 32),
//! else `user-ID`. Binary messages are refused with close 1003. Each member has a
//! bounded outgoing queue (`Config::chat_queue` messages); a member whose queue is full
//! (it does not read fast enough) is closed with 1008, and the others never wait for it.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use serde::Serialize;
use wisp_codec::{CloseCode, Connection, Direction, FrameHeader, Message, WireFrame};

use crate::server::SharedStream;

/// The application side of one WebSocket connection.
pub trait Handler: Send {
    /// A message arrived (text, binary, ping, pong or close; pings and closes are
    /// already answered). Reply through `conn`.
    fn on_message(&mut self, conn: &mut Connection, message: Message);

    /// Called just before queued output is written: after each batch of messages and
    /// after a keepalive ping.
    fn before_flush(&mut self, conn: &mut Connection) {
        let _ = conn;
    }

    /// Called once when the connection ends, however it ends.
    fn on_end(&mut self) {}
}

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
enum Report<'a> {
    Frame {
        dir: &'static str,
        #[serde(flatten)]
        header: Option<HeaderFields>,
        wire_len: usize,
        hex: String,
        truncated: bool,
    },
    Handshake {
        request: &'a str,
        response: &'a str,
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
}

/// The header fields of a reported frame, decoded from its bytes.
#[derive(Serialize)]
struct HeaderFields {
    fin: bool,
    rsv: u8,
    opcode: u8,
    masked: bool,
    len: u64,
}

impl Report<'_> {
    fn to_json(&self) -> String {
        // Serializing these types cannot fail: no maps with non-string keys, no I/O.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// The JSON report of one frame (see the module docs for the format).
pub(crate) fn frame_report(frame: &WireFrame) -> String {
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
    let header = match FrameHeader::decode(bytes) {
        Ok(Some((h, _))) => Some(HeaderFields {
            fin: h.fin,
            rsv: h.rsv,
            opcode: h.opcode.as_u8(),
            masked: h.mask.is_some(),
            len: h.payload_len,
        }),
        _ => None,
    };
    Report::Frame {
        dir,
        header,
        wire_len: bytes.len(),
        hex,
        truncated: shown.len() < bytes.len(),
    }
    .to_json()
}

impl Handler for Inspect {
    fn on_message(&mut self, conn: &mut Connection, message: Message) {
        Echo.on_message(conn, message);
    }

    fn before_flush(&mut self, conn: &mut Connection) {
        let mut frames = Vec::new();
        while let Some(f) = conn.poll_wire_frame() {
            frames.push(f);
        }
        for f in &frames {
            // Fails only once a close went out: then nothing more may be sent anyway.
            let _ = conn.send_text(&frame_report(f));
        }
        // What was recorded since are the reports themselves: never reported.
        while conn.poll_wire_frame().is_some() {}
    }
}

/// The JSON report of the opening handshake: the raw request and response heads.
pub(crate) fn handshake_report(request: &[u8], response: &[u8]) -> String {
    Report::Handshake {
        request: &String::from_utf8_lossy(request),
        response: &String::from_utf8_lossy(response),
    }
    .to_json()
}

// ---- /chat ------------------------------------------------------------------------

/// The members of `/chat`.
#[derive(Default)]
pub(crate) struct Room {
    members: Mutex<Vec<Arc<Member>>>,
}

impl std::fmt::Debug for Room {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.members.lock().map(|m| m.len()).unwrap_or(0);
        f.debug_struct("Room").field("members", &n).finish()
    }
}

/// What a member's writer thread has to send.
#[derive(Default)]
struct Outgoing {
    /// Broadcast texts not yet written.
    texts: VecDeque<Arc<str>>,
    /// Frames already encoded by the member's own connection (pongs, pings, close).
    raw: Vec<u8>,
    /// The member's close frame is in `raw`: no text may follow it.
    close_queued: bool,
    /// The session is over: write what is left, then stop.
    done: bool,
}

/// One `/chat` member: a bounded outgoing queue drained by its own writer thread, so
/// a broadcast only ever appends to queues and never waits for a socket.
pub(crate) struct Member {
    pub(crate) name: String,
    stream: SharedStream,
    limit: usize,
    out: Mutex<Outgoing>,
    ready: Condvar,
    overflow: AtomicBool,
}

impl Member {
    pub(crate) fn new(name: String, stream: SharedStream, limit: usize) -> Arc<Member> {
        Arc::new(Member {
            name,
            stream,
            limit,
            out: Mutex::new(Outgoing::default()),
            ready: Condvar::new(),
            overflow: AtomicBool::new(false),
        })
    }

    /// True once the queue overflowed: the session closes with 1008.
    pub(crate) fn overflowed(&self) -> bool {
        self.overflow.load(Ordering::Acquire)
    }

    fn push_text(&self, text: &Arc<str>) {
        let Ok(mut out) = self.out.lock() else { return };
        if out.close_queued || out.done || self.overflowed() {
            return;
        }
        if out.texts.len() >= self.limit {
            // Too slow: drop its backlog and wake its session (blocked in a read) to
            // close it with 1008. Never wait for it.
            out.texts.clear();
            self.overflow.store(true, Ordering::Release);
            drop(out);
            self.stream.wake();
            return;
        }
        out.texts.push_back(Arc::clone(text));
        drop(out);
        self.ready.notify_one();
    }

    /// Queues frames encoded by the session's connection.
    pub(crate) fn push_raw(&self, bytes: &[u8], close_queued: bool) {
        if let Ok(mut out) = self.out.lock() {
            out.raw.extend_from_slice(bytes);
            out.close_queued |= close_queued;
        }
        self.ready.notify_one();
    }

    /// Ends the writer thread once what is queued is written.
    pub(crate) fn finish(&self) {
        if let Ok(mut out) = self.out.lock() {
            out.done = true;
        }
        self.ready.notify_one();
    }

    /// The writer thread's loop: encodes queued texts with an encoder of its own (server
    /// frames are unmasked and whole, so they interleave safely with the session's),
    /// and writes each batch in one write.
    pub(crate) fn run_writer(&self) {
        use std::io::Write as _;
        let mut encoder = Connection::server(Default::default());
        let mut buf = Vec::new();
        let mut stream = self.stream.clone();
        loop {
            let (texts, done) = {
                let Ok(mut out) = self.out.lock() else { return };
                while out.texts.is_empty() && out.raw.is_empty() && !out.done {
                    out = match self.ready.wait(out) {
                        Ok(o) => o,
                        Err(_) => return,
                    };
                }
                // Texts first: a close frame in `raw` must be the last thing written.
                let texts = std::mem::take(&mut out.texts);
                for t in &texts {
                    let _ = encoder.send_text(t);
                }
                buf.extend_from_slice(encoder.pending_output());
                encoder.advance_output(usize::MAX);
                buf.append(&mut out.raw);
                (texts.len(), out.done)
            };
            let _ = texts;
            if !buf.is_empty() {
                if stream.write_all(&buf).is_err() {
                    self.stream.wake();
                    return;
                }
                buf.clear();
                if buf.capacity() > 64 * 1024 {
                    buf = Vec::new();
                }
            }
            if done {
                let Ok(out) = self.out.lock() else { return };
                if out.texts.is_empty() && out.raw.is_empty() {
                    return;
                }
            }
        }
    }
}

impl Room {
    fn broadcast(&self, text: &str) {
        let text: Arc<str> = Arc::from(text);
        let members: Vec<Arc<Member>> = match self.members.lock() {
            Ok(m) => m.clone(),
            Err(_) => return,
        };
        for m in &members {
            m.push_text(&text);
        }
    }

    pub(crate) fn join(&self, member: Arc<Member>) {
        let name = member.name.clone();
        let n = match self.members.lock() {
            Ok(mut m) => {
                m.push(member);
                m.len()
            }
            Err(_) => return,
        };
        self.broadcast(
            &Report::Join {
                who: &name,
                members: n,
            }
            .to_json(),
        );
    }

    pub(crate) fn leave(&self, member: &Arc<Member>) {
        let n = match self.members.lock() {
            Ok(mut m) => {
                m.retain(|x| !Arc::ptr_eq(x, member));
                m.len()
            }
            Err(_) => return,
        };
        self.broadcast(
            &Report::Leave {
                who: &member.name,
                members: n,
            }
            .to_json(),
        );
    }
}

/// The chat name from a request target's `?name=` (sanitized), if any.
pub(crate) fn chat_name(target: &str) -> Option<String> {
    let query = target.split_once('?')?.1;
    let value = query.split('&').find_map(|kv| kv.strip_prefix("name="))?;
    let ok = !value.is_empty()
        && value.len() <= 32
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    ok.then(|| value.to_string())
}

/// `/chat`: text messages go to every member (see the module docs).
pub(crate) struct Chat {
    pub(crate) room: Arc<Room>,
    pub(crate) member: Arc<Member>,
}

impl Handler for Chat {
    fn on_message(&mut self, conn: &mut Connection, message: Message) {
        match message {
            Message::Text(t) => self.room.broadcast(
                &Report::Message {
                    from: &self.member.name,
                    text: &t,
                }
                .to_json(),
            ),
            Message::Binary(_) => {
                let _ = conn.send_close(CloseCode::UNSUPPORTED_DATA, "chat takes text only");
            }
            _ => {}
        }
    }

    fn on_end(&mut self) {
        self.room.leave(&self.member);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_report_fields_in_order() {
        let f = WireFrame {
            direction: Direction::Sent,
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
        let r = handshake_report(b"GET / HTTP/1.1\r\n\r\n", b"HTTP/1.1 101 x\r\n\r\n");
        assert_eq!(
            r,
            r#"{"type":"handshake","request":"GET / HTTP/1.1\r\n\r\n","response":"HTTP/1.1 101 x\r\n\r\n"}"#
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
