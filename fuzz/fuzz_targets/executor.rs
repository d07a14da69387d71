//! The executor service (the native protocol's server side) fed arbitrary sequences of
//! operations, in process, through the same entry point its wrapper functions use.
//!
//! Each input is a little program: every operation takes a few bytes that choose its
//! arguments, mostly near the edges (spans of a few pages and ones the service must refuse,
//! extents at, across and past the region's end, keys that repeat, handles that were torn
//! down or never existed), and one operation passes raw bytes straight to a call's decoder.
//! Allocation actions are calls of `record_action` (a wrapper function of the library's test
//! helpers) or null: the service trusts the linker that an executable address is a wrapper
//! function, so the target never lets it call anything else.
//!
//! Checks: the service never crashes and every reply decodes as its call's reply type; setup
//! with valid arguments succeeds; a request naming a range outside its region, or a page-range
//! that is not page-aligned, is refused; finalize answers one result per allocation; and after
//! each input every region is torn down (`executor_shutdown`), so inputs do not leak into each
//! other.

#![no_main]

use jitslab::testing::fuzzing::executor_shutdown;
use jitslab::testing::internals::native::{self, Allocation, Extent, Op, SetupArgs, Sharing, PROTOCOL_VERSION};
use jitslab::testing::internals::wrapper::{ActionPair, WrapperCall, WrapperFn};
use jitslab::testing::internals::{executor_call as call, page_size, sps, Prot};
use jitslab::testing::{record_action, take_log};
use jitslab_fuzz::Input;
use libfuzzer_sys::fuzz_target;

/// Bytes of the input, taken from the front; zeros once it is used up.
/// What the target knows of a region it set up.
struct Region {
    handle: u64,
    span: u64,
}

const ACCESS: [Prot; 4] = [Prot::NONE, Prot::R, Prot::RW, Prot::RX];
const MAX_REGIONS: usize = 3;

fn region_handle(input: &mut Input<'_>, regions: &[Region], torn_down: &[u64]) -> u64 {
    let b = input.u8();
    match b % 8 {
        0 => input.u64(),
        1 => torn_down.get(usize::from(b / 8)).copied().unwrap_or(0),
        _ => regions.get(usize::from(b / 8) % regions.len().max(1)).map_or(0, |r| r.handle),
    }
}

/// An offset or a length: small multiples of 16 or of a page, the span's edges, or anything.
fn size(input: &mut Input<'_>, span: u64, page: u64) -> u64 {
    let b = input.u8();
    let k = u64::from(b / 8);
    match b % 8 {
        0..=2 => k * 16,
        3 | 4 => k * page,
        5 => span.wrapping_sub(k * page),
        6 => span.wrapping_add(k * 16),
        _ => input.u64(),
    }
}

fn extents(input: &mut Input<'_>, span: u64, page: u64) -> Vec<Extent> {
    let n = input.u8() % 5;
    (0..n)
        .map(|_| Extent {
            offset: size(input, span, page),
            len: size(input, span, page),
            access: ACCESS[usize::from(input.u8() % 4)],
        })
        .collect()
}

fn action(input: &mut Input<'_>) -> WrapperCall {
    let b = input.u8();
    let fn_addr = if b.is_multiple_of(4) { 0 } else { record_action as WrapperFn as usize as u64 };
    let args = if b % 4 == 1 { b"fail:fuzz".to_vec() } else { b"fuzz".to_vec() };
    WrapperCall { fn_addr, args }
}

fn allocations(input: &mut Input<'_>, span: u64, page: u64) -> Vec<Allocation> {
    let n = input.u8() % 4;
    (0..n)
        .map(|_| Allocation {
            key: u64::from(input.u8() % 8),
            segments: extents(input, span, page),
            actions: (0..input.u8() % 3)
                .map(|_| ActionPair { finalize: action(input), dealloc: action(input) })
                .collect(),
        })
        .collect()
}

fn inside(extents: &[Extent], span: u64) -> bool {
    extents.iter().all(|e| e.end().is_some_and(|end| end <= span))
}

fn error_reply(op: Op, reply: &[u8]) -> Result<(), String> {
    sps::decode_error(reply).unwrap_or_else(|e| panic!("{op:?} reply does not decode: {e}")).map_or(Ok(()), Err)
}

/// Replaces every action address of a decoded finalize request by a safe one.
fn defuse(args: &[u8]) -> Option<Vec<u8>> {
    let mut f = native::decode_finalize(args).ok()?;
    for c in f.allocs.iter_mut().flat_map(|a| a.actions.iter_mut()).flat_map(|p| [&mut p.finalize, &mut p.dealloc]) {
        if c.fn_addr != 0 {
            c.fn_addr = record_action as WrapperFn as usize as u64;
        }
    }
    Some(native::finalize_args(f.handle, &f.protect, &f.allocs))
}

