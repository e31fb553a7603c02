//! The io_uring engine's completions of receives and sends (the loop is `mod.rs`).

use io_uring::cqueue;

use super::ring::{self, Op};
use super::{Engine, SPILL_CAP};

impl Engine<'_, '_> {
    /// A receive's completion: bytes lent to the connection for its next step (after
    /// the batch), the end of the stream, or an error.
    pub(super) fn received(&mut self, id: u32, res: i32, flags: u32) {
        let more = cqueue::more(flags);
        let bid = cqueue::buffer_select(flags);
        let mut t = self.table.borrow_mut();
        let Some(c) = t.get(id) else {
            drop(t);
            self.recycle(bid);
            return;
        };
        if !more {
            c.recv_armed = false;
        }
        let mut lent = false;
        match res {
            n if n > 0 && c.released.is_none() => {
                if let (Some(bid), Some(bufs)) = (bid, &self.bufs) {
                    let (ptr, len) = bufs.data(bid, n as usize);
                    c.lend(ptr, len, bid);
                    lent = true;
                }
            }
            n if n > 0 => {}
            0 => c.eof = true,
            e if -e == libc::ENOBUFS => {
                if !more && c.released.is_none() {
                    self.rearm.push(id);
                }
            }
            e if -e == libc::ECANCELED => {}
            e => c.recv_error = Some(-e),
        }
        let resume = !more && !c.paused && c.released.is_none() && c.recv_error.is_none();
        if resume && !c.eof && res != -libc::ENOBUFS {
            self.rearm.push(id);
        }
        let wake = res >= 0 || (res != -libc::ENOBUFS && res != -libc::ECANCELED);
        if c.released.is_none() && wake && !c.queued {
            c.queued = true;
            self.to_step.push(id);
        }
        drop(t);
        if !lent {
            self.recycle(bid);
        }
    }

    /// Steps each connection that received in this batch once, over all its lent
    /// buffers; then the buffers go back to the ring (what was not read is copied into
    /// its `spill`), and a connection that left input unread stops receiving.
    pub(super) fn step_received(&mut self) {
        for id in std::mem::take(&mut self.to_step) {
            let slot = {
                let mut t = self.table.borrow_mut();
                let Some(c) = t.get(id) else {
                    continue;
                };
                c.queued = false;
                let hup = c.eof || c.recv_error.is_some();
                c.released.is_none().then_some((c.slot, hup))
            };
            if let Some((slot, hup)) = slot {
                if let Some(Some(c)) = self.l.conns.get_mut(slot) {
                    c.io.readable = true;
                    c.io.hup |= hup;
                }
                self.l.drive(slot);
            }
            let again = slot.is_some_and(|(s, _)| self.l.again.last() == Some(&s));
            let mut t = self.table.borrow_mut();
            let Some(c) = t.get(id) else {
                continue;
            };
            let keep = c.released.is_none();
            let bufs = &mut self.bufs;
            c.take_back(keep, |bid| {
                if let Some(b) = bufs.as_mut() {
                    b.recycle(bid);
                }
            });
            let unread = c.unread();
            let stop = unread > 0 && (!again || unread > SPILL_CAP);
            if stop && keep && !c.paused {
                c.paused = true;
                if c.recv_armed && !c.recv_cancelled {
                    c.recv_cancelled = true;
                    let _ = ring::cancel(&mut self.ring, ring::user_data(Op::Recv, id));
                }
            }
        }
    }

    /// Gives a receive's buffer back to the kernel, once nothing reads it any more.
    pub(super) fn recycle(&mut self, bid: Option<u16>) {
        if let (Some(bid), Some(bufs)) = (bid, &mut self.bufs) {
            bufs.recycle(bid);
        }
    }

    /// A send's completion: the rest of the buffer goes, or the next one; the
    /// connection is driven again once all is sent or when a write found no room.
    pub(super) fn sent(&mut self, id: u32, res: i32) {
        let drive = {
            let mut t = self.table.borrow_mut();
            let mut spares = std::mem::take(&mut t.spares);
            let Some(c) = t.get(id) else {
                return;
            };
            c.send_armed = false;
            if res <= 0 {
                // A send of 0 bytes would only repeat: the peer is gone.
                c.send_error = Some(if res == 0 { libc::EPIPE } else { -res });
                c.tx = Vec::new();
                c.inflight = Vec::new();
                c.sent = 0;
            } else if !c.sent(res as usize, &mut spares) || !c.inflight.is_empty() || c.shut_wanted
            {
                t.to_send.push(id);
            }
            t.spares = spares;
            let Some(c) = t.get(id) else {
                return;
            };
            // The writable edge of epoll: all sent (a `Sender`'s queue moves in only
            // while little is unsent), a write that found no room, or a failure.
            let idle = c.inflight.is_empty() && c.tx.is_empty();
            let blocked = std::mem::take(&mut c.write_blocked) || res <= 0 || idle;
            (c.released.is_none() && blocked).then_some(c.slot)
        };
        if let Some(slot) = drive {
            self.l.drive(slot);
        }
    }
}
