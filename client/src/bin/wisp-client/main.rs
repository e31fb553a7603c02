//! The `wisp-client` binary: see `wisp-client --help`.

mod autobahn;
mod frames;
mod output;

use std::collections::VecDeque;
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use clap::error::ErrorKind;
use clap::Parser;
use output::Output;
use wisp_client::http2::Http2;
use wisp_client::{
    connect_with, parse_url, Backoff, Client, CloseCode, Config, DeflateMode, Error, Event,
    Message, Options, Proxy, ProxyUrl, Reconnecting,
};

const AFTER_HELP: &str = "\
Without --send, every line of stdin goes out as a text message and messages come out
on stdout, until stdin ends, the server closes, or Ctrl-C (which closes with 1000).
With --slash, stdin lines /ping [text], /pong [text] and /close [code [reason]] send
those frames instead, and //text sends /text (off by default, so that piped data
starting with / goes out as it is).

HTTP/2 (RFC 8441): --http2 opens the socket as an extended CONNECT on an HTTP/2
stream (h2 with ALPN for wss://, h2c by prior knowledge for ws://) when the server
advertises SETTINGS_ENABLE_CONNECT_PROTOCOL, else the HTTP/1.1 upgrade as usual;
--http2=only fails instead. stderr says which it was.

Proxies: --proxy URL (http://[user:pass@]host:port, socks5://..., socks5h://... for
DNS on the proxy); without it, HTTPS_PROXY (wss://), HTTP_PROXY (ws://), ALL_PROXY
and NO_PROXY as curl reads them, lower-case names first; --no-proxy ignores them.

Exit status: 0 after a clean close (code 1000, or none); 1 otherwise, with the close
code and reason (or the error) on stderr; 2 for bad arguments; 130 after Ctrl-C.";

/// A WebSocket client (RFC 6455) on std::net.
#[derive(Parser, Debug)]
#[command(name = "wisp-client", version, after_help = AFTER_HELP)]
struct Args {
    /// ws:// or wss://host[:port]/path
    #[arg(value_name = "URL", value_parser = ws_url, required_unless_present = "autobahn")]
    url: Option<String>,

    /// Send TEXT (repeatable); then wait for as many messages back, print them, and close
    #[arg(long = "send", value_name = "TEXT")]
    sends: Vec<String>,

    /// Send the messages as binary instead of text
    #[arg(long)]
    binary: bool,

    /// Send each --send message N times
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = count)]
    count: u64,

    /// Print every frame's header fields and wire bytes (masked as sent) on stderr
    #[arg(long)]
    show_frames: bool,

    /// Add a request header, 'Name: value' (repeatable), as in wscat and websocat
    #[arg(short = 'H', long = "header", value_name = "'NAME: VALUE'", value_parser = header)]
    headers: Vec<(String, String)>,

    /// Offer a subprotocol (repeatable)
    #[arg(long = "subprotocol", value_name = "NAME")]
    protocols: Vec<String>,

    /// Which permessage-deflate (RFC 7692) to offer: takeover (a window kept across
    /// messages allowed both ways), shared (no window kept either way: less memory on
    /// both sides) or off
    #[arg(long, value_name = "MODE", default_value = "takeover", value_parser = deflate_mode)]
    deflate: DeflateMode,

    /// Do not offer permessage-deflate (the same as --deflate off)
    #[arg(long)]
    no_deflate: bool,

    /// Run the Autobahn|Testsuite fuzzingserver cases at URL
    #[arg(long, value_name = "URL", conflicts_with = "url", value_parser = ws_url)]
    autobahn: Option<String>,

    /// Agent name for --autobahn
    #[arg(long, value_name = "NAME", default_value = "wisp-client")]
    agent: String,

    /// wss://: trust the CA certificates in this PEM file (a private CA) instead of
    /// Mozilla's roots
    #[arg(long, value_name = "FILE")]
    ca: Option<PathBuf>,

    /// wss://: trust exactly this certificate (PEM) as the server's, e.g. a
    /// self-signed one from `openssl req -x509`
    #[arg(long, value_name = "FILE", conflicts_with = "ca")]
    pin_cert: Option<PathBuf>,

    /// wss://: client certificate chain (PEM) for mutual TLS; needs --key
    #[arg(long, value_name = "FILE", requires = "key")]
    cert: Option<PathBuf>,

    /// wss://: the private key (PEM) of --cert
    #[arg(long, value_name = "FILE", requires = "cert")]
    key: Option<PathBuf>,

    /// Send this Origin header
    #[arg(long, value_name = "ORIGIN")]
    origin: Option<String>,

    /// Open the socket on an HTTP/2 stream (RFC 8441): prefer (the default of a bare
    /// --http2: else the HTTP/1.1 upgrade) or only
    #[arg(long, value_name = "MODE", num_args = 0..=1, require_equals = true,
          default_missing_value = "prefer", value_parser = http2_mode)]
    http2: Option<Http2>,

    /// Go through this proxy: http://[user:pass@]host:port, socks5://, socks5h://
    #[arg(long, value_name = "URL", value_parser = proxy_url, conflicts_with = "no_proxy")]
    proxy: Option<ProxyUrl>,

    /// Ignore HTTPS_PROXY, HTTP_PROXY, ALL_PROXY and NO_PROXY: connect directly
    #[arg(long)]
    no_proxy: bool,

    /// Send a ping every SECS seconds (0: never)
    #[arg(long, value_name = "SECS", default_value_t = 0.0, value_parser = seconds)]
    ping_interval: f64,

    /// With --ping-interval: fail when no pong comes within SECS seconds of a ping
    #[arg(long, value_name = "SECS", default_value_t = 10.0, value_parser = seconds)]
    ping_timeout: f64,

    /// Show pings and pongs received (and, with --jsonl, those sent)
    #[arg(short = 'P', long)]
    show_ping_pong: bool,

    /// Stdin mode: /ping, /pong and /close lines send those frames (see below)
    #[arg(long)]
    slash: bool,

    /// Close (1000) and exit after N messages received
    #[arg(long, value_name = "N", value_parser = count)]
    max_messages: Option<u64>,

    /// Print each message as one JSON object: time, direction, type, text or base64
    #[arg(long, conflicts_with = "timestamps")]
    jsonl: bool,

    /// Print the time (UTC) before each message
    #[arg(long)]
    timestamps: bool,

    /// Stdin mode: reconnect when the connection is lost (not after a close 1000 or
    /// 4000-4999), with exponential backoff and jitter
    #[arg(long, conflicts_with = "sends")]
    reconnect: bool,

    /// --reconnect: the longest wait between tries, in seconds
    #[arg(long, value_name = "SECS", default_value_t = 30.0, value_parser = seconds)]
    reconnect_max: f64,

    /// --reconnect: give up after N failed tries in a row (0: never)
    #[arg(long, value_name = "N", default_value_t = 0)]
    reconnect_tries: u32,

    /// --reconnect: lines typed while disconnected wait, up to N of them
    #[arg(long, value_name = "N", default_value_t = 1000)]
    queue: usize,
}

