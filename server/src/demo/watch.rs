//! `/inspect?watch=ID`: a read-only socket that receives the reports of `/inspect`
//! connection `ID`, including the ones its own socket can no longer carry (its close
//! frames and the end of its TCP connection), and the conversation scenarios an
//! `/inspect` connection asks for with command messages. Formats: [`super::inspect`].
//!
//! ## How a watcher stays out of its target's way
//! Every report of a watched connection is built once and appended to each watcher's
//! bounded queue (the `/chat` member queue, [`Member`]), which the watcher's own
//! connection drains on its own worker, as far as its socket takes it. The target never waits for a watcher: a watcher whose queue is full
//! gets a `dropped` notice instead of its backlog and is closed with 1008.
//!
//! A target also keeps its most recent reports, at most [`HISTORY_BYTES`] of them, and
//! a watcher starts with those: one opened just after its target (or after its target
//! ended) still sees the conversation from the start. The last [`ENDED_KEPT`] ended
//! connections stay watchable.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::Deserialize;
use wisp_codec::{
    apply_mask, CloseCode, Direction, Message, OpCode, WireFrame, DEFAULT_COMPRESS_THRESHOLD,
};

use super::inspect::{self, query_param, At, CloseFields, Member, Report, RfcSentence};
use crate::handler::{Echo, Handler, Session};
use crate::sender::Sender;

/// The most report bytes a connection keeps for watchers that open later.
pub const HISTORY_BYTES: usize = 64 * 1024;
/// How many ended connections can still be watched.
pub const ENDED_KEPT: usize = 16;

/// The watchable `/inspect` connections of a server.
#[derive(Default)]
pub(crate) struct Registry {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    live: HashMap<u64, Arc<Target>>,
    ended: VecDeque<Arc<Target>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").finish_non_exhaustive()
    }
}

/// The id in a request target's `?watch=`, if it asks to watch.
pub(crate) fn watch_param(target: &str) -> Option<&str> {
    query_param(target, "watch")
}

impl Registry {
    /// Makes `/inspect` connection `id` (opened from `origin`) watchable.
    pub(crate) fn register(&self, id: u64, origin: Option<String>) -> Arc<Target> {
        let target = Arc::new(Target {
            id,
            origin,
            start: Instant::now(),
            state: Mutex::new(TargetState::default()),
        });
        if let Ok(mut inner) = self.inner.lock() {
            inner.live.insert(id, Arc::clone(&target));
        }
        target
    }

    /// A new watcher for the connection that `request_target`'s `?watch=` names, with a
    /// queue of `limit` reports: the target and the watcher's queue (already holding
    /// the `watching` message and the target's history), or the close reason.
    pub(crate) fn attach(
        &self,
        request_target: &str,
        origin: Option<&str>,
        sender: Sender,
    ) -> Result<(Arc<Target>, Arc<Member>), String> {
        let raw = watch_param(request_target).unwrap_or_default();
        let shown: String = raw.chars().take(24).collect();
        let id: u64 = raw
            .parse()
            .map_err(|_| format!("watch={shown:?} is not a connection id"))?;
        let target = {
            let inner = self.inner.lock().map_err(|_| "server error".to_string())?;
            let live = inner.live.get(&id);
            let ended = || inner.ended.iter().find(|t| t.id == id);
            live.or_else(ended).cloned()
        };
        let Some(target) = target else {
            return Err(format!(
                "no /inspect connection {id} (it never existed, or ended long ago)"
            ));
        };
        if target.origin.as_deref() != origin {
            return Err(format!("connection {id} was opened from another origin"));
        }
        let notice: Arc<str> = Report::Dropped {
            reason: "this watcher fell too far behind: later reports are dropped",
        }
        .to_json()
        .into();
        let member = Member::with_notice(format!("watch-{id}"), Some(notice), sender);
        let Ok(mut st) = target.state.lock() else {
            return Err("server error".into());
        };
        let hello: Arc<str> = Report::Watching {
            id,
            ended: st.ended,
        }
        .to_json()
        .into();
        member.push_backlog(std::iter::once(&hello).chain(st.history.iter()));
        if st.ended {
            member.request_close(CloseCode::NORMAL, "the watched connection ended");
        } else {
            st.watchers.push(Arc::clone(&member));
        }
        drop(st);
        Ok((target, member))
    }

