//! What the link's threads share: the job queue, the link's state, the Redis names and
//! the script, the backoff (a leaf of `cluster/`: the publisher, the subscriber and the
//! link import it, it imports none of them).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use log::{info, warn};
use redis::{Client, Connection, RedisError};

/// Jobs waiting for the publisher, at most; a message over it is refused.
pub(crate) const QUEUE_LIMIT: usize = 65_536;
/// Jobs published in one pipeline, at most.
pub(super) const BATCH: usize = 512;
/// The first reconnection delay; it doubles up to [`BACKOFF_MAX`].
pub(super) const BACKOFF_MIN: Duration = Duration::from_millis(100);
/// The longest wait between two reconnection attempts.
pub(crate) const BACKOFF_MAX: Duration = Duration::from_secs(2);
/// How often the publisher proves the link alive and refreshes `wisp:alive:ID`.
pub(super) const HEARTBEAT: Duration = Duration::from_secs(1);
/// How long `wisp:alive:ID` outlives the last heartbeat: an instance gone for longer
/// no longer counts in the member totals.
pub(super) const ALIVE_MS: u64 = 5_000;
/// How long the subscriber blocks on a read before it looks at its rooms again.
pub(super) const POLL: Duration = Duration::from_millis(20);
/// How long a first join waits for its room's subscription.
pub(super) const SUBSCRIBE_WAIT: Duration = Duration::from_secs(2);
/// Connecting (and each command) gives up after this long.
pub(super) const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// KEYS: the room's hash, its channel, the alive key prefix; ARGV: instance id, its
/// member count in the room now (absolute, so a count lost in Redis heals itself),
/// text before the total, text after it, the alive key's lifetime in ms.
pub(super) const COUNT_AND_PUBLISH: &str = r"
redis.call('SET', KEYS[3] .. ARGV[1], 1, 'PX', ARGV[5])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
local mine = ARGV[2]
local total = 0
local h = redis.call('HGETALL', KEYS[1])
for i = 1, #h, 2 do
  if h[i] == ARGV[1] or redis.call('EXISTS', KEYS[3] .. h[i]) == 1 then
    total = total + tonumber(h[i + 1])
  else
    redis.call('HDEL', KEYS[1], h[i])
  end
end
redis.call('PUBLISH', KEYS[2], ARGV[1] .. ' ' .. mine .. '\n' .. ARGV[3] .. total .. ARGV[4])
return total
";

pub(super) fn channel(room: &str) -> String {
    format!("wisp:chat:{room}")
}

pub(super) fn members_key(room: &str) -> String {
    format!("wisp:members:{room}")
}

pub(super) const ALIVE_PREFIX: &str = "wisp:alive:";

/// Where the link delivers what it receives.
pub(crate) trait Sink: Send + Sync {
    /// Another instance's event for `room`, as its members receive it.
    fn remote(&self, room: &str, text: &str);
    /// The link to Redis went down (`false`) or came back (`true`).
    fn link(&self, up: bool);
}

/// One room event for the publisher.
pub(crate) struct Job {
    pub(crate) room: String,
    /// +1 for a join, -1 for a leave, 0 for a message.
    pub(crate) delta: i64,
    /// The text; for a join or leave, the part before the member count.
    pub(crate) head: String,
    /// For a join or leave, the part after the member count.
    pub(crate) tail: String,
    /// Runs on the publisher's thread before the event goes to Redis: a joining member
    /// is in the room before anything published after its join can arrive.
    pub(crate) before: Option<Box<dyn FnOnce() + Send>>,
    /// Delivers the final text locally (and does the room's bookkeeping), on the
    /// publisher's thread, after the event went to Redis or failed to.
    pub(crate) then: Box<dyn FnOnce(String) + Send>,
}

/// Why a job was not queued.
#[derive(Debug)]
pub(crate) struct Full;

#[derive(Default)]
pub(super) struct Queue {
    pub(super) jobs: VecDeque<Job>,
    pub(super) stop: bool,
}

