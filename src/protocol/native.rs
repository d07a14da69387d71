//! jitslab's native shared-memory protocol: its contract (below), the messages as bytes
//! (encoders for the linker side and the tests, decoders for the executor side) and the pure
//! checks on ranges. The linker side is `backend/native`, the executor side `executor`.
//!
//! # The protocol, version [`PROTOCOL_VERSION`]
//!
//! The executor publishes four wrapper functions as bootstrap symbols ([`Op::symbol`]; listed
//! for C by `jitslab_executor_bootstrap_symbols`). Each is called as
//! `CWrapperFunctionResult f(const char *args, size_t len)` with the SPS bytes below (SPS as in
//! [`super::sps`]: little-endian integers, `[T]` is a `u64` count then the elements, a string or
//! byte buffer is a `u64` length then the bytes, tuples are their fields in order). Every reply
//! is SPS: failures are always *in band* (an error value), never an out-of-band error, because
//! LLVM 19's server does not transport those.
//!
//! An *extent* is `(offset u64, len u64, access u8)`: a byte range by offset from the region's
//! base. The access byte is read 1 | write 2 | exec 4, and only `---` 0, `r--` 1, `rw-` 3 and
//! `r-x` 5 exist: writable and executable together (and any other pattern) is refused.
//!
//! | symbol | arguments | reply |
//! |---|---|---|
//! | `__jitslab_executor_setup` | `version u32, span u64, sharing u8` | `Expected<(handle u64, base u64, pid u32, fd i32, name string)>` |
//! | `__jitslab_executor_finalize` | `handle u64, [extent] protect, [(key u64, [extent] segments, [((fn u64, args bytes) finalize, (fn u64, args bytes) dealloc)] actions)]` | `Expected<[Error]>`, one per allocation, in order |
//! | `__jitslab_executor_deallocate` | `handle u64, [key u64]` | `Error` |
//! | `__jitslab_executor_teardown` | `handle u64` | `Error` |
//!
//! - **setup** creates a region: a file of `span` bytes, and `span` bytes of address space
//!   mapped `MAP_SHARED` from it, readable (`r--`; page-aligned; the linker may use all of it).
//!   Readable, not `---`, because LLVM 19's ORC has the executor read a graph's `.eh_frame`
//!   before the graph is finalized, so before the finalize that gives a new chunk its pool's
//!   access (version 1 mapped `---` and the linker made it `r--` with a protect call at once).
//!   `version` must equal [`PROTOCOL_VERSION`], or the error names both versions. `span` must be
//!   a non-zero multiple of the executor's page size, at most 2 GiB. `sharing` 0: the file is a
//!   memfd (`memfd_create`, close-on-exec, no name anywhere); the reply's `fd` is its descriptor
//!   in the executor (process `pid`), open until teardown, and `name` is empty. The linker gets
//!   its own descriptor with `pidfd_open(pid)` + `pidfd_getfd(fd)`, or by opening
//!   `/proc/PID/fd/FD`; both need ptrace access to the executor (same user; under Yama
//!   `ptrace_scope` 1, the linker must be its parent, as when it spawned it). `sharing` 1, for a
//!   linker that has neither: the file is a POSIX shared-memory object named
//!   `/jitslab-PID-<32 random hex digits>`, created `O_CREAT | O_EXCL` with mode 0600; `fd` is
//!   -1. The linker opens it and `shm_unlink`s it at once; teardown unlinks it too (a missing
//!   name is fine). Either way the linker maps the whole file read-write as its working view
//!   and may punch holes in it to give pages back. Setup probes that the region can be made
//!   executable (a `noexec` `/dev/shm`, `vm.memfd_noexec` or a security policy can refuse it)
//!   and fails with the reason if not.
//! - **finalize** first gives page ranges their access (`mprotect`), then makes a batch of
//!   allocations live; either list may be empty.
//!
//!   The *protect* extents are a pool's final protection for a chunk it took, `r--` for one it
//!   gave back: every change the linker noted since its last finalize, so that a chunk's access
//!   costs no call of its own (version 2 had a separate `protect` call). They must be
//!   non-empty, page-aligned, inside the region, not overlapping one another. All are checked
//!   before any is applied; if an `mprotect` fails, the earlier extents stay applied, the error
//!   (the outer one) says which failed, and the batch does not run.
//!
//!   Each allocation of the batch has a key the linker chooses, its segments (extents with the
//!   access of their pool; any alignment, since pools pack allocations into shared pages) and
//!   its allocation actions. Checked after the protect extents are applied and before anything
//!   runs, for the whole batch: every segment non-empty, inside the region, with a non-`---`
//!   access equal to the current access of every page it touches; no two segments of the batch
//!   overlap, and none overlaps a segment of a live allocation; no key repeats in the batch or
//!   names a live allocation; every non-zero action address lies in an executable mapping of
//!   the executor. A failed check refuses the whole batch (the outer error; the protect
//!   extents stay applied) and nothing runs.
//!   Then, per allocation in order: the instruction cache is flushed over executable segments
//!   and the finalize actions run in LLVM 19's order ([`super::wrapper::run_finalize_actions`]);
//!   an allocation whose action failed is not kept (the dealloc actions of the actions that had
//!   run have run) and its result is the error; the others are live, with their dealloc actions
//!   kept.
//! - **deallocate** takes live allocations back: each key's dealloc actions run (last to first;
//!   keys from the last to the first), the key is forgotten, and the errors are joined. Unknown
//!   or repeated keys, or a key still being finalized, refuse the whole request first. The
//!   memory is the linker's to reuse: the executor neither zeroes nor protects it.
//! - **teardown** ends a region: the dealloc actions of every allocation still live run (the
//!   most recently finalized first, as LLVM's service releases), then the region is unmapped,
//!   the file closed, a name unlinked, and the handle forgotten. The errors of the actions come
//!   back joined; the region ends regardless. The unmapping waits for calls on the same handle
//!   that are still running.
//!
//! Every request is checked: malformed bytes (truncated, trailing, bad flags, counts that
//! cannot fit), unknown handles and the rules above give an error reply, never a crash, and
//! every entry point runs behind `catch_unwind`. Handles are never reused.
//!
//! Decoders refuse truncated input, trailing bytes, bad flag bytes and counts that cannot fit
//! before they allocate anything; their errors are plain text for an SPS error reply.
//!
//! Concurrency: pure functions.

