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
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;

use log::info;

mod publish;
mod state;
mod subscribe;

use publish::Publisher;
use redis::{Client, RedisError};
use state::{connect, lock, Queue, State};
pub(crate) use state::{Full, Job, Sink, QUEUE_LIMIT};
use subscribe::subscribe_loop;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_ids_differ() {
        assert_ne!(instance_id(), instance_id());
        assert_eq!(instance_id().len(), 16);
    }
}
