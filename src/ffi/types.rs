//! The header's constants, status codes and plain structs, and their decoding into the
//! manager's types: a `JitslabConfig` is read in one place ([`decode_config`]) for both
//! constructors, a segment request in another ([`request`]).
//!
//! Concurrency: plain data.

use std::ffi::{c_char, c_void};

use super::{fail, Failure};
use crate::manager::{Config, Lifetime, Prot, Protocol, SegmentRequest};
use crate::mapper::{MapperChoice, Placement};
use JitslabStatus::*;

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
    /// The peer did not prove it holds the shared secret, or this side has none it may use
    /// (`jitslab_authenticate`); the connection must be closed.
    JITSLAB_ERR_AUTHENTICATION = 12,
}

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

/// Receives the outcome of an `_async` call (`jitslab_finalize_async`,
/// `jitslab_deallocate_async`): `ctx` as given, the status, and for a failure its message
/// (borrowed for the duration of the call; "" on success). Called exactly once, from any
/// thread, possibly before the `_async` call returns. Must not be null.
pub type JitslabAsyncDone =
    Option<unsafe extern "C" fn(ctx: *mut c_void, status: JitslabStatus, message: *const c_char)>;

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

/// Reads a `JitslabConfig` (null: the defaults) for either constructor. Every field is checked,
/// including those the constructor will not use, so an unknown value is refused the same way by
/// both.
///
/// # Safety
/// `config` must be null or point to a `JitslabConfig`.
pub(crate) unsafe fn decode_config(config: *const JitslabConfig) -> Result<Config, Failure> {
    // SAFETY: the caller's promise for a non-null config.
    let c = unsafe { config.as_ref() }.copied().unwrap_or_else(|| jitslab_config_default());
    let placement = match c.placement {
        JITSLAB_PLACEMENT_ANYWHERE => Placement::Anywhere,
        JITSLAB_PLACEMENT_NEAR => Placement::Near(c.near_address),
        JITSLAB_PLACEMENT_LOW => Placement::Low,
        p => return fail(JITSLAB_ERR_INVALID_ARGUMENT, format!("unknown placement {p} (0 anywhere, 1 near, 2 low)")),
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
    let protocol = match c.protocol {
        JITSLAB_PROTOCOL_AUTO => Protocol::Auto,
        JITSLAB_PROTOCOL_STOCK => Protocol::Stock,
        JITSLAB_PROTOCOL_NATIVE => Protocol::Native,
        p => return fail(JITSLAB_ERR_INVALID_ARGUMENT, format!("unknown protocol {p} (0 auto, 1 stock, 2 native)")),
    };
    Ok(Config {
        span: c.span_bytes,
        chunk: c.chunk_bytes,
        placement,
        mapper,
        log_fallback: c.log_fallback != 0,
        retain_free: c.retain_free_bytes,
        protocol,
    })
}

/// Reads segment request `i`.
pub(crate) fn request(r: &JitslabSegmentRequest, i: usize) -> Result<SegmentRequest, Failure> {
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
    Ok(SegmentRequest { prot: prot(r.prot, i)?, lifetime, size: r.size, align: r.align })
}

/// The protection of segment `i` from the C constants. Both use LLVM's `MemProt` bits (checked
/// below), so the bits pass unchanged; the manager refuses the unknown ones and W^X violations.
fn prot(bits: u32, i: usize) -> Result<Prot, Failure> {
    const _: () = assert!(
        JITSLAB_PROT_READ == Prot::READ as u32
            && JITSLAB_PROT_WRITE == Prot::WRITE as u32
            && JITSLAB_PROT_EXEC == Prot::EXEC as u32
    );
    u8::try_from(bits)
        .map(Prot)
        .map_err(|_| (JITSLAB_ERR_INVALID_ARGUMENT, format!("segment {i}: protection {bits:#x} has unknown bits")))
}