use std::ffi::CStr;

use super::sps::{Reader, SpsError, Writer};
use super::wrapper::{ActionPair, WrapperCall};
use crate::prot::Prot;

/// The largest region the service sets up: the slab's own limit, 2 GiB.
pub use crate::slab::MAX_SPAN;

/// The access of pages no pool holds: setup maps the whole region so, and the linker gives
/// chunks back to it. Readable, not `---`, for LLVM 19's early `.eh_frame` reads (see setup in
/// the module docs; `---` chunks killed the executor with synth-2000 and the ORC runtime).
pub const UNASSIGNED: Prot = Prot::R;

/// The version of the native protocol. It changes whenever a message's layout or meaning does.
pub const PROTOCOL_VERSION: u32 = 3;

/// The service's calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Setup,
    Finalize,
    Deallocate,
    Teardown,
}

impl Op {
    pub const ALL: [Op; 4] = [Op::Setup, Op::Finalize, Op::Deallocate, Op::Teardown];

    /// The bootstrap symbol name the executor publishes the call under.
    pub fn symbol(self) -> &'static CStr {
        match self {
            Op::Setup => c"__jitslab_executor_setup",
            Op::Finalize => c"__jitslab_executor_finalize",
            Op::Deallocate => c"__jitslab_executor_deallocate",
            Op::Teardown => c"__jitslab_executor_teardown",
        }
    }

    /// The reply for a failure, in this call's reply type.
    pub(crate) fn failure(self, msg: &str) -> Vec<u8> {
        match self {
            Op::Setup | Op::Finalize => crate::protocol::sps::encode_expected_error(msg),
            Op::Deallocate | Op::Teardown => crate::protocol::sps::encode_error(Some(msg)),
        }
    }
}

/// Bits of an access byte (the same bits as LLVM's `RemoteAllocGroup` byte, without its
/// finalize-lifetime bit).
pub const ACCESS_READ: u8 = 1;
pub const ACCESS_WRITE: u8 = 2;
pub const ACCESS_EXEC: u8 = 4;

