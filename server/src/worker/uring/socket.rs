//! A connection's socket as the phases see it under io_uring: [`Socket`], a `Read` +
//! `Write` face over the loop's buffers for it (its [`Chan`]), with the contract of a
//! non-blocking socket, so the phases, TLS and the codec's IO adapter run unchanged.
//!
//! - **Reading** takes the bytes the loop has for the connection: first what was left
//!   over from earlier receives (`spill`, owned), then the provided buffers lent for this
//!   step (`lent`: every receive of the connection in one batch of completions, in
//!   order); nothing there is `WouldBlock`, and a read that takes everything is short,
//!   as on a drained socket.
//! - **Writing** copies into `tx` (at most [`TX_CAP`] bytes; past it `WouldBlock`, so
//!   the codec keeps the rest and the high-water mark works as on epoll). The loop hands
//!   `tx` to the kernel as one send; the bytes the kernel is sending (`inflight`) are
//!   never touched by a write. A large write with nothing queued or in flight is sent
//!   at once instead ([`DIRECT_SEND`]).
//! - The socket itself (`Chan::tcp`) belongs to the channel, not to the connection: when
//!   the connection goes, its channel stays until every operation on it has completed
//!   and its last bytes are sent, then the socket closes.

use std::cell::RefCell;
use std::io::{self, IoSlice, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::rc::Rc;
use std::time::{Duration, Instant};

/// Bytes a connection's writes may queue beyond those the kernel is sending.
pub(super) const TX_CAP: usize = 256 * 1024;
/// A write at least this large, with nothing queued or in flight, goes to the kernel at
/// once (a non-blocking `sendmsg`, as on epoll) instead of being copied into `tx` for a
/// send to submit: a large message is not copied once more. What the kernel does not
/// take is queued as usual. Smaller writes wait for the turn's one `io_uring_enter`.
const DIRECT_SEND: usize = 64 * 1024;
/// A gone connection's last bytes may take this long to be sent.
const SEND_GRACE: Duration = Duration::from_secs(2);
/// Sent buffers up to this capacity go back to the worker's spares, for the next
/// connection that writes (an idle connection holds no send buffer).
const KEEP_TX: usize = 4 * 1024;
/// Spare send buffers a worker keeps.
const SPARES: usize = 64;

/// One connection's IO state, owned by the loop's [`Table`].
pub(super) struct Chan {
    pub(super) tcp: TcpStream,
    /// The connection's slot in the worker's slab (its phases).
    pub(super) slot: usize,
    /// Received bytes no read took yet, from `spill_pos`.
    pub(super) spill: Vec<u8>,
    spill_pos: usize,
    /// Provided buffers lent for one step of the connection (address, length, buffer
    /// id), in the order received; `lent_pos` bytes of the first were read. See
    /// [`Chan::lend`].
    lent: Vec<(*const u8, usize, u16)>,
    lent_pos: usize,
    /// The connection waits in the loop's list of connections to step.
    pub(super) queued: bool,
    /// The peer ended its side (a receive of 0).
    pub(super) eof: bool,
    /// A receive failed with this errno: reads fail with it once the bytes are read.
    pub(super) recv_error: Option<i32>,
    /// A send failed with this errno: every later write fails with it.
    pub(super) send_error: Option<i32>,
    /// Written, not yet handed to the kernel.
    pub(super) tx: Vec<u8>,
    /// Handed to the kernel by the send in flight (from `sent` on); the loop alone
    /// touches it, and only when that send completes.
    pub(super) inflight: Vec<u8>,
    pub(super) sent: usize,
    /// A write found `tx` full: the connection is driven again when a send completes.
    pub(super) write_blocked: bool,
    /// The phases asked for a half-close, done once every byte is sent.
    pub(super) shut_wanted: bool,
    pub(super) shut_done: bool,
    /// Operations in flight.
    pub(super) recv_armed: bool,
    pub(super) send_armed: bool,
    /// Receiving stopped (unread input: backpressure): no receive until it is read.
    pub(super) paused: bool,
    /// A cancel was asked for the receive or the send in flight.
    pub(super) recv_cancelled: bool,
    pub(super) send_cancelled: bool,
    /// The connection is gone: the channel only finishes its sends, then closes.
    pub(super) released: Option<Instant>,
}

impl Chan {
    pub(super) fn new(tcp: TcpStream, slot: usize) -> Chan {
        Chan {
            tcp,
            slot,
            spill: Vec::new(),
            spill_pos: 0,
            lent: Vec::new(),
            lent_pos: 0,
            queued: false,
            eof: false,
            recv_error: None,
            send_error: None,
            tx: Vec::new(),
            inflight: Vec::new(),
            sent: 0,
            write_blocked: false,
            shut_wanted: false,
            shut_done: false,
            recv_armed: false,
            send_armed: false,
            paused: false,
            recv_cancelled: false,
            send_cancelled: false,
            released: None,
        }
    }

    /// Received bytes no read took yet.
    pub(super) fn unread(&self) -> usize {
        let lent: usize = self.lent.iter().map(|&(_, n, _)| n).sum();
        self.spill.len() - self.spill_pos + lent - self.lent_pos
    }

    /// Lends provided buffer `bid` at `ptr` (`len` bytes) to the connection's reads
    /// until [`Chan::take_back`], after the buffers lent before it.
    ///
    /// The caller keeps those bytes alive and unchanged until then: the buffer is
    /// out of the kernel's ring (its completion gave it to us) and goes back only after
    /// `take_back`.
    pub(super) fn lend(&mut self, ptr: *const u8, len: usize, bid: u16) {
        self.lent.push((ptr, len, bid));
    }

    /// Ends the loans of [`Chan::lend`]: what no read took is copied into `spill`
    /// (unless `keep` is false: the connection is gone); returns each buffer's id to
    /// `give_back`, for the ring.
    pub(super) fn take_back(&mut self, keep: bool, mut give_back: impl FnMut(u16)) {
        let mut pos = self.lent_pos;
        for &(ptr, len, bid) in &self.lent {
            if len == 0 {
                // Read whole already.
                give_back(bid);
                continue;
            }
            if keep && pos < len {
                let rest = len - pos;
                let start = self.spill.len();
                self.spill.resize(start + rest, 0);
                // SAFETY: `ptr..ptr+len` is the provided buffer lent by `lend`, which
                // the loop keeps out of the kernel's ring until `give_back` below; the
                // kernel wrote it before its completion, so nobody writes it now.
                // `spill` is our own Vec, a distinct allocation.
                unsafe {
                    std::ptr::copy_nonoverlapping(
                        ptr.add(pos),
                        self.spill[start..].as_mut_ptr(),
                        rest,
                    );
                }
            }
            pos = 0;
            give_back(bid);
        }
        self.lent_pos = 0;
        // Most steps borrow one buffer; a list of several is not kept.
        self.lent.clear();
        if self.lent.capacity() > 1 {
            self.lent = Vec::new();
        }
    }

    /// A send completed: `n` bytes went. Returns whether the buffer in flight is all
    /// sent (then it is swapped with `tx` for the next send, or kept small for reuse).
    pub(super) fn sent(&mut self, n: usize, spares: &mut Vec<Vec<u8>>) -> bool {
        self.sent += n;
        if self.sent < self.inflight.len() {
            return false;
        }
        self.sent = 0;
        let done = std::mem::take(&mut self.inflight);
        spare(done, spares);
        std::mem::swap(&mut self.inflight, &mut self.tx);
        if self.inflight.is_empty() {
            spare(std::mem::take(&mut self.inflight), spares);
        }
        true
    }

    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut n = 0;
        if self.spill_pos < self.spill.len() {
            let k = buf.len().min(self.spill.len() - self.spill_pos);
            buf[..k].copy_from_slice(&self.spill[self.spill_pos..self.spill_pos + k]);
            self.spill_pos += k;
            n = k;
            if self.spill_pos == self.spill.len() {
                self.spill = Vec::new();
                self.spill_pos = 0;
            }
        }
        while n < buf.len() {
            let Some(&(ptr, len, _)) = self.lent.iter().find(|&&(_, len, _)| len > 0) else {
                break;
            };
            let k = (buf.len() - n).min(len - self.lent_pos);
            // SAFETY: the provided buffer lent by `Chan::lend` stays valid and
            // unwritten until `take_back` (the loop recycles it only after), and
            // `lent_pos + k <= len`; `buf` is the caller's own memory, so the two cannot
            // overlap.
            unsafe {
                std::ptr::copy_nonoverlapping(ptr.add(self.lent_pos), buf[n..].as_mut_ptr(), k);
            }
            self.lent_pos += k;
            n += k;
            if self.lent_pos == len {
                // Read whole: marked empty (its id stays for `take_back`).
                if let Some(v) = self.lent.iter_mut().find(|v| v.1 > 0) {
                    v.1 = 0;
                }
                self.lent_pos = 0;
            }
        }
        if n > 0 || buf.is_empty() {
            return Ok(n);
        }
        if let Some(e) = self.recv_error {
            return Err(io::Error::from_raw_os_error(e));
        }
        if self.eof {
            return Ok(0);
        }
        Err(io::ErrorKind::WouldBlock.into())
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        if let Some(e) = self.send_error {
            return Err(io::Error::from_raw_os_error(e));
        }
        if self.shut_wanted {
            return Err(io::ErrorKind::BrokenPipe.into());
        }
        let want: usize = bufs.iter().map(|b| b.len()).sum();
        if want >= DIRECT_SEND && self.tx.is_empty() && self.inflight.is_empty() {
            // Nothing queued or in flight, so the order of the bytes is kept.
            match send_now(&self.tcp, bufs) {
                Ok(n) => return Ok(n),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                    ) => {}
                Err(e) => {
                    self.send_error = e.raw_os_error();
                    return Err(e);
                }
            }
        }
        let mut room = TX_CAP.saturating_sub(self.tx.len());
        if room == 0 && want > 0 {
            self.write_blocked = true;
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let mut n = 0;
        for b in bufs {
            let k = b.len().min(room);
            self.tx.extend_from_slice(&b[..k]);
            n += k;
            room -= k;
            if room == 0 {
                break;
            }
        }
        Ok(n)
    }
}

