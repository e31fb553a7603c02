//! The link of one instance to a Redis server that carries `/chat` across instances
//! (`--redis`): a publishing thread and a subscribing thread, each with its own
//! connection (a subscribed Redis connection cannot publish), both off the event loops.
//!
//! - **Publishing.** A worker never talks to Redis: it hands a [`Job`] to the publisher
//!   through a bounded queue and goes on. The publisher is the one sequencer of every
//!   room's local events: for a batch of jobs it publishes them in one pipeline, then
//!   hands each its final text (with the cluster-wide member count in it) to deliver
//!   locally, in order. A join or leave runs a Lua script that sets this instance's
//!   count in the room's hash (`wisp:members:ROOM`), sums the counts of the instances
//!   still alive (`wisp:alive:ID`, refreshed every [`HEARTBEAT`] and by every join or
//!   leave) and publishes, all atomically, so the counts in the notices follow the
//!   order of the channel.
//! - **Subscribing.** Only rooms with local members are subscribed (`wisp:chat:ROOM`); a
//!   room's first local join is published once its subscription is confirmed, so that
//!   member misses nothing published after its join. Events carry the instance id of
//!   their publisher, and an instance skips its own: local members got them already.
//! - **Faults.** When either connection fails (Redis stopped, or the subscriber cut by
//!   Redis's `client-output-buffer-limit pubsub`), local delivery goes on without Redis,
//!   the loss is logged, members get a notice ([`Sink::link`]), and both threads
//!   reconnect with a capped backoff ([`BACKOFF_MAX`]), resubscribe and re-register
//!   their counts. Redis pub/sub delivers at most once: what is published while an
//!   instance is cut off never reaches it.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use log::{info, warn};
use redis::{Client, Connection, RedisError};

/// Jobs waiting for the publisher, at most; a message over it is refused.
pub(crate) const QUEUE_LIMIT: usize = 65_536;
/// Jobs published in one pipeline, at most.
const BATCH: usize = 512;
/// The first reconnection delay; it doubles up to [`BACKOFF_MAX`].
const BACKOFF_MIN: Duration = Duration::from_millis(100);
/// The longest wait between two reconnection attempts.
pub(crate) const BACKOFF_MAX: Duration = Duration::from_secs(2);
/// How often the publisher proves the link alive and refreshes `wisp:alive:ID`.
const HEARTBEAT: Duration = Duration::from_secs(1);
/// How long `wisp:alive:ID` outlives the last heartbeat: an instance gone for longer
/// no longer counts in the member totals.
const ALIVE_MS: u64 = 5_000;
/// How long the subscriber blocks on a read before it looks at its rooms again.
const POLL: Duration = Duration::from_millis(20);
/// How long a first join waits for its room's subscription.
const SUBSCRIBE_WAIT: Duration = Duration::from_secs(2);
/// Connecting (and each command) gives up after this long.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// KEYS: the room's hash, its channel, the alive key prefix; ARGV: instance id, its
/// member count in the room now (absolute, so a count lost in Redis heals itself),
/// text before the total, text after it, the alive key's lifetime in ms.
const COUNT_AND_PUBLISH: &str = r"
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

fn channel(room: &str) -> String {
    format!("wisp:chat:{room}")
}

fn members_key(room: &str) -> String {
    format!("wisp:members:{room}")
}

const ALIVE_PREFIX: &str = "wisp:alive:";

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
struct Queue {
    jobs: VecDeque<Job>,
    stop: bool,
}

/// What both threads share.
struct State {
    url: String,
    instance: String,
    sink: Arc<dyn Sink>,
    queue: Mutex<Queue>,
    queued: Condvar,
    /// Rooms with local members (or a first join on its way), for the subscriber.
    wanted: Mutex<HashSet<String>>,
    /// Rooms the subscriber has confirmed; cleared when its connection fails.
    subscribed: Mutex<HashSet<String>>,
    subscribed_changed: Condvar,
    /// The last count each other instance published per room (used while cut off).
    others: Mutex<HashMap<String, HashMap<String, u64>>>,
    pub_up: AtomicBool,
    sub_up: AtomicBool,
    /// The link state members were last told (`None`: nothing said yet).
    announced: Mutex<Option<bool>>,
    /// Threads that made their first connection attempt (nothing is announced before
    /// both have).
    tried: std::sync::atomic::AtomicUsize,
    /// Set by a thread that lost its connection: the other reconnects too.
    reset_pub: AtomicBool,
    stop: AtomicBool,
    /// Times the link came back after it was lost.
    reconnections: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl State {
    /// Tells the sink (once per change) whether both connections are up.
    fn update_link(&self) {
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

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }
}

/// A running link: the two threads and the queue in front of the publisher.
pub(crate) struct Link {
    state: Arc<State>,
    threads: Mutex<Vec<thread::JoinHandle<()>>>,
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Link")
            .field("url", &self.state.url)
            .field("instance", &self.state.instance)
            .finish_non_exhaustive()
    }
}

