//! LLVM's Simple Packed Serialization (SPS), as far as jitslab's messages need it. Byte layouts
//! are in the shared reference notes (§5):
//! - integers are little-endian with no padding; `bool` is one byte, 0 or 1; an executor address
//!   is a `u64`;
//! - a sequence (and a string, or a byte buffer) is a `u64` count followed by its elements;
//! - a tuple, and an argument list, is its elements one after the other;
//! - `Error` is a `bool` "failed", then the message when it is true; `Expected<T>` is a `bool`
//!   "has value", then `T`, or the error message.
//!
//! [`Writer`] builds a buffer; [`Reader`] takes values from the front of one. Truncated or
//! malformed input is an [`SpsError`], never a panic or an out-of-bounds read, and a length
//! field is checked against the bytes left before anything is allocated for it.
//!
//! Concurrency: pure functions over byte slices.

use std::fmt;

/// Input that does not decode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpsError(pub String);

impl fmt::Display for SpsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed SPS data: {}", self.0)
    }
}

/// Reads SPS values from the front of a byte slice.
#[derive(Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf }
    }

    pub fn bytes(&mut self, n: u64, what: &str) -> Result<&'a [u8], SpsError> {
        let n = usize::try_from(n)
            .ok()
            .filter(|&n| n <= self.buf.len())
            .ok_or_else(|| SpsError(format!("{what}: needs {n} bytes, {} left", self.buf.len())))?;
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    pub fn u8(&mut self, what: &str) -> Result<u8, SpsError> {
        Ok(self.bytes(1, what)?[0])
    }

    pub fn bool(&mut self, what: &str) -> Result<bool, SpsError> {
        match self.u8(what)? {
            0 => Ok(false),
            1 => Ok(true),
            b => Err(SpsError(format!("{what}: bool byte {b:#04x} is neither 0 nor 1"))),
        }
    }

    pub fn u32(&mut self, what: &str) -> Result<u32, SpsError> {
        let b = self.bytes(4, what)?;
        Ok(u32::from_le_bytes(b.try_into().expect("4 bytes")))
    }

    pub fn i32(&mut self, what: &str) -> Result<i32, SpsError> {
        let b = self.bytes(4, what)?;
        Ok(i32::from_le_bytes(b.try_into().expect("4 bytes")))
    }

    pub fn u64(&mut self, what: &str) -> Result<u64, SpsError> {
        let b = self.bytes(8, what)?;
        Ok(u64::from_le_bytes(b.try_into().expect("8 bytes")))
    }

    /// An `SPSString`: `u64` length, then the bytes (no NUL). Invalid UTF-8 is replaced.
    pub fn string(&mut self, what: &str) -> Result<String, SpsError> {
        let n = self.u64(what)?;
        Ok(String::from_utf8_lossy(self.bytes(n, what)?).into_owned())
    }

    /// A sequence's element count, checked against the bytes left: every element takes at
    /// least `min_element` bytes, so a count that cannot fit is refused before anything is
    /// allocated for it.
    pub fn count(&mut self, min_element: u64, what: &str) -> Result<usize, SpsError> {
        let n = self.u64(what)?;
        let need = n.checked_mul(min_element.max(1));
        match need {
            Some(need) if need <= self.buf.len() as u64 => Ok(n as usize),
            _ => Err(SpsError(format!("{what}: {n} elements cannot fit in the {} bytes left", self.buf.len()))),
        }
    }

    /// An `SPSExpected<T>`: `Ok(Ok(value))`, or `Ok(Err(message))` for an error value.
    pub fn expected<T>(
        &mut self,
        what: &str,
        value: impl FnOnce(&mut Reader<'a>) -> Result<T, SpsError>,
    ) -> Result<Result<T, String>, SpsError> {
        if self.bool(what)? {
            Ok(Ok(value(self)?))
        } else {
            Ok(Err(self.string(what)?))
        }
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Fails unless every byte was consumed.
    pub fn finish(self, what: &str) -> Result<(), SpsError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(SpsError(format!("{what}: {} trailing bytes", self.buf.len())))
        }
    }
}

