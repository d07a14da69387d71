//! The C ABI driven exactly as a C program would: only the `extern "C"` functions and `repr(C)`
//! types of `jitslab::ffi`, raw pointers, status codes and `jitslab_last_error`.

use std::ffi::{c_char, CStr};
use std::ptr::{null, null_mut};

use jitslab::ffi::JitslabStatus::*;
use jitslab::ffi::*;
use jitslab::testing::{record_action, take_log};

fn last_error() -> String {
    // SAFETY: jitslab_last_error returns a valid C string owned by the library.
    unsafe { CStr::from_ptr(jitslab_last_error()) }.to_string_lossy().into_owned()
}

fn new_manager(span: u64) -> *mut JitslabManager {
    let mut cfg = jitslab_config_default();
    cfg.span_bytes = span;
    cfg.log_fallback = 0;
    let mut m = null_mut();
    // SAFETY: valid config and out pointer.
    assert_eq!(unsafe { jitslab_manager_new(&cfg, &mut m) }, JITSLAB_OK, "{}", last_error());
    assert!(!m.is_null());
    m
}

fn req(prot: u32, lifetime: u32, size: u64, align: u64) -> JitslabSegmentRequest {
    JitslabSegmentRequest { prot, lifetime, size, align }
}

const RX: u32 = JITSLAB_PROT_READ | JITSLAB_PROT_EXEC;
const RW: u32 = JITSLAB_PROT_READ | JITSLAB_PROT_WRITE;
const NO_SEG: JitslabSegment = JitslabSegment { addr: 0xdead, working: 0xbeef as *mut u8 };

fn allocate(m: *mut JitslabManager, reqs: &[JitslabSegmentRequest]) -> (JitslabStatus, Vec<JitslabSegment>, u64) {
    let mut segs = vec![NO_SEG; reqs.len()];
    let mut id = 0xfeed;
    // SAFETY: the arrays have `reqs.len()` elements.
    let st = unsafe { jitslab_allocate(m, reqs.as_ptr(), reqs.len(), segs.as_mut_ptr(), &mut id) };
    (st, segs, id)
}

fn stats(m: *mut JitslabManager) -> JitslabStats {
    let mut s = JitslabStats::default();
    // SAFETY: valid out pointer.
    assert_eq!(unsafe { jitslab_stats(m, &mut s) }, JITSLAB_OK);
    s
}

fn c_string(p: *mut c_char) -> String {
    // SAFETY: p came from jitslab and is freed exactly once here.
    let s = unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned();
    // SAFETY: as above.
    unsafe { jitslab_string_free(p) };
    s
}

#[cfg(target_arch = "x86_64")]
#[test]
fn c_caller_writes_code_runs_it_and_frees_it() {
    let m = new_manager(64 << 20);
    let (st, segs, id) = allocate(m, &[req(RX, JITSLAB_LIFETIME_STANDARD, 6, 16)]);
    assert_eq!(st, JITSLAB_OK, "{}", last_error());
    assert!(id != 0);
    let code = [0xb8, 0x2a, 0x00, 0x00, 0x00, 0xc3]; // mov eax, 42; ret
                                                     // SAFETY: the segment has 6 writable working bytes.
    unsafe { std::ptr::copy_nonoverlapping(code.as_ptr(), segs[0].working, 6) };
    // SAFETY: no actions.
    assert_eq!(unsafe { jitslab_finalize(m, id, null(), 0) }, JITSLAB_OK, "{}", last_error());
    // SAFETY: the finalized segment holds a complete function of this type.
    let f: extern "C" fn() -> i32 = unsafe { std::mem::transmute(segs[0].addr as usize) };
    assert_eq!(f(), 42);
    let s = stats(m);
    assert_eq!((s.allocations, s.finalizes, s.live_allocations, s.mapper), (1, 1, 1, JITSLAB_MAPPER_DUAL_VIEW));
    assert!(segs[0].addr >= s.base && segs[0].addr < s.base + s.reserved);
    // SAFETY: one valid id.
    assert_eq!(unsafe { jitslab_deallocate(m, &id, 1) }, JITSLAB_OK);
    assert_eq!(stats(m).live_allocations, 0);
    assert_eq!(jitslab_manager_free(m), JITSLAB_OK);
}

