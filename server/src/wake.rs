//! Waking a worker from another thread: a queue per worker (new connections, and
//! connections to look at again) plus its event loop's `mio::Waker`.

use std::net::TcpStream;
use std::sync::{Arc, Mutex};

use mio::Waker;

use crate::limits::Admission;

/// What is waiting for a worker.
#[derive(Default)]
pub(crate) struct Pending {
    pub(crate) accepted: Vec<(TcpStream, Admission)>,
    /// Slots whose connections were woken (a /chat broadcast for them).
    pub(crate) woken: Vec<usize>,
}

/// A worker's inbox. Pushing into an empty inbox wakes the worker's loop (one
/// `eventfd` write); pushes into a non-empty one ride on that wake-up.
pub(crate) struct Inbox {
    waker: Waker,
    pending: Mutex<Pending>,
}

impl Inbox {
    pub(crate) fn new(waker: Waker) -> Inbox {
        Inbox {
            waker,
            pending: Mutex::new(Pending::default()),
        }
    }

    fn push(&self, f: impl FnOnce(&mut Pending)) {
        let was_empty = match self.pending.lock() {
            Ok(mut p) => {
                let empty = p.accepted.is_empty() && p.woken.is_empty();
                f(&mut p);
                empty
            }
            Err(_) => return,
        };
        if was_empty {
            let _ = self.waker.wake();
        }
    }

    pub(crate) fn accept(&self, stream: TcpStream, admission: Admission) {
        self.push(|p| p.accepted.push((stream, admission)));
    }

    /// Wakes the loop with nothing queued (shutdown).
    pub(crate) fn nudge(&self) {
        let _ = self.waker.wake();
    }

    /// Takes everything queued.
    pub(crate) fn take(&self) -> Pending {
        self.pending
            .lock()
            .map(|mut p| std::mem::take(&mut *p))
            .unwrap_or_default()
    }
}

/// Wakes one connection: its worker calls the handler's `before_flush` and writes.
#[derive(Clone)]
pub(crate) struct Wake {
    pub(crate) inbox: Arc<Inbox>,
    pub(crate) slot: usize,
}

impl Wake {
    pub(crate) fn wake(&self) {
        let slot = self.slot;
        self.inbox.push(|p| p.woken.push(slot));
    }
}
