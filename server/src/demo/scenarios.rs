//! The conversation scenarios of `/inspect`: a text message that is a JSON command asks
//! the server for frames a browser script cannot send (fragments, compressed fragments,
//! pings, a close it starts), each shown with the RFC sentences it teaches. Formats:
//! [`super::inspect`]; the handler that runs them: [`super::watch`].

use serde::Deserialize;
use wisp_codec::{CloseCode, OpCode, DEFAULT_COMPRESS_THRESHOLD};

use super::inspect::RfcSentence;
use crate::handler::Session;

/// The word-for-word RFC 6455 sentences each scenario shows.
const REASSEMBLY: RfcSentence = RfcSentence {
    rfc: 6455,
    section: "5.4",
    text: "A fragmented message is conceptually equivalent to a single larger message whose \
           payload is equal to the concatenation of the payloads of the fragments in order",
};
const INJECTED: RfcSentence = RfcSentence {
    rfc: 6455,
    section: "5.4",
    text: "Control frames (see Section 5.5) MAY be injected in the middle of a fragmented \
           message.",
};
const PONG: RfcSentence = RfcSentence {
    rfc: 6455,
    section: "5.5.2",
    text: "Upon receipt of a Ping frame, an endpoint MUST send a Pong frame in response, \
           unless it already received a Close frame.",
};
const SAME_DATA: RfcSentence = RfcSentence {
    rfc: 6455,
    section: "5.5.3",
    text: "A Pong frame sent in response to a Ping frame must have identical \"Application \
           data\" as found in the message body of the Ping frame being replied to.",
};
const CLOSE_REPLY: RfcSentence = RfcSentence {
    rfc: 6455,
    section: "5.5.1",
    text: "If an endpoint receives a Close frame and did not previously send a Close frame, \
           the endpoint MUST send a Close frame in response.",
};
const TCP_END: RfcSentence = RfcSentence {
    rfc: 6455,
    section: "5.5.1",
    text: "After both sending and receiving a Close message, an endpoint considers the \
           WebSocket connection closed and MUST close the underlying TCP connection.",
};
/// RFC 7692 §6.1 (sentences of RFC 7692 carry `"rfc":7692`).
const FIRST_ONLY: RfcSentence = RfcSentence {
    rfc: 7692,
    section: "6.1",
    text: "An endpoint MUST NOT set the \"Per-Message Compressed\" bit of control frames \
           and non-first fragments of a data message.",
};
static FRAGMENTS: [RfcSentence; 1] = [REASSEMBLY];
static FRAGMENTS_PING: [RfcSentence; 3] = [REASSEMBLY, INJECTED, PONG];
static COMPRESSED: [RfcSentence; 2] = [REASSEMBLY, FIRST_ONLY];
static COMPRESSED_PING: [RfcSentence; 4] = [REASSEMBLY, FIRST_ONLY, INJECTED, PONG];
static PING: [RfcSentence; 2] = [PONG, SAME_DATA];
static CLOSE: [RfcSentence; 2] = [CLOSE_REPLY, TCP_END];

/// The most fragments, and text bytes, a `fragments` command may ask for.
pub const MAX_FRAGMENTS: usize = 16;
const MAX_TEXT: usize = 4096;

/// A command message on `/inspect` (format in [`super::inspect`]).
#[derive(Deserialize, Debug, PartialEq)]
#[serde(tag = "command", rename_all = "lowercase", deny_unknown_fields)]
pub(super) enum Command {
    Fragments {
        text: String,
        #[serde(default = "three")]
        fragments: usize,
        #[serde(default)]
        ping: bool,
        /// Compressed (permessage-deflate must be agreed): RSV1 on the first fragment,
        /// the DEFLATE stream split across the fragments.
        #[serde(default)]
        compress: bool,
    },
    Ping {
        #[serde(default)]
        data: String,
    },
    Close {
        #[serde(default = "going_away")]
        code: u16,
        #[serde(default)]
        reason: String,
    },
}

fn three() -> usize {
    3
}

fn going_away() -> u16 {
    CloseCode::GOING_AWAY.0
}

/// A text message that is a JSON object with a `"command"` member is a command; its
/// error if it is not a valid one.
pub(super) fn command(text: &str) -> Option<Result<Command, String>> {
    if !text.trim_start().starts_with('{') {
        return None;
    }
    let value: serde_json::Value = serde_json::from_str(text).ok()?;
    value.get("command")?;
    Some(serde_json::from_value(value).map_err(|e| format!("bad command: {e}")))
}

pub(super) type Plan = (&'static str, String, &'static [RfcSentence]);

