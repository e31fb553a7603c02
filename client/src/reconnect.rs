//! Staying connected: [`Reconnecting`] reconnects with exponential backoff, full jitter
//! above a floor, a cap and an optional number of tries, and says when it reconnected
//! so the application can subscribe again.

use std::ops::RangeInclusive;
use std::time::{Duration, Instant};

use crate::{connect_with, Client, CloseCode, CloseFrame, Error, Message, Options};

/// When and whether to try again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backoff {
    /// The shortest wait between two tries (the floor under the jitter).
    pub min: Duration,
    /// The ceiling of the first wait; it doubles with each failed try...
    pub initial: Duration,
    /// ...up to this cap.
    pub max: Duration,
    /// Give up after this many tries in a row (`None`: never).
    pub max_tries: Option<u32>,
    /// Close codes from the server that end the session instead of reconnecting
    /// (1000 and 4000-4999 by default: the server meant it).
    pub final_codes: Vec<RangeInclusive<u16>>,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            min: Duration::from_millis(100),
            initial: Duration::from_millis(500),
            max: Duration::from_secs(30),
            max_tries: None,
            final_codes: vec![1000..=1000, 4000..=4999],
        }
    }
}

impl Backoff {
    /// The wait before try number `tries` (1 after the first failure): uniform
    /// between [`min`](Self::min) and `min(max, initial * 2^(tries - 1))` ("full
    /// jitter"), from `random`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use wisp_client::Backoff;
    /// let b = Backoff::default();
    /// for tries in 1..40 {
    ///     for random in [0, u64::MAX / 3, u64::MAX] {
    ///         let d = b.delay(tries, random);
    ///         assert!(d >= b.min && d <= b.max, "{d:?}");
    ///     }
    /// }
    /// assert!(b.delay(1, u64::MAX) <= Duration::from_millis(500));
    /// ```
    pub fn delay(&self, tries: u32, random: u64) -> Duration {
        let ceiling = self
            .initial
            .saturating_mul(1u32 << tries.saturating_sub(1).min(20))
            .min(self.max)
            .max(self.min);
        let span = (ceiling - self.min).as_nanos() as u64;
        let jitter = if span == 0 { 0 } else { random % (span + 1) };
        self.min + Duration::from_nanos(jitter)
    }

    /// True when a close with `code` from the server should not be followed by a
    /// new connection.
    pub fn is_final(&self, code: Option<CloseCode>) -> bool {
        code.is_some_and(|c| self.final_codes.iter().any(|r| r.contains(&c.0)))
    }
}

/// Whether an error is worth another try: network trouble, a refusal the server may
/// lift (408, 429, 5xx), a proxy that closed or failed. Not: a bad URL, TLS, a
/// header that cannot be sent, a broken handshake, a 4xx.
pub fn is_retryable(e: &Error) -> bool {
    match e {
        Error::Io(_) | Error::Connect(..) | Error::Dns { .. } | Error::Proxy(_) => true,
        Error::Protocol(_) | Error::Closed => true,
        Error::Refused { status, .. } => *status == 408 || *status == 429 || *status >= 500,
        _ => false,
    }
}

/// What [`Reconnecting::next_event`] saw.
#[derive(Debug)]
pub enum Event {
    /// A connection is up: the first (`reconnected` false) or a new one after a
    /// loss (`reconnected` true: subscribe again).
    Connected {
        /// Not the first connection.
        reconnected: bool,
    },
    /// A message (pings and pongs included).
    Message(Message),
    /// The connection is gone; the next try comes after `retry_in`.
    Disconnected {
        /// Why, in words.
        reason: String,
        /// The wait before the next try.
        retry_in: Duration,
    },
}

/// A client that keeps its connection up.
///
/// ```no_run
/// use wisp_client::{Backoff, Event, Options, Reconnecting};
/// let mut feed = Reconnecting::new("ws://127.0.0.1:9001/chat", Options::default(), Backoff::default());
/// loop {
///     match feed.next_event()? {
///         Event::Connected { .. } => feed.send_text("subscribe prices")?,
///         Event::Message(m) => println!("{m:?}"),
///         Event::Disconnected { reason, retry_in } => eprintln!("{reason}; again in {retry_in:?}"),
///     }
/// }
/// # Ok::<(), wisp_client::Error>(())
/// ```
pub struct Reconnecting {
    url: String,
    options: Options,
    backoff: Backoff,
    client: Option<Client>,
    /// Failed tries in a row.
    failures: u32,
    next_try: Option<Instant>,
    connected_once: bool,
    closing: bool,
    last_close: Option<CloseFrame>,
}

