#!/usr/bin/env python3
"""Writes the hand-made seed inputs of every fuzz target into fuzz/corpus/<target>/.

Run once from fuzz/ (`python3 seeds/make_seeds.py`) before the first `cargo fuzz run`;
the committed corpora are these seeds plus what the fuzzer found, minimized with
`cargo fuzz cmin`. RFC 6455 bytes (§1.2, §1.3, §5.7) are verbatim.
"""
import hashlib
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "..", "corpus")


def write(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


def mask(payload, key, offset=0):
    return bytes(b ^ key[(offset + i) % 4] for i, b in enumerate(payload))


def frame(opcode, payload, fin=True, key=None, rsv=0, length=None):
    n = len(payload) if length is None else length
    b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
    m = 0x80 if key is not None else 0
    if n < 126:
        head = bytes([b0, m | n])
    elif n <= 0xFFFF:
        head = bytes([b0, m | 126]) + struct.pack(">H", n)
    else:
        head = bytes([b0, m | 127]) + struct.pack(">Q", n)
    if key is not None:
        return head + bytes(key) + mask(payload, key)
    return head + payload


K = bytes([0x37, 0xFA, 0x21, 0x3D])  # the masking key of §5.7

# ---- RFC 6455 §5.7, verbatim -----------------------------------------------------------
RFC = {
    "hello-unmasked": bytes.fromhex("810548656c6c6f"),
    "hello-masked": bytes.fromhex("818537fa213d7f9f4d5158"),
    "hel-lo-fragments": bytes.fromhex("010348656c8002") + b"lo",
    "ping-unmasked": bytes.fromhex("890548656c6c6f"),
    "pong-masked": bytes.fromhex("8a8537fa213d7f9f4d5158"),
    "binary-256-unmasked": bytes.fromhex("827e0100") + bytes(range(256)),
    # 64 KiB with the 64-bit length: the header and the start of the payload (the fuzzer's
    # inputs stay small; the rest is "need more").
    "binary-64k-unmasked-head": bytes.fromhex("827f0000000000010000") + bytes(64),
}

# The same frames as a client sends them (masked), for the server.
CLIENT = {
    "hello": frame(1, b"Hello", key=K),
    "hel-lo-fragments": frame(1, b"Hel", fin=False, key=K) + frame(0, b"lo", key=K),
    "ping": frame(9, b"Hello", key=K),
    "pong": frame(10, b"Hello", key=K),
    "binary-256": frame(2, bytes(range(256)), key=K),
    "binary-64k-head": frame(2, b"", key=K, length=65536) + bytes(64),
    "close-1000-bye": frame(8, b"\x03\xe8bye", key=K),
    "close-empty": frame(8, b"", key=K),
    "close-1-byte": frame(8, b"\x03", key=K),
    "close-1005": frame(8, b"\x03\xed", key=K),
    "close-bad-utf8": frame(8, b"\x03\xe8\xff", key=K),
    "text-bad-utf8-first-fragment": frame(1, "κόσμε".encode() + b"\xed\xa0\x80", fin=False, key=K)
    + frame(0, b"edited", key=K),
    "text-split-codepoint": frame(1, "€".encode()[:1], fin=False, key=K)
    + frame(9, b"", key=K)
    + frame(0, "€".encode()[1:], key=K),
    "text-truncated-codepoint": frame(1, "€".encode()[:2], key=K),
    "ping-between-fragments": frame(1, b"a", fin=False, key=K)
    + frame(9, b"x", key=K)
    + frame(0, b"b", fin=False, key=K)
    + frame(10, b"y", key=K)
    + frame(0, b"c", key=K),
    "unmasked-to-server": bytes.fromhex("810548656c6c6f"),
    "rsv1": frame(1, b"a", key=K, rsv=4),
    "reserved-opcode-3": frame(3, b"", key=K),
    "reserved-opcode-b": frame(0xB, b"", key=K),
    "fragmented-ping": frame(9, b"", fin=False, key=K),
    "ping-126": frame(9, bytes(126), key=K),
    "length-top-bit": bytes([0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0]) + K,
    "length-2^63-1": bytes([0x82, 0xFF, 0x7F] + [0xFF] * 7) + K,
    "length-1MiB+1": frame(2, b"", key=K, length=(1 << 20) + 1),
    "continuation-first": frame(0, b"a", key=K),
    "text-inside-fragments": frame(1, b"a", fin=False, key=K) + frame(1, b"b", key=K),
    "fragments-over-message-limit": frame(2, bytes(100), fin=False, key=K)
    + frame(0, bytes(100), fin=False, key=K)
    + frame(0, bytes(100), key=K),
    "conversation": frame(1, b"Hello", key=K)
    + frame(9, b"p", key=K)
    + frame(2, bytes(10), key=K)
    + frame(8, b"\x03\xe8", key=K)
    + frame(1, b"after close", key=K),
    "non-minimal-length": bytes([0x82, 0xFE, 0x00, 0x03]) + K + mask(b"abc", K),
}

# Server frames (unmasked), for the client.
SERVER = {
    "conversation": frame(1, b"Hello")
    + frame(9, b"p")
    + frame(1, "κό".encode(), fin=False)
    + frame(0, "σμε".encode())
    + frame(8, b"\x03\xe9going"),
    "masked-to-client": frame(1, b"Hello", key=K),
    "close-4999": frame(8, b"\x13\x87"),
    "close-5000": frame(8, b"\x13\x88"),
    "close-1016": frame(8, b"\x03\xf8"),
}

for cfg in (0x00, 0x01, 0x02, 0x03):
    for name, data in RFC.items():
        write("decoder_connection", f"{cfg:02x}-rfc-{name}", bytes([cfg]) + data)
for name, data in CLIENT.items():
    write("decoder_connection", f"00-client-{name}", b"\x00" + data)
for name, data in SERVER.items():
    write("decoder_connection", f"00-server-{name}", b"\x00" + data)
# The application behaviours: echo, close first, close after a message, no auto pong,
# recording; with small limits.
for cfg in (0x10, 0x20, 0x40, 0x04, 0x08, 0x5D, 0x1A, 0x7F):
    write("decoder_connection", f"{cfg:02x}-client-conversation", bytes([cfg]) + CLIENT["conversation"])
    write("decoder_connection", f"{cfg:02x}-server-conversation", bytes([cfg]) + SERVER["conversation"])
    write("decoder_connection", f"{cfg:02x}-client-fragments", bytes([cfg]) + CLIENT["ping-between-fragments"])

# ---- frame_roundtrip: the §5.7 frames as raw headers, and field encodings ---------------
for name, data in RFC.items():
    write("frame_roundtrip", f"rfc-{name}", data)
for name in ("hello", "ping", "close-1000-bye", "length-top-bit", "non-minimal-length"):
    write("frame_roundtrip", f"client-{name}", CLIENT[name])
# fields: b0 (fin | rsv << 1 | opcode index << 4), b1 (mask | length form << 1), ...
write("frame_roundtrip", "fields-text-masked-8bit", bytes([0x11, 0x01]) + K + bytes([5, 3, 200]) + b"Hello")
write("frame_roundtrip", "fields-ping-16bit", bytes([0x41, 0x02, 0x00, 0x7E, 1, 0xFF]) + b"ping")
write("frame_roundtrip", "fields-binary-64bit", bytes([0x21, 0x05]) + K + bytes([0, 0, 0, 0, 0, 2, 0, 0, 7, 10]) + bytes(40))
write("frame_roundtrip", "fields-boundaries", bytes([0x31, 0x07]) + K + bytes([3, 9, 0]) + bytes(130))
write("frame_roundtrip", "fields-rsv", bytes([0x1F, 0x00, 2, 0, 255]) + b"xy")

# ---- utf8 -----------------------------------------------------------------------------
UTF8 = {
    "hello": b"Hello",
    "kosme": "κόσμε".encode(),  # Autobahn 6.2.x
    "euro": "€".encode(),
    "emoji": "😀 wisp 🦀".encode(),
    "mixed": "a é € 😀 ߿ ࠀ \U0010ffff".encode(),
    "empty": b"",
    "surrogate": "κόσμε".encode() + b"\xed\xa0\x80" + b"edited",  # Autobahn 6.4.x
    "above-10ffff": "κόσμε".encode() + b"\xf4\x90\x80\x80" + b"edited",
    "overlong-2": b"a\xc0\xaf",
    "overlong-3": b"a\xe0\x80\xaf",
    "overlong-4": b"a\xf0\x80\x80\xaf",
    "f5": b"ab\xf5\x80",
    "ff": b"\xff",
    "lone-continuation": b"ab\x80cd",
    "truncated-euro": "€".encode()[:2],
    "truncated-emoji": "😀".encode()[:3],
    "euro-then-bad": b"\xe2\x82\xac\xe2\x82\x28",
}
for name, data in UTF8.items():
    write("utf8", name, data)

# ---- handshake ------------------------------------------------------------------------
REQ = (
    b"GET /chat HTTP/1.1\r\n"
    b"Host: server.example.com\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Origin: http://example.com\r\n"
    b"Sec-WebSocket-Protocol: chat, superchat\r\n"
    b"Sec-WebSocket-Version: 13\r\n\r\n"
)  # RFC 6455 §1.2
RESP = (
    b"HTTP/1.1 101 Switching Protocols\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
    b"Sec-WebSocket-Protocol: chat\r\n\r\n"
)  # RFC 6455 §1.2, §1.3
HS = {
    "rfc-request": REQ,
    "rfc-request-then-frame": REQ + bytes.fromhex("818537fa213d7f9f4d5158"),
    "rfc-response": RESP,
    "rfc-response-then-frame": RESP + bytes.fromhex("810548656c6c6f"),
    "request-partial": REQ[:60],
    "version-8": REQ.replace(b"Version: 13", b"Version: 8"),
    "no-version": REQ.replace(b"Sec-WebSocket-Version: 13\r\n", b""),
    "post": REQ.replace(b"GET", b"POST", 1),
    "http-1.0": REQ.replace(b"HTTP/1.1", b"HTTP/1.0", 1),
    "http-2.0": REQ.replace(b"HTTP/1.1", b"HTTP/2", 1),
    "no-host": REQ.replace(b"Host: server.example.com\r\n", b""),
    "lowercase": REQ.lower().replace(b"get /chat http/1.1", b"GET /chat HTTP/1.1").replace(
        b"dghlihnhbxbszsbub25jzq==", b"dGhlIHNhbXBsZSBub25jZQ=="
    ),
    "connection-list": REQ.replace(b"Connection: Upgrade", b"Connection: keep-alive, Upgrade"),
    "key-15-bytes": REQ.replace(b"dGhlIHNhbXBsZSBub25jZQ==", b"dGhlIHNhbXBsZSBub25jZQ"),
    "key-non-canonical": REQ.replace(b"dGhlIHNhbXBsZSBub25jZQ==", b"dGhlIHNhbXBsZSBub25jZR=="),
    "key-twice": REQ.replace(b"Origin", b"Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\nOrigin"),
    "folded-header": REQ.replace(b"Origin: http://example.com\r\n", b"Origin: http://\r\n example.com\r\n"),
    "space-before-colon": REQ.replace(b"Origin:", b"Origin :"),
    "response-400": b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n",
    "response-extension": RESP.replace(b"\r\n\r\n", b"\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n"),
    "response-other-protocol": RESP.replace(b"Protocol: chat", b"Protocol: superchat"),
    "response-bad-accept": RESP.replace(b"s3pPLM", b"AAAAAA"),
}
for name, data in HS.items():
    write("handshake", name, data)

# Sanity: the §1.3 accept value.
assert (
    __import__("base64").b64encode(
        hashlib.sha1(b"dGhlIHNhbXBsZSBub25jZQ==258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest()
    )
    == b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
)
