//! The native protocol's messages as bytes: encoders for the linker side (and the tests),
//! decoders for the executor side, and the pure checks on ranges. The layouts are documented
//! once, in the parent module.
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

/// The version of the native protocol. It changes whenever a message's layout or meaning does.
pub const PROTOCOL_VERSION: u32 = 1;

/// The service's calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Setup,
    Protect,
    Finalize,
    Deallocate,
    Teardown,
}

impl Op {
    pub const ALL: [Op; 5] = [Op::Setup, Op::Protect, Op::Finalize, Op::Deallocate, Op::Teardown];

    /// The bootstrap symbol name the executor publishes the call under.
    pub fn symbol(self) -> &'static CStr {
        match self {
            Op::Setup => c"__jitslab_executor_setup",
            Op::Protect => c"__jitslab_executor_protect",
            Op::Finalize => c"__jitslab_executor_finalize",
            Op::Deallocate => c"__jitslab_executor_deallocate",
            Op::Teardown => c"__jitslab_executor_teardown",
        }
    }

    /// The reply for a failure, in this call's reply type.
    pub(crate) fn failure(self, msg: &str) -> Vec<u8> {
        match self {
            Op::Setup | Op::Finalize => crate::protocol::sps::encode_expected_error(msg),
            Op::Protect | Op::Deallocate | Op::Teardown => crate::protocol::sps::encode_error(Some(msg)),
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

pub fn protect_args(handle: u64, ranges: &[Extent]) -> Vec<u8> {
    let mut w = Writer::new();
    w.u64(handle);
    extents(&mut w, ranges);
    w.finish()
}

pub fn finalize_args(handle: u64, allocs: &[Allocation]) -> Vec<u8> {
    let mut w = Writer::new();
    w.u64(handle).count(allocs.len());
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

pub fn decode_protect(b: &[u8]) -> Result<(u64, Vec<Extent>), String> {
    let mut r = Reader::new(b);
    let handle = r.u64("protect: handle").map_err(malformed)?;
    let ranges = read_extents(&mut r, "protect: range")?;
    r.finish("protect").map_err(malformed)?;
    Ok((handle, ranges))
}

fn read_call(r: &mut Reader<'_>, what: &str) -> Result<WrapperCall, String> {
    let fn_addr = r.u64(what).map_err(malformed)?;
    let n = r.u64(what).map_err(malformed)?;
    Ok(WrapperCall { fn_addr, args: r.bytes(n, what).map_err(malformed)?.to_vec() })
}

pub fn decode_finalize(b: &[u8]) -> Result<(u64, Vec<Allocation>), String> {
    let mut r = Reader::new(b);
    let handle = r.u64("finalize: handle").map_err(malformed)?;
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
    Ok((handle, allocs))
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