/// Encoded sizes, in bytes, of the smallest element of each sequence: counts are checked
/// against them before anything is allocated.
const EXTENT_BYTES: u64 = 8 + 8 + 1;
const ALLOCATION_MIN_BYTES: u64 = 8 + 8 + 8;
const ACTION_PAIR_MIN_BYTES: u64 = 2 * (8 + 8);
const KEY_BYTES: u64 = 8;

/// The access an access byte names. Only `---` (0), `r--` (1), `rw-` (3) and `r-x` (5) exist:
/// a byte that is writable and executable (W^X), or any other bit pattern, is refused.
pub fn access_from_byte(b: u8) -> Result<Prot, String> {
    match b {
        0 => Ok(Prot::NONE),
        ACCESS_READ => Ok(Prot::R),
        b if b == ACCESS_READ | ACCESS_WRITE => Ok(Prot::RW),
        b if b == ACCESS_READ | ACCESS_EXEC => Ok(Prot::RX),
        b if b & ACCESS_WRITE != 0 && b & ACCESS_EXEC != 0 => {
            Err(format!("access byte {b:#04x} is writable and executable; W^X: never both"))
        }
        b => Err(format!("access byte {b:#04x} is none of --- (0), r-- (1), rw- (3), r-x (5)")),
    }
}

pub fn access_byte(a: Prot) -> u8 {
    let bit = |on: bool, b: u8| if on { b } else { 0 };
    bit(a.readable(), ACCESS_READ) | bit(a.writable(), ACCESS_WRITE) | bit(a.executable(), ACCESS_EXEC)
}

/// How the linker will obtain the region's file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sharing {
    /// A memfd, taken from the executor with `pidfd_getfd` or `/proc/PID/fd/FD` (byte 0).
    Memfd,
    /// A POSIX shared-memory object with a random name, mode 0600, that the linker opens and
    /// unlinks at once (byte 1).
    Named,
}

impl Sharing {
    fn byte(self) -> u8 {
        match self {
            Sharing::Memfd => 0,
            Sharing::Named => 1,
        }
    }
}

/// The arguments of `setup`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SetupArgs {
    pub version: u32,
    pub span: u64,
    pub sharing: Sharing,
}

/// The value `setup` returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetupReply {
    pub handle: u64,
    /// The executor address of the region's first byte.
    pub base: u64,
    pub pid: u32,
    /// The descriptor holding the memfd in the executor; -1 for a named object.
    pub fd: i32,
    /// The shared-memory object's name; empty for a memfd.
    pub name: String,
}

/// A byte range of the region, by offset from its base, with an access.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extent {
    pub offset: u64,
    pub len: u64,
    pub access: Prot,
}

impl Extent {
    /// The end offset; `None` when it overflows.
    pub fn end(&self) -> Option<u64> {
        self.offset.checked_add(self.len)
    }
}

/// One allocation of a `finalize` batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allocation {
    /// The linker's name for the allocation; `deallocate` takes it back.
    pub key: u64,
    pub segments: Vec<Extent>,
    pub actions: Vec<ActionPair>,
}

// --- encoders of arguments (the linker side) --------------------------------------------

pub fn setup_args(a: &SetupArgs) -> Vec<u8> {
    Writer::new().u32(a.version).u64(a.span).u8(a.sharing.byte()).finish()
}

fn extents(w: &mut Writer, e: &[Extent]) {
    w.count(e.len());
    for x in e {
        w.u64(x.offset).u64(x.len).u8(access_byte(x.access));
    }
}

/// The arguments of `finalize`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinalizeArgs {
    pub handle: u64,
    /// Page ranges to give their access first.
    pub protect: Vec<Extent>,
    /// The allocations to make live.
    pub allocs: Vec<Allocation>,
}

pub fn finalize_args(handle: u64, protect: &[Extent], allocs: &[Allocation]) -> Vec<u8> {
    let mut w = Writer::new();
    w.u64(handle);
    extents(&mut w, protect);
    w.count(allocs.len());
    for a in allocs {
        w.u64(a.key);
        extents(&mut w, &a.segments);
        w.count(a.actions.len());
        for pair in &a.actions {
            for c in [&pair.finalize, &pair.dealloc] {
                w.u64(c.fn_addr).bytes(&c.args);
            }
        }
    }
    w.finish()
}

