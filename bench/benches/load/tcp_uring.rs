//! `tcp-uring`: a plain TCP echo on io_uring, the ceiling of the completion model as
//! `tcp-mio` is the ceiling of readiness: a multishot accept, then per connection one
//! receive into its own buffer, the send of what came back from the same buffer (the
//! rest of it again after a short send), and the next receive; every submission of a
//! turn goes in the one `io_uring_enter` that waits.

use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd};

use io_uring::{cqueue, opcode, squeue, types::Fd, IoUring};

/// Each connection's buffer (as `tcp-thr`'s).
const BUF: usize = 256 * 1024;
const ACCEPT: u64 = u64::MAX;

/// One connection: its socket and its buffer, with what is being sent of it.
struct Conn {
    stream: TcpStream,
    buf: Box<[u8]>,
    len: usize,
    sent: usize,
}

fn push(ring: &mut IoUring, e: &squeue::Entry) {
    // SAFETY: every entry points at a buffer of a `Conn` in `conns`, which is dropped
    // only on the completion of its one operation in flight (a connection has at most
    // one), and never moved meanwhile (boxed); accept points at nothing.
    while unsafe { ring.submission().push(e) }.is_err() {
        ring.submit().unwrap();
    }
}

fn recv(ring: &mut IoUring, c: &mut Conn, slot: usize) {
    let e = opcode::Recv::new(Fd(c.stream.as_raw_fd()), c.buf.as_mut_ptr(), BUF as u32)
        .build()
        .user_data((slot as u64) << 1);
    push(ring, &e);
}

fn send(ring: &mut IoUring, c: &Conn, slot: usize) {
    let rest = &c.buf[c.sent..c.len];
    let e = opcode::Send::new(Fd(c.stream.as_raw_fd()), rest.as_ptr(), rest.len() as u32)
        .flags(libc::MSG_NOSIGNAL)
        .build()
        .user_data((slot as u64) << 1 | 1);
    push(ring, &e);
}

/// Serves `l` until the process is killed.
pub fn serve(l: TcpListener) {
    let mut ring = IoUring::builder()
        .setup_single_issuer()
        .setup_coop_taskrun()
        .setup_cqsize(16 * 1024)
        .build(1024)
        .unwrap();
    let accept = opcode::AcceptMulti::new(Fd(l.as_raw_fd()))
        .build()
        .user_data(ACCEPT);
    push(&mut ring, &accept);
    let mut conns: Vec<Option<Conn>> = Vec::new();
    let mut cqes = Vec::new();
    loop {
        ring.submit_and_wait(1).unwrap();
        cqes.clear();
        cqes.extend(
            ring.completion()
                .map(|c| (c.user_data(), c.result(), c.flags())),
        );
        for &(ud, res, flags) in &cqes {
            if ud == ACCEPT {
                if !cqueue::more(flags) {
                    push(&mut ring, &accept);
                }
                if res < 0 {
                    continue;
                }
                // SAFETY: a successful accept's result is a new descriptor, ours alone.
                let stream = unsafe { TcpStream::from_raw_fd(res) };
                let _ = stream.set_nodelay(true);
                let slot = conns.iter().position(Option::is_none).unwrap_or_else(|| {
                    conns.push(None);
                    conns.len() - 1
                });
                let c = conns[slot].insert(Conn {
                    stream,
                    buf: vec![0; BUF].into_boxed_slice(),
                    len: 0,
                    sent: 0,
                });
                recv(&mut ring, c, slot);
                continue;
            }
            let slot = (ud >> 1) as usize;
            let Some(c) = conns.get_mut(slot).and_then(Option::as_mut) else {
                continue;
            };
            if res <= 0 {
                // Its one operation is over: nothing names its buffer any more.
                conns[slot] = None;
                continue;
            }
            if ud & 1 == 0 {
                (c.len, c.sent) = (res as usize, 0);
                send(&mut ring, c, slot);
            } else {
                c.sent += res as usize;
                if c.sent < c.len {
                    send(&mut ring, c, slot);
                } else {
                    recv(&mut ring, c, slot);
                }
            }
        }
    }
}
