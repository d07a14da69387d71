//! The C ABI: the only `extern "C"` functions of jitslab. `include/jitslab.h` is generated from
//! this file by `build.rs` (cbindgen) and checked in.
//!
//! Rules that hold for every function (stated once here, and in the header's preamble):
//! - Every fallible function returns a `JitslabStatus`; `JITSLAB_OK` is 0 and the numbers never
//!   change. On failure, `jitslab_last_error()` gives a message for the calling thread.
//! - Out-parameters are written only on success.
//! - A `JitslabManager *` is an opaque handle, never dereferenced: a null, freed or made-up
//!   handle gets `JITSLAB_ERR_NULL_ARGUMENT` or `JITSLAB_ERR_INVALID_HANDLE`, never undefined
//!   behaviour. Allocation ids are never reused, so a stale or repeated id gets
//!   `JITSLAB_ERR_UNKNOWN_ALLOCATION`.
//! - No panic crosses the boundary: an internal panic becomes `JITSLAB_ERR_PANIC`.
//! - Every function is thread-safe.
//! - A function that completes through a callback (`_async`) returns `JITSLAB_OK` when it will
//!   call the callback, exactly once, from any thread and possibly before it returns; any other
//!   status means it refused the call and will never call the callback.
//!
//! Concurrency: handles live in a global table behind a read-write lock, taken only to look a
//! handle up (the manager is reference-counted, so a concurrent `jitslab_manager_free` cannot
//! pull it out from under a call in progress).

use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::{c_char, c_void, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, RwLock};

use crate::manager::{AllocId, Config, Done, Error, Lifetime, Manager, Prot, Protocol, SegmentRequest, Stats};
use crate::mapper::remote::native::SharingPath;
use crate::mapper::remote::{Completion, Transport};
use crate::mapper::{MapperChoice, MapperKind, Placement};
use crate::protocol::wrapper::{ActionPair, WrapperCall};

/// The version of this C ABI. It changes when a function or struct of the header changes
/// incompatibly.
pub const JITSLAB_ABI_VERSION: u32 = 4;

/// Place the reservation wherever the kernel chooses.
pub const JITSLAB_PLACEMENT_ANYWHERE: u32 = 0;
/// Place the whole reservation within ±2 GiB of `JitslabConfig::near_address`.
pub const JITSLAB_PLACEMENT_NEAR: u32 = 1;
/// Place the whole reservation below 2 GiB (for absolute 32-bit relocations).
pub const JITSLAB_PLACEMENT_LOW: u32 = 2;

/// Dual view where the OS allows it, else single view (the reason is logged and shown in the
/// statistics text).
pub const JITSLAB_MAPPER_AUTO: u32 = 0;
/// One view; protections applied per segment at finalize; page-granular segments.
pub const JITSLAB_MAPPER_SINGLE_VIEW: u32 = 1;
/// A memfd mapped twice (RW working view, fixed-protection executing view), or an error.
pub const JITSLAB_MAPPER_DUAL_VIEW: u32 = 2;
/// In `JitslabStats::mapper` only: the slab is in an executor process, in shared memory
/// (`jitslab_manager_new_remote`).
pub const JITSLAB_MAPPER_REMOTE: u32 = 3;

/// Remote managers (`JitslabConfig::protocol`): jitslab's native service when the executor
/// publishes it (`jitslab-executor`), LLVM 19's shared-memory service otherwise.
pub const JITSLAB_PROTOCOL_AUTO: u32 = 0;
/// LLVM 19's `ExecutorSharedMemoryMapperService` (`llvm-jitlink-executor`). In
/// `JitslabStats::protocol`: the protocol in use.
pub const JITSLAB_PROTOCOL_STOCK: u32 = 1;
/// jitslab's native executor service, or an error if the executor does not publish it. In
/// `JitslabStats::protocol`: the protocol in use.
pub const JITSLAB_PROTOCOL_NATIVE: u32 = 2;

/// `JitslabStats::sharing`: how the linker obtained the executor's shared memory. None: a local
/// manager.
pub const JITSLAB_SHARING_NONE: u32 = 0;
/// The executor's memfd, duplicated with `pidfd_getfd` (native protocol).
pub const JITSLAB_SHARING_PIDFD_GETFD: u32 = 1;
/// The executor's memfd, opened through `/proc/PID/fd/FD` (native protocol).
pub const JITSLAB_SHARING_PROC_FD: u32 = 2;
/// A named shared-memory object, opened and unlinked at once (the stock protocol always; the
/// native one when the memfd cannot be taken).
pub const JITSLAB_SHARING_NAMED: u32 = 3;

/// Segment protection bits, as LLVM's `orc::MemProt`.
pub const JITSLAB_PROT_READ: u32 = 1;
pub const JITSLAB_PROT_WRITE: u32 = 2;
pub const JITSLAB_PROT_EXEC: u32 = 4;

/// Segment lifetimes, as LLVM's `orc::MemLifetime`.
pub const JITSLAB_LIFETIME_STANDARD: u32 = 0;
pub const JITSLAB_LIFETIME_FINALIZE: u32 = 1;
pub const JITSLAB_LIFETIME_NOALLOC: u32 = 2;

/// The largest number of segments in one allocation request (LLVM uses at most 32 groups).
pub const JITSLAB_MAX_SEGMENTS: usize = 1024;

/// Indices of `JitslabStats::pools`: code (r-x), read-only (r--), read-write (rw-).
pub const JITSLAB_POOL_CODE: usize = 0;
pub const JITSLAB_POOL_READ_ONLY: usize = 1;
pub const JITSLAB_POOL_READ_WRITE: usize = 2;

