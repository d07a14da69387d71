//! The linker side of jitslab's native protocol (its messages and rules are documented in
//! [`crate::protocol::native`]; the executor side is `executor`): the slab in a region the
//! executor's service created, dual-mapped, with group-commit finalize.
//!
//! ```text
//!   linker                                          executor (jitslab-executor)
//!   ┌───────────────────────────────┐  setup once   ┌───────────────────────────────┐
//!   │ working view rw- (whole file) │ ────────────► │ region r-- ; chunks get their │
//!   │ allocate: bookkeeping only;   │               │ pool's protection in the next │
//!   │ a pool taking a chunk queues  │  one round:   │ finalize                      │
//!   │ its protection                │  [finalize:   │ r-x │ r-- │ rw- │ r-- (unused) │
//!   │ finalize/deallocate: queued,  │   protections └───────────────────────────────┘
//!   │ sent as one round at a time   │   + batch]       same memfd pages (no name)
//!   │                               │  [deallocate] ──────────────────────────────────►
//!   └───────────────────────────────┘
//! ```
//!
//! **The region's file.** Setup asks for a memfd (sharing 0); the linker takes its own
//! descriptor with `pidfd_getfd`, else by opening `/proc/PID/fd/FD`, and checks that the file
//! is the region's size. If neither works, that region is torn down and set up again as a
//! named object (sharing 1: a random name, `O_EXCL`, mode 0600), which the linker opens and
//! unlinks at once. [`SharingPath`] records which path was used.
//!
//! **Rounds (group commit).** At most one round of calls is in flight per manager. A round is,
//! in this order and each only when it has something to carry: one `finalize` with every chunk
//! protection noted since the last round (chunks a pool took get its protection; chunks given
//! back get `r--`), which the executor applies first, and every queued allocation that has
//! actions; then one `deallocate` with the keys of every queued deallocation. Work that arrives
//! while a round is in flight waits for the next, and travels with everything else that arrived
//! meanwhile. (The region is `r--` from setup on, and chunks given back return to `r--`, not
//! `---`: see [`UNASSIGNED`]. Until the next round, a chunk a pool took is still `r--` in the
//! executor, which uses it only after a finalize; a chunk given back keeps its old access,
//! though no allocation lives there any more.) The
//! order of one round, and rounds never overlapping, keep the executor's checks satisfied even
//! though it serves each call on a thread of its own: a chunk's protection is applied before
//! any allocation that uses it is checked, and a chunk is given back only after the deallocate
//! that freed its last allocation returned.
//!
//! **Holding a round while links are in flight.** The manager tells the backend when a link
//! starts (an allocation) and ends (its finalize, or its abandon). A round that is ready to go
//! waits while other links are in flight, so that a burst of links (an ORC session
//! materializing 2000 objects at once, each with the platform's registration actions) ends in
//! one round rather than one per round trip; the last link to end sends it. Waiting cannot be
//! allowed to deadlock: a link may wait on another's finalize (a plugin that looks a symbol up
//! until it is ready, a caller that holds an allocation and waits on another's finalize), so
//! when no link has started or ended for [`HOLD`] a timer thread (started at the first hold)
//! sends the round anyway. A lone link (a REPL's input) never waits.
//!
//! **No call at all** for a finalize with no actions whose chunks' protections are applied
//! already: on x86-64 the instruction cache is coherent with the linker's writes through the
//! shared pages, and the executor runs JIT'd code only when a later call tells it to. Such an
//! allocation is never registered in the executor, so deallocating it needs no call either:
//! only allocations with actions have a key there (the allocation id). Its memory goes back by
//! punching holes through the linker's descriptor of the file. A finalize whose chunks wait for
//! their protection completes when the round that applies it returns.
//!
//! Concurrency: the queue is one mutex, never held across a call or while a completion runs;
//! a chunk's protection may be noted under the manager's lock (lock order: manager, then
//! queue; the queue never takes the manager's). Completions run on the thread that delivers
//! the executor's reply.

