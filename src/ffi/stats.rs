//! Statistics through the C ABI: the plain `JitslabStats` snapshot, the text forms, and the
//! strings handed to the caller.
//!
//! Concurrency: every function is thread-safe; a snapshot is taken under the manager's lock.

use std::ffi::{c_char, CString};

use super::{guard, manager, out, Failure};
use super::{
    JitslabManager, JitslabPoolStats, JitslabStats, JitslabStatus, JITSLAB_MAPPER_DUAL_VIEW, JITSLAB_MAPPER_REMOTE,
    JITSLAB_MAPPER_SINGLE_VIEW, JITSLAB_PROTOCOL_NATIVE, JITSLAB_PROTOCOL_STOCK, JITSLAB_SHARING_NAMED,
    JITSLAB_SHARING_NONE, JITSLAB_SHARING_PIDFD_GETFD, JITSLAB_SHARING_PROC_FD,
};
use crate::backend::SharingPath;
use crate::manager::Stats;
use crate::mapper::MapperKind;

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