/// One non-blocking `sendmsg` of `bufs` on the connection's socket (the socket itself
/// is blocking, for io_uring; `MSG_DONTWAIT` makes this call alone not wait).
fn send_now(tcp: &TcpStream, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
    use std::os::fd::AsRawFd;
    // SAFETY: an all-zero `msghdr` is a valid value (null pointers, zero lengths).
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    // `IoSlice` is ABI-compatible with `iovec` on Unix (std guarantees it); the kernel
    // only reads through these pointers.
    msg.msg_iov = bufs.as_ptr() as *mut libc::iovec;
    msg.msg_iovlen = bufs.len().min(1024) as _;
    // SAFETY: `msg` points at `bufs`, slices the caller borrows for the whole call, and
    // `tcp` is an open socket this channel owns; the call copies the bytes into the
    // kernel before it returns and keeps no pointer to them.
    let n = unsafe {
        libc::sendmsg(
            tcp.as_raw_fd(),
            &msg,
            libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n as usize)
}

/// Keeps a sent buffer for reuse, if it is small and there is room.
fn spare(mut buf: Vec<u8>, spares: &mut Vec<Vec<u8>>) {
    if buf.capacity() > 0 && buf.capacity() <= KEEP_TX && spares.len() < SPARES {
        buf.clear();
        spares.push(buf);
    }
}

/// Every channel of a worker, and what the loop must look at after a step.
#[derive(Default)]
pub(super) struct Table {
    pub(super) chans: Vec<Option<Chan>>,
    free: Vec<u32>,
    /// Send buffers to reuse.
    pub(super) spares: Vec<Vec<u8>>,
    /// Channels with bytes to send and no send in flight (or a half-close to do).
    pub(super) to_send: Vec<u32>,
    /// Channels whose connection read all its input while receiving was paused.
    pub(super) to_resume: Vec<u32>,
    /// Channels whose connection is gone.
    pub(super) released: Vec<u32>,
}

impl Table {
    pub(super) fn insert(&mut self, chan: Chan) -> u32 {
        match self.free.pop() {
            Some(id) => {
                self.chans[id as usize] = Some(chan);
                id
            }
            None => {
                self.chans.push(Some(chan));
                (self.chans.len() - 1) as u32
            }
        }
    }

    /// Removes a channel (its socket closes); only once no operation on it is in flight.
    pub(super) fn remove(&mut self, id: u32) {
        if let Some(c) = self.chans.get_mut(id as usize).and_then(Option::take) {
            debug_assert!(!c.recv_armed && !c.send_armed);
            self.free.push(id);
        }
    }

    pub(super) fn get(&mut self, id: u32) -> Option<&mut Chan> {
        self.chans.get_mut(id as usize)?.as_mut()
    }

    pub(super) fn live(&self) -> usize {
        self.chans.len() - self.free.len()
    }

    fn chan(&mut self, id: u32) -> io::Result<&mut Chan> {
        self.get(id)
            .ok_or_else(|| io::ErrorKind::NotConnected.into())
    }
}

/// The connection's face of its channel: what `Tcp::Uring` holds.
pub(crate) struct Socket {
    table: Rc<RefCell<Table>>,
    id: u32,
    addr: Option<SocketAddr>,
}

impl Socket {
    pub(super) fn new(table: Rc<RefCell<Table>>, id: u32, addr: Option<SocketAddr>) -> Socket {
        Socket { table, id, addr }
    }

    pub(crate) fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.addr.ok_or_else(|| io::ErrorKind::NotConnected.into())
    }

    /// Half-closes once every byte written is sent.
    pub(crate) fn shutdown_write(&mut self) {
        let mut t = self.table.borrow_mut();
        let id = self.id;
        if let Some(c) = t.get(id) {
            if !c.shut_wanted {
                c.shut_wanted = true;
                t.to_send.push(id);
            }
        }
    }
}