use std::collections::{BTreeMap, BTreeSet};
use std::os::fd::OwnedFd;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::{call_error, setup_error, Backend, Completed, FinalizeSeg, Finalized, Kept};
use crate::error::Error;
use crate::mapper::pool_prot;
use crate::mapper::remote::{Remote, RemoteError, RemoteView, RpcCounts, Transport};
use crate::prot::Prot;
use crate::protocol::native::{self as wire, Allocation, Extent, SetupArgs, SetupReply, Sharing};
use crate::protocol::native::{Op, PROTOCOL_VERSION, UNASSIGNED};
use crate::protocol::stock::error_result as decode_error;
use crate::protocol::wrapper::ActionPair;
use crate::slab::Range;
use crate::sys;

/// The addresses of the native service's wrapper functions in the executor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NativeAddrs {
    pub setup: u64,
    pub finalize: u64,
    pub deallocate: u64,
    pub teardown: u64,
}

impl NativeAddrs {
    /// Looks the four bootstrap symbols up ([`Op::symbol`]); the error names the missing ones.
    pub fn lookup(find: impl Fn(&str) -> Option<u64>) -> Result<NativeAddrs, String> {
        let found: Vec<(Op, Option<u64>)> =
            Op::ALL.iter().map(|&op| (op, find(&op.symbol().to_string_lossy()))).collect();
        let missing: Vec<String> = found
            .iter()
            .filter(|(_, a)| a.is_none())
            .map(|(op, _)| op.symbol().to_string_lossy().into_owned())
            .collect();
        if !missing.is_empty() {
            return Err(format!(
                "the executor does not offer jitslab's native service (bootstrap symbols missing: {}); run \
                 jitslab-executor, or use the stock protocol",
                missing.join(", ")
            ));
        }
        let get = |op: Op| found.iter().find(|(o, _)| *o == op).and_then(|(_, a)| *a).unwrap_or(0);
        Ok(NativeAddrs {
            setup: get(Op::Setup),
            finalize: get(Op::Finalize),
            deallocate: get(Op::Deallocate),
            teardown: get(Op::Teardown),
        })
    }
}

/// How the linker obtained the region's file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SharingPath {
    /// The executor's memfd, duplicated with `pidfd_getfd`.
    PidfdGetfd,
    /// The executor's memfd, opened through `/proc/PID/fd/FD`.
    ProcFd,
    /// A shared-memory object with a random name, opened and unlinked at once.
    Named,
}

impl std::fmt::Display for SharingPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SharingPath::PidfdGetfd => "memfd taken with pidfd_getfd",
            SharingPath::ProcFd => "memfd opened through /proc/PID/fd",
            SharingPath::Named => "named shared-memory object, unlinked at once",
        })
    }
}

/// The ways to take the executor's memfd, in the order tried (tests leave some out).
pub(crate) const FD_PATHS: [SharingPath; 2] = [SharingPath::PidfdGetfd, SharingPath::ProcFd];

type NativeRemote = Remote<NativeAddrs>;

/// A completion of a queued finalize or deallocate.
pub(crate) type NativeDone = Box<dyn FnOnce(Result<(), RemoteError>) + Send>;

/// A finalize waiting for a round.
struct Fin {
    /// Registered in the executor under `key` only when it has actions.
    alloc: Allocation,
    done: NativeDone,
}

/// A deallocate batch waiting for a round: the keys of its allocations that have actions.
struct Dealloc {
    keys: Vec<u64>,
    done: NativeDone,
}

/// How long a held round waits after the last link started or ended before it goes anyway.
pub(crate) const HOLD: Duration = Duration::from_millis(5);

/// How long [`Native::settle`] waits for the rounds in flight and held.
const SETTLE: Duration = Duration::from_secs(10);

struct Queue {
    /// A round is in flight.
    busy: bool,
    /// Links in flight: allocations neither finalized nor abandoned yet.
    links: usize,
    /// When a link last started or ended.
    progress: Instant,
    /// The hold timer's thread is running.
    timer: bool,
    /// The hold timer waits with no deadline (no round was held, or one was in flight): a
    /// held round must wake it. Otherwise it is timing a quiet period and looks again anyway.
    timer_idle: bool,
    /// The backend is going away: the timer's thread ends.
    closed: bool,
    /// Chunk offset → the protection it must get, noted since the last round took them.
    pending: BTreeMap<u64, Prot>,
    /// Chunks whose protection the round in flight is applying.
    applying: BTreeSet<u64>,
    finalizes: Vec<Fin>,
    deallocs: Vec<Dealloc>,
}

