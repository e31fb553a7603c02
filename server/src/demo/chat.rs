//! `/chat` rooms (formats in [`routes`](super::inspect)): the members of each room on
//! this instance, and, with `--redis`, the cluster link that carries every event to the
//! other instances ([`cluster`](super::cluster)).
//!
//! Alone, an event is delivered by the thread that makes it (the member's worker). In
//! a cluster, every event goes through the link's publisher, which publishes it and
//! then delivers it here, so local and remote members see the same order and counts.
//! Either way a delivery only appends to the members' bounded queues, one
//! [`PreparedMessage`] for all of them: with permessage-deflate in shared mode it is
//! compressed once for the room (by the first worker to send it), not once per member.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};

use wisp_codec::{CloseCode, Message, PreparedMessage};

use super::cluster::{Job, Link, Sink};
use super::inspect::{chat_name, plain_name, query_param, Member, Report};
use crate::handler::{Accept, Handler, HandlerFactory, Session, Upgrade};

/// The room of `/chat` without `?room=`.
pub(crate) const DEFAULT_ROOM: &str = "lobby";
/// The longest room name.
const MAX_ROOM: usize = 64;

/// The room a `/chat` request target asks for, or why it cannot have it.
pub(crate) fn room_param(target: &str) -> Result<String, String> {
    match query_param(target, "room") {
        None => Ok(DEFAULT_ROOM.to_string()),
        Some(r) if plain_name(r, MAX_ROOM) => Ok(r.to_string()),
        Some(_) => Err(format!(
            "bad room name: 1 to {MAX_ROOM} letters, digits, '-', '_' or '.'"
        )),
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The members of one room on this instance, on any worker.
pub(crate) struct Room {
    name: String,
    members: Mutex<Vec<Arc<Member>>>,
    /// Joins on their way through the cluster link: the room is kept meanwhile.
    pending: AtomicUsize,
}

impl Room {
    /// Queues `text` to every member as one [`PreparedMessage`]: with permessage-deflate
    /// in shared mode it is compressed once for the whole room (by the first member's
    /// worker to send it), not once per member.
    fn deliver(&self, text: &str) {
        let Ok(message) = PreparedMessage::new(Message::Text(text.to_string())) else {
            return;
        };
        let message = Arc::new(message);
        let members = lock(&self.members).clone();
        for m in &members {
            m.push_prepared(&message);
        }
    }

    fn add(&self, member: Arc<Member>) -> usize {
        let mut m = lock(&self.members);
        m.push(member);
        m.len()
    }

    fn remove(&self, member: &Arc<Member>) -> usize {
        let mut m = lock(&self.members);
        m.retain(|x| !Arc::ptr_eq(x, member));
        m.len()
    }
}

/// Every room with members on this instance, and the cluster link if there is one.
#[derive(Default)]
pub(crate) struct Rooms {
    map: Mutex<HashMap<String, Arc<Room>>>,
    link: OnceLock<Link>,
}

impl std::fmt::Debug for Rooms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rooms")
            .field("rooms", &lock(&self.map).len())
            .field("link", &self.link.get())
            .finish()
    }
}

/// A join or leave notice split around its member count (filled in by whoever knows
/// the count: the cluster-wide one comes from Redis).
fn split_count(report: impl Fn(usize) -> String) -> (String, String) {
    let marked = report(usize::MAX);
    let mark = usize::MAX.to_string();
    let (head, tail) = marked.split_once(&mark).unwrap_or((&marked, ""));
    (head.to_string(), tail.to_string())
}

const DOWN: Report<'static> = Report::Notice {
    cluster: "down",
    text: "lost the link to the other instances: until it returns, only members of this \
           instance are reached, and what the others say meanwhile is lost",
};
const UP: Report<'static> = Report::Notice {
    cluster: "up",
    text: "the link to the other instances is back",
};
const CONGESTED: Report<'static> = Report::Notice {
    cluster: "congested",
    text: "the queue to the other instances is full: your message was dropped",
};