    /// Moves an ended target from the live ones to the last [`ENDED_KEPT`].
    fn retire(&self, target: &Arc<Target>) {
        if let Ok(mut inner) = self.inner.lock() {
            inner.live.remove(&target.id);
            if inner.ended.len() >= ENDED_KEPT {
                inner.ended.pop_front();
            }
            inner.ended.push_back(Arc::clone(target));
        }
    }
}

/// One watchable `/inspect` connection.
pub(crate) struct Target {
    id: u64,
    origin: Option<String>,
    start: Instant,
    state: Mutex<TargetState>,
}

#[derive(Default)]
struct TargetState {
    /// Reports published so far.
    seq: u64,
    history: VecDeque<Arc<str>>,
    history_bytes: usize,
    watchers: Vec<Arc<Member>>,
    /// Who sent the first close frame: `"client"` or `"server"`.
    first_close: Option<&'static str>,
    ended: bool,
}

impl Target {
    /// Gives the next report its place, builds it, keeps it and queues it for every
    /// watcher. `size` estimates its length: a report that could not be kept and that
    /// nobody watches is never built.
    fn publish(&self, size: usize, build: impl FnOnce(At) -> String) {
        let Ok(mut st) = self.state.lock() else {
            return;
        };
        st.seq += 1;
        if st.watchers.is_empty() && size > HISTORY_BYTES {
            return;
        }
        let at = At {
            seq: st.seq,
            ms: (self.start.elapsed().as_micros() as f64 / 1000.0),
        };
        let report: Arc<str> = build(at).into();
        for w in &st.watchers {
            w.push_text(&report);
        }
        if report.len() <= HISTORY_BYTES {
            while st.history_bytes + report.len() > HISTORY_BYTES {
                let Some(old) = st.history.pop_front() else {
                    break;
                };
                st.history_bytes -= old.len();
            }
            st.history_bytes += report.len();
            st.history.push_back(report);
        }
    }

    /// Publishes the opening handshake (the connection's first report).
    pub(crate) fn publish_handshake(&self, request: &[u8], response: &[u8]) {
        self.publish(request.len() + response.len(), |at| {
            inspect::handshake_report(request, response, Some(self.id), Some(at))
        });
    }

    /// Publishes one frame of the connection, with its close code and reason if it is
    /// a close frame.
    pub(crate) fn publish_frame(&self, frame: &WireFrame) {
        let close = close_fields(frame);
        if close.is_some() {
            if let Ok(mut st) = self.state.lock() {
                let who = match frame.direction {
                    Direction::Received => "client",
                    Direction::Sent => "server",
                };
                st.first_close.get_or_insert(who);
            }
        }
        let size = frame.bytes.len().min(inspect::INSPECT_MAX_HEX) * 3 + 200;
        self.publish(size, |at| inspect::frame_report_at(frame, close, Some(at)));
    }

