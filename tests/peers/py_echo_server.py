#!/usr/bin/env python3
"""Echo server on Python `websockets` (asyncio API), an interop peer for Wisp's client.

usage: .venv/bin/python tests/peers/py_echo_server.py [--port P] [--timeout S]
           [--deflate MODE] [--ping-interval S] [--tls-cert FILE --tls-key FILE]
           [--client-ca FILE]

With --tls-cert and --tls-key (PEM) it serves wss:// instead of ws://; with
--client-ca too, only to clients with a certificate signed by that CA (mutual TLS).

Listens on 127.0.0.1:P (P = 0, the default, picks a free port) and prints
`LISTENING <port>` on stdout once it accepts connections. Every text or binary
message comes back with the same type. Messages up to 64 MiB and 1 000 000
fragments, no compression, no keepalive pings (--ping-interval S: a ping every S
seconds, and the connection is closed with 1011 when a pong is 2 s late). Exits 0
on SIGTERM or SIGINT; exits 2 with a message on stderr if it is still running after --timeout
seconds (default 60), so a test that forgets to stop it leaves nothing behind.
"""
import argparse
import asyncio
import os
import signal
import ssl
import sys

# websockets caps a message at 4096 fragments by default; a peer must take
# many more (Autobahn 9.3.1 sends 65536). Must be set before the import.
os.environ.setdefault("WEBSOCKETS_MAX_FRAGMENTS", "1000000")

from websockets.asyncio.server import serve  # noqa: E402
from websockets.exceptions import ConnectionClosedError  # noqa: E402
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory  # noqa: E402

MAX_MESSAGE = 64 * 1024 * 1024


async def echo(ws):
    try:
        async for message in ws:  # str for text, bytes for binary
            await ws.send(message)
    except ConnectionClosedError as e:
        print(f"py_echo_server: connection closed with an error: {e}", file=sys.stderr)


def tls_options(tls, client_ca=None):
    """--tls-cert, --tls-key: a server TLS context with that chain and key;
    --client-ca: a client certificate signed by that CA is required."""
    if tls is None:
        return {}
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*tls)
    if client_ca is not None:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(cafile=client_ca)
    return {"ssl": context}


def deflate_options(mode):
    """--deflate: off, on (websockets' defaults), no-takeover (both directions)."""
    if mode == "on":
        return {"compression": "deflate"}
    if mode == "no-takeover":
        return {"compression": None, "extensions": [ServerPerMessageDeflateFactory(
            server_no_context_takeover=True, client_no_context_takeover=True)]}
    return {"compression": None}


async def main(port, timeout, deflate="off", tls=None, ping_interval=None, client_ca=None):
    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set_result, None)
    # close_timeout=1: on exit, wait at most 1 s for a peer to answer the 1001 close.
    async with serve(echo, "127.0.0.1", port, max_size=MAX_MESSAGE,
                     ping_interval=ping_interval, ping_timeout=2, close_timeout=1,
                     **tls_options(tls, client_ca),
                     **deflate_options(deflate)) as server:
        print(f"LISTENING {server.sockets[0].getsockname()[1]}", flush=True)
        try:
            await asyncio.wait_for(stop, timeout)
        except asyncio.TimeoutError:
            print(f"py_echo_server: still running after {timeout} s, exiting", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0 = any free port)")
    ap.add_argument("--timeout", type=float, default=60, help="exit after this many seconds")
    ap.add_argument("--deflate", choices=["off", "on", "no-takeover"], default="off",
                    help="accept permessage-deflate")
    ap.add_argument("--ping-interval", type=float, default=None,
                    help="send a keepalive ping every this many seconds")
    ap.add_argument("--tls-cert", help="PEM certificate chain: serve wss://")
    ap.add_argument("--tls-key", help="PEM private key of --tls-cert")
    ap.add_argument("--client-ca", help="with --tls-cert: require a client certificate from this CA")
    args = ap.parse_args()
    if (args.tls_cert is None) != (args.tls_key is None):
        ap.error("--tls-cert and --tls-key go together")
    tls = (args.tls_cert, args.tls_key) if args.tls_cert else None
    try:
        sys.exit(asyncio.run(main(args.port, args.timeout, args.deflate, tls,
                                  args.ping_interval, args.client_ca)))
    except OSError as e:
        sys.exit(f"py_echo_server: cannot listen on 127.0.0.1:{args.port}: {e}")