impl Queue {
    fn new() -> Queue {
        Queue {
            busy: false,
            links: 0,
            progress: Instant::now(),
            timer: false,
            timer_idle: false,
            closed: false,
            pending: BTreeMap::new(),
            applying: BTreeSet::new(),
            finalizes: Vec::new(),
            deallocs: Vec::new(),
        }
    }

    /// Work waits for a round.
    fn has_work(&self) -> bool {
        !self.finalizes.is_empty() || !self.deallocs.is_empty()
    }
}

/// What one round carries.
struct Round {
    /// The chunks whose protection it applies, in offset order, with the protection each gets.
    chunks: Vec<(u64, Prot)>,
    finalizes: Vec<Fin>,
    deallocs: Vec<Dealloc>,
}

/// Calls of each kind made, for tests and statistics.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RoundCounts {
    pub rounds: u64,
    /// Rounds held while links were in flight, and sent by the hold timer when they stopped
    /// moving (not by the last link's end).
    pub timed_out: u64,
    /// Finalize calls: each carries the chunk protections noted since the last one and the
    /// allocations that have actions.
    pub finalize_calls: u64,
    /// Allocations those calls carried (registered in the executor).
    pub allocations_sent: u64,
    pub deallocate_calls: u64,
}

/// The connection to one region of the executor's native service. See the module docs.
pub(crate) struct Native {
    remote: Arc<NativeRemote>,
    handle: u64,
    chunk: u64,
    sharing: SharingPath,
    queue: Mutex<Queue>,
    /// Wakes the hold timer (a round was held, or the backend is closing) and
    /// [`Native::settle`] (a round ended).
    wake: Condvar,
    counts: Mutex<RoundCounts>,
}

impl std::fmt::Debug for Native {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Native").field("handle", &self.handle).field("sharing", &self.sharing).finish()
    }
}

/// Sets a region of `span` bytes up in the executor and maps it here read-write, trying the
/// memfd paths `fd_paths` first and a named object after them. Returns the connection and the
/// view (whose chunks' protections in the executor are the connection's to send). On any failure after the executor
/// set a region up, that region is torn down again.
fn connect(
    remote: Arc<NativeRemote>,
    span: u64,
    chunk: u64,
    fd_paths: &[SharingPath],
) -> Result<(Arc<Native>, RemoteView), RemoteError> {
    let first = setup(&remote, span, Sharing::Memfd)?;
    let mut tried = Vec::new();
    let mut found = None;
    for &path in fd_paths {
        let taken = match path {
            SharingPath::PidfdGetfd => sys::pidfd_getfd(first.pid, first.fd),
            SharingPath::ProcFd => sys::open_proc_fd(first.pid, first.fd),
            SharingPath::Named => continue,
        };
        match taken.map_err(|e| e.to_string()).and_then(|fd| check_size(fd, span)) {
            Ok(fd) => {
                found = Some((first.clone(), fd, path));
                break;
            }
            Err(e) => tried.push(format!("{path}: {e}")),
        }
    }
    let (reply, fd, path) = match found {
        Some(f) => f,
        None => {
            teardown_blocking(&remote, first.handle).map_err(|e| {
                RemoteError::Executor(format!(
                    "the executor's memfd could not be taken ({}), and tearing its region down failed: {e}",
                    tried.join("; ")
                ))
            })?;
            let named = setup(&remote, span, Sharing::Named)?;
            match open_named(&named.name, span) {
                Ok(fd) => (named, fd, SharingPath::Named),
                Err(e) => {
                    let _ = teardown_blocking(&remote, named.handle);
                    tried.push(format!("named object {:?}: {e}", named.name));
                    return Err(RemoteError::Executor(format!(
                        "cannot share the executor's region with this process: {}",
                        tried.join("; ")
                    )));
                }
            }
        }
    };
    let native = Arc::new(Native {
        remote: Arc::clone(&remote),
        handle: reply.handle,
        chunk,
        sharing: path,
        queue: Mutex::new(Queue::new()),
        wake: Condvar::new(),
        counts: Mutex::new(RoundCounts::default()),
    });
    match RemoteView::map(reply.base, span, fd, true) {
        Ok(view) => Ok((native, view)),
        Err(e) => {
            let _ = teardown_blocking(&remote, reply.handle);
            Err(RemoteError::Os(format!("cannot map the executor's region here: {e}")))
        }
    }
}

