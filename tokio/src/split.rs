//! [`split`]: a [`WsReader`] and a [`WsWriter`] that can live on different tasks.
//!
//! Both halves share the stream behind one lock that is held only for the length of a
//! poll, never across an `.await`. The reader never waits on the writer: its poll
//! reads what the transport has, decodes, and writes what the connection owes (pongs,
//! the answer to a close) as far as the transport takes it now; if the transport is
//! full, its task is woken when it drains, whoever's write filled it. That is the rule
//! of the blocking client's split (`wisp_client::Client::split`), kept with wakers in
//! place of a flush thread.
//!
//! A transport keeps one waker per direction, the last registered. So both halves
//! write through one fan-out waker that wakes each half that wrote and found it full:
//! the reader waiting to write a pong is not forgotten when the writer's task polls
//! the same transport.

use std::fmt;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Wake, Waker};

use futures_core::Stream;
use futures_sink::Sink;
use tokio::io::{AsyncRead, AsyncWrite};
use wisp_codec::{Connection, Message};

use crate::stream::{Core, Error, WebSocketStream};

/// Wakes every half that waits for the transport to take more output.
#[derive(Default)]
struct FanOut {
    /// The reader's waker, then the writer's.
    slots: Mutex<[Option<Waker>; 2]>,
}

impl Wake for FanOut {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let taken = {
            let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            [slots[0].take(), slots[1].take()]
        };
        for w in taken.into_iter().flatten() {
            w.wake();
        }
    }
}

const READER: usize = 0;
const WRITER: usize = 1;

struct Shared<S> {
    core: Mutex<Core<S>>,
    fan_out: Arc<FanOut>,
    waker: Waker,
}

impl<S> Shared<S> {
    /// The stream's state. A half that panicked while holding it leaves the codec in a
    /// state it can always report from: carry on.
    fn lock(&self) -> MutexGuard<'_, Core<S>> {
        self.core.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Wakes half `slot` if it waits.
    fn wake(&self, slot: usize) {
        let waker = self.fan_out.slots.lock().unwrap_or_else(|p| p.into_inner())[slot].take();
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Registers `cx`'s waker as half `slot`'s, to be woken by the fan-out waker.
    fn register(&self, slot: usize, cx: &Context<'_>) {
        let mut slots = self.fan_out.slots.lock().unwrap_or_else(|p| p.into_inner());
        match &slots[slot] {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => slots[slot] = Some(cx.waker().clone()),
        }
    }
}

/// The reading half of a split [`WebSocketStream`]: a [`Stream`] of messages. It
/// answers pings and closes on its own, as the whole stream does.
pub struct WsReader<S> {
    shared: Arc<Shared<S>>,
}

/// The writing half of a split [`WebSocketStream`]: a [`Sink`] of messages, with the
/// whole stream's backpressure.
pub struct WsWriter<S> {
    shared: Arc<Shared<S>>,
}

impl<S> fmt::Debug for WsReader<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WsReader").finish_non_exhaustive()
    }
}

impl<S> fmt::Debug for WsWriter<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WsWriter").finish_non_exhaustive()
    }
}

/// Splits a stream into a reader and a writer for two tasks (as
/// `futures_util::StreamExt::split`, without its lock across polls of both halves:
/// the reader's poll never waits for the writer's output to drain).
///
/// ```no_run
/// use futures_util::{SinkExt, StreamExt};
/// use wisp_tokio::Message;
/// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
/// let ws = wisp_tokio::connect_async("ws://127.0.0.1:9001/").await?;
/// let (mut reader, mut writer) = wisp_tokio::split(ws);
/// let sender = tokio::spawn(async move {
///     for i in 0..10 {
///         writer.send(Message::Text(format!("tick {i}"))).await?;
///     }
///     writer.close().await
/// });
/// while let Some(message) = reader.next().await {
///     println!("{:?}", message?);
/// }
/// sender.await??;
/// # Ok(()) }
/// ```
pub fn split<S: AsyncRead + AsyncWrite + Unpin>(
    ws: WebSocketStream<S>,
) -> (WsReader<S>, WsWriter<S>) {
    let fan_out = Arc::new(FanOut::default());
    let shared = Arc::new(Shared {
        core: Mutex::new(ws.core),
        waker: Waker::from(Arc::clone(&fan_out)),
        fan_out,
    });
    (
        WsReader {
            shared: Arc::clone(&shared),
        },
        WsWriter { shared },
    )
}

impl<S> WsReader<S> {
    /// Runs `f` on the protocol state (its close code, say), under the halves' lock.
    pub fn with_connection<T>(&self, f: impl FnOnce(&mut Connection) -> T) -> T {
        f(&mut self.shared.lock().conn)
    }
}

impl<S> WsWriter<S> {
    /// Runs `f` on the protocol state (to queue a ping, say), under the halves' lock;
    /// what it queues goes out with the next flush.
    pub fn with_connection<T>(&self, f: impl FnOnce(&mut Connection) -> T) -> T {
        f(&mut self.shared.lock().conn)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Stream for WsReader<S> {
    type Item = Result<Message, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let shared = &self.shared;
        shared.register(READER, cx);
        let mut core = shared.lock();
        let next = core.poll_next(cx, Some(&shared.waker));
        let room = core.has_room();
        drop(core);
        if room {
            // The reader may have written what the writer waits to see written: the
            // transport will not say so, as it took everything.
            shared.wake(WRITER);
        }
        next
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> WsWriter<S> {
    fn with_core<T>(
        &self,
        cx: &mut Context<'_>,
        f: impl FnOnce(&mut Core<S>, &mut Context<'_>) -> T,
    ) -> T {
        let shared = &self.shared;
        shared.register(WRITER, cx);
        let mut core = shared.lock();
        f(&mut core, &mut Context::from_waker(&shared.waker))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Sink<Message> for WsWriter<S> {
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.with_core(cx, |core, cx| core.poll_ready(cx))
    }

    fn start_send(self: Pin<&mut Self>, item: Message) -> Result<(), Error> {
        self.shared.lock().start_send(item)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.with_core(cx, |core, cx| core.poll_flush(cx))
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.with_core(cx, |core, cx| core.poll_close(cx))
    }
}
