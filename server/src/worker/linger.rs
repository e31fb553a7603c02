//! The linger phase: after our last bytes and a half-close, read (and drop) what the
//! peer still sends, a little while and a little much, so that a reset for unread
//! input does not destroy what we wrote.

use std::io::{self, Read};
use std::time::{Duration, Instant};

use super::state::{would_block, Cx, Io, Phase};
use crate::shared::Shared;

/// After a plain HTTP response: drain this long, this much, before closing.
pub(super) const AFTER_HTTP: (Duration, usize) = (Duration::from_millis(200), 64 * 1024);
/// After failing a connection: the same, so the close frame survives.
pub(super) const AFTER_FAILURE: (Duration, usize) = (Duration::from_secs(1), 4 << 20);

pub(super) struct Linger {
    until: Instant,
    left: usize,
}

impl Linger {
    /// Half-closes `io` and lingers for `(how long, how much)`.
    pub(super) fn start(
        io: &mut Io,
        (wait, bytes): (Duration, usize),
        cx: &mut Cx<'_>,
    ) -> Option<Box<dyn Phase>> {
        io.stream.shutdown_write();
        Box::new(Linger {
            until: cx.now + wait,
            left: bytes,
        })
        .step(io, cx)
    }
}

impl Phase for Linger {
    fn step(mut self: Box<Self>, io: &mut Io, cx: &mut Cx<'_>) -> Option<Box<dyn Phase>> {
        while io.readable && self.left > 0 {
            match io.stream.read(cx.scratch) {
                Ok(0) => return None,
                Ok(n) => self.left = self.left.saturating_sub(n),
                Err(e) if would_block(&e) => io.readable = false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return None,
            }
        }
        (self.left > 0 && cx.now < self.until).then_some(self)
    }

    fn deadline(&self, _: &Shared) -> Instant {
        self.until
    }
}
