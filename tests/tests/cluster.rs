//! `/chat` across wisp-server instances through a real redis-server (`--redis`):
//! delivery exactly once and in each sender's order, rooms kept apart, cluster-wide
//! counts, Redis stopped and restarted under the instances, a subscriber cut by Redis,
//! and Redis unreachable at start.

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use wisp_codec::{CloseCode, Message};
use wisp_tests::redis::{free_port, Redis};
use wisp_tests::*;

fn instance(redis: &str, extra: &[&str]) -> Server {
    let mut args = vec!["--redis", redis, "--workers", "2"];
    args.extend_from_slice(extra);
    Server::start(&args)
}

fn json(ws: &mut Raw) -> Value {
    match next_data(ws) {
        Message::Text(t) => serde_json::from_str(&t).unwrap_or_else(|e| panic!("{t}: {e}")),
        m => panic!("expected text, got {m:?}"),
    }
}

/// Reads until a message of `kind` (skipping others, which are returned).
fn until(ws: &mut Raw, kind: &str) -> (Value, Vec<Value>) {
    let mut skipped = Vec::new();
    for _ in 0..10_000 {
        let v = json(ws);
        if v["type"] == kind {
            return (v, skipped);
        }
        skipped.push(v);
    }
    panic!("no {kind} message in 10,000");
}

fn join(s: &Server, room: &str, name: &str) -> Raw {
    let mut ws = connect(s.port, &format!("/chat?room={room}&name={name}"));
    let (v, _) = until(&mut ws, "join");
    assert_eq!(v["who"], name, "{v}");
    ws
}

fn expect_join(ws: &mut Raw, who: &str, members: u64) {
    let v = json(ws);
    assert_eq!(v["type"], "join", "{v}");
    assert_eq!(v["who"], who, "{v}");
    assert_eq!(v["members"], members, "{v}");
}

fn expect_leave(ws: &mut Raw, who: &str, members: u64) {
    let v = json(ws);
    assert_eq!(v["type"], "leave", "{v}");
    assert_eq!(v["who"], who, "{v}");
    assert_eq!(v["members"], members, "{v}");
}

fn say(ws: &mut Raw, text: &str) {
    ws.send_text(text).unwrap();
}

fn expect_message(ws: &mut Raw, from: &str, text: &str) {
    let v = json(ws);
    assert_eq!(v["type"], "message", "{v}");
    assert_eq!(v["from"], from, "{v}");
    assert_eq!(v["text"], text, "{v}");
}

fn expect_notice(ws: &mut Raw, cluster: &str) {
    let v = json(ws);
    assert_eq!(v["type"], "notice", "{v}");
    assert_eq!(v["cluster"], cluster, "{v}");
}

/// Waits for a log line containing `what` (bounded: 20 s).
fn wait_log(s: &Server, what: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(l) = s.stderr.recv_timeout(Duration::from_millis(100)) {
            if l.contains(what) {
                return l;
            }
        }
    }
    panic!("no log line with {what:?}");
}

const PER_SENDER: usize = 60;

