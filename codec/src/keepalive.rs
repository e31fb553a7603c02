//! Time as an input: the keepalive ping, the idle timeout and the wait for the peer's
//! close, counted from the progress the connection makes (quinn-proto's
//! `poll_timeout` / `handle_timeout`).
//!
//! Progress is a complete frame received (any frame, a pong too), or
//! [`PROGRESS_BYTES`] received since the last progress: a peer that dribbles a frame a
//! byte at a time is as idle as a silent one, and a large frame that streams in steadily
//! is not. Events are counted as they happen (a counter each, no clock) and stamped
//! with the time of the next [`Keepalive::handle`].

use core::time::Duration;

use crate::Config;

/// Bytes of an unfinished frame that count as progress.
pub(crate) const PROGRESS_BYTES: u64 = 64 * 1024;

/// What [`Keepalive::handle`] found due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Due {
    Nothing,
    /// No progress for the ping interval: send a ping.
    Ping,
    /// No progress for the idle timeout: fail the connection.
    Idle,
    /// Our close was not answered in time: give up.
    CloseUnanswered,
}

/// The timers of one connection and the progress counters they follow. The
/// durations are the connection's [`Config`]'s, passed in on each call rather than kept
/// twice (an idle connection's size is the server's memory per connection).
#[derive(Debug, Clone)]
pub(crate) struct Keepalive {
    /// Complete frames received: counted on the decoding hot path, so a plain add.
    pub(crate) frames: u64,
    /// Bytes received.
    pub(crate) bytes: u64,
    /// The latest time the driver gave; `None` before the first.
    now: Option<Duration>,
    last_progress: Duration,
    frames_seen: u64,
    bytes_seen: u64,
    pinged: bool,
    /// `Some` once the close we sent is stamped: its deadline, if there is one.
    close_deadline: Option<Option<Duration>>,
}

impl Keepalive {
    pub(crate) fn new() -> Self {
        Keepalive {
            frames: 0,
            bytes: 0,
            now: None,
            last_progress: Duration::ZERO,
            frames_seen: 0,
            bytes_seen: 0,
            pinged: false,
            close_deadline: None,
        }
    }

    fn progressed(&self) -> bool {
        self.frames != self.frames_seen || self.bytes - self.bytes_seen >= PROGRESS_BYTES
    }

    /// The next moment [`handle`](Keepalive::handle) has something to do, by `timers`'
    /// durations. `closing`: our close is written and we wait for the answer;
    /// `may_ping`: a ping may be sent now.
    pub(crate) fn poll(&self, timers: &Config, closing: bool, may_ping: bool) -> Option<Duration> {
        let Some(now) = self.now else {
            // The clock starts at the first call.
            return Some(Duration::ZERO);
        };
        if self.progressed() || (closing && self.close_deadline.is_none()) {
            // Something to stamp with the time.
            return Some(now);
        }
        let after = |d: Option<Duration>| d.map(|d| self.last_progress.saturating_add(d));
        let ping = if may_ping && !self.pinged {
            after(timers.ping_interval)
        } else {
            None
        };
        [
            after(timers.idle_timeout),
            ping,
            self.close_deadline.flatten(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Stamps what happened since the last call with `now` and says what is due.
    pub(crate) fn handle(
        &mut self,
        now: Duration,
        timers: &Config,
        closing: bool,
        may_ping: bool,
    ) -> Due {
        // The driver's clock is monotonic; a step back is read as no time passing.
        let now = self.now.map_or(now, |then| now.max(then));
        if self.now.is_none() || self.progressed() {
            self.last_progress = now;
            self.frames_seen = self.frames;
            self.bytes_seen = self.bytes;
            self.pinged = false;
        }
        self.now = Some(now);
        if closing && self.close_deadline.is_none() {
            self.close_deadline = Some(timers.close_timeout.map(|t| now.saturating_add(t)));
        }
        if let Some(Some(deadline)) = self.close_deadline {
            if now >= deadline {
                return Due::CloseUnanswered;
            }
        }
        let elapsed = now - self.last_progress;
        if timers.idle_timeout.is_some_and(|t| elapsed >= t) {
            return Due::Idle;
        }
        if may_ping && !self.pinged && timers.ping_interval.is_some_and(|t| elapsed >= t) {
            self.pinged = true;
            return Due::Ping;
        }
        Due::Nothing
    }
}
