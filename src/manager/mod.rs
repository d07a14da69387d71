//! The manager: allocate, finalize, abandon and deallocate, on one slab and one mapper.
//!
//! Lifecycle of an allocation (one LinkGraph):
//! ```text
//!   allocate ──► in flight ──finalize──► finalizing ──ok──► finalized ──deallocate──► gone
//!                    │                       │ action or OS error: roll back
//!                    └──abandon──► gone      └──────────────────────────────────────► gone
//! ```
//! An [`AllocId`] names an allocation for its whole life and is never reused, so a stale or
//! repeated id is always recognized and refused.
//!
//! A manager is local (the slab is in this process; actions run here) or remote (the slab is in
//! an executor process, see [`crate::mapper::remote`]): allocation is the same bookkeeping in
//! both, with no round trip; finalize and deallocate become one call to the executor each, and
//! complete through a callback ([`Manager::finalize_async`], [`Manager::deallocate_async`]).
//!
//! Concurrency: every method takes `&self` and is thread-safe. One mutex guards the slab and
//! the table of allocations; it is held for bookkeeping and for the few memory calls that must
//! not race with a reuse of the same page (committing a chunk, zeroing or releasing freed
//! pages). It is never held while an allocation action runs or a call to the executor is in
//! flight, and a segment's own protection changes happen outside it (the segment belongs to one
//! caller then).

mod lifecycle;
mod stats;
mod types;

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::hash::BuildHasherDefault;
use std::sync::{mpsc, Arc, Mutex, MutexGuard};

pub use crate::error::{Error, ErrorKind};
pub use stats::{PoolStatsEntry, Stats};
pub use types::{
    AllocId, Config, Lifetime, Prot, Segment, SegmentRequest, DEFAULT_CHUNK, DEFAULT_RETAIN_FREE, DEFAULT_SPAN,
};

use crate::backend::{Backend, FinalizeSeg, Kept};
pub use crate::backend::{Protocol, RoundCounts, SharingPath};
use crate::mapper::Mapper;
pub use crate::mapper::{MapperChoice, MapperKind, Placement};
use crate::protocol::wrapper::ActionPair;
use crate::slab::{NumberHasher, Pool, Range, Slab, SlabError};

/// Called once when an asynchronous operation completes.
pub type Done = Box<dyn FnOnce(Result<(), Error>) + Send>;

#[derive(Debug, Clone, Copy)]
struct Seg {
    pool: Pool,
    range: Range,
    lifetime: Lifetime,
    /// Whether the mapper's `protect` ran on it (undone before it is freed).
    protected: bool,
}

#[derive(Debug)]
enum State {
    InFlight,
    Finalizing,
    /// With what its backend keeps to undo it.
    Finalized(Kept),
    Deallocating,
}

impl State {
    fn name(&self) -> &'static str {
        match self {
            State::InFlight => "in flight (allocated, not finalized)",
            State::Finalizing => "being finalized",
            State::Finalized(_) => "finalized",
            State::Deallocating => "being deallocated",
        }
    }
}

#[derive(Debug)]
struct Record {
    segs: Vec<Seg>,
    state: State,
}

#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    allocations: u64,
    finalizes: u64,
    failed_finalizes: u64,
    deallocations: u64,
    abandons: u64,
    /// Bytes kept out of circulation because their protection could not be undone.
    leaked_bytes: u64,
}

/// The next allocation id, shared by all managers.
static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

struct Inner {
    slab: Slab,
    allocs: HashMap<u64, Record, BuildHasherDefault<NumberHasher>>,
    counts: Counts,
}

/// A JIT memory manager over one reservation. See the module docs.
pub struct Manager {
    inner: Mutex<Inner>,
    page: u64,
    mapper: Box<dyn Mapper>,
    backend: Box<dyn Backend>,
    fallback: Option<String>,
}

impl fmt::Debug for Manager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Manager").field("base", &self.mapper.base()).field("span", &self.mapper.span()).finish()
    }
}

impl Manager {
    /// How a native remote manager shares its region with the executor.
    pub fn sharing_path(&self) -> Option<SharingPath> {
        self.backend.sharing()
    }

    /// The rounds and calls of a native remote manager's group commit.
    pub fn native_round_counts(&self) -> Option<RoundCounts> {
        self.backend.round_counts()
    }

    /// Whether the slab lives in an executor process.
    pub fn is_remote(&self) -> bool {
        self.backend.is_remote()
    }