/// Result of every fallible call. The numbers are stable.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(non_camel_case_types)]
pub enum JitslabStatus {
    JITSLAB_OK = 0,
    /// A required pointer argument was null.
    JITSLAB_ERR_NULL_ARGUMENT = 1,
    /// An argument can never be valid (bad protection, alignment, size, count, config…).
    JITSLAB_ERR_INVALID_ARGUMENT = 2,
    /// The manager handle is not a live handle (freed, or never created).
    JITSLAB_ERR_INVALID_HANDLE = 3,
    /// The reservation has no room for the request.
    JITSLAB_ERR_RESERVATION_FULL = 4,
    /// The reservation could not be placed as the config asks.
    JITSLAB_ERR_PLACEMENT = 5,
    /// An OS call failed.
    JITSLAB_ERR_OS = 6,
    /// The allocation id names no live allocation (never issued, freed or abandoned).
    JITSLAB_ERR_UNKNOWN_ALLOCATION = 7,
    /// The allocation is in the wrong state for this call (e.g. finalize twice).
    JITSLAB_ERR_BAD_STATE = 8,
    /// An allocation action failed (finalize: the allocation was rolled back; deallocate: the
    /// memory was returned anyway).
    JITSLAB_ERR_ACTION_FAILED = 9,
    /// An internal error (a bug in jitslab); the message says where. The manager involved then
    /// refuses further changes (statistics still work); free it.
    JITSLAB_ERR_PANIC = 10,
    /// The executor process is unreachable (it died, or the connection dropped) or sent a reply
    /// that does not decode. A remote manager that lost its executor refuses every later call.
    JITSLAB_ERR_EXECUTOR = 11,
}

use JitslabStatus::*;

/// An opaque manager handle (a number in disguise: jitslab never dereferences it).
pub struct JitslabManager {
    _private: [u8; 0],
}

/// How to build a manager. Get the defaults from `jitslab_config_default()` and change fields.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct JitslabConfig {
    /// Bytes of address space to reserve: a multiple of `chunk_bytes`, at most 2 GiB.
    /// Default 1 GiB.
    pub span_bytes: u64,
    /// Bytes by which a pool grows: a power of two of at least a page. Default 256 KiB.
    pub chunk_bytes: u64,
    /// One of `JITSLAB_PLACEMENT_*`. Default anywhere.
    pub placement: u32,
    /// One of `JITSLAB_MAPPER_*`. Default auto.
    pub mapper: u32,
    /// The target address for `JITSLAB_PLACEMENT_NEAR`.
    pub near_address: u64,
    /// Non-zero: print one line on stderr when the dual view is refused. Default 1.
    pub log_fallback: u8,
    /// Bytes of whole free pages each pool may keep resident, zeroed, for reuse instead of
    /// giving them back to the OS at once (which costs a system call, and the page's next use
    /// a page fault). Kept pages go back with their chunk, and all at once when a pool holds no
    /// live allocation. 0: every wholly free page goes back at once. Default 256 KiB.
    pub retain_free_bytes: u64,
    /// One of `JITSLAB_PROTOCOL_*`, for `jitslab_manager_new_remote` (ignored in process).
    /// Default auto.
    pub protocol: u32,
}

/// One segment of an allocation request.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct JitslabSegmentRequest {
    /// `JITSLAB_PROT_*` bits; writable and executable together is refused.
    pub prot: u32,
    /// One of `JITSLAB_LIFETIME_*`.
    pub lifetime: u32,
    /// Bytes (content plus zero fill). 0 takes the smallest unit, so the segment still has an
    /// address of its own.
    pub size: u64,
    /// A power of two no larger than the page size; 0 means 1.
    pub align: u64,
}

/// Where one segment went.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct JitslabSegment {
    /// The executor address (where the code runs). 0 for a NoAlloc segment.
    pub addr: u64,
    /// Where the linker writes the segment's bytes: zeroed, valid until the allocation is
    /// finalized (for Finalize-lifetime segments), abandoned or deallocated. Null for NoAlloc.
    pub working: *mut u8,
}

/// One ORC wrapper-function call: `CWrapperFunctionResult fn(const char *args, size_t len)`.
/// A zero `fn_addr` means "no call".
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct JitslabWrapperCall {
    pub fn_addr: u64,
    /// `args_len` bytes, borrowed for the duration of the call that takes them (copied).
    pub args: *const u8,
    pub args_len: usize,
}

/// An allocation action: a finalize call and the dealloc call that undoes it.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct JitslabAction {
    pub finalize: JitslabWrapperCall,
    pub dealloc: JitslabWrapperCall,
}

/// Figures of one pool (indexed by `JITSLAB_POOL_*`).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct JitslabPoolStats {
    /// Bytes of chunks the pool holds (accessible address space).
    pub reserved: u64,
    /// Bytes of pages holding live data: at most what the pool has resident.
    pub committed: u64,
    /// Bytes of live segments (rounded to the allocation granule).
    pub live: u64,
    pub live_segments: u64,
    pub free_ranges: u64,
    pub largest_free: u64,
    /// Bytes of whole free pages kept resident for reuse: at most `retain_free_bytes`, plus
    /// at most one allocation's pages after an allocation is rolled back.
    pub kept: u64,
}