fn run(input: &mut Input<'_>) {
    let page = page_size();
    let mut regions: Vec<Region> = Vec::new();
    let mut torn_down: Vec<u64> = Vec::new();
    for _ in 0..32 {
        if input.0.is_empty() {
            break;
        }
        let op = input.u8();
        match op % 6 {
            0 if regions.len() < MAX_REGIONS => {
                let b = input.u8();
                let span = match b % 8 {
                    0 => 0,
                    1 => page + 16,
                    2 => native::MAX_SPAN + page,
                    3 => input.u64(),
                    _ => page * u64::from(b / 8 + 1),
                };
                let version = if input.u8() == 0xff { input.u8().into() } else { PROTOCOL_VERSION };
                let sharing = if op & 0x80 != 0 { Sharing::Named } else { Sharing::Memfd };
                let args = SetupArgs { version, span, sharing };
                let reply = native::decode_setup_reply(&call(Op::Setup, &native::setup_args(&args)))
                    .unwrap_or_else(|e| panic!("setup reply does not decode: {e}"));
                let valid = version == PROTOCOL_VERSION && span != 0 && span % page == 0 && span <= native::MAX_SPAN;
                // A span this large is valid but costs too much address space per input.
                if valid && span > 64 * page {
                    if let Ok(r) = &reply {
                        let _ = call(Op::Teardown, &native::teardown_args(r.handle));
                    }
                    continue;
                }
                match reply {
                    Ok(r) => {
                        assert!(valid, "setup accepted {args:?}");
                        regions.push(Region { handle: r.handle, span });
                    }
                    Err(e) => assert!(!valid, "setup refused {args:?}: {e}"),
                }
            }
            1 => {
                // A finalize that only gives page ranges their access.
                let handle = region_handle(input, &regions, &torn_down);
                let span = regions.iter().find(|r| r.handle == handle).map_or(1 << 20, |r| r.span);
                let ranges = extents(input, span, page);
                let reply = call(Op::Finalize, &native::finalize_args(handle, &ranges, &[]));
                let r = native::decode_finalize_reply(&reply)
                    .unwrap_or_else(|e| panic!("finalize reply does not decode: {e}"));
                if let Ok(results) = r {
                    assert!(results.is_empty(), "results for an empty batch: {results:?}");
                    assert!(regions.iter().any(|g| g.handle == handle), "protect on unknown handle {handle:#x}");
                    assert!(inside(&ranges, span), "protect accepted {ranges:?} in a span of {span:#x}");
                    assert!(ranges.iter().all(|e| e.offset % page == 0 && e.len % page == 0 && e.len > 0));
                }
            }
            2 => {
                let handle = region_handle(input, &regions, &torn_down);
                let span = regions.iter().find(|r| r.handle == handle).map_or(1 << 20, |r| r.span);
                let allocs = allocations(input, span, page);
                let reply = call(Op::Finalize, &native::finalize_args(handle, &[], &allocs));
                let outcome = native::decode_finalize_reply(&reply)
                    .unwrap_or_else(|e| panic!("finalize reply does not decode: {e}"));
                if let Ok(results) = outcome {
                    assert!(regions.iter().any(|g| g.handle == handle), "finalize on unknown handle {handle:#x}");
                    assert_eq!(results.len(), allocs.len(), "one result per allocation");
                    for a in &allocs {
                        assert!(inside(&a.segments, span), "finalize accepted {:?} in a span of {span:#x}", a.segments);
                        assert!(a.segments.iter().all(|s| s.len > 0 && s.access != Prot::NONE));
                    }
                }
            }
            3 => {
                let handle = region_handle(input, &regions, &torn_down);
                let keys: Vec<u64> = (0..input.u8() % 4).map(|_| u64::from(input.u8() % 8)).collect();
                let _ = error_reply(Op::Deallocate, &call(Op::Deallocate, &native::deallocate_args(handle, &keys)));
            }
            4 => {
                let handle = region_handle(input, &regions, &torn_down);
                let r = error_reply(Op::Teardown, &call(Op::Teardown, &native::teardown_args(handle)));
                if let Some(i) = regions.iter().position(|g| g.handle == handle) {
                    // Ends regardless; an error only reports failed dealloc actions.
                    assert!(r.as_ref().err().is_none_or(|e| e.contains("refused")), "teardown: {r:?}");
                    regions.swap_remove(i);
                    torn_down.push(handle);
                } else {
                    assert!(r.is_err(), "teardown of unknown handle {handle:#x} succeeded");
                }
            }
            5 => {
                // Raw bytes for one call's decoder; a finalize's action addresses are defused.
                let which = Op::ALL[usize::from(input.u8()) % Op::ALL.len()];
                let n = usize::from(input.u8());
                let raw = input.bytes(n).to_vec();
                let args = match which {
                    Op::Finalize => defuse(&raw).unwrap_or(raw),
                    // A raw setup could ask for 2 GiB; its decoder is the native target's.
                    Op::Setup => continue,
                    _ => raw,
                };
                let reply = call(which, &args);
                match which {
                    Op::Finalize => {
                        let _ = native::decode_finalize_reply(&reply).expect("finalize reply decodes");
                    }
                    Op::Teardown => {
                        if error_reply(which, &reply).is_ok() {
                            if let Ok(h) = native::decode_teardown(&args) {
                                regions.retain(|g| g.handle != h);
                                torn_down.push(h);
                            }
                        }
                    }
                    _ => {
                        let _ = error_reply(which, &reply);
                    }
                }
            }
            _ => {}
        }
    }
}

fuzz_target!(|data: &[u8]| {
    run(&mut Input(data));
    let _ = executor_shutdown();
    take_log("");
});