/// Connects once and pings: the check the binary makes before it serves.
pub(crate) fn reachable(url: &str) -> Result<(), RedisError> {
    connect(url).map(drop)
}

fn connect(url: &str) -> Result<Connection, RedisError> {
    let client = Client::open(url)?;
    let mut con = client.get_connection_with_timeout(CONNECT_TIMEOUT)?;
    con.set_write_timeout(Some(CONNECT_TIMEOUT))?;
    con.set_read_timeout(Some(CONNECT_TIMEOUT))?;
    redis::cmd("PING").query::<()>(&mut con)?;
    Ok(con)
}

/// A random instance id (16 hex digits): std's hasher keys come from the OS.
fn instance_id() -> String {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    format!("{:016x}", h.finish())
}

impl Link {
    /// Starts both threads. The URL must parse; Redis need not be reachable yet.
    pub(crate) fn start(url: &str, sink: Arc<dyn Sink>) -> std::io::Result<Link> {
        Client::open(url).map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("bad Redis URL {url}: {e}"),
            )
        })?;
        let state = Arc::new(State {
            url: url.to_string(),
            instance: instance_id(),
            sink,
            queue: Mutex::new(Queue::default()),
            queued: Condvar::new(),
            wanted: Mutex::new(HashSet::new()),
            subscribed: Mutex::new(HashSet::new()),
            subscribed_changed: Condvar::new(),
            others: Mutex::new(HashMap::new()),
            pub_up: AtomicBool::new(false),
            sub_up: AtomicBool::new(false),
            announced: Mutex::new(None),
            tried: std::sync::atomic::AtomicUsize::new(0),
            reset_pub: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            reconnections: AtomicU64::new(0),
        });
        info!("cluster: instance {} via {url}", state.instance);
        let s = Arc::clone(&state);
        let publisher = thread::Builder::new()
            .name("redis-publish".into())
            .spawn(move || Publisher::new(s).run())?;
        let s = Arc::clone(&state);
        let subscriber = thread::Builder::new()
            .name("redis-subscribe".into())
            .spawn(move || subscribe_loop(&s))?;
        Ok(Link {
            state,
            threads: Mutex::new(vec![publisher, subscriber]),
        })
    }

    /// Queues a job without waiting. A message (delta 0) is refused when the queue is
    /// full; joins and leaves are always taken (one each per connection at most).
    pub(crate) fn send(&self, job: Job) -> Result<(), Full> {
        let mut q = lock(&self.state.queue);
        if job.delta == 0 && q.jobs.len() >= QUEUE_LIMIT {
            return Err(Full);
        }
        let was_empty = q.jobs.is_empty();
        q.jobs.push_back(job);
        drop(q);
        if was_empty {
            self.state.queued.notify_one();
        }
        Ok(())
    }

    /// A handle on the link's state, for probes and metrics.
    pub(crate) fn status(&self) -> RedisLink {
        RedisLink(Arc::clone(&self.state))
    }

    /// Publishes what is queued, then stops both threads and waits for them.
    pub(crate) fn stop(&self) {
        lock(&self.state.queue).stop = true;
        self.state.queued.notify_all();
        let threads = std::mem::take(&mut *lock(&self.threads));
        for t in threads {
            let _ = t.join();
        }
    }
}

/// The state of the demo's Redis link (`--redis`), from
/// [`Running::redis`](super::Running::redis): for a readiness probe and for `/metrics`
/// (`wisp_redis_link_up`, `wisp_redis_reconnections_total`). Cloneable and `Send`.
#[derive(Clone)]
pub struct RedisLink(Arc<State>);

impl std::fmt::Debug for RedisLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisLink")
            .field("up", &self.up())
            .field("reconnections", &self.reconnections())
            .finish()
    }
}

