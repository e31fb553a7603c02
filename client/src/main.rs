//! The `wisp-client` binary: see `wisp-client --help`.

use std::io::{BufRead, Write};
use std::sync::mpsc;
use std::time::Duration;

use wisp_client::{connect_with, frames, Client, Config, Error, Message, Options};

const HELP: &str = "wisp-client: a WebSocket client (RFC 6455) on std::net

usage: wisp-client URL [--send TEXT]... [--binary] [--count N] [--show-frames]
                       [--subprotocol NAME]...
       wisp-client --autobahn ws://127.0.0.1:9001 [--agent NAME]

  URL                 ws://host[:port]/path (wss:// is not supported yet)
  --send TEXT         send TEXT (repeatable); then wait for as many messages back,
                      print them, and close. Without --send: every line of stdin goes
                      out as a text message, and messages come out on stdout
  --binary            send the messages as binary instead of text
  --count N           send each --send message N times [default: 1]
  --show-frames       print every frame's header fields and wire bytes (masked as sent)
                      on stderr
  --subprotocol NAME  offer a subprotocol (repeatable)
  --autobahn URL      run the Autobahn|Testsuite fuzzingserver cases at URL
  --agent NAME        agent name for --autobahn [default: wisp-client]
  -h, --help          this text

Exit status: 0 after a clean close (code 1000, or none); 1 otherwise, with the close
code and reason (or the error) on stderr; 2 for bad arguments.
";

struct Args {
    url: Option<String>,
    sends: Vec<String>,
    binary: bool,
    count: u64,
    show_frames: bool,
    protocols: Vec<String>,
    autobahn: Option<String>,
    agent: String,
}

fn parse_args() -> Result<Option<Args>, String> {
    let mut a = Args {
        url: None,
        sends: Vec::new(),
        binary: false,
        count: 1,
        show_frames: false,
        protocols: Vec::new(),
        autobahn: None,
        agent: "wisp-client".into(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--send" => a.sends.push(value("--send")?),
            "--binary" => a.binary = true,
            "--count" => {
                let v = value("--count")?;
                a.count = v
                    .parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| format!("--count: invalid count {v:?}"))?;
            }
            "--show-frames" => a.show_frames = true,
            "--subprotocol" => a.protocols.push(value("--subprotocol")?),
            "--autobahn" => a.autobahn = Some(value("--autobahn")?),
            "--agent" => a.agent = value("--agent")?,
            s if s.starts_with('-') => return Err(format!("unknown argument {s:?} (see --help)")),
            s => {
                if a.url.replace(s.to_string()).is_some() {
                    return Err("more than one URL".into());
                }
            }
        }
    }
    if a.url.is_none() && a.autobahn.is_none() {
        return Err("missing URL (see --help)".into());
    }
    Ok(Some(a))
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

fn run(a: Args) -> i32 {
    if let Some(base) = a.autobahn {
        return match wisp_client::autobahn::run(&base, &a.agent, |i, n| {
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
        let _ = client.set_read_timeout(Some(Duration::from_secs(10)));
        let mut got = 0;
        while got < expected {
            let r = client.receive();
            show(&mut client, a.show_frames);
            match r {
                Ok(m @ (Message::Text(_) | Message::Binary(_))) => {
                    print_message(&m);
                    got += 1;
                }
                Ok(_) => {}
                Err(Error::Closed) => return ending(&client, None),
                Err(e) => return ending(&client, Some(e)),
            }
        }
        let r = client.close(1000, "");
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
    let _ = client.set_read_timeout(Some(Duration::from_millis(20)));
    loop {
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
                    let _ = client.set_read_timeout(Some(Duration::from_secs(5)));
                    if client.connection().close_sent().is_none() {
                        if let Err(e) = client.start_close(1000, "") {
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
            Err(Error::Io(e)) if wisp_codec::blocking::is_timeout(&e) => {}
            Err(Error::Closed) => return ending(&client, None),
            Err(e) => return ending(&client, Some(e)),
        }
    }
}

fn main() {
    let code = match parse_args() {
        Ok(Some(a)) => run(a),
        Ok(None) => {
            print!("{HELP}");
            0
        }
        Err(e) => {
            eprintln!("wisp-client: {e}");
            2
        }
    };
    std::process::exit(code);
}