fn check_size(fd: OwnedFd, span: u64) -> Result<OwnedFd, String> {
    match sys::file_size(&fd) {
        Ok(size) if size == span => Ok(fd),
        Ok(size) => Err(format!("the file holds {size:#x} bytes, not the region's {span:#x}: not the region")),
        Err(e) => Err(e.to_string()),
    }
}

/// Opens a named region and removes its name at once (whether or not the open worked).
fn open_named(name: &str, span: u64) -> Result<OwnedFd, String> {
    let c = std::ffi::CString::new(name).map_err(|_| format!("the name {name:?} holds a NUL byte"))?;
    let opened = sys::shm_open_existing(&c);
    let unlinked = sys::shm_unlink(&c);
    let (fd, _) = opened.map_err(|e| e.to_string())?;
    unlinked.map_err(|e| e.to_string())?;
    check_size(fd, span)
}

fn setup(remote: &Arc<NativeRemote>, span: u64, sharing: Sharing) -> Result<SetupReply, RemoteError> {
    let args = wire::setup_args(&SetupArgs { version: PROTOCOL_VERSION, span, sharing });
    let me = Arc::clone(remote);
    remote.call_blocking("setup", remote.addrs().setup, args, wire::decode_setup_reply, move |late: SetupReply| {
        // Nobody maps this region: its name must not outlive us, and the executor can have it.
        if let Ok(name) = std::ffi::CString::new(late.name) {
            if !name.is_empty() {
                let _ = sys::shm_unlink(&name);
            }
        }
        me.call("teardown", me.addrs().teardown, wire::teardown_args(late.handle), decode_error, drop);
    })
}

fn teardown_blocking(remote: &Arc<NativeRemote>, handle: u64) -> Result<(), RemoteError> {
    remote.call_blocking("teardown", remote.addrs().teardown, wire::teardown_args(handle), decode_error, drop)
}

impl Native {
    pub fn sharing(&self) -> SharingPath {
        self.sharing
    }

    pub fn remote(&self) -> &Arc<NativeRemote> {
        &self.remote
    }

    pub fn round_counts(&self) -> RoundCounts {
        *lock(&self.counts)
    }

    /// Ends the region (waited for, at most the blocking-call timeout): the executor runs the
    /// dealloc actions still pending and unmaps it.
    pub fn teardown_blocking(&self) -> Result<(), RemoteError> {
        teardown_blocking(&self.remote, self.handle)
    }

    /// Notes that the chunks of `chunks` must get `access` in the executor; the next round
    /// sends it (the last one noted for a chunk wins).
    pub fn note_protection(&self, chunks: Range, access: Prot) {
        let mut q = lock(&self.queue);
        let mut at = chunks.start;
        while at < chunks.end {
            q.pending.insert(at, access);
            at += self.chunk;
        }
    }

    /// Whether a chunk under `ranges` still waits for its protection.
    fn waits(&self, q: &Queue, ranges: &[(u64, u64)]) -> bool {
        ranges.iter().filter(|(s, e)| e > s).any(|&(s, e)| {
            let (first, last) = (s / self.chunk * self.chunk, (e - 1) / self.chunk * self.chunk);
            q.pending.range(first..=last).next().is_some() || q.applying.range(first..=last).next().is_some()
        })
    }

    /// Finalizes one allocation: `alloc` (its standard-lifetime segments and actions, under its
    /// key), whose memory covers `ranges` (every segment, by offset). With no actions and every
    /// chunk protected it completes at once, with no call; otherwise it goes in the next round.
    pub fn finalize(self: &Arc<Self>, alloc: Allocation, ranges: &[(u64, u64)], done: NativeDone) {
        let round = {
            let mut q = lock(&self.queue);
            if alloc.actions.is_empty() && !self.waits(&q, ranges) {
                drop(q);
                return done(Ok(()));
            }
            q.finalizes.push(Fin { alloc, done });
            // This allocation's own link is still counted: it ends right after.
            let others = q.links.saturating_sub(1);
            self.start(&mut q, others)
        };
        self.run(round);
    }