#[test]
fn three_instances_two_rooms_every_message_once_in_order() {
    let redis = Redis::start();
    let url = redis.url();
    let s: Vec<Server> = (0..3).map(|_| instance(&url, &[])).collect();

    // Joins one at a time, each seen by the room's earlier members with the
    // cluster-wide count.
    let mut red = vec![("r0", join(&s[0], "red", "r0"))];
    let mut blue = vec![("b0", join(&s[0], "blue", "b0"))];
    for (i, name) in [(1, "r1"), (2, "r2"), (0, "r3")] {
        let ws = join(&s[i], "red", name);
        let members = red.len() as u64 + 1;
        for (_, m) in red.iter_mut() {
            expect_join(m, name, members);
        }
        red.push((name, ws));
    }
    let ws = join(&s[2], "blue", "b2");
    expect_join(&mut blue[0].1, "b2", 2);
    blue.push(("b2", ws));

    // Only instances with members in a room subscribe to it.
    assert_eq!(
        redis.command(&["PUBSUB", "NUMSUB", "wisp:chat:red"]),
        "wisp:chat:red 3"
    );
    assert_eq!(
        redis.command(&["PUBSUB", "NUMSUB", "wisp:chat:blue"]),
        "wisp:chat:blue 2"
    );

    // Everyone sends PER_SENDER messages while reading what the room says.
    let all: Vec<(&'static str, &'static str, Raw)> = red
        .into_iter()
        .map(|(n, w)| ("red", n, w))
        .chain(blue.into_iter().map(|(n, w)| ("blue", n, w)))
        .collect();
    let senders: HashMap<&str, Vec<&str>> = HashMap::from([
        ("red", vec!["r0", "r1", "r2", "r3"]),
        ("blue", vec!["b0", "b2"]),
    ]);
    let threads: Vec<_> = all
        .into_iter()
        .map(|(room, name, mut ws)| {
            let expected = senders[room].clone();
            std::thread::spawn(move || {
                for i in 0..PER_SENDER {
                    say(&mut ws, &format!("{name}:{i}"));
                }
                let mut next: HashMap<String, usize> = HashMap::new();
                for _ in 0..expected.len() * PER_SENDER {
                    let v = json(&mut ws);
                    assert_eq!(v["type"], "message", "{name} got {v}");
                    let from = v["from"].as_str().unwrap().to_string();
                    assert!(
                        expected.contains(&from.as_str()),
                        "{name} in {room} got {v}"
                    );
                    let text = v["text"].as_str().unwrap();
                    let (who, i) = text.split_once(':').unwrap();
                    assert_eq!(who, from);
                    let n = next.entry(from.clone()).or_insert(0);
                    assert_eq!(
                        i.parse::<usize>().unwrap(),
                        *n,
                        "{name}: {from} out of order"
                    );
                    *n += 1;
                }
                assert!(next.values().all(|&n| n == PER_SENDER), "{name}: {next:?}");
                (room, name, ws)
            })
        })
        .collect();
    let mut done: HashMap<&str, Raw> = HashMap::new();
    for t in threads {
        let (_, name, ws) = t.join().expect("a member thread failed");
        done.insert(name, ws);
    }

    // Leaves: the next message of every remaining member is the leave with the new
    // count (no duplicate came after the messages).
    let mut r1 = done.remove("r1").unwrap();
    r1.close(CloseCode::NORMAL, "").unwrap();
    assert_eq!(close_code(&mut r1).map(|c| c.0), Some(1000));
    for n in ["r0", "r2", "r3"] {
        expect_leave(done.get_mut(n).unwrap(), "r1", 3);
    }
    let mut b0 = done.remove("b0").unwrap();
    b0.close(CloseCode::NORMAL, "").unwrap();
    assert_eq!(close_code(&mut b0).map(|c| c.0), Some(1000));
    expect_leave(done.get_mut("b2").unwrap(), "b0", 1);
    // s[0] has no blue member any more: it unsubscribes.
    wait_until(10, "s0 to unsubscribe from blue", || {
        redis.command(&["PUBSUB", "NUMSUB", "wisp:chat:blue"]) == "wisp:chat:blue 1"
    });
    // A late joiner counts in and hears the room from then on.
    let mut late = join(&s[1], "red", "late");
    for n in ["r0", "r2", "r3"] {
        expect_join(done.get_mut(n).unwrap(), "late", 4);
    }
    say(done.get_mut("r2").unwrap(), "welcome");
    expect_message(&mut late, "r2", "welcome");
    expect_message(done.get_mut("r0").unwrap(), "r2", "welcome");
}

