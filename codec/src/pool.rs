//! Lending a [`DeflatePool`]'s compressor and inflater to a [`Connection`]: the shared
//! mode of permessage-deflate, where neither side keeps a window across messages
//! (`server_no_context_takeover` and `client_no_context_takeover` both agreed), so one
//! compressor and one inflater serve every connection of a thread, one message at a
//! time. The codec stays sans-IO: the driver owns the pool and lends it around each
//! step of a connection.

use crate::connection::Connection;
use crate::deflate::DeflatePool;

impl Connection {
    /// Lends the pool's compressor and inflater to this connection until
    /// [`return_deflate`](Connection::return_deflate), for each half that keeps no
    /// window across messages (a half with context takeover keeps its own). Call it
    /// before reading, polling or sending; without it the connection allocates its own
    /// state at first use, as it always may. Give it back before
    /// [`shrink_buffers`](Connection::shrink_buffers), which frees state kept for no
    /// window: the pool's own, while lent.
    pub fn lend_deflate(&mut self, pool: &mut DeflatePool) {
        if let Some((deflater, reassembler)) = self.deflate_halves() {
            deflater.borrow_from(pool);
            if let Some(inflater) = reassembler.inflater_mut() {
                inflater.borrow_from(pool);
            }
        }
    }

    /// Gives back what [`lend_deflate`](Connection::lend_deflate) lent (or what the
    /// connection allocated itself: into the pool when the pool has none, otherwise it
    /// is freed). A message half sent or half received keeps its state until it is
    /// done; so does a stream that failed, until the connection is dropped. After it,
    /// an idle connection without context takeover holds no deflate state.
    pub fn return_deflate(&mut self, pool: &mut DeflatePool) {
        if let Some((deflater, reassembler)) = self.deflate_halves() {
            deflater.give_back(pool);
            if let Some(inflater) = reassembler.inflater_mut() {
                inflater.give_back(pool);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use alloc::string::String;

    use crate::extension::DeflateParams;
    use crate::{Connection, DeflatePool, Message, OpCode};

    const SHARED: DeflateParams = DeflateParams {
        server_no_context_takeover: true,
        client_no_context_takeover: true,
        server_max_window_bits: 15,
        client_max_window_bits: 15,
    };

    fn pair(params: DeflateParams) -> (Connection, Connection) {
        let mut s = Connection::server(Default::default());
        let mut c = Connection::client(Default::default(), || [1, 2, 3, 4]);
        s.set_deflate(params);
        c.set_deflate(params);
        (s, c)
    }

    fn text(n: usize) -> String {
        (0..n)
            .map(|i| alloc::format!("{{\"id\":{i},\"ok\":true}}"))
            .collect()
    }

    /// Moves everything `from` has queued into `to`.
    fn pass(from: &mut Connection, to: &mut Connection) {
        while !from.pending_output_front().is_empty() {
            to.handle_input(from.pending_output_front());
            let n = from.pending_output_front().len();
            from.advance_output(n);
        }
    }

    #[test]
    fn many_connections_share_one_pool() {
        let mut pool = DeflatePool::new();
        let mut peers: alloc::vec::Vec<_> = (0..20).map(|_| pair(SHARED)).collect();
        for round in 0..3 {
            for (i, (s, c)) in peers.iter_mut().enumerate() {
                let msg = text(10 + i + round);
                c.send_text(&msg).unwrap();
                pass(c, s);
                s.lend_deflate(&mut pool);
                let got = s.poll_event().unwrap().unwrap();
                assert_eq!(got, Message::Text(msg.clone()));
                s.send(got).unwrap();
                s.return_deflate(&mut pool);
                pass(s, c);
                assert_eq!(c.poll_event(), Ok(Some(Message::Text(msg))));
                c.shrink_buffers();
                s.shrink_buffers();
                assert_eq!(s.memory_held(), 0);
            }
        }
        assert_eq!(pool.memory(), DeflatePool::MAX_MEMORY);
    }

    #[test]
    fn a_message_in_progress_keeps_its_state() {
        let mut pool = DeflatePool::new();
        let (mut s1, mut c1) = pair(SHARED);
        let (mut s2, mut c2) = pair(SHARED);
        // s1 sends half a compressed message, then s2 a whole one, then s1 its end.
        let (a, b) = (text(30), text(40));
        s1.lend_deflate(&mut pool);
        s1.send_frame(OpCode::Text, false, a.as_bytes()).unwrap();
        s1.return_deflate(&mut pool);
        assert!(s1.memory_held() > s1.pending_output_len());
        s2.lend_deflate(&mut pool);
        s2.send_text(&b).unwrap();
        s2.return_deflate(&mut pool);
        s1.lend_deflate(&mut pool);
        s1.send_frame(OpCode::Continuation, true, a.as_bytes())
            .unwrap();
        s1.return_deflate(&mut pool);
        pass(&mut s1, &mut c1);
        pass(&mut s2, &mut c2);
        assert_eq!(
            c1.poll_event(),
            Ok(Some(Message::Text(alloc::format!("{a}{a}"))))
        );
        assert_eq!(c2.poll_event(), Ok(Some(Message::Text(b.clone()))));

        // The same when receiving: c1's message arrives in two reads, c2's between.
        c1.send_text(&a).unwrap();
        c2.send_text(&b).unwrap();
        let wire = c1.pending_output_front().to_vec();
        s1.lend_deflate(&mut pool);
        s1.handle_input(&wire[..wire.len() / 2]);
        assert_eq!(s1.poll_event(), Ok(None));
        s1.return_deflate(&mut pool);
        s2.lend_deflate(&mut pool);
        pass(&mut c2, &mut s2);
        assert_eq!(s2.poll_event(), Ok(Some(Message::Text(b))));
        s2.return_deflate(&mut pool);
        s1.lend_deflate(&mut pool);
        s1.handle_input(&wire[wire.len() / 2..]);
        assert_eq!(s1.poll_event(), Ok(Some(Message::Text(a))));
        s1.return_deflate(&mut pool);
    }

    #[test]
    fn a_corrupt_stream_is_not_lent_on() {
        let mut pool = DeflatePool::new();
        let (mut s1, _) = pair(SHARED);
        let (mut s2, mut c2) = pair(SHARED);
        s1.lend_deflate(&mut pool);
        // A compressed text frame whose block type is reserved (BTYPE = 11).
        s1.handle_input(&[0xc1, 0x82, 0, 0, 0, 0, 0x07, 0x00]);
        assert!(s1.poll_event().is_err());
        s1.return_deflate(&mut pool);
        let b = text(20);
        c2.send_text(&b).unwrap();
        pass(&mut c2, &mut s2);
        s2.lend_deflate(&mut pool);
        assert_eq!(s2.poll_event(), Ok(Some(Message::Text(b))));
        s2.return_deflate(&mut pool);
    }

    #[test]
    fn takeover_halves_keep_their_own() {
        let mut pool = DeflatePool::new();
        let (mut s, mut c) = pair(DeflateParams::default());
        let msg = text(20);
        c.send_text(&msg).unwrap();
        pass(&mut c, &mut s);
        s.lend_deflate(&mut pool);
        let m = s.poll_event().unwrap().unwrap();
        s.send(m).unwrap();
        s.return_deflate(&mut pool);
        assert_eq!(pool.memory(), 0);
        assert!(s.memory_held() >= DeflatePool::MAX_MEMORY);
    }
}