/// Builds an SPS buffer. Every method appends one value and returns the writer.
#[derive(Debug, Default, Clone)]
pub struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    pub fn new() -> Writer {
        Writer::default()
    }

    pub fn u8(&mut self, v: u8) -> &mut Writer {
        self.buf.push(v);
        self
    }

    pub fn bool(&mut self, v: bool) -> &mut Writer {
        self.u8(u8::from(v))
    }

    pub fn u32(&mut self, v: u32) -> &mut Writer {
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }

    pub fn i32(&mut self, v: i32) -> &mut Writer {
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }

    pub fn u64(&mut self, v: u64) -> &mut Writer {
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }

    /// A sequence's element count.
    pub fn count(&mut self, n: usize) -> &mut Writer {
        self.u64(n as u64)
    }

    /// An `SPSSequence<char>` (a byte buffer or a string): length, then the bytes.
    pub fn bytes(&mut self, b: &[u8]) -> &mut Writer {
        self.count(b.len());
        self.buf.extend_from_slice(b);
        self
    }

    pub fn finish(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
    }
}

/// Decodes an `SPSError`: `Ok(None)` for success, `Ok(Some(message))` for an error.
pub fn decode_error(buf: &[u8]) -> Result<Option<String>, SpsError> {
    let mut r = Reader::new(buf);
    let failed = r.bool("Error flag")?;
    let msg = if failed { Some(r.string("Error message")?) } else { None };
    r.finish("Error")?;
    Ok(msg)
}

/// Encodes an `SPSExpected<T>` holding an error message.
pub fn encode_expected_error(msg: &str) -> Vec<u8> {
    Writer::new().bool(false).bytes(msg.as_bytes()).finish()
}

/// Encodes an `SPSError`: `None` is success.
pub fn encode_error(msg: Option<&str>) -> Vec<u8> {
    let mut w = Writer::new();
    match msg {
        None => w.bool(false),
        Some(m) => w.bool(true).bytes(m.as_bytes()),
    };
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Golden bytes from LLVM 19's own serializer (reference notes §5.3).
    #[test]
    fn error_matches_llvm_golden_bytes() {
        assert_eq!(encode_error(None), [0x00]);
        let oops = [0x01, 0x04, 0, 0, 0, 0, 0, 0, 0, b'o', b'o', b'p', b's'];
        assert_eq!(encode_error(Some("oops")), oops);
        assert_eq!(decode_error(&oops), Ok(Some("oops".to_string())));
        assert_eq!(decode_error(&[0]), Ok(None));
    }

    #[test]
    fn expected_decodes_values_and_error_messages() {
        // Expected<ExecutorAddr> ok 0x7f0000001000, and the error "bad" (reference §5.3).
        let ok = [0x01, 0x00, 0x10, 0x00, 0x00, 0x00, 0x7f, 0x00, 0x00];
        let mut r = Reader::new(&ok);
        assert_eq!(r.expected("v", |r| r.u64("addr")), Ok(Ok(0x7f00_0000_1000)));
        assert!(r.is_empty());
        let err = [0x00, 3, 0, 0, 0, 0, 0, 0, 0, b'b', b'a', b'd'];
        assert_eq!(Reader::new(&err).expected("v", |r| r.u64("addr")), Ok(Err("bad".to_string())));
    }

    #[test]
    fn thirty_two_bit_integers_are_little_endian() {
        let b = Writer::new().u32(0x0102_0304).i32(-2).finish();
        assert_eq!(b, [4, 3, 2, 1, 0xfe, 0xff, 0xff, 0xff]);
        let mut r = Reader::new(&b);
        assert_eq!((r.u32("a"), r.i32("b")), (Ok(0x0102_0304), Ok(-2)));
        assert!(Reader::new(&b[..3]).u32("short").unwrap_err().0.contains("needs 4 bytes"));
        assert_eq!(encode_expected_error("bad"), [0, 3, 0, 0, 0, 0, 0, 0, 0, b'b', b'a', b'd']);
    }

    #[test]
    fn counts_that_cannot_fit_are_refused_before_allocating() {
        let mut w = Writer::new();
        w.u64(u64::MAX).u8(0);
        let huge = w.finish();
        assert!(Reader::new(&huge).count(1, "seq").unwrap_err().0.contains("cannot fit"));
        let mut w = Writer::new();
        w.count(2).u64(1).u64(2);
        let two = w.finish();
        assert_eq!(Reader::new(&two).count(8, "seq"), Ok(2));
        assert!(Reader::new(&two).count(9, "seq").is_err());
    }

    #[test]
    fn truncated_or_malformed_errors_are_reported_not_panicked() {
        assert!(decode_error(&[]).is_err());
        assert!(decode_error(&[2]).unwrap_err().0.contains("neither 0 nor 1"));
        assert!(decode_error(&[1, 4, 0, 0, 0, 0, 0, 0, 0, b'o']).unwrap_err().0.contains("needs 4 bytes"));
        assert!(decode_error(&[1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]).is_err());
        assert!(decode_error(&[0, 0]).unwrap_err().0.contains("trailing"));
    }
}