impl RedisLink {
    /// Both connections to Redis (the publisher's and the subscriber's) are up now.
    pub fn up(&self) -> bool {
        self.0.pub_up.load(Ordering::Acquire) && self.0.sub_up.load(Ordering::Acquire)
    }

    /// Times the link came back after it was lost.
    pub fn reconnections(&self) -> u64 {
        self.0.reconnections.load(Ordering::Relaxed)
    }
}

impl Collector for RedisLink {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let up = ConstGauge::new(i64::from(self.up()));
        let m = encoder.encode_descriptor(
            "wisp_redis_link_up",
            "1 while both connections to Redis (--redis) are up, else 0",
            None,
            up.metric_type(),
        )?;
        up.encode(m)?;
        let again = ConstCounter::new(self.reconnections());
        let m = encoder.encode_descriptor(
            "wisp_redis_reconnections",
            "Times the link to Redis came back after it was lost",
            None,
            again.metric_type(),
        )?;
        again.encode(m)
    }
}

/// A capped exponential backoff.
struct Backoff {
    delay: Duration,
    next: Instant,
}

impl Backoff {
    fn new() -> Backoff {
        Backoff {
            delay: BACKOFF_MIN,
            next: Instant::now(),
        }
    }
    fn due(&self) -> bool {
        Instant::now() >= self.next
    }
    fn failed(&mut self) {
        self.next = Instant::now() + self.delay;
        self.delay = (self.delay * 2).min(BACKOFF_MAX);
    }
    fn succeeded(&mut self) {
        self.delay = BACKOFF_MIN;
    }
    /// Time left before the next attempt.
    fn left(&self) -> Duration {
        self.next.saturating_duration_since(Instant::now())
    }
}

struct Publisher {
    state: Arc<State>,
    con: Option<Connection>,
    backoff: Backoff,
    /// This instance's members per room, as counted in Redis.
    mine: HashMap<String, u64>,
    last_beat: Instant,
    tried: bool,
}

impl Publisher {
    fn new(state: Arc<State>) -> Publisher {
        Publisher {
            state,
            con: None,
            backoff: Backoff::new(),
            mine: HashMap::new(),
            last_beat: Instant::now(),
            tried: false,
        }
    }

    fn run(mut self) {
        loop {
            let (batch, stop) = self.next_batch();
            if self.state.reset_pub.swap(false, Ordering::AcqRel) && self.con.is_some() {
                self.lost("the subscriber lost its connection");
            }
            if self.con.is_none() && self.backoff.due() && !(stop && batch.is_empty()) {
                self.reconnect();
            }
            if self.last_beat.elapsed() >= HEARTBEAT && self.con.is_some() {
                if let Err(e) = self.beat() {
                    self.lost(&e.to_string());
                }
            }
            if !batch.is_empty() {
                self.publish(batch);
            }
            if stop {
                if let Some(con) = &mut self.con {
                    let _ = redis::cmd("DEL")
                        .arg(format!("{ALIVE_PREFIX}{}", self.state.instance))
                        .query::<()>(con);
                }
                self.state.stop.store(true, Ordering::Release);
                return;
            }
        }
    }

    /// Waits for jobs (at most until the next heartbeat or reconnection attempt).
    fn next_batch(&mut self) -> (Vec<Job>, bool) {
        let wait = if self.con.is_some() {
            HEARTBEAT.saturating_sub(self.last_beat.elapsed())
        } else {
            self.backoff.left()
        }
        .max(Duration::from_millis(5));
        let mut q = lock(&self.state.queue);
        if q.jobs.is_empty() && !q.stop {
            q = self
                .state
                .queued
                .wait_timeout(q, wait)
                .map_or_else(|e| e.into_inner().0, |r| r.0);
        }
        let n = q.jobs.len().min(BATCH);
        (q.jobs.drain(..n).collect(), q.stop && q.jobs.is_empty())
    }

    fn beat(&mut self) -> Result<(), RedisError> {
        self.last_beat = Instant::now();
        let Some(con) = &mut self.con else {
            return Ok(());
        };
        redis::cmd("SET")
            .arg(format!("{ALIVE_PREFIX}{}", self.state.instance))
            .arg(1)
            .arg("PX")
            .arg(ALIVE_MS)
            .query::<()>(con)
    }