/// A proxy URL, checked before anything connects.
fn proxy_url(s: &str) -> Result<ProxyUrl, String> {
    ProxyUrl::parse(s).map_err(|e| match e {
        Error::InvalidUrl(why) => why.to_string(),
        e => e.to_string(),
    })
}

/// Seconds, fractions allowed.
fn seconds(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && (0.0..=86_400.0 * 365.0).contains(&v) => Ok(v),
        _ => Err("expected a number of seconds".into()),
    }
}

/// A URL the client can use, checked before anything connects: a malformed one is a
/// bad argument (exit 2).
fn ws_url(s: &str) -> Result<String, String> {
    match parse_url(s) {
        Ok(_) => Ok(s.to_string()),
        Err(Error::InvalidUrl(why)) => Err(why.to_string()),
        Err(e) => Err(e.to_string()),
    }
}

fn http2_mode(s: &str) -> Result<Http2, String> {
    s.parse()
}

/// A request header, `Name: value`, checked before anything connects.
fn deflate_mode(s: &str) -> Result<DeflateMode, String> {
    s.parse()
}

fn header(s: &str) -> Result<(String, String), String> {
    let (name, value) = s
        .split_once(':')
        .ok_or_else(|| format!("{s:?} is not 'Name: value'"))?;
    let (name, value) = (name.trim(), value.trim());
    wisp_codec::handshake::ClientRequest::new("h", "/", [0; 16])
        .header(name, value)
        .map_err(|e| format!("{name:?}: {e}"))?;
    Ok((name.to_string(), value.to_string()))
}

/// A count of at least 1.
fn count(s: &str) -> Result<u64, String> {
    match s.trim().parse::<u64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err("expected a whole number of at least 1".into()),
    }
}

/// Set by the first Ctrl-C: the session closes with 1000 and exits 130. A second
/// Ctrl-C exits at once.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

