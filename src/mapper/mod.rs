//! Mappers: the memory behind a slab. A mapper owns one reservation and turns the slab's
//! bookkeeping effects into memory operations.
//!
//! ```text
//!  single view                         dual view (memfd mapped twice)
//!  ┌──────────────────────────┐        executing view (executor addresses)
//!  │ reservation, PROT_NONE   │        ┌────────┬────────┬────────┬──────────────┐
//!  │ chunks committed RW;     │        │ r-x    │ r--    │ rw-    │ --- (unused) │
//!  │ a segment is mprotected  │        └────────┴────────┴────────┴──────────────┘
//!  │ to its final protection  │             same memfd pages
//!  │ at finalize (pages are   │        ┌────────┬────────┬────────┬──────────────┐
//!  │ never shared)            │        │ rw-    │ rw-    │ rw-    │ rw- (sparse) │
//!  └──────────────────────────┘        └────────┴────────┴────────┴──────────────┘
//!                                      working view (the linker writes here)
//! ```
//!
//! - [`SingleView`]: working memory is the final memory; protections are applied per segment at
//!   finalize, so segments must be page-granular.
//! - [`DualView`]: each chunk of the executing view gets its pool's protection once, when the
//!   pool takes the chunk; the linker writes through a separate RW view. No `mprotect` per
//!   allocation, no page ever writable and executable in one view, and segments can share pages.
//!
//! - [`remote::RemoteView`]: the slab lives in a separate executor process, in shared memory;
//!   see [`remote`].
//!
//! Concurrency: a mapper is `Send + Sync`. Its methods touch only the ranges they are given, and
//! the manager never hands two threads the same range, so mappers need no locks of their own;
//! their counters are atomics.

mod dual;
pub mod placement;
pub mod remote;
mod single;

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

pub(crate) use dual::DualView;
pub use placement::Placement;
pub(crate) use single::SingleView;

use crate::error::Error;
use crate::prot::Prot;
use crate::slab::{Pool, Range};
use crate::sys::OsError;

/// Which mapper a manager should use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MapperChoice {
    /// Dual view, falling back to single view (with a logged reason) where the OS refuses it.
    #[default]
    Auto,
    SingleView,
    /// Dual view, or an error.
    DualView,
}

/// The kind of mapper in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapperKind {
    SingleView,
    DualView,
    /// In an executor process, through LLVM's stock shared-memory service.
    RemoteStock,
    /// In an executor process, through jitslab's native service (dual-mapped, sub-page packing).
    RemoteNative,
}

impl fmt::Display for MapperKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MapperKind::SingleView => "single view",
            MapperKind::DualView => "dual view",
            MapperKind::RemoteStock => "remote (shared memory, LLVM's executor service)",
            MapperKind::RemoteNative => "remote (shared memory, jitslab's native executor service)",
        })
    }
}

/// Counts of the memory system calls a mapper made.
#[derive(Debug, Default)]
pub(crate) struct SysCounters {
    mmap: AtomicU64,
    mprotect: AtomicU64,
    madvise: AtomicU64,
    fallocate: AtomicU64,
}

/// A snapshot of the system calls a manager's mapper made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SysCounts {
    pub mmap: u64,
    pub mprotect: u64,
    pub madvise: u64,
    pub fallocate: u64,
}

impl SysCounters {
    pub fn count_mmap(&self) {
        self.mmap.fetch_add(1, Ordering::Relaxed);
    }
    pub fn count_mprotect(&self) {
        self.mprotect.fetch_add(1, Ordering::Relaxed);
    }
    pub fn count_madvise(&self) {
        self.madvise.fetch_add(1, Ordering::Relaxed);
    }
    pub fn count_fallocate(&self) {
        self.fallocate.fetch_add(1, Ordering::Relaxed);
    }
    pub fn snapshot(&self) -> SysCounts {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        SysCounts {
            mmap: get(&self.mmap),
            mprotect: get(&self.mprotect),
            madvise: get(&self.madvise),
            fallocate: get(&self.fallocate),
        }
    }
}

/// The final protection of a pool.
pub(crate) fn pool_prot(pool: Pool) -> Prot {
    match pool {
        Pool::Code => Prot::RX,
        Pool::ReadOnly => Prot::R,
        Pool::ReadWrite => Prot::RW,
    }
}