#[test]
fn redis_stopped_then_restarted_under_running_instances() {
    let mut redis = Redis::start();
    let port = redis.port;
    let url = redis.url();
    let a = instance(&url, &[]);
    let b = instance(&url, &[]);
    let mut x = join(&a, "lobby", "x");
    let mut z = join(&a, "lobby", "z");
    expect_join(&mut x, "z", 2);
    let mut y = join(&b, "lobby", "y");
    expect_join(&mut x, "y", 3);
    expect_join(&mut z, "y", 3);
    say(&mut x, "before");
    for m in [&mut x, &mut z, &mut y] {
        expect_message(m, "x", "before");
    }

    redis.stop();
    for m in [&mut x, &mut z, &mut y] {
        expect_notice(m, "down");
    }
    wait_log(&a, "lost the link");
    wait_log(&b, "lost the link");
    // Local delivery goes on; what x says now never reaches y (at most once).
    say(&mut x, "during");
    expect_message(&mut x, "x", "during");
    expect_message(&mut z, "x", "during");
    say(&mut y, "alone");
    expect_message(&mut y, "y", "alone");

    // Long enough an outage for the reconnection backoff to reach its cap.
    std::thread::sleep(Duration::from_secs(3));
    let restarted = Instant::now();
    let _redis = Redis::start_on(port);
    for m in [&mut x, &mut z, &mut y] {
        expect_notice(m, "up");
    }
    eprintln!(
        "cluster link back on every member {} ms after redis-server restarted",
        restarted.elapsed().as_millis()
    );
    wait_log(&a, "is back");
    // y's first message after the outage is the notice: "during" was lost, not late.
    say(&mut y, "after");
    for m in [&mut x, &mut z, &mut y] {
        expect_message(m, "y", "after");
    }
    say(&mut z, "again");
    for m in [&mut x, &mut z, &mut y] {
        expect_message(m, "z", "again");
    }
    // The counts were registered again in the new Redis.
    let mut w = join(&b, "lobby", "w");
    for m in [&mut x, &mut z, &mut y] {
        expect_join(m, "w", 4);
    }
    say(&mut w, "hi");
    expect_message(&mut x, "w", "hi");
}

#[test]
fn a_subscriber_cut_by_redis_resubscribes() {
    let redis = Redis::start();
    let a = instance(&redis.url(), &[]);
    let b = instance(&redis.url(), &[]);
    let mut x = join(&a, "lobby", "x");
    let mut y = join(&b, "lobby", "y");
    expect_join(&mut x, "y", 2);
    // What Redis does to a subscriber over its client-output-buffer-limit.
    let killed = redis.command(&["CLIENT", "KILL", "TYPE", "pubsub"]);
    assert_eq!(killed, ":2");
    for m in [&mut x, &mut y] {
        expect_notice(m, "down");
        expect_notice(m, "up");
    }
    say(&mut x, "still here");
    expect_message(&mut y, "x", "still here");
    expect_message(&mut x, "x", "still here");
}

#[test]
fn redis_unreachable_at_start() {
    let port = free_port();
    let url = format!("redis://127.0.0.1:{port}");
    let out = Command::new(binary("wisp-server"))
        .args(["--listen", "127.0.0.1:0", "--redis", &url])
        .stdout(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("wisp-server: cannot reach Redis at"),
        "{err}"
    );
    assert!(err.contains("--redis-optional"), "{err}");

    // With --redis-optional it serves alone, then joins the cluster when Redis appears.
    let a = instance(&url, &["--redis-optional"]);
    let b = instance(&url, &["--redis-optional"]);
    wait_log(&a, "serving alone");
    let mut x = join(&a, "lobby", "x");
    let mut y = join(&b, "lobby", "y");
    say(&mut x, "alone");
    expect_message(&mut x, "x", "alone");
    let _redis = Redis::start_on(port);
    expect_notice(&mut x, "up");
    expect_notice(&mut y, "up");
    say(&mut x, "together");
    expect_message(&mut x, "x", "together");
    expect_message(&mut y, "x", "together");
    say(&mut y, "yes");
    expect_message(&mut x, "y", "yes");
    expect_message(&mut y, "y", "yes");
    // Both counts were registered on connect: a third member is the third.
    let mut z = join(&b, "lobby", "z");
    expect_join(&mut x, "z", 3);
    expect_join(&mut y, "z", 3);
    say(&mut z, "z here");
    expect_message(&mut x, "z", "z here");
}
