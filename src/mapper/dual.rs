//! The dual-view mapper: a memfd as large as the span, mapped twice.
//!
//! The executing view replaces the reservation (`MAP_FIXED` over our own `PROT_NONE` range, so
//! placement is kept); each chunk gets its pool's protection there once, when a pool takes it.
//! The working view is read-write everywhere and never executable. Pages are given back by
//! punching holes in the memfd, which drops them from both views at once.
//!
//! Concurrency: see the parent module.

use std::os::fd::OwnedFd;

use crate::error::Error;
use crate::prot::Prot;
use crate::slab::{Pool, Range};
use crate::sys::{self, Mapping, OsError};

use super::{placement, pool_prot, Mapper, MapperConfig, MapperKind, SysCounters};

#[derive(Debug)]
pub(crate) struct DualView {
    exec: Mapping,
    work: Mapping,
    fd: OwnedFd,
    counters: SysCounters,
}

impl DualView {
    /// Sets up both views and checks that the executing view can be made executable (a kernel
    /// with `vm.memfd_noexec = 2` or an SELinux policy can refuse it). The error says which step
    /// failed.
    pub fn new(cfg: &MapperConfig) -> Result<DualView, Error> {
        let counters = SysCounters::default();
        let fd = sys::memfd(c"jitslab", cfg.span)?;
        let base = placement::reserve(cfg.span, cfg.placement, cfg.page, &counters)?;
        let exec = Mapping { addr: base, len: cfg.span };
        counters.count_mmap();
        // SAFETY: `[base, base+span)` is the reservation we just made and own.
        unsafe { sys::map_shared(&fd, cfg.span, Prot::NONE, Some(base)) }?;
        counters.count_mmap();
        // SAFETY: a fresh mapping at an address of the kernel's choice.
        let work = unsafe { sys::map_shared(&fd, cfg.span, Prot::RW, None) }?;
        let work = Mapping { addr: work, len: cfg.span };
        let view = DualView { exec, work, fd, counters };
        let probe = Range::new(0, cfg.page);
        view.commit(probe, Pool::Code)
            .map_err(|e| Error::from(e).prefixed("the memfd cannot be mapped executable: "))?;
        view.decommit(probe)?;
        Ok(view)
    }
}

impl Mapper for DualView {
    fn kind(&self) -> MapperKind {
        MapperKind::DualView
    }
    fn packs_subpage(&self) -> bool {
        true
    }
    fn base(&self) -> u64 {
        self.exec.addr
    }
    fn span(&self) -> u64 {
        self.exec.len
    }
    fn working(&self, offset: u64) -> *mut u8 {
        (self.work.addr + offset) as *mut u8
    }
    fn commit(&self, chunks: Range, pool: Pool) -> Result<(), OsError> {
        self.counters.count_mprotect();
        // SAFETY: the chunks lie in our executing view and were just given to `pool`.
        unsafe { sys::protect(self.exec.addr + chunks.start, chunks.len(), pool_prot(pool)) }
    }
    fn decommit(&self, chunks: Range) -> Result<(), OsError> {
        self.counters.count_mprotect();
        // SAFETY: the chunks lie in our executing view and hold no live segment.
        unsafe { sys::protect(self.exec.addr + chunks.start, chunks.len(), Prot::NONE) }
    }
    fn protect(&self, seg: Range, pool: Pool) -> Result<(), OsError> {
        if pool_prot(pool).executable() {
            sys::flush_icache(self.exec.addr + seg.start, seg.len());
        }
        Ok(())
    }
    fn unprotect(&self, _seg: Range, _pool: Pool) -> Result<(), OsError> {
        Ok(())
    }
    fn release(&self, pages: Range) -> Result<(), OsError> {
        self.counters.count_fallocate();
        // SAFETY: the slab releases only pages with no live byte; nothing references them.
        unsafe { sys::punch_hole(&self.fd, pages.start, pages.len()) }
    }
    fn counters(&self) -> &SysCounters {
        &self.counters
    }
}
