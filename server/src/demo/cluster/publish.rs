//! The publishing thread: every room's local events, pipelined to Redis in batches and
//! then delivered locally in the order the channel has them.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use log::warn;
use redis::{Connection, RedisError};

use super::state::{
    channel, connect, lock, members_key, Backoff, Job, State, ALIVE_MS, ALIVE_PREFIX, BATCH,
    COUNT_AND_PUBLISH, HEARTBEAT, POLL, SUBSCRIBE_WAIT,
};

pub(super) struct Publisher {
    state: Arc<State>,
    con: Option<Connection>,
    backoff: Backoff,
    /// This instance's members per room, as counted in Redis.
    mine: HashMap<String, u64>,
    last_beat: Instant,
    tried: bool,
}

impl Publisher {
    pub(super) fn new(state: Arc<State>) -> Publisher {
        Publisher {
            state,
            con: None,
            backoff: Backoff::new(),
            mine: HashMap::new(),
            last_beat: Instant::now(),
            tried: false,
        }
    }

    pub(super) fn run(mut self) {
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