/// What both threads share.
pub(super) struct State {
    pub(super) url: String,
    pub(super) instance: String,
    pub(super) sink: Arc<dyn Sink>,
    pub(super) queue: Mutex<Queue>,
    pub(super) queued: Condvar,
    /// Rooms with local members (or a first join on its way), for the subscriber.
    pub(super) wanted: Mutex<HashSet<String>>,
    /// Rooms the subscriber has confirmed; cleared when its connection fails.
    pub(super) subscribed: Mutex<HashSet<String>>,
    pub(super) subscribed_changed: Condvar,
    /// The last count each other instance published per room (used while cut off).
    pub(super) others: Mutex<HashMap<String, HashMap<String, u64>>>,
    pub(super) pub_up: AtomicBool,
    pub(super) sub_up: AtomicBool,
    /// The link state members were last told (`None`: nothing said yet).
    pub(super) announced: Mutex<Option<bool>>,
    /// Threads that made their first connection attempt (nothing is announced before
    /// both have).
    pub(super) tried: std::sync::atomic::AtomicUsize,
    /// Set by a thread that lost its connection: the other reconnects too.
    pub(super) reset_pub: AtomicBool,
    pub(super) stop: AtomicBool,
    /// Times the link came back after it was lost.
    pub(super) reconnections: AtomicU64,
}

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl State {
    /// Tells the sink (once per change) whether both connections are up.
    pub(super) fn update_link(&self) {
        let up = self.pub_up.load(Ordering::Acquire) && self.sub_up.load(Ordering::Acquire);
        let mut announced = lock(&self.announced);
        if announced.is_none() && self.tried.load(Ordering::Acquire) < 2 {
            return;
        }
        match *announced {
            Some(was) if was == up => return,
            None if up => info!("cluster: connected to Redis at {}", self.url),
            None => warn!(
                "cluster: Redis at {} is unreachable: serving alone until it is",
                self.url
            ),
            Some(_) if up => {
                self.reconnections.fetch_add(1, Ordering::Relaxed);
                info!("cluster: link to Redis at {} is back", self.url);
                self.sink.link(true);
            }
            Some(_) => {
                warn!(
                    "cluster: lost the link to Redis at {}: local delivery only, reconnecting",
                    self.url
                );
                self.sink.link(false);
            }
        }
        *announced = Some(up);
    }

    pub(super) fn stopping(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }
}

pub(super) fn connect(url: &str) -> Result<Connection, RedisError> {
    let client = Client::open(url)?;
    let mut con = client.get_connection_with_timeout(CONNECT_TIMEOUT)?;
    con.set_write_timeout(Some(CONNECT_TIMEOUT))?;
    con.set_read_timeout(Some(CONNECT_TIMEOUT))?;
    redis::cmd("PING").query::<()>(&mut con)?;
    Ok(con)
}

/// A capped exponential backoff.
pub(super) struct Backoff {
    pub(super) delay: Duration,
    pub(super) next: Instant,
}

impl Backoff {
    pub(super) fn new() -> Backoff {
        Backoff {
            delay: BACKOFF_MIN,
            next: Instant::now(),
        }
    }
    pub(super) fn due(&self) -> bool {
        Instant::now() >= self.next
    }
    pub(super) fn failed(&mut self) {
        self.next = Instant::now() + self.delay;
        self.delay = (self.delay * 2).min(BACKOFF_MAX);
    }
    pub(super) fn succeeded(&mut self) {
        self.delay = BACKOFF_MIN;
    }
    /// Time left before the next attempt.
    pub(super) fn left(&self) -> Duration {
        self.next.saturating_duration_since(Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let mut b = Backoff::new();
        let mut last = Duration::ZERO;
        for _ in 0..10 {
            b.failed();
            assert!(b.delay >= last && b.delay <= BACKOFF_MAX);
            last = b.delay;
        }
        assert_eq!(last, BACKOFF_MAX);
        b.succeeded();
        assert_eq!(b.delay, BACKOFF_MIN);
    }
}