    /// Deallocates allocations registered in the executor under `keys` (their dealloc actions
    /// run there), in the next round.
    pub fn deallocate(self: &Arc<Self>, keys: Vec<u64>, done: NativeDone) {
        let round = {
            let mut q = lock(&self.queue);
            q.deallocs.push(Dealloc { keys, done });
            let others = q.links;
            self.start(&mut q, others)
        };
        self.run(round);
    }

    /// A link started (an allocation was made).
    pub fn link_started(&self) {
        let mut q = lock(&self.queue);
        q.links += 1;
        q.progress = Instant::now();
    }

    /// A link ended (its allocation was finalized or abandoned): the last one sends the round
    /// that was held for it.
    pub fn link_ended(self: &Arc<Self>) {
        let round = {
            let mut q = lock(&self.queue);
            q.links = q.links.saturating_sub(1);
            q.progress = Instant::now();
            let others = q.links;
            self.start(&mut q, others)
        };
        self.run(round);
    }

    /// Takes the next round out of the queue if none is in flight and there is work that
    /// waits for one (noted protections alone wait for a finalize that needs them), unless
    /// `others` links (not the caller's) are in flight and the hold timer runs: then the round
    /// is held (see the module docs).
    fn start(self: &Arc<Self>, q: &mut Queue, others: usize) -> Option<Round> {
        if q.busy || !q.has_work() || (others > 0 && self.arm(q)) {
            return None;
        }
        q.busy = true;
        let chunks: Vec<(u64, Prot)> = std::mem::take(&mut q.pending).into_iter().collect();
        q.applying.extend(chunks.iter().map(|&(c, _)| c));
        Some(Round { chunks, finalizes: std::mem::take(&mut q.finalizes), deallocs: std::mem::take(&mut q.deallocs) })
    }

    /// Sends a round: one finalize carrying the noted protections and the allocations with
    /// actions (when there is either), then one deallocate (when there are keys).
    fn run(self: &Arc<Self>, round: Option<Round>) {
        let Some(round) = round else { return };
        lock(&self.counts).rounds += 1;
        let Round { chunks, finalizes, deallocs } = round;
        // Adjacent chunks with the same protection become one extent.
        let mut protects: Vec<Extent> = Vec::new();
        for &(at, access) in &chunks {
            match protects.last_mut() {
                Some(e) if e.offset + e.len == at && e.access == access => e.len += self.chunk,
                _ => protects.push(Extent { offset: at, len: self.chunk, access }),
            }
        }
        let (with_actions, without): (Vec<Fin>, Vec<Fin>) =
            finalizes.into_iter().partition(|f| !f.alloc.actions.is_empty());
        if protects.is_empty() && with_actions.is_empty() {
            for f in without {
                (f.done)(Ok(()));
            }
            return self.deallocate_round(deallocs);
        }
        {
            let mut c = lock(&self.counts);
            c.finalize_calls += 1;
            c.allocations_sent += with_actions.len() as u64;
        }
        let allocs: Vec<Allocation> = with_actions.iter().map(|f| f.alloc.clone()).collect();
        let args = wire::finalize_args(self.handle, &protects, &allocs);
        let me = Arc::clone(self);
        self.remote.call("finalize", self.remote.addrs().finalize, args, wire::decode_finalize_reply, move |r| {
            me.after_finalize(r, chunks, with_actions, without, deallocs)
        });
    }

