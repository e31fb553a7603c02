// Wisp demo page: "Save as pcap". Writes the conversation the timeline saw (the opening
// handshake and every frame, as the server reported their bytes) as a pcapng file, so
// that Wireshark's WebSocket dissector decodes the same frames. Only the bytes are real:
// the Ethernet, IPv4 and TCP headers around them are made up (192.0.2.1:50000 to
// 192.0.2.2:80, port 80 so that Wireshark reads the handshake as HTTP without being told),
// one TCP segment per frame (a long frame in several), with a TCP handshake before and
// FINs after. Formats: pcapng (draft-ietf-opsawg-pcapng), Ethernet II, RFC 791, RFC 9293.
"use strict";

window.Wisp = window.Wisp || {};

(() => {
  const CLIENT = { mac: [0x02, 0, 0, 0, 0, 1], ip: [192, 0, 2, 1], port: 50000 };
  const SERVER = { mac: [0x02, 0, 0, 0, 0, 2], ip: [192, 0, 2, 2], port: 80 };
  const MAX_SEGMENT = 16384;
  const FIN = 0x01, SYN = 0x02, PSH = 0x08, ACK = 0x10;

  /** A little-endian byte writer. */
  class Out {
    constructor() { this.parts = []; this.len = 0; }
    bytes(b) { this.parts.push(b instanceof Uint8Array ? b : Uint8Array.from(b)); this.len += b.length; }
    u16(v) { this.bytes([v & 0xff, (v >>> 8) & 0xff]); }
    u32(v) { this.bytes([v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff]); }
    pad() { while (this.len % 4) this.bytes([0]); }
    done() { return Wisp.concat(this.parts); }
  }

  /** A pcapng option: code, length, value padded to 32 bits. */
  function option(out, code, value) {
    out.u16(code);
    out.u16(value.length);
    out.bytes(value);
    out.pad();
  }

  /** A block: type, total length, body, total length again. */
  function block(type, body) {
    const out = new Out();
    out.u32(type);
    out.u32(body.length + 12);
    out.bytes(body);
    out.u32(body.length + 12);
    return out.done();
  }

  const utf8 = (s) => new TextEncoder().encode(s);

  function sectionHeader(comment) {
    const b = new Out();
    b.u32(0x1a2b3c4d); // byte-order magic
    b.u16(1); b.u16(0); // version 1.0
    b.u32(0xffffffff); b.u32(0xffffffff); // section length: not given
    option(b, 1, utf8(comment)); // opt_comment
    option(b, 4, utf8("Wisp demo page (web/js/pcap.js)")); // shb_userappl
    b.u32(0); // opt_endofopt
    return block(0x0a0d0d0a, b.done());
  }

  function interfaceDescription() {
    const b = new Out();
    b.u16(1); // LINKTYPE_ETHERNET
    b.u16(0);
    b.u32(0); // snaplen: no limit
    option(b, 2, utf8("synthetic")); // if_name
    b.u32(0);
    return block(1, b.done()); // timestamps in microseconds (the default if_tsresol)
  }

  function enhancedPacket(us, packet, comment) {
    const b = new Out();
    b.u32(0); // interface 0
    b.u32(Math.floor(us / 2 ** 32));
    b.u32(us % 2 ** 32);
    b.u32(packet.length);
    b.u32(packet.length);
    b.bytes(packet);
    b.pad();
    if (comment) {
      option(b, 1, utf8(comment));
      b.u32(0);
    }
    return block(6, b.done());
  }

  /** The IPv4 header checksum (RFC 791): the ones' complement of the ones' complement sum. */
  function checksum(h) {
    let sum = 0;
    for (let i = 0; i < h.length; i += 2) sum += (h[i] << 8) | h[i + 1];
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
    return ~sum & 0xffff;
  }

  const be16 = (v) => [(v >>> 8) & 0xff, v & 0xff];
  const be32 = (v) => [(v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];

  /** One Ethernet frame carrying one TCP segment from `from` to `to`. */
  function segment(from, to, seq, ack, flags, data, id) {
    const tcp = [...be16(from.port), ...be16(to.port), ...be32(seq >>> 0), ...be32(ack >>> 0),
      5 << 4, flags, ...be16(65535), 0, 0, 0, 0]; // checksum 0: Wireshark does not check it by default
    const ip = [0x45, 0, ...be16(20 + tcp.length + data.length), ...be16(id & 0xffff), 0x40, 0, 64, 6, 0, 0,
      ...from.ip, ...to.ip];
    const c = checksum(ip);
    ip[10] = c >> 8;
    ip[11] = c & 0xff;
    const eth = [...to.mac, ...from.mac, 0x08, 0x00];
    const packet = new Uint8Array(eth.length + ip.length + tcp.length + data.length);
    packet.set(eth, 0);
    packet.set(ip, eth.length);
    packet.set(tcp, eth.length + ip.length);
    packet.set(data, eth.length + ip.length + tcp.length);
    return packet;
  }

  /**
   * The pcapng file of a conversation: `{start, url, records}` where `start` is the wall
   * time (ms since 1970) of the opening handshake and each record is `{ms, dir: "in" |
   * "out", bytes, comment}` in order ("in": browser to server). Returns a Uint8Array.
   */
  function build(conv) {
    const blocks = [sectionHeader(`WebSocket conversation with ${conv.url}, as wisp-server reported its bytes; `
      + "the Ethernet, IPv4 and TCP headers are synthetic.")];
    blocks.push(interfaceDescription());
    const seq = { in: 1000, out: 5000 };
    let id = 1;
    let lastUs = 0;
    const put = (ms, dir, flags, data, comment) => {
      const us = Math.max(lastUs, Math.round((conv.start + (ms || 0)) * 1000));
      lastUs = us;
      const [from, to] = dir === "in" ? [CLIENT, SERVER] : [SERVER, CLIENT];
      const other = dir === "in" ? "out" : "in";
      const a = flags & SYN && dir === "in" ? 0 : seq[other];
      blocks.push(enhancedPacket(us, segment(from, to, seq[dir], a, flags, data, id++), comment));
      seq[dir] += data.length + (flags & (SYN | FIN) ? 1 : 0);
    };
    const empty = new Uint8Array(0);
    // The TCP handshake the report does not show.
    put(0, "in", SYN, empty);
    put(0, "out", SYN | ACK, empty);
    put(0, "in", ACK, empty);
    let end = 0;
    for (const r of conv.records) {
      end = r.ms || end;
      for (let at = 0; at < r.bytes.length || at === 0; at += MAX_SEGMENT) {
        const piece = r.bytes.subarray(at, at + MAX_SEGMENT);
        put(r.ms, r.dir, PSH | ACK, piece, at === 0 ? r.comment : null);
        if (!r.bytes.length) break;
      }
    }
    if (conv.ended) {
      const [first, second] = conv.ended === "client" ? ["in", "out"] : ["out", "in"];
      put(end, first, FIN | ACK, empty);
      put(end, second, FIN | ACK, empty);
      put(end, first, ACK, empty);
    }
    return Wisp.concat(blocks);
  }

  Wisp.pcap = { build };
})();