#[test]
fn actions_run_through_the_c_abi_and_a_failure_rolls_back() {
    let m = new_manager(16 << 20);
    let (st, _, id) = allocate(m, &[req(RW, JITSLAB_LIFETIME_STANDARD, 100, 8)]);
    assert_eq!(st, JITSLAB_OK);
    let call = |tag: &'static str| JitslabWrapperCall {
        fn_addr: record_action as jitslab::testing::internals::wrapper::WrapperFn as usize as u64,
        args: tag.as_ptr(),
        args_len: tag.len(),
    };
    let actions = [
        JitslabAction { finalize: call("capi:f1"), dealloc: call("capi:d1") },
        JitslabAction { finalize: call("fail:capi:f2"), dealloc: call("capi:d2") },
    ];
    // SAFETY: record_action is a wrapper function of this process; buffers valid.
    let st = unsafe { jitslab_finalize(m, id, actions.as_ptr(), actions.len()) };
    assert_eq!(st, JITSLAB_ERR_ACTION_FAILED);
    assert!(last_error().contains("refused: fail:capi:f2"), "{}", last_error());
    assert_eq!(take_log("capi:"), ["capi:f1", "fail:capi:f2", "capi:d1"]);
    assert_eq!(stats(m).live_allocations, 0, "rolled back");
    assert_eq!(jitslab_abandon(m, id), JITSLAB_ERR_UNKNOWN_ALLOCATION);
    jitslab_manager_free(m);
}

