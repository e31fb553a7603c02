//! The socket a connection's threads share: its own module, below both the session loop
//! (`server.rs`) and the routes that write to it (`routes.rs`).

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;

/// A `TcpStream` shared by a connection's thread(s) and the server's registry, without
/// duplicating its file descriptor (10,000 connections must fit in the fd limit).
#[derive(Debug, Clone)]
pub struct SharedStream(pub(crate) Arc<TcpStream>);

impl SharedStream {
    /// Wakes a thread blocked reading this socket: `shutdown(SHUT_RD)`. Reads return
    /// what is already received, then 0 at once instead of blocking.
    pub fn wake(&self) {
        let _ = self.0.shutdown(Shutdown::Read);
    }

    pub(crate) fn tcp(&self) -> &TcpStream {
        &self.0
    }
}

impl Read for SharedStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self.0).read(buf)
    }
}

impl Write for SharedStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self.0).write(buf)
    }
    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        (&*self.0).write_vectored(bufs)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