fn install_ctrl_c() {
    let r = ctrlc::set_handler(|| {
        if INTERRUPTED.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
    });
    if let Err(e) = r {
        eprintln!("wisp-client: cannot handle Ctrl-C: {e}");
    }
}

fn show(client: &mut Client, on: bool) {
    if on {
        let mut err = std::io::stderr().lock();
        while let Some(f) = client.poll_wire_frame() {
            let _ = writeln!(err, "{}", frames::describe(&f));
        }
    }
}

/// How long the answers to `--send` may take, and the server's close after ours.
const REPLY_WAIT: Duration = Duration::from_secs(10);
const CLOSE_WAIT: Duration = Duration::from_secs(5);
/// Reads wake up this often to notice stdin lines, pings due and Ctrl-C.
const POLL: Duration = Duration::from_millis(20);
/// How long a write waits for room in the socket before what is left stays queued:
/// short, since every read first tries the queued output again (see Session::unblock).
const WRITE_POLL: Duration = Duration::from_millis(1);

/// What a session does with messages, lines and time.
struct Session {
    out: Output,
    show_frames: bool,
    binary: bool,
    slash: bool,
    max_messages: Option<u64>,
    received: u64,
    /// The close code we sent, if we closed first (then the server's answer with the
    /// same code is a clean end).
    we_closed: Option<u16>,
    keepalive: Option<Keepalive>,
}

/// `--ping-interval`: a ping when due; a pong owed for longer than the timeout fails.
struct Keepalive {
    interval: Duration,
    timeout: Duration,
    next_ping: Instant,
    waiting_since: Option<Instant>,
}

impl Session {
    /// A message received: printed, counted. True when --max-messages is reached.
    fn received(&mut self, client: &mut Client, m: &Message) -> bool {
        show(client, self.show_frames);
        self.out.incoming(m);
        match m {
            Message::Pong(_) => {
                if let Some(k) = &mut self.keepalive {
                    k.waiting_since = None;
                }
                false
            }
            Message::Text(_) | Message::Binary(_) => {
                self.received += 1;
                self.max_messages.is_some_and(|n| self.received >= n)
            }
            _ => false,
        }
    }

    fn send_message(&mut self, client: &mut Client, m: Message) -> Result<(), Error> {
        let copy = self.out.jsonl.then(|| m.clone());
        let r = match m {
            Message::Ping(p) => client.ping(&p),
            m => client.send(m),
        }
        // A write timeout leaves the message queued whole: it goes out with the next
        // write, once `unblock` has read what holds the server back.
        .or_else(|e| if e.is_timeout() { Ok(()) } else { Err(e) });
        show(client, self.show_frames);
        if let (Ok(()), Some(m)) = (&r, copy) {
            self.out.outgoing(&m);
        }
        r
    }

    /// A stdin line: a message, or with --slash a command.
    fn line(&mut self, client: &mut Client, line: &str) -> Result<(), Error> {
        if self.slash && line.starts_with('/') && !line.starts_with("//") {
            let (cmd, rest) = line.split_once(' ').unwrap_or((line, ""));
            return match cmd {
                "/ping" => self.send_message(client, Message::Ping(rest.as_bytes().to_vec())),
                "/pong" => self.send_message(client, Message::Pong(rest.as_bytes().to_vec())),
                "/close" => {
                    let (code, reason) = rest.trim().split_once(' ').unwrap_or((rest.trim(), ""));
                    let code = match code {
                        "" => 1000,
                        c => {
                            match c.parse::<u16>() {
                                Ok(c) => c,
                                Err(_) => {
                                    eprintln!("wisp-client: /close takes a code (a number), then a reason");
                                    return Ok(());
                                }
                            }
                        }
                    };
                    let r = client.start_close(CloseCode(code), reason);
                    show(client, self.show_frames);
                    if r.is_ok() {
                        self.we_closed = Some(code);
                    }
                    r
                }
                other => {
                    eprintln!("wisp-client: unknown command {other} (/ping, /pong, /close; //text sends /text)");
                    Ok(())
                }
            };
        }
        let line = if self.slash && line.starts_with("//") {
            &line[1..]
        } else {
            line
        };
        let m = if self.binary {
            Message::Binary(line.as_bytes().to_vec())
        } else {
            Message::Text(line.to_string())
        };
        self.send_message(client, m)
    }