    fn publish_report<'r>(&self, build: impl FnOnce(At) -> Report<'r>) {
        self.publish(256, |at| build(at).to_json());
    }

    /// The connection is over and its socket shut: publishes what was recorded last
    /// and the `end` report, closes the watchers (1000) and retires the target.
    pub(crate) fn end(self: &Arc<Self>, registry: &Registry, conn: &mut Session<'_>, how: &str) {
        while let Some(f) = conn.poll_wire_frame() {
            self.publish_frame(&f);
        }
        let sent = conn.close_sent().map(|f| CloseFields {
            code: f.code.0,
            reason: f.reason.clone(),
        });
        let received = conn.close_received().map(|f| match f {
            Some(f) => CloseFields {
                code: f.code.0,
                reason: f.reason.clone(),
            },
            None => CloseFields {
                code: CloseCode::NO_STATUS_RECEIVED.0,
                reason: String::new(),
            },
        });
        let first = self.state.lock().ok().and_then(|st| st.first_close);
        let tcp = if how.starts_with("the peer closed TCP") {
            "the client closed it first"
        } else {
            "the server closed it"
        };
        self.publish(512 + how.len(), |at| {
            Report::End {
                how,
                first,
                sent,
                received,
                tcp,
                at: Some(at),
            }
            .to_json()
        });
        let watchers = match self.state.lock() {
            Ok(mut st) => {
                st.ended = true;
                std::mem::take(&mut st.watchers)
            }
            Err(_) => Vec::new(),
        };
        for w in watchers {
            w.request_close(CloseCode::NORMAL, "the watched connection ended");
        }
        registry.retire(self);
    }

    fn detach(&self, member: &Arc<Member>) {
        if let Ok(mut st) = self.state.lock() {
            st.watchers.retain(|w| !Arc::ptr_eq(w, member));
        }
    }
}

/// The code and reason of a close frame (code 1005 for a close without a body), or
/// `None` for any other frame. A recorded close passed the codec's checks (or is ours).
fn close_fields(frame: &WireFrame) -> Option<CloseFields> {
    if frame.header.opcode != OpCode::Close {
        return None;
    }
    let at = frame
        .bytes
        .len()
        .checked_sub(usize::try_from(frame.header.payload_len).ok()?)?;
    let mut payload = frame.bytes[at..].to_vec();
    if let Some(key) = frame.header.mask {
        apply_mask(&mut payload, key, 0);
    }
    Some(match payload.as_slice() {
        [hi, lo, reason @ ..] => CloseFields {
            code: u16::from_be_bytes([*hi, *lo]),
            reason: String::from_utf8_lossy(reason).into_owned(),
        },
        _ => CloseFields {
            code: CloseCode::NO_STATUS_RECEIVED.0,
            reason: String::new(),
        },
    })
}

// ---- /inspect: reports for watchers, and scenarios -------------------------------

/// The `/inspect` handler of the server: [`inspect::Inspect`]'s echo and reports, every
/// report also published to the connection's watchers, and the command messages.
pub(crate) struct Inspected {
    pub(crate) target: Arc<Target>,
    pub(crate) registry: Arc<Registry>,
}

impl Handler for Inspected {
    /// The first message: the opening handshake as it crossed the socket (never
    /// reported as a frame itself), also the first report of the watchers.
    fn on_open(&mut self, conn: &mut Session<'_>) {
        if let Some(h) = conn.handshake() {
            self.target.publish_handshake(h.request, h.response);
            let report = inspect::handshake_report(h.request, h.response, Some(conn.id()), None);
            let _ = conn.send_text(&report);
            while conn.poll_wire_frame().is_some() {}
        }
    }

    fn on_end(&mut self, conn: &mut Session<'_>) {
        let how = conn.end_reason().unwrap_or("dropped");
        self.target.end(&self.registry, conn, how);
    }

    fn on_message(&mut self, conn: &mut Session<'_>, message: Message) {
        if let Message::Text(t) = &message {
            if let Some(command) = command(t) {
                self.run(conn, command);
                return;
            }
        }
        Echo.on_message(conn, message);
    }

    fn before_flush(&mut self, conn: &mut Session<'_>) {
        let target = &self.target;
        inspect::report_frames(conn, |f| target.publish_frame(f));
    }
}