#[test]
fn every_bad_input_gets_a_status_and_a_message() {
    let m = new_manager(4 << 20);
    let good = [req(RW, JITSLAB_LIFETIME_STANDARD, 8, 8)];
    let mut segs = [NO_SEG];
    let mut id = 0xfeed_u64;
    let mut s = JitslabStats::default();
    let mut text: *mut c_char = null_mut();
    let fake = 0x1230 as *mut JitslabManager;
    // SAFETY: every pointer below is valid or null (null is what is being tested).
    unsafe {
        // Null and made-up handles.
        assert_eq!(
            jitslab_allocate(null_mut(), good.as_ptr(), 1, segs.as_mut_ptr(), &mut id),
            JITSLAB_ERR_NULL_ARGUMENT
        );
        assert!(last_error().contains("null"));
        assert_eq!(jitslab_allocate(fake, good.as_ptr(), 1, segs.as_mut_ptr(), &mut id), JITSLAB_ERR_INVALID_HANDLE);
        assert!(last_error().contains("not a live jitslab manager"), "{}", last_error());
        assert_eq!(jitslab_stats(fake, &mut s), JITSLAB_ERR_INVALID_HANDLE);
        assert_eq!(jitslab_abandon(fake, 1), JITSLAB_ERR_INVALID_HANDLE);
        assert_eq!(jitslab_deallocate(fake, &id, 1), JITSLAB_ERR_INVALID_HANDLE);
        assert_eq!(jitslab_finalize(fake, 1, null(), 0), JITSLAB_ERR_INVALID_HANDLE);
        assert_eq!(jitslab_heap_map(null_mut(), &mut text), JITSLAB_ERR_NULL_ARGUMENT);
        // Null out-parameters and arrays.
        assert_eq!(jitslab_allocate(m, null(), 1, segs.as_mut_ptr(), &mut id), JITSLAB_ERR_NULL_ARGUMENT);
        assert_eq!(jitslab_allocate(m, good.as_ptr(), 1, null_mut(), &mut id), JITSLAB_ERR_NULL_ARGUMENT);
        assert_eq!(jitslab_allocate(m, good.as_ptr(), 1, segs.as_mut_ptr(), null_mut()), JITSLAB_ERR_NULL_ARGUMENT);
        assert_eq!(jitslab_stats(m, null_mut()), JITSLAB_ERR_NULL_ARGUMENT);
        assert_eq!(jitslab_stats_text(m, null_mut()), JITSLAB_ERR_NULL_ARGUMENT);
        assert_eq!(jitslab_manager_new(null(), null_mut()), JITSLAB_ERR_NULL_ARGUMENT);
        assert_eq!(jitslab_finalize(m, 1, null(), 3), JITSLAB_ERR_NULL_ARGUMENT);
        assert_eq!(jitslab_deallocate(m, null(), 2), JITSLAB_ERR_NULL_ARGUMENT);
        // Counts: zero, and past the limit (never read).
        assert_eq!(jitslab_allocate(m, good.as_ptr(), 0, segs.as_mut_ptr(), &mut id), JITSLAB_ERR_INVALID_ARGUMENT);
        assert_eq!(
            jitslab_allocate(m, good.as_ptr(), usize::MAX, segs.as_mut_ptr(), &mut id),
            JITSLAB_ERR_INVALID_ARGUMENT
        );
        assert_eq!(jitslab_deallocate(m, &id, usize::MAX), JITSLAB_ERR_INVALID_ARGUMENT);
        // Requests that can never be met.
        for (bad, what) in [
            (req(RW | JITSLAB_PROT_EXEC, 0, 8, 8), "W^X"),
            (req(0, 0, 8, 8), "no access"),
            (req(0x100, 0, 8, 8), "unknown bits"),
            (req(RW, 7, 8, 8), "unknown lifetime"),
            (req(RW, 0, 8, 3), "alignment 0x3"),
            (req(RW, 0, 8, 1 << 20), "alignment 0x100000"),
        ] {
            assert_eq!(
                jitslab_allocate(m, &bad, 1, segs.as_mut_ptr(), &mut id),
                JITSLAB_ERR_INVALID_ARGUMENT,
                "{what}"
            );
            assert!(last_error().contains(what), "{what}: {}", last_error());
        }
        // Huge and overflowing sizes: a full reservation, described in hex.
        for size in [u64::MAX, 1 << 40, (4 << 20) + 1] {
            assert_eq!(
                jitslab_allocate(m, &req(RW, 0, size, 8), 1, segs.as_mut_ptr(), &mut id),
                JITSLAB_ERR_RESERVATION_FULL
            );
            assert!(
                last_error().contains(&format!("{size:#x}")) && last_error().contains("largest free range"),
                "{}",
                last_error()
            );
        }
        // None of the failures above wrote an out-parameter.
        assert_eq!((segs[0].addr, id), (0xdead, 0xfeed));
        assert_eq!(stats(m).allocations, 0);

        // Lifecycle misuse: unknown ids, double free, wrong states.
        assert_eq!(jitslab_abandon(m, 0), JITSLAB_ERR_UNKNOWN_ALLOCATION);
        assert_eq!(jitslab_abandon(m, u64::MAX), JITSLAB_ERR_UNKNOWN_ALLOCATION);
        assert_eq!(jitslab_allocate(m, good.as_ptr(), 1, segs.as_mut_ptr(), &mut id), JITSLAB_OK);
        assert_eq!(jitslab_deallocate(m, &id, 1), JITSLAB_ERR_BAD_STATE);
        assert!(last_error().contains("in flight"), "{}", last_error());
        assert_eq!(jitslab_finalize(m, id, null(), 0), JITSLAB_OK);
        assert_eq!(jitslab_finalize(m, id, null(), 0), JITSLAB_ERR_BAD_STATE);
        assert_eq!(jitslab_abandon(m, id), JITSLAB_ERR_BAD_STATE);
        let twice = [id, id];
        assert_eq!(jitslab_deallocate(m, twice.as_ptr(), 2), JITSLAB_ERR_INVALID_ARGUMENT);
        assert_eq!(jitslab_deallocate(m, &id, 1), JITSLAB_OK);
        assert_eq!(jitslab_deallocate(m, &id, 1), JITSLAB_ERR_UNKNOWN_ALLOCATION, "double free");
        assert!(last_error().contains("no such live allocation"));
        assert_eq!(jitslab_deallocate(m, null(), 0), JITSLAB_OK, "an empty batch is fine");

        // Strings.
        assert_eq!(jitslab_heap_map(m, &mut text), JITSLAB_OK);
        assert!(c_string(text).contains("jitslab heap map"));
        assert_eq!(jitslab_stats_text(m, &mut text), JITSLAB_OK);
        assert!(c_string(text).contains("allocations 1"));
        jitslab_string_free(null_mut());

        // Handles: free, double free, use after free, free(NULL).
        assert_eq!(jitslab_manager_free(m), JITSLAB_OK);
        assert_eq!(jitslab_manager_free(m), JITSLAB_ERR_INVALID_HANDLE);
        assert!(last_error().contains("double free"));
        assert_eq!(jitslab_stats(m, &mut s), JITSLAB_ERR_INVALID_HANDLE);
        assert_eq!(jitslab_manager_free(null_mut()), JITSLAB_OK);
    }
}

