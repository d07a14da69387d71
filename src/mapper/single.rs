//! The single-view mapper: one anonymous reservation; working memory is the final memory.
//!
//! Chunks are committed read-write; at finalize a segment's pages get their final protection
//! (`r-x` or `r--`; `rw-` needs no call), and at free they go back to read-write before their
//! pages are dropped. A page is never writable and executable at once, and since protections
//! change per segment, segments never share a page (the slab is page-granular).
//!
//! Concurrency: see the parent module.

use crate::error::Error;
use crate::prot::Prot;
use crate::slab::{Pool, Range};
use crate::sys::{self, Mapping, OsError};

use super::{placement, pool_prot, Mapper, MapperConfig, MapperKind, SysCounters};

#[derive(Debug)]
pub(crate) struct SingleView {
    map: Mapping,
    counters: SysCounters,
}

impl SingleView {
    pub fn new(cfg: &MapperConfig) -> Result<SingleView, Error> {
        let counters = SysCounters::default();
        let addr = placement::reserve(cfg.span, cfg.placement, cfg.page, &counters)?;
        Ok(SingleView { map: Mapping { addr, len: cfg.span }, counters })
    }

    fn set(&self, r: Range, access: Prot) -> Result<(), OsError> {
        self.counters.count_mprotect();
        // SAFETY: `r` lies in our reservation and belongs to the caller's chunks or segment.
        unsafe { sys::protect(self.map.addr + r.start, r.len(), access) }
    }
}

impl Mapper for SingleView {
    fn kind(&self) -> MapperKind {
        MapperKind::SingleView
    }
    fn packs_subpage(&self) -> bool {
        false
    }
    fn base(&self) -> u64 {
        self.map.addr
    }
    fn span(&self) -> u64 {
        self.map.len
    }
    fn working(&self, offset: u64) -> *mut u8 {
        (self.map.addr + offset) as *mut u8
    }
    fn commit(&self, chunks: Range, _pool: Pool) -> Result<(), OsError> {
        self.set(chunks, Prot::RW)
    }
    fn decommit(&self, chunks: Range) -> Result<(), OsError> {
        self.set(chunks, Prot::NONE)
    }
    fn protect(&self, seg: Range, pool: Pool) -> Result<(), OsError> {
        match pool_prot(pool) {
            Prot::RW => Ok(()),
            access => {
                self.set(seg, access)?;
                if access.executable() {
                    sys::flush_icache(self.map.addr + seg.start, seg.len());
                }
                Ok(())
            }
        }
    }
    fn unprotect(&self, seg: Range, pool: Pool) -> Result<(), OsError> {
        match pool_prot(pool) {
            Prot::RW => Ok(()),
            _ => self.set(seg, Prot::RW),
        }
    }
    fn release(&self, pages: Range) -> Result<(), OsError> {
        self.counters.count_madvise();
        // SAFETY: the slab releases only pages with no live byte, inside our reservation.
        unsafe { sys::discard(self.map.addr + pages.start, pages.len()) }
    }
    fn counters(&self) -> &SysCounters {
        &self.counters
    }
}