/// The word-for-word RFC 6455 sentences each scenario shows.
const REASSEMBLY: RfcSentence = RfcSentence {
    rfc: 6455,
    section: "5.4",
    text: "A fragmented message is conceptually equivalent to a single larger message whose \
           payload is equal to the concatenation of the payloads of the fragments in order",
};
const INJECTED: RfcSentence = RfcSentence {
    rfc: 6455,
    section: "5.4",
    text: "Control frames (see Section 5.5) MAY be injected in the middle of a fragmented \
           message.",
};
const PONG: RfcSentence = RfcSentence {
    rfc: 6455,
    section: "5.5.2",
    text: "Upon receipt of a Ping frame, an endpoint MUST send a Pong frame in response, \
           unless it already received a Close frame.",
};
const SAME_DATA: RfcSentence = RfcSentence {
    rfc: 6455,
    section: "5.5.3",
    text: "A Pong frame sent in response to a Ping frame must have identical \"Application \
           data\" as found in the message body of the Ping frame being replied to.",
};
const CLOSE_REPLY: RfcSentence = RfcSentence {
    rfc: 6455,
    section: "5.5.1",
    text: "If an endpoint receives a Close frame and did not previously send a Close frame, \
           the endpoint MUST send a Close frame in response.",
};
const TCP_END: RfcSentence = RfcSentence {
    rfc: 6455,
    section: "5.5.1",
    text: "After both sending and receiving a Close message, an endpoint considers the \
           WebSocket connection closed and MUST close the underlying TCP connection.",
};
/// RFC 7692 §6.1 (sentences of RFC 7692 carry `"rfc":7692`).
const FIRST_ONLY: RfcSentence = RfcSentence {
    rfc: 7692,
    section: "6.1",
    text: "An endpoint MUST NOT set the \"Per-Message Compressed\" bit of control frames \
           and non-first fragments of a data message.",
};
static FRAGMENTS: [RfcSentence; 1] = [REASSEMBLY];
static FRAGMENTS_PING: [RfcSentence; 3] = [REASSEMBLY, INJECTED, PONG];
static COMPRESSED: [RfcSentence; 2] = [REASSEMBLY, FIRST_ONLY];
static COMPRESSED_PING: [RfcSentence; 4] = [REASSEMBLY, FIRST_ONLY, INJECTED, PONG];
static PING: [RfcSentence; 2] = [PONG, SAME_DATA];
static CLOSE: [RfcSentence; 2] = [CLOSE_REPLY, TCP_END];

/// The most fragments, and text bytes, a `fragments` command may ask for.
pub const MAX_FRAGMENTS: usize = 16;
const MAX_TEXT: usize = 4096;

/// A command message on `/inspect` (format in [`super::inspect`]).
#[derive(Deserialize, Debug, PartialEq)]
#[serde(tag = "command", rename_all = "lowercase", deny_unknown_fields)]
enum Command {
    Fragments {
        text: String,
        #[serde(default = "three")]
        fragments: usize,
        #[serde(default)]
        ping: bool,
        /// Compressed (permessage-deflate must be agreed): RSV1 on the first fragment,
        /// the DEFLATE stream split across the fragments.
        #[serde(default)]
        compress: bool,
    },
    Ping {
        #[serde(default)]
        data: String,
    },
    Close {
        #[serde(default = "going_away")]
        code: u16,
        #[serde(default)]
        reason: String,
    },
}

fn three() -> usize {
    3
}

fn going_away() -> u16 {
    CloseCode::GOING_AWAY.0
}

/// A text message that is a JSON object with a `"command"` member is a command; its
/// error if it is not a valid one.
fn command(text: &str) -> Option<Result<Command, String>> {
    if !text.trim_start().starts_with('{') {
        return None;
    }
    let value: serde_json::Value = serde_json::from_str(text).ok()?;
    value.get("command")?;
    Some(serde_json::from_value(value).map_err(|e| format!("bad command: {e}")))
}

impl Inspected {
    /// Carries out a command: the frames so far are reported, then the `scenario` (or
    /// `error`) report, then the scenario's frames go out.
    fn run(&mut self, conn: &mut Session<'_>, command: Result<Command, String>) {
        self.before_flush(conn);
        let deflate = conn.deflate().is_some();
        let plan = command.and_then(|c| plan(&c, deflate).map(|p| (c, p)));
        let report = |at| match &plan {
            Ok((_, (name, does, rfc))) => Report::Scenario {
                name,
                does: does.clone(),
                rfc,
                at,
            },
            Err(e) => Report::Error {
                error: e.clone(),
                at,
            },
        };
        let _ = conn.send_text(&report(None).to_json());
        while conn.poll_wire_frame().is_some() {}
        self.target.publish_report(|at| report(Some(at)));
        if let Ok((c, _)) = &plan {
            perform(conn, c);
        }
    }
}