/// A snapshot of a manager's statistics.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct JitslabStats {
    /// `JITSLAB_MAPPER_SINGLE_VIEW` or `JITSLAB_MAPPER_DUAL_VIEW`: the mapper in use.
    pub mapper: u32,
    /// Executor address of the reservation, and its size in bytes.
    pub base: u64,
    pub reserved: u64,
    pub page_size: u64,
    pub chunk_size: u64,
    /// Bytes of the reservation given to no pool.
    pub unassigned: u64,
    /// The largest free range anywhere.
    pub largest_free: u64,
    pub pools: [JitslabPoolStats; 3],
    pub live_allocations: u64,
    pub allocations: u64,
    pub finalizes: u64,
    pub failed_finalizes: u64,
    pub deallocations: u64,
    pub abandons: u64,
    /// Bytes kept out of circulation for good because their protection could not be undone
    /// (an OS failure); 0 in normal operation.
    pub leaked_bytes: u64,
    pub mmap_calls: u64,
    pub mprotect_calls: u64,
    pub madvise_calls: u64,
    pub fallocate_calls: u64,
    /// Calls a remote manager made to its executor, and their argument and result bytes.
    pub rpc_calls: u64,
    pub rpc_bytes_sent: u64,
    pub rpc_bytes_received: u64,
    /// A remote manager's protocol (`JITSLAB_PROTOCOL_STOCK` or `_NATIVE`); 0 in process.
    pub protocol: u32,
    /// How a remote manager shares memory with its executor (`JITSLAB_SHARING_*`).
    pub sharing: u32,
}

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

/// Receives the outcome of an `_async` call: the status, and for a failure its message
/// (borrowed for the duration of the call). Spelled out in the `_async` signatures as
/// `Option<...>` so that a null callback is reported, not called.
type JitslabDone = unsafe extern "C" fn(ctx: *mut c_void, status: JitslabStatus, message: *const c_char);

type Failure = (JitslabStatus, String);

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

fn handles() -> &'static RwLock<HashMap<usize, Arc<Manager>>> {
    static HANDLES: OnceLock<RwLock<HashMap<usize, Arc<Manager>>>> = OnceLock::new();
    HANDLES.get_or_init(Default::default)
}

