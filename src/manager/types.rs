//! The manager's vocabulary: how to build one ([`Config`]), what an allocation asks for
//! ([`SegmentRequest`], [`Prot`], [`Lifetime`]) and what it gets ([`Segment`], [`AllocId`]).
//!
//! Concurrency: plain data.

use crate::backend::Protocol;
use crate::error::{Error, ErrorKind};
use crate::mapper::{MapperChoice, Placement};
pub use crate::prot::Prot;
use crate::slab::Pool;

/// The default span: 1 GiB.
pub const DEFAULT_SPAN: u64 = 1 << 30;
/// The default chunk by which pools grow: 256 KiB.
pub const DEFAULT_CHUNK: u64 = 256 << 10;
/// Default bytes of whole free pages each pool keeps resident for reuse: one default chunk.
pub const DEFAULT_RETAIN_FREE: u64 = DEFAULT_CHUNK;

/// How to build a [`Manager`](crate::Manager).
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

impl Prot {
    /// The pool for this protection. Writable and executable at once is refused (W^X), and so
    /// is "no access" and any unknown bit: an invalid argument.
    pub fn pool(self) -> Result<Pool, Error> {
        let refused = |why: String| Err(Error::new(ErrorKind::InvalidArgument, why));
        match self.0 {
            b if b & !(Prot::READ | Prot::WRITE | Prot::EXEC) != 0 => {
                refused(format!("protection {b:#x} has unknown bits (read=1, write=2, exec=4)"))
            }
            0 => refused("protection 0 (no access) is not supported for an allocated segment".into()),
            _ if self.writable() && self.executable() => {
                refused("a writable and executable segment is refused (W^X)".into())
            }
            _ if self.executable() => Ok(Pool::Code),
            _ if self.writable() => Ok(Pool::ReadWrite),
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
