//! `--show-frames`: one line per frame that crossed the wire, for teaching.

use wisp_codec::{Direction, WireFrame};

/// At most this many wire bytes are shown per frame.
pub const SHOW_BYTES: usize = 64;

/// Describes a frame: direction, header fields, and its first bytes exactly as they
/// were on the wire (client frames masked).
pub fn describe(frame: &WireFrame) -> String {
    let arrow = match frame.direction {
        Direction::Sent => ">",
        Direction::Received => "<",
    };
    let mut s = String::from(arrow);
    let h = &frame.header;
    s.push_str(&format!(
        " FIN={} RSV={:03b} opcode={:#x} ({}) MASK={}",
        u8::from(h.fin),
        h.rsv,
        h.opcode.as_u8(),
        h.opcode.name().to_ascii_lowercase(),
        u8::from(h.mask.is_some())
    ));
    if let Some(k) = h.mask {
        s.push_str(&format!(
            " key={:02x}{:02x}{:02x}{:02x}",
            k[0], k[1], k[2], k[3]
        ));
    }
    s.push_str(&format!(" payload_len={}", h.payload_len));
    s.push_str(" |");
    for b in frame.bytes.iter().take(SHOW_BYTES) {
        s.push_str(&format!(" {b:02x}"));
    }
    if frame.bytes.len() > SHOW_BYTES {
        s.push_str(&format!(" ... ({} bytes)", frame.bytes.len()));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_the_rfc_example() {
        let f = WireFrame {
            direction: Direction::Sent,
            header: wisp_codec::FrameHeader {
                fin: true,
                rsv: 0,
                opcode: wisp_codec::OpCode::Text,
                mask: Some([0x37, 0xfa, 0x21, 0x3d]),
                payload_len: 5,
            },
            bytes: vec![
                0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
            ],
            reads: None,
        };
        assert_eq!(describe(&f),
            "> FIN=1 RSV=000 opcode=0x1 (text) MASK=1 key=37fa213d payload_len=5 | 81 85 37 fa 21 3d 7f 9f 4d 51 58");
    }
}
