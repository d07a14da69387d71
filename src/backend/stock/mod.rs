//! The stock backend: the slab lives in an executor running LLVM's
//! `ExecutorSharedMemoryMapperService` (Debian's unmodified `llvm-jitlink-executor`), reached
//! through [`Remote`]; its messages are [`crate::protocol::stock`].
//!
//! One `Initialize` per finalize (the executor protects each segment and runs the actions),
//! one `Deinitialize` per deallocate batch, one `Release` when the manager goes. The service
//! keys an allocation by its lowest segment address and protects page ranges, so segments stay
//! page-granular and an allocation with actions needs a segment of its own.
//!
//! Concurrency: `Remote` is shared by every thread; no lock is held across a call.

#[cfg(test)]
pub(crate) mod fake;
#[cfg(test)]
mod tests;

use std::ffi::CString;
use std::sync::Arc;

use super::{call_error, setup_error, Backend, Completed, FinalizeSeg, Finalized, Kept};
use crate::error::Error;
use crate::mapper::pool_prot;
use crate::mapper::remote::{Remote, RemoteError, RemoteView, RpcCounts, Transport};
use crate::mapper::Mapper;
use crate::protocol::stock::{self, SegFinalize};
use crate::protocol::wrapper::ActionPair;
use crate::sys;

/// See the module docs.
#[derive(Debug)]
pub(crate) struct Stock {
    remote: Arc<Remote>,
    /// The executor address of the reservation (the slab's offset 0).
    base: u64,
}

impl Stock {
    /// Finds the service, reserves `span` bytes in the executor and maps them here (one
    /// `Reserve` and one `Initialize`, waited for).
    pub(crate) fn connect(transport: Box<dyn Transport>, span: u64) -> Result<(Stock, RemoteView), Error> {
        let remote = Arc::new(Remote::connect(transport)?);
        let view = remote.reserve(span).map_err(setup_error)?;
        Ok((Stock { remote, base: view.base() }, view))
    }
}

impl Backend for Stock {
    fn is_remote(&self) -> bool {
        true
    }

    unsafe fn finalize(&self, _id: u64, segs: &[FinalizeSeg], actions: Vec<ActionPair>, done: Finalized) {
        if segs.is_empty() {
            // No memory and, the manager saw to it, no actions: nothing to tell the executor.
            return done(Ok(Kept::Nothing));
        }
        let wire: Vec<SegFinalize> = segs
            .iter()
            .map(|s| SegFinalize {
                group: stock::group(pool_prot(s.pool), s.finalize_lifetime),
                addr: self.base + s.range.start,
                size: s.range.len(),
            })
            .collect();
        self.remote.initialize(self.base, &wire, &actions, move |key| done(key.map(Kept::Key).map_err(call_error)));
    }

    unsafe fn deallocate(&self, kept: Vec<Kept>, done: Completed) {
        let keys: Vec<u64> =
            kept.iter().filter_map(|k| if let Kept::Key(key) = k { Some(*key) } else { None }).collect();
        if keys.is_empty() {
            return done(Ok(()));
        }
        self.remote.deinitialize(&keys, move |r| {
            done(r.map_err(|e| call_error(e).prefixed("deallocate (memory was returned anyway): ")))
        });
    }

    /// Releases the reservation (waited for, at most 10 s): the executor runs the dealloc
    /// actions left there. A dead executor has let go of it already.
    unsafe fn teardown(&self, _kept: Vec<Kept>) {
        if self.remote.lost().is_none() {
            let _ = self.remote.release_blocking(self.base);
        }
    }

    fn needs_key_segment(&self) -> bool {
        true
    }

    fn pinned_offset(&self, kept: &Kept) -> Option<u64> {
        match kept {
            Kept::Key(key) => key.checked_sub(self.base),
            Kept::Nothing | Kept::Calls(_) => None,
        }
    }

    fn lost(&self) -> Option<String> {
        self.remote.lost()
    }

    fn rpc_counts(&self) -> RpcCounts {
        self.remote.rpc_counts()
    }
}

/// The stock service's calls.
impl Remote {
    /// Reserves `span` bytes in the executor and maps them here. On any failure after the
    /// executor reserved, the reservation is released again.
    fn reserve(self: &Arc<Self>, span: u64) -> Result<RemoteView, RemoteError> {
        let args = stock::reserve_args(self.addrs().instance, span);
        let me = Arc::clone(self);
        let (base, name) =
            self.call_blocking("Reserve", self.addrs().reserve, args, stock::reserve_result, move |(base, name)| {
                // Too late: nobody maps this reservation. Its name must not outlive us, and
                // the executor can have its memory back.
                if let Ok(name) = CString::new(name) {
                    let _ = sys::shm_unlink(&name);
                }
                me.call(
                    "Release",
                    me.addrs().release,
                    stock::addrs_args(me.addrs().instance, &[base]),
                    stock::error_result,
                    drop,
                );
            })?;
        let view = RemoteView::open(base, span, &name).map_err(|e| {
            let undo = self.release_blocking(base).err().map(|e| format!("; releasing it failed too: {e}"));
            RemoteError::Executor(format!(
                "the executor reserved {span:#x} bytes at {base:#x} as {name:?}, but this process \
                 cannot map it: {e}{}",
                undo.unwrap_or_default()
            ))
        })?;
        if let Err(e) = self.make_readable(base, span) {
            let _ = self.release_blocking(base);
            return Err(e);
        }
        Ok(view)
    }

    /// Makes the whole reservation readable in the executor (one `Initialize` with no actions,
    /// waited for). The service maps a reservation with no access at all, but LLVM 19's ORC
    /// reads JIT'd memory in the executor before finalizing it: ELFNixPlatform has the
    /// executor register a graph's `.eh_frame` section (libgcc's `__register_frame` reads it)
    /// between fixup and finalize, which faults on an inaccessible page and kills the
    /// executor. Readable pages hold what the linker already wrote, so the frames are the
    /// right ones. Finalize then sets each segment's own protection.
    fn make_readable(self: &Arc<Self>, reservation: u64, span: u64) -> Result<(), RemoteError> {
        let whole = [SegFinalize { group: stock::GROUP_READ, addr: reservation, size: span }];
        let args = stock::initialize_args(self.addrs().instance, reservation, &whole, &[]);
        self.call_blocking("Initialize", self.addrs().initialize, args, stock::initialize_result, drop).map(|_key| ())
    }

    /// Protects `segs` and runs `actions` in the executor; `done` gets the allocation's key.
    fn initialize(
        self: &Arc<Self>,
        reservation: u64,
        segs: &[SegFinalize],
        actions: &[ActionPair],
        done: impl FnOnce(Result<u64, RemoteError>) + Send + 'static,
    ) {
        let args = stock::initialize_args(self.addrs().instance, reservation, segs, actions);
        self.call("Initialize", self.addrs().initialize, args, stock::initialize_result, done);
    }

    /// Runs the dealloc actions of the allocations named by `keys`, last first.
    fn deinitialize(self: &Arc<Self>, keys: &[u64], done: impl FnOnce(Result<(), RemoteError>) + Send + 'static) {
        let args = stock::addrs_args(self.addrs().instance, keys);
        self.call("Deinitialize", self.addrs().deinitialize, args, stock::error_result, done);
    }

    /// Gives the reservation back (the executor deinitializes what is left in it first).
    fn release_blocking(self: &Arc<Self>, reservation: u64) -> Result<(), RemoteError> {
        let args = stock::addrs_args(self.addrs().instance, &[reservation]);
        self.call_blocking("Release", self.addrs().release, args, stock::error_result, drop)
    }
}
