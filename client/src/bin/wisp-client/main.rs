//! The `wisp-client` binary: see `wisp-client --help`.

mod autobahn;
mod frames;

use std::io::{BufRead, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use clap::error::ErrorKind;
use clap::Parser;
use wisp_client::{connect_with, parse_url, Client, CloseCode, Config, Error, Message, Options};

const AFTER_HELP: &str = "\
Without --send, every line of stdin goes out as a text message and messages come out
on stdout, until stdin ends, the server closes, or Ctrl-C (which closes with 1000).

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

    /// Do not offer permessage-deflate (RFC 7692)
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
    ca: Option<std::path::PathBuf>,
}

/// A URL the client can use, checked before anything connects: a malformed one is a
/// bad argument (exit 2).
fn ws_url(s: &str) -> Result<String, String> {
    match parse_url(s) {
        Ok(_) => Ok(s.to_string()),
        Err(Error::InvalidUrl(why)) => Err(why),
        Err(e) => Err(e.to_string()),
    }
}

/// A request header, `Name: value`, checked before anything connects.
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

fn print_message(m: &Message) {
    let mut out = std::io::stdout().lock();
    let _ = match m {
        Message::Text(t) => writeln!(out, "{t}"),
        Message::Binary(b) => {
            let hex: Vec<String> = b.iter().take(64).map(|x| format!("{x:02x}")).collect();
            let more = if b.len() > 64 { " ..." } else { "" };
            writeln!(out, "binary({}): {}{more}", b.len(), hex.join(" "))
        }
        _ => Ok(()),
    };
    let _ = out.flush();
}

/// How the session ended: exit status and the line for stderr.
fn ending(client: &Client, error: Option<Error>) -> i32 {
    if let Some(e) = error {
        eprintln!("wisp-client: {e}");
        return 1;
    }
    match client.close_received() {
        Some(None) => 0,
        Some(Some(f)) if f.code.0 == 1000 => 0,
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

fn send(client: &mut Client, text: &str, binary: bool) -> Result<(), Error> {
    if binary {
        client.send_binary(text.as_bytes())
    } else {
        client.send_text(text)
    }
}

/// Receives until the server's close or an error; returns the error, if any.
fn drain_until_close(client: &mut Client, show_frames: bool) -> Option<Error> {
    loop {
        let r = client.receive();
        show(client, show_frames);
        match r {
            Ok(m) => print_message(&m),
            Err(Error::Closed) => return None,
            Err(e) => return Some(e),
        }
    }
}

/// How long the answers to `--send` may take, and the server's close after ours.
const REPLY_WAIT: Duration = Duration::from_secs(10);
const CLOSE_WAIT: Duration = Duration::from_secs(5);
/// Reads wake up this often to notice stdin lines and Ctrl-C.
const POLL: Duration = Duration::from_millis(20);

/// After Ctrl-C: close with 1000, print what still arrives before the server's close,
/// and exit 130.
fn close_on_interrupt(client: &mut Client, show_frames: bool) -> i32 {
    let _ = client.set_read_timeout(Some(CLOSE_WAIT));
    if client.connection().close_sent().is_none() {
        let _ = client.start_close(CloseCode::NORMAL, "");
    }
    show(client, show_frames);
    if let Some(e) = drain_until_close(client, show_frames) {
        eprintln!("wisp-client: interrupted; {e}");
    } else {
        eprintln!("wisp-client: interrupted; closed with 1000");
    }
    130
}

fn run(a: Args) -> i32 {
    if let Some(base) = a.autobahn {
        return match autobahn::run(&base, &a.agent, |i, n| {
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
    let url = a.url.unwrap_or_default();
    let options = Options {
        protocols: a.protocols,
        config: Config {
            record_frames: a.show_frames,
            ..Config::default()
        },
        deflate: !a.no_deflate,
        headers: a.headers,
        ca: a.ca,
        ..Options::default()
    };
    let mut client = match connect_with(&url, &options) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("wisp-client: {e}");
            return 1;
        }
    };
    if let Some(p) = client.protocol() {
        eprintln!("wisp-client: subprotocol {p}");
    }
    install_ctrl_c();
    if !a.sends.is_empty() {
        let mut expected = 0u64;
        for _ in 0..a.count {
            for s in &a.sends {
                if let Err(e) = send(&mut client, s, a.binary) {
                    return ending(&client, Some(e));
                }
                show(&mut client, a.show_frames);
                expected += 1;
            }
        }
        let _ = client.set_read_timeout(Some(POLL));
        let deadline = Instant::now() + REPLY_WAIT;
        let mut got = 0;
        while got < expected {
            if interrupted() {
                return close_on_interrupt(&mut client, a.show_frames);
            }
            let r = client.receive();
            show(&mut client, a.show_frames);
            match r {
                Ok(m @ (Message::Text(_) | Message::Binary(_))) => {
                    print_message(&m);
                    got += 1;
                }
                Ok(_) => {}
                Err(Error::Timeout) => {
                    if Instant::now() >= deadline {
                        return ending(&client, Some(Error::Timeout));
                    }
                }
                Err(Error::Closed) => return ending(&client, None),
                Err(e) => return ending(&client, Some(e)),
            }
        }
        let r = client.close(CloseCode::NORMAL, "");
        show(&mut client, a.show_frames);
        return ending(&client, r.err());
    }
    // Interactive: stdin lines out, messages in, until stdin ends or the server closes.
    let (tx, rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let _ = client.set_read_timeout(Some(POLL));
    loop {
        if interrupted() {
            return close_on_interrupt(&mut client, a.show_frames);
        }
        loop {
            match rx.try_recv() {
                Ok(line) => {
                    if let Err(e) = send(&mut client, &line, a.binary) {
                        show(&mut client, a.show_frames);
                        return ending(&client, Some(e));
                    }
                    show(&mut client, a.show_frames);
                }
                Err(mpsc::TryRecvError::Empty) => break,
                Err(mpsc::TryRecvError::Disconnected) => {
                    // stdin ended: close, printing what still arrives before the
                    // server's close.
                    let _ = client.set_read_timeout(Some(CLOSE_WAIT));
                    if client.connection().close_sent().is_none() {
                        if let Err(e) = client.start_close(CloseCode::NORMAL, "") {
                            return ending(&client, Some(e));
                        }
                    }
                    show(&mut client, a.show_frames);
                    let err = drain_until_close(&mut client, a.show_frames);
                    return ending(&client, err);
                }
            }
        }
        let r = client.receive();
        show(&mut client, a.show_frames);
        match r {
            Ok(m) => print_message(&m),
            Err(Error::Timeout) => {}
            Err(Error::Closed) => return ending(&client, None),
            Err(e) => return ending(&client, Some(e)),
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