    /// Sends a ping when one is due; an error when the last one's pong is late.
    fn tick(&mut self, client: &mut Client) -> Result<(), Error> {
        let Some(k) = &mut self.keepalive else {
            return Ok(());
        };
        let now = Instant::now();
        if let Some(since) = k.waiting_since {
            if now.duration_since(since) > k.timeout {
                return Err(Error::Io(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("no pong within {:?} of our ping", k.timeout),
                )));
            }
        }
        if now >= k.next_ping {
            k.next_ping = now + k.interval;
            k.waiting_since.get_or_insert(now);
            return self.send_message(client, Message::Ping(b"wisp-client".to_vec()));
        }
        Ok(())
    }

    /// How the session ended: exit status and the line for stderr.
    fn ending(&self, client: &Client, error: Option<Error>) -> i32 {
        if let Some(e) = error {
            eprintln!("wisp-client: {e}");
            return 1;
        }
        match client.close_received() {
            Some(None) => 0,
            // Clean: 1000, or the code of a close we sent, answered in kind.
            Some(Some(f)) if f.code.0 == 1000 || self.we_closed == Some(f.code.0) => 0,
            Some(Some(f)) => {
                eprintln!("wisp-client: closed by the server: {} {}", f.code, f.reason);
                1
            }
            None => {
                eprintln!("wisp-client: the connection ended without a close frame (1006)");
                1
            }
        }
    }

    /// Receives until the server's close or an error; returns the error, if any.
    fn drain_until_close(&mut self, client: &mut Client) -> Option<Error> {
        // Past --max-messages nothing more is printed.
        let print = self.max_messages.is_none_or(|n| self.received < n);
        loop {
            let r = client.receive();
            show(client, self.show_frames);
            match r {
                Ok(m) => {
                    if print {
                        self.out.incoming(&m);
                    }
                }
                Err(Error::Closed) => return None,
                Err(e) => return Some(e),
            }
        }
    }

    /// While our output waits (the socket's write timeout passed), reads and prints
    /// what the server sent: a server that reads only once its own output is read
    /// (Python `websockets` does so) would otherwise wait on us as we wait on it.
    /// `None` once the output is written; else how the session ends: --max-messages
    /// reached, the server's close, an error, Ctrl-C, or neither side moving for
    /// `REPLY_WAIT`.
    fn unblock(&mut self, client: &mut Client) -> Option<i32> {
        let mut left = client.connection().pending_output_len();
        let mut moved = Instant::now();
        while left > 0 {
            if interrupted() {
                return Some(self.close_on_interrupt(client));
            }
            // The read tries the output first, then reads even if it could not go.
            match client.receive() {
                Ok(m) => {
                    moved = Instant::now();
                    if self.received(client, &m) {
                        return Some(self.close(client));
                    }
                }
                Err(Error::Timeout) => {}
                Err(Error::Closed) => return Some(self.ending(client, None)),
                Err(e) => return Some(self.ending(client, Some(e))),
            }
            let now = client.connection().pending_output_len();
            if now < left {
                moved = Instant::now();
            }
            left = now;
            if moved.elapsed() >= REPLY_WAIT {
                eprintln!(
                    "wisp-client: the server has read none of our last {left} bytes and sent nothing for {REPLY_WAIT:?}"
                );
                return Some(1);
            }
        }
        None
    }

    /// Closes with 1000 (unless a close went out already) and waits for the answer.
    fn close(&mut self, client: &mut Client) -> i32 {
        let _ = client.set_read_timeout(Some(CLOSE_WAIT));
        let _ = client.set_write_timeout(Some(CLOSE_WAIT));
        if client.connection().close_sent().is_none() {
            if let Err(e) = client.start_close(CloseCode::NORMAL, "") {
                return self.ending(client, Some(e));
            }
            self.we_closed = Some(1000);
        }
        show(client, self.show_frames);
        let err = self.drain_until_close(client);
        self.ending(client, err)
    }

    /// After Ctrl-C: close with 1000, print what still arrives before the server's
    /// close, and exit 130.
    fn close_on_interrupt(&mut self, client: &mut Client) -> i32 {
        let _ = client.set_read_timeout(Some(CLOSE_WAIT));
        let _ = client.set_write_timeout(Some(CLOSE_WAIT));
        if client.connection().close_sent().is_none() {
            let _ = client.start_close(CloseCode::NORMAL, "");
        }
        show(client, self.show_frames);
        if let Some(e) = self.drain_until_close(client) {
            eprintln!("wisp-client: interrupted; {e}");
        } else {
            eprintln!("wisp-client: interrupted; closed with 1000");
        }
        130
    }
}

