//! The C ABI (`include/jitslab.h`) driven as a C caller would, with arbitrary arguments, but
//! only within what the header promises to survive: null, freed and made-up manager handles;
//! null pointers where the header says null is reported; stale, repeated and made-up allocation
//! ids; any protection, lifetime, size, alignment, segment count and configuration field. It
//! never passes a pointer that does not point where the header says (that is the caller's
//! promise, undefined behaviour otherwise), and its allocation actions are `record_action`
//! (a wrapper function of the library's test helpers) or null.
//!
//! Checks: no call crashes or returns a status outside `JitslabStatus`; a failure leaves a
//! message in `jitslab_last_error` and its out-parameters untouched; a handle freed or made up
//! gets `JITSLAB_ERR_INVALID_HANDLE`, null `JITSLAB_ERR_NULL_ARGUMENT` (or a no-op for
//! `jitslab_manager_free`); an id never issued, or already given back, gets
//! `JITSLAB_ERR_UNKNOWN_ALLOCATION`; working memory of a fresh allocation can be written over
//! its whole size; and every manager is freed at the end of each input.

#![no_main]

use std::ffi::{c_void, CStr};
use std::ptr::{null, null_mut};

use jitslab::ffi::*;
use jitslab::testing::internals::wrapper::WrapperFn;
use jitslab::testing::{record_action, take_log};
use jitslab_fuzz::Input;
use libfuzzer_sys::fuzz_target;

const MADE_UP: *mut JitslabManager = 0x7357_0000 as *mut JitslabManager;

/// What the target knows: its live managers and what it gave out.
#[derive(Default)]
struct World {
    live: Vec<*mut JitslabManager>,
    freed: Vec<*mut JitslabManager>,
    /// (manager, id, finalized) of allocations live in a live manager.
    allocs: Vec<(*mut JitslabManager, u64, bool)>,
    /// Ids given back (freed, abandoned, rolled back), never valid again.
    gone: Vec<u64>,
}

fn last_error() -> String {
    // SAFETY: a NUL-terminated string owned by jitslab, valid until the next call here.
    unsafe { CStr::from_ptr(jitslab_last_error()) }.to_string_lossy().into_owned()
}

/// The status of a call that returned it, checked: a failure leaves a message.
fn checked(s: JitslabStatus, what: &str) -> JitslabStatus {
    let n = s as u32;
    assert!(n <= 12, "{what}: status {n} is not a JitslabStatus");
    if n == 10 {
        panic!("{what}: JITSLAB_ERR_PANIC: {}", last_error());
    }
    if s != JitslabStatus::JITSLAB_OK {
        assert!(!last_error().is_empty(), "{what} failed with {n} and no message");
    }
    s
}

impl World {
    fn handle(&self, input: &mut Input<'_>) -> *mut JitslabManager {
        let b = input.u8();
        match b % 8 {
            0 => null_mut(),
            1 => self.freed.get(usize::from(b / 8)).copied().unwrap_or(MADE_UP),
            2 => MADE_UP.wrapping_byte_add(usize::from(b / 8) << 4),
            _ => self.live.get(usize::from(b / 8) % self.live.len().max(1)).copied().unwrap_or(null_mut()),
        }
    }

    /// A handle's expected failure: `None` for a live one.
    fn bad_handle(&self, m: *mut JitslabManager) -> Option<JitslabStatus> {
        if m.is_null() {
            Some(JitslabStatus::JITSLAB_ERR_NULL_ARGUMENT)
        } else if self.live.contains(&m) {
            None
        } else {
            Some(JitslabStatus::JITSLAB_ERR_INVALID_HANDLE)
        }
    }

    fn id(&self, input: &mut Input<'_>, m: *mut JitslabManager) -> u64 {
        let b = input.u8();
        let mine: Vec<u64> = self.allocs.iter().filter(|a| a.0 == m).map(|a| a.1).collect();
        match b % 4 {
            0 => self.gone.get(usize::from(b / 4)).copied().unwrap_or(0),
            1 => input.u64(),
            _ => mine.get(usize::from(b / 4) % mine.len().max(1)).copied().unwrap_or(0),
        }
    }

