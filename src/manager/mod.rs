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

mod stats;

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::hash::BuildHasherDefault;
use std::sync::{Arc, Mutex, MutexGuard};

pub use stats::{PoolStatsEntry, Stats};

use crate::mapper::remote::native::{self, Native, NativeAddrs, SharingPath};
use crate::mapper::remote::{Remote, RemoteError, RpcCounts, Transport};
use crate::mapper::{self, pool_access, Mapper, MapperChoice, MapperConfig, MapperKind, Placement};
use crate::protocol::native::Extent;
use crate::protocol::stock::{self, SegFinalize};
use crate::protocol::wrapper::{self, ActionPair, WrapperCall};
use crate::slab::{Layout, NumberHasher, Pool, Range, Slab, SlabError};
use crate::sys;

/// The default span: 1 GiB.
pub const DEFAULT_SPAN: u64 = 1 << 30;
/// The default chunk by which pools grow: 256 KiB.
pub const DEFAULT_CHUNK: u64 = 256 << 10;
/// Default bytes of whole free pages each pool keeps resident for reuse: one default chunk.
pub const DEFAULT_RETAIN_FREE: u64 = DEFAULT_CHUNK;

/// Which protocol a remote manager speaks with its executor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocol {
    /// Native when the executor publishes jitslab's native service, stock otherwise.
    #[default]
    Auto,
    /// LLVM 19's `ExecutorSharedMemoryMapperService` (any `llvm-jitlink-executor`).
    Stock,
    /// jitslab's own service (`jitslab-executor`), or an error.
    Native,
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Auto => "auto",
            Protocol::Stock => "stock",
            Protocol::Native => "native",
        })
    }
}

/// How to build a [`Manager`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// Bytes of address space to reserve, a multiple of `chunk`, at most 2 GiB.
    pub span: u64,
    /// Bytes by which a pool grows, a power of two of at least a page.
    pub chunk: u64,
    pub placement: Placement,
    pub mapper: MapperChoice,
    /// Print a line on stderr when the dual view is refused and the single view is used.
    pub log_fallback: bool,
    /// Bytes of whole free pages each pool may keep resident (zeroed) for reuse instead of
    /// giving them back at once; 0 gives every free page back at once. See `slab`.
    pub retain_free: u64,
    /// The protocol of a remote manager (not used by a local one).
    pub protocol: Protocol,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            span: DEFAULT_SPAN,
            chunk: DEFAULT_CHUNK,
            placement: Placement::Anywhere,
            mapper: MapperChoice::Auto,
            log_fallback: true,
            retain_free: DEFAULT_RETAIN_FREE,
            protocol: Protocol::Auto,
        }
    }
}

/// Memory protection of a segment, with LLVM's `MemProt` bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prot(pub u8);

impl Prot {
    pub const READ: u8 = 1;
    pub const WRITE: u8 = 2;
    pub const EXEC: u8 = 4;

    /// The pool for this protection. Writable and executable at once is refused (W^X), and so
    /// is "no access" and any unknown bit.
    pub fn pool(self) -> Result<Pool, String> {
        let (w, x) = (self.0 & Prot::WRITE != 0, self.0 & Prot::EXEC != 0);
        match self.0 {
            b if b & !7 != 0 => Err(format!("protection {b:#x} has unknown bits (read=1, write=2, exec=4)")),
            0 => Err("protection 0 (no access) is not supported for an allocated segment".into()),
            _ if w && x => Err("a writable and executable segment is refused (W^X)".into()),
            _ if x => Ok(Pool::Code),
            _ if w => Ok(Pool::ReadWrite),
            _ => Ok(Pool::ReadOnly),
        }
    }
}

/// How long a segment lives (LLVM's `MemLifetime`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifetime {
    /// Until deallocate (or abandon).
    Standard,
    /// Until the finalize actions have run: given back right after finalize.
    Finalize,
    /// Never allocated: no executor memory, no working memory.
    NoAlloc,
}

/// One segment of an allocation request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentRequest {
    pub prot: Prot,
    pub lifetime: Lifetime,
    pub size: u64,
    /// A power of two up to the page size; 0 counts as 1.
    pub align: u64,
}

/// Where one segment went: its executor address and where the linker writes it. Both are zero
/// and null for a `NoAlloc` segment. The working bytes start out zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    pub addr: u64,
    pub working: *mut u8,
}

