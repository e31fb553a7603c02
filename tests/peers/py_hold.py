#!/usr/bin/env python3
"""Opens connections that each echo one message, then holds them (Python `websockets`).

usage: .venv/bin/python tests/peers/py_hold.py URL [--count N] [--deflate MODE] [--timeout S]

Opens N connections (default 100) to URL (an echo endpoint) one after the other, with
--deflate on (websockets' default offer, the default) or off; each sends one JSON text
of about 1 KB and waits for its echo. Then prints `READY N EXTENSIONS` on stdout (the agreed
Sec-WebSocket-Extensions of the first, if any) and holds them
open until stdin closes (or --timeout seconds pass, default 120), then closes them all.
On a failure prints `FAIL <why>` on stderr and exits 1.
"""
import argparse
import asyncio
import json
import sys

from websockets.asyncio.client import connect


async def run(args):
    options = {"compression": "deflate" if args.deflate == "on" else None}
    conns = []
    try:
        for i in range(args.count):
            ws = await connect(args.url, **options)
            conns.append(ws)
            text = json.dumps([{"id": i, "n": n, "text": f"message {n} of connection {i}"} for n in range(20)])
            await ws.send(text)
            if await asyncio.wait_for(ws.recv(), 20) != text:
                raise AssertionError(f"connection {i}: the echo differs")
        agreed = conns[0].response.headers.get("Sec-WebSocket-Extensions", "") if conns else ""
        print(f"READY {len(conns)} {agreed}".rstrip(), flush=True)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, sys.stdin.read)
    finally:
        for ws in conns:
            await ws.close()


async def main(args):
    try:
        await asyncio.wait_for(run(args), args.timeout)
    except asyncio.TimeoutError:
        pass
    except Exception as e:  # every failure is one line with its cause
        sys.exit(f"FAIL {type(e).__name__}: {e}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("url")
    ap.add_argument("--count", type=int, default=100)
    ap.add_argument("--deflate", choices=["on", "off"], default="on")
    ap.add_argument("--timeout", type=float, default=120)
    asyncio.run(main(ap.parse_args()))
