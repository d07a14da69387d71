//! How a remote manager reaches its executor: the C transport (`JitslabTransport`, which the
//! C++ shim builds over ORC's `ExecutorProcessControl`) as the mapper's [`Transport`].
//!
//! Concurrency: the transport's functions are called from any thread, concurrently; each
//! call's completion is handed back exactly once, from any thread.

use std::ffi::{c_char, c_void, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::mapper::remote::{Completion, Transport};

/// Receives the result of one transport call: the result bytes (`error` null), or why the call
/// did not complete (`error` a message; the bytes are then ignored). Both are borrowed for the
/// duration of the call. Call it exactly once per `call`, from any thread.
pub type JitslabCallDone =
    unsafe extern "C" fn(done_ctx: *mut c_void, result: *const u8, result_len: usize, error: *const c_char);

/// How a remote manager reaches its executor (the C++ shim builds one over ORC's
/// `ExecutorProcessControl`). Copied by value; jitslab owns `ctx` from then on and calls
/// `destroy(ctx)` once, when the manager is gone or could not be created. The functions are
/// called from any thread, concurrently.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct JitslabTransport {
    pub ctx: *mut c_void,
    /// Calls `CWrapperFunctionResult fn(const char*, size_t)` at executor address `fn_addr` with
    /// the `args_len` bytes at `args` (borrowed for this call), then `done(done_ctx, ...)`
    /// exactly once with the result. It must not wait for the result.
    pub call: Option<
        unsafe extern "C" fn(
            ctx: *mut c_void,
            fn_addr: u64,
            args: *const u8,
            args_len: usize,
            done: JitslabCallDone,
            done_ctx: *mut c_void,
        ),
    >,
    /// Looks up a bootstrap symbol of the executor: non-zero and `*out_addr` set when found.
    pub lookup: Option<unsafe extern "C" fn(ctx: *mut c_void, name: *const c_char, out_addr: *mut u64) -> u8>,
    /// Releases `ctx`. May be null.
    pub destroy: Option<unsafe extern "C" fn(ctx: *mut c_void)>,
}

/// The C transport as a [`Transport`]; destroys its context when dropped.
pub(crate) struct CTransport(pub(crate) JitslabTransport);

// SAFETY: the contract of `JitslabTransport` says its functions may be called from any thread,
// concurrently, and that jitslab owns `ctx`.
unsafe impl Send for CTransport {}
// SAFETY: as above.
unsafe impl Sync for CTransport {}

impl Drop for CTransport {
    fn drop(&mut self) {
        if let Some(destroy) = self.0.destroy {
            // SAFETY: jitslab owns `ctx` and releases it once, here.
            unsafe { destroy(self.0.ctx) };
        }
    }
}

/// Delivers a transport result to the [`Completion`] behind `done_ctx`.
unsafe extern "C" fn call_done(done_ctx: *mut c_void, result: *const u8, result_len: usize, error: *const c_char) {
    if done_ctx.is_null() {
        return;
    }
    // SAFETY: `done_ctx` is the box given to `call`, which the transport hands back exactly once.
    let done: Box<Completion> = unsafe { Box::from_raw(done_ctx as *mut Completion) };
    let reply = if !error.is_null() {
        // SAFETY: the transport passes a NUL-terminated message.
        Err(unsafe { CStr::from_ptr(error) }.to_string_lossy().into_owned())
    } else if result_len == 0 {
        Ok(Vec::new())
    } else if result.is_null() {
        Err(format!("the transport gave a null result of {result_len} bytes"))
    } else {
        // SAFETY: the transport lends `result_len` bytes for this call.
        Ok(unsafe { std::slice::from_raw_parts(result, result_len) }.to_vec())
    };
    // A panic must not unwind into the transport's C++ frames.
    let _ = catch_unwind(AssertUnwindSafe(move || done(reply)));
}

impl Transport for CTransport {
    fn call(&self, fn_addr: u64, args: Vec<u8>, done: Completion) {
        let Some(call) = self.0.call else {
            return done(Err("the transport has no call function".into()));
        };
        let done_ctx = Box::into_raw(Box::new(done)) as *mut c_void;
        // SAFETY: the transport's contract; `args` outlives the call and `done_ctx` is handed
        // back exactly once through `call_done`.
        unsafe { call(self.0.ctx, fn_addr, args.as_ptr(), args.len(), call_done, done_ctx) };
    }

    fn lookup(&self, name: &str) -> Option<u64> {
        let lookup = self.0.lookup?;
        let name = CString::new(name).ok()?;
        let mut addr = 0u64;
        // SAFETY: the transport's contract; `name` and `addr` outlive the call.
        let found = unsafe { lookup(self.0.ctx, name.as_ptr(), &mut addr) };
        (found != 0).then_some(addr)
    }
}