    fn new_manager(&mut self, input: &mut Input<'_>) {
        let b = input.u8();
        let mut config = jitslab_config_default();
        config.log_fallback = 0;
        config.span_bytes = match b % 4 {
            0 => input.u64(),
            1 => config.chunk_bytes * u64::from(input.u8() % 8 + 1),
            _ => 4 << 20,
        };
        if b & 0x04 != 0 {
            config.chunk_bytes = match input.u8() {
                0 => input.u64(),
                c => 4096 << (c % 8),
            };
        }
        if b & 0x08 != 0 {
            config.placement = u32::from(input.u8() % 4);
            config.near_address = input.u64();
        }
        config.mapper = u32::from(b >> 4) % 4;
        config.retain_free_bytes = if b & 0x80 != 0 { input.u64() } else { 0 };
        config.protocol = u32::from(input.u8() % 4);
        let mut out = MADE_UP;
        let with_config = b % 16 != 15;
        let status = if input.u8() == 0xff {
            // SAFETY: the config is valid; a null out-parameter is reported.
            unsafe { jitslab_manager_new(&config, null_mut()) }
        } else {
            // SAFETY: the config (or null, for the defaults) and the out-parameter are valid.
            unsafe { jitslab_manager_new(if with_config { &config } else { null() }, &mut out) }
        };
        if checked(status, "jitslab_manager_new") == JitslabStatus::JITSLAB_OK {
            assert!(out != MADE_UP && !out.is_null());
            self.live.push(out);
        } else {
            assert_eq!(out, MADE_UP, "out-parameter written on failure");
        }
    }

    fn free_manager(&mut self, m: *mut JitslabManager) {
        let s = checked(jitslab_manager_free(m), "jitslab_manager_free");
        if m.is_null() {
            assert_eq!(s, JitslabStatus::JITSLAB_OK, "jitslab_manager_free(NULL)");
        } else if let Some(i) = self.live.iter().position(|&l| l == m) {
            assert_eq!(s, JitslabStatus::JITSLAB_OK, "{}", last_error());
            self.live.swap_remove(i);
            self.freed.push(m);
            let (theirs, rest): (Vec<_>, Vec<_>) = self.allocs.drain(..).partition(|a| a.0 == m);
            self.allocs = rest;
            self.gone.extend(theirs.iter().map(|a| a.1));
        } else {
            assert_eq!(s, JitslabStatus::JITSLAB_ERR_INVALID_HANDLE);
        }
    }

    fn allocate(&mut self, input: &mut Input<'_>) {
        let m = self.handle(input);
        let b = input.u8();
        let n = usize::from(b % 5);
        let segs: Vec<JitslabSegmentRequest> = (0..n)
            .map(|_| {
                let s = input.u8();
                JitslabSegmentRequest {
                    prot: if s == 0xff { input.u8().into() } else { [1, 3, 5, 7, 0, 2][usize::from(s % 6)] },
                    lifetime: u32::from(s / 6 % 4),
                    size: match input.u8() {
                        0 => input.u64(),
                        z => u64::from(z) * 97,
                    },
                    align: match input.u8() {
                        0xff => input.u64(),
                        a => 1 << (a % 16),
                    },
                }
            })
            .collect();
        let mut out_segs = vec![JitslabSegment { addr: 1, working: null_mut() }; n];
        let mut out_alloc = u64::MAX;
        let (count, segs_ptr) = match b / 8 % 8 {
            // A null request array with a count, or a count of 0: reported.
            0 => (n.max(1), null()),
            1 => (0, segs.as_ptr()),
            _ => (n, segs.as_ptr()),
        };
        let out_ptr = if b / 64 == 3 { null_mut() } else { out_segs.as_mut_ptr() };
        // SAFETY: `segs` and `out_segs` hold `n` entries; the nulls are reported.
        let s = unsafe { jitslab_allocate(m, segs_ptr, count, out_ptr, &mut out_alloc) };
        if let Some(bad) = self.bad_handle(m) {
            assert_eq!(checked(s, "jitslab_allocate"), bad);
        }
        if checked(s, "jitslab_allocate") == JitslabStatus::JITSLAB_OK {
            assert!(out_alloc != 0 && out_alloc != u64::MAX);
            for (req, seg) in segs.iter().zip(&out_segs) {
                if req.lifetime == 2 {
                    assert!(seg.addr == 0 && seg.working.is_null(), "a NoAlloc segment got memory");
                } else {
                    assert!(!seg.working.is_null());
                    // SAFETY: the working memory of a fresh allocation holds `size` bytes (written
                    // up to 1 MiB, to keep each input fast).
                    unsafe { std::ptr::write_bytes(seg.working, 0xc3, req.size.min(1 << 20) as usize) };
                }
            }
            self.allocs.push((m, out_alloc, false));
        } else {
            assert_eq!(out_alloc, u64::MAX, "out_alloc written on failure");
            assert!(out_segs.iter().all(|s| s.addr == 1), "out_segs written on failure");
        }
    }

