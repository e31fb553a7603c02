//! The demo: the routes and the page that the `wisp-server` binary serves, built only
//! from the public API any user has (route factories, [`Handler`](crate::Handler),
//! [`Sender`](crate::Sender), [`Accept::record_frames`](crate::Accept::record_frames),
//! [`Server::serve_http`], [`Server::stats`]). [`Demo::install`] adds them to a server.
//!
//! | path | what | switch |
//! |---|---|---|
//! | `/echo` | every message back | [`Demo::echo`] |
//! | `/chat` | rooms, across instances with `--redis` | [`Demo::chat`] |
//! | `/inspect`, `/inspect?watch=ID` | every frame reported as JSON, and watchers | [`Demo::inspect`] |
//! | `GET /stats` | [`Stats`](crate::Stats) as JSON | [`Demo::stats`] |
//! | `GET /routes` | the WebSocket routes' paths as JSON, readable from any origin | [`Demo::routes`] |
//! | `GET /...` | the demo page's static files | [`Demo::web`] |
//!
//! [`Server::serve_http`]: crate::Server::serve_http
//! [`Server::stats`]: crate::Server::stats
//!
//! Each route is a [`Handler`](crate::Handler): it sees every message of its connection
//! (control frames included, already answered by the codec) and replies through its
//! [`Session`](crate::Session).
//!
//! ## `/echo`
//! Every text or binary message comes back with the same type and payload.
//!
//! ## `/inspect`
//! Echo, plus one JSON text message per frame that crossed the socket, in and out:
//!
//! ```text
//! {"type":"frame","dir":"in","fin":true,"rsv":0,"opcode":1,"masked":true,"len":5,
//!  "wire_len":11,"hex":"81 85 37 fa 21 3d 7f 9f 4d 51 58","truncated":false}
//! ```
//! - `dir`: `"in"` (from the client) or `"out"` (from the server).
//! - `fin`, `rsv` (RSV1-3 as a 3-bit number), `opcode` (number), `masked`, `len` (payload
//!   length): the header fields, decoded from the bytes.
//! - `wire_len`: the frame's size on the wire, header included.
//! - `hex`: the raw bytes exactly as they crossed the socket (client frames still masked
//!   with the client's key), lowercase, space separated; at most the first 65536 bytes,
//!   with `truncated: true` when the frame was longer.
//! - `reads`, `read_sizes` (`"in"` frames only): which of the server's reads of this
//!   connection brought the frame's first and last bytes (`[3,3]`: one read; `[3,5]`: the
//!   frame was split across three), counted from 1 (read 1 is what came with the opening
//!   handshake's last read, if anything did), and the sizes in bytes of those reads
//!   (each read's whole size, its other frames' bytes included; at most the first 16).
//!   Two frames with the same read came in one read (TCP delivered them together):
//!   `"reads":[4,4],"read_sizes":[704]`.
//!
//! `/inspect?deflate=off` declines the client's permessage-deflate offer
//! ([`Accept::deflate`](crate::Accept::deflate)): every frame of that connection goes
//! plain (RSV1 = 0), so a browser's messages show their real length forms (7-, 16- and
//! 64-bit) and masks. Without it, permessage-deflate is agreed whenever the client
//! offers it, as browsers do.
//!
//! The first message on `/inspect` is the opening handshake, both heads exactly as they
//! crossed the socket (browsers never show them to scripts), and the connection's id:
//!
//! ```text
//! {"type":"handshake","request":"GET /inspect HTTP/1.1\r\nHost: ...","response":"HTTP/1.1 101 ...","id":7}
//! ```
//!
//! On the wire, the echo of a message comes first, then the reports of every frame
//! received for it (each fragment, in order), then the report of the echo frame.
//! Pings and pongs (the automatic pong and the server's keepalive pings too) are
//! reported the same way. The report messages are
//! frames too, but they are never reported themselves (that would never end). Close
//! frames are not reported on the connection itself: once a close is sent, no more
//! messages may follow it. A watcher sees them.
//!
//! ### Commands: conversation scenarios
//! A text message that is a JSON object with a `"command"` member is not echoed: the
//! server answers with a `scenario` report naming the RFC 6455 sentences it shows (word
//! for word), then sends the scenario's frames (reported as usual):
//!
//! | command | the server sends |
//! |---|---|
//! | `{"command":"fragments","text":"Hello","fragments":3,"ping":true}` | the text as `fragments` frames (1 to 16, default 3; Text with FIN=0, Continuation frames, FIN=1 on the last), split at equal byte counts, never compressed; with `ping` (default false), a ping between each two |
//! | `{"command":"fragments","text":"Hello","fragments":3,"ping":true,"compress":true}` | (scenario `compressed fragments`; permessage-deflate must be agreed, else an `error`) the text's bytes split the same way, each piece compressed into one DEFLATE stream: RSV1 = 1 on the first fragment only (RFC 7692 §6.1), every fragment but the last ending in a sync flush (`00 00 ff ff`), the last with it stripped; the pings as above |
//! | `{"command":"ping","data":"are you there?"}` | a ping with that application data (at most 125 bytes) |
//! | `{"command":"close","code":1001,"reason":"bye"}` | a close frame with that code (default 1001; one allowed on the wire) and reason (at most 123 bytes) |
//!
//! ```text
//! {"type":"scenario","name":"ping","does":"the server sends a ping ...","rfc":[{"rfc":6455,"section":"5.5.2","text":"Upon receipt of a Ping frame, ..."}]}
//! ```
//! Each sentence names its RFC: 6455, or 7692 (permessage-deflate).
//! An unknown command, a missing or unknown field, or a value out of range gets
//! `{"type":"error","error":"bad command: unknown variant `dance`, ..."}` and nothing else.
//!
//! ## `/inspect?watch=ID`
//! A read-only socket that receives the reports of `/inspect` connection `ID` (the `id`
//! of its handshake report), including those its own socket cannot carry: its close
//! frames in both directions and the end of its TCP connection. It starts with
//! `{"type":"watching","id":7,"ended":false}`, then the reports the connection kept for
//! late watchers (its most recent 64 KiB of reports; from the start, in practice), then
//! every new one as it happens. Each report of a watcher has two more fields: `seq`, its
//! number on the connection (1 is the handshake; consecutive unless a report was too big
//! to be kept for a late watcher) and `ms`, milliseconds since the opening handshake:
//!
//! ```text
//! {"type":"handshake","request":"...","response":"...","id":7,"seq":1,"ms":0.0}
//! {"type":"frame","dir":"in","fin":true,"rsv":0,"opcode":1,"masked":true,"len":5,"wire_len":11,"hex":"...","truncated":false,"seq":2,"ms":1503.25}
//! {"type":"scenario","name":"close","does":"...","rfc":[...],"seq":5,"ms":2001.5}
//! {"type":"frame","dir":"out",...,"opcode":8,...,"close":{"code":1001,"reason":"bye"},"seq":6,"ms":2001.6}
//! {"type":"frame","dir":"in",...,"opcode":8,...,"close":{"code":1001,"reason":"bye"},"seq":7,"ms":2003.1}
//! {"type":"end","how":"closing handshake done","first":"server","sent":{"code":1001,"reason":"bye"},"received":{"code":1001,"reason":"bye"},"tcp":"the server closed it","seq":8,"ms":2003.4}
//! ```
//! - Close frames carry `close`: the code (1005 when the frame has no body) and reason.
//! - `end` is the last report: how the session ended (as in the server's log), who sent
//!   the first close frame (`"client"`, `"server"` or `null`), the close frames sent
//!   and received (`null` when there was none), and who closed TCP. The watcher is then
//!   closed with 1000 "the watched connection ended".
//! - The last 16 ended connections can still be watched: the watcher gets their
//!   record, `"ended":true`, and the close 1000.
//!
//! A watcher's request passes the same `Origin` check as any route (`--origin`), and its
//! `Origin` must also be the watched connection's (absent for both, or equal), so a page
//! cannot watch a conversation opened from another site. An id that is not a number,
//! no such connection, or another origin: close 1008 with the reason. A data message
//! from a watcher: close 1008 "a watcher is read-only".
//!
//! A watcher never slows its target: each report is appended to the watcher's bounded
//! queue ([`Demo::watch_queue`] reports) and written by the watcher's own thread. When a
//! watcher's queue is full, its backlog is replaced by
//! `{"type":"dropped","reason":"this watcher fell too far behind: later reports are dropped"}`
//! and it is closed with 1008 "too slow: outgoing queue full".
//!
//! ## `/chat`
//! `/chat?room=ROOM&name=NAME` joins room `ROOM` (default `lobby`). Every member of a
//! room receives JSON text messages:
//! - `{"type":"join","who":"NAME","members":N}` when someone joins (also yourself),
//! - `{"type":"message","from":"NAME","text":"..."}` for every text message a member
//!   of the room sends (the sender gets its own, too),
//! - `{"type":"leave","who":"NAME","members":N}` when someone leaves,
//! - with `--redis` only: `{"type":"notice","cluster":"down","text":"..."}` when the
//!   instance loses its link to Redis (members on other instances are out of reach
//!   until it returns) and `{"type":"notice","cluster":"up","text":"..."}` when it returns.
//!
//! `NAME` is `?name=...` of the request URL (letters, digits, `-`, `_`, `.`, at most 32),
//! else `user-ID`; `ROOM` takes the same letters, at most 64, and any other room name is
//! refused with close 1008. Binary messages are refused with close 1003. Each member has
//! a bounded outgoing queue ([`Demo::chat_queue`] messages); a member whose queue is full
//! (it does not read fast enough) is closed with 1008, and the others never wait for it.
//!
//! ### Many instances (`--redis`)
//! With [`Demo::redis`], the instance is one of a cluster that
//! shares its rooms through Redis pub/sub: every join, message and leave is published on
//! the room's channel, every instance with members in the room delivers it to them,
//! and `members` counts the room's members on every instance. A member sees each
//! message once, and the messages of one sender in the order sent. A joining member
//! hears everything published after its join; it may also hear a few messages sent
//! just before it (before its own join notice).
//!
//! Delivery across instances is **at most once**, as Redis pub/sub is: what is
//! published while an instance is cut off from Redis (Redis down, or the instance's
//! subscriber disconnected by Redis for reading too slowly) never reaches that
//! instance's members, and nothing is replayed when the link returns. Members of the
//! same instance keep talking meanwhile (their counts then are the instance's own plus
//! the last counts it heard from the others). A message that finds the instance's queue
//! to Redis full (65,536 events) is dropped and its sender gets a notice.

