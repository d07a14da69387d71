//! The native protocol's wire decoders, fed arbitrary bytes: the four requests the executor
//! decodes (setup, finalize, deallocate, teardown), the range check every request's extents go
//! through (a finalize's protect extents and segments), and the authentication handshake's frames read from a peer that sends
//! anything.
//!
//! Checks: no decoder panics; whatever decodes re-encodes to exactly the input (decoders take
//! only whole, canonical messages); extents that `check_extents` accepts really are non-empty,
//! inside the region, page-aligned when asked and disjoint (checked here by brute force); the
//! handshake refuses a peer that does not hold the secret, whatever it sends.

#![no_main]

use std::io::{self, Read, Write};

use jitslab::testing::fuzzing::auth::{authenticate, Role, Secret};
use jitslab::testing::internals::native::{self, Extent};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    requests(data);
    if let Some((&page_bits, rest)) = data.split_first() {
        if let Ok(f) = native::decode_finalize(rest) {
            ranges(&f.protect, page_bits);
            for a in &f.allocs {
                ranges(&a.segments, page_bits);
            }
        }
    }
    handshake(data);
});

fn requests(data: &[u8]) {
    if let Ok(a) = native::decode_setup(data) {
        assert_eq!(native::setup_args(&a), data, "setup re-encodes");
    }
    if let Ok(f) = native::decode_finalize(data) {
        assert_eq!(native::finalize_args(f.handle, &f.protect, &f.allocs), data, "finalize re-encodes");
    }
    if let Ok((handle, keys)) = native::decode_deallocate(data) {
        assert_eq!(native::deallocate_args(handle, &keys), data, "deallocate re-encodes");
    }
    if let Ok(handle) = native::decode_teardown(data) {
        assert_eq!(native::teardown_args(handle), data, "teardown re-encodes");
    }
}

/// `check_extents` against a brute-force statement of its rules, on a small region whose page
/// size (a power of two up to 64 KiB) and span come from `bits`.
fn ranges(extents: &[Extent], bits: u8) {
    if extents.len() > 64 {
        return;
    }
    let page = 1u64 << (bits & 15).max(4);
    let span = page * u64::from(bits >> 4).max(1);
    for aligned in [false, true] {
        let ok = native::check_extents(extents, span, page, aligned, "range").is_ok();
        let valid = extents.iter().all(|e| {
            e.len > 0
                && e.end().is_some_and(|end| end <= span)
                && (!aligned || (e.offset % page == 0 && e.len % page == 0))
        }) && extents
            .iter()
            .enumerate()
            .all(|(i, a)| extents[..i].iter().all(|b| a.offset + a.len <= b.offset || b.offset + b.len <= a.offset));
        assert_eq!(ok, valid, "check_extents({extents:?}, span {span:#x}, page {page:#x}, aligned {aligned})");
    }
}

/// A peer whose bytes are the fuzz input; what we send it is swallowed.
struct Peer<'a>(&'a [u8]);

impl Read for Peer<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl Write for Peer<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn handshake(data: &[u8]) {
    let secret = Secret::from_bytes(b"fuzzing secret, 32 bytes long!!!").expect("a valid secret");
    for role in [Role::Executor, Role::Controller] {
        // The peer's proof covers a nonce drawn afresh by this side: no input can hold it.
        let r = authenticate(&mut Peer(data), role, &secret);
        assert!(r.is_err(), "{role:?} accepted a peer that cannot know the secret");
    }
}