#[test]
fn bad_configs_are_refused_with_a_reason() {
    let mut m = 0x77 as *mut JitslabManager;
    let try_cfg = |f: &dyn Fn(&mut JitslabConfig), m: &mut *mut JitslabManager| {
        let mut cfg = jitslab_config_default();
        cfg.log_fallback = 0;
        f(&mut cfg);
        // SAFETY: valid pointers.
        unsafe { jitslab_manager_new(&cfg, m) }
    };
    assert_eq!(try_cfg(&|c| c.span_bytes = 0, &mut m), JITSLAB_ERR_INVALID_ARGUMENT);
    assert_eq!(try_cfg(&|c| c.span_bytes = 3 << 30, &mut m), JITSLAB_ERR_INVALID_ARGUMENT);
    assert!(last_error().contains("2 GiB"), "{}", last_error());
    assert_eq!(try_cfg(&|c| c.span_bytes = (1 << 20) + 4096, &mut m), JITSLAB_ERR_INVALID_ARGUMENT);
    assert_eq!(try_cfg(&|c| c.chunk_bytes = 1000, &mut m), JITSLAB_ERR_INVALID_ARGUMENT);
    assert_eq!(try_cfg(&|c| c.placement = 9, &mut m), JITSLAB_ERR_INVALID_ARGUMENT);
    assert_eq!(try_cfg(&|c| c.mapper = 9, &mut m), JITSLAB_ERR_INVALID_ARGUMENT);
    // A 2 GiB span within ±2 GiB of an address must contain that address, so near an address
    // that is already mapped (this function's code) it cannot be placed.
    let here = bad_configs_are_refused_with_a_reason as fn() as usize as u64;
    let st = try_cfg(
        &|c| {
            c.span_bytes = 2 << 30;
            c.placement = JITSLAB_PLACEMENT_NEAR;
            c.near_address = here
        },
        &mut m,
    );
    assert_eq!(st, JITSLAB_ERR_PLACEMENT, "{}", last_error());
    assert!(last_error().contains(&format!("within ±2 GiB of {here:#x}")), "{}", last_error());
    assert_eq!(m as usize, 0x77, "out untouched on failure");
    // A null config means the defaults.
    // SAFETY: valid out pointer.
    assert_eq!(unsafe { jitslab_manager_new(null(), &mut m) }, JITSLAB_OK);
    assert_eq!(stats(m).reserved, 1 << 30);
    jitslab_manager_free(m);
}

#[test]
fn low_and_near_placements_through_the_c_abi() {
    let here = low_and_near_placements_through_the_c_abi as fn() as usize as u64;
    for (placement, near) in [(JITSLAB_PLACEMENT_LOW, 0), (JITSLAB_PLACEMENT_NEAR, here)] {
        let mut cfg = jitslab_config_default();
        cfg.span_bytes = 256 << 20;
        cfg.placement = placement;
        cfg.near_address = near;
        let mut m = null_mut();
        // SAFETY: valid pointers.
        assert_eq!(unsafe { jitslab_manager_new(&cfg, &mut m) }, JITSLAB_OK, "{}", last_error());
        let s = stats(m);
        if placement == JITSLAB_PLACEMENT_LOW {
            assert!(s.base + s.reserved <= 1 << 31);
        } else {
            assert!(here.abs_diff(s.base) < 1 << 31 && here.abs_diff(s.base + s.reserved - 1) < 1 << 31);
        }
        jitslab_manager_free(m);
    }
}