mod chat;
mod cluster;
mod files;
mod inspect;
mod scenarios;
mod watch;

use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use log::info;

use wisp_codec::extension::ServerDeflate;

use crate::config::setters;
use crate::handler::{Accept, Echo};
use crate::http::HttpResponse;
use crate::server::Server;

pub use cluster::RedisLink;
pub use inspect::{Inspect, INSPECT_MAX_HEX};
pub use watch::{ENDED_KEPT, HISTORY_BYTES};

use chat::{CloseAtOnce, Rooms};
use watch::{Inspected, Registry, Watcher};

/// The demo's settings: which of its routes a server gets, and theirs.
///
/// [`Demo::default`] is none of them; [`Demo::all`] is what the `wisp-server` binary
/// starts from: every route and the page from `./web`.
///
/// ```
/// use wisp_server::demo::Demo;
/// let d = Demo::all().stats(true);
/// assert!(d.echo && d.chat && d.inspect && d.stats);
/// assert!(!Demo::default().echo);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Demo {
    /// `/echo`: every message back.
    pub echo: bool,
    /// `/chat`: rooms (with [`Demo::redis`], shared across instances).
    pub chat: bool,
    /// `/inspect` and `/inspect?watch=ID`: every frame reported as JSON, and watchers of
    /// other `/inspect` connections (from the same origin). A debugging aid: it shows a
    /// connection its own request head, headers included.
    pub inspect: bool,
    /// Directory of the static files served to plain HTTP requests (`--web`, the demo
    /// page); it may not exist (then 404). `None`: nothing is read from the disk.
    pub web: Option<PathBuf>,
    /// Serve `GET /stats`: [`Stats`](crate::Stats) as JSON (`--stats`). Off by default:
    /// the report shows peer addresses.
    pub stats: bool,
    /// Serve `GET /routes`: the paths of the server's WebSocket routes as JSON,
    /// `{"routes":["/chat","/echo","/inspect"]}` (all of them, a user's own included), with
    /// `Access-Control-Allow-Origin: *` so the page opened from `file://` can read it
    /// and name the routes when a handshake fails with 404 (the browser hides the 404
    /// itself, whose body lists them too).
    pub routes: bool,
    /// Messages queued for one /chat member before it counts as too slow (closed with 1008).
    pub chat_queue: usize,
    /// Reports queued for one `/inspect?watch=ID` watcher before it counts as too slow
    /// (it gets a `dropped` notice and close 1008; its target never waits).
    pub watch_queue: usize,
    /// Redis to share `/chat` rooms with other instances through (`--redis
    /// redis://HOST:PORT[/DB]`); `None`: this instance alone. Delivery across instances
    /// is at most once (Redis pub/sub). The link reconnects by itself whenever Redis is
    /// unreachable, and serves its own members meanwhile.
    pub redis: Option<String>,
    /// With `redis`: start even when Redis is unreachable, serving alone until it is
    /// (`--redis-optional`). Otherwise [`Demo::install`] fails.
    pub redis_optional: bool,
}