/// Stdin lines, read on a thread of their own.
fn stdin_lines() -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

/// With --http2: whether the socket rides on an HTTP/2 stream, and which.
fn say_http2(a: &Args, client: &Client) {
    if a.http2.is_none() {
        return;
    }
    match client.http2_stream() {
        Some(id) => eprintln!("wisp-client: HTTP/2 stream {id} (extended CONNECT, RFC 8441)"),
        None => {
            eprintln!("wisp-client: HTTP/1.1 upgrade (the server takes no WebSocket over HTTP/2)")
        }
    }
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

fn run(a: Args) -> i32 {
    if let Some(base) = a.autobahn {
        let http2 = a.http2.unwrap_or_default();
        return match autobahn::run(&base, &a.agent, http2, |i, n| {
            eprint!("\rcase {i}/{n}");
        }) {
            Ok(n) => {
                eprintln!("\rwisp-client: ran {n} Autobahn cases; reports updated");
                0
            }
            Err(e) => {
                eprintln!("wisp-client: {e}");
                1
            }
        };
    }
    let url = a.url.clone().unwrap_or_default();
    let proxy = match (a.proxy.clone(), a.no_proxy) {
        (Some(p), _) => Proxy::Url(p),
        (None, true) => Proxy::Direct,
        (None, false) => Proxy::FromEnv,
    };
    let options = Options {
        protocols: a.protocols.clone(),
        origin: a.origin.clone(),
        config: Config {
            record_frames: a.show_frames,
            ..Config::default()
        },
        deflate: if a.no_deflate {
            DeflateMode::Off
        } else {
            a.deflate
        },
        headers: a.headers.clone(),
        ca: a.ca.clone(),
        pin_cert: a.pin_cert.clone(),
        client_cert: a.cert.clone().zip(a.key.clone()),
        proxy,
        http2: a.http2.unwrap_or_default(),
        ..Options::default()
    };
    let mut session = Session {
        out: Output {
            jsonl: a.jsonl,
            timestamps: a.timestamps,
            ping_pong: a.show_ping_pong,
        },
        show_frames: a.show_frames,
        binary: a.binary,
        slash: a.slash,
        max_messages: a.max_messages,
        received: 0,
        we_closed: None,
        keepalive: (a.ping_interval > 0.0).then(|| Keepalive {
            interval: secs(a.ping_interval),
            timeout: secs(a.ping_timeout),
            next_ping: Instant::now() + secs(a.ping_interval),
            waiting_since: None,
        }),
    };
    if a.reconnect {
        return run_reconnecting(&a, &url, options, session);
    }
    let mut client = match connect_with(&url, &options) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("wisp-client: {e}");
            return 1;
        }
    };
    say_http2(&a, &client);
    if let Some(p) = client.protocol() {
        eprintln!("wisp-client: subprotocol {p}");
    }
    install_ctrl_c();
    let s = &mut session;
    // Both ways time out so that neither a read nor a write waits for ever on a server
    // that waits on us (see Session::unblock).
    let _ = client.set_read_timeout(Some(POLL));
    let _ = client.set_write_timeout(Some(WRITE_POLL));
    if !a.sends.is_empty() {
        let mut expected = 0u64;
        for _ in 0..a.count {
            for text in &a.sends {
                if let Err(e) = s.line(&mut client, text) {
                    return s.ending(&client, Some(e));
                }
                expected += 1;
                if let Some(status) = s.unblock(&mut client) {
                    return status;
                }
            }
        }
        let deadline = Instant::now() + REPLY_WAIT;
        while s.received < expected {
            if interrupted() {
                return s.close_on_interrupt(&mut client);
            }
            let r = client.receive();
            match r {
                Ok(m) => {
                    if s.received(&mut client, &m) {
                        break;
                    }
                }
                Err(Error::Timeout) => {
                    if Instant::now() >= deadline {
                        return s.ending(&client, Some(Error::Timeout));
                    }
                }
                Err(Error::Closed) => return s.ending(&client, None),
                Err(e) => return s.ending(&client, Some(e)),
            }
        }
        return s.close(&mut client);
    }
    // Interactive: stdin lines out, messages in, until stdin ends or the server closes.
    let rx = stdin_lines();
    loop {
        if interrupted() {
            return s.close_on_interrupt(&mut client);
        }
        loop {
            match rx.try_recv() {
                Ok(line) => {
                    if let Err(e) = s.line(&mut client, &line) {
                        return s.ending(&client, Some(e));
                    }
                    if let Some(status) = s.unblock(&mut client) {
                        return status;
                    }
                }
                Err(mpsc::TryRecvError::Empty) => break,
                // stdin ended: close, printing what still arrives before the
                // server's close.
                Err(mpsc::TryRecvError::Disconnected) => return s.close(&mut client),
            }
        }
        if let Err(e) = s.tick(&mut client) {
            return s.ending(&client, Some(e));
        }
        match client.receive() {
            Ok(m) => {
                if s.received(&mut client, &m) {
                    return s.close(&mut client);
                }
            }
            Err(Error::Timeout) => {}
            Err(Error::Closed) => return s.ending(&client, None),
            Err(e) => return s.ending(&client, Some(e)),
        }
    }
}

