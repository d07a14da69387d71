//! The demo: drives jitslab's C ABI exactly as a C program would, and JIT-links two tiny
//! "objects" of x86-64 code by hand in the dual-mapped slab:
//! - object A: `int next(void)`: bumps a counter in its .data and returns counter + a constant
//!   from its .rodata (RIP-relative loads and stores);
//! - object B: `int twice(void)`: calls A's `next` twice with rel32 calls, which only link
//!   because both objects lie in one span of at most 2 GiB; its finalize action "registers" it.
//!
//! It prints the results, jitslab's statistics and heap map, then frees everything.
//! Run it with `./x demo` (or `cargo run --example demo`).

use std::ffi::{c_char, CStr};
use std::ptr::{null, null_mut};
use std::sync::atomic::{AtomicU32, Ordering};

use jitslab::ffi::JitslabStatus::JITSLAB_OK;
use jitslab::ffi::*;
use jitslab::testing::internals::wrapper::CWrapperFunctionResult;

fn check(status: JitslabStatus, what: &str) {
    if status != JITSLAB_OK {
        // SAFETY: jitslab_last_error returns a valid C string.
        let msg = unsafe { CStr::from_ptr(jitslab_last_error()) }.to_string_lossy();
        eprintln!("demo: {what} failed: {status:?}: {msg}");
        std::process::exit(1);
    }
}

static REGISTERED: AtomicU32 = AtomicU32::new(0);

/// A finalize/dealloc action, as ORC would run one: an SPS-encoded success (`00`).
unsafe extern "C" fn register(args: *const c_char, len: usize) -> CWrapperFunctionResult {
    // SAFETY: jitslab passes `len` bytes at `args`.
    let what = unsafe { std::slice::from_raw_parts(args as *const u8, len) };
    match what {
        b"register" => REGISTERED.fetch_add(1, Ordering::SeqCst),
        _ => REGISTERED.fetch_sub(1, Ordering::SeqCst),
    };
    CWrapperFunctionResult::from_bytes(&[0])
}

fn rel32(from_next_insn: u64, to: u64) -> [u8; 4] {
    let d = to as i64 - from_next_insn as i64;
    i32::try_from(d).expect("within ±2 GiB: the slab guarantees it").to_le_bytes()
}

fn seg(prot: u32, size: u64) -> JitslabSegmentRequest {
    JitslabSegmentRequest { prot, lifetime: JITSLAB_LIFETIME_STANDARD, size, align: 16 }
}

fn write(s: &JitslabSegment, bytes: &[u8]) {
    // SAFETY: every segment below was allocated at least as large as what is written to it.
    unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), s.working, bytes.len()) };
}

fn print_owned(p: *mut c_char) {
    // SAFETY: a string from jitslab, freed once.
    println!("{}", unsafe { CStr::from_ptr(p) }.to_string_lossy());
    // SAFETY: as above.
    unsafe { jitslab_string_free(p) };
}