type Plan = (&'static str, String, &'static [RfcSentence]);

/// What a command will do on a connection (with `deflate` agreed or not), or why it
/// cannot.
fn plan(c: &Command, deflate: bool) -> Result<Plan, String> {
    match c {
        Command::Fragments {
            text,
            fragments,
            ping,
            compress,
        } => {
            if !(1..=MAX_FRAGMENTS).contains(fragments) {
                return Err(format!("fragments: 1 to {MAX_FRAGMENTS}"));
            }
            if text.len() > MAX_TEXT {
                return Err(format!("text: at most {MAX_TEXT} bytes"));
            }
            if *compress && !deflate {
                return Err(
                    "compress: permessage-deflate is not agreed on this connection \
                            (/inspect?deflate=off declines it)"
                        .into(),
                );
            }
            let between = if *ping {
                ", with a ping between each two"
            } else {
                ""
            };
            if *compress {
                return Ok((
                    "compressed fragments",
                    format!(
                        "the server compresses {} bytes of text (permessage-deflate) and sends \
                         the compressed stream as {fragments} fragment{} (RSV1=1 on the first \
                         only; each but the last ends in a sync flush, 00 00 ff ff){between}: \
                         the browser inflates them into one message{}",
                        text.len(),
                        if *fragments == 1 { "" } else { "s" },
                        if *ping { " and answers each ping" } else { "" }
                    ),
                    if *ping { &COMPRESSED_PING } else { &COMPRESSED },
                ));
            }
            Ok((
                "fragments",
                format!(
                    "the server sends {} bytes of text as {fragments} fragment{} (Text with \
                     FIN=0, Continuation frames, FIN=1 on the last){between}: the browser \
                     receives one message{}",
                    text.len(),
                    if *fragments == 1 { "" } else { "s" },
                    if *ping { " and answers each ping" } else { "" }
                ),
                if *ping { &FRAGMENTS_PING } else { &FRAGMENTS },
            ))
        }
        Command::Ping { data } => {
            if data.len() > 125 {
                return Err("data: at most 125 bytes (a control frame's limit, §5.5)".into());
            }
            Ok((
                "ping",
                format!(
                    "the server sends a ping with {} bytes of application data: the browser \
                     answers with a pong carrying the same bytes",
                    data.len()
                ),
                &PING,
            ))
        }
        Command::Close { code, reason } => {
            if !CloseCode(*code).is_valid_on_wire() {
                return Err(format!(
                    "code {code} may not be sent in a close frame (§7.4)"
                ));
            }
            if reason.len() > 123 {
                return Err("reason: at most 123 bytes (the close frame's limit)".into());
            }
            Ok((
                "close",
                format!(
                    "the server starts the closing handshake with code {code}: the browser \
                     answers with its own close frame, then the server closes TCP"
                ),
                &CLOSE,
            ))
        }
    }
}

/// Sends a planned scenario's frames.
fn perform(conn: &mut Session<'_>, c: &Command) {
    match c {
        Command::Fragments {
            text,
            fragments,
            ping,
            compress,
        } => {
            // Compressed or not is decided at the first fragment (`plan` checked that
            // deflate is agreed): every fragment then continues the one DEFLATE stream.
            conn.set_compress_threshold(if *compress { 0 } else { usize::MAX });
            let bytes = text.as_bytes();
            let n = *fragments;
            for i in 0..n {
                if i > 0 && *ping {
                    let _ =
                        conn.send_ping(format!("between fragments {i} and {}", i + 1).as_bytes());
                }
                let piece = &bytes[i * bytes.len() / n..(i + 1) * bytes.len() / n];
                let opcode = if i == 0 {
                    OpCode::Text
                } else {
                    OpCode::Continuation
                };
                let _ = conn.send_frame(opcode, i + 1 == n, piece);
            }
            conn.set_compress_threshold(DEFAULT_COMPRESS_THRESHOLD);
        }
        Command::Ping { data } => {
            let _ = conn.send_ping(data.as_bytes());
        }
        Command::Close { code, reason } => {
            let _ = conn.close(CloseCode(*code), reason);
        }
    }
}

