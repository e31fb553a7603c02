//! Streaming UTF-8 validation that fails fast
//! ([RFC 6455 §5.6](https://www.rfc-editor.org/rfc/rfc6455#section-5.6),
//! [§8.1](https://www.rfc-editor.org/rfc/rfc6455#section-8.1)).
//!
//! A text message may arrive in fragments and each fragment in pieces, with a code point
//! split anywhere. [`Utf8Validator`] keeps at most three bytes of an unfinished code
//! point between calls and reports an error at the first byte where the input can no
//! longer be the prefix of valid UTF-8, not when the message ends.

use core::fmt;

/// Where a UTF-8 stream went wrong: the count of bytes, from the start of the stream,
/// that were valid.
///
/// ```
/// let mut v = wisp_codec::internals::Utf8Validator::new();
/// v.feed(b"ab").unwrap();
/// assert_eq!(v.feed(&[0xc3, 0x28]).unwrap_err().valid_up_to, 2);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Utf8Error {
    /// Bytes of the stream before the invalid sequence.
    pub valid_up_to: u64,
}

impl fmt::Display for Utf8Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid UTF-8 after {} valid bytes", self.valid_up_to)
    }
}

/// An incremental UTF-8 validator.
///
/// Feed the stream in any split with [`feed`](Utf8Validator::feed); call
/// [`finish`](Utf8Validator::finish) at the end of the message to reject a truncated code
/// point. The verdict equals `core::str::from_utf8` of the whole stream, and an error is
/// reported in the call that receives the byte that makes it certain.
///
/// ```
/// use wisp_codec::internals::Utf8Validator;
/// let euro = "€".as_bytes(); // e2 82 ac, split across three pieces
/// let mut v = Utf8Validator::new();
/// v.feed(&euro[..1]).unwrap();
/// v.feed(&euro[1..2]).unwrap();
/// assert!(!v.is_boundary());
/// v.feed(&euro[2..]).unwrap();
/// v.finish().unwrap();
/// // A surrogate (ed a0 ..) fails at its second byte, before the message ends:
/// let mut v = Utf8Validator::new();
/// v.feed(&[0xed]).unwrap();
/// assert!(v.feed(&[0xa0]).is_err());
/// ```
#[derive(Debug, Clone, Default)]
pub struct Utf8Validator {
    partial: [u8; 4],
    partial_len: usize,
    valid: u64,
}

impl Utf8Validator {
    /// A validator at the start of a stream.
    ///
    /// ```
    /// assert!(wisp_codec::internals::Utf8Validator::new().is_boundary());
    /// ```
    pub const fn new() -> Self {
        Utf8Validator {
            partial: [0; 4],
            partial_len: 0,
            valid: 0,
        }
    }

    /// Validates the next piece of the stream.
    ///
    /// ```
    /// let mut v = wisp_codec::internals::Utf8Validator::new();
    /// assert!(v.feed("κόσμε".as_bytes()).is_ok());
    /// assert!(v.feed(&[0xff]).is_err());
    /// ```
    pub fn feed(&mut self, mut input: &[u8]) -> Result<(), Utf8Error> {
        if self.partial_len > 0 {
            // Finish the code point split across calls, one byte at a time, so that an
            // impossible continuation is caught at the byte that makes it impossible.
            while let Some((&b, rest)) = input.split_first() {
                self.partial[self.partial_len] = b;
                self.partial_len += 1;
                input = rest;
                match core::str::from_utf8(&self.partial[..self.partial_len]) {
                    Ok(_) => {
                        self.valid += self.partial_len as u64;
                        self.partial_len = 0;
                        break;
                    }
                    Err(e) if e.error_len().is_some() => {
                        return Err(Utf8Error {
                            valid_up_to: self.valid,
                        })
                    }
                    Err(_) => {}
                }
            }
            if self.partial_len > 0 {
                return Ok(());
            }
        }
        match core::str::from_utf8(input) {
            Ok(_) => {
                self.valid += input.len() as u64;
                Ok(())
            }
            Err(e) => {
                let good = e.valid_up_to();
                if e.error_len().is_some() {
                    return Err(Utf8Error {
                        valid_up_to: self.valid + good as u64,
                    });
                }
                // The input ends inside a code point that may still be completed.
                let tail = &input[good..];
                self.partial[..tail.len()].copy_from_slice(tail);
                self.partial_len = tail.len();
                self.valid += good as u64;
                Ok(())
            }
        }
    }

    /// True when the stream so far ends on a code point boundary.
    ///
    /// ```
    /// let mut v = wisp_codec::internals::Utf8Validator::new();
    /// v.feed(&[0xf0, 0x9f]).unwrap();
    /// assert!(!v.is_boundary());
    /// ```
    pub fn is_boundary(&self) -> bool {
        self.partial_len == 0
    }

    /// Ends the stream: an unfinished code point is an error.
    ///
    /// ```
    /// let mut v = wisp_codec::internals::Utf8Validator::new();
    /// v.feed(&[0xe2, 0x82]).unwrap();
    /// assert_eq!(v.finish().unwrap_err().valid_up_to, 0);
    /// ```
    pub fn finish(&self) -> Result<(), Utf8Error> {
        if self.partial_len == 0 {
            Ok(())
        } else {
            Err(Utf8Error {
                valid_up_to: self.valid,
            })
        }
    }

    /// Starts a new stream.
    ///
    /// ```
    /// let mut v = wisp_codec::internals::Utf8Validator::new();
    /// v.feed(&[0xe2]).unwrap();
    /// v.reset();
    /// assert!(v.finish().is_ok());
    /// ```
    pub fn reset(&mut self) {
        *self = Utf8Validator::new();
    }
}