/// What a command will do on a connection (with `deflate` agreed or not), or why it
/// cannot.
pub(super) fn plan(c: &Command, deflate: bool) -> Result<Plan, String> {
    match c {
        Command::Fragments {
            text,
            fragments,
            ping,
            compress,
        } => {
            if !(1..=MAX_FRAGMENTS).contains(fragments) {
                return Err(format!("fragments: 1 to {MAX_FRAGMENTS}"));
            }
            if text.len() > MAX_TEXT {
                return Err(format!("text: at most {MAX_TEXT} bytes"));
            }
            if *compress && !deflate {
                return Err(
                    "compress: permessage-deflate is not agreed on this connection \
                            (/inspect?deflate=off declines it)"
                        .into(),
                );
            }
            let between = if *ping {
                ", with a ping between each two"
            } else {
                ""
            };
            if *compress {
                return Ok((
                    "compressed fragments",
                    format!(
                        "the server compresses {} bytes of text (permessage-deflate) and sends \
                         the compressed stream as {fragments} fragment{} (RSV1=1 on the first \
                         only; each but the last ends in a sync flush, 00 00 ff ff){between}: \
                         the browser inflates them into one message{}",
                        text.len(),
                        if *fragments == 1 { "" } else { "s" },
                        if *ping { " and answers each ping" } else { "" }
                    ),
                    if *ping { &COMPRESSED_PING } else { &COMPRESSED },
                ));
            }
            Ok((
                "fragments",
                format!(
                    "the server sends {} bytes of text as {fragments} fragment{} (Text with \
                     FIN=0, Continuation frames, FIN=1 on the last){between}: the browser \
                     receives one message{}",
                    text.len(),
                    if *fragments == 1 { "" } else { "s" },
                    if *ping { " and answers each ping" } else { "" }
                ),
                if *ping { &FRAGMENTS_PING } else { &FRAGMENTS },
            ))
        }
        Command::Ping { data } => {
            if data.len() > 125 {
                return Err("data: at most 125 bytes (a control frame's limit, §5.5)".into());
            }
            Ok((
                "ping",
                format!(
                    "the server sends a ping with {} bytes of application data: the browser \
                     answers with a pong carrying the same bytes",
                    data.len()
                ),
                &PING,
            ))
        }
        Command::Close { code, reason } => {
            if !CloseCode(*code).is_valid_on_wire() {
                return Err(format!(
                    "code {code} may not be sent in a close frame (§7.4)"
                ));
            }
            if reason.len() > 123 {
                return Err("reason: at most 123 bytes (the close frame's limit)".into());
            }
            Ok((
                "close",
                format!(
                    "the server starts the closing handshake with code {code}: the browser \
                     answers with its own close frame, then the server closes TCP"
                ),
                &CLOSE,
            ))
        }
    }
}