/// `/inspect?watch=ID`: reads nothing but control frames; a data message is refused
/// with 1008. Leaves its target's watchers when it ends.
pub(crate) struct Watcher {
    pub(crate) target: Arc<Target>,
    pub(crate) member: Arc<Member>,
}

impl Handler for Watcher {
    fn on_message(&mut self, conn: &mut Session<'_>, message: Message) {
        if let Message::Text(_) | Message::Binary(_) = message {
            let _ = conn.close(CloseCode::POLICY_VIOLATION, "a watcher is read-only");
        }
    }

    fn on_end(&mut self, _: &mut Session<'_>) {
        self.target.detach(&self.member);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wisp_codec::Connection;

    #[test]
    fn commands_parse_with_defaults_and_refuse_unknown_fields() {
        assert_eq!(command("hello"), None);
        assert_eq!(command(r#"{"type":"x"}"#), None);
        assert_eq!(
            command(r#"{"command":"fragments","text":"Hello"}"#),
            Some(Ok(Command::Fragments {
                text: "Hello".into(),
                fragments: 3,
                ping: false,
                compress: false,
            }))
        );
        assert_eq!(
            command(r#"{"command":"close"}"#),
            Some(Ok(Command::Close {
                code: 1001,
                reason: String::new()
            }))
        );
        let e = command(r#"{"command":"ping","x":1}"#).unwrap().unwrap_err();
        assert!(e.contains("unknown field"), "{e}");
        let e = command(r#"{"command":"dance"}"#).unwrap().unwrap_err();
        assert!(e.contains("unknown variant"), "{e}");
    }

    #[test]
    fn plans_check_the_limits() {
        let close = |code| {
            plan(
                &Command::Close {
                    code,
                    reason: String::new(),
                },
                false,
            )
        };
        assert!(close(1005).unwrap_err().contains("may not be sent"));
        assert!(close(4000).is_ok());
        let frag = |fragments| {
            plan(
                &Command::Fragments {
                    text: "abc".into(),
                    fragments,
                    ping: true,
                    compress: false,
                },
                false,
            )
        };
        assert!(frag(0).is_err() && frag(MAX_FRAGMENTS + 1).is_err());
        assert_eq!(frag(2).unwrap().2.len(), 3);
        let compressed = |deflate| {
            plan(
                &Command::Fragments {
                    text: "abc".into(),
                    fragments: 2,
                    ping: true,
                    compress: true,
                },
                deflate,
            )
        };
        assert!(compressed(false).unwrap_err().contains("not agreed"));
        assert_eq!(compressed(true).unwrap().0, "compressed fragments");
    }

    #[test]
    fn fragments_with_pings_reassemble_into_the_text() {
        let mut s = Connection::server(Default::default());
        let c = Command::Fragments {
            text: "Hello, fragments".into(),
            fragments: 3,
            ping: true,
            compress: false,
        };
        perform(&mut Session::new(&mut s, 1), &c);
        let mut wire = Vec::new();
        while !s.pending_output_front().is_empty() {
            wire.extend_from_slice(s.pending_output_front());
            s.advance_output(usize::MAX);
        }
        let mut client = Connection::client(Default::default(), || [1, 2, 3, 4]);
        client.handle_input(&wire);
        let mut got = Vec::new();
        while let Some(m) = client.poll_event().unwrap() {
            got.push(m);
        }
        assert_eq!(
            got,
            [
                Message::Ping(b"between fragments 1 and 2".to_vec()),
                Message::Ping(b"between fragments 2 and 3".to_vec()),
                Message::Text("Hello, fragments".into()),
            ]
        );
        assert_eq!(wire[0], 0x01, "first fragment: Text, FIN=0");
    }

    /// Everything `s` queued, as it would cross the socket.
    fn drain(s: &mut Connection) -> Vec<u8> {
        let mut wire = Vec::new();
        while !s.pending_output_front().is_empty() {
            wire.extend_from_slice(s.pending_output_front());
            s.advance_output(usize::MAX);
        }
        wire
    }

    #[test]
    fn compressed_fragments_set_rsv1_on_the_first_only_and_inflate_into_the_text() {
        let params = wisp_codec::extension::DeflateParams::default();
        let mut s = Connection::server(Default::default());
        s.set_deflate(params);
        let text = "Hello, compressed fragments! Hello, compressed fragments!";
        let c = Command::Fragments {
            text: text.into(),
            fragments: 3,
            ping: true,
            compress: true,
        };
        assert!(plan(&c, true).is_ok());
        perform(&mut Session::new(&mut s, 1), &c);
        let wire = drain(&mut s);
        // The server's frames are unmasked and short: (b0, payload) each.
        let mut frames = Vec::new();
        let mut at = 0;
        while at < wire.len() {
            let len = usize::from(wire[at + 1]);
            assert!(len < 126, "short frames only");
            frames.push((wire[at], &wire[at + 2..at + 2 + len]));
            at += 2 + len;
        }
        let heads: Vec<u8> = frames.iter().map(|f| f.0).collect();
        // Text+RSV1 FIN=0, ping, Continuation FIN=0, ping, Continuation FIN=1: RSV1 on
        // the first fragment only.
        assert_eq!(heads, [0x41, 0x89, 0x00, 0x89, 0x80]);
        // The compressed stream is split: no fragment holds the text in clear.
        let plain = text.as_bytes();
        let third = &plain[..plain.len() / 3];
        assert!(frames
            .iter()
            .all(|f| !f.1.windows(third.len()).any(|w| w == third)));
        // A non-final fragment ends in a sync flush.
        assert!(
            frames[0].1.ends_with(&[0, 0, 0xff, 0xff]),
            "{:02x?}",
            frames[0].1
        );
        let mut client = Connection::client(Default::default(), || [1, 2, 3, 4]);
        client.set_deflate(params);
        client.handle_input(&wire);
        let mut got = Vec::new();
        while let Some(m) = client.poll_event().unwrap() {
            got.push(m);
        }
        assert_eq!(got.last(), Some(&Message::Text(text.into())));
        assert_eq!(got.len(), 3, "two pings, then the message");
        // The threshold is back: a short message goes out plain.
        Session::new(&mut s, 1).send_text("short").unwrap();
        assert_eq!(drain(&mut s)[0], 0x81);
    }

    #[test]
    fn close_fields_unmask_and_parse() {
        // A masked client close 4000 "bye".
        let key = [9, 8, 7, 6];
        let mut payload = vec![0x0f, 0xa0, b'b', b'y', b'e'];
        apply_mask(&mut payload, key, 0);
        let mut f = vec![0x88, 0x85];
        f.extend_from_slice(&key);
        f.extend_from_slice(&payload);
        let frame = |bytes: &[u8], opcode, mask| WireFrame {
            direction: Direction::Received,
            header: wisp_codec::FrameHeader {
                fin: true,
                rsv: 0,
                opcode,
                mask,
                payload_len: (bytes.len() - if mask.is_some() { 6 } else { 2 }) as u64,
            },
            bytes: bytes.to_vec(),
            reads: None,
        };
        assert_eq!(
            close_fields(&frame(&f, OpCode::Close, Some(key))),
            Some(CloseFields {
                code: 4000,
                reason: "bye".into()
            })
        );
        let empty = frame(&[0x88, 0x00], OpCode::Close, None);
        assert_eq!(close_fields(&empty).unwrap().code, 1005);
        assert_eq!(
            close_fields(&frame(&[0x81, 0x00], OpCode::Text, None)),
            None
        );
    }
}
