//! A manager's life through the C ABI: create (in process or remote), allocate, finalize,
//! abandon, deallocate, free. Each function decodes its arguments, calls the manager behind
//! [`guard`], and turns its typed error into a status.
//!
//! Concurrency: every function is thread-safe; the manager does its own locking.

use std::ffi::{c_char, c_void, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

use super::transport::CTransport;
use super::types::{decode_config, request};
use super::{fail, guard, handles, manager, out_ptr, publish, slice, status_of, Failure};
use super::{
    JitslabAction, JitslabAsyncDone, JitslabConfig, JitslabManager, JitslabSegment, JitslabSegmentRequest,
    JitslabStatus, JitslabTransport, JitslabWrapperCall, JITSLAB_MAX_SEGMENTS,
};
use crate::manager::{AllocId, Done, Manager, SegmentRequest};
use crate::protocol::wrapper::{ActionPair, WrapperCall};
use JitslabStatus::*;

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
        // SAFETY: the caller's promise.
        let cfg = unsafe { decode_config(config) }?;
        let m = Manager::new(&cfg).map_err(status_of)?;
        // SAFETY: checked non-null above; the caller promised it is writable.
        unsafe { publish(m, out) };
        Ok(())
    })
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
        // SAFETY: the caller's promise.
        let cfg = unsafe { decode_config(config) }?;
        if transport.0.call.is_none() || transport.0.lookup.is_none() {
            return fail(JITSLAB_ERR_NULL_ARGUMENT, "jitslab_manager_new_remote: transport.call or .lookup is null");
        }
        let m = Manager::new_remote(&cfg, Box::new(transport)).map_err(status_of)?;
        // SAFETY: checked non-null above; the caller promised it is writable.
        unsafe { publish(m, out) };
        Ok(())
    })
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
pub(crate) fn c_done(
    done: unsafe extern "C" fn(ctx: *mut c_void, status: JitslabStatus, message: *const c_char),
    ctx: *mut c_void,
) -> Done {
    struct CDone {
        done: unsafe extern "C" fn(*mut c_void, JitslabStatus, *const c_char),
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

/// `jitslab_finalize`, completing through `done(ctx, status, message)` (see the rules for `_async`
/// calls in the preamble of this header). On a remote manager the executor runs the actions; the
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
    done: JitslabAsyncDone,
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

/// `jitslab_deallocate`, completing through `done(ctx, status, message)` (see the rules for
/// `_async` calls in the preamble of this header). On a remote manager the whole batch is one call to
/// the executor, and the memory is returned when the executor has run the dealloc actions.
///
/// # Safety
/// As for `jitslab_deallocate`; `done` must be callable from any thread with `ctx`.
#[no_mangle]
pub unsafe extern "C" fn jitslab_deallocate_async(
    m: *mut JitslabManager,
    allocs: *const u64,
    n: usize,
    done: JitslabAsyncDone,
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
