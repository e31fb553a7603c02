"""The zlib side of `cargo bench -p wisp-bench --bench deflate_window` (not a test).

Reads the bench's JSON corpus (one message per line) and compresses it with Python's
zlib at zlib's default level (6) and memLevel 8, for each window of 9 to 15 bits: once
with a fresh stream per message (no context takeover) and once as one stream with a
sync flush after each message (context takeover), the `00 00 ff ff` tail removed as
RFC 7692 §7.2.1 says. Every message is inflated back and checked.

Prints one JSON object per line: wbits, takeover, raw bytes, compressed payload bytes,
and the best seconds over the passes for compressing the whole corpus.

usage: python deflate_window_peer.py CORPUS PASSES
"""
import json
import sys
import time
import zlib

TAIL = b"\x00\x00\xff\xff"


def run(messages, wbits, takeover):
    def new_c():
        return zlib.compressobj(6, zlib.DEFLATED, -wbits, 8)

    c = new_c()
    out = []
    t = time.perf_counter()
    for m in messages:
        if not takeover:
            c = new_c()
        data = c.compress(m) + c.flush(zlib.Z_SYNC_FLUSH)
        out.append(data[:-4] if data.endswith(TAIL) else data)
    seconds = time.perf_counter() - t
    d = zlib.decompressobj(-wbits)
    for m, data in zip(messages, out):
        if not takeover:
            d = zlib.decompressobj(-wbits)
        assert d.decompress(data + TAIL) == m
    return sum(map(len, out)), seconds


def main():
    messages = open(sys.argv[1], "rb").read().split(b"\n")
    passes = int(sys.argv[2])
    raw = sum(map(len, messages))
    for wbits in range(9, 16):
        for takeover in (False, True):
            best = None
            for _ in range(passes):
                size, seconds = run(messages, wbits, takeover)
                best = seconds if best is None else min(best, seconds)
            print(json.dumps({"wbits": wbits, "takeover": takeover, "raw": raw,
                              "compressed": size, "seconds": best}), flush=True)


if __name__ == "__main__":
    main()
