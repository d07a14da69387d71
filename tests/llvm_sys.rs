//! LLVM 19's C API, through llvm-sys, drives the C++ shim as a Rust or C host would: an LLJIT
//! whose object linking layer comes from `jitslab_orc_create_object_linking_layer`, found with
//! `dlopen`/`dlsym` in `libjitslab-orc-19.so`. The JIT'd module has code, read-only data and
//! writable data; the tests call the code and then read `/proc/self/maps` to prove that all
//! three live in one jitslab reservation of the configured span, with the pool's protection.
//! A control test builds the same LLJIT with LLVM's own memory manager and checks that the
//! same proof fails there, so the proof cannot pass vacuously.
//!
//! ```text
//! cmake -S cpp-shim -B target/cmake-19 -G Ninja -DLLVM_DIR=/usr/lib/llvm-19/lib/cmake/llvm && ninja -C target/cmake-19 jitslab-orc
//! JITSLAB_ORC_LIB=target/cmake-19/libjitslab-orc-19.so LLVM_SYS_191_PREFIX=/usr/lib/llvm-19 \
//!     cargo test --locked --features llvm --test llvm_sys
//! ```
//!
//! llvm-sys is linked to the shared libLLVM-19.so (feature `force-dynamic`), the library the
//! shim links: one LLVM in the process, which `one_llvm_in_the_process` checks.
//!
//! Concurrency: cargo runs the tests on several threads. The shim is loaded and LLVM's native
//! target initialised once, behind `OnceLock`s; each test owns its LLJIT and its context. The
//! shim is never unloaded.

#![cfg(feature = "llvm")]

use std::ffi::{c_char, c_void, CStr, CString};
use std::path::PathBuf;
use std::sync::OnceLock;

use jitslab::ffi::{jitslab_config_default, JitslabConfig, JITSLAB_MAPPER_DUAL_VIEW};
use llvm_sys::core::{LLVMCreateMemoryBufferWithMemoryRangeCopy, LLVMDisposeMessage};
use llvm_sys::error::{LLVMDisposeErrorMessage, LLVMErrorRef, LLVMGetErrorMessage};
use llvm_sys::ir_reader::LLVMParseIRInContext;
use llvm_sys::orc2::lljit::{
    LLVMOrcCreateLLJIT, LLVMOrcCreateLLJITBuilder, LLVMOrcDisposeLLJIT, LLVMOrcLLJITAddLLVMIRModule,
    LLVMOrcLLJITBuilderObjectLinkingLayerCreatorFunction, LLVMOrcLLJITBuilderSetJITTargetMachineBuilder,
    LLVMOrcLLJITBuilderSetObjectLinkingLayerCreator, LLVMOrcLLJITGetMainJITDylib, LLVMOrcLLJITLookup, LLVMOrcLLJITRef,
};
use llvm_sys::orc2::{
    LLVMOrcCreateNewThreadSafeContext, LLVMOrcCreateNewThreadSafeModule, LLVMOrcDisposeThreadSafeContext,
    LLVMOrcJITTargetMachineBuilderCreateFromTargetMachine, LLVMOrcThreadSafeContextGetContext,
};
use llvm_sys::target::{LLVM_InitializeNativeAsmPrinter, LLVM_InitializeNativeTarget};
use llvm_sys::target_machine::{
    LLVMCodeGenOptLevel, LLVMCodeModel, LLVMCreateTargetMachine, LLVMGetDefaultTargetTriple, LLVMGetHostCPUFeatures,
    LLVMGetHostCPUName, LLVMGetTargetFromTriple, LLVMRelocMode,
};

/// The shim's default location, relative to the crate root (where CMake builds it).
const DEFAULT_SHIM: &str = "target/cmake-19/libjitslab-orc-19.so";
/// The creator's name in `cpp-shim/include/jitslab/orc.h`.
const CREATOR_SYMBOL: &CStr = c"jitslab_orc_create_object_linking_layer";
/// The name the dual-view mapper gives its memfd (`src/mapper/dual.rs`), as `/proc/self/maps`
/// shows it: `/memfd:jitslab (deleted)`.
const MEMFD_PATH: &str = "/memfd:jitslab";
/// A span no default uses, so a reservation of exactly this size is the one this test asked for.
const SPAN: u64 = 256 << 20;

