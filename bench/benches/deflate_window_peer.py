"""The zlib side of `cargo bench -p wisp-bench --bench deflate_window` (not a test).

Reads the bench's JSON corpus (one message per line) and compresses it with Python's
zlib at zlib's default level (6) and memLevel 8, for each window of 9 to 15 bits: once
with a fresh stream per message (no context takeover) and once as one stream with a
sync flush after each message (context takeover), the `00 00 ff ff` tail removed as
RFC 7692 §7.2.1 says. Every message is inflated back and checked.

Prints one JSON object per line: wbits, takeover, raw bytes, compressed payload bytes,
and the best seconds over the passes for compressing the whole corpus. The run itself
is deflate_peer.py's `zlib_run`.

usage: python deflate_window_peer.py CORPUS PASSES
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from deflate_peer import zlib_run  # noqa: E402  (the same zlib run as deflate's bench)


def main():
    messages = open(sys.argv[1], "rb").read().split(b"\n")
    passes = int(sys.argv[2])
    raw = sum(map(len, messages))
    for wbits in range(9, 16):
        for takeover in (False, True):
            best = None
            for _ in range(passes):
                size, seconds, _ = zlib_run(messages, wbits, 8, takeover)
                best = seconds if best is None else min(best, seconds)
            print(json.dumps({"wbits": wbits, "takeover": takeover, "raw": raw,
                              "compressed": size, "seconds": best}), flush=True)


if __name__ == "__main__":
    main()