impl std::fmt::Debug for Reconnecting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reconnecting")
            .field("url", &self.url)
            .field("connected", &self.client.is_some())
            .field("failures", &self.failures)
            .finish_non_exhaustive()
    }
}

fn random() -> u64 {
    let mut b = [0u8; 8];
    // Jitter only: a failing source means no jitter, never a failure.
    let _ = getrandom::fill(&mut b);
    u64::from_le_bytes(b)
}

impl Reconnecting {
    /// A session for `url`; the first connection is made by the first
    /// [`next_event`](Self::next_event). `options.read_timeout` bounds each call's
    /// wait (then [`Error::Timeout`], during a backoff too).
    pub fn new(url: &str, options: Options, backoff: Backoff) -> Reconnecting {
        Reconnecting {
            url: url.to_string(),
            options,
            backoff,
            client: None,
            failures: 0,
            next_try: None,
            connected_once: false,
            closing: false,
            last_close: None,
        }
    }

    /// The live connection, if there is one.
    pub fn client(&mut self) -> Option<&mut Client> {
        self.client.as_mut()
    }

    /// The close frame of the server's last close, if it had one.
    pub fn last_close(&self) -> Option<&CloseFrame> {
        self.last_close.as_ref()
    }

    /// True while connected.
    pub fn is_connected(&self) -> bool {
        self.client.is_some()
    }

    /// Sends a text message; [`Error::Closed`] while disconnected (keep it and send
    /// it after [`Event::Connected`]).
    pub fn send_text(&mut self, text: &str) -> Result<(), Error> {
        self.send(Message::Text(text.into()))
    }

    /// Sends a message; [`Error::Closed`] while disconnected.
    pub fn send(&mut self, message: Message) -> Result<(), Error> {
        let c = self.client.as_mut().ok_or(Error::Closed)?;
        let r = c.send(message);
        if let Err(e) = &r {
            if !e.is_timeout() {
                let reason = e.to_string();
                self.lost(reason);
            }
        }
        r
    }

    /// Closes with `code` and `reason` and stops reconnecting.
    pub fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        self.closing = true;
        match self.client.take() {
            Some(mut c) => c.close(code, reason).map(|_| ()),
            None => Ok(()),
        }
    }

    fn lost(&mut self, reason: String) -> Event {
        self.client = None;
        self.failures += 1;
        let retry_in = self.backoff.delay(self.failures, random());
        self.next_try = Some(Instant::now() + retry_in);
        Event::Disconnected { reason, retry_in }
    }

    /// The next thing that happens: a connection, a message, a loss. An error ends
    /// the session: a close the server meant ([`Backoff::final_codes`]), an error
    /// not worth a retry, or [`Backoff::max_tries`] failures in a row; and
    /// [`Error::Timeout`] when the read timeout passed (the session goes on).
    pub fn next_event(&mut self) -> Result<Event, Error> {
        if self.closing {
            return Err(Error::Closed);
        }
        let Some(client) = self.client.as_mut() else {
            if let Some(at) = self.next_try {
                let left = at.saturating_duration_since(Instant::now());
                let nap = self.options.read_timeout.map_or(left, |t| t.min(left));
                std::thread::sleep(nap);
                if nap < left {
                    return Err(Error::Timeout);
                }
            }
            return match connect_with(&self.url, &self.options) {
                Ok(c) => {
                    self.client = Some(c);
                    self.failures = 0;
                    self.next_try = None;
                    let reconnected = self.connected_once;
                    self.connected_once = true;
                    Ok(Event::Connected { reconnected })
                }
                Err(e) if !is_retryable(&e) => Err(e),
                Err(e)
                    if self
                        .backoff
                        .max_tries
                        .is_some_and(|m| self.failures + 1 >= m) =>
                {
                    Err(e)
                }
                Err(e) => Ok(self.lost(e.to_string())),
            };
        };
        match client.receive() {
            Ok(m) => Ok(Event::Message(m)),
            Err(Error::Timeout) => Err(Error::Timeout),
            Err(Error::Closed) => {
                let frame = client.close_received().flatten().cloned();
                let code = frame.as_ref().map(|f| f.code);
                self.last_close.clone_from(&frame);
                if self.backoff.is_final(code) {
                    self.client = None;
                    self.closing = true;
                    return Err(Error::Closed);
                }
                let reason = match frame {
                    Some(f) => format!("closed by the server: {} {}", f.code, f.reason),
                    None => "the connection ended without a close frame (1006)".into(),
                };
                Ok(self.lost(reason))
            }
            Err(e) if is_retryable(&e) => Ok(self.lost(e.to_string())),
            Err(e) => Err(e),
        }
    }
}