/// Names one allocation for its whole life; never 0, never reused, unique across all managers
/// of the process (so an id given to the wrong manager is refused, not mistaken for another).
#[repr(transparent)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AllocId(pub u64);

/// What went wrong, by kind; the text says what was asked and what was available.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// A request that can never succeed (bad protection, alignment, empty request…).
    InvalidArgument(String),
    /// The reservation has no room for the request.
    Full(String),
    /// The reservation could not be placed as asked.
    Placement(String),
    /// An OS call failed.
    Os(String),
    /// The id names no live allocation (never issued, already freed or abandoned).
    UnknownAllocation(String),
    /// The allocation exists but is in the wrong state for the call.
    BadState(String),
    /// An allocation action failed; the allocation was rolled back (finalize) or freed anyway
    /// (deallocate).
    ActionFailed(String),
    /// An earlier call panicked inside the manager (a bug); it refuses further changes.
    Broken(String),
    /// The executor process is unreachable (it died or the connection dropped) or sent a reply
    /// that does not decode.
    Executor(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (Error::InvalidArgument(m)
        | Error::Full(m)
        | Error::Placement(m)
        | Error::Os(m)
        | Error::UnknownAllocation(m)
        | Error::BadState(m)
        | Error::ActionFailed(m)
        | Error::Broken(m)
        | Error::Executor(m)) = self;
        f.write_str(m)
    }
}

impl std::error::Error for Error {}

impl Error {
    /// The error's text, to edit in place.
    fn message_mut(&mut self) -> &mut String {
        let (Error::InvalidArgument(m)
        | Error::Full(m)
        | Error::Placement(m)
        | Error::Os(m)
        | Error::UnknownAllocation(m)
        | Error::BadState(m)
        | Error::ActionFailed(m)
        | Error::Broken(m)
        | Error::Executor(m)) = self;
        m
    }

    /// The same error with `prefix` before its text.
    fn prefixed(mut self, prefix: &str) -> Error {
        self.message_mut().insert_str(0, prefix);
        self
    }

    /// The same error with a second one's text appended (when cleaning up after a failure
    /// failed too).
    fn and(mut self, more: Result<(), Error>) -> Error {
        if let Err(more) = more {
            let m = self.message_mut();
            m.push_str("; then: ");
            m.push_str(&more.to_string());
        }
        self
    }
}

fn os(e: sys::OsError) -> Error {
    Error::Os(e.to_string())
}

/// Any failure while setting a remote manager up is the executor's, not an allocation action's.
fn setup_error(e: RemoteError) -> Error {
    let (RemoteError::Lost(m) | RemoteError::TimedOut(m) | RemoteError::BadReply(m) | RemoteError::Executor(m)) = e;
    Error::Executor(m)
}

fn remote_error(e: RemoteError) -> Error {
    match e {
        RemoteError::Lost(m) | RemoteError::TimedOut(m) | RemoteError::BadReply(m) => Error::Executor(m),
        RemoteError::Executor(m) => Error::ActionFailed(m),
    }
}

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

/// What undoes a finalized allocation.
#[derive(Debug)]
enum Teardown {
    /// Dealloc calls, run in this process.
    Local(Vec<WrapperCall>),
    /// The key the executor gave the allocation at `Initialize`; its dealloc calls run there.
    Remote(u64),
    /// The key (the allocation id) under which jitslab's native service keeps the allocation's
    /// dealloc calls.
    Native(u64),
    /// Nothing to undo anywhere: a remote allocation with no memory and no actions, which
    /// needed no call to the executor.
    Nothing,
}

#[derive(Debug)]
enum State {
    InFlight,
    Finalizing,
    Finalized(Teardown),
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
    fallback: Option<String>,
    /// The executor connection of a remote manager.
    remote: Option<Link>,
}

/// The connection of a remote manager, by protocol.
enum Link {
    Stock(Arc<Remote>),
    Native(Arc<Native>),
}

impl Link {
    fn lost(&self) -> Option<String> {
        match self {
            Link::Stock(r) => r.lost(),
            Link::Native(n) => n.remote().lost(),
        }
    }

    fn rpc_counts(&self) -> RpcCounts {
        match self {
            Link::Stock(r) => r.rpc_counts(),
            Link::Native(n) => n.remote().rpc_counts(),
        }
    }
}

impl fmt::Debug for Manager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Manager").field("base", &self.mapper.base()).field("span", &self.mapper.span()).finish()
    }
}