impl Default for Demo {
    fn default() -> Self {
        Demo {
            echo: false,
            chat: false,
            inspect: false,
            web: None,
            stats: false,
            routes: false,
            chat_queue: 256,
            watch_queue: 256,
            redis: None,
            redis_optional: false,
        }
    }
}

setters!(Demo {
    echo: bool,
    chat: bool,
    inspect: bool,
    web: Option<PathBuf>,
    stats: bool,
    routes: bool,
    chat_queue: usize,
    watch_queue: usize,
    redis: Option<String>,
    redis_optional: bool,
});

impl Demo {
    /// The binary's defaults: `/echo`, `/chat`, `/inspect`, `GET /routes` and the page
    /// from `./web`.
    pub fn all() -> Demo {
        Demo {
            echo: true,
            chat: true,
            inspect: true,
            routes: true,
            web: Some(PathBuf::from("web")),
            ..Demo::default()
        }
    }

    /// Adds the demo's routes and HTTP handlers to `server`. With [`Demo::redis`] (and
    /// not [`Demo::redis_optional`]) it fails when Redis cannot be reached. Keep the
    /// returned [`Running`] until the server's `run` returns: dropping it stops the
    /// cluster link.
    pub fn install(self, server: &Server) -> io::Result<Running> {
        let rooms = match &self.redis {
            Some(url) => {
                if !self.redis_optional {
                    cluster::reachable(url).map_err(|e| {
                        io::Error::new(
                            io::ErrorKind::ConnectionRefused,
                            format!("cannot reach Redis at {url}: {e}"),
                        )
                    })?;
                }
                Rooms::clustered(url)?
            }
            None => Arc::new(Rooms::default()),
        };
        let taken =
            |e: crate::server::RouteError| io::Error::new(io::ErrorKind::AddrInUse, e.to_string());
        if self.echo {
            server
                .route("/echo", |_| Ok(Accept::new(Echo)))
                .map_err(taken)?;
        }
        if self.chat {
            let chat = chat::route(Arc::clone(&rooms), self.chat_queue);
            server.route("/chat", move |up| chat(up)).map_err(taken)?;
        }
        if self.inspect {
            let registry = Arc::new(Registry::default());
            let queue = self.watch_queue;
            server
                .route("/inspect", move |up| {
                    if watch::watch_param(up.target()).is_none() {
                        let target = registry.register(up.id(), up.origin().map(String::from));
                        let registry = Arc::clone(&registry);
                        let inspected = Inspected { target, registry };
                        let deflate = up.query_param("deflate") != Some("off");
                        // The page teaches what a browser does with its window between
                        // messages: this route lets it keep it (the server's own
                        // compressor still starts every message afresh).
                        let teaching = ServerDeflate {
                            client_no_context_takeover: false,
                            ..ServerDeflate::default()
                        };
                        return Ok(Accept::new(inspected)
                            .record_frames(true)
                            .deflate(deflate)
                            .deflate_policy(teaching));
                    }
                    let sender = up.sender_with_limit(queue);
                    Ok(match registry.attach(up.target(), up.origin(), sender) {
                        Ok((target, member)) => Accept::new(Watcher { target, member }),
                        Err(reason) => {
                            info!("#{} {}: close 1008 ({reason})", up.id(), up.target());
                            Accept::new(CloseAtOnce(reason))
                        }
                    })
                })
                .map_err(taken)?;
        }
        if self.stats {
            let stats = server.stats();
            server.serve_http(move |req| {
                let head = req.method() == "HEAD";
                (req.path() == "/stats" && (head || req.method() == "GET"))
                    .then(|| HttpResponse::json(&stats.to_json(), head))
            });
        }
        if self.routes {
            let list = server.route_list();
            server.serve_http(move |req| {
                let head = req.method() == "HEAD";
                (req.path() == "/routes" && (head || req.method() == "GET"))
                    .then(|| routes_response(&list.paths(), head))
            });
        }
        if let Some(web) = self.web {
            server.serve_http(move |req| Some(files::file_response(&web, req)));
        }
        if let Some(link) = rooms.link_status() {
            server.register_metrics(|r| r.register_collector(Box::new(link)));
        }
        Ok(Running { rooms })
    }
}

