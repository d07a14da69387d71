//! The C ABI: the only `extern "C"` functions of jitslab, split by concern: `types` (the
//! constants, status codes and structs of the header, and their decoding), `manager` (a
//! manager's lifecycle, allocate, finalize, abandon, deallocate), `transport` (how a remote
//! manager reaches its executor), `stats` (figures and text), `executor` (the native
//! service's exports for an executor), `auth` (the shared-secret handshake on a connection).
//! `include/jitslab.h` is generated from these files by `build.rs` (cbindgen); `./x header`
//! copies it into `include/`, and `./x test` checks that the checked-in copy is current.
//!
//! The rules that hold for every function (status codes, out-parameters, handles, the panic
//! boundary, thread safety, `_async` callbacks) are written once, in the header's preamble
//! (`cbindgen.toml`), where C users read them. This module implements them: `guard` is the one
//! panic boundary and records the message for `jitslab_last_error`; handles are numbers in a
//! table, never dereferenced.
//!
//! Concurrency: handles live in a global table behind a read-write lock, taken only to look a
//! handle up (the manager is reference-counted, so a concurrent `jitslab_manager_free` cannot
//! pull it out from under a call in progress).

// In the order of the header: the types first.
mod auth;
mod executor;
mod manager;
mod stats;
mod transport;
mod types;

#[cfg(test)]
mod tests;

use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::{c_char, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, RwLock};

pub use auth::*;
pub use executor::*;
pub use manager::*;
pub use stats::*;
pub use transport::*;
pub use types::*;

use crate::manager::{Error, ErrorKind, Manager};
use JitslabStatus::*;

/// A failure on its way to the caller: its status and the message `jitslab_last_error` gives.
pub(crate) type Failure = (JitslabStatus, String);

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

fn handles() -> &'static RwLock<HashMap<usize, Arc<Manager>>> {
    static HANDLES: OnceLock<RwLock<HashMap<usize, Arc<Manager>>>> = OnceLock::new();
    HANDLES.get_or_init(Default::default)
}

/// Runs `body` behind the panic boundary and records the failure message for this thread.
pub(crate) fn guard(body: impl FnOnce() -> Result<(), Failure>) -> JitslabStatus {
    let (status, msg) = match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => return JITSLAB_OK,
        Ok(Err(f)) => f,
        Err(panic) => {
            let what = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("unknown panic");
            (JITSLAB_ERR_PANIC, format!("internal error in jitslab: {what}"))
        }
    };
    let msg = CString::new(msg.replace('\0', "\\0")).unwrap_or_default();
    // After the thread's locals are torn down (e.g. from a C++ static destructor or an atexit
    // handler) the message is dropped; the status still says what went wrong.
    let _ = LAST_ERROR.try_with(|e| *e.borrow_mut() = msg);
    status
}

pub(crate) fn fail<T>(status: JitslabStatus, msg: impl Into<String>) -> Result<T, Failure> {
    Err((status, msg.into()))
}

pub(crate) fn status_of(e: Error) -> Failure {
    let s = match e.kind() {
        ErrorKind::InvalidArgument => JITSLAB_ERR_INVALID_ARGUMENT,
        ErrorKind::Full => JITSLAB_ERR_RESERVATION_FULL,
        ErrorKind::Placement => JITSLAB_ERR_PLACEMENT,
        ErrorKind::Os => JITSLAB_ERR_OS,
        ErrorKind::UnknownAllocation => JITSLAB_ERR_UNKNOWN_ALLOCATION,
        ErrorKind::BadState => JITSLAB_ERR_BAD_STATE,
        ErrorKind::ActionFailed => JITSLAB_ERR_ACTION_FAILED,
        ErrorKind::Broken => JITSLAB_ERR_PANIC,
        ErrorKind::Executor => JITSLAB_ERR_EXECUTOR,
    };
    (s, e.to_string())
}

pub(crate) fn manager(handle: *const JitslabManager, func: &str) -> Result<Arc<Manager>, Failure> {
    if handle.is_null() {
        return fail(JITSLAB_ERR_NULL_ARGUMENT, format!("{func}: the manager handle is null"));
    }
    let table = handles().read().unwrap_or_else(|p| p.into_inner());
    match table.get(&(handle as usize)) {
        Some(m) => Ok(Arc::clone(m)),
        None => fail(
            JITSLAB_ERR_INVALID_HANDLE,
            format!("{func}: {handle:p} is not a live jitslab manager (freed, or never created)"),
        ),
    }
}