impl Manager {
    /// Reserves the slab and sets up the mapper. Errors say which rule or OS call failed.
    pub fn new(config: &Config) -> Result<Manager, Error> {
        let page = sys::page_size();
        // Validate the geometry before touching the OS; the granule depends on the mapper, so
        // the layout is made again once the mapper is known.
        Layout::new(config.span, page, config.chunk, true).map_err(Error::InvalidArgument)?;
        let mcfg = MapperConfig { span: config.span, placement: config.placement, choice: config.mapper, page };
        let (mapper, fallback) = mapper::create(&mcfg).map_err(|e| match config.placement {
            Placement::Anywhere => Error::Os(e),
            _ => Error::Placement(e),
        })?;
        if let (Some(why), true) = (&fallback, config.log_fallback) {
            eprintln!("jitslab: {why}");
        }
        Manager::with_mapper(config, mapper, fallback)
    }

    /// A manager over a mapper made elsewhere (tests inject faulty mappers this way).
    pub(crate) fn with_mapper(
        config: &Config,
        mapper: Box<dyn Mapper>,
        fallback: Option<String>,
    ) -> Result<Manager, Error> {
        let page = sys::page_size();
        let layout = Layout::new(config.span, page, config.chunk, mapper.packs_subpage())
            .map_err(Error::InvalidArgument)?
            .with_retain(config.retain_free);
        let inner = Inner { slab: Slab::new(layout), allocs: HashMap::default(), counts: Counts::default() };
        Ok(Manager { inner: Mutex::new(inner), page, mapper, fallback, remote: None })
    }

    /// A manager whose slab lives in an executor process, reached through `transport`, with
    /// the protocol `config.protocol` chooses (auto: jitslab's native service when the executor
    /// publishes it, LLVM 19's shared-memory service otherwise). Stock: one `Reserve` and one
    /// `Initialize` (waited for) map the slab in both processes. Native: one `setup` (waited
    /// for; a second when the memfd cannot be taken, see [`native`]). `config.placement` must
    /// be anywhere (the executor chooses the address) and `config.mapper` is not used.
    pub fn new_remote(config: &Config, transport: Box<dyn Transport>) -> Result<Manager, Error> {
        Manager::new_remote_with(config, transport, &native::FD_PATHS)
    }

    /// [`Manager::new_remote`], taking the native region's memfd only by `fd_paths` (tests
    /// leave paths out to exercise the others).
    pub(crate) fn new_remote_with(
        config: &Config,
        transport: Box<dyn Transport>,
        fd_paths: &[SharingPath],
    ) -> Result<Manager, Error> {
        if config.placement != Placement::Anywhere {
            return Err(Error::Placement(
                "placement is not available out of process: the executor chooses the address itself".into(),
            ));
        }
        let page = sys::page_size();
        Layout::new(config.span, page, config.chunk, false).map_err(Error::InvalidArgument)?;
        let native_addrs = NativeAddrs::lookup(|name| transport.lookup(name));
        let native_addrs = match (config.protocol, native_addrs) {
            (Protocol::Stock, _) => None,
            (Protocol::Auto, Err(_)) => None,
            (Protocol::Auto | Protocol::Native, Ok(a)) => Some(a),
            (Protocol::Native, Err(e)) => {
                return Err(Error::Executor(format!("the native protocol was asked for, but {e}")));
            }
        };
        if let Some(addrs) = native_addrs {
            let remote = Arc::new(Remote::with_addrs(transport, addrs));
            let (link, view) = native::connect(remote, config.span, config.chunk, fd_paths).map_err(setup_error)?;
            let mut m = Manager::with_mapper(config, Box::new(view), None).inspect_err(|_| {
                let _ = link.teardown_blocking();
            })?;
            m.remote = Some(Link::Native(link));
            return Ok(m);
        }
        let remote = Arc::new(Remote::connect(transport).map_err(Error::Executor)?);
        let view = remote.reserve(config.span).map_err(setup_error)?;
        let base = view.base();
        let mut m = Manager::with_mapper(config, Box::new(view), None).inspect_err(|_| {
            let _ = remote.release_blocking(base);
        })?;
        m.remote = Some(Link::Stock(remote));
        Ok(m)
    }

    /// How a native remote manager shares its region with the executor.
    pub fn sharing_path(&self) -> Option<SharingPath> {
        match &self.remote {
            Some(Link::Native(n)) => Some(n.sharing()),
            _ => None,
        }
    }

