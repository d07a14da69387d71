//! The executor side of jitslab's native protocol, exported for an executor program
//! (`jitslab-executor`): the service's wrapper functions as bootstrap symbols, and its
//! shutdown. The service itself is `crate::executor`; its messages are `crate::protocol::native`.
//!
//! Concurrency: the listing is built once; the wrapper functions are called from any thread.

use std::ffi::c_char;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::OnceLock;

use super::{guard, JitslabStatus};
use crate::protocol::native::Op;
use crate::protocol::wrapper::{CWrapperFunctionResult, WrapperFn};
use JitslabStatus::*;

/// The version of jitslab's native executor protocol that this library serves (see
/// `jitslab_executor_bootstrap_symbols`). A linker of another version is refused at setup.
pub const JITSLAB_EXECUTOR_PROTOCOL_VERSION: u32 = 3;

/// One bootstrap symbol of jitslab's executor service: an ORC wrapper function
/// `CWrapperFunctionResult f(const char *args, size_t len)` in this process.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct JitslabBootstrapSymbol {
    /// The name the executor publishes it under: a static NUL-terminated string.
    pub name: *const c_char,
    /// The function's address.
    pub addr: u64,
}

/// The listing of the service's wrapper functions, made once.
struct BootstrapListing(Vec<JitslabBootstrapSymbol>);

// SAFETY: the listing is built once and never changed; its name pointers point to static
// strings that are only read.
unsafe impl Sync for BootstrapListing {}
// SAFETY: as above.
unsafe impl Send for BootstrapListing {}

/// The wrapper function behind each call of the service.
fn executor_wrapper(op: Op) -> WrapperFn {
    use CWrapperFunctionResult as Result;
    unsafe extern "C" fn setup(args: *const c_char, len: usize) -> Result {
        // SAFETY: ORC's wrapper ABI: `args` holds `len` bytes.
        unsafe { executor_call(Op::Setup, args, len) }
    }
    unsafe extern "C" fn finalize(args: *const c_char, len: usize) -> Result {
        // SAFETY: as above.
        unsafe { executor_call(Op::Finalize, args, len) }
    }
    unsafe extern "C" fn deallocate(args: *const c_char, len: usize) -> Result {
        // SAFETY: as above.
        unsafe { executor_call(Op::Deallocate, args, len) }
    }
    unsafe extern "C" fn teardown(args: *const c_char, len: usize) -> Result {
        // SAFETY: as above.
        unsafe { executor_call(Op::Teardown, args, len) }
    }
    match op {
        Op::Setup => setup,
        Op::Finalize => finalize,
        Op::Deallocate => deallocate,
        Op::Teardown => teardown,
    }
}

/// Serves one wrapper call of the executor service: the reply is always SPS bytes (errors in
/// band), and no panic crosses (`executor::call` catches them; so does this frame).
///
/// # Safety
/// `args` must be null or point to `len` readable bytes.
unsafe fn executor_call(op: Op, args: *const c_char, len: usize) -> CWrapperFunctionResult {
    let reply = catch_unwind(AssertUnwindSafe(|| {
        let bytes: &[u8] = if len == 0 {
            &[]
        } else if args.is_null() {
            return crate::executor::call(op, &[]);
        } else {
            // SAFETY: the caller's promise: `len` readable bytes at `args`.
            unsafe { std::slice::from_raw_parts(args as *const u8, len) }
        };
        crate::executor::call(op, bytes)
    }));
    match reply {
        Ok(bytes) => CWrapperFunctionResult::from_bytes(&bytes),
        Err(_) => CWrapperFunctionResult::out_of_band(c"jitslab executor service: internal error"),
    }
}

/// Lists the wrapper functions of jitslab's executor-side service (the native protocol,
/// version `JITSLAB_EXECUTOR_PROTOCOL_VERSION`), to publish as bootstrap symbols from an
/// executor built on LLVM's `SimpleRemoteEPCServer`: add each `{name, addr}` to
/// `Setup::bootstrapSymbols()`. On success `*out` points to `*count` entries owned by jitslab,
/// valid for the life of the process (never free them). Each message's layout, checks and
/// errors are documented in jitslab's `src/protocol/native.rs`; `jitslab-executor` is an executor
/// that publishes them.
///
/// # Safety
/// `out` and `count` must be null or writable.
#[no_mangle]
pub unsafe extern "C" fn jitslab_executor_bootstrap_symbols(
    out: *mut *const JitslabBootstrapSymbol,
    count: *mut usize,
) -> JitslabStatus {
    guard(|| {
        static LISTING: OnceLock<BootstrapListing> = OnceLock::new();
        let listing = LISTING.get_or_init(|| {
            BootstrapListing(
                Op::ALL
                    .iter()
                    .map(|&op| JitslabBootstrapSymbol {
                        name: op.symbol().as_ptr(),
                        addr: executor_wrapper(op) as usize as u64,
                    })
                    .collect(),
            )
        });
        // SAFETY: the caller's promise for non-null pointers.
        let out = unsafe { super::out(out, "jitslab_executor_bootstrap_symbols: out") }?;
        // SAFETY: as above.
        let count = unsafe { super::out(count, "jitslab_executor_bootstrap_symbols: count") }?;
        *out = listing.0.as_ptr();
        *count = listing.0.len();
        Ok(())
    })
}

/// Ends every region of the executor service in this process, as its `teardown` call does:
/// the dealloc actions of live allocations run (most recent first), the regions are unmapped.
/// For an executor's shutdown, when the linker is gone. `JITSLAB_ERR_ACTION_FAILED` when an
/// action failed (the regions end anyway; `jitslab_last_error` has the messages).
#[no_mangle]
pub extern "C" fn jitslab_executor_shutdown() -> JitslabStatus {
    guard(|| crate::executor::shutdown().map_err(|e| (JITSLAB_ERR_ACTION_FAILED, e)))
}