    /// The connection loss that stops a remote manager, if any.
    fn check_connection(&self) -> Result<(), Error> {
        match self.backend.lost() {
            Some(why) => {
                self.mapper.detach();
                Err(Error::new(ErrorKind::Executor, why))
            }
            None => Ok(()),
        }
    }

    /// Gives a pool the chunks `run`, in this process's views and in the backend's.
    fn commit(&self, run: Range, pool: Pool) -> Result<(), Error> {
        self.mapper.commit(run, pool)?;
        self.backend.chunk_taken(run, pool);
        Ok(())
    }

    /// Takes the chunks `run` back from their pool. A failure leaves them accessible, no worse.
    fn decommit(&self, run: Range) {
        let _ = self.mapper.decommit(run);
        self.backend.chunk_given_back(run);
    }

    /// The lock, for a call that changes state. If an earlier call panicked while holding it (a
    /// bug: only the debug invariant checker panics on purpose), the bookkeeping may be half
    /// updated, so the manager refuses all further changes rather than hand out memory it no
    /// longer tracks correctly.
    fn lock(&self) -> Result<MutexGuard<'_, Inner>, Error> {
        self.inner.lock().map_err(|_| {
            Error::new(
                ErrorKind::Broken,
                "this jitslab manager is unusable: an earlier call panicked inside it (a bug in jitslab); \
                 free it and create another",
            )
        })
    }

    /// The lock, for reading statistics: a half-updated state is still worth reporting.
    fn lock_for_reading(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The executor address of the reservation and its size.
    pub fn reservation(&self) -> (u64, u64) {
        (self.mapper.base(), self.mapper.span())
    }

    pub fn mapper_kind(&self) -> MapperKind {
        self.mapper.kind()
    }

    /// Why the dual view was not used, when it was refused.
    pub fn fallback_reason(&self) -> Option<&str> {
        self.fallback.as_deref()
    }

    pub fn page_size(&self) -> u64 {
        self.page
    }

    /// Allocates every segment of `request` (one LinkGraph) or none of them. Returns the id and,
    /// per segment in request order, its executor address and working memory (zeroed).
    pub fn allocate(&self, request: &[SegmentRequest]) -> Result<(AllocId, Vec<Segment>), Error> {
        let mut out = vec![Segment { addr: 0, working: std::ptr::null_mut() }; request.len()];
        let id = self.allocate_into(request, &mut out)?;
        Ok((id, out))
    }

    /// [`Manager::allocate`] writing the segments into `out` (one per request, in order), which
    /// is written only on success.
    pub fn allocate_into(&self, request: &[SegmentRequest], out: &mut [Segment]) -> Result<AllocId, Error> {
        if request.is_empty() {
            return Err(Error::new(ErrorKind::InvalidArgument, "an allocation needs at least one segment"));
        }
        if out.len() != request.len() {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!("{} results for {} segments", out.len(), request.len()),
            ));
        }
        let pool_of = |r: &SegmentRequest| match r.lifetime {
            Lifetime::NoAlloc => Ok(None),
            _ => r.prot.pool().map(Some),
        };
        for (i, r) in request.iter().enumerate() {
            pool_of(r).map_err(|e| e.prefixed(&format!("segment {i}: ")))?;
        }

        self.check_connection()?;
        let mut g = self.lock()?;
        let mut segs: Vec<Seg> = Vec::with_capacity(request.len());
        // Chunk runs committed for this request, by index in `segs` (rare: no allocation usually).
        let mut commits: Vec<(usize, Range)> = Vec::new();
        for r in request {
            let Ok(Some(pool)) = pool_of(r) else { continue };
            // A full reservation is described once the request's earlier segments are given
            // back (below), so its figures are those the caller can act on.
            let step = g.slab.allocate(pool, r.size, r.align).map_err(|e| match e {
                SlabError::Full { .. } => Error::new(ErrorKind::Full, String::new()),
                e => Error::new(ErrorKind::InvalidArgument, e.to_string()),
            });
            let step = step.and_then(|(range, fx)| match fx.commit.map(|run| (run, self.commit(run, pool))) {
                Some((_, Err(e))) => {
                    g.slab.undo_allocate(pool, range, fx.commit);
                    Err(e)
                }
                Some((run, Ok(()))) => {
                    commits.push((segs.len(), run));
                    Ok(range)
                }
                None => Ok(range),
            });
            match step {
                Ok(range) => segs.push(Seg { pool, range, lifetime: r.lifetime, protected: false }),
                Err(e) => {
                    // All or nothing: give back what this request took, newest first.
                    for (i, s) in segs.iter().enumerate().rev() {
                        let run = commits.iter().find(|(at, _)| *at == i).map(|&(_, run)| run);
                        g.slab.undo_allocate(s.pool, s.range, run);
                        if let Some(run) = run {
                            // Fresh chunks hold no data.
                            self.decommit(run);
                        }
                    }
                    return Err(match e.kind() {
                        ErrorKind::Full => {
                            Error::new(ErrorKind::Full, self.full_message(request, &g.slab.full_error(pool, r.size)))
                        }
                        _ => e,
                    });
                }
            }
        }
        let id = NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        g.counts.allocations += 1;
        let mut placed = segs.iter();
        for (o, r) in out.iter_mut().zip(request) {
            *o = match r.lifetime {
                Lifetime::NoAlloc => Segment { addr: 0, working: std::ptr::null_mut() },
                _ => {
                    let s = placed.next().expect("one placed segment per allocated request");
                    Segment { addr: self.mapper.base() + s.range.start, working: self.mapper.working(s.range.start) }
                }
            };
        }
        g.allocs.insert(id, Record { segs, state: State::InFlight });
        self.backend.link_started();
        Ok(AllocId(id))
    }

    fn full_message(&self, request: &[SegmentRequest], e: &SlabError) -> String {
        let asked: Vec<String> = request
            .iter()
            .filter(|r| r.lifetime != Lifetime::NoAlloc)
            .map(|r| format!("{:#x} {}", r.size, r.prot.pool().map_or("?", |p| p.name())))
            .collect();
        let (base, span) = self.reservation();
        format!("{e}. The request: [{}]; the reservation: [{base:#x}, {:#x})", asked.join(", "), base + span)
    }

    /// Marks `id` as being in state `to`, if it is in a state `from` accepts. Returns its segments.
    fn transition(&self, id: AllocId, op: &str, from: fn(&State) -> bool, to: State) -> Result<Vec<Seg>, Error> {
        let mut g = self.lock()?;
        let rec = g.allocs.get_mut(&id.0).ok_or_else(|| unknown(id, op))?;
        if !from(&rec.state) {
            return Err(Error::new(
                ErrorKind::BadState,
                format!("cannot {op} allocation {}: it is {}", id.0, rec.state.name()),
            ));
        }
        rec.state = to;
        Ok(rec.segs.clone())
    }

    /// Finalizes an allocation: applies the final protections, then runs the finalize actions in
    /// order with no lock held. Finalize-lifetime segments are given back afterwards. If an
    /// action or an OS call fails, the dealloc actions of the actions that ran are run in
    /// reverse, the allocation is rolled back (all its memory returned) and its id is gone.
    ///
    /// A remote manager finalizes only through [`Manager::finalize_async`].
    ///
    /// # Safety
    /// Every non-zero function address in `actions` must be a wrapper function
    /// (`CWrapperFunctionResult f(const char*, size_t)`) in this process.
    pub unsafe fn finalize(&self, id: AllocId, actions: &[ActionPair]) -> Result<(), Error> {
        if self.backend.is_remote() {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                "a remote manager finalizes asynchronously (finalize_async)",
            ));
        }
        let segs = self.begin_finalize(id)?;
        // The in-process backend completes before it returns.
        let (tx, rx) = mpsc::channel();
        // SAFETY: forwarded from the caller.
        unsafe {
            self.backend.finalize(
                id.0,
                &finalize_segs(&segs),
                actions.to_vec(),
                Box::new(move |r| {
                    let _ = tx.send(r);
                }),
            )
        };
        self.backend.link_ended();
        let kept =
            rx.recv().unwrap_or_else(|_| Err(Error::new(ErrorKind::Broken, "a local finalize did not complete")));
        self.complete_finalize(id, segs, kept.map_err(|e| self.finalize_failed(id, e)))
    }

    /// [`Manager::finalize`], completing through `done`, which is called exactly once (on this
    /// thread before returning for a local manager; on the thread that delivers the executor's
    /// reply for a remote one, whose backend protects the segments there and runs the actions).
    ///
    /// # Safety
    /// Local manager: as for [`Manager::finalize`]. Remote manager: the function addresses are
    /// executor addresses and run there; nothing is called in this process.
    pub unsafe fn finalize_async(self: &Arc<Self>, id: AllocId, actions: Vec<ActionPair>, done: Done) {
        let mut segs = match self.check_connection().and_then(|()| self.begin_finalize(id)) {
            Ok(segs) => segs,
            Err(e) => return done(Err(e)),
        };
        if segs.is_empty() && !actions.is_empty() && self.backend.needs_key_segment() {
            // No memory (every segment NoAlloc), but actions, which the executor keeps under
            // the allocation's lowest segment address (~0 for none, shared by all such
            // allocations): the allocation gets one page of its own until deallocated.
            match self.key_page() {
                Ok(page) => segs.push(page),
                Err(e) => {
                    let failed = self.complete_finalize(id, segs, Err(e));
                    self.backend.link_ended();
                    return done(failed);
                }
            }
        }
        let fsegs = finalize_segs(&segs);
        let me = Arc::clone(self);
        let finalized = Box::new(move |kept: Result<Kept, Error>| {
            let kept = kept.map_err(|e| me.finalize_failed(id, e));
            let result = me.complete_finalize(id, segs, kept);
            // Let go of the manager before the continuation runs: a caller that frees the
            // manager from there must find it gone when the free returns (its teardown sent).
            drop(me);
            done(result)
        });
        // SAFETY: forwarded from the caller.
        unsafe { self.backend.finalize(id.0, &fsegs, actions, finalized) };
        self.backend.link_ended();
    }

    /// The error of a finalize that failed in its backend. Only a lost connection lets go of
    /// the shared memory; after a bad reply the executor is still there and the view stays
    /// shared.
    fn finalize_failed(&self, id: AllocId, e: Error) -> Error {
        if self.backend.lost().is_some() {
            self.mapper.detach();
        }
        e.prefixed(&format!("finalize of allocation {} failed, allocation rolled back: ", id.0))
    }

    /// A read-only page taken from the slab to give an allocation with no memory a key of its
    /// own in the executor (see [`Manager::finalize_async`]).
    fn key_page(&self) -> Result<Seg, Error> {
        let mut g = self.lock()?;
        let (range, fx) = g.slab.allocate(Pool::ReadOnly, 1, 1).map_err(|e| match e {
            SlabError::Full { .. } => {
                Error::new(ErrorKind::Full, format!("no room for the key page of an empty allocation: {e}"))
            }
            e => Error::new(ErrorKind::InvalidArgument, e.to_string()),
        })?;
        if let Some(run) = fx.commit {
            if let Err(e) = self.commit(run, Pool::ReadOnly) {
                g.slab.undo_allocate(Pool::ReadOnly, range, fx.commit);
                return Err(e);
            }
        }
        Ok(Seg { pool: Pool::ReadOnly, range, lifetime: Lifetime::Standard, protected: false })
    }

    /// Marks an allocation as being finalized and gives its segments their final protection.
    /// On an OS failure the allocation is rolled back, and its link has ended.
    fn begin_finalize(&self, id: AllocId) -> Result<Vec<Seg>, Error> {
        let mut segs = self.transition(id, "finalize", |s| matches!(s, State::InFlight), State::Finalizing)?;
        for i in 0..segs.len() {
            // Marked first: a call that fails may have changed part of the range, and undoing
            // a protection that did not change is harmless.
            segs[i].protected = true;
            if let Err(e) = self.mapper.protect(segs[i].range, segs[i].pool) {
                let failed = self.complete_finalize(id, segs, Err(Error::from(e))).unwrap_err();
                self.backend.link_ended();
                return Err(failed);
            }
        }
        Ok(segs)
    }

    /// Ends a finalize: on success the allocation is finalized and its Finalize-lifetime
    /// segments are given back; on failure it is rolled back and forgotten.
    fn complete_finalize(&self, id: AllocId, segs: Vec<Seg>, ran: Result<Kept, Error>) -> Result<(), Error> {
        match ran {
            Err(e) => {
                let freed = self.release_segments(&segs, |g| {
                    g.allocs.remove(&id.0);
                    g.counts.failed_finalizes += 1;
                });
                Err(e.and(freed))
            }
            Ok(kept) => {
                // A segment the executor keys the allocation by stays live until deallocate, even
                // a finalize-lifetime one (see `Backend::pinned_offset`).
                let key = self.backend.pinned_offset(&kept);
                let early = |s: &Seg| s.lifetime == Lifetime::Finalize && Some(s.range.start) != key;
                let (done, keep): (Vec<Seg>, Vec<Seg>) =
                    if segs.iter().any(early) { segs.into_iter().partition(early) } else { (Vec::new(), segs) };
                let freed = self.release_segments(&done, |g| {
                    g.counts.finalizes += 1;
                    if let Some(rec) = g.allocs.get_mut(&id.0) {
                        rec.segs = keep;
                        rec.state = State::Finalized(kept);
                    }
                });
                match freed {
                    // The allocation is finalized and usable; only finalize-lifetime memory that
                    // could not be made reusable was lost, and the statistics count it.
                    Err(e) if e.kind() != ErrorKind::Os => Err(e),
                    _ => Ok(()),
                }
            }
        }
    }

    /// Gives back an allocation that was never finalized, exactly its own ranges.
    pub fn abandon(&self, id: AllocId) -> Result<(), Error> {
        let segs = self.transition(id, "abandon", |s| matches!(s, State::InFlight), State::Deallocating)?;
        let released = self.release_segments(&segs, |g| {
            g.allocs.remove(&id.0);
            g.counts.abandons += 1;
        });
        self.backend.link_ended();
        released
    }

    /// Deallocates finalized allocations: runs their dealloc actions (allocations from last to
    /// first, each one's actions last to first) with no lock held, then returns their memory.
    /// The batch is checked first: an unknown, repeated or unfinalized id fails the whole call
    /// and touches nothing. Failing dealloc actions are reported after all memory is returned.
    ///
    /// A remote manager deallocates only through [`Manager::deallocate_async`].
    ///
    /// # Safety
    /// As for [`Manager::finalize`]: the dealloc actions given there run here.
    pub unsafe fn deallocate(&self, ids: &[AllocId]) -> Result<(), Error> {
        if self.backend.is_remote() {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                "a remote manager deallocates asynchronously (deallocate_async)",
            ));
        }
        let (segs, kept) = self.take_finalized(ids)?;
        // The in-process backend completes before it returns.
        let (tx, rx) = mpsc::channel();
        // SAFETY: forwarded from the caller.
        unsafe {
            self.backend.deallocate(
                kept,
                Box::new(move |r| {
                    let _ = tx.send(r);
                }),
            )
        };
        let failed =
            rx.recv().unwrap_or_else(|_| Err(Error::new(ErrorKind::Broken, "a local deallocate did not complete")));
        self.complete_deallocate(ids.len(), &segs, failed.err())
    }

    /// [`Manager::deallocate`], completing through `done`, which is called exactly once (see
    /// [`Manager::finalize_async`]). A remote manager sends one `Deinitialize` call for the whole
    /// batch and returns the memory when the executor has run the dealloc actions.
    ///
    /// # Safety
    /// As for [`Manager::finalize_async`].
    pub unsafe fn deallocate_async(self: &Arc<Self>, ids: &[AllocId], done: Done) {
        let (segs, kept) = match self.take_finalized(ids) {
            Ok(v) => v,
            Err(e) => return done(Err(e)),
        };
        let (me, n) = (Arc::clone(self), ids.len());
        let completed = Box::new(move |r: Result<(), Error>| {
            // The memory is returned either way: the backend ran what it could, or the
            // executor is gone (and its shared memory let go of).
            if r.is_err() && me.backend.lost().is_some() {
                me.mapper.detach();
            }
            let result = me.complete_deallocate(n, &segs, r.err());
            drop(me); // as in finalize_async
            done(result)
        });
        // SAFETY: forwarded from the caller.
        unsafe { self.backend.deallocate(kept, completed) };
    }

    /// Takes a checked batch of finalized allocations out of the table: their segments, and
    /// what their backend kept, in batch order.
    fn take_finalized(&self, ids: &[AllocId]) -> Result<(Vec<Seg>, Vec<Kept>), Error> {
        let mut g = self.lock()?;
        check_batch(&g, ids)?;
        let mut segs = Vec::new();
        let mut kept = Vec::with_capacity(ids.len());
        for id in ids {
            let rec = g.allocs.remove(&id.0).expect("checked above");
            let State::Finalized(k) = rec.state else { unreachable!("checked above") };
            segs.extend(rec.segs);
            kept.push(k);
        }
        Ok((segs, kept))
    }

    fn complete_deallocate(&self, n: usize, segs: &[Seg], failed: Option<Error>) -> Result<(), Error> {
        let freed = self.release_segments(segs, |g| g.counts.deallocations += n as u64);
        match failed {
            None => freed,
            Some(e) => Err(e.and(freed)),
        }
    }

    /// Returns segments to the slab and applies the memory effects: protections undone outside
    /// the lock (the segments are still ours), then zeroing, page release and chunk decommit
    /// under it, so that no other thread can reuse a page while it is being released. `then`
    /// runs under the same lock, to update the table and the counts.
    fn release_segments(&self, segs: &[Seg], then: impl FnOnce(&mut Inner)) -> Result<(), Error> {
        // If undoing a protection fails, the pages keep their final protection and zeroing them
        // would fault: those segments stay live in the slab for good (leaked, counted as live,
        // and reported) rather than be reused.
        let mut leaked: Vec<(usize, String)> = Vec::new();
        for (i, s) in segs.iter().enumerate().filter(|(_, s)| s.protected) {
            if let Err(e) = self.mapper.unprotect(s.range, s.pool) {
                leaked.push((
                    i,
                    format!("{:#x} bytes at {:#x} ({e})", s.range.len(), self.mapper.base() + s.range.start),
                ));
            }
        }
        let mut g = self.lock()?;
        for (i, s) in segs.iter().enumerate() {
            if leaked.iter().any(|(at, _)| *at == i) {
                continue;
            }
            let fx = match g.slab.free(s.pool, s.range) {
                Ok(fx) => fx,
                Err(e) => panic!("jitslab bookkeeping lost a live segment: {e}"),
            };
            for z in fx.zero.iter().flatten() {
                self.mapper.zero(*z);
            }
            if let Some(r) = fx.release {
                // A failed release leaves the pages resident; they still read as zero only if
                // we write the zeros ourselves.
                if self.mapper.release(r).is_err() {
                    self.mapper.zero(r);
                }
            }
            // Kept pages are zero already: if giving them back fails they merely stay resident.
            for r in &fx.release_kept {
                let _ = self.mapper.release(*r);
            }
            if let Some(r) = fx.decommit {
                self.decommit(r);
            }
        }
        g.counts.leaked_bytes += leaked.iter().map(|&(i, _)| segs[i].range.len()).sum::<u64>();
        then(&mut g);
        if leaked.is_empty() {
            Ok(())
        } else {
            let what: Vec<String> = leaked.into_iter().map(|(_, w)| w).collect();
            Err(Error::new(
                ErrorKind::Os,
                format!("memory could not be made reusable and is leaked: {}", what.join("; ")),
            ))
        }
    }

    /// Statistics: reservation, pools, counts and system calls.
    pub fn stats(&self) -> Stats {
        let g = self.lock_for_reading();
        Stats::collect(self, &g.slab, g.allocs.len() as u64, &g.counts)
    }

    /// A text map of the reservation: which chunks belong to which pool and how full they are.
    pub fn heap_map(&self) -> String {
        let g = self.lock_for_reading();
        stats::heap_map(self, &g.slab)
    }
}