    /// The rounds and calls of a native remote manager's group commit.
    pub fn native_round_counts(&self) -> Option<native::RoundCounts> {
        match &self.remote {
            Some(Link::Native(n)) => Some(n.round_counts()),
            _ => None,
        }
    }

    /// Whether the slab lives in an executor process.
    pub fn is_remote(&self) -> bool {
        self.remote.is_some()
    }

    /// The connection loss that stops a remote manager, if any.
    fn check_connection(&self) -> Result<(), Error> {
        match self.remote.as_ref().and_then(|r| r.lost()) {
            Some(why) => {
                self.mapper.detach();
                Err(Error::Executor(why))
            }
            None => Ok(()),
        }
    }

    /// The lock, for a call that changes state. If an earlier call panicked while holding it (a
    /// bug: only the debug invariant checker panics on purpose), the bookkeeping may be half
    /// updated, so the manager refuses all further changes rather than hand out memory it no
    /// longer tracks correctly.
    fn lock(&self) -> Result<MutexGuard<'_, Inner>, Error> {
        self.inner.lock().map_err(|_| {
            Error::Broken(
                "this jitslab manager is unusable: an earlier call panicked inside it (a bug in jitslab); \
                 free it and create another"
                    .into(),
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
            return Err(Error::InvalidArgument("an allocation needs at least one segment".into()));
        }
        if out.len() != request.len() {
            return Err(Error::InvalidArgument(format!("{} results for {} segments", out.len(), request.len())));
        }
        let pool_of = |r: &SegmentRequest| match r.lifetime {
            Lifetime::NoAlloc => Ok(None),
            _ => r.prot.pool().map(Some),
        };
        for (i, r) in request.iter().enumerate() {
            pool_of(r).map_err(|e| Error::InvalidArgument(format!("segment {i}: {e}")))?;
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
                SlabError::Full { .. } => Error::Full(String::new()),
                e => Error::InvalidArgument(e.to_string()),
            });
            let step = step.and_then(|(range, fx)| match fx.commit.map(|run| (run, self.mapper.commit(run, pool))) {
                Some((_, Err(e))) => {
                    g.slab.undo_allocate(pool, range, fx.commit);
                    Err(os(e))
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
                            // Fresh chunks hold no data; if this fails they merely stay accessible.
                            let _ = self.mapper.decommit(run);
                        }
                    }
                    return Err(match e {
                        Error::Full(_) => Error::Full(self.full_message(request, &g.slab.full_error(pool, r.size))),
                        e => e,
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
            return Err(Error::BadState(format!("cannot {op} allocation {}: it is {}", id.0, rec.state.name())));
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
        if self.remote.is_some() {
            return Err(Error::InvalidArgument("a remote manager finalizes asynchronously (finalize_async)".into()));
        }
        let segs = self.begin_finalize(id)?;
        // SAFETY: forwarded from the caller.
        let ran = unsafe { wrapper::run_finalize_actions(actions) };
        let ran = ran.map(Teardown::Local).map_err(|e| {
            Error::ActionFailed(format!("finalize of allocation {} failed, allocation rolled back: {e}", id.0))
        });
        self.complete_finalize(id, segs, ran)
    }

    /// [`Manager::finalize`], completing through `done`, which is called exactly once (on this
    /// thread before returning for a local manager; on the thread that delivers the executor's
    /// reply for a remote one). A remote manager sends one `Initialize` call: the executor
    /// protects the segments and runs the actions.
    ///
    /// # Safety
    /// Local manager: as for [`Manager::finalize`]. Remote manager: the function addresses are
    /// executor addresses and run there; nothing is called in this process.
    pub unsafe fn finalize_async(self: &Arc<Self>, id: AllocId, actions: Vec<ActionPair>, done: Done) {
        let remote = match &self.remote {
            None => {
                // SAFETY: forwarded from the caller.
                return done(unsafe { self.finalize(id, &actions) });
            }
            Some(Link::Native(n)) => return self.finalize_native(n, id, actions, done),
            Some(Link::Stock(r)) => r,
        };
        let mut segs = match self.check_connection().and_then(|()| self.begin_finalize(id)) {
            Ok(segs) => segs,
            Err(e) => return done(Err(e)),
        };
        if segs.is_empty() {
            // No memory (every segment NoAlloc). Without actions there is nothing to tell the
            // executor. With actions it needs a key of this allocation's own: the service keys
            // an allocation by its lowest segment address (~0 for none, shared by all such
            // allocations), so the allocation gets one page that it holds until deallocated.
            if actions.is_empty() {
                return done(self.complete_finalize(id, segs, Ok(Teardown::Nothing)));
            }
            match self.key_page() {
                Ok(page) => segs.push(page),
                Err(e) => return done(self.complete_finalize(id, segs, Err(e))),
            }
        }
        let base = self.mapper.base();
        let wire: Vec<SegFinalize> = segs
            .iter()
            .map(|s| {
                let a = pool_access(s.pool);
                let mut group = stock::GROUP_READ;
                group |= if a.write { stock::GROUP_WRITE } else { 0 } | if a.exec { stock::GROUP_EXEC } else { 0 };
                if s.lifetime == Lifetime::Finalize {
                    group |= stock::GROUP_FINALIZE_LIFETIME;
                }
                SegFinalize { group, addr: base + s.range.start, size: s.range.len() }
            })
            .collect();
        let me = Arc::clone(self);
        remote.initialize(base, &wire, &actions, move |key| {
            let key = key.map(Teardown::Remote).map_err(|e| me.finalize_failed(id, e));
            let result = me.complete_finalize(id, segs, key);
            // Let go of the manager before the continuation runs: a caller that frees the
            // manager from there must find it gone when the free returns (its Release sent).
            drop(me);
            done(result)
        });
    }

    /// The native protocol's finalize (see [`native`]): an allocation with no actions whose
    /// chunks are protected in the executor completes at once, with no call; the others wait
    /// for the next round. Only standard-lifetime segments are registered in the executor
    /// (finalize-lifetime ones are reused right after), and only for allocations with actions.
    fn finalize_native(self: &Arc<Self>, link: &Arc<Native>, id: AllocId, actions: Vec<ActionPair>, done: Done) {
        let segs = match self.check_connection().and_then(|()| self.begin_finalize(id)) {
            Ok(segs) => segs,
            Err(e) => return done(Err(e)),
        };
        let has_actions = !actions.is_empty();
        let ranges: Vec<(u64, u64)> = segs.iter().map(|s| (s.range.start, s.range.end)).collect();
        let extents: Vec<Extent> = segs
            .iter()
            .filter(|s| has_actions && s.lifetime == Lifetime::Standard)
            .map(|s| Extent { offset: s.range.start, len: s.range.len(), access: pool_access(s.pool) })
            .collect();
        let alloc = crate::protocol::native::Allocation { key: id.0, segments: extents, actions };
        let me = Arc::clone(self);
        link.finalize(
            alloc,
            &ranges,
            Box::new(move |r| {
                let kept = if has_actions { Teardown::Native(id.0) } else { Teardown::Nothing };
                let teardown = r.map(|()| kept).map_err(|e| me.finalize_failed(id, e));
                let result = me.complete_finalize(id, segs, teardown);
                drop(me); // as in finalize_async
                done(result)
            }),
        );
    }

    /// The error of a remote finalize that failed. Only a lost connection lets go of the shared
    /// memory; after a bad reply the executor is still there and the view stays shared.
    fn finalize_failed(&self, id: AllocId, e: RemoteError) -> Error {
        if matches!(e, RemoteError::Lost(_)) {
            self.mapper.detach();
        }
        remote_error(e).prefixed(&format!("finalize of allocation {} failed, allocation rolled back: ", id.0))
    }

    /// A read-only page taken from the slab to give an allocation with no memory a key of its
    /// own in the executor (see [`Manager::finalize_async`]).
    fn key_page(&self) -> Result<Seg, Error> {
        let mut g = self.lock()?;
        let (range, fx) = g.slab.allocate(Pool::ReadOnly, 1, 1).map_err(|e| match e {
            SlabError::Full { .. } => Error::Full(format!("no room for the key page of an empty allocation: {e}")),
            e => Error::InvalidArgument(e.to_string()),
        })?;
        if let Some(run) = fx.commit {
            if let Err(e) = self.mapper.commit(run, Pool::ReadOnly) {
                g.slab.undo_allocate(Pool::ReadOnly, range, fx.commit);
                return Err(os(e));
            }
        }
        Ok(Seg { pool: Pool::ReadOnly, range, lifetime: Lifetime::Standard, protected: false })
    }

    /// Marks an allocation as being finalized and gives its segments their final protection.
    /// On an OS failure the allocation is rolled back.
    fn begin_finalize(&self, id: AllocId) -> Result<Vec<Seg>, Error> {
        let mut segs = self.transition(id, "finalize", |s| matches!(s, State::InFlight), State::Finalizing)?;
        for i in 0..segs.len() {
            // Marked first: a call that fails may have changed part of the range, and undoing
            // a protection that did not change is harmless.
            segs[i].protected = true;
            if let Err(e) = self.mapper.protect(segs[i].range, segs[i].pool) {
                return Err(self.complete_finalize(id, segs, Err(os(e))).unwrap_err());
            }
        }
        Ok(segs)
    }

    /// Ends a finalize: on success the allocation is finalized and its Finalize-lifetime
    /// segments are given back; on failure it is rolled back and forgotten.
    fn complete_finalize(&self, id: AllocId, segs: Vec<Seg>, ran: Result<Teardown, Error>) -> Result<(), Error> {
        match ran {
            Err(e) => {
                let freed = self.release_segments(&segs, |g| {
                    g.allocs.remove(&id.0);
                    g.counts.failed_finalizes += 1;
                });
                Err(e.and(freed))
            }
            Ok(teardown) => {
                // The executor keys a remote allocation by its lowest segment address and
                // overwrites an entry with the same key: the segment at the key stays live until
                // deallocate, even a finalize-lifetime one, so that no later allocation can start
                // there and take over this one's dealloc actions.
                let key = match teardown {
                    Teardown::Remote(key) => key.checked_sub(self.mapper.base()),
                    Teardown::Local(_) | Teardown::Native(_) | Teardown::Nothing => None,
                };
                let early = |s: &Seg| s.lifetime == Lifetime::Finalize && Some(s.range.start) != key;
                let (done, keep): (Vec<Seg>, Vec<Seg>) =
                    if segs.iter().any(early) { segs.into_iter().partition(early) } else { (Vec::new(), segs) };
                let freed = self.release_segments(&done, |g| {
                    g.counts.finalizes += 1;
                    if let Some(rec) = g.allocs.get_mut(&id.0) {
                        rec.segs = keep;
                        rec.state = State::Finalized(teardown);
                    }
                });
                match freed {
                    // The allocation is finalized and usable; only finalize-lifetime memory that
                    // could not be made reusable was lost, and the statistics count it.
                    Err(Error::Os(_)) | Ok(()) => Ok(()),
                    Err(e) => Err(e),
                }
            }
        }
    }

    /// Gives back an allocation that was never finalized, exactly its own ranges.
    pub fn abandon(&self, id: AllocId) -> Result<(), Error> {
        let segs = self.transition(id, "abandon", |s| matches!(s, State::InFlight), State::Deallocating)?;
        self.release_segments(&segs, |g| {
            g.allocs.remove(&id.0);
            g.counts.abandons += 1;
        })
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
        if self.remote.is_some() {
            return Err(Error::InvalidArgument(
                "a remote manager deallocates asynchronously (deallocate_async)".into(),
            ));
        }
        let (segs, teardowns) = self.take_finalized(ids)?;
        let errors: Vec<String> = teardowns
            .iter()
            .rev()
            .filter_map(|t| match t {
                // SAFETY: forwarded from the caller.
                Teardown::Local(d) => unsafe { wrapper::run_dealloc_actions(d) }.err(),
                Teardown::Remote(_) | Teardown::Native(_) | Teardown::Nothing => {
                    unreachable!("a local manager has no remote allocation")
                }
            })
            .collect();
        let failed = (!errors.is_empty()).then(|| {
            Error::ActionFailed(format!("dealloc actions failed (memory was returned anyway): {}", errors.join("; ")))
        });
        self.complete_deallocate(ids.len(), &segs, failed)
    }

    /// [`Manager::deallocate`], completing through `done`, which is called exactly once (see
    /// [`Manager::finalize_async`]). A remote manager sends one `Deinitialize` call for the whole
    /// batch and returns the memory when the executor has run the dealloc actions.
    ///
    /// # Safety
    /// As for [`Manager::finalize_async`].
    pub unsafe fn deallocate_async(self: &Arc<Self>, ids: &[AllocId], done: Done) {
        let Some(link) = &self.remote else {
            // SAFETY: forwarded from the caller.
            return done(unsafe { self.deallocate(ids) });
        };
        let (segs, teardowns) = match self.take_finalized(ids) {
            Ok(v) => v,
            Err(e) => return done(Err(e)),
        };
        let keys: Vec<u64> = teardowns
            .iter()
            .filter_map(|t| match t {
                Teardown::Remote(key) | Teardown::Native(key) => Some(*key),
                Teardown::Nothing => None,
                Teardown::Local(_) => unreachable!("a remote manager has no local allocation"),
            })
            .collect();
        if keys.is_empty() {
            // Nothing of these allocations lives in the executor.
            return done(self.complete_deallocate(ids.len(), &segs, None));
        }
        let (me, n) = (Arc::clone(self), ids.len());
        let finish = move |r: Result<(), RemoteError>| {
            // The memory is returned either way: the executor ran what it could, or is gone.
            let failed = r.err().map(|e| {
                if matches!(e, RemoteError::Lost(_)) {
                    me.mapper.detach();
                }
                remote_error(e).prefixed("deallocate (memory was returned anyway): ")
            });
            let result = me.complete_deallocate(n, &segs, failed);
            drop(me); // as in finalize_async
            done(result)
        };
        match link {
            Link::Stock(remote) => remote.deinitialize(&keys, finish),
            Link::Native(native) => native.deallocate(keys, Box::new(finish)),
        }
    }

    /// Takes a checked batch of finalized allocations out of the table: their segments, and
    /// their teardowns in batch order.
    fn take_finalized(&self, ids: &[AllocId]) -> Result<(Vec<Seg>, Vec<Teardown>), Error> {
        let mut g = self.lock()?;
        check_batch(&g, ids)?;
        let mut segs = Vec::new();
        let mut teardowns = Vec::with_capacity(ids.len());
        for id in ids {
            let rec = g.allocs.remove(&id.0).expect("checked above");
            let State::Finalized(t) = rec.state else { unreachable!("checked above") };
            segs.extend(rec.segs);
            teardowns.push(t);
        }
        Ok((segs, teardowns))
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
                let _ = self.mapper.decommit(r);
            }
        }
        g.counts.leaked_bytes += leaked.iter().map(|&(i, _)| segs[i].range.len()).sum::<u64>();
        then(&mut g);
        if leaked.is_empty() {
            Ok(())
        } else {
            let what: Vec<String> = leaked.into_iter().map(|(_, w)| w).collect();
            Err(Error::Os(format!("memory could not be made reusable and is leaked: {}", what.join("; "))))
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
            return Err(Error::InvalidArgument(format!("allocation {} appears twice in one deallocate batch", id.0)));
        }
        let rec = g.allocs.get(&id.0).ok_or_else(|| unknown(*id, "deallocate"))?;
        if !matches!(rec.state, State::Finalized(_)) {
            return Err(Error::BadState(format!("cannot deallocate allocation {}: it is {}", id.0, rec.state.name())));
        }
    }
    Ok(())
}

fn unknown(id: AllocId, op: &str) -> Error {
    Error::UnknownAllocation(format!(
        "cannot {op} allocation {}: no such live allocation (never allocated, already freed, or abandoned)",
        id.0
    ))
}

impl Drop for Manager {
    /// Runs the dealloc actions of allocations still finalized (newest first), as LLVM's mappers
    /// do when they are destroyed; the views are unmapped after this. A remote manager releases
    /// its reservation instead: the executor runs what is left there.
    fn drop(&mut self) {
        if let Some(link) = &self.remote {
            if link.lost().is_none() {
                // Waited for (at most 10 s), so that no call outlives the manager: its caller
                // may destroy the connection right after. Nothing to report to either way; a
                // dead executor has let go of the reservation already.
                let _ = match link {
                    Link::Stock(remote) => remote.release_blocking(self.mapper.base()),
                    Link::Native(native) => native.teardown_blocking(),
                };
            }
            return;
        }
        let g = self.inner.get_mut().unwrap_or_else(|p| p.into_inner());
        let mut left: Vec<(u64, Vec<WrapperCall>)> = g
            .allocs
            .drain()
            .filter_map(|(id, r)| match r.state {
                State::Finalized(Teardown::Local(deallocs)) => Some((id, deallocs)),
                _ => None,
            })
            .collect();
        left.sort_unstable_by_key(|(id, _)| std::cmp::Reverse(*id));
        for (_, d) in left {
            // SAFETY: the caller of `finalize` vouched for these addresses.
            let _ = unsafe { wrapper::run_dealloc_actions(&d) };
        }
    }
}

#[cfg(test)]
mod tests;
