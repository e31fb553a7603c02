//! What each WebSocket route does with the messages it receives.
//!
//! A route is a [`Handler`]: it sees every message of its connection (control frames
//! included, already answered by the codec) and replies through the [`Connection`].
//! The session loop in [`crate::server`] owns the socket, the timeouts and the writes,
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

use wisp_codec::{encode_frame, CloseCode, Connection, Direction, Message, OpCode, WireFrame};

use crate::stream::SharedStream;

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

/// The JSON report of one frame (see the module docs for the format).
///
/// ```
/// use wisp_codec::{Direction, FrameHeader, OpCode, WireFrame};
/// let header = FrameHeader { fin: true, rsv: 0, opcode: OpCode::Text, mask: None, payload_len: 2 };
/// let f = WireFrame { direction: Direction::Sent, header, bytes: b"\x81\x02hi".to_vec() };
/// assert_eq!(wisp_server::routes::frame_report(&f),
///     r#"{"type":"frame","dir":"out","fin":true,"rsv":0,"opcode":1,"masked":false,"len":2,"wire_len":4,"hex":"81 02 68 69","truncated":false}"#);
/// ```
pub fn frame_report(frame: &WireFrame) -> String {
    let bytes = &frame.bytes;
    let dir = match frame.direction {
        Direction::Received => "in",
        Direction::Sent => "out",
    };
    let shown = &bytes[..bytes.len().min(INSPECT_MAX_HEX)];
    let mut s = String::with_capacity(160 + shown.len() * 3);
    let _ = write!(s, r#"{{"type":"frame","dir":"{dir}","#);
    let h = &frame.header;
    let _ = write!(
        s,
        r#""fin":{},"rsv":{},"opcode":{},"masked":{},"len":{},"#,
        h.fin,
        h.rsv,
        h.opcode.as_u8(),
        h.mask.is_some(),
        h.payload_len
    );
    let _ = write!(s, r#""wire_len":{},"hex":""#, bytes.len());
    for (i, b) in shown.iter().enumerate() {
        if i > 0 {
            s.push(' ');
        }
        let _ = write!(s, "{b:02x}");
    }
    let _ = write!(s, r#"","truncated":{}}}"#, shown.len() < bytes.len());
    s
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
///
/// ```
/// let r = wisp_server::routes::handshake_report(b"GET / HTTP/1.1\r\n\r\n", b"HTTP/1.1 101 x\r\n\r\n");
/// assert_eq!(r, r#"{"type":"handshake","request":"GET / HTTP/1.1\r\n\r\n","response":"HTTP/1.1 101 x\r\n\r\n"}"#);
/// ```
pub fn handshake_report(request: &[u8], response: &[u8]) -> String {
    format!(
        r#"{{"type":"handshake","request":{},"response":{}}}"#,
        json_string(&String::from_utf8_lossy(request)),
        json_string(&String::from_utf8_lossy(response))
    )
}

/// Quotes a string as a JSON string literal.
///
/// ```
/// assert_eq!(wisp_server::routes::json_string("a\"b\n"), r#""a\"b\n""#);
/// ```
pub fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

// ---- /chat ------------------------------------------------------------------------

/// The members of `/chat`.
#[derive(Default)]
pub struct Room {
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

    /// The writer thread's loop: encodes queued texts itself (server frames are unmasked
    /// and whole, so they interleave safely with the session's), and writes each batch in
    /// one write.
    pub(crate) fn run_writer(&self) {
        use std::io::Write as _;
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
                    encode_frame(&mut buf, true, 0, OpCode::Text, None, t.as_bytes());
                }
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
    /// The number of members.
    pub fn len(&self) -> usize {
        self.members.lock().map(|m| m.len()).unwrap_or(0)
    }

    /// True with no members.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

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
        self.broadcast(&format!(
            r#"{{"type":"join","who":{},"members":{n}}}"#,
            json_string(&name)
        ));
    }

    pub(crate) fn leave(&self, member: &Arc<Member>) {
        let n = match self.members.lock() {
            Ok(mut m) => {
                m.retain(|x| !Arc::ptr_eq(x, member));
                m.len()
            }
            Err(_) => return,
        };
        self.broadcast(&format!(
            r#"{{"type":"leave","who":{},"members":{n}}}"#,
            json_string(&member.name)
        ));
    }
}

/// The chat name from a request target's `?name=` (sanitized), if any.
///
/// ```
/// assert_eq!(wisp_server::routes::chat_name("/chat?name=alice"), Some("alice".into()));
/// assert_eq!(wisp_server::routes::chat_name("/chat?name=<b>"), None);
/// ```
pub fn chat_name(target: &str) -> Option<String> {
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
            Message::Text(t) => self.room.broadcast(&format!(
                r#"{{"type":"message","from":{},"text":{}}}"#,
                json_string(&self.member.name),
                json_string(&t)
            )),
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
