//! The subscribing thread: the channels of the rooms with local members, and what other
//! instances publish on them, delivered locally.

use std::sync::atomic::Ordering;
use std::thread;

use log::warn;
use redis::{Connection, RedisError};

use super::state::{channel, connect, lock, Backoff, State, POLL};

pub(super) fn subscribe_loop(state: &State) {
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
}
