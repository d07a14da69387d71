//! Statistics and the heap map of a manager.
//!
//! Concurrency: both are taken under the manager's lock, as one consistent snapshot.

use std::fmt::Write;

use crate::backend::{RoundCounts, SharingPath};
use crate::mapper::remote::RpcCounts;
use crate::mapper::{MapperKind, SysCounts};
use crate::slab::{Pool, PoolStats, Slab};

use super::{Counts, Manager};

/// One pool's figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStatsEntry {
    pub pool: Pool,
    pub stats: PoolStats,
}

/// A snapshot of a manager's state and history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stats {
    pub mapper: MapperKind,
    /// Executor address of the reservation and its size.
    pub base: u64,
    pub reserved: u64,
    pub page: u64,
    pub chunk: u64,
    /// Bytes of the reservation not given to any pool.
    pub unassigned: u64,
    pub pools: [PoolStatsEntry; 3],
    /// Largest free range anywhere (in a pool or unassigned).
    pub largest_free: u64,
    pub live_allocations: u64,
    pub allocations: u64,
    pub finalizes: u64,
    pub failed_finalizes: u64,
    pub deallocations: u64,
    pub abandons: u64,
    /// Bytes kept out of circulation for good because their protection could not be undone.
    pub leaked_bytes: u64,
    pub sys: SysCounts,
    /// Calls to the executor and their bytes (zero for a local manager).
    pub rpc: RpcCounts,
    /// Why a remote manager stopped working: its executor connection was lost.
    pub connection_lost: Option<String>,
    /// How a native remote manager obtained the region's file (`None` otherwise).
    pub sharing: Option<SharingPath>,
    /// The group-commit rounds of a native remote manager and the calls they made.
    pub rounds: Option<RoundCounts>,
}

impl Stats {
    pub(super) fn collect(m: &Manager, slab: &Slab, live: u64, c: &Counts) -> Stats {
        let l = slab.layout();
        let (base, reserved) = m.reservation();
        Stats {
            mapper: m.mapper_kind(),
            base,
            reserved,
            page: l.page.get(),
            chunk: l.chunk.get(),
            unassigned: slab.unassigned_bytes(),
            pools: Pool::ALL.map(|pool| PoolStatsEntry { pool, stats: slab.pool_stats(pool) }),
            largest_free: slab.largest_free(),
            live_allocations: live,
            allocations: c.allocations,
            finalizes: c.finalizes,
            failed_finalizes: c.failed_finalizes,
            deallocations: c.deallocations,
            abandons: c.abandons,
            leaked_bytes: c.leaked_bytes,
            sys: m.mapper.counters().snapshot(),
            rpc: m.backend.rpc_counts(),
            sharing: m.sharing_path(),
            rounds: m.native_round_counts(),
            connection_lost: m.backend.lost(),
        }
    }

    /// Bytes of live segments in all pools.
    pub fn live_bytes(&self) -> u64 {
        self.pools.iter().map(|p| p.stats.live).sum()
    }

    /// Bytes of pages holding live data in all pools.
    pub fn committed_bytes(&self) -> u64 {
        self.pools.iter().map(|p| p.stats.committed).sum()
    }
}

impl std::fmt::Display for Stats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "jitslab: {} reservation [{:#x}, {:#x}) of {:#x} bytes; {:#x} unassigned, largest free range {:#x}",
            self.mapper,
            self.base,
            self.base + self.reserved,
            self.reserved,
            self.unassigned,
            self.largest_free
        )?;
        for p in &self.pools {
            let s = &p.stats;
            writeln!(
                f,
                "  {:<17} reserved {:>#10x}  committed {:>#10x}  live {:>#10x} in {:>6} segments  free ranges {:>5}, largest {:#x}, kept free {:#x}",
                p.pool.name(),
                s.reserved,
                s.committed,
                s.live,
                s.live_segments,
                s.free_ranges,
                s.largest_free,
                s.kept
            )?;
        }
        writeln!(
            f,
            "  allocations {} (live {}), finalizes {} (failed {}), deallocations {}, abandons {}",
            self.allocations,
            self.live_allocations,
            self.finalizes,
            self.failed_finalizes,
            self.deallocations,
            self.abandons
        )?;
        write!(
            f,
            "  system calls: mmap {}, mprotect {}, madvise {}, fallocate {}",
            self.sys.mmap, self.sys.mprotect, self.sys.madvise, self.sys.fallocate
        )?;
        if matches!(self.mapper, MapperKind::RemoteStock | MapperKind::RemoteNative) {
            let protocol = match self.sharing {
                None => "stock (LLVM's ExecutorSharedMemoryMapperService; named object, unlinked at once)".to_string(),
                Some(path) => format!("native (jitslab's executor service; {path})"),
            };
            write!(
                f,
                "\n  protocol: {protocol}\n  executor calls: {} ({} bytes sent, {} received)",
                self.rpc.calls, self.rpc.bytes_sent, self.rpc.bytes_received
            )?;
        }
        if let Some(r) = &self.rounds {
            write!(
                f,
                "\n  group commit: {} rounds ({} sent by the hold timer); calls: finalize {} ({} allocations), \
                 deallocate {}",
                r.rounds, r.timed_out, r.finalize_calls, r.allocations_sent, r.deallocate_calls
            )?;
        }
        if let Some(why) = &self.connection_lost {
            write!(f, "\n  stopped: {why}")?;
        }
        Ok(())
    }
}

/// The heap map: a header, then one symbol per chunk, 64 to a line, each line headed by its
/// executor address; runs of unassigned lines are folded into one.
///
/// A chunk is `.` when unassigned, else its pool's letter (`X` code, `R` read-only, `W`
/// read-write) in upper case when at least half full and lower case below.
pub(super) fn heap_map(m: &Manager, slab: &Slab) -> String {
    const PER_LINE: usize = 64;
    let l = slab.layout();
    let (base, span) = m.reservation();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "jitslab heap map: {} [{base:#x}, {:#x}), {} chunks of {:#x} bytes, {PER_LINE} per line",
        m.mapper_kind(),
        base + span,
        l.chunks(),
        l.chunk.get()
    );
    let _ =
        writeln!(out, "  X/x code (r-x), R/r read-only, W/w read-write: upper case at least half full; . unassigned");
    let map = slab.chunk_map();
    let mut folded = 0usize;
    for (i, line) in map.chunks(PER_LINE).enumerate() {
        if line.iter().all(|c| c.owner.is_none()) {
            folded += line.len();
            continue;
        }
        if folded > 0 {
            let _ = writeln!(out, "  ... {folded} unassigned chunks");
            folded = 0;
        }
        let addr = base + (i * PER_LINE) as u64 * l.chunk.get();
        let symbols: String = line
            .iter()
            .map(|c| match c.owner {
                None => '.',
                Some(p) if c.live * 2 >= l.chunk.get() => p.letter(),
                Some(p) => p.letter().to_ascii_lowercase(),
            })
            .collect();
        let _ = writeln!(out, "  {addr:#014x} {symbols}");
    }
    if folded > 0 {
        let _ = writeln!(out, "  ... {folded} unassigned chunks");
    }
    out
}