fn main() {
    if !cfg!(target_arch = "x86_64") {
        eprintln!("demo: the JIT'd code is x86-64; this machine is not");
        std::process::exit(1);
    }
    let mut m = null_mut();
    let mut cfg = jitslab_config_default();
    cfg.span_bytes = 256 << 20;
    // SAFETY: valid config and out pointer.
    check(unsafe { jitslab_manager_new(&cfg, &mut m) }, "jitslab_manager_new");

    // Object A: .text, .rodata, .data.
    let mut a = [JitslabSegment { addr: 0, working: null_mut() }; 3];
    let mut a_id = 0;
    let reqs = [
        seg(JITSLAB_PROT_READ | JITSLAB_PROT_EXEC, 32),
        seg(JITSLAB_PROT_READ, 4),
        seg(JITSLAB_PROT_READ | JITSLAB_PROT_WRITE, 4),
    ];
    // SAFETY: arrays of 3.
    check(unsafe { jitslab_allocate(m, reqs.as_ptr(), 3, a.as_mut_ptr(), &mut a_id) }, "allocate A");
    let (text, rodata, data) = (a[0], a[1], a[2]);
    let mut code = vec![0x83, 0x05]; // add dword [rip+data], 1
    code.extend(rel32(text.addr + 7, data.addr));
    code.push(0x01);
    code.extend([0x8b, 0x05]); // mov eax, [rip+data]
    code.extend(rel32(text.addr + 13, data.addr));
    code.extend([0x03, 0x05]); // add eax, [rip+rodata]
    code.extend(rel32(text.addr + 19, rodata.addr));
    code.push(0xc3); // ret
    write(&text, &code);
    write(&rodata, &100u32.to_le_bytes());
    // SAFETY: no actions.
    check(unsafe { jitslab_finalize(m, a_id, null(), 0) }, "finalize A");

    // Object B: .text calling A twice; a finalize action registers it.
    let mut b = [JitslabSegment { addr: 0, working: null_mut() }];
    let mut b_id = 0;
    // SAFETY: arrays of 1.
    check(
        unsafe { jitslab_allocate(m, &seg(JITSLAB_PROT_READ | JITSLAB_PROT_EXEC, 32), 1, b.as_mut_ptr(), &mut b_id) },
        "allocate B",
    );
    let t = b[0].addr;
    let mut code = vec![0x53, 0xe8]; // push rbx; call next
    code.extend(rel32(t + 6, text.addr));
    code.extend([0x89, 0xc3, 0xe8]); // mov ebx, eax; call next
    code.extend(rel32(t + 13, text.addr));
    code.extend([0x01, 0xd8, 0x5b, 0xc3]); // add eax, ebx; pop rbx; ret
    write(&b[0], &code);
    let f = register as jitslab::testing::internals::wrapper::WrapperFn as usize as u64;
    let call = |s: &'static [u8]| JitslabWrapperCall { fn_addr: f, args: s.as_ptr(), args_len: s.len() };
    let action = JitslabAction { finalize: call(b"register"), dealloc: call(b"deregister") };
    // SAFETY: `register` is a wrapper function of this process.
    check(unsafe { jitslab_finalize(m, b_id, &action, 1) }, "finalize B");

    // SAFETY: both segments hold complete functions of this type, finalized above.
    let (next, twice): (extern "C" fn() -> i32, extern "C" fn() -> i32) = unsafe {
        (
            std::mem::transmute::<usize, extern "C" fn() -> i32>(text.addr as usize),
            std::mem::transmute::<usize, extern "C" fn() -> i32>(t as usize),
        )
    };
    println!("object A at {:#x}, object B at {:#x} ({} bytes apart)", text.addr, t, t.abs_diff(text.addr));
    println!("next() = {}  (counter 1 + 100)", next());
    println!("twice() = {}  (102 + 103)", twice());
    println!("actions registered: {}", REGISTERED.load(Ordering::SeqCst));

    let mut text_out = null_mut();
    // SAFETY: valid out pointers.
    check(unsafe { jitslab_stats_text(m, &mut text_out) }, "stats");
    print_owned(text_out);
    // SAFETY: valid out pointer.
    check(unsafe { jitslab_heap_map(m, &mut text_out) }, "heap map");
    print_owned(text_out);

    let ids = [a_id, b_id];
    // SAFETY: two finalized ids.
    check(unsafe { jitslab_deallocate(m, ids.as_ptr(), 2) }, "deallocate");
    let mut st = JitslabStats::default();
    // SAFETY: valid out pointer.
    check(unsafe { jitslab_stats(m, &mut st) }, "stats");
    let live: u64 = st.pools.iter().map(|p| p.live).sum();
    println!("after deallocate: {} live bytes, actions registered: {}", live, REGISTERED.load(Ordering::SeqCst));
    check(jitslab_manager_free(m), "jitslab_manager_free");
}