/// Code that calls another function of the module (a recursive one), reads a read-only table
/// and counts its calls in a writable global: one segment of each kind.
const IR: &str = r#"
@jitslab_test_args = constant [4 x i64] [i64 5, i64 10, i64 20, i64 25]
@jitslab_test_calls = global i64 0

define internal i64 @fib(i64 %n) {
entry:
  %small = icmp ult i64 %n, 2
  br i1 %small, label %done, label %recurse
recurse:
  %n1 = sub i64 %n, 1
  %a = call i64 @fib(i64 %n1)
  %n2 = sub i64 %n, 2
  %b = call i64 @fib(i64 %n2)
  %sum = add i64 %a, %b
  ret i64 %sum
done:
  ret i64 %n
}

define i64 @jitslab_test_fib_of_arg(i64 %i) {
entry:
  %p = getelementptr [4 x i64], ptr @jitslab_test_args, i64 0, i64 %i
  %n = load i64, ptr %p
  %c = load i64, ptr @jitslab_test_calls
  %c1 = add i64 %c, 1
  store i64 %c1, ptr @jitslab_test_calls
  %r = call i64 @fib(i64 %n)
  ret i64 %r
}
"#;
const ARGS: [u64; 4] = [5, 10, 20, 25];

fn fib(n: u64) -> u64 {
    (0..n).fold((0u64, 1u64), |(a, b), _| (b, a + b)).0
}

// ---- the shim ----------------------------------------------------------------------------

fn shim_path() -> PathBuf {
    let p = PathBuf::from(std::env::var_os("JITSLAB_ORC_LIB").unwrap_or_else(|| DEFAULT_SHIM.into()));
    if p.is_relative() {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(p)
    } else {
        p
    }
}

/// `dlerror()`'s message, or a placeholder when it has none.
fn dlerror_text() -> String {
    // SAFETY: dlerror returns null or a C string valid until the next dl* call on this thread,
    // and it is copied before any such call.
    let e = unsafe { libc::dlerror() };
    if e.is_null() {
        "(no dlerror message)".into()
    } else {
        // SAFETY: non-null, so a valid C string (see above).
        unsafe { CStr::from_ptr(e) }.to_string_lossy().into_owned()
    }
}