#[test]
fn status_names_and_abi_version() {
    // SAFETY: static strings.
    let name = |s: u32| unsafe { CStr::from_ptr(jitslab_status_name(s)) }.to_str().unwrap().to_string();
    assert_eq!(name(0), "JITSLAB_OK");
    assert_eq!(name(JITSLAB_ERR_RESERVATION_FULL as u32), "JITSLAB_ERR_RESERVATION_FULL");
    assert_eq!(name(JITSLAB_ERR_PANIC as u32), "JITSLAB_ERR_PANIC");
    assert_eq!(name(JITSLAB_ERR_AUTHENTICATION as u32), "JITSLAB_ERR_AUTHENTICATION");
    assert_eq!(name(999), "unknown status");
    assert_eq!(jitslab_abi_version(), JITSLAB_ABI_VERSION);
}

/// Handles stay valid across threads, and a manager freed by one thread while others use it
/// stays alive until their calls return: they see `JITSLAB_ERR_INVALID_HANDLE` from then on,
/// never a crash. The free happens only after both users made progress, and both must then
/// observe it.
#[test]
fn handles_are_shared_safely_between_threads() {
    use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
    let m = new_manager(64 << 20) as usize;
    let cycles = AtomicU64::new(0);
    std::thread::scope(|s| {
        let users: Vec<_> = (0..2)
            .map(|_| {
                let cycles = &cycles;
                s.spawn(move || {
                    for _ in 0..10_000_000 {
                        let (st, _, id) = allocate(m as *mut JitslabManager, &[req(RW, 0, 64, 8)]);
                        if st == JITSLAB_ERR_INVALID_HANDLE {
                            return true;
                        }
                        assert_eq!(st, JITSLAB_OK, "{}", last_error());
                        match jitslab_abandon(m as *mut JitslabManager, id) {
                            JITSLAB_OK => cycles.fetch_add(1, SeqCst),
                            JITSLAB_ERR_INVALID_HANDLE => return true,
                            st => panic!("{st:?}: {}", last_error()),
                        };
                    }
                    false
                })
            })
            .collect();
        while cycles.load(SeqCst) < 200 {
            std::thread::yield_now();
        }
        assert_eq!(jitslab_manager_free(m as *mut JitslabManager), JITSLAB_OK);
        for u in users {
            assert!(u.join().unwrap(), "a user thread never saw the manager go away");
        }
    });
}

// --- a remote manager over a C transport, served by jitslab's executor service in-process ---

/// The transport's context: whether it publishes the native service's symbols.
struct LoopbackCtx {
    publish_native: bool,
}

/// Calls the wrapper function at `fn_addr` of this process (the executor's service, found by
/// `lookup`) and hands the result to `done` at once, as a C transport over a loopback would.
unsafe extern "C" fn loopback_call(
    _ctx: *mut std::ffi::c_void,
    fn_addr: u64,
    args: *const u8,
    args_len: usize,
    done: JitslabCallDone,
    done_ctx: *mut std::ffi::c_void,
) {
    // SAFETY: `fn_addr` came from `loopback_lookup`, which gives out only the service's
    // wrapper functions; `args` holds `args_len` bytes for this call.
    let f: jitslab::testing::internals::wrapper::WrapperFn = unsafe { std::mem::transmute(fn_addr as usize) };
    // SAFETY: as above.
    let result = unsafe { f(args as *const c_char, args_len) };
    // SAFETY: the result was just returned by a wrapper function and is taken once.
    match unsafe { result.take() } {
        // SAFETY: the bytes are lent for this call; `done_ctx` is handed back once.
        Ok(bytes) => unsafe { done(done_ctx, bytes.as_ptr(), bytes.len(), null()) },
        Err(e) => {
            let e = std::ffi::CString::new(e).unwrap();
            // SAFETY: as above.
            unsafe { done(done_ctx, null(), 0, e.as_ptr()) }
        }
    }
}

