#!/usr/bin/env python3
"""Echo server on Hypercorn (ASGI), an RFC 8441 peer for Wisp's client.

usage: .venv/bin/python tests/peers/hypercorn_echo.py [--timeout S]

Hypercorn serves HTTP/1.1 and, by prior knowledge (h2c), HTTP/2 on the same port,
and takes a WebSocket on an HTTP/2 stream as an extended CONNECT (it advertises
SETTINGS_ENABLE_CONNECT_PROTOCOL); its WebSocket framing is wsproto's. Listens on
127.0.0.1 on a free port it binds itself and prints `LISTENING <port>` on stdout once
bound. Every text or binary message comes back with the same type (up to 64 MiB).
Each socket's ASGI scope tells its HTTP version: a message `version?` is answered
with `http_version=<2|1.1>`. Exits 0 on SIGTERM or SIGINT, 2 after --timeout seconds
(default 60).
"""
import argparse
import asyncio
import signal
import socket
import sys

from hypercorn.asyncio import serve
from hypercorn.config import Config


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b"not here\n"})
        return
    await receive()  # websocket.connect
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        if message.get("text") == "version?":
            await send({"type": "websocket.send", "text": "http_version=" + scope["http_version"]})
        elif message.get("text") is not None:
            await send({"type": "websocket.send", "text": message["text"]})
        else:
            await send({"type": "websocket.send", "bytes": message["bytes"]})


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--timeout", type=float, default=60)
    args = parser.parse_args()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    sock.set_inheritable(True)
    config = Config()
    config.bind = [f"fd://{sock.fileno()}"]
    config.websocket_max_message_size = 64 * 1024 * 1024
    config.h2_max_inbound_frame_size = 1 << 20
    config.accesslog = None
    config.errorlog = "-"
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    server = asyncio.ensure_future(serve(app, config, shutdown_trigger=stop.wait))
    print(f"LISTENING {sock.getsockname()[1]}", flush=True)
    try:
        await asyncio.wait_for(asyncio.shield(server), args.timeout)
    except asyncio.TimeoutError:
        print(f"hypercorn_echo: still running after {args.timeout} s", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    asyncio.run(main())
