#!/usr/bin/env python3
"""A WebSocket client over HTTP/2 (RFC 8441) on Python `h2` and `wsproto`, an
independent peer for Wisp's server: h2's state machine opens the extended CONNECT,
wsproto frames the messages (masked, as RFC 6455 asks of a client).

usage: .venv/bin/python tests/peers/py_h2_client.py HOST PORT PATH [--deflate] [--timeout S]

Connects to HOST:PORT over TCP with HTTP/2 by prior knowledge (h2c), checks that
the server's SETTINGS advertise SETTINGS_ENABLE_CONNECT_PROTOCOL = 1, sends
`:method CONNECT, :protocol websocket` for PATH (offering permessage-deflate with
--deflate), checks the 200 (and no Sec-WebSocket-Accept), then runs the checklist
on the stream: echoes of 0 B to 16 MiB, text and binary (random bytes repeating
every 4 KiB); a fragmented text message;
a ping; the close handshake, after which the server must end the stream
(END_STREAM). Prints `ok <check>` for each, `deflate <on|off>`, and exits 0; on the
first failure prints `FAIL <check>: <why>` on stderr and exits 1.
"""
import argparse
import os
import socket
import sys
import time

import h2.config
import h2.connection
import h2.errors
import h2.exceptions
import h2.events
import h2.settings
from wsproto.connection import Connection, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Message, Ping, Pong, TextMessage
from wsproto.extensions import PerMessageDeflate
from wsproto.frame_protocol import CloseReason


class Fail(Exception):
    pass


class Client:
    def __init__(self, host, port, path, deflate, deadline):
        self.deadline = deadline
        self.sock = socket.create_connection((host, port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.h2 = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        self.h2.initiate_connection()
        self.h2.increment_flow_control_window(64 * 1024 * 1024)
        self.h2.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 1 << 20})
        self.flush()
        self.deflate = PerMessageDeflate() if deflate else None
        self.ws = None
        self.stream_id = None
        self.enabled = None
        self.status = None
        self.headers = {}
        self.ended = False
        self.events = []
        # The server's SETTINGS come first: wait for them.
        self.pump(lambda: self.enabled is not None, "no SETTINGS from the server")
        if not self.enabled:
            raise Fail("connect: the server does not advertise SETTINGS_ENABLE_CONNECT_PROTOCOL")
        self.stream_id = self.h2.get_next_available_stream_id()
        headers = [
            (":method", "CONNECT"),
            (":protocol", "websocket"),
            (":scheme", "http"),
            (":path", path),
            (":authority", f"{host}:{port}"),
            ("sec-websocket-version", "13"),
        ]
        if self.deflate:
            params = self.deflate.offer()
            offer = self.deflate.name + ("; " + params if isinstance(params, str) and params else "")
            headers.append(("sec-websocket-extensions", offer))
        self.h2.send_headers(self.stream_id, headers, end_stream=False)
        self.flush()
        self.pump(lambda: self.status is not None, "no response to the extended CONNECT")
        if self.status != "200":
            raise Fail(f"connect: status {self.status}")
        if "sec-websocket-accept" in self.headers:
            raise Fail("connect: a Sec-WebSocket-Accept over HTTP/2 (RFC 8441 §5)")
        extensions = []
        agreed = self.headers.get("sec-websocket-extensions")
        if agreed:
            if not self.deflate or not agreed.startswith("permessage-deflate"):
                raise Fail(f"connect: extension not offered: {agreed}")
            self.deflate.finalize(agreed)
            extensions = [self.deflate]
        self.ws = Connection(ConnectionType.CLIENT, extensions=extensions)
        print(f"deflate {'on' if extensions else 'off'}", flush=True)

    def flush(self):
        data = self.h2.data_to_send()
        if data:
            self.sock.sendall(data)

    def pump(self, done, why):
        while not done():
            if time.monotonic() > self.deadline:
                raise Fail(why + " (timeout)")
            if self.ended:
                raise Fail(why + " (the stream ended)")
            try:
                data = self.sock.recv(1 << 20)
            except socket.timeout:
                raise Fail(why + " (10 s without a byte)")
            if not data:
                raise Fail(why + " (the server closed the connection)")
            for event in self.h2.receive_data(data):
                self.h2_event(event)
            self.flush()

    def h2_event(self, event):
        if isinstance(event, h2.events.RemoteSettingsChanged):
            code = h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL
            if code in event.changed_settings:
                self.enabled = event.changed_settings[code].new_value == 1
            elif self.enabled is None:
                self.enabled = False
        elif isinstance(event, h2.events.ResponseReceived):
            for name, value in event.headers:
                name, value = name.decode(), value.decode()
                if name == ":status":
                    self.status = value
                else:
                    self.headers[name] = value
        elif isinstance(event, h2.events.DataReceived):
            self.h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            if self.ws is None:
                raise Fail("data before the response")
            if event.data:
                self.ws.receive_data(event.data)
                self.events.extend(self.ws.events())
        elif isinstance(event, h2.events.StreamEnded):
            self.ended = True
            if self.ws is not None:
                self.ws.receive_data(None)
                self.events.extend(self.ws.events())
        elif isinstance(event, h2.events.StreamReset):
            # After its END_STREAM a server may stop our half with NO_ERROR (RFC 9113
            # §8.1): the stream is over, nothing is lost.
            if self.ended and event.error_code == h2.errors.ErrorCodes.NO_ERROR:
                return
            raise Fail(f"the server reset the stream ({event.error_code!r}) after {self.events!r}"[:300])

    def send(self, event):
        data = self.ws.send(event)
        while data:
            window = min(self.h2.local_flow_control_window(self.stream_id), self.h2.max_outbound_frame_size)
            if window <= 0:
                self.pump(lambda: self.h2.local_flow_control_window(self.stream_id) > 0, "no window")
                continue
            self.h2.send_data(self.stream_id, data[:window])
            data = data[window:]
            self.flush()

    def next_event(self, what):
        self.pump(lambda: self.events, f"no reply to {what}")
        return self.events.pop(0)

    def message(self, what):
        parts = []
        while True:
            event = self.next_event(what)
            if isinstance(event, Message):
                parts.append(event.data)
                if event.message_finished:
                    return type(event), (b"" if isinstance(event, BytesMessage) else "").join(parts)
            elif not isinstance(event, (Ping, Pong)):
                raise Fail(f"{what}: unexpected {event!r}")