/// Checks a deallocate batch: every id live, finalized and named once.
fn check_batch(g: &Inner, ids: &[AllocId]) -> Result<(), Error> {
    let mut seen = HashSet::with_capacity_and_hasher(
        if ids.len() > 8 { ids.len() } else { 0 },
        BuildHasherDefault::<NumberHasher>::default(),
    );
    for (i, id) in ids.iter().enumerate() {
        // Small batches (the usual one holds one id) need no set.
        let repeated = if ids.len() > 8 { !seen.insert(id.0) } else { ids[..i].contains(id) };
        if repeated {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!("allocation {} appears twice in one deallocate batch", id.0),
            ));
        }
        let rec = g.allocs.get(&id.0).ok_or_else(|| unknown(*id, "deallocate"))?;
        if !matches!(rec.state, State::Finalized(_)) {
            return Err(Error::new(
                ErrorKind::BadState,
                format!("cannot deallocate allocation {}: it is {}", id.0, rec.state.name()),
            ));
        }
    }
    Ok(())
}

fn unknown(id: AllocId, op: &str) -> Error {
    Error::new(
        ErrorKind::UnknownAllocation,
        format!(
            "cannot {op} allocation {}: no such live allocation (never allocated, already freed, or abandoned)",
            id.0
        ),
    )
}

/// The segments of an allocation as its backend sees them at finalize.
fn finalize_segs(segs: &[Seg]) -> Vec<FinalizeSeg> {
    segs.iter()
        .map(|s| FinalizeSeg { range: s.range, pool: s.pool, finalize_lifetime: s.lifetime == Lifetime::Finalize })
        .collect()
}

#[cfg(test)]
mod tests;