impl Read for Socket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut t = self.table.borrow_mut();
        let id = self.id;
        let c = t.chan(id)?;
        let r = c.read(buf);
        if c.paused && c.unread() == 0 {
            c.paused = false;
            t.to_resume.push(id);
        }
        r
    }
}

impl Write for Socket {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_vectored(&[IoSlice::new(buf)])
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let mut t = self.table.borrow_mut();
        let id = self.id;
        let Table { chans, spares, .. } = &mut *t;
        let c = chans
            .get_mut(id as usize)
            .and_then(Option::as_mut)
            .ok_or(io::ErrorKind::NotConnected)?;
        if c.tx.capacity() == 0 {
            c.tx = spares.pop().unwrap_or_default();
        }
        let was_empty = c.tx.is_empty();
        let r = c.write_vectored(bufs);
        if was_empty && !c.tx.is_empty() && !c.send_armed {
            t.to_send.push(id);
        }
        r
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for Socket {
    /// The connection is gone (its slot may be reused at once): from now on its channel
    /// is driven by nothing, only finishes its sends, then closes.
    fn drop(&mut self) {
        if let Ok(mut t) = self.table.try_borrow_mut() {
            if let Some(c) = t.get(self.id) {
                c.released = Some(Instant::now() + SEND_GRACE);
            }
            t.released.push(self.id);
        }
    }
}

/// Half-closes a channel's socket (its last byte is sent).
pub(super) fn shutdown(c: &mut Chan) {
    c.shut_done = true;
    let _ = c.tcp.shutdown(Shutdown::Write);
}
