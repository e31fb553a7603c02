//! Per-address limits: connections open and handshakes in progress from one IP address,
//! so that one host cannot take every slot (`--max-connections-per-ip`,
//! `--max-handshakes-per-ip`). Counted at accept, before a buffer is spent; looked at
//! once per connection and once per handshake, never per message.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

/// Why an address was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Over {
    /// It has `max_connections_per_ip` connections open.
    Connections,
    /// It has `max_handshakes_per_ip` request heads still arriving.
    Handshakes,
}

#[derive(Default)]
struct Counts {
    open: usize,
    heads: usize,
}

/// The counts of every address with a connection open.
pub(crate) struct PerIp {
    max_open: usize,
    max_heads: usize,
    counts: Mutex<HashMap<IpAddr, Counts>>,
}

impl PerIp {
    pub(crate) fn new(max_open: usize, max_heads: usize) -> PerIp {
        PerIp {
            max_open,
            max_heads,
            counts: Mutex::new(HashMap::new()),
        }
    }

    /// Counts a new connection from `ip` (its head still to come), or says which limit
    /// it would pass.
    pub(crate) fn enter(&self, ip: IpAddr) -> Result<(), Over> {
        let Ok(mut map) = self.counts.lock() else {
            return Ok(());
        };
        let c = map.entry(ip).or_default();
        if c.open >= self.max_open {
            return Err(Over::Connections);
        }
        if c.heads >= self.max_heads {
            return Err(Over::Handshakes);
        }
        c.open += 1;
        c.heads += 1;
        Ok(())
    }

    /// The connection's request head is complete.
    pub(crate) fn head_done(&self, ip: IpAddr) {
        if let Ok(mut map) = self.counts.lock() {
            if let Some(c) = map.get_mut(&ip) {
                c.heads = c.heads.saturating_sub(1);
            }
        }
    }

    /// The connection is gone (`in_head`: before its head was complete).
    pub(crate) fn leave(&self, ip: IpAddr, in_head: bool) {
        if let Ok(mut map) = self.counts.lock() {
            if let Some(c) = map.get_mut(&ip) {
                c.open = c.open.saturating_sub(1);
                if in_head {
                    c.heads = c.heads.saturating_sub(1);
                }
                if c.open == 0 {
                    map.remove(&ip);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_per_address() {
        let a: IpAddr = [127, 0, 0, 1].into();
        let b: IpAddr = [127, 0, 0, 2].into();
        let l = PerIp::new(3, 2);
        assert_eq!(l.enter(a), Ok(()));
        assert_eq!(l.enter(a), Ok(()));
        // Two heads in progress: the third handshake waits for one of them.
        assert_eq!(l.enter(a), Err(Over::Handshakes));
        assert_eq!(l.enter(b), Ok(()), "another address is not affected");
        l.head_done(a);
        assert_eq!(l.enter(a), Ok(()));
        l.head_done(a);
        l.head_done(a);
        assert_eq!(l.enter(a), Err(Over::Connections));
        l.leave(a, false);
        assert_eq!(l.enter(a), Ok(()));
        for _ in 0..3 {
            l.leave(a, true);
        }
        assert!(
            l.counts.lock().unwrap().get(&a).is_none(),
            "no entry left behind"
        );
    }
}