    fn finalize(&mut self, input: &mut Input<'_>) {
        let m = self.handle(input);
        let id = self.id(input, m);
        let b = input.u8();
        let actions: Vec<JitslabAction> = (0..b % 3)
            .map(|i| {
                let call = |on: bool, args: &'static [u8]| JitslabWrapperCall {
                    fn_addr: if on { record_action as WrapperFn as usize as u64 } else { 0 },
                    args: args.as_ptr(),
                    args_len: args.len(),
                };
                let fail = b & (8 << i) != 0;
                JitslabAction {
                    finalize: call(b & (32 << i) != 0, if fail { b"fail:fuzz" } else { b"fuzz" }),
                    dealloc: call(true, b"fuzz"),
                }
            })
            .collect();
        let is_async = b & 0x80 != 0;
        let s = if is_async {
            unsafe extern "C" fn done(ctx: *mut c_void, status: JitslabStatus, _msg: *const std::ffi::c_char) {
                // SAFETY: ctx is the caller's slot, alive until the call returns (a local
                // manager calls back before it returns).
                unsafe { *(ctx as *mut Option<JitslabStatus>) = Some(status) };
            }
            let mut slot: Option<JitslabStatus> = None;
            // SAFETY: `actions` holds its count; the callback and its slot outlive the call.
            let s = unsafe {
                jitslab_finalize_async(
                    m,
                    id,
                    actions.as_ptr(),
                    actions.len(),
                    Some(done),
                    &mut slot as *mut Option<JitslabStatus> as *mut c_void,
                )
            };
            if s == JitslabStatus::JITSLAB_OK {
                slot.expect("a local finalize_async calls back before it returns")
            } else {
                assert_eq!(slot, None, "called back after refusing");
                s
            }
        } else {
            // SAFETY: `actions` holds its count, and their argument buffers are static.
            unsafe { jitslab_finalize(m, id, actions.as_ptr(), actions.len()) }
        };
        let s = checked(s, "jitslab_finalize");
        if let Some(bad) = self.bad_handle(m) {
            assert_eq!(s, bad);
            return;
        }
        let at = self.allocs.iter().position(|a| a.0 == m && a.1 == id);
        match at {
            None => assert_eq!(s, JitslabStatus::JITSLAB_ERR_UNKNOWN_ALLOCATION, "finalize of {id:#x}"),
            Some(i) if self.allocs[i].2 => assert_eq!(s, JitslabStatus::JITSLAB_ERR_BAD_STATE, "finalize twice"),
            Some(i) => match s {
                JitslabStatus::JITSLAB_OK => self.allocs[i].2 = true,
                _ => {
                    // A failed action rolls the allocation back.
                    self.allocs.swap_remove(i);
                    self.gone.push(id);
                }
            },
        }
    }

    fn abandon(&mut self, input: &mut Input<'_>) {
        let m = self.handle(input);
        let id = self.id(input, m);
        let s = checked(jitslab_abandon(m, id), "jitslab_abandon");
        if let Some(bad) = self.bad_handle(m) {
            assert_eq!(s, bad);
            return;
        }
        match self.allocs.iter().position(|a| a.0 == m && a.1 == id) {
            None => assert_eq!(s, JitslabStatus::JITSLAB_ERR_UNKNOWN_ALLOCATION),
            Some(i) if self.allocs[i].2 => assert_eq!(s, JitslabStatus::JITSLAB_ERR_BAD_STATE),
            Some(i) => {
                assert_eq!(s, JitslabStatus::JITSLAB_OK, "{}", last_error());
                self.allocs.swap_remove(i);
                self.gone.push(id);
            }
        }
    }

    fn deallocate(&mut self, input: &mut Input<'_>) {
        let m = self.handle(input);
        let ids: Vec<u64> = (0..input.u8() % 4).map(|_| self.id(input, m)).collect();
        // SAFETY: `ids` holds its count.
        let s = checked(unsafe { jitslab_deallocate(m, ids.as_ptr(), ids.len()) }, "jitslab_deallocate");
        if let Some(bad) = self.bad_handle(m) {
            assert_eq!(s, bad);
            return;
        }
        let all_finalized = ids.iter().all(|id| self.allocs.iter().any(|a| a.0 == m && a.1 == *id && a.2));
        let distinct = ids.iter().enumerate().all(|(i, id)| !ids[..i].contains(id));
        if s == JitslabStatus::JITSLAB_OK {
            assert!(all_finalized && distinct, "deallocate of {ids:x?} succeeded");
        }
        if all_finalized && distinct {
            assert_eq!(s, JitslabStatus::JITSLAB_OK, "deallocate of {ids:x?}: {}", last_error());
            self.allocs.retain(|a| !(a.0 == m && ids.contains(&a.1)));
            self.gone.extend(&ids);
        }
    }

    fn observe(&mut self, input: &mut Input<'_>) {
        let m = self.handle(input);
        let b = input.u8();
        let bad = self.bad_handle(m);
        match b % 4 {
            0 => {
                // SAFETY: an all-zero JitslabStats is a valid value of this plain-data struct.
                let mut stats: JitslabStats = unsafe { std::mem::zeroed() };
                let out = if b & 4 != 0 { null_mut() } else { &mut stats as *mut JitslabStats };
                // SAFETY: `out` is null or writable.
                let s = checked(unsafe { jitslab_stats(m, out) }, "jitslab_stats");
                if bad.is_none() && !out.is_null() {
                    assert_eq!(s, JitslabStatus::JITSLAB_OK, "{}", last_error());
                    let live = self.allocs.iter().filter(|a| a.0 == m && a.2).count() as u64;
                    assert!(stats.live_allocations >= live, "{} live, {live} finalized", stats.live_allocations);
                }
            }
            1 | 2 => {
                let mut text: *mut std::ffi::c_char = null_mut();
                let out = if b & 4 != 0 { null_mut() } else { &mut text as *mut *mut std::ffi::c_char };
                // SAFETY: `out` is null or writable.
                let s = unsafe {
                    if b % 4 == 1 {
                        jitslab_stats_text(m, out)
                    } else {
                        jitslab_heap_map(m, out)
                    }
                };
                if checked(s, "jitslab_stats_text/heap_map") == JitslabStatus::JITSLAB_OK {
                    assert!(!text.is_null());
                    // SAFETY: a string from jitslab, freed once.
                    unsafe { jitslab_string_free(text) };
                } else {
                    assert!(text.is_null(), "out written on failure");
                }
            }
            _ => {
                let code = u32::from(input.u8());
                // SAFETY: a static C string.
                let name = unsafe { CStr::from_ptr(jitslab_status_name(code)) };
                assert_eq!(name.to_bytes().starts_with(b"JITSLAB_"), code <= 12, "{name:?} for {code}");
                assert_eq!(jitslab_abi_version(), JITSLAB_ABI_VERSION);
                // SAFETY: null is allowed for both out-parameters and for the secret file.
                unsafe {
                    checked(jitslab_executor_bootstrap_symbols(null_mut(), null_mut()), "bootstrap_symbols");
                    checked(jitslab_secret_file_check(null()), "jitslab_secret_file_check");
                    jitslab_string_free(null_mut());
                }
            }
        }
    }
}

fn run(input: &mut Input<'_>) {
    let mut w = World::default();
    for _ in 0..48 {
        if input.0.is_empty() {
            break;
        }
        match input.u8() % 8 {
            0 if w.live.len() < 3 => w.new_manager(input),
            1 => {
                let m = w.handle(input);
                w.free_manager(m);
            }
            2 | 3 => w.allocate(input),
            4 => w.finalize(input),
            5 => w.abandon(input),
            6 => w.deallocate(input),
            _ => w.observe(input),
        }
    }
    for m in std::mem::take(&mut w.live) {
        assert_eq!(jitslab_manager_free(m), JitslabStatus::JITSLAB_OK);
    }
}

fuzz_target!(|data: &[u8]| {
    run(&mut Input(data));
    take_log("");
});