impl Rooms {
    /// Rooms linked to the other instances through Redis at `url`.
    pub(crate) fn clustered(url: &str) -> std::io::Result<Arc<Rooms>> {
        let rooms = Arc::new(Rooms::default());
        let sink = Arc::new(RoomsSink(Arc::downgrade(&rooms)));
        let link = Link::start(url, sink)?;
        let _ = rooms.link.set(link);
        Ok(rooms)
    }

    /// The cluster link's state, if there is a link.
    pub(crate) fn link_status(&self) -> Option<super::cluster::RedisLink> {
        self.link.get().map(Link::status)
    }

    /// Publishes what is queued and stops the cluster link, if any.
    pub(crate) fn stop(&self) {
        if let Some(link) = self.link.get() {
            link.stop();
        }
    }

    /// `member` joins room `name`: the handler of its connection.
    pub(crate) fn enter(self: &Arc<Self>, name: String, member: Arc<Member>) -> Chat {
        let room = {
            let mut map = lock(&self.map);
            let room = map.entry(name.clone()).or_insert_with(|| {
                Arc::new(Room {
                    name: name.clone(),
                    members: Mutex::new(Vec::new()),
                    pending: AtomicUsize::new(0),
                })
            });
            room.pending.fetch_add(1, Ordering::AcqRel);
            Arc::clone(room)
        };
        let who = member.name.clone();
        let join = move |n| {
            Report::Join {
                who: &who,
                members: n,
            }
            .to_json()
        };
        match self.link.get() {
            None => {
                let n = room.add(Arc::clone(&member));
                room.pending.fetch_sub(1, Ordering::AcqRel);
                room.deliver(&join(n));
            }
            Some(link) => {
                let (head, tail) = split_count(join);
                let r = Arc::clone(&room);
                let m = Arc::clone(&member);
                let r2 = Arc::clone(&room);
                let _ = link.send(Job {
                    room: name,
                    delta: 1,
                    head,
                    tail,
                    before: Some(Box::new(move || {
                        r.add(m);
                    })),
                    then: Box::new(move |text| {
                        r2.pending.fetch_sub(1, Ordering::AcqRel);
                        r2.deliver(&text);
                    }),
                });
            }
        }
        Chat {
            rooms: Arc::clone(self),
            room,
            member,
        }
    }

    fn say(&self, room: &Arc<Room>, member: &Arc<Member>, text: &str) {
        let json = Report::Message {
            from: &member.name,
            text,
        }
        .to_json();
        let Some(link) = self.link.get() else {
            room.deliver(&json);
            return;
        };
        let r = Arc::clone(room);
        let job = Job {
            room: room.name.clone(),
            delta: 0,
            head: json,
            tail: String::new(),
            before: None,
            then: Box::new(move |text| r.deliver(&text)),
        };
        if link.send(job).is_err() {
            log::warn!("{}: cluster queue full, message dropped", member.name);
            member.push_text(&Arc::from(CONGESTED.to_json()));
        }
    }

    fn leave(self: &Arc<Self>, room: &Arc<Room>, member: &Arc<Member>) {
        let who = member.name.clone();
        let leave = move |n| {
            Report::Leave {
                who: &who,
                members: n,
            }
            .to_json()
        };
        let Some(link) = self.link.get() else {
            let n = room.remove(member);
            room.deliver(&leave(n));
            self.forget_if_empty(room);
            return;
        };
        let (head, tail) = split_count(leave);
        let rooms = Arc::downgrade(self);
        let r = Arc::clone(room);
        let m = Arc::clone(member);
        let _ = link.send(Job {
            room: room.name.clone(),
            delta: -1,
            head,
            tail,
            before: None,
            then: Box::new(move |text| {
                r.remove(&m);
                r.deliver(&text);
                if let Some(rooms) = rooms.upgrade() {
                    rooms.forget_if_empty(&r);
                }
            }),
        });
    }

    /// Drops `room` from the map once nobody is in it or on the way.
    fn forget_if_empty(&self, room: &Arc<Room>) {
        let mut map = lock(&self.map);
        let idle = lock(&room.members).is_empty() && room.pending.load(Ordering::Acquire) == 0;
        if idle && map.get(&room.name).is_some_and(|r| Arc::ptr_eq(r, room)) {
            map.remove(&room.name);
        }
    }