/// `GET /routes`: `{"routes":[...]}`, readable from any origin (the list is no secret:
/// an upgrade to any other path gets it in its 404).
fn routes_response(paths: &[String], head_only: bool) -> HttpResponse {
    #[derive(serde::Serialize)]
    struct Routes<'a> {
        routes: &'a [String],
    }
    let body = serde_json::to_string(&Routes { routes: paths }).unwrap_or_default();
    HttpResponse::json_with(&body, head_only, "Access-Control-Allow-Origin: *\r\n")
}

/// Connects to the Redis server at `url` (`redis://HOST:PORT[/DB]`) and pings it: the
/// check [`Demo::install`] makes before it serves. The error says why not.
///
/// ```no_run
/// if let Err(e) = wisp_server::demo::redis_reachable("redis://127.0.0.1:6379") {
///     eprintln!("no Redis: {e}");
/// }
/// ```
pub fn redis_reachable(url: &str) -> Result<(), redis::RedisError> {
    cluster::reachable(url)
}

/// The demo's running parts (the `/chat` cluster link): dropping it stops them.
#[must_use = "dropping it stops the /chat cluster link"]
#[derive(Debug)]
pub struct Running {
    rooms: Arc<Rooms>,
}

impl Running {
    /// The `/chat` cluster link to Redis (`--redis`), if there is one: up or down, and
    /// its reconnections (what `/readyz` and `/metrics` report).
    pub fn redis(&self) -> Option<RedisLink> {
        self.rooms.link_status()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.rooms.stop();
    }
}