/// Borrows `n` elements at `ptr` as a slice; null is allowed only for `n == 0`.
///
/// # Safety
/// A non-null `ptr` must point to `n` valid elements for the duration of the borrow.
pub(crate) unsafe fn slice<'a, T>(ptr: *const T, n: usize, what: &str) -> Result<&'a [T], Failure> {
    if n == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return fail(JITSLAB_ERR_NULL_ARGUMENT, format!("{what} is null but its count is {n}"));
    }
    if n.checked_mul(std::mem::size_of::<T>()).is_none_or(|b| b > isize::MAX as usize) {
        return fail(JITSLAB_ERR_INVALID_ARGUMENT, format!("{what}: count {n:#x} overflows"));
    }
    // SAFETY: non-null, size checked above; validity is the caller's promise.
    Ok(unsafe { std::slice::from_raw_parts(ptr, n) })
}

/// Borrows an out-parameter; null is reported.
///
/// # Safety
/// A non-null `ptr` must point to writable memory for a `T`.
pub(crate) unsafe fn out<'a, T>(ptr: *mut T, what: &str) -> Result<&'a mut T, Failure> {
    // SAFETY: the caller's promise for a non-null pointer.
    unsafe { ptr.as_mut() }.ok_or_else(|| (JITSLAB_ERR_NULL_ARGUMENT, format!("{what} is null")))
}

/// Registers a manager and writes its handle.
///
/// # Safety
/// `out` must be non-null and writable.
pub(crate) unsafe fn publish(m: Manager, out: *mut *mut JitslabManager) {
    // Handles are numbers, not addresses: never reused, never dereferenced.
    static NEXT: AtomicUsize = AtomicUsize::new(1);
    let handle = NEXT.fetch_add(1, Ordering::Relaxed) << 4;
    handles().write().unwrap_or_else(|p| p.into_inner()).insert(handle, Arc::new(m));
    // SAFETY: the caller's promise.
    unsafe { *out = handle as *mut JitslabManager };
}

pub(crate) fn out_ptr<T>(p: *mut T, what: &str) -> Result<*mut T, Failure> {
    if p.is_null() {
        return fail(JITSLAB_ERR_NULL_ARGUMENT, format!("{what} is null"));
    }
    Ok(p)
}

/// The version of the C ABI this library implements (`JITSLAB_ABI_VERSION` when built).
/// Compare it with the header's `JITSLAB_ABI_VERSION` before use.
#[no_mangle]
pub extern "C" fn jitslab_abi_version() -> u32 {
    JITSLAB_ABI_VERSION
}

/// The message of the last failed call on this thread ("" if none). Owned by jitslab: valid
/// until the next jitslab call on this thread; copy it to keep it.
#[no_mangle]
pub extern "C" fn jitslab_last_error() -> *const c_char {
    LAST_ERROR.try_with(|e| e.borrow().as_ptr()).unwrap_or(c"".as_ptr())
}

/// The name of a status code, e.g. "JITSLAB_ERR_RESERVATION_FULL"; "unknown status" for a
/// number that is not one. A static string: never free it.
#[no_mangle]
pub extern "C" fn jitslab_status_name(status: u32) -> *const c_char {
    let name: &'static std::ffi::CStr = match status {
        0 => c"JITSLAB_OK",
        1 => c"JITSLAB_ERR_NULL_ARGUMENT",
        2 => c"JITSLAB_ERR_INVALID_ARGUMENT",
        3 => c"JITSLAB_ERR_INVALID_HANDLE",
        4 => c"JITSLAB_ERR_RESERVATION_FULL",
        5 => c"JITSLAB_ERR_PLACEMENT",
        6 => c"JITSLAB_ERR_OS",
        7 => c"JITSLAB_ERR_UNKNOWN_ALLOCATION",
        8 => c"JITSLAB_ERR_BAD_STATE",
        9 => c"JITSLAB_ERR_ACTION_FAILED",
        10 => c"JITSLAB_ERR_PANIC",
        11 => c"JITSLAB_ERR_EXECUTOR",
        12 => c"JITSLAB_ERR_AUTHENTICATION",
        _ => c"unknown status",
    };
    name.as_ptr()
}