/// `--reconnect`: stdin lines out, messages in; a lost connection is made again,
/// and lines typed meanwhile wait (up to --queue of them).
fn run_reconnecting(a: &Args, url: &str, mut options: Options, mut s: Session) -> i32 {
    options.read_timeout = Some(POLL);
    let backoff = Backoff {
        max: secs(a.reconnect_max),
        max_tries: (a.reconnect_tries > 0).then_some(a.reconnect_tries),
        ..Backoff::default()
    };
    let mut rc = Reconnecting::new(url, options, backoff);
    install_ctrl_c();
    let rx = stdin_lines();
    let mut waiting: VecDeque<String> = VecDeque::new();
    let mut stdin_open = true;
    loop {
        if interrupted() {
            let _ = rc.close(CloseCode::NORMAL, "");
            eprintln!("wisp-client: interrupted; closed with 1000");
            return 130;
        }
        while stdin_open {
            match rx.try_recv() {
                Ok(line) if waiting.len() >= a.queue => {
                    eprintln!(
                        "wisp-client: {} lines wait already; dropped {line:?}",
                        a.queue
                    );
                }
                Ok(line) => waiting.push_back(line),
                Err(mpsc::TryRecvError::Empty) => break,
                Err(mpsc::TryRecvError::Disconnected) => stdin_open = false,
            }
        }
        if let Some(client) = rc.client() {
            while let Some(line) = waiting.front() {
                // A failed send keeps the line for the next connection.
                if s.line(client, line).is_err() {
                    break;
                }
                waiting.pop_front();
            }
            if let Err(e) = s.tick(client) {
                eprintln!("wisp-client: {e}");
                let _ = client.start_close(CloseCode::GOING_AWAY, "no pong");
            }
            if !stdin_open && waiting.is_empty() {
                return s.close(client);
            }
        }
        match rc.next_event() {
            Ok(Event::Connected { reconnected }) => {
                if let Some(k) = &mut s.keepalive {
                    k.waiting_since = None;
                    k.next_ping = Instant::now() + k.interval;
                }
                let what = if reconnected {
                    "reconnected"
                } else {
                    "connected"
                };
                eprintln!("wisp-client: {what} to {url}");
                if let Some(client) = rc.client() {
                    say_http2(a, client);
                }
            }
            Ok(Event::Message(m)) => {
                let Some(client) = rc.client() else { continue };
                if s.received(client, &m) {
                    return s.close(client);
                }
            }
            Ok(Event::Disconnected { reason, retry_in }) => {
                eprintln!(
                    "wisp-client: {reason}; reconnecting in {:.2} s",
                    retry_in.as_secs_f64()
                );
            }
            Err(Error::Timeout) => {}
            Err(Error::Closed) => match rc.last_close() {
                Some(f) if f.code.0 != 1000 => {
                    eprintln!("wisp-client: closed by the server: {} {}", f.code, f.reason);
                    return 1;
                }
                _ => return 0,
            },
            Err(e) => {
                eprintln!("wisp-client: {e}");
                return 1;
            }
        }
    }
}

fn main() {
    let code = match Args::try_parse() {
        Ok(a) => run(a),
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            print!("{}", e.render());
            0
        }
        Err(e) => {
            // One line: clap's first paragraph, without its `error: ` prefix.
            let text = e.render().to_string();
            let first: Vec<&str> = text
                .lines()
                .take_while(|l| !l.is_empty())
                .map(str::trim)
                .collect();
            let first = first.join(" ");
            let first = first.strip_prefix("error: ").unwrap_or(&first);
            eprintln!("wisp-client: {first} (see --help)");
            2
        }
    };
    std::process::exit(code);
}