    fn reconnect(&mut self) {
        let first = !self.tried;
        self.tried = true;
        let result = connect(&self.state.url).and_then(|con| {
            self.con = Some(con);
            self.beat()?;
            // Redis may have restarted empty, or dropped us from the totals meanwhile.
            let con = self.con.as_mut().expect("just set");
            let mut pipe = redis::pipe();
            for (room, n) in &self.mine {
                pipe.cmd("HSET")
                    .arg(members_key(room))
                    .arg(&self.state.instance)
                    .arg(*n)
                    .ignore();
            }
            pipe.query::<()>(con)
        });
        if first {
            self.state.tried.fetch_add(1, Ordering::AcqRel);
        }
        match result {
            Ok(()) => {
                self.backoff.succeeded();
                self.state.pub_up.store(true, Ordering::Release);
                self.state.update_link();
            }
            Err(e) => {
                self.con = None;
                self.backoff.failed();
                if self.state.pub_up.swap(false, Ordering::AcqRel) {
                    warn!("cluster: publisher: {e}");
                }
                self.state.update_link();
            }
        }
    }

    fn lost(&mut self, why: &str) {
        self.con = None;
        self.backoff.failed();
        if self.state.pub_up.swap(false, Ordering::AcqRel) {
            warn!("cluster: publisher lost its connection: {why}");
        }
        self.state.update_link();
    }

    /// Waits until the subscriber has confirmed `room` (or lost its connection).
    fn wait_subscribed(&self, room: &str) {
        let deadline = Instant::now() + SUBSCRIBE_WAIT;
        let mut s = lock(&self.state.subscribed);
        while !s.contains(room)
            && self.state.sub_up.load(Ordering::Acquire)
            && Instant::now() < deadline
        {
            s = self
                .state
                .subscribed_changed
                .wait_timeout(s, POLL)
                .map_or_else(|e| e.into_inner().0, |r| r.0);
        }
    }

    fn publish(&mut self, mut batch: Vec<Job>) {
        for job in &mut batch {
            if let Some(f) = job.before.take() {
                f();
            }
        }
        // First joins of a room: subscribe before the join goes out.
        let mut new_rooms = Vec::new();
        for job in &batch {
            if job.delta > 0
                && self.mine.get(&job.room).copied().unwrap_or(0) == 0
                && lock(&self.state.wanted).insert(job.room.clone())
            {
                new_rooms.push(job.room.clone());
            }
        }
        if self.con.is_some() {
            for room in &new_rooms {
                self.wait_subscribed(room);
            }
        }
        // Each join or leave carries this instance's count after it.
        let mut counts = Vec::new();
        let mut running: HashMap<&str, u64> = HashMap::new();
        for job in batch.iter().filter(|j| j.delta != 0) {
            let n = running
                .entry(&job.room)
                .or_insert_with(|| self.mine.get(&job.room).copied().unwrap_or(0));
            *n = n.saturating_add_signed(job.delta);
            counts.push(*n);
        }
        let mut totals = None;
        if let Some(con) = self.con.as_mut() {
            let mut pipe = redis::pipe();
            let mut counts = counts.iter();
            for job in &batch {
                if job.delta == 0 {
                    pipe.cmd("PUBLISH")
                        .arg(channel(&job.room))
                        .arg(format!("{} -\n{}", self.state.instance, job.head))
                        .ignore();
                } else {
                    pipe.cmd("EVAL")
                        .arg(COUNT_AND_PUBLISH)
                        .arg(3)
                        .arg(members_key(&job.room))
                        .arg(channel(&job.room))
                        .arg(ALIVE_PREFIX)
                        .arg(&self.state.instance)
                        .arg(counts.next().copied().unwrap_or(0))
                        .arg(&job.head)
                        .arg(&job.tail)
                        .arg(ALIVE_MS);
                }
            }
            match pipe.query::<Vec<u64>>(con) {
                Ok(t) => totals = Some(t),
                Err(e) => self.lost(&e.to_string()),
            }
        }
        let mut totals = totals.map(Vec::into_iter);
        for job in batch {
            if job.delta == 0 {
                (job.then)(job.head);
                continue;
            }
            let n = self.mine.entry(job.room.clone()).or_insert(0);
            *n = n.saturating_add_signed(job.delta);
            let mine = *n;
            let total = totals
                .as_mut()
                .and_then(Iterator::next)
                .unwrap_or_else(|| mine + self.others(&job.room));
            if mine == 0 {
                self.mine.remove(&job.room);
                lock(&self.state.wanted).remove(&job.room);
            } else if job.delta > 0 {
                lock(&self.state.wanted).insert(job.room.clone());
            }
            (job.then)(format!("{}{total}{}", job.head, job.tail));
        }
    }