    fn after_finalize(
        self: &Arc<Self>,
        outcome: Result<Vec<Result<(), String>>, RemoteError>,
        chunks: Vec<(u64, Prot)>,
        with_actions: Vec<Fin>,
        without: Vec<Fin>,
        deallocs: Vec<Dealloc>,
    ) {
        {
            let mut q = lock(&self.queue);
            for (c, a) in &chunks {
                q.applying.remove(c);
                if outcome.is_err() {
                    // The chunks' protections are unknown now (a refused batch leaves them
                    // applied, a failed mprotect part of them): noted again for a later round,
                    // unless a protection noted since then wins.
                    q.pending.entry(*c).or_insert(*a);
                }
            }
        }
        match outcome {
            Ok(results) if results.len() == with_actions.len() => {
                for f in without {
                    (f.done)(Ok(()));
                }
                for (f, result) in with_actions.into_iter().zip(results) {
                    (f.done)(result.map_err(|m| RemoteError::Executor(format!("the executor failed finalize: {m}"))));
                }
            }
            Ok(results) => {
                // The protections were applied; the batch's reply cannot be matched to it.
                for f in without {
                    (f.done)(Ok(()));
                }
                let e = RemoteError::BadReply(format!(
                    "bad reply from the executor to finalize: {} results for {} allocations",
                    results.len(),
                    with_actions.len()
                ));
                for f in with_actions {
                    (f.done)(Err(e.clone()));
                }
            }
            Err(e) => {
                // Every finalize of the round fails (its allocation is rolled back).
                for f in without.into_iter().chain(with_actions) {
                    (f.done)(Err(e.clone()));
                }
            }
        }
        self.deallocate_round(deallocs)
    }

    fn deallocate_round(self: &Arc<Self>, deallocs: Vec<Dealloc>) {
        let keys: Vec<u64> = deallocs.iter().flat_map(|d| d.keys.iter().copied()).collect();
        if keys.is_empty() {
            for d in deallocs {
                (d.done)(Ok(()));
            }
            return self.end_round();
        }
        lock(&self.counts).deallocate_calls += 1;
        let args = wire::deallocate_args(self.handle, &keys);
        let me = Arc::clone(self);
        self.remote.call("deallocate", self.remote.addrs().deallocate, args, decode_error, move |r| {
            for d in deallocs {
                (d.done)(r.clone());
            }
            me.end_round()
        });
    }

    /// Ends the round in flight and starts the next one if work arrived meanwhile.
    fn end_round(self: &Arc<Self>) {
        let next = {
            let mut q = lock(&self.queue);
            q.busy = false;
            let others = q.links;
            let next = self.start(&mut q, others);
            self.wake.notify_all();
            next
        };
        self.run(next);
    }

    /// Makes sure the hold timer runs and knows that a round is held. False if its thread
    /// cannot be started: the round is then not held.
    fn arm(self: &Arc<Self>, q: &mut Queue) -> bool {
        if !q.timer {
            let me = Arc::clone(self);
            let spawned = std::thread::Builder::new().name("jitslab-hold".into()).spawn(move || me.hold_timer());
            q.timer = spawned.is_ok();
        }
        if q.timer_idle {
            self.wake.notify_all();
        }
        q.timer
    }

    /// The hold timer: sends a held round once no link has started or ended for [`HOLD`].
    /// Ends when the backend closes.
    fn hold_timer(self: Arc<Self>) {
        let mut q = lock(&self.queue);
        while !q.closed {
            if q.busy || !q.has_work() {
                q.timer_idle = true;
                q = self.wake.wait(q).unwrap_or_else(|p| p.into_inner());
                q.timer_idle = false;
                continue;
            }
            let quiet = q.progress.elapsed();
            if quiet < HOLD {
                q = self.wake.wait_timeout(q, HOLD - quiet).map_or_else(|p| p.into_inner().0, |(g, _)| g);
                continue;
            }
            let round = self.start(&mut q, 0);
            drop(q);
            if round.is_some() {
                lock(&self.counts).timed_out += 1;
            }
            self.run(round);
            q = lock(&self.queue);
        }
        q.timer = false;
    }

    /// Sends what is held and waits (at most [`SETTLE`]) until no round is in flight or held.
    pub fn settle(self: &Arc<Self>) {
        let deadline = Instant::now() + SETTLE;
        let mut q = lock(&self.queue);
        loop {
            if !q.busy {
                if !q.has_work() {
                    return;
                }
                let round = self.start(&mut q, 0);
                drop(q);
                self.run(round);
                q = lock(&self.queue);
                continue;
            }
            let Some(left) = deadline.checked_duration_since(Instant::now()) else { return };
            q = self.wake.wait_timeout(q, left).map_or_else(|p| p.into_inner().0, |(g, _)| g);
        }
    }