/// Runs `body` behind the panic boundary and records the failure message for this thread.
fn guard(body: impl FnOnce() -> Result<(), Failure>) -> JitslabStatus {
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

fn fail<T>(status: JitslabStatus, msg: impl Into<String>) -> Result<T, Failure> {
    Err((status, msg.into()))
}

fn status_of(e: Error) -> Failure {
    let s = match e {
        Error::InvalidArgument(_) => JITSLAB_ERR_INVALID_ARGUMENT,
        Error::Full(_) => JITSLAB_ERR_RESERVATION_FULL,
        Error::Placement(_) => JITSLAB_ERR_PLACEMENT,
        Error::Os(_) => JITSLAB_ERR_OS,
        Error::UnknownAllocation(_) => JITSLAB_ERR_UNKNOWN_ALLOCATION,
        Error::BadState(_) => JITSLAB_ERR_BAD_STATE,
        Error::ActionFailed(_) => JITSLAB_ERR_ACTION_FAILED,
        Error::Broken(_) => JITSLAB_ERR_PANIC,
        Error::Executor(_) => JITSLAB_ERR_EXECUTOR,
    };
    (s, e.to_string())
}

fn manager(handle: *const JitslabManager, func: &str) -> Result<Arc<Manager>, Failure> {
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
unsafe fn slice<'a, T>(ptr: *const T, n: usize, what: &str) -> Result<&'a [T], Failure> {
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
unsafe fn out<'a, T>(ptr: *mut T, what: &str) -> Result<&'a mut T, Failure> {
    // SAFETY: the caller's promise for a non-null pointer.
    unsafe { ptr.as_mut() }.ok_or_else(|| (JITSLAB_ERR_NULL_ARGUMENT, format!("{what} is null")))
}

/// The version of the C ABI this library implements (`JITSLAB_ABI_VERSION` when built).
/// Compare it with the header's `JITSLAB_ABI_VERSION` before use.
#[no_mangle]
pub extern "C" fn jitslab_abi_version() -> u32 {
    JITSLAB_ABI_VERSION
}

/// The default configuration, returned by value (the caller owns the copy): 1 GiB span,
/// 256 KiB chunks, placed anywhere, mapper auto, fallback logged.
#[no_mangle]
pub extern "C" fn jitslab_config_default() -> JitslabConfig {
    let d = Config::default();
    JitslabConfig {
        span_bytes: d.span,
        chunk_bytes: d.chunk,
        placement: JITSLAB_PLACEMENT_ANYWHERE,
        mapper: JITSLAB_MAPPER_AUTO,
        near_address: 0,
        log_fallback: u8::from(d.log_fallback),
        retain_free_bytes: d.retain_free,
        protocol: JITSLAB_PROTOCOL_AUTO,
    }
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
        _ => c"unknown status",
    };
    name.as_ptr()
}

/// Creates a manager: reserves its slab and sets up its mapper. `config` may be null for the
/// defaults; it is read, not kept. On success `*out` receives a handle that the caller owns and
/// must release with `jitslab_manager_free`.
///
/// # Safety
/// `config`, if not null, must point to a `JitslabConfig`; `out` must be null or writable.
#[no_mangle]
pub unsafe extern "C" fn jitslab_manager_new(
    config: *const JitslabConfig,
    out: *mut *mut JitslabManager,
) -> JitslabStatus {
    guard(|| {
        let out = out_ptr(out, "jitslab_manager_new: out")?;
        // SAFETY: the caller's promise for a non-null config.
        let c = unsafe { config.as_ref() }.copied().unwrap_or_else(|| jitslab_config_default());
        let placement = match c.placement {
            JITSLAB_PLACEMENT_ANYWHERE => Placement::Anywhere,
            JITSLAB_PLACEMENT_NEAR => Placement::Near(c.near_address),
            JITSLAB_PLACEMENT_LOW => Placement::Low,
            p => {
                return fail(JITSLAB_ERR_INVALID_ARGUMENT, format!("unknown placement {p} (0 anywhere, 1 near, 2 low)"))
            }
        };
        let mapper = match c.mapper {
            JITSLAB_MAPPER_AUTO => MapperChoice::Auto,
            JITSLAB_MAPPER_SINGLE_VIEW => MapperChoice::SingleView,
            JITSLAB_MAPPER_DUAL_VIEW => MapperChoice::DualView,
            m => {
                return fail(
                    JITSLAB_ERR_INVALID_ARGUMENT,
                    format!("unknown mapper {m} (0 auto, 1 single view, 2 dual view)"),
                )
            }
        };
        let cfg = Config {
            span: c.span_bytes,
            chunk: c.chunk_bytes,
            placement,
            mapper,
            log_fallback: c.log_fallback != 0,
            retain_free: c.retain_free_bytes,
            protocol: Protocol::Auto,
        };
        let m = Manager::new(&cfg).map_err(status_of)?;
        // SAFETY: checked non-null above; the caller promised it is writable.
        unsafe { publish(m, out) };
        Ok(())
    })
}

/// Registers a manager and writes its handle.
///
/// # Safety
/// `out` must be non-null and writable.
unsafe fn publish(m: Manager, out: *mut *mut JitslabManager) {
    // Handles are numbers, not addresses: never reused, never dereferenced.
    static NEXT: AtomicUsize = AtomicUsize::new(1);
    let handle = NEXT.fetch_add(1, Ordering::Relaxed) << 4;
    handles().write().unwrap_or_else(|p| p.into_inner()).insert(handle, Arc::new(m));
    // SAFETY: the caller's promise.
    unsafe { *out = handle as *mut JitslabManager };
}

/// The C transport as a [`Transport`]; destroys its context when dropped.
struct CTransport(JitslabTransport);

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

/// Creates a remote manager: its slab lives in an executor process, reached through
/// `transport`, that runs jitslab's native service (`jitslab-executor`) or LLVM 19's
/// shared-memory service (`llvm-jitlink-executor`), as `config->protocol` chooses (auto:
/// native when the executor publishes it). This call waits for the setup calls (stock:
/// `Reserve` and one `Initialize` that makes the slab readable there, and a `Release` if the
/// second fails; native: `setup`, and a `teardown` and a second `setup` when the region's memfd
/// cannot be taken; at most 10 s each), so it must not run on the thread that delivers the
/// transport's results. `config` may be null; its placement must be
/// anywhere and its mapper is ignored. jitslab owns `transport.ctx` from this call on, whether
/// it succeeds or not. On success `*out` receives a handle freed with `jitslab_manager_free`,
/// which releases the reservation in the executor (waiting for that call too).
///
/// With the stock protocol a remote manager finalizes and deallocates with one call to the
/// executor each; with the native one, finalizes and deallocations that arrive while a call is
/// in flight go together in the next, and those without allocation actions need no call. Use
/// `jitslab_finalize_async` and `jitslab_deallocate_async` (the blocking `jitslab_finalize`
/// and `jitslab_deallocate` wait for the reply).
///
/// # Safety
/// `config`, if not null, must point to a `JitslabConfig`; `out` must be null or writable;
/// `transport` must follow the `JitslabTransport` contract.
#[no_mangle]
pub unsafe extern "C" fn jitslab_manager_new_remote(
    config: *const JitslabConfig,
    transport: JitslabTransport,
    out: *mut *mut JitslabManager,
) -> JitslabStatus {
    let transport = CTransport(transport);
    guard(move || {
        let out = out_ptr(out, "jitslab_manager_new_remote: out")?;
        // SAFETY: the caller's promise for a non-null config.
        let c = unsafe { config.as_ref() }.copied().unwrap_or_else(|| jitslab_config_default());
        if c.placement != JITSLAB_PLACEMENT_ANYWHERE {
            return fail(JITSLAB_ERR_PLACEMENT, "a remote manager is placed by the executor: use placement anywhere");
        }
        if transport.0.call.is_none() || transport.0.lookup.is_none() {
            return fail(JITSLAB_ERR_NULL_ARGUMENT, "jitslab_manager_new_remote: transport.call or .lookup is null");
        }
        let protocol = match c.protocol {
            JITSLAB_PROTOCOL_AUTO => Protocol::Auto,
            JITSLAB_PROTOCOL_STOCK => Protocol::Stock,
            JITSLAB_PROTOCOL_NATIVE => Protocol::Native,
            p => {
                return fail(JITSLAB_ERR_INVALID_ARGUMENT, format!("unknown protocol {p} (0 auto, 1 stock, 2 native)"))
            }
        };
        let cfg = Config {
            span: c.span_bytes,
            chunk: c.chunk_bytes,
            retain_free: c.retain_free_bytes,
            protocol,
            ..Config::default()
        };
        let m = Manager::new_remote(&cfg, Box::new(transport)).map_err(status_of)?;
        // SAFETY: checked non-null above; the caller promised it is writable.
        unsafe { publish(m, out) };
        Ok(())
    })
}

fn out_ptr<T>(p: *mut T, what: &str) -> Result<*mut T, Failure> {
    if p.is_null() {
        return fail(JITSLAB_ERR_NULL_ARGUMENT, format!("{what} is null"));
    }
    Ok(p)
}

/// Destroys a manager. Finalized allocations still live have their dealloc actions run (newest
/// first), then the whole reservation is unmapped: every address and working pointer it gave
/// out becomes invalid. If another thread is inside a call on this manager, the memory goes
/// when that call returns. A remote manager sends `Release` to its executor instead (the
/// executor runs what is left there) and waits for the reply, at most 10 s. The reply must be
/// able to arrive meanwhile: do not free a remote manager on the thread that delivers the
/// transport's results. (The C++ shim's transport delivers them on tasks of the EPC's
/// dispatcher, each on a thread of its own, so with it a manager may be freed anywhere,
/// including from a continuation; an `_async` completion has let go of the manager before it
/// calls back.) Null is a no-op; a handle already freed gets
/// `JITSLAB_ERR_INVALID_HANDLE`.
#[no_mangle]
pub extern "C" fn jitslab_manager_free(m: *mut JitslabManager) -> JitslabStatus {
    guard(|| {
        if m.is_null() {
            return Ok(());
        }
        let gone = handles().write().unwrap_or_else(|p| p.into_inner()).remove(&(m as usize));
        match gone {
            Some(_) => Ok(()),
            None => fail(
                JITSLAB_ERR_INVALID_HANDLE,
                format!("jitslab_manager_free: {m:p} is not a live jitslab manager (double free?)"),
            ),
        }
    })
}

fn request(r: &JitslabSegmentRequest, i: usize) -> Result<SegmentRequest, Failure> {
    let lifetime = match r.lifetime {
        JITSLAB_LIFETIME_STANDARD => Lifetime::Standard,
        JITSLAB_LIFETIME_FINALIZE => Lifetime::Finalize,
        JITSLAB_LIFETIME_NOALLOC => Lifetime::NoAlloc,
        l => {
            return fail(
                JITSLAB_ERR_INVALID_ARGUMENT,
                format!("segment {i}: unknown lifetime {l} (0 standard, 1 finalize, 2 noalloc)"),
            )
        }
    };
    let prot = u8::try_from(r.prot).map_err(|_| {
        (JITSLAB_ERR_INVALID_ARGUMENT, format!("segment {i}: protection {:#x} has unknown bits", r.prot))
    })?;
    Ok(SegmentRequest { prot: Prot(prot), lifetime, size: r.size, align: r.align })
}

/// Allocates the `n` segments of one link graph, all or none. On success `out_segs[i]` receives
/// segment i's executor address and working memory, and `*out_alloc` an allocation id (never 0)
/// for `jitslab_finalize` or `jitslab_abandon`. The working memory is owned by the manager.
///
/// # Safety
/// `segs` must point to `n` requests and `out_segs` to room for `n` results; `out_alloc` must be
/// writable. Null pointers are reported, not dereferenced.
#[no_mangle]
pub unsafe extern "C" fn jitslab_allocate(
    m: *mut JitslabManager,
    segs: *const JitslabSegmentRequest,
    n: usize,
    out_segs: *mut JitslabSegment,
    out_alloc: *mut u64,
) -> JitslabStatus {
    guard(|| {
        let mgr = manager(m, "jitslab_allocate")?;
        if n == 0 || n > JITSLAB_MAX_SEGMENTS {
            return fail(
                JITSLAB_ERR_INVALID_ARGUMENT,
                format!("jitslab_allocate: {n} segments (1 to {JITSLAB_MAX_SEGMENTS} allowed)"),
            );
        }
        // SAFETY: the caller's promise; null is reported.
        let reqs = unsafe { slice(segs, n, "jitslab_allocate: segs") }?;
        let out_segs = out_ptr(out_segs, "jitslab_allocate: out_segs")?;
        let out_alloc = out_ptr(out_alloc, "jitslab_allocate: out_alloc")?;
        let reqs: Vec<SegmentRequest> =
            reqs.iter().enumerate().map(|(i, r)| request(r, i)).collect::<Result<_, _>>()?;
        let (id, placed) = mgr.allocate(&reqs).map_err(status_of)?;
        for (i, s) in placed.iter().enumerate() {
            // SAFETY: the caller promised room for `n` results; `placed` has `n` entries.
            unsafe { out_segs.add(i).write(JitslabSegment { addr: s.addr, working: s.working }) };
        }
        // SAFETY: checked non-null above; the caller promised it is writable. Written through the
        // raw pointer: it may legally alias the request array in C.
        unsafe { out_alloc.write(id.0) };
        Ok(())
    })
}

/// Copies a C wrapper call.
///
/// # Safety
/// `c.args` must point to `c.args_len` bytes (or be null with length 0).
unsafe fn call(c: &JitslabWrapperCall, what: &str) -> Result<WrapperCall, Failure> {
    // SAFETY: forwarded from the caller.
    let args = unsafe { slice(c.args, c.args_len, what) }?;
    Ok(WrapperCall { fn_addr: c.fn_addr, args: args.to_vec() })
}

/// Finalizes an allocation: makes it executable/readable with its final protections and runs
/// the `n` finalize actions in order, with no lock held. Finalize-lifetime segments are given
/// back afterwards. If an action fails, the dealloc actions of the ones that ran run in reverse
/// and the allocation is rolled back and forgotten (`JITSLAB_ERR_ACTION_FAILED`). The actions
/// are copied; the caller keeps ownership of `actions`.
///
/// On a remote manager this sends one call to the executor, which protects the segments and
/// runs the actions there, and waits for its reply with no time limit (an executor that dies
/// ends the wait with `JITSLAB_ERR_EXECUTOR`); prefer `jitslab_finalize_async`.
///
/// # Safety
/// `actions` must point to `n` actions whose argument buffers are valid. Every non-zero
/// `fn_addr` must be the address of a wrapper function: in this process for a local manager
/// (jitslab calls it), in the executor for a remote one.
#[no_mangle]
pub unsafe extern "C" fn jitslab_finalize(
    m: *mut JitslabManager,
    alloc: u64,
    actions: *const JitslabAction,
    n: usize,
) -> JitslabStatus {
    guard(|| {
        let mgr = manager(m, "jitslab_finalize")?;
        // SAFETY: the caller's promise.
        let pairs = unsafe { action_pairs(actions, n, "jitslab_finalize") }?;
        if mgr.is_remote() {
            // SAFETY: the caller vouches for the function addresses.
            return wait(|done| unsafe { mgr.finalize_async(AllocId(alloc), pairs, done) });
        }
        // SAFETY: the caller vouches for the function addresses.
        unsafe { mgr.finalize(AllocId(alloc), &pairs) }.map_err(status_of)
    })
}

/// Copies C actions.
///
/// # Safety
/// `actions` must point to `n` actions whose argument buffers are valid.
unsafe fn action_pairs(actions: *const JitslabAction, n: usize, func: &str) -> Result<Vec<ActionPair>, Failure> {
    // SAFETY: the caller's promise.
    let acts = unsafe { slice(actions, n, &format!("{func}: actions")) }?;
    let mut pairs = Vec::with_capacity(acts.len());
    for (i, a) in acts.iter().enumerate() {
        // SAFETY: the caller's promise for the argument buffers.
        let (finalize, dealloc) = unsafe {
            (
                call(&a.finalize, &format!("action {i} finalize args"))?,
                call(&a.dealloc, &format!("action {i} dealloc args"))?,
            )
        };
        pairs.push(ActionPair { finalize, dealloc });
    }
    Ok(pairs)
}

/// Runs an asynchronous operation and waits for its completion (the blocking C calls on a
/// remote manager).
fn wait(start: impl FnOnce(Done)) -> Result<(), Failure> {
    let (tx, rx) = std::sync::mpsc::channel();
    start(Box::new(move |r| {
        let _ = tx.send(r);
    }));
    match rx.recv() {
        Ok(r) => r.map_err(status_of),
        Err(_) => fail(JITSLAB_ERR_EXECUTOR, "the operation was dropped without completing"),
    }
}

/// A [`Done`] that reports to a C callback, behind the panic boundary. If the operation is
/// dropped without completing (a panic inside jitslab unwinds through it), the callback still
/// runs, once, with `JITSLAB_ERR_PANIC`: ORC waits for its continuations.
fn c_done(done: JitslabDone, ctx: *mut c_void) -> Done {
    struct CDone {
        done: JitslabDone,
        ctx: *mut c_void,
        called: bool,
    }
    // SAFETY: the `_async` contract: the callback may be called from any thread with `ctx`.
    unsafe impl Send for CDone {}
    impl CDone {
        fn report(&mut self, status: JitslabStatus, msg: &CStr) {
            self.called = true;
            // SAFETY: the caller of the `_async` function gave this callback and context.
            let _ = catch_unwind(AssertUnwindSafe(|| unsafe { (self.done)(self.ctx, status, msg.as_ptr()) }));
        }
    }
    impl Drop for CDone {
        fn drop(&mut self) {
            if !self.called {
                self.report(JITSLAB_ERR_PANIC, c"internal error in jitslab: the operation ended without completing");
            }
        }
    }
    let mut c = CDone { done, ctx, called: false };
    Box::new(move |r| {
        let (status, msg) = match r {
            Ok(()) => (JITSLAB_OK, CString::default()),
            Err(e) => {
                let (s, m) = status_of(e);
                (s, CString::new(m.replace('\0', "\\0")).unwrap_or_default())
            }
        };
        c.report(status, &msg);
    })
}

/// `jitslab_finalize`, completing through `done(ctx, status, message)` (see the rules at the top
/// of this header for `_async` calls). On a remote manager the executor runs the actions; the
/// function addresses are then executor addresses. Stock protocol: one call, which also
/// protects the segments. Native protocol: no call when there are no actions and the chunks'
/// protections are applied; otherwise the finalize goes in the next group of calls.
///
/// # Safety
/// As for `jitslab_finalize`; `done` must be callable from any thread with `ctx`.
#[no_mangle]
pub unsafe extern "C" fn jitslab_finalize_async(
    m: *mut JitslabManager,
    alloc: u64,
    actions: *const JitslabAction,
    n: usize,
    done: Option<unsafe extern "C" fn(ctx: *mut c_void, status: JitslabStatus, message: *const c_char)>,
    ctx: *mut c_void,
) -> JitslabStatus {
    guard(|| {
        let Some(done) = done else { return fail(JITSLAB_ERR_NULL_ARGUMENT, "jitslab_finalize_async: done is null") };
        let mgr = manager(m, "jitslab_finalize_async")?;
        // SAFETY: the caller's promise.
        let pairs = unsafe { action_pairs(actions, n, "jitslab_finalize_async") }?;
        // SAFETY: the caller vouches for the function addresses.
        unsafe { mgr.finalize_async(AllocId(alloc), pairs, c_done(done, ctx)) };
        Ok(())
    })
}

/// Gives back an allocation that was never finalized, exactly its own memory. Its working
/// memory and addresses become invalid; the id is never valid again.
#[no_mangle]
pub extern "C" fn jitslab_abandon(m: *mut JitslabManager, alloc: u64) -> JitslabStatus {
    guard(|| manager(m, "jitslab_abandon")?.abandon(AllocId(alloc)).map_err(status_of))
}

/// Deallocates `n` finalized allocations: runs their dealloc actions (last allocation first,
/// each one's actions last first), then returns their memory. The batch is checked first: an
/// unknown, repeated or unfinalized id fails the call and nothing is freed. A failing dealloc
/// action gives `JITSLAB_ERR_ACTION_FAILED` after all the memory was returned. `allocs` is read
/// during the call, not kept; the ids and their memory are invalid afterwards.
///
/// # Safety
/// `allocs` must point to `n` ids.
#[no_mangle]
pub unsafe extern "C" fn jitslab_deallocate(m: *mut JitslabManager, allocs: *const u64, n: usize) -> JitslabStatus {
    guard(|| {
        let mgr = manager(m, "jitslab_deallocate")?;
        // SAFETY: the caller promised `n` ids; AllocId is a transparent u64.
        let ids = unsafe { slice(allocs as *const AllocId, n, "jitslab_deallocate: allocs") }?;
        if mgr.is_remote() {
            // SAFETY: the function addresses were vouched for at finalize.
            return wait(|done| unsafe { mgr.deallocate_async(ids, done) });
        }
        // SAFETY: the function addresses were vouched for at finalize.
        unsafe { mgr.deallocate(ids) }.map_err(status_of)
    })
}

/// `jitslab_deallocate`, completing through `done(ctx, status, message)` (see the rules at the
/// top of this header for `_async` calls). On a remote manager the whole batch is one call to
/// the executor, and the memory is returned when the executor has run the dealloc actions.
///
/// # Safety
/// As for `jitslab_deallocate`; `done` must be callable from any thread with `ctx`.
#[no_mangle]
pub unsafe extern "C" fn jitslab_deallocate_async(
    m: *mut JitslabManager,
    allocs: *const u64,
    n: usize,
    done: Option<unsafe extern "C" fn(ctx: *mut c_void, status: JitslabStatus, message: *const c_char)>,
    ctx: *mut c_void,
) -> JitslabStatus {
    guard(|| {
        let Some(done) = done else { return fail(JITSLAB_ERR_NULL_ARGUMENT, "jitslab_deallocate_async: done is null") };
        let mgr = manager(m, "jitslab_deallocate_async")?;
        // SAFETY: the caller promised `n` ids; AllocId is a transparent u64.
        let ids = unsafe { slice(allocs as *const AllocId, n, "jitslab_deallocate_async: allocs") }?;
        // SAFETY: the function addresses were vouched for at finalize.
        unsafe { mgr.deallocate_async(ids, c_done(done, ctx)) };
        Ok(())
    })
}

fn c_stats(s: &Stats) -> JitslabStats {
    JitslabStats {
        mapper: match s.mapper {
            MapperKind::SingleView => JITSLAB_MAPPER_SINGLE_VIEW,
            MapperKind::DualView => JITSLAB_MAPPER_DUAL_VIEW,
            MapperKind::RemoteStock | MapperKind::RemoteNative => JITSLAB_MAPPER_REMOTE,
        },
        base: s.base,
        reserved: s.reserved,
        page_size: s.page,
        chunk_size: s.chunk,
        unassigned: s.unassigned,
        largest_free: s.largest_free,
        pools: s.pools.map(|p| JitslabPoolStats {
            reserved: p.stats.reserved,
            committed: p.stats.committed,
            live: p.stats.live,
            live_segments: p.stats.live_segments,
            free_ranges: p.stats.free_ranges,
            largest_free: p.stats.largest_free,
            kept: p.stats.kept,
        }),
        live_allocations: s.live_allocations,
        allocations: s.allocations,
        finalizes: s.finalizes,
        failed_finalizes: s.failed_finalizes,
        deallocations: s.deallocations,
        abandons: s.abandons,
        leaked_bytes: s.leaked_bytes,
        mmap_calls: s.sys.mmap,
        mprotect_calls: s.sys.mprotect,
        madvise_calls: s.sys.madvise,
        fallocate_calls: s.sys.fallocate,
        rpc_calls: s.rpc.calls,
        rpc_bytes_sent: s.rpc.bytes_sent,
        rpc_bytes_received: s.rpc.bytes_received,
        protocol: match s.mapper {
            MapperKind::RemoteStock => JITSLAB_PROTOCOL_STOCK,
            MapperKind::RemoteNative => JITSLAB_PROTOCOL_NATIVE,
            MapperKind::SingleView | MapperKind::DualView => 0,
        },
        sharing: match (s.mapper, s.sharing) {
            (_, Some(SharingPath::PidfdGetfd)) => JITSLAB_SHARING_PIDFD_GETFD,
            (_, Some(SharingPath::ProcFd)) => JITSLAB_SHARING_PROC_FD,
            (_, Some(SharingPath::Named)) | (MapperKind::RemoteStock, None) => JITSLAB_SHARING_NAMED,
            _ => JITSLAB_SHARING_NONE,
        },
    }
}

/// Writes a snapshot of the manager's statistics to the caller's `*out_stats` (plain data; no
/// pointer in it refers to jitslab memory).
///
/// # Safety
/// `out_stats` must be null (reported) or point to a writable `JitslabStats`.
#[no_mangle]
pub unsafe extern "C" fn jitslab_stats(m: *mut JitslabManager, out_stats: *mut JitslabStats) -> JitslabStatus {
    guard(|| {
        let mgr = manager(m, "jitslab_stats")?;
        // SAFETY: the caller's promise.
        *unsafe { out(out_stats, "jitslab_stats: out_stats") }? = c_stats(&mgr.stats());
        Ok(())
    })
}

/// Hands a string to the caller, who frees it with `jitslab_string_free`.
///
/// # Safety
/// A non-null `dst` must point to a writable `char *`.
unsafe fn give_string(s: String, dst: *mut *mut c_char, what: &str) -> Result<(), Failure> {
    // SAFETY: the caller's promise.
    let dst = unsafe { out(dst, what) }?;
    *dst = CString::new(s.replace('\0', "\\0")).unwrap_or_default().into_raw();
    Ok(())
}

/// The statistics as text (several lines, for humans), including why the dual view was refused
/// if it was. On success `*out` receives a string the caller owns: free it with
/// `jitslab_string_free`.
///
/// # Safety
/// `out` must be null (reported) or point to a writable `char *`.
#[no_mangle]
pub unsafe extern "C" fn jitslab_stats_text(m: *mut JitslabManager, out: *mut *mut c_char) -> JitslabStatus {
    guard(|| {
        let mgr = manager(m, "jitslab_stats_text")?;
        let mut text = mgr.stats().to_string();
        if let Some(why) = mgr.fallback_reason() {
            text.push_str("\n  note: ");
            text.push_str(why);
        }
        // SAFETY: the caller's promise.
        unsafe { give_string(text, out, "jitslab_stats_text: out") }
    })
}

/// A text map of the reservation: which chunks belong to which pool and how full they are. On
/// success `*out` receives a string the caller owns: free it with `jitslab_string_free`.
///
/// # Safety
/// `out` must be null (reported) or point to a writable `char *`.
#[no_mangle]
pub unsafe extern "C" fn jitslab_heap_map(m: *mut JitslabManager, out: *mut *mut c_char) -> JitslabStatus {
    guard(|| {
        let mgr = manager(m, "jitslab_heap_map")?;
        // SAFETY: the caller's promise.
        unsafe { give_string(mgr.heap_map(), out, "jitslab_heap_map: out") }
    })
}

/// Frees a string returned by jitslab. Null is a no-op.
///
/// # Safety
/// `s` must be null or a string from `jitslab_stats_text` / `jitslab_heap_map`, freed once.
#[no_mangle]
pub unsafe extern "C" fn jitslab_string_free(s: *mut c_char) {
    if !s.is_null() {
        // SAFETY: the caller's promise: it came from CString::into_raw above and is freed once.
        drop(unsafe { CString::from_raw(s) });
    }
}

// --- the executor side of the native protocol ---------------------------------------------

/// The version of jitslab's native executor protocol that this library serves (see
/// `jitslab_executor_bootstrap_symbols`). A linker of another version is refused at setup.
pub const JITSLAB_EXECUTOR_PROTOCOL_VERSION: u32 = 1;

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
fn executor_wrapper(op: crate::protocol::native::Op) -> crate::protocol::wrapper::WrapperFn {
    use crate::protocol::native::Op;
    use crate::protocol::wrapper::CWrapperFunctionResult as Result;
    unsafe extern "C" fn setup(args: *const c_char, len: usize) -> Result {
        // SAFETY: ORC's wrapper ABI: `args` holds `len` bytes.
        unsafe { executor_call(Op::Setup, args, len) }
    }
    unsafe extern "C" fn protect(args: *const c_char, len: usize) -> Result {
        // SAFETY: as above.
        unsafe { executor_call(Op::Protect, args, len) }
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
        Op::Protect => protect,
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
unsafe fn executor_call(
    op: crate::protocol::native::Op,
    args: *const c_char,
    len: usize,
) -> crate::protocol::wrapper::CWrapperFunctionResult {
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
        Ok(bytes) => crate::protocol::wrapper::CWrapperFunctionResult::from_bytes(&bytes),
        Err(_) => {
            crate::protocol::wrapper::CWrapperFunctionResult::out_of_band(c"jitslab executor service: internal error")
        }
    }
}

/// Lists the wrapper functions of jitslab's executor-side service (the native protocol,
/// version `JITSLAB_EXECUTOR_PROTOCOL_VERSION`), to publish as bootstrap symbols from an
/// executor built on LLVM's `SimpleRemoteEPCServer`: add each `{name, addr}` to
/// `Setup::bootstrapSymbols()`. On success `*out` points to `*count` entries owned by jitslab,
/// valid for the life of the process (never free them). Each message's layout, checks and
/// errors are documented in jitslab's `src/executor/mod.rs`; `jitslab-executor` is an executor
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
                crate::protocol::native::Op::ALL
                    .iter()
                    .map(|&op| JitslabBootstrapSymbol {
                        name: op.symbol().as_ptr(),
                        addr: executor_wrapper(op) as usize as u64,
                    })
                    .collect(),
            )
        });
        // SAFETY: the caller's promise for non-null pointers.
        let out = unsafe { self::out(out, "jitslab_executor_bootstrap_symbols: out") }?;
        // SAFETY: as above.
        let count = unsafe { self::out(count, "jitslab_executor_bootstrap_symbols: count") }?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::slab::Pool;

    /// An `_async` operation that ends without completing (a panic unwinds through it) still
    /// calls its C callback, once, with JITSLAB_ERR_PANIC; a completed one reports its status.
    #[test]
    fn async_callbacks_run_once_even_when_the_operation_is_dropped() {
        static SEEN: std::sync::Mutex<Vec<(usize, JitslabStatus)>> = std::sync::Mutex::new(Vec::new());
        unsafe extern "C" fn record(ctx: *mut c_void, status: JitslabStatus, _msg: *const c_char) {
            SEEN.lock().unwrap().push((ctx as usize, status));
        }
        let dropped = c_done(record, std::ptr::without_provenance_mut(1));
        drop(dropped);
        let completed = c_done(record, std::ptr::without_provenance_mut(2));
        completed(Err(Error::BadState("test".into())));
        let panicked = c_done(record, std::ptr::without_provenance_mut(3));
        let r = catch_unwind(AssertUnwindSafe(move || {
            let _owned = panicked;
            panic!("inside a completion");
        }));
        assert!(r.is_err());
        let seen = SEEN.lock().unwrap().clone();
        assert_eq!(seen, [(1, JITSLAB_ERR_PANIC), (2, JITSLAB_ERR_BAD_STATE), (3, JITSLAB_ERR_PANIC)]);
    }

    #[test]
    fn the_header_names_the_executor_protocol_version_the_service_speaks() {
        assert_eq!(JITSLAB_EXECUTOR_PROTOCOL_VERSION, crate::protocol::native::PROTOCOL_VERSION);
    }

    #[test]
    fn pool_indices_in_the_header_are_the_slab_pools() {
        assert_eq!(JITSLAB_POOL_CODE, Pool::Code as usize);
        assert_eq!(JITSLAB_POOL_READ_ONLY, Pool::ReadOnly as usize);
        assert_eq!(JITSLAB_POOL_READ_WRITE, Pool::ReadWrite as usize);
        assert_eq!(Pool::ALL.len(), JitslabStats::default().pools.len());
    }
}
