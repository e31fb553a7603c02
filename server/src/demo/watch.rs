//! `/inspect?watch=ID`: a read-only socket that receives the reports of `/inspect`
//! connection `ID`, including the ones its own socket can no longer carry (its close
//! frames and the end of its TCP connection); and `/inspect`'s handler, which publishes
//! every report to the watchers and runs the conversation scenarios (`scenarios.rs`)
//! that a connection asks for with command messages. Formats: [`super::inspect`].
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

use wisp_codec::{apply_mask, CloseCode, Direction, Message, OpCode, WireFrame};

use super::inspect::{self, query_param, At, CloseFields, Member, Report};
use super::scenarios::{command, perform, plan, Command};
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

// ---- /inspect: reports for watchers, and the scenarios (`scenarios.rs`) -----------

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