pub fn deallocate_args(handle: u64, keys: &[u64]) -> Vec<u8> {
    let mut w = Writer::new();
    w.u64(handle).count(keys.len());
    for &k in keys {
        w.u64(k);
    }
    w.finish()
}

pub fn teardown_args(handle: u64) -> Vec<u8> {
    Writer::new().u64(handle).finish()
}

// --- decoders of arguments (the executor side) ------------------------------------------

fn malformed(e: SpsError) -> String {
    e.to_string()
}

pub fn decode_setup(b: &[u8]) -> Result<SetupArgs, String> {
    let mut r = Reader::new(b);
    let version = r.u32("setup: version").map_err(malformed)?;
    let span = r.u64("setup: span").map_err(malformed)?;
    let sharing = match r.u8("setup: sharing").map_err(malformed)? {
        0 => Sharing::Memfd,
        1 => Sharing::Named,
        x => return Err(format!("setup: sharing byte {x:#04x} is neither 0 (memfd) nor 1 (named)")),
    };
    r.finish("setup").map_err(malformed)?;
    Ok(SetupArgs { version, span, sharing })
}

fn read_extents(r: &mut Reader<'_>, what: &str) -> Result<Vec<Extent>, String> {
    let n = r.count(EXTENT_BYTES, what).map_err(malformed)?;
    (0..n)
        .map(|i| {
            let offset = r.u64(what).map_err(malformed)?;
            let len = r.u64(what).map_err(malformed)?;
            let access = access_from_byte(r.u8(what).map_err(malformed)?).map_err(|e| format!("{what} {i}: {e}"))?;
            Ok(Extent { offset, len, access })
        })
        .collect()
}

fn read_call(r: &mut Reader<'_>, what: &str) -> Result<WrapperCall, String> {
    let fn_addr = r.u64(what).map_err(malformed)?;
    let n = r.u64(what).map_err(malformed)?;
    Ok(WrapperCall { fn_addr, args: r.bytes(n, what).map_err(malformed)?.to_vec() })
}

pub fn decode_finalize(b: &[u8]) -> Result<FinalizeArgs, String> {
    let mut r = Reader::new(b);
    let handle = r.u64("finalize: handle").map_err(malformed)?;
    let protect = read_extents(&mut r, "finalize: protect extent")?;
    let n = r.count(ALLOCATION_MIN_BYTES, "finalize: allocations").map_err(malformed)?;
    let mut allocs = Vec::with_capacity(n);
    for _ in 0..n {
        let key = r.u64("finalize: key").map_err(malformed)?;
        let segments = read_extents(&mut r, "finalize: segment")?;
        let m = r.count(ACTION_PAIR_MIN_BYTES, "finalize: actions").map_err(malformed)?;
        let mut actions = Vec::with_capacity(m);
        for _ in 0..m {
            let finalize = read_call(&mut r, "finalize: finalize action")?;
            let dealloc = read_call(&mut r, "finalize: dealloc action")?;
            actions.push(ActionPair { finalize, dealloc });
        }
        allocs.push(Allocation { key, segments, actions });
    }
    r.finish("finalize").map_err(malformed)?;
    Ok(FinalizeArgs { handle, protect, allocs })
}

pub fn decode_deallocate(b: &[u8]) -> Result<(u64, Vec<u64>), String> {
    let mut r = Reader::new(b);
    let handle = r.u64("deallocate: handle").map_err(malformed)?;
    let n = r.count(KEY_BYTES, "deallocate: keys").map_err(malformed)?;
    let keys = (0..n).map(|_| r.u64("deallocate: key").map_err(malformed)).collect::<Result<Vec<_>, _>>()?;
    r.finish("deallocate").map_err(malformed)?;
    Ok((handle, keys))
}

pub fn decode_teardown(b: &[u8]) -> Result<u64, String> {
    let mut r = Reader::new(b);
    let handle = r.u64("teardown: handle").map_err(malformed)?;
    r.finish("teardown").map_err(malformed)?;
    Ok(handle)
}

// --- replies -------------------------------------------------------------------------------

