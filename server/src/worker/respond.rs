//! The plain HTTP phase: a response written as the socket takes it, a file read a
//! chunk at a time as the socket drains; then a half-close and a linger.

use std::fs::File;
use std::io::{self, Write};
use std::time::Instant;

use log::debug;

use super::linger::{self, Linger};
use super::state::{would_block, Cx, Io, Phase};
use crate::http::{self, HttpResponse};
use crate::shared::Shared;

/// A file is sent in chunks of this size.
const FILE_CHUNK: usize = 64 * 1024;

pub(super) struct Respond {
    out: Vec<u8>,
    pos: usize,
    body: Option<(File, u64)>,
    /// A peer that does not read the response in time is dropped.
    deadline: Instant,
}

impl Respond {
    /// Starts sending `response`.
    pub(super) fn start(
        response: HttpResponse,
        io: &mut Io,
        cx: &mut Cx<'_>,
    ) -> Option<Box<dyn Phase>> {
        Box::new(Respond {
            out: response.head,
            pos: 0,
            body: response.body,
            deadline: cx.now + cx.shared.config.idle_timeout(),
        })
        .step(io, cx)
    }

    /// Starts sending a response given as its bytes.
    pub(super) fn bytes(
        status: u16,
        bytes: Vec<u8>,
        io: &mut Io,
        cx: &mut Cx<'_>,
    ) -> Option<Box<dyn Phase>> {
        Respond::start(HttpResponse::new(status, bytes, None), io, cx)
    }
}

impl Phase for Respond {
    fn step(mut self: Box<Self>, io: &mut Io, cx: &mut Cx<'_>) -> Option<Box<dyn Phase>> {
        loop {
            if self.pos == self.out.len() {
                self.out.clear();
                self.pos = 0;
                if let Some((file, left)) = &mut self.body {
                    if *left > 0 && http::read_chunk(file, left, &mut self.out, FILE_CHUNK).is_err()
                    {
                        return None;
                    }
                }
                if self.out.is_empty() {
                    // TLS: its last records leave first.
                    if io.stream.flush().is_err() {
                        return None;
                    }
                    if io.stream.unsent() {
                        break;
                    }
                    // All written: half-close, and drain what the peer still sends so
                    // that the response is not destroyed by a reset.
                    return Linger::start(io, linger::AFTER_HTTP, cx);
                }
            }
            match io.stream.write(&self.out[self.pos..]) {
                Ok(0) => return None,
                Ok(n) => self.pos += n,
                Err(e) if would_block(&e) => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    debug!("{}: write failed: {e}", io.peer());
                    return None;
                }
            }
        }
        (cx.now < self.deadline).then_some(self)
    }

    fn deadline(&self, _: &Shared) -> Instant {
        self.deadline
    }
}