unsafe extern "C" fn loopback_lookup(ctx: *mut std::ffi::c_void, name: *const c_char, out: *mut u64) -> u8 {
    // SAFETY: ctx is the LoopbackCtx given to the transport; name is a C string.
    let (ctx, name) = unsafe { (&*(ctx as *const LoopbackCtx), CStr::from_ptr(name)) };
    if !ctx.publish_native {
        return 0;
    }
    let (mut syms, mut n) = (null(), 0);
    // SAFETY: valid out pointers.
    assert_eq!(unsafe { jitslab_executor_bootstrap_symbols(&mut syms, &mut n) }, JITSLAB_OK);
    // SAFETY: the library lends `n` entries for the life of the process.
    let syms = unsafe { std::slice::from_raw_parts(syms, n) };
    // SAFETY: each name is a static C string.
    match syms.iter().find(|s| unsafe { CStr::from_ptr(s.name) } == name) {
        Some(s) => {
            // SAFETY: valid out pointer.
            unsafe { *out = s.addr };
            1
        }
        None => 0,
    }
}

unsafe extern "C" fn loopback_destroy(ctx: *mut std::ffi::c_void) {
    // SAFETY: the box given to the transport, destroyed once.
    drop(unsafe { Box::from_raw(ctx as *mut LoopbackCtx) });
}

fn loopback(publish_native: bool) -> JitslabTransport {
    JitslabTransport {
        ctx: Box::into_raw(Box::new(LoopbackCtx { publish_native })) as *mut std::ffi::c_void,
        call: Some(loopback_call),
        lookup: Some(loopback_lookup),
        destroy: Some(loopback_destroy),
    }
}

/// `JitslabConfig.protocol` through the C ABI: native over a transport whose executor
/// publishes the service (statistics say native and how the memfd was taken; code written
/// through the working view is at the executor address, r-x, after a finalize that needs no
/// call), an unknown protocol refused, native against an executor without the service refused
/// with the reason.
#[test]
fn the_protocol_is_a_config_field() {
    let mut cfg = jitslab_config_default();
    assert_eq!(cfg.protocol, JITSLAB_PROTOCOL_AUTO);
    cfg.span_bytes = 16 << 20;
    cfg.protocol = JITSLAB_PROTOCOL_NATIVE;
    let mut m = null_mut();
    // SAFETY: valid config, transport and out pointer.
    assert_eq!(unsafe { jitslab_manager_new_remote(&cfg, loopback(true), &mut m) }, JITSLAB_OK, "{}", last_error());
    let s = stats(m);
    assert_eq!((s.mapper, s.protocol), (JITSLAB_MAPPER_REMOTE, JITSLAB_PROTOCOL_NATIVE));
    assert_eq!(s.sharing, JITSLAB_SHARING_PIDFD_GETFD);
    let calls = s.rpc_calls;
    let (st, segs, id) = allocate(m, &[req(RX, JITSLAB_LIFETIME_STANDARD, 16, 16)]);
    assert_eq!(st, JITSLAB_OK);
    let working = segs[0].working;
    // SAFETY: the working memory of a 16-byte segment.
    unsafe { *working = 0xc3 };
    // SAFETY: no actions.
    assert_eq!(unsafe { jitslab_finalize(m, id, null(), 0) }, JITSLAB_OK, "{}", last_error());
    // SAFETY: finalized: the executor (this process) made the page readable.
    assert_eq!(unsafe { *(segs[0].addr as *const u8) }, 0xc3);
    assert_eq!(stats(m).rpc_calls, calls + 1, "one protect for the new chunk, no finalize call");
    let mut text = null_mut();
    // SAFETY: valid out pointer.
    assert_eq!(unsafe { jitslab_stats_text(m, &mut text) }, JITSLAB_OK);
    assert!(c_string(text).contains("protocol: native"));
    assert_eq!(jitslab_manager_free(m), JITSLAB_OK);

    let mut m = 0x77 as *mut JitslabManager;
    cfg.protocol = 7;
    // SAFETY: as above.
    assert_eq!(unsafe { jitslab_manager_new_remote(&cfg, loopback(true), &mut m) }, JITSLAB_ERR_INVALID_ARGUMENT);
    assert!(last_error().contains("unknown protocol 7"), "{}", last_error());
    cfg.protocol = JITSLAB_PROTOCOL_NATIVE;
    // SAFETY: as above.
    assert_eq!(unsafe { jitslab_manager_new_remote(&cfg, loopback(false), &mut m) }, JITSLAB_ERR_EXECUTOR);
    assert!(last_error().contains("__jitslab_executor_setup"), "{}", last_error());
    assert_eq!(m as usize, 0x77, "out untouched on failure");
}