pub fn setup_reply(v: &Result<SetupReply, String>) -> Vec<u8> {
    match v {
        Ok(s) => {
            Writer::new().bool(true).u64(s.handle).u64(s.base).u32(s.pid).i32(s.fd).bytes(s.name.as_bytes()).finish()
        }
        Err(e) => crate::protocol::sps::encode_expected_error(e),
    }
}

/// `Ok(Ok(reply))`, `Ok(Err(the executor's message))`, or `Err` when the bytes do not decode.
pub fn decode_setup_reply(b: &[u8]) -> Result<Result<SetupReply, String>, SpsError> {
    let mut r = Reader::new(b);
    let v = r.expected("setup reply", |r| {
        Ok(SetupReply {
            handle: r.u64("handle")?,
            base: r.u64("base")?,
            pid: r.u32("pid")?,
            fd: r.i32("fd")?,
            name: r.string("name")?,
        })
    })?;
    r.finish("setup reply")?;
    Ok(v)
}

/// The per-allocation results of a batch, or why the whole batch was refused.
pub type FinalizeOutcome = Result<Vec<Result<(), String>>, String>;

pub fn finalize_reply(v: &FinalizeOutcome) -> Vec<u8> {
    match v {
        Ok(results) => {
            let mut w = Writer::new();
            w.bool(true).count(results.len());
            for r in results {
                match r {
                    Ok(()) => w.bool(false),
                    Err(m) => w.bool(true).bytes(m.as_bytes()),
                };
            }
            w.finish()
        }
        Err(e) => crate::protocol::sps::encode_expected_error(e),
    }
}

pub fn decode_finalize_reply(b: &[u8]) -> Result<FinalizeOutcome, SpsError> {
    let mut r = Reader::new(b);
    let v = r.expected("finalize reply", |r| {
        let n = r.count(1, "finalize results")?;
        (0..n).map(|_| Ok(if r.bool("finalize result")? { Err(r.string("finalize error")?) } else { Ok(()) })).collect()
    })?;
    r.finish("finalize reply")?;
    Ok(v)
}

pub fn error_reply(v: &Result<(), String>) -> Vec<u8> {
    crate::protocol::sps::encode_error(v.as_ref().err().map(String::as_str))
}

// --- checks on ranges ----------------------------------------------------------------------

/// Checks that every extent is non-empty, lies inside `[0, span)`, starts and ends on a page
/// boundary when `page_aligned`, and that no two overlap. The error names the first offender
/// (by its index in `what`) and the region's size.
pub fn check_extents(extents: &[Extent], span: u64, page: u64, page_aligned: bool, what: &str) -> Result<(), String> {
    for (i, e) in extents.iter().enumerate() {
        let (off, len) = (e.offset, e.len);
        if len == 0 {
            return Err(format!("{what} {i} at offset {off:#x} is empty"));
        }
        match e.end() {
            Some(end) if end <= span => {}
            _ => return Err(format!("{what} {i} [{off:#x}, +{len:#x}) lies outside the region [0, {span:#x})")),
        }
        if page_aligned && (off % page != 0 || len % page != 0) {
            return Err(format!("{what} {i} [{off:#x}, +{len:#x}) is not page-aligned (page {page:#x})"));
        }
    }
    let mut order: Vec<usize> = (0..extents.len()).collect();
    order.sort_unstable_by_key(|&i| extents[i].offset);
    for w in order.windows(2) {
        let (a, b) = (&extents[w[0]], &extents[w[1]]);
        if a.offset + a.len > b.offset {
            return Err(format!(
                "{what}s {} [{:#x}, +{:#x}) and {} [{:#x}, +{:#x}) overlap",
                w[0], a.offset, a.len, w[1], b.offset, b.len
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_bytes_round_trip_for_every_protection_memory_gets() {
        for (prot, byte) in [(Prot::NONE, 0), (Prot::R, 1), (Prot::RW, 3), (Prot::RX, 5)] {
            assert_eq!(access_byte(prot), byte, "{prot}");
            assert_eq!(access_from_byte(byte), Ok(prot), "{byte}");
        }
        for refused in [2, 4, 6, 7, 8] {
            assert!(access_from_byte(refused).is_err(), "{refused}");
        }
    }
}