/// Sends a planned scenario's frames.
pub(super) fn perform(conn: &mut Session<'_>, c: &Command) {
    match c {
        Command::Fragments {
            text,
            fragments,
            ping,
            compress,
        } => {
            // Compressed or not is decided at the first fragment (`plan` checked that
            // deflate is agreed): every fragment then continues the one DEFLATE stream.
            conn.set_compress_threshold(if *compress { 0 } else { usize::MAX });
            let bytes = text.as_bytes();
            let n = *fragments;
            for i in 0..n {
                if i > 0 && *ping {
                    let _ =
                        conn.send_ping(format!("between fragments {i} and {}", i + 1).as_bytes());
                }
                let piece = &bytes[i * bytes.len() / n..(i + 1) * bytes.len() / n];
                let opcode = if i == 0 {
                    OpCode::Text
                } else {
                    OpCode::Continuation
                };
                let _ = conn.send_frame(opcode, i + 1 == n, piece);
            }
            conn.set_compress_threshold(DEFAULT_COMPRESS_THRESHOLD);
        }
        Command::Ping { data } => {
            let _ = conn.send_ping(data.as_bytes());
        }
        Command::Close { code, reason } => {
            let _ = conn.close(CloseCode(*code), reason);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wisp_codec::{Connection, Message};

    #[test]
    fn commands_parse_with_defaults_and_refuse_unknown_fields() {
        assert_eq!(command("hello"), None);
        assert_eq!(command(r#"{"type":"x"}"#), None);
        assert_eq!(
            command(r#"{"command":"fragments","text":"Hello"}"#),
            Some(Ok(Command::Fragments {
                text: "Hello".into(),
                fragments: 3,
                ping: false,
                compress: false,
            }))
        );
        assert_eq!(
            command(r#"{"command":"close"}"#),
            Some(Ok(Command::Close {
                code: 1001,
                reason: String::new()
            }))
        );
        let e = command(r#"{"command":"ping","x":1}"#).unwrap().unwrap_err();
        assert!(e.contains("unknown field"), "{e}");
        let e = command(r#"{"command":"dance"}"#).unwrap().unwrap_err();
        assert!(e.contains("unknown variant"), "{e}");
    }

    #[test]
    fn plans_check_the_limits() {
        let close = |code| {
            plan(
                &Command::Close {
                    code,
                    reason: String::new(),
                },
                false,
            )
        };
        assert!(close(1005).unwrap_err().contains("may not be sent"));
        assert!(close(4000).is_ok());
        let frag = |fragments| {
            plan(
                &Command::Fragments {
                    text: "abc".into(),
                    fragments,
                    ping: true,
                    compress: false,
                },
                false,
            )
        };
        assert!(frag(0).is_err() && frag(MAX_FRAGMENTS + 1).is_err());
        assert_eq!(frag(2).unwrap().2.len(), 3);
        let compressed = |deflate| {
            plan(
                &Command::Fragments {
                    text: "abc".into(),
                    fragments: 2,
                    ping: true,
                    compress: true,
                },
                deflate,
            )
        };
        assert!(compressed(false).unwrap_err().contains("not agreed"));
        assert_eq!(compressed(true).unwrap().0, "compressed fragments");
    }

    #[test]
    fn fragments_with_pings_reassemble_into_the_text() {
        let mut s = Connection::server(Default::default());
        let c = Command::Fragments {
            text: "Hello, fragments".into(),
            fragments: 3,
            ping: true,
            compress: false,
        };
        perform(&mut Session::new(&mut s, 1), &c);
        let mut wire = Vec::new();
        while !s.pending_output_front().is_empty() {
            wire.extend_from_slice(s.pending_output_front());
            s.advance_output(usize::MAX);
        }
        let mut client = Connection::client(Default::default(), || [1, 2, 3, 4]);
        client.handle_input(&wire);
        let mut got = Vec::new();
        while let Some(m) = client.poll_event().unwrap() {
            got.push(m);
        }
        assert_eq!(
            got,
            [
                Message::Ping(b"between fragments 1 and 2".to_vec()),
                Message::Ping(b"between fragments 2 and 3".to_vec()),
                Message::Text("Hello, fragments".into()),
            ]
        );
        assert_eq!(wire[0], 0x01, "first fragment: Text, FIN=0");
    }

    /// Everything `s` queued, as it would cross the socket.
    fn drain(s: &mut Connection) -> Vec<u8> {
        let mut wire = Vec::new();
        while !s.pending_output_front().is_empty() {
            wire.extend_from_slice(s.pending_output_front());
            s.advance_output(usize::MAX);
        }
        wire
    }

    #[test]
    fn compressed_fragments_set_rsv1_on_the_first_only_and_inflate_into_the_text() {
        let params = wisp_codec::extension::DeflateParams::default();
        let mut s = Connection::server(Default::default());
        s.set_deflate(params);
        let text = "Hello, compressed fragments! Hello, compressed fragments!";
        let c = Command::Fragments {
            text: text.into(),
            fragments: 3,
            ping: true,
            compress: true,
        };
        assert!(plan(&c, true).is_ok());
        perform(&mut Session::new(&mut s, 1), &c);
        let wire = drain(&mut s);
        // The server's frames are unmasked and short: (b0, payload) each.
        let mut frames = Vec::new();
        let mut at = 0;
        while at < wire.len() {
            let len = usize::from(wire[at + 1]);
            assert!(len < 126, "short frames only");
            frames.push((wire[at], &wire[at + 2..at + 2 + len]));
            at += 2 + len;
        }
        let heads: Vec<u8> = frames.iter().map(|f| f.0).collect();
        // Text+RSV1 FIN=0, ping, Continuation FIN=0, ping, Continuation FIN=1: RSV1 on
        // the first fragment only.
        assert_eq!(heads, [0x41, 0x89, 0x00, 0x89, 0x80]);
        // The compressed stream is split: no fragment holds the text in clear.
        let plain = text.as_bytes();
        let third = &plain[..plain.len() / 3];
        assert!(frames
            .iter()
            .all(|f| !f.1.windows(third.len()).any(|w| w == third)));
        // A non-final fragment ends in a sync flush.
        assert!(
            frames[0].1.ends_with(&[0, 0, 0xff, 0xff]),
            "{:02x?}",
            frames[0].1
        );
        let mut client = Connection::client(Default::default(), || [1, 2, 3, 4]);
        client.set_deflate(params);
        client.handle_input(&wire);
        let mut got = Vec::new();
        while let Some(m) = client.poll_event().unwrap() {
            got.push(m);
        }
        assert_eq!(got.last(), Some(&Message::Text(text.into())));
        assert_eq!(got.len(), 3, "two pings, then the message");
        // The threshold is back: a short message goes out plain.
        Session::new(&mut s, 1).send_text("short").unwrap();
        assert_eq!(drain(&mut s)[0], 0x81);
    }
}