    /// Ends the hold timer's thread.
    fn close(&self) {
        lock(&self.queue).closed = true;
        self.wake.notify_all();
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The native protocol as a [`Backend`]: one region, its group-commit queue. See the module
/// docs.
#[derive(Debug)]
pub(crate) struct NativeBackend {
    link: Arc<Native>,
}

impl Drop for NativeBackend {
    fn drop(&mut self) {
        self.link.close();
    }
}

impl NativeBackend {
    /// Sets a region of `span` bytes up in the executor whose service is at `addrs` and maps it
    /// here (see [`connect`]); its pools grow by `chunk`.
    pub(crate) fn connect(
        transport: Box<dyn Transport>,
        addrs: NativeAddrs,
        span: u64,
        chunk: u64,
        fd_paths: &[SharingPath],
    ) -> Result<(NativeBackend, RemoteView), Error> {
        let remote = Arc::new(Remote::with_addrs(transport, addrs));
        let (link, view) = connect(remote, span, chunk, fd_paths).map_err(setup_error)?;
        Ok((NativeBackend { link }, view))
    }
}

impl Backend for NativeBackend {
    fn is_remote(&self) -> bool {
        true
    }

    /// An allocation with no actions whose chunks are protected in the executor completes at
    /// once, with no call; the others wait for the next round. Only standard-lifetime segments
    /// are registered in the executor (finalize-lifetime ones are reused right after), and only
    /// for allocations with actions.
    unsafe fn finalize(&self, id: u64, segs: &[FinalizeSeg], actions: Vec<ActionPair>, done: Finalized) {
        let has_actions = !actions.is_empty();
        let ranges: Vec<(u64, u64)> = segs.iter().map(|s| (s.range.start, s.range.end)).collect();
        let segments: Vec<Extent> = segs
            .iter()
            .filter(|s| has_actions && !s.finalize_lifetime)
            .map(|s| Extent { offset: s.range.start, len: s.range.len(), access: pool_prot(s.pool) })
            .collect();
        let kept = if has_actions { Kept::Key(id) } else { Kept::Nothing };
        let alloc = Allocation { key: id, segments, actions };
        self.link.finalize(alloc, &ranges, Box::new(move |r| done(r.map(|()| kept).map_err(call_error))));
    }

    unsafe fn deallocate(&self, kept: Vec<Kept>, done: Completed) {
        let keys: Vec<u64> =
            kept.iter().filter_map(|k| if let Kept::Key(key) = k { Some(*key) } else { None }).collect();
        if keys.is_empty() {
            // Nothing of these allocations is registered in the executor.
            return done(Ok(()));
        }
        self.link.deallocate(
            keys,
            Box::new(move |r| done(r.map_err(|e| call_error(e).prefixed("deallocate (memory was returned anyway): ")))),
        );
    }

    /// Ends the region (waited for, at most 10 s): the executor runs the dealloc actions left
    /// there. A dead executor has let go of it already.
    unsafe fn teardown(&self, _kept: Vec<Kept>) {
        if self.link.remote().lost().is_none() {
            // Nothing may be left held, or in flight behind the teardown.
            self.link.settle();
            let _ = self.link.teardown_blocking();
        }
    }

    fn link_started(&self) {
        self.link.link_started();
    }

    fn link_ended(&self) {
        self.link.link_ended();
    }

    fn lost(&self) -> Option<String> {
        self.link.remote().lost()
    }

    fn chunk_taken(&self, chunks: Range, pool: crate::slab::Pool) {
        self.link.note_protection(chunks, pool_prot(pool));
    }

    fn chunk_given_back(&self, chunks: Range) {
        self.link.note_protection(chunks, UNASSIGNED);
    }

    fn rpc_counts(&self) -> RpcCounts {
        self.link.remote().rpc_counts()
    }

    fn sharing(&self) -> Option<SharingPath> {
        Some(self.link.sharing())
    }

    fn round_counts(&self) -> Option<RoundCounts> {
        Some(self.link.round_counts())
    }
}

#[cfg(test)]
mod tests;
