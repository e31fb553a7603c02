"""The Python side of `cargo bench -p wisp-bench --bench deflate` (not a test).

Reads the bench's JSON corpus (one message per line) and compresses and inflates every
message, one after the other as a connection would, with:

- `websockets`: Python websockets' own PerMessageDeflate extension with the parameters
  its `serve()` and `connect()` negotiate by default (window 12 bits both ways, memLevel 5,
  zlib's default level, context takeover);
- `zlib-12-m5`: Python's zlib at those same settings, sync flush, tail removed;
- `zlib-15-m8`: zlib at window 15, memLevel 8, context takeover;
- `zlib-15-nct`: zlib at window 15, memLevel 8, a fresh stream per message (no context
  takeover, as wisp-server's default server_no_context_takeover).

Prints one JSON object per line: name, raw bytes, compressed payload bytes, and the best
seconds over the passes for compressing and for inflating the whole corpus.

usage: python deflate_peer.py CORPUS PASSES
"""
import json
import sys
import time
import zlib

from websockets.extensions.permessage_deflate import PerMessageDeflate
from websockets.frames import Frame, Opcode

TAIL = b"\x00\x00\xff\xff"


def zlib_run(messages, wbits, mem_level, takeover):
    def new_c():
        return zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -wbits, mem_level)

    c = new_c()
    out = []
    t = time.perf_counter()
    for m in messages:
        if not takeover:
            c = new_c()
        data = c.compress(m) + c.flush(zlib.Z_SYNC_FLUSH)
        if data.endswith(TAIL):
            data = data[:-4]
        out.append(data)
    compress_s = time.perf_counter() - t
    d = zlib.decompressobj(-wbits)
    t = time.perf_counter()
    for m, data in zip(messages, out):
        if not takeover:
            d = zlib.decompressobj(-wbits)
        assert d.decompress(data + TAIL) == m
    inflate_s = time.perf_counter() - t
    return sum(map(len, out)), compress_s, inflate_s


def websockets_run(messages):
    # What serve() and connect() agree by default (websockets.extensions.permessage_deflate:
    # enable_server_permessage_deflate / enable_client_permessage_deflate).
    def ext():
        return PerMessageDeflate(False, False, 12, 12, {"memLevel": 5})

    sender, receiver = ext(), ext()
    frames = []
    t = time.perf_counter()
    for m in messages:
        frames.append(sender.encode(Frame(Opcode.TEXT, m)))
    compress_s = time.perf_counter() - t
    t = time.perf_counter()
    for m, f in zip(messages, frames):
        assert receiver.decode(f).data == m
    inflate_s = time.perf_counter() - t
    return sum(len(f.data) for f in frames), compress_s, inflate_s


def main():
    messages = open(sys.argv[1], "rb").read().split(b"\n")
    passes = int(sys.argv[2])
    raw = sum(map(len, messages))
    runs = {
        "websockets": lambda: websockets_run(messages),
        "zlib-12-m5": lambda: zlib_run(messages, 12, 5, True),
        "zlib-15-m8": lambda: zlib_run(messages, 15, 8, True),
        "zlib-15-nct": lambda: zlib_run(messages, 15, 8, False),
    }
    for name, run in runs.items():
        results = [run() for _ in range(passes)]
        print(json.dumps({
            "name": name,
            "raw": raw,
            "compressed": results[0][0],
            "compress_s": min(r[1] for r in results),
            "inflate_s": min(r[2] for r in results),
        }), flush=True)


if __name__ == "__main__":
    main()
