//! LLVM's Simple Packed Serialization (SPS), as far as jitslab needs it: the `Error` that every
//! allocation action returns. Byte layouts are in the shared reference notes (§5): integers are
//! little-endian with no padding, a string is a `u64` length and its bytes, and an `Error` is a
//! `bool` followed, when true, by its message.
//!
//! Truncated or malformed input is an [`SpsError`], never a panic or an out-of-bounds read.
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

    pub fn u64(&mut self, what: &str) -> Result<u64, SpsError> {
        let b = self.bytes(8, what)?;
        Ok(u64::from_le_bytes(b.try_into().expect("8 bytes")))
    }

    /// An `SPSString`: `u64` length, then the bytes (no NUL). Invalid UTF-8 is replaced.
    pub fn string(&mut self, what: &str) -> Result<String, SpsError> {
        let n = self.u64(what)?;
        Ok(String::from_utf8_lossy(self.bytes(n, what)?).into_owned())
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

/// Decodes an `SPSError`: `Ok(None)` for success, `Ok(Some(message))` for an error.
pub fn decode_error(buf: &[u8]) -> Result<Option<String>, SpsError> {
    let mut r = Reader::new(buf);
    let failed = r.bool("Error flag")?;
    let msg = if failed { Some(r.string("Error message")?) } else { None };
    r.finish("Error")?;
    Ok(msg)
}

/// Encodes an `SPSError`: `None` is success.
pub fn encode_error(msg: Option<&str>) -> Vec<u8> {
    match msg {
        None => vec![0],
        Some(m) => {
            let mut v = Vec::with_capacity(9 + m.len());
            v.push(1);
            v.extend_from_slice(&(m.len() as u64).to_le_bytes());
            v.extend_from_slice(m.as_bytes());
            v
        }
    }
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
    fn truncated_or_malformed_errors_are_reported_not_panicked() {
        assert!(decode_error(&[]).is_err());
        assert!(decode_error(&[2]).unwrap_err().0.contains("neither 0 nor 1"));
        assert!(decode_error(&[1, 4, 0, 0, 0, 0, 0, 0, 0, b'o']).unwrap_err().0.contains("needs 4 bytes"));
        assert!(decode_error(&[1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]).is_err());
        assert!(decode_error(&[0, 0]).unwrap_err().0.contains("trailing"));
    }
}