/// `jitslab_authenticate` as C calls it, on both ends of a socket pair: the same secret file
/// lets both through; different secrets fail both with `JITSLAB_ERR_AUTHENTICATION` and a
/// reason; bad arguments are refused before anything is read or written.
#[test]
fn authenticate_over_a_socket_pair() {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::net::UnixStream;
    let dir = std::env::temp_dir().join(format!("jitslab-ffi-auth-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = |name: &str, body: &str| {
        let p = dir.join(name);
        std::fs::write(&p, body).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::ffi::CString::new(p.to_str().unwrap()).unwrap()
    };
    let (a, b) = (file("a", "secret number one, long enough"), file("b", "secret number two, long enough"));
    let pair = |exec: &std::ffi::CString, ctrl: &std::ffi::CString| {
        let (e, c) = UnixStream::pair().unwrap();
        let exec = exec.clone();
        let executor = std::thread::spawn(move || {
            // SAFETY: an open socket and a C string.
            let s = unsafe { jitslab_authenticate(e.as_raw_fd(), JITSLAB_AUTH_EXECUTOR, exec.as_ptr()) };
            (s, last_error())
        });
        // SAFETY: as above.
        let s = unsafe { jitslab_authenticate(c.as_raw_fd(), JITSLAB_AUTH_CONTROLLER, ctrl.as_ptr()) };
        let controller = (s, last_error());
        drop(c);
        (executor.join().unwrap(), controller)
    };
    let ((e, _), (c, _)) = pair(&a, &a);
    assert_eq!((e, c), (JITSLAB_OK, JITSLAB_OK));
    let ((e, e_msg), (c, c_msg)) = pair(&a, &b);
    assert_eq!((e, c), (JITSLAB_ERR_AUTHENTICATION, JITSLAB_ERR_AUTHENTICATION));
    assert!(e_msg.contains("does not match"), "{e_msg}");
    assert!(c_msg.contains("refused this secret"), "{c_msg}");

    let (e, _c) = UnixStream::pair().unwrap();
    // SAFETY: null and bad values are what is tested; nothing is read through them.
    unsafe {
        assert_eq!(jitslab_authenticate(e.as_raw_fd(), JITSLAB_AUTH_EXECUTOR, null()), JITSLAB_ERR_NULL_ARGUMENT);
        assert_eq!(jitslab_authenticate(e.as_raw_fd(), 7, a.as_ptr()), JITSLAB_ERR_INVALID_ARGUMENT);
        assert!(last_error().contains("role 7"));
        assert_eq!(jitslab_authenticate(-1, JITSLAB_AUTH_EXECUTOR, a.as_ptr()), JITSLAB_ERR_INVALID_ARGUMENT);
        assert_eq!(jitslab_secret_file_check(a.as_ptr()), JITSLAB_OK);
        assert_eq!(jitslab_secret_file_check(null()), JITSLAB_ERR_NULL_ARGUMENT);
    }
    std::fs::set_permissions(dir.join("a"), std::fs::Permissions::from_mode(0o640)).unwrap();
    // SAFETY: a C string.
    assert_eq!(unsafe { jitslab_secret_file_check(a.as_ptr()) }, JITSLAB_ERR_INVALID_ARGUMENT);
    assert!(last_error().contains("mode 0640"), "{}", last_error());
    std::fs::remove_dir_all(&dir).unwrap();
}
