#!/usr/bin/env python3
"""Interop checklist client on Python `websockets` (asyncio API) for an echo server.

usage: .venv/bin/python tests/peers/py_client.py URL [--timeout S] [--ca FILE]

--ca FILE: for a wss:// URL, trust the CA certificate(s) in this PEM file (only them).

Connects to URL (a ws:// echo endpoint, e.g. Wisp's /echo) and runs, in order:
  text N, binary N    echo of one message of N bytes, N in 0, 125, 126, 65536,
                      1048576 (text: ASCII and multibyte UTF-8; binary: random)
  fragmented text     one message sent as several frames comes back whole
  fragmented binary   (the same, with an empty frame in the middle)
  ping                a ping with a payload is answered by a pong with the same
  close               the client closes with 1000 "bye"; prints `close CODE REASON`
                      (`close CODE` if the reason is empty) as the server answered,
                      and fails unless CODE is 1000
Prints `ok <name>` per check on stdout. On the first failure prints
`FAIL <name>: <why>` on stderr and exits 1. Every reply must come within 10 s
and the whole run within --timeout seconds (default 60).
"""
import argparse
import asyncio
import os
import ssl
import sys

from websockets.asyncio.client import connect
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory

# --deflate: off (the default), on (websockets' own default offer), or no-takeover
# (both sides start every message with an empty window).
DEFLATE = "off"
# --ca: the CA file a wss:// URL is checked against.
CA = None


def tls_options(url):
    if CA is None or not url.startswith("wss:"):
        return {}
    return {"ssl": ssl.create_default_context(cafile=CA)}


def deflate_options():
    if DEFLATE == "on":
        return {"compression": "deflate"}
    if DEFLATE == "no-takeover":
        return {"compression": None, "extensions": [ClientPerMessageDeflateFactory(
            server_no_context_takeover=True, client_no_context_takeover=True,
            client_max_window_bits=True)]}
    return {"compression": None}

SIZES = [0, 125, 126, 65536, 1024 * 1024]
MAX_MESSAGE = 64 * 1024 * 1024
STEP_TIMEOUT = 10


class CheckFailed(Exception):
    pass


def text_of_size(n):
    """A str whose UTF-8 encoding is exactly n bytes: 1-, 2-, 3- and 4-byte characters."""
    unit = "aé€😀"  # 1 + 2 + 3 + 4 = 10 bytes
    s = unit * (n // 10) + "x" * (n % 10)
    assert len(s.encode()) == n
    return s


def describe(value):
    kind = "text" if isinstance(value, str) else "binary"
    size = len(value.encode()) if isinstance(value, str) else len(value)
    return f"{kind} of {size} bytes"


def first_difference(a, b):
    i = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    return f"character {i}" if isinstance(a, str) else f"byte {i}"


async def recv(ws, what):
    try:
        return await asyncio.wait_for(ws.recv(), STEP_TIMEOUT)
    except asyncio.TimeoutError:
        raise CheckFailed(f"no reply to {what} within {STEP_TIMEOUT} s") from None


async def expect_echo(ws, sent, what):
    got = await recv(ws, what)
    if type(got) is not type(sent):
        raise CheckFailed(f"sent {describe(sent)}, got {describe(got)} back")
    if got != sent:
        raise CheckFailed(f"sent {describe(sent)}, got {describe(got)} back, "
                          f"first difference at {first_difference(sent, got)}")


async def run(url):
    step = "connect"
    try:
        async with connect(url, max_size=MAX_MESSAGE, ping_interval=None,
                           open_timeout=STEP_TIMEOUT, close_timeout=STEP_TIMEOUT,
                           **tls_options(url), **deflate_options()) as ws:
            agreed = ws.response.headers.get("Sec-WebSocket-Extensions", "")
            print(f"extensions {agreed}", flush=True)
            for kind in ("text", "binary"):
                for n in SIZES:
                    step = f"{kind} {n}"
                    message = text_of_size(n) if kind == "text" else os.urandom(n)
                    await ws.send(message)
                    await expect_echo(ws, message, step)
                    print(f"ok {step}", flush=True)

            step = "fragmented text"
            fragments = ["Hello, ", "wörld", " — ", "fragmented ✓"]
            await ws.send(fragments)
            await expect_echo(ws, "".join(fragments), step)
            print(f"ok {step}", flush=True)

            step = "fragmented binary"
            fragments = [os.urandom(1000), b"", os.urandom(70000)]
            await ws.send(fragments)
            await expect_echo(ws, b"".join(fragments), step)
            print(f"ok {step}", flush=True)

            step = "ping"
            payload = b"wisp-ping-\x00\xff"
            pong = await ws.ping(payload)  # resolves only on a pong with this payload
            try:
                await asyncio.wait_for(pong, STEP_TIMEOUT)
            except asyncio.TimeoutError:
                raise CheckFailed(f"no pong with payload {payload!r} within {STEP_TIMEOUT} s") from None
            print(f"ok {step}", flush=True)

            step = "close"
            await ws.close(1000, "bye")
            code, reason = ws.close_code, ws.close_reason
            if ws.protocol.close_rcvd is None:
                raise CheckFailed(f"no close frame from the server (close_code {code})")
            print(f"close {code} {reason}" if reason else f"close {code}", flush=True)
            if code != 1000:
                raise CheckFailed(f"server answered the close with code {code}, expected 1000")
            print(f"ok {step}", flush=True)
    except CheckFailed as e:
        raise CheckFailed(f"FAIL {step}: {e}") from None
    except Exception as e:  # connection refused, handshake rejected, connection lost, ...
        raise CheckFailed(f"FAIL {step}: {type(e).__name__}: {e}") from None


async def main(url, timeout):
    try:
        await asyncio.wait_for(run(url), timeout)
    except asyncio.TimeoutError:
        sys.exit(f"FAIL: not done after {timeout} s")
    except CheckFailed as e:
        sys.exit(str(e))


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("url", help="ws:// URL of an echo endpoint")
    ap.add_argument("--timeout", type=float, default=60, help="limit for the whole run, seconds")
    ap.add_argument("--deflate", choices=["off", "on", "no-takeover"], default="off",
                    help="offer permessage-deflate")
    ap.add_argument("--ca", help="PEM file of the CA that a wss:// server's certificate must chain to")
    args = ap.parse_args()
    DEFLATE = args.deflate
    CA = args.ca
    asyncio.run(main(args.url, args.timeout))
