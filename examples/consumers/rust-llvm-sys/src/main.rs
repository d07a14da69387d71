//! An LLJIT built through LLVM 19's C API (llvm-sys) whose object linking layer comes from
//! jitslab's shim (`jitslab_orc_create_object_linking_layer`, linked at build time). It runs a
//! function of a JIT'd module and checks, in `/proc/self/maps`, that the code and data are in
//! jitslab's memory. Exit status 0 when they are and the function's result is right.

use std::ffi::{c_char, c_void, CStr};

use llvm_sys::core::{LLVMCreateMemoryBufferWithMemoryRangeCopy, LLVMDisposeMessage};
use llvm_sys::error::{LLVMDisposeErrorMessage, LLVMErrorRef, LLVMGetErrorMessage};
use llvm_sys::ir_reader::LLVMParseIRInContext;
use llvm_sys::orc2::lljit::{
    LLVMOrcCreateLLJIT, LLVMOrcCreateLLJITBuilder, LLVMOrcLLJITAddLLVMIRModule,
    LLVMOrcLLJITBuilderSetObjectLinkingLayerCreator, LLVMOrcLLJITGetMainJITDylib, LLVMOrcLLJITLookup,
};
use llvm_sys::orc2::{
    LLVMOrcCreateNewThreadSafeContext, LLVMOrcCreateNewThreadSafeModule, LLVMOrcDisposeThreadSafeContext,
    LLVMOrcExecutionSessionRef, LLVMOrcObjectLayerRef, LLVMOrcThreadSafeContextGetContext,
};
use llvm_sys::target::{LLVM_InitializeNativeAsmPrinter, LLVM_InitializeNativeTarget};

// SAFETY: the declaration matches jitslab/orc.h. LLVM's C API types the creator as a safe
// function pointer; LLVM calls it with a live session and a triple, and a null ctx is allowed.
unsafe extern "C" {
    /// jitslab/orc.h: an LLVMOrcLLJITBuilderObjectLinkingLayerCreatorFunction; `ctx` null takes
    /// jitslab's default configuration.
    safe fn jitslab_orc_create_object_linking_layer(
        ctx: *mut c_void,
        es: LLVMOrcExecutionSessionRef,
        triple: *const c_char,
    ) -> LLVMOrcObjectLayerRef;
}

/// answer() returns 42 from code, a read-only table and a writable counter.
const IR: &str = r#"
@table = constant [4 x i64] [i64 1, i64 2, i64 3, i64 36]
@calls = global i64 0
define i64 @answer() {
  %c = load i64, ptr @calls
  %c1 = add i64 %c, 1
  store i64 %c1, ptr @calls
  %a = load i64, ptr getelementptr ([4 x i64], ptr @table, i64 0, i64 0)
  %b = load i64, ptr getelementptr ([4 x i64], ptr @table, i64 0, i64 1)
  %d = load i64, ptr getelementptr ([4 x i64], ptr @table, i64 0, i64 2)
  %e = load i64, ptr getelementptr ([4 x i64], ptr @table, i64 0, i64 3)
  %s1 = add i64 %a, %b
  %s2 = add i64 %s1, %d
  %s3 = add i64 %s2, %e
  ret i64 %s3
}
"#;

/// LLVM's message for a failed call, consuming the error.
fn check(err: LLVMErrorRef, what: &str) -> Result<(), String> {
    if err.is_null() {
        return Ok(());
    }
    // SAFETY: a non-null error we own; the message is copied before it is freed.
    let msg = unsafe {
        let m = LLVMGetErrorMessage(err);
        let s = CStr::from_ptr(m).to_string_lossy().into_owned();
        LLVMDisposeErrorMessage(m);
        s
    };
    Err(format!("{what}: {msg}"))
}

/// Whether `addr` is in a mapping of jitslab's pools (the dual-view mapper's memfd).
fn in_jitslab_memory(addr: u64) -> bool {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
    maps.lines().any(|line| {
        let range = line.split(' ').next().unwrap_or("");
        let mut ends = range.split('-').map(|h| u64::from_str_radix(h, 16).unwrap_or(0));
        let (lo, hi) = (ends.next().unwrap_or(0), ends.next().unwrap_or(0));
        (lo..hi).contains(&addr) && line.contains("/memfd:jitslab")
    })
}

fn run() -> Result<(), String> {
    // SAFETY: each call gets what its llvm-c header asks for; ownership moves as LLJIT.h and
    // Orc.h document (builder to LLVMOrcCreateLLJIT, module to the ThreadSafeModule, that to
    // the LLJIT); the creator is the C function jitslab/orc.h declares, with a null ctx. The
    // LLJIT lives until the process exits (the JIT'd function is called before that).
    unsafe {
        if LLVM_InitializeNativeTarget() != 0 || LLVM_InitializeNativeAsmPrinter() != 0 {
            return Err("LLVM has no native target for this host".into());
        }
        let builder = LLVMOrcCreateLLJITBuilder();
        LLVMOrcLLJITBuilderSetObjectLinkingLayerCreator(
            builder,
            jitslab_orc_create_object_linking_layer,
            std::ptr::null_mut(),
        );
        let mut jit = std::ptr::null_mut();
        check(LLVMOrcCreateLLJIT(&mut jit, builder), "creating the LLJIT")?;

        let tsc = LLVMOrcCreateNewThreadSafeContext();
        let buf = LLVMCreateMemoryBufferWithMemoryRangeCopy(IR.as_ptr().cast(), IR.len(), c"program".as_ptr());
        let mut module = std::ptr::null_mut();
        let mut msg = std::ptr::null_mut();
        if LLVMParseIRInContext(LLVMOrcThreadSafeContextGetContext(tsc), buf, &mut module, &mut msg) != 0 {
            let why = CStr::from_ptr(msg).to_string_lossy().into_owned();
            LLVMDisposeMessage(msg);
            return Err(format!("the IR does not parse: {why}"));
        }
        let tsm = LLVMOrcCreateNewThreadSafeModule(module, tsc);
        LLVMOrcDisposeThreadSafeContext(tsc);
        check(LLVMOrcLLJITAddLLVMIRModule(jit, LLVMOrcLLJITGetMainJITDylib(jit), tsm), "adding the module")?;

        let mut addrs = Vec::new();
        for name in [c"answer", c"table", c"calls"] {
            let mut addr = 0;
            check(LLVMOrcLLJITLookup(jit, &mut addr, name.as_ptr()), "looking up a symbol")?;
            addrs.push(addr);
        }
        let answer: extern "C" fn() -> i64 = std::mem::transmute(addrs[0] as usize);
        let result = answer();
        let inside = addrs.iter().all(|&a| in_jitslab_memory(a));
        println!(
            "llvm-sys-consumer: answer() = {result}; code and data in jitslab's memory: {}",
            if inside { "yes" } else { "no" }
        );
        if result == 42 && inside {
            Ok(())
        } else {
            Err("wrong result or not in jitslab's memory".into())
        }
    }
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("llvm-sys-consumer: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
