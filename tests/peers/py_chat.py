#!/usr/bin/env python3
"""Broadcast check on Python `websockets` for Wisp's /chat route.

usage: .venv/bin/python tests/peers/py_chat.py URL [--members N] [--deflate MODE] [--timeout S]

Connects N members (default 20) to URL (a /chat URL; `name=mI` is appended), with
--deflate off, on (websockets' default offer) or no-takeover. Once all have joined,
member 0 says a few texts (JSON of 200-2,000 B, and one of 100 KB); every member must
receive each of them, in order, as {"type":"message","from":"m0","text":...}.
Prints `extensions <value>` (the agreed Sec-WebSocket-Extensions of member 0, empty
if none) and `ok broadcast N members M messages` on stdout. On a failure prints
`FAIL <why>` on stderr and exits 1; the whole run is bounded by --timeout (default 60).
"""
import argparse
import asyncio
import json
import random
import sys

from websockets.asyncio.client import connect
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory

STEP_TIMEOUT = 20


def deflate_options(mode):
    if mode == "on":
        return {"compression": "deflate"}
    if mode == "no-takeover":
        return {"compression": None, "extensions": [ClientPerMessageDeflateFactory(
            server_no_context_takeover=True, client_no_context_takeover=True,
            client_max_window_bits=True)]}
    return {"compression": None}


def texts():
    rng = random.Random(26)
    out = []
    for n in (200, 700, 2000, 100_000):
        items = []
        while len(json.dumps(items)) < n:
            i = len(items)
            items.append({"id": i, "user": f"user-{rng.randrange(40)}", "ok": rng.random() < 0.5,
                          "text": f"message {i} about {rng.choice(['deflate', 'chat', 'rooms'])}"})
        out.append(json.dumps(items))
    return out


async def next_message(ws):
    """The next chat message a member receives, skipping join and leave notices."""
    while True:
        raw = await asyncio.wait_for(ws.recv(), STEP_TIMEOUT)
        event = json.loads(raw)
        if event.get("type") == "message":
            return event


async def run(url, members, mode):
    sep = "&" if "?" in url else "?"
    conns = []
    try:
        for i in range(members):
            ws = await connect(f"{url}{sep}name=m{i}", max_size=1 << 24, **deflate_options(mode))
            conns.append(ws)
        header = conns[0].response.headers.get("Sec-WebSocket-Extensions", "")
        print(f"extensions {header}", flush=True)
        sent = texts()
        for t in sent:
            await conns[0].send(t)
        for i, ws in enumerate(conns):
            for t in sent:
                event = await next_message(ws)
                if event.get("from") != "m0" or event.get("text") != t:
                    raise AssertionError(f"member {i} got {str(event)[:80]}, not m0's text of {len(t)} B")
        print(f"ok broadcast {members} members {len(sent)} messages", flush=True)
    finally:
        for ws in conns:
            await ws.close()


async def main(args):
    try:
        await asyncio.wait_for(run(args.url, args.members, args.deflate), args.timeout)
    except asyncio.TimeoutError:
        sys.exit(f"FAIL not done after {args.timeout} s")
    except Exception as e:  # every failure is one line with its cause
        sys.exit(f"FAIL {type(e).__name__}: {e}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("url", help="ws:// URL of a /chat room")
    ap.add_argument("--members", type=int, default=20)
    ap.add_argument("--deflate", choices=["off", "on", "no-takeover"], default="off")
    ap.add_argument("--timeout", type=float, default=60)
    asyncio.run(main(ap.parse_args()))