/// The memory behind one slab. See the module docs.
///
/// Crate-private on purpose: the methods take ranges relative to the reservation on trust (the
/// slab only produces valid ones), so they are not a safe public API.
pub(crate) trait Mapper: Send + Sync {
    fn kind(&self) -> MapperKind;
    /// Whether segments of different allocations may share a page.
    fn packs_subpage(&self) -> bool;
    /// The executor address of the reservation's first byte.
    fn base(&self) -> u64;
    fn span(&self) -> u64;
    /// Where the linker writes the byte at `offset`.
    fn working(&self, offset: u64) -> *mut u8;
    /// Makes chunks given to `pool` usable.
    fn commit(&self, chunks: Range, pool: Pool) -> Result<(), OsError>;
    /// Makes chunks given back by a pool inaccessible. Their pages were already released.
    fn decommit(&self, chunks: Range) -> Result<(), OsError>;
    /// Gives a finalized segment its pool's protection in the executing view.
    fn protect(&self, seg: Range, pool: Pool) -> Result<(), OsError>;
    /// Undoes [`Mapper::protect`] before a segment's bytes are zeroed or released.
    fn unprotect(&self, seg: Range, pool: Pool) -> Result<(), OsError>;
    /// Returns whole pages to the OS; they read as zero afterwards.
    fn release(&self, pages: Range) -> Result<(), OsError>;
    fn counters(&self) -> &SysCounters;
    /// Lets go of memory shared with a process that is gone, keeping the working addresses
    /// valid. Only remote mappers have any.
    fn detach(&self) {}

    /// Writes zeros over `r` through the working view.
    fn zero(&self, r: Range) {
        // SAFETY: `r` lies inside the reservation (the slab only produces such ranges), the
        // working view is writable over all committed chunks, and the manager hands `r` to one
        // thread at a time.
        unsafe { std::ptr::write_bytes(self.working(r.start), 0, r.len() as usize) };
    }
}

/// What a manager asks of its mapper.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MapperConfig {
    pub span: u64,
    pub placement: Placement,
    pub choice: MapperChoice,
    pub page: u64,
}

/// Creates the mapper `cfg.choice` asks for. With [`MapperChoice::Auto`], a dual view that the OS
/// refuses falls back to a single view, and the reason comes back as the second value.
pub(crate) fn create(cfg: &MapperConfig) -> Result<(Box<dyn Mapper>, Option<String>), Error> {
    choose(
        cfg.choice,
        || DualView::new(cfg).map(|m| Box::new(m) as Box<dyn Mapper>),
        || SingleView::new(cfg).map(|m| Box::new(m) as Box<dyn Mapper>),
    )
}

/// The fallback policy of [`create`], separate from the syscalls so that it can be tested. When
/// both views fail, the error is the single view's (the last attempt's kind), naming both causes.
fn choose<M>(
    choice: MapperChoice,
    dual: impl FnOnce() -> Result<M, Error>,
    single: impl FnOnce() -> Result<M, Error>,
) -> Result<(M, Option<String>), Error> {
    match choice {
        MapperChoice::SingleView => single().map(|m| (m, None)),
        MapperChoice::DualView => dual().map(|m| (m, None)),
        MapperChoice::Auto => match dual() {
            Ok(m) => Ok((m, None)),
            Err(reason) => {
                let m = single()
                    .map_err(|e| e.prefixed(&format!("dual view refused ({reason}); single view failed too: ")))?;
                Ok((m, Some(format!("dual view refused, using single view: {reason}"))))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    fn os_error(m: &str) -> Error {
        Error::new(ErrorKind::Os, m)
    }

    #[test]
    fn auto_falls_back_to_single_view_and_says_why() {
        let (m, why) =
            choose(MapperChoice::Auto, || Err::<&str, _>(os_error("memfd_create failed: EPERM")), || Ok("single"))
                .unwrap();
        assert_eq!(m, "single");
        assert!(why.unwrap().contains("memfd_create failed: EPERM"));
        let (m, why) = choose(MapperChoice::Auto, || Ok("dual"), || Ok("single")).unwrap();
        assert_eq!((m, why), ("dual", None));
    }

    #[test]
    fn forced_dual_view_reports_the_refusal_instead_of_falling_back() {
        let e = choose(MapperChoice::DualView, || Err::<&str, _>(os_error("refused")), || Ok("single")).unwrap_err();
        assert_eq!(e, os_error("refused"));
    }
}