    fn others(&self, room: &str) -> u64 {
        lock(&self.state.others)
            .get(room)
            .map_or(0, |m| m.values().sum())
    }
}

fn subscribe_loop(state: &State) {
    let mut backoff = Backoff::new();
    let mut tried = false;
    while !state.stopping() {
        if !backoff.due() {
            thread::sleep(backoff.left().min(POLL));
            continue;
        }
        let first = !tried;
        tried = true;
        let err = match connect(&state.url) {
            Ok(mut con) => {
                if first {
                    state.tried.fetch_add(1, Ordering::AcqRel);
                }
                backoff.succeeded();
                session(state, &mut con)
            }
            Err(e) => {
                if first {
                    state.tried.fetch_add(1, Ordering::AcqRel);
                }
                Some(e)
            }
        };
        lock(&state.subscribed).clear();
        state.subscribed_changed.notify_all();
        if state.stopping() {
            return;
        }
        backoff.failed();
        if state.sub_up.swap(false, Ordering::AcqRel) {
            warn!(
                "cluster: subscriber lost its connection: {}",
                err.map_or_else(String::new, |e| e.to_string())
            );
            state.reset_pub.store(true, Ordering::Release);
            state.queued.notify_one();
        }
        state.update_link();
    }
}

/// Serves one subscriber connection until it fails (the error) or the link stops.
fn session(state: &State, con: &mut Connection) -> Option<RedisError> {
    if let Err(e) = con.set_read_timeout(Some(POLL)) {
        return Some(e);
    }
    let mut pubsub = con.as_pubsub();
    state.sub_up.store(true, Ordering::Release);
    state.update_link();
    while !state.stopping() {
        let wanted = lock(&state.wanted).clone();
        let current = lock(&state.subscribed).clone();
        let add: Vec<&String> = wanted.difference(&current).collect();
        let gone: Vec<&String> = current.difference(&wanted).collect();
        if !add.is_empty() {
            let channels: Vec<String> = add.iter().map(|r| channel(r)).collect();
            if let Err(e) = pubsub.subscribe(&channels) {
                return Some(e);
            }
        }
        if !gone.is_empty() {
            let channels: Vec<String> = gone.iter().map(|r| channel(r)).collect();
            if let Err(e) = pubsub.unsubscribe(&channels) {
                return Some(e);
            }
            let mut others = lock(&state.others);
            for r in &gone {
                others.remove(*r);
            }
        }
        if !add.is_empty() || !gone.is_empty() {
            *lock(&state.subscribed) = wanted;
            state.subscribed_changed.notify_all();
        }
        match pubsub.get_message() {
            Ok(msg) => {
                let room = msg.get_channel_name();
                let room = room.strip_prefix("wisp:chat:").unwrap_or(room);
                let payload = msg.get_payload_bytes();
                if let Some((inst, count, text)) = parse(payload) {
                    if inst == state.instance {
                        continue;
                    }
                    if let Some(n) = count {
                        lock(&state.others)
                            .entry(room.to_string())
                            .or_default()
                            .insert(inst.to_string(), n);
                    }
                    state.sink.remote(room, text);
                }
            }
            Err(e) if e.is_timeout() => {}
            Err(e) => return Some(e),
        }
    }
    None
}

/// Splits a published payload `INSTANCE COUNT\nTEXT` (`COUNT` is `-` for a message).
fn parse(payload: &[u8]) -> Option<(&str, Option<u64>, &str)> {
    let text = std::str::from_utf8(payload).ok()?;
    let (head, body) = text.split_once('\n')?;
    let (inst, count) = head.split_once(' ')?;
    let count = match count {
        "-" => None,
        n => Some(n.parse().ok()?),
    };
    Some((inst, count, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_parse() {
        assert_eq!(
            parse(b"abc 3\n{\"type\":\"join\"}"),
            Some(("abc", Some(3), "{\"type\":\"join\"}"))
        );
        assert_eq!(parse(b"abc -\nhi\nthere"), Some(("abc", None, "hi\nthere")));
        assert_eq!(parse(b"abc x\nhi"), None);
        assert_eq!(parse(b"no newline"), None);
        assert_eq!(parse(b"\xff -\nhi"), None);
    }

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

    #[test]
    fn instance_ids_differ() {
        assert_ne!(instance_id(), instance_id());
        assert_eq!(instance_id().len(), 16);
    }
}