def text_of_size(n):
    unit = "aé€😀"  # 1 + 2 + 3 + 4 bytes
    s = unit * (n // 10) + "x" * (n % 10)
    assert len(s.encode()) == n
    return s


def checklist(c):
    for size in [0, 125, 126, 65536, 1 << 20, 16 << 20]:
        text = text_of_size(size)
        c.send(TextMessage(data=text))
        kind, got = c.message(f"text {size}")
        if kind is not TextMessage or got != text:
            raise Fail(f"text {size}: a different message came back")
        print(f"ok text {size}", flush=True)
        # Random, but repeating every 4 KiB: with deflate a 16 MiB message shrinks (a
        # random one would grow past the server's 16 MiB frame limit: 1009).
        data = (os.urandom(4096) * (size // 4096 + 1))[:size]
        c.send(BytesMessage(data=data))
        kind, got = c.message(f"binary {size}")
        if kind is not BytesMessage or got != data:
            raise Fail(f"binary {size}: a different message came back")
        print(f"ok binary {size}", flush=True)
    for i, part in enumerate(["frag", "mént", "", "ed 😀"]):
        c.send(TextMessage(data=part, message_finished=i == 3))
    kind, got = c.message("fragmented text")
    if got != "fragménted 😀":
        raise Fail(f"fragmented text: {got!r}")
    print("ok fragmented text", flush=True)
    c.send(Ping(payload=b"wisp-ping-\x00\xff"))
    while True:
        event = c.next_event("ping")
        if isinstance(event, Pong):
            if event.payload != b"wisp-ping-\x00\xff":
                raise Fail("ping: the pong has another payload")
            break
    print("ok ping", flush=True)
    c.send(CloseConnection(code=1000, reason="bye"))
    event = c.next_event("close")
    if not isinstance(event, CloseConnection) or event.code != CloseReason.NORMAL_CLOSURE:
        raise Fail(f"close: {event!r}")
    # RFC 8441 §5: the close handshake ends the stream (END_STREAM), no reset.
    c.pump(lambda: c.ended, "close: the server did not end the stream")
    try:
        c.h2.end_stream(c.stream_id)
    except h2.exceptions.StreamClosedError:
        pass  # the server stopped our half already (NO_ERROR)
    c.h2.close_connection()
    c.flush()
    c.sock.close()
    print(f"close {event.code} {event.reason}".rstrip(), flush=True)
    print("ok close", flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("path")
    parser.add_argument("--deflate", action="store_true")
    parser.add_argument("--timeout", type=float, default=60)
    args = parser.parse_args()
    deadline = time.monotonic() + args.timeout
    try:
        checklist(Client(args.host, args.port, args.path, args.deflate, deadline))
    except Fail as e:
        print(f"FAIL {e}", file=sys.stderr)
        sys.exit(1)
    except OSError as e:
        print(f"FAIL connect: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
