//! SPS decoding: every reply the linker side decodes (the stock service's `Reserve`,
//! `Initialize`, `Deinitialize`/`Release` results; the native service's setup and finalize
//! replies; a bare `Error`) and the reader's primitives, fed arbitrary bytes.
//!
//! Checks: no decoder panics or reads out of bounds; a decoder accepts only whole, canonical
//! messages, so whatever decodes (with valid UTF-8 text) re-encodes to exactly the input; a
//! sequence count is never trusted beyond the bytes left.

#![no_main]

use jitslab::testing::fuzzing::stock;
use jitslab::testing::internals::native;
use jitslab::testing::internals::sps::{self, Reader, Writer};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    decoders(data);
    primitives(data);
});

fn utf8(s: &str) -> bool {
    !s.contains('\u{fffd}')
}

fn decoders(data: &[u8]) {
    if let Ok(msg) = sps::decode_error(data) {
        if msg.as_deref().is_none_or(utf8) {
            assert_eq!(sps::encode_error(msg.as_deref()), data, "Error re-encodes");
        }
    }
    if let Ok(reply) = native::decode_setup_reply(data) {
        let text_ok = match &reply {
            Ok(r) => utf8(&r.name),
            Err(e) => utf8(e),
        };
        if text_ok {
            assert_eq!(native::setup_reply(&reply), data, "setup reply re-encodes");
        }
    }
    if let Ok(outcome) = native::decode_finalize_reply(data) {
        let text_ok = match &outcome {
            Ok(results) => results.iter().all(|r| r.as_ref().err().is_none_or(|e| utf8(e))),
            Err(e) => utf8(e),
        };
        if text_ok {
            assert_eq!(native::finalize_reply(&outcome), data, "finalize reply re-encodes");
        }
    }
    if let Ok(reserved) = stock::reserve_result(data) {
        let mut w = Writer::new();
        match &reserved {
            Ok((addr, name)) => w.bool(true).u64(*addr).bytes(name.as_bytes()),
            Err(e) => w.bool(false).bytes(e.as_bytes()),
        };
        if reserved.as_ref().map_or_else(|e| utf8(e), |(_, n)| utf8(n)) {
            assert_eq!(w.finish(), data, "Reserve result re-encodes");
        }
    }
    if let Ok(initialized) = stock::initialize_result(data) {
        let mut w = Writer::new();
        match &initialized {
            Ok(key) => w.bool(true).u64(*key),
            Err(e) => w.bool(false).bytes(e.as_bytes()),
        };
        if initialized.as_ref().err().is_none_or(|e| utf8(e)) {
            assert_eq!(w.finish(), data, "Initialize result re-encodes");
        }
    }
    let _ = stock::error_result(data);
}

/// The first byte picks a sequence of up to four reads (two bits each); the rest is what they
/// read. Every read either succeeds within the bytes given or fails cleanly.
fn primitives(data: &[u8]) {
    let Some((&program, rest)) = data.split_first() else { return };
    let mut r = Reader::new(rest);
    for step in 0..4 {
        let read = match (program >> (2 * step)) & 3 {
            0 => r.u32("u32").map(drop),
            1 => r.string("string").map(drop),
            2 => r.count(3, "count").map(|n| {
                assert!(n as u64 * 3 <= rest.len() as u64, "a count of {n} trusted with {} bytes", rest.len())
            }),
            _ => r.bool("bool").map(drop),
        };
        if read.is_err() {
            break;
        }
    }
    let empty = r.is_empty();
    assert_eq!(r.finish("primitives").is_ok(), empty);
}