/// The shim's layer creator. The shim is loaded on first use and never unloaded: LLVM keeps
/// pointers into it (the layer's vtable) for as long as any LLJIT lives.
fn creator() -> LLVMOrcLLJITBuilderObjectLinkingLayerCreatorFunction {
    static CREATOR: OnceLock<LLVMOrcLLJITBuilderObjectLinkingLayerCreatorFunction> = OnceLock::new();
    *CREATOR.get_or_init(|| {
        let path = shim_path();
        assert!(
            path.is_file(),
            "the jitslab ORC shim is not at {} (JITSLAB_ORC_LIB, default {DEFAULT_SHIM} under the crate root); build it \
             with `cmake -S cpp-shim -B target/cmake-19 -G Ninja -DLLVM_DIR=/usr/lib/llvm-19/lib/cmake/llvm && ninja -C \
             target/cmake-19 jitslab-orc`",
            path.display()
        );
        let c_path = CString::new(path.as_os_str().as_encoded_bytes()).expect("the shim's path has no NUL byte");
        // SAFETY: a valid C string; loading the shim runs only LLVM's and the shim's initialisers.
        let lib = unsafe { libc::dlopen(c_path.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
        assert!(!lib.is_null(), "dlopen({}) failed: {}", path.display(), dlerror_text());
        // SAFETY: `lib` is a live handle (never closed) and the name a valid C string.
        let sym = unsafe { libc::dlsym(lib, CREATOR_SYMBOL.as_ptr()) };
        assert!(!sym.is_null(), "dlsym({CREATOR_SYMBOL:?}) in {} failed: {}", path.display(), dlerror_text());
        // SAFETY: orc.h declares the symbol as an LLVMOrcLLJITBuilderObjectLinkingLayerCreatorFunction,
        // the C signature this Rust type spells; the library stays loaded for the process' life.
        unsafe { std::mem::transmute::<*mut c_void, LLVMOrcLLJITBuilderObjectLinkingLayerCreatorFunction>(sym) }
    })
}

// ---- LLVM's C API ------------------------------------------------------------------------

fn init_llvm() {
    static INIT: OnceLock<()> = OnceLock::new();
    INIT.get_or_init(|| {
        // SAFETY: plain initialisers with no arguments; run once, before any other LLVM call here.
        let failed = unsafe { LLVM_InitializeNativeTarget() != 0 || LLVM_InitializeNativeAsmPrinter() != 0 };
        assert!(!failed, "LLVM has no native target or asm printer for this host");
    });
}

/// Panics with `what` and LLVM's message when `err` is an error (consuming it).
fn check(err: LLVMErrorRef, what: &str) {
    if err.is_null() {
        return;
    }
    // SAFETY: a non-null LLVMErrorRef we own; LLVMGetErrorMessage consumes it and returns a
    // string we free with LLVMDisposeErrorMessage after copying it.
    let msg = unsafe {
        let m = LLVMGetErrorMessage(err);
        let s = CStr::from_ptr(m).to_string_lossy().into_owned();
        LLVMDisposeErrorMessage(m);
        s
    };
    panic!("{what}: {msg}");
}

/// Copies and frees a string LLVM allocated for the caller (LLVMDisposeMessage's kind).
fn take_message(m: *mut c_char) -> String {
    if m.is_null() {
        return String::new();
    }
    // SAFETY: a non-null string from an LLVM function documented to be freed with LLVMDisposeMessage.
    unsafe {
        let s = CStr::from_ptr(m).to_string_lossy().into_owned();
        LLVMDisposeMessage(m);
        s
    }
}

/// An LLJIT, disposed at most once: by [`Jit::dispose`], which checks the error, or on drop
/// while a failed test unwinds.
struct Jit(LLVMOrcLLJITRef);

impl Jit {
    /// Creates an LLJIT for the host with PIC code and the small code model (what JITLink needs
    /// from a caller-supplied object layer). `layer`: the shim's creator and its `ctx` (a
    /// `JitslabConfig`, or null for the defaults); `None` keeps LLVM's own layer and manager.
    fn new(layer: Option<(LLVMOrcLLJITBuilderObjectLinkingLayerCreatorFunction, *const JitslabConfig)>) -> Jit {
        init_llvm();
        // SAFETY: each call gets the arguments its llvm-c header asks for; strings LLVM returns
        // are freed by `take_message` after their last use; ownership of the target machine
        // passes to the JTMB, of the JTMB to the builder and of the builder to LLVMOrcCreateLLJIT,
        // as LLJIT.h and Orc.h document. `layer`'s ctx outlives LLVMOrcCreateLLJIT (the caller's).
        unsafe {
            let triple = LLVMGetDefaultTargetTriple();
            let cpu = LLVMGetHostCPUName();
            let features = LLVMGetHostCPUFeatures();
            let mut target = std::ptr::null_mut();
            let mut msg = std::ptr::null_mut();
            if LLVMGetTargetFromTriple(triple, &mut target, &mut msg) != 0 {
                panic!("no LLVM target for {:?}: {}", CStr::from_ptr(triple), take_message(msg));
            }
            let tm = LLVMCreateTargetMachine(
                target,
                triple,
                cpu,
                features,
                LLVMCodeGenOptLevel::LLVMCodeGenLevelDefault,
                LLVMRelocMode::LLVMRelocPIC,
                LLVMCodeModel::LLVMCodeModelSmall,
            );
            assert!(!tm.is_null(), "LLVMCreateTargetMachine({:?}) failed", CStr::from_ptr(triple));
            take_message(triple);
            take_message(cpu);
            take_message(features);

            let builder = LLVMOrcCreateLLJITBuilder();
            LLVMOrcLLJITBuilderSetJITTargetMachineBuilder(
                builder,
                LLVMOrcJITTargetMachineBuilderCreateFromTargetMachine(tm),
            );
            if let Some((create, config)) = layer {
                LLVMOrcLLJITBuilderSetObjectLinkingLayerCreator(builder, create, config.cast_mut().cast());
            }
            let mut jit = std::ptr::null_mut();
            check(LLVMOrcCreateLLJIT(&mut jit, builder), "LLVMOrcCreateLLJIT");
            Jit(jit)
        }
    }

    /// Parses textual IR and adds it to the main JITDylib.
    fn add_ir(&self, ir: &str) {
        // SAFETY: the context and module are created here and handed on as LLJIT.h and Orc.h say:
        // the parser owns the buffer, the ThreadSafeModule the module (and a reference to the
        // context, so ours is released), the LLJIT the ThreadSafeModule.
        unsafe {
            let tsc = LLVMOrcCreateNewThreadSafeContext();
            let buf = LLVMCreateMemoryBufferWithMemoryRangeCopy(ir.as_ptr().cast(), ir.len(), c"jitslab-test".as_ptr());
            let mut module = std::ptr::null_mut();
            let mut msg = std::ptr::null_mut();
            if LLVMParseIRInContext(LLVMOrcThreadSafeContextGetContext(tsc), buf, &mut module, &mut msg) != 0 {
                let why = take_message(msg);
                LLVMOrcDisposeThreadSafeContext(tsc);
                panic!("the test's IR does not parse: {why}");
            }
            let tsm = LLVMOrcCreateNewThreadSafeModule(module, tsc);
            LLVMOrcDisposeThreadSafeContext(tsc);
            check(
                LLVMOrcLLJITAddLLVMIRModule(self.0, LLVMOrcLLJITGetMainJITDylib(self.0), tsm),
                "adding the IR module",
            );
        }
    }

    /// The address of `name` (an IR name: ELF mangles nothing), materialising it.
    fn lookup(&self, name: &CStr) -> u64 {
        let mut addr = 0;
        // SAFETY: a live LLJIT and a valid C string; `addr` is written on success.
        check(unsafe { LLVMOrcLLJITLookup(self.0, &mut addr, name.as_ptr()) }, &format!("looking up {name:?}"));
        assert_ne!(addr, 0, "{name:?} resolved to address 0");
        addr
    }

    fn dispose(self) {
        let j = std::mem::ManuallyDrop::new(self);
        // SAFETY: the LLJIT is live and, with `self` forgotten, disposed only here.
        check(unsafe { LLVMOrcDisposeLLJIT(j.0) }, "LLVMOrcDisposeLLJIT");
    }
}

impl Drop for Jit {
    fn drop(&mut self) {
        // SAFETY: the LLJIT is live (dispose() forgets `self`), and this is its only disposal.
        let err = unsafe { LLVMOrcDisposeLLJIT(self.0) };
        if !err.is_null() {
            // SAFETY: a non-null error we own; consuming it is all that is left to do while unwinding.
            unsafe { llvm_sys::error::LLVMConsumeError(err) };
        }
    }
}

/// Compiles [`IR`], runs it and checks its answers; returns the addresses of the code, the
/// read-only table and the writable counter.
fn run_module(jit: &Jit) -> (u64, u64, u64) {
    jit.add_ir(IR);
    let code = jit.lookup(c"jitslab_test_fib_of_arg");
    let args = jit.lookup(c"jitslab_test_args");
    let calls = jit.lookup(c"jitslab_test_calls");
    // SAFETY: the JIT compiled `jitslab_test_fib_of_arg` from IR as `i64 (i64)`, the C ABI of
    // this type, and it stays mapped until the LLJIT is disposed, after the calls.
    let f = unsafe { std::mem::transmute::<usize, extern "C" fn(i64) -> i64>(code as usize) };
    for (i, &n) in ARGS.iter().enumerate() {
        assert_eq!(f(i as i64) as u64, fib(n), "JIT'd fib of argument {i} (n = {n})");
    }
    // SAFETY: `jitslab_test_calls` is an i64 global of the JIT'd module, live and aligned; the
    // JIT'd code that writes it has returned.
    let count = unsafe { std::ptr::read_volatile(calls as *const i64) };
    assert_eq!(count, ARGS.len() as i64, "the JIT'd counter after {} calls", ARGS.len());
    (code, args, calls)
}

// ---- /proc/self/maps ---------------------------------------------------------------------

/// One line of `/proc/self/maps`.
#[derive(Debug, Clone)]
struct Vma {
    start: u64,
    end: u64,
    perms: String,
    offset: u64,
    dev: String,
    inode: u64,
    path: String,
}

fn maps() -> Vec<Vma> {
    let text = std::fs::read_to_string("/proc/self/maps").expect("reading /proc/self/maps");
    text.lines()
        .map(|line| {
            let mut f = line.splitn(6, ' ');
            let mut next = || f.next().unwrap_or("");
            let (range, perms, offset, dev, inode) = (next(), next(), next(), next(), next());
            let path = next().trim_start().to_string();
            let (a, b) = range.split_once('-').unwrap_or_else(|| panic!("odd maps line {line:?}"));
            let hex = |s: &str| u64::from_str_radix(s, 16).unwrap_or_else(|_| panic!("odd maps line {line:?}"));
            Vma {
                start: hex(a),
                end: hex(b),
                perms: perms.to_string(),
                offset: hex(offset),
                dev: dev.to_string(),
                inode: inode.parse().unwrap_or_else(|_| panic!("odd maps line {line:?}")),
                path,
            }
        })
        .collect()
}

/// A jitslab reservation as the kernel shows it: the executing view at `base` (split into
/// one VMA per protection run) and the read-write working view, both of one memfd.
#[derive(Debug)]
struct Reservation {
    base: u64,
    span: u64,
    working: u64,
    dev: String,
    inode: u64,
}

/// The jitslab reservation whose executing view holds `addr`, and the protection `addr` has,
/// or why there is none. Fails for memory of any other manager: it must be a shared mapping
/// of jitslab's memfd, whose whole span is mapped a second time, read-write, elsewhere.
fn reservation_of(addr: u64) -> Result<(Reservation, String), String> {
    let all = maps();
    let vma = all.iter().find(|v| v.start <= addr && addr < v.end).ok_or(format!("{addr:#x} is not mapped"))?;
    if !vma.path.starts_with(MEMFD_PATH) {
        let Vma { start, end, perms, path, .. } = vma;
        return Err(format!(
            "{addr:#x} lies in [{start:#x}, {end:#x}) {perms} {path:?}, not in a mapping of jitslab's memfd ({MEMFD_PATH})"
        ));
    }
    let same_file: Vec<&Vma> = all.iter().filter(|v| v.dev == vma.dev && v.inode == vma.inode).collect();
    // The executing view maps the memfd from offset 0 at the reservation's base; follow it while
    // the VMAs stay contiguous in both address and file offset.
    let base = vma.start - vma.offset;
    let mut end = base;
    while let Some(next) = same_file.iter().find(|v| v.start == end && v.offset == end - base) {
        end = next.end;
    }
    let span = end - base;
    if end <= addr {
        return Err(format!("the memfd's mapping at {base:#x} is not contiguous up to {addr:#x}: {same_file:#?}"));
    }
    let working = same_file
        .iter()
        .find(|v| v.offset == 0 && v.start != base && v.end - v.start == span && v.perms == "rw-s")
        .ok_or(format!("no read-write working view of {span:#x} bytes of the memfd: {same_file:#?}"))?;
    let r = Reservation { base, span, working: working.start, dev: vma.dev.clone(), inode: vma.inode };
    Ok((r, vma.perms.clone()))
}

fn jitslab_config(span: u64) -> JitslabConfig {
    JitslabConfig { span_bytes: span, mapper: JITSLAB_MAPPER_DUAL_VIEW, ..jitslab_config_default() }
}

// ---- tests -------------------------------------------------------------------------------

#[test]
fn jit_code_and_data_live_in_a_jitslab_reservation() {
    assert_ne!(jitslab_config_default().span_bytes, SPAN, "the test's span must differ from the default");
    let config = jitslab_config(SPAN);
    let jit = Jit::new(Some((creator(), &config)));
    let (code, args, calls) = run_module(&jit);

    let mut seen = Vec::new();
    for (what, addr, perms) in [("code", code, "r-xs"), ("read-only table", args, "r--s"), ("counter", calls, "rw-s")] {
        let (r, got) = reservation_of(addr).unwrap_or_else(|e| panic!("the JIT'd {what}: {e}"));
        assert_eq!(r.span, SPAN, "the JIT'd {what} at {addr:#x} lies in a reservation of {:#x} bytes", r.span);
        assert_eq!(got, perms, "the protection of the JIT'd {what} at {addr:#x}");
        seen.push(r);
    }
    let r = &seen[0];
    assert!(
        seen.iter().all(|s| (s.base, s.inode) == (r.base, r.inode)),
        "code and data in different reservations: {seen:#?}"
    );
    eprintln!(
        "code {code:#x}, table {args:#x}, counter {calls:#x} in the reservation [{:#x}, {:#x}), working view at {:#x}",
        r.base,
        r.base + r.span,
        r.working
    );

    // The manager belongs to the layer, the layer to the LLJIT: disposing of it unmaps both views.
    let (dev, inode) = (r.dev.clone(), r.inode);
    jit.dispose();
    let left: Vec<Vma> = maps().into_iter().filter(|v| v.dev == dev && v.inode == inode).collect();
    assert!(left.is_empty(), "the reservation outlived its LLJIT: {left:#?}");
}

#[test]
fn null_ctx_takes_the_default_configuration() {
    let jit = Jit::new(Some((creator(), std::ptr::null())));
    let (code, _, _) = run_module(&jit);
    let (r, perms) = reservation_of(code).unwrap_or_else(|e| panic!("the JIT'd code: {e}"));
    assert_eq!(r.span, jitslab_config_default().span_bytes, "the span with a null ctx");
    assert_eq!(perms, "r-xs");
    jit.dispose();
}

/// The control: LLVM's own memory manager runs the same module, and the proof above rejects it.
#[test]
fn llvm_default_manager_fails_the_jitslab_check() {
    let jit = Jit::new(None);
    let (code, args, calls) = run_module(&jit);
    for (what, addr) in [("code", code), ("table", args), ("counter", calls)] {
        match reservation_of(addr) {
            Ok(r) => panic!("the {what} of LLVM's default manager at {addr:#x} passed for jitslab's: {r:?}"),
            Err(why) => eprintln!("LLVM's default manager, {what}: {why}"),
        }
    }
    jit.dispose();
}

/// Two LLVMs in one process break ORC in odd ways: llvm-sys must use the shim's libLLVM.
#[test]
fn one_llvm_in_the_process() {
    creator(); // loads the shim and, through it, the shim's libLLVM
    let mut info: libc::Dl_info = empty_dl_info();
    let f: unsafe extern "C" fn() -> llvm_sys::orc2::lljit::LLVMOrcLLJITBuilderRef = LLVMOrcCreateLLJITBuilder;
    // SAFETY: dladdr only reads the address and writes `info`.
    let found = unsafe { libc::dladdr(f as *const c_void, &mut info) };
    assert_ne!(found, 0, "dladdr found no object for LLVMOrcCreateLLJITBuilder");
    // SAFETY: dladdr succeeded, so dli_fname is a valid C string.
    let object = unsafe { CStr::from_ptr(info.dli_fname) }.to_string_lossy().into_owned();
    assert!(object.contains("libLLVM"), "llvm-sys's LLVMOrcCreateLLJITBuilder comes from {object}, not libLLVM");

    let mut images: Vec<(String, u64, String)> =
        maps().into_iter().filter(|v| v.path.contains("libLLVM")).map(|v| (v.dev, v.inode, v.path)).collect();
    images.sort();
    images.dedup();
    assert_eq!(images.len(), 1, "more than one libLLVM is mapped: {images:#?}");
    assert!(images[0].2.contains("libLLVM.so.19") || images[0].2.contains("libLLVM-19"), "{images:?}");
}

fn empty_dl_info() -> libc::Dl_info {
    libc::Dl_info {
        dli_fname: std::ptr::null(),
        dli_fbase: std::ptr::null_mut(),
        dli_sname: std::ptr::null(),
        dli_saddr: std::ptr::null_mut(),
    }
}
