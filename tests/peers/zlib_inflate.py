"""Inflates wisp's permessage-deflate payloads with Python's zlib, an independent
inflater that refuses any back-reference beyond its window ("invalid distance too far
back"). Used by tests/tests/deflate_window_zlib.rs.

zlib checks a distance against its window plus the output of the current call (all of
it in that call's buffer), so one byte is asked for at a time: then the window alone
bounds every distance.

Each file holds records of a 4-byte big-endian length and that many bytes: COMPRESSED
the payloads as sent (the `00 00 ff ff` tail removed), RAW the messages they must give.
With TAKEOVER 1 the payloads are one stream (one inflater for all, RFC 7692 §7.2.2),
with 0 each is a stream of its own.

Prints "ok N" (N messages checked), else the failing message's index and zlib's error
on stderr and exits 1.

usage: python zlib_inflate.py WBITS TAKEOVER COMPRESSED RAW
"""
import sys
import zlib

TAIL = b"\x00\x00\xff\xff"


def records(path):
    data = open(path, "rb").read()
    out, i = [], 0
    while i < len(data):
        n = int.from_bytes(data[i:i + 4], "big")
        out.append(data[i + 4:i + 4 + n])
        i += 4 + n
    return out


def inflate_strictly(d, data):
    got = bytearray()
    while True:
        byte = d.decompress(data, 1)
        data = d.unconsumed_tail
        if not byte and not data:
            return bytes(got)
        got += byte


def main():
    wbits, takeover = int(sys.argv[1]), sys.argv[2] == "1"
    payloads, messages = records(sys.argv[3]), records(sys.argv[4])
    assert len(payloads) == len(messages)
    d = zlib.decompressobj(-wbits)
    for i, (p, m) in enumerate(zip(payloads, messages)):
        if not takeover:
            d = zlib.decompressobj(-wbits)
        try:
            got = inflate_strictly(d, p + TAIL)
        except zlib.error as e:
            print(f"message {i}: {e}", file=sys.stderr)
            sys.exit(1)
        if got != m:
            print(f"message {i}: inflated to other bytes", file=sys.stderr)
            sys.exit(1)
    print(f"ok {len(messages)}")


if __name__ == "__main__":
    main()
