//! The io_uring instance and its provided buffer ring: the operations the loop submits
//! (each a function here, with why its buffer outlives it), the ring of receive
//! buffers, and the check that the kernel can run the engine.

use std::alloc::{self, Layout};
use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicU16, Ordering};

use io_uring::types::{BufRingEntry, Fd};
use io_uring::{opcode, squeue, IoUring};

/// Receive buffers in a worker's ring, and the size of each: 2 MiB per worker, the
/// whole of it resident once traffic has cycled through the ring (the kernel takes the
/// buffers in turn), whatever the number of connections: an idle connection owns none
/// of it. A buffer is back in the ring as soon as the step that read it is over, so
/// 128 cover a turn of the loop over as many busy connections.
pub(super) const BUFFERS: u16 = 128;
pub(super) const BUFFER_SIZE: usize = 16 * 1024;
/// The buffer group id of the ring.
const GROUP: u16 = 0;

/// What an operation was, in its completion's `user_data` (above a channel id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Op {
    Recv = 1,
    Send = 2,
    Cancel = 3,
    Wake = 4,
}

pub(super) fn user_data(op: Op, id: u32) -> u64 {
    (op as u64) << 32 | u64::from(id)
}

pub(super) fn split(user_data: u64) -> (Option<Op>, u32) {
    let op = match user_data >> 32 {
        1 => Some(Op::Recv),
        2 => Some(Op::Send),
        3 => Some(Op::Cancel),
        4 => Some(Op::Wake),
        _ => None,
    };
    (op, user_data as u32)
}

/// The kernel's ring of receive buffers (`IORING_REGISTER_PBUF_RING`) and the buffers.
///
/// A buffer is the kernel's while its entry is in the ring, and ours from the
/// completion that names it until [`BufRing::recycle`] puts it back. The ring entries
/// and the buffers are one allocation each, freed only when the ring is unregistered
/// (or never: [`BufRing::leak`] when the loop ends with operations in flight).
pub(super) struct BufRing {
    entries: *mut BufRingEntry,
    entries_layout: Layout,
    buffers: *mut u8,
    buffers_layout: Layout,
    tail: u16,
}

// SAFETY: a `BufRing` owns its two allocations (the raw pointers are its own, not
// shared with other Rust values); it is made on the thread that binds the server and
// moved once, with its ring, to the worker thread, which alone uses it from then on.
unsafe impl Send for BufRing {}
// SAFETY: through `&BufRing` nothing is written (`data` only computes addresses; every
// write to the entries and the tail takes `&mut self`), so sharing one across threads
// (a `Server` not yet run is `Sync`, as before the engine existed) races with nothing.
unsafe impl Sync for BufRing {}

impl BufRing {
    pub(super) fn new(ring: &IoUring) -> io::Result<BufRing> {
        let entries_layout = Layout::from_size_align(
            usize::from(BUFFERS) * std::mem::size_of::<BufRingEntry>(),
            4096,
        )
        .map_err(io::Error::other)?;
        let buffers_layout = Layout::from_size_align(usize::from(BUFFERS) * BUFFER_SIZE, 4096)
            .map_err(io::Error::other)?;
        // SAFETY: both layouts have a non-zero size. Zeroed memory of this size comes
        // from fresh anonymous pages, so the buffers cost no RSS until the kernel writes
        // them.
        let (entries, buffers) = unsafe {
            (
                alloc::alloc_zeroed(entries_layout).cast::<BufRingEntry>(),
                alloc::alloc_zeroed(buffers_layout),
            )
        };
        if entries.is_null() || buffers.is_null() {
            // SAFETY: each pointer is freed only if it was allocated, with its layout.
            unsafe {
                if !entries.is_null() {
                    alloc::dealloc(entries.cast(), entries_layout);
                }
                if !buffers.is_null() {
                    alloc::dealloc(buffers, buffers_layout);
                }
            }
            return Err(io::ErrorKind::OutOfMemory.into());
        }
        let mut b = BufRing {
            entries,
            entries_layout,
            buffers,
            buffers_layout,
            tail: 0,
        };
        // SAFETY: `entries` is page-aligned and holds BUFFERS entries; it stays
        // allocated until `Drop` unregisters the group first (or forever, leaked).
        unsafe {
            ring.submitter()
                .register_buf_ring_with_flags(b.entries as u64, BUFFERS, GROUP, 0)?;
        }
        for bid in 0..BUFFERS {
            b.push(bid);
        }
        b.publish();
        Ok(b)
    }

    pub(super) fn group(&self) -> u16 {
        GROUP
    }

    /// The first `len` bytes of buffer `bid`.
    pub(super) fn data(&self, bid: u16, len: usize) -> (*const u8, usize) {
        let bid = usize::from(bid) % usize::from(BUFFERS);
        // SAFETY: `bid` < BUFFERS, so the offset stays inside the buffers' allocation.
        let ptr = unsafe { self.buffers.add(bid * BUFFER_SIZE) };
        (ptr.cast_const(), len.min(BUFFER_SIZE))
    }

    /// Gives buffer `bid` back to the kernel: nothing may read it after this.
    pub(super) fn recycle(&mut self, bid: u16) {
        self.push(bid % BUFFERS);
        self.publish();
    }