    fn room(&self, name: &str) -> Option<Arc<Room>> {
        lock(&self.map).get(name).cloned()
    }
}

/// The link's way back into the rooms (weak: the rooms own the link).
struct RoomsSink(Weak<Rooms>);

impl Sink for RoomsSink {
    fn remote(&self, room: &str, text: &str) {
        if let Some(room) = self.0.upgrade().and_then(|r| r.room(room)) {
            room.deliver(text);
        }
    }

    fn link(&self, up: bool) {
        let Some(rooms) = self.0.upgrade() else {
            return;
        };
        let all: Vec<Arc<Room>> = lock(&rooms.map).values().cloned().collect();
        let notice = if up { UP } else { DOWN }.to_json();
        for room in all {
            room.deliver(&notice);
        }
    }
}

/// `/chat`: text messages go to every member of the room (see the module docs).
pub(crate) struct Chat {
    rooms: Arc<Rooms>,
    room: Arc<Room>,
    member: Arc<Member>,
}

impl Handler for Chat {
    fn on_message(&mut self, conn: &mut Session<'_>, message: Message) {
        match message {
            Message::Text(t) => self.rooms.say(&self.room, &self.member, &t),
            Message::Binary(_) => {
                let _ = conn.close(CloseCode::UNSUPPORTED_DATA, "chat takes text only");
            }
            _ => {}
        }
    }

    fn on_end(&mut self, _: &mut Session<'_>) {
        self.rooms.leave(&self.room, &self.member);
    }
}

/// The `/chat` route, built on the public route API alone: the factory reads the room
/// and the name from the query, and the member's queue is the connection's
/// [`Sender`](crate::Sender) (`queue` messages). A bad room name is accepted, then
/// closed with 1008 and the reason.
pub(crate) fn route(rooms: Arc<Rooms>, queue: usize) -> HandlerFactory {
    Arc::new(move |up: &Upgrade<'_>| {
        Ok(match room_param(up.target()) {
            Ok(room) => {
                let name = chat_name(up.target()).unwrap_or_else(|| format!("user-{}", up.id()));
                let member = Member::new(name, up.sender_with_limit(queue));
                Accept::new(rooms.enter(room, member))
            }
            Err(reason) => {
                log::info!("#{} {}: close 1008 ({reason})", up.id(), up.target());
                Accept::new(CloseAtOnce(reason))
            }
        })
    })
}

/// Closes the connection with 1008 and its reason as soon as it opens.
pub(crate) struct CloseAtOnce(pub(crate) String);

impl Handler for CloseAtOnce {
    fn on_open(&mut self, conn: &mut Session<'_>) {
        let _ = conn.close(CloseCode::POLICY_VIOLATION, &self.0);
    }

    fn on_message(&mut self, _: &mut Session<'_>, _: Message) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_names() {
        assert_eq!(room_param("/chat"), Ok("lobby".into()));
        assert_eq!(room_param("/chat?name=a&room=b-2.x"), Ok("b-2.x".into()));
        assert!(room_param("/chat?room=").is_err());
        assert!(room_param("/chat?room=a%20b").is_err());
        assert!(room_param(&format!("/chat?room={}", "r".repeat(65))).is_err());
    }

    #[test]
    fn counts_split_where_they_go() {
        let (head, tail) = split_count(|n| {
            Report::Join {
                who: "al",
                members: n,
            }
            .to_json()
        });
        assert_eq!(
            format!("{head}7{tail}"),
            r#"{"type":"join","who":"al","members":7}"#
        );
        let (head, tail) = split_count(|n| {
            Report::Leave {
                who: "b",
                members: n,
            }
            .to_json()
        });
        assert_eq!(
            format!("{head}0{tail}"),
            r#"{"type":"leave","who":"b","members":0}"#
        );
    }

    #[test]
    fn notices_are_json() {
        let v: serde_json::Value = serde_json::from_str(&DOWN.to_json()).unwrap();
        assert_eq!(v["type"], "notice");
        assert_eq!(v["cluster"], "down");
    }
}
