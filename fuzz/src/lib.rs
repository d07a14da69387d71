//! What the fuzz targets share: the reader that turns libFuzzer's bytes into a program's
//! choices.

/// The fuzzer's input, consumed from the front. Past its end every read gives zeros, so any
/// input is a whole program: a short one just ends in zeros.
pub struct Input<'a>(pub &'a [u8]);

impl Input<'_> {
    /// The next byte, or 0.
    pub fn u8(&mut self) -> u8 {
        let Some((&b, rest)) = self.0.split_first() else { return 0 };
        self.0 = rest;
        b
    }

    /// The next eight bytes, little-endian (zeros past the end).
    pub fn u64(&mut self) -> u64 {
        (0..8).fold(0, |v, i| v | u64::from(self.u8()) << (8 * i))
    }

    /// Up to `n` bytes: as many as are left.
    pub fn bytes(&mut self, n: usize) -> &[u8] {
        let (head, rest) = self.0.split_at(n.min(self.0.len()));
        self.0 = rest;
        head
    }
}