    fn push(&mut self, bid: u16) {
        let slot = usize::from(self.tail % BUFFERS);
        // SAFETY: `slot` < BUFFERS indexes the entries' allocation. The kernel reads
        // only entries between its head and the published tail; this one is past the
        // tail until `publish`, so writing it races with nothing.
        let entry = unsafe { &mut *self.entries.add(slot) };
        let (ptr, _) = self.data(bid, BUFFER_SIZE);
        entry.set_addr(ptr as u64);
        entry.set_len(BUFFER_SIZE as u32);
        entry.set_bid(bid);
        self.tail = self.tail.wrapping_add(1);
    }

    /// Publishes the entries pushed so far (a release store of the tail, which the
    /// kernel reads with an acquire load).
    fn publish(&self) {
        // SAFETY: the ring's tail is the `resv` field of its first entry, a u16
        // aligned for atomic access, inside the entries' allocation; the kernel only
        // reads it.
        unsafe {
            let tail = BufRingEntry::tail(self.entries).cast::<AtomicU16>();
            (*tail).store(self.tail, Ordering::Release);
        }
    }

    /// Leaves the ring and its buffers allocated forever: the kernel may still write
    /// them (operations were in flight when the loop ended).
    pub(super) fn leak(self) {
        std::mem::forget(self);
    }

    /// Unregisters the group, then frees its memory. Only once no receive is in flight.
    pub(super) fn free(self, ring: &IoUring) {
        if ring.submitter().unregister_buf_ring(GROUP).is_err() {
            return self.leak();
        }
        // SAFETY: the group is unregistered, so the kernel holds no pointer into
        // either allocation; each is freed with the layout it was allocated with.
        unsafe {
            alloc::dealloc(self.entries.cast(), self.entries_layout);
            alloc::dealloc(self.buffers, self.buffers_layout);
        }
        std::mem::forget(self);
    }
}

impl Drop for BufRing {
    /// A ring dropped without `free` or `leak` (a panic unwinding): its memory is
    /// leaked, since the kernel may still hold it.
    fn drop(&mut self) {}
}

/// Pushes one entry, submitting first when the submission queue is full.
fn push(ring: &mut IoUring, entry: &squeue::Entry) -> io::Result<()> {
    loop {
        // SAFETY: each caller below documents that the memory its entry points to
        // outlives the operation; the entry itself is copied into the queue.
        if unsafe { ring.submission().push(entry) }.is_ok() {
            return Ok(());
        }
        ring.submit()?;
    }
}

/// A multishot receive on `fd` into the buffer ring. It points at no memory of ours
/// but the ring (which outlives every receive: see [`BufRing`]).
pub(super) fn recv(ring: &mut IoUring, fd: RawFd, group: u16, id: u32) -> io::Result<()> {
    let e = opcode::RecvMulti::new(Fd(fd), group)
        .build()
        .user_data(user_data(Op::Recv, id));
    push(ring, &e)
}

/// A send of `len` bytes at `ptr` on `fd`.
///
/// The caller owns those bytes and keeps them alive and unchanged until this
/// operation's completion (the channel's `inflight`, which only that completion
/// replaces, and which outlives the loop if the loop ends with the send in flight).
pub(super) fn send(
    ring: &mut IoUring,
    fd: RawFd,
    ptr: *const u8,
    len: usize,
    id: u32,
) -> io::Result<()> {
    let len = u32::try_from(len).unwrap_or(u32::MAX);
    let e = opcode::Send::new(Fd(fd), ptr, len)
        .flags(libc::MSG_NOSIGNAL)
        .build()
        .user_data(user_data(Op::Send, id));
    push(ring, &e)
}

/// Cancels the operation whose user data is `target` (no memory involved).
pub(super) fn cancel(ring: &mut IoUring, target: u64) -> io::Result<()> {
    let e = opcode::AsyncCancel::new(target)
        .build()
        .user_data(user_data(Op::Cancel, 0));
    push(ring, &e)
}

/// A multishot poll for input on `fd` (the worker's waker; no memory involved).
pub(super) fn poll_in(ring: &mut IoUring, fd: RawFd) -> io::Result<()> {
    let e = opcode::PollAdd::new(Fd(fd), libc::POLLIN as u32)
        .multi(true)
        .build()
        .user_data(user_data(Op::Wake, 0));
    push(ring, &e)
}

/// A new io_uring for one worker thread (only that thread submits). `disabled`: the
/// thread that enables it (`register_enable_rings`) is the one that may submit.
pub(super) fn new_ring(disabled: bool) -> io::Result<IoUring> {
    let mut b = IoUring::builder();
    b.setup_single_issuer()
        .setup_coop_taskrun()
        .setup_cqsize(16 * 1024);
    if disabled {
        b.setup_r_disabled();
    }
    b.build(2048)
}

/// Whether this kernel can run the engine: an io_uring (not disabled), waits with a
/// timeout (`EXT_ARG`, 5.11), provided buffer rings (5.19) and multishot receives
/// (6.0). `Err` says what is missing.
pub(crate) fn check() -> Result<(), String> {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut parts = release.trim().split(['.', '-']);
    let major: u32 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    if major < 6 {
        return Err(format!(
            "kernel {} has no multishot receive (6.0 or later)",
            release.trim()
        ));
    }
    let ring = new_ring(false).map_err(|e| format!("io_uring_setup failed: {e}"))?;
    if !ring.params().is_feature_ext_arg() || !ring.params().is_feature_nodrop() {
        return Err("the kernel's io_uring lacks EXT_ARG or NODROP".into());
    }
    let bufs = BufRing::new(&ring).map_err(|e| format!("no provided buffer rings: {e}"))?;
    bufs.free(&ring);
    Ok(())
}
