//! The slab: pure bookkeeping of one reservation, with no system calls.
//!
//! ```text
//!  offset 0                                                              span
//!  ├────────┬────────┬────────┬────────┬────────┬────────┬─ ─ ─ ─ ─ ─ ─ ─ ─┤
//!  │ chunk  │ chunk  │ chunk  │ chunk  │ chunk  │ chunk  │   unassigned     │
//!  │ Code   │ Code   │ RO     │ RW     │  (free)│ Code   │   chunks         │
//!  ├────────┴────────┴────────┴────────┴────────┴────────┴─ ─ ─ ─ ─ ─ ─ ─ ─┤
//!  │▓▓▓░░▓▓▓▓▓▓░░░░░│▓▓░░░░░░│▓▓▓▓▓░░░│        │░░░░░░▓▓│                  │
//!  └─ a pool's chunks hold live segments (▓) and coalesced free ranges (░) ───┘
//! ```
//!
//! The reservation is cut into chunks. Each chunk is unassigned or belongs to one pool (one
//! protection class), so code never shares a page with data. A pool grows by taking a run of
//! unassigned chunks (best fit), and gives back chunks that become entirely free. Inside a pool,
//! segments are carved best-fit from coalesced free ranges, at a granule of 16 bytes when the
//! mapper allows sub-page packing and of a page when it does not.
//!
//! Every mutation returns the memory work it implies (commit a chunk, zero freed bytes, release
//! whole free pages, decommit a chunk) as plain data; the manager applies it through a mapper.
//! Invariant: every free byte reads as zero once those effects are applied, so a reused byte is
//! always zero.
//!
//! A pool may keep up to [`Layout::retain`] bytes of whole free pages resident, zeroed in place
//! instead of given back, because giving a page back costs a system call, and in a shared view a
//! TLB shootdown in every process that maps it, and its next use a page fault. Kept pages go
//! back with their chunk when it is decommitted, and all at once when the pool holds no live
//! segment; with `retain` 0 every wholly free page goes back at once.
//!
//! Concurrency: plain data; the manager holds it under its lock.

mod ranges;

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};

pub use ranges::RangeSet;

/// A byte range `[start, end)` of offsets from the start of the reservation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Range {
    pub start: u64,
    pub end: u64,
}

impl Range {
    pub const fn new(start: u64, end: u64) -> Range {
        Range { start, end }
    }
    pub const fn len(&self) -> u64 {
        self.end - self.start
    }
    pub const fn is_empty(&self) -> bool {
        self.start >= self.end
    }
    /// The part of `self` inside `other`, if any.
    pub fn intersect(&self, other: Range) -> Option<Range> {
        let r = Range::new(self.start.max(other.start), self.end.min(other.end));
        (!r.is_empty()).then_some(r)
    }
}

impl fmt::Display for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{:#x}, {:#x})", self.start, self.end)
    }
}

/// A protection class. Each has its own pool of chunks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Pool {
    /// Read + execute.
    Code = 0,
    /// Read only.
    ReadOnly = 1,
    /// Read + write.
    ReadWrite = 2,
}

impl Pool {
    pub const ALL: [Pool; 3] = [Pool::Code, Pool::ReadOnly, Pool::ReadWrite];

    pub fn name(self) -> &'static str {
        match self {
            Pool::Code => "code (r-x)",
            Pool::ReadOnly => "read-only (r--)",
            Pool::ReadWrite => "read-write (rw-)",
        }
    }

    /// One letter for the heap map.
    pub fn letter(self) -> char {
        match self {
            Pool::Code => 'X',
            Pool::ReadOnly => 'R',
            Pool::ReadWrite => 'W',
        }
    }
}

/// A size known to be a non-zero power of two.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pow2(u64);

impl Pow2 {
    pub fn new(v: u64) -> Option<Pow2> {
        v.is_power_of_two().then_some(Pow2(v))
    }
    pub fn get(self) -> u64 {
        self.0
    }
    pub fn align_up(self, v: u64) -> Option<u64> {
        v.checked_add(self.0 - 1).map(|x| x & !(self.0 - 1))
    }
    pub fn align_down(self, v: u64) -> u64 {
        v & !(self.0 - 1)
    }
    pub fn is_aligned(self, v: u64) -> bool {
        v & (self.0 - 1) == 0
    }
}

/// The largest span jitslab reserves: every PC-relative 32-bit fixup inside it is in range.
pub const MAX_SPAN: u64 = 1 << 31;
/// The allocation granule when sub-page packing is on.
pub const PACKED_GRANULE: u64 = 16;

/// The geometry of a slab, validated once by [`Layout::new`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    pub span: u64,
    pub page: Pow2,
    pub chunk: Pow2,
    /// The smallest unit a segment is rounded up to: `PACKED_GRANULE` with sub-page packing,
    /// the page size without.
    pub granule: Pow2,
    /// Bytes of whole free pages each pool may keep resident for reuse (0: none; see the
    /// module docs). Set with [`Layout::with_retain`].
    pub retain: u64,
}

impl Layout {
    /// Checks and completes a slab geometry: `span` bytes in chunks of `chunk` bytes, pages of
    /// `page` bytes. All arithmetic is checked; the error says which rule failed.
    pub fn new(span: u64, page: u64, chunk: u64, packed: bool) -> Result<Layout, String> {
        let page = Pow2::new(page).ok_or_else(|| format!("page size {page:#x} is not a power of two"))?;
        let chunk = Pow2::new(chunk).filter(|c| c.get() >= page.get()).ok_or_else(|| {
            format!("chunk size {chunk:#x} must be a power of two of at least one page ({:#x})", page.get())
        })?;
        if span == 0 || span > MAX_SPAN {
            return Err(format!(
                "span {span:#x} must be between one chunk ({:#x}) and 2 GiB ({MAX_SPAN:#x})",
                chunk.get()
            ));
        }
        if !chunk.is_aligned(span) {
            return Err(format!("span {span:#x} is not a multiple of the chunk size {:#x}", chunk.get()));
        }
        let granule = if packed { Pow2(PACKED_GRANULE.min(page.get())) } else { page };
        Ok(Layout { span, page, chunk, granule, retain: 0 })
    }

    /// The same layout with pools keeping up to `bytes` of whole free pages resident.
    pub fn with_retain(self, bytes: u64) -> Layout {
        Layout { retain: bytes, ..self }
    }

    pub fn chunks(&self) -> u64 {
        self.span / self.chunk.get()
    }

    /// The pages wholly inside free range `merged` that hold a byte of `seg` (which lies in
    /// `merged`): the pages that freeing `seg` made wholly free. Empty if there are none.
    fn newly_free_pages(&self, seg: Range, merged: Range) -> Range {
        let page = self.page;
        Range::new(
            page.align_down(seg.start).max(page.align_up(merged.start).unwrap_or(u64::MAX)),
            page.align_up(seg.end).unwrap_or(u64::MAX).min(page.align_down(merged.end)),
        )
    }
}

/// Memory work implied by growing a pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AllocEffects {
    /// Chunks newly given to the pool: make them accessible with the pool's protection.
    pub commit: Option<Range>,
}

/// Memory work implied by a free, to apply in field order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FreeEffects {
    /// Freed bytes on pages that stay in use or are kept resident: write zeros over them.
    pub zero: [Option<Range>; 2],
    /// Whole pages that became free: give them back to the OS (they read as zero afterwards).
    pub release: Option<Range>,
    /// Kept free pages that go back now (whole ranges, all free; some of their pages may be
    /// back already): a chunk run being decommitted, or every chunk of a pool left with no
    /// live segment. Empty, and no allocation, in the common case.
    pub release_kept: Vec<Range>,
    /// Chunks given back to the reservation: make them inaccessible.
    pub decommit: Option<Range>,
}

/// Why an allocation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlabError {
    /// Alignment above a page, or not a power of two.
    BadAlignment { align: u64, page: u64 },
    /// No room: the request, and the free bytes and largest free range that the pool could
    /// use (its own free ranges and the unassigned chunks).
    Full { pool: Pool, size: u64, free: u64, largest: u64 },
    /// A free of a range that is not a live segment.
    NotLive { pool: Pool, range: Range },
}

impl fmt::Display for SlabError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SlabError::BadAlignment { align, page } => write!(
                f,
                "alignment {align:#x} is not supported: it must be a power of two no larger than the page size ({page:#x})"
            ),
            SlabError::Full { pool, size, free, largest } => write!(
                f,
                "reservation full: a {size:#x}-byte {} segment does not fit; {free:#x} bytes are free for it and \
                 the largest free range it can use is {largest:#x} bytes (use a larger span)",
                pool.name()
            ),
            SlabError::NotLive { pool, range } => {
                write!(f, "{range} is not a live segment of the {} pool", pool.name())
            }
        }
    }
}

#[derive(Debug, Default, Clone)]
struct PoolState {
    /// Chunk runs owned by this pool.
    owned: RangeSet,
    /// Free bytes inside `owned`.
    free: RangeSet,
    /// Live segments inside `owned`: start → end.
    live: HashMap<u64, u64, BuildHasherDefault<NumberHasher>>,
    live_bytes: u64,
    /// Bytes of whole free pages kept resident (their bits in [`Slab::kept`]).
    kept_bytes: u64,
}

/// Statistics of one pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PoolStats {
    /// Bytes of chunks given to the pool (accessible address space).
    pub reserved: u64,
    /// Bytes of pages that hold at least one live byte: the most the pool can have resident.
    pub committed: u64,
    /// Bytes of live segments, rounded to the granule.
    pub live: u64,
    pub live_segments: u64,
    pub free_ranges: u64,
    pub largest_free: u64,
    /// Bytes of whole free pages kept resident for reuse.
    pub kept: u64,
}

/// One chunk in the heap map: its owner and how many live bytes it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkUse {
    pub owner: Option<Pool>,
    pub live: u64,
}

/// Hashes numbers jitslab chooses itself (allocation ids, segment offsets), not an adversary's:
/// one multiply, folded so that the low bits, which pick a hash table's bucket, depend on every
/// bit of the number (offsets are multiples of the granule). Far cheaper than SipHash.
#[derive(Default)]
pub(crate) struct NumberHasher(u64);

impl Hasher for NumberHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(self.0 << 8 | u64::from(b));
        }
    }
    fn write_u64(&mut self, n: u64) {
        let h = n.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        self.0 = h ^ (h >> 32);
    }
}

/// One bit per page of the span: the whole free pages kept resident. Empty, and every
/// operation a no-op, when the layout keeps none.
#[derive(Debug, Clone, Default)]
struct PageBits {
    words: Vec<u64>,
    page_shift: u32,
}

impl PageBits {
    fn new(l: &Layout) -> PageBits {
        let page_shift = l.page.get().trailing_zeros();
        let words = if l.retain == 0 { Vec::new() } else { vec![0; (l.span >> page_shift).div_ceil(64) as usize] };
        PageBits { words, page_shift }
    }

    /// The (word index, mask) pairs that cover the pages of `r`, which is page-aligned.
    fn masks(page_shift: u32, r: Range) -> impl Iterator<Item = (usize, u64)> {
        let (mut page, end) = (r.start >> page_shift, r.end >> page_shift);
        std::iter::from_fn(move || {
            (page < end).then(|| {
                let (word, bit) = ((page / 64) as usize, page % 64);
                let n = (end - page).min(64 - bit);
                page += n;
                (word, if n == 64 { !0 } else { ((1u64 << n) - 1) << bit })
            })
        })
    }

    /// Sets (or clears) the bits of the pages of `r`, which is page-aligned; returns the bytes
    /// whose bit changed.
    fn update(&mut self, r: Range, set: bool) -> u64 {
        if self.words.is_empty() {
            return 0;
        }
        let mut changed = 0;
        for (word, mask) in PageBits::masks(self.page_shift, r) {
            let old = self.words[word];
            let new = if set { old | mask } else { old & !mask };
            changed += u64::from((old ^ new).count_ones());
            self.words[word] = new;
        }
        changed << self.page_shift
    }

    /// Bytes of kept pages inside `r` (page-aligned).
    fn count(&self, r: Range) -> u64 {
        if self.words.is_empty() {
            return 0;
        }
        let pages: u32 =
            PageBits::masks(self.page_shift, r).map(|(word, mask)| (self.words[word] & mask).count_ones()).sum();
        u64::from(pages) << self.page_shift
    }
}

/// The bookkeeping of one reservation. See the module docs.
#[derive(Debug, Clone)]
pub struct Slab {
    layout: Layout,
    unassigned: RangeSet,
    pools: [PoolState; 3],
    /// Whole free pages kept resident, of every pool.
    kept: PageBits,
}

impl Slab {
    pub fn new(layout: Layout) -> Slab {
        let mut unassigned = RangeSet::default();
        unassigned.insert(Range::new(0, layout.span));
        Slab { layout, unassigned, pools: Default::default(), kept: PageBits::new(&layout) }
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Carves a segment of `size` bytes aligned to `align` from `pool`, growing the pool by whole
    /// chunks when it has no free range that fits. A size of 0 takes one granule, so that every
    /// segment has an address of its own.
    pub fn allocate(&mut self, pool: Pool, size: u64, align: u64) -> Result<(Range, AllocEffects), SlabError> {
        let l = self.layout;
        let align = Pow2::new(align.max(1))
            .filter(|a| *a <= l.page)
            .ok_or(SlabError::BadAlignment { align, page: l.page.get() })?;
        let align = align.max(l.granule);
        let full = |s: &Slab| s.full_error(pool, size);
        let len = match l.granule.align_up(size.max(1)) {
            Some(len) if len <= l.span => len,
            _ => return Err(full(self)),
        };
        let mut effects = AllocEffects::default();
        let at = match self.pools[pool as usize].free.find(len, align.get()) {
            Some(at) => at,
            None => match self.grow(pool, len) {
                Some(run) => {
                    effects.commit = Some(run);
                    // Chunk runs start chunk-aligned, and a chunk is at least a page (so at least
                    // the alignment): the segment goes at the start of the new run.
                    run.start
                }
                // Before calling the reservation full, look at every free range of the pool: the
                // bounded best fit can miss a place among many misaligned near-misses.
                None => self.pools[pool as usize].free.find_exhaustive(len, align.get()).ok_or_else(|| full(self))?,
            },
        };
        let seg = Range::new(at, at + len);
        let p = &mut self.pools[pool as usize];
        p.free.remove(seg);
        p.live.insert(seg.start, seg.end);
        p.live_bytes += len;
        // Kept pages the segment lands on are in use again (no longer wholly free).
        if let Some(end) = l.page.align_up(seg.end) {
            p.kept_bytes -= self.kept.update(Range::new(l.page.align_down(seg.start), end), false);
        }
        self.debug_check();
        Ok((seg, effects))
    }

    /// Takes back a segment that [`Slab::allocate`] just returned and that no one has touched
    /// (its bytes are still zero), with the chunk run it committed, if any: the slab is left as
    /// if the allocation never happened, so no memory effect is needed beyond undoing the commit.
    pub fn undo_allocate(&mut self, pool: Pool, seg: Range, commit: Option<Range>) {
        let p = &mut self.pools[pool as usize];
        if p.live.remove(&seg.start).is_none() {
            debug_assert!(false, "undo of {seg}, which is not live");
            return;
        }
        p.live_bytes -= seg.len();
        let merged = p.free.insert(seg);
        if let Some(run) = commit {
            p.free.remove(run);
            p.owned.remove(run);
            // The run was fresh, so none of its pages was kept before the allocation; but undoing
            // a later segment of the same allocation (undone first) may have counted some as
            // kept. They leave with the run.
            p.kept_bytes -= self.kept.update(run, false);
            self.unassigned.insert(run);
        } else {
            // The allocation may have taken kept pages; they are wholly free again, and resident
            // if they were. Counting them kept again may count a page that went back: harmless,
            // it only goes back once more with its chunk or pool.
            let again = self.layout.newly_free_pages(seg, merged);
            p.kept_bytes += self.kept.update(again, true);
        }
        if p.live.is_empty() {
            // The pool held no live segment before this allocation, so it kept nothing then
            // (emptying a pool gives back what it keeps); what undoing the allocation's other
            // segments counted as kept was never resident. It keeps nothing now either.
            for run in p.owned.iter() {
                p.kept_bytes -= self.kept.update(run, false);
            }
        }
        self.debug_check();
    }

    /// The error for a `size`-byte segment of `pool` that does not fit: the free bytes and the
    /// largest free range that pool could use (its own free ranges and the unassigned chunks).
    pub fn full_error(&self, pool: Pool, size: u64) -> SlabError {
        let (p, u) = (&self.pools[pool as usize].free, &self.unassigned);
        SlabError::Full { pool, size, free: p.total() + u.total(), largest: p.largest().max(u.largest()) }
    }

    /// Gives `pool` a best-fit run of unassigned chunks holding at least `len` bytes.
    fn grow(&mut self, pool: Pool, len: u64) -> Option<Range> {
        let c = self.layout.chunk;
        let want = c.align_up(len)?;
        let start = self.unassigned.find(want, c.get())?;
        let run = Range::new(start, start + want);
        self.unassigned.remove(run);
        let p = &mut self.pools[pool as usize];
        p.owned.insert(run);
        p.free.insert(run);
        Some(run)
    }

    /// Returns a live segment to its pool, coalescing it with its free neighbours. Gives back the
    /// chunks that became entirely free, keeping one chunk's worth of free space in the pool so
    /// that alternating allocate/free does not commit and decommit a chunk each time; the chunk
    /// kept is the lowest, so what goes back can merge with the unassigned space above it.
    pub fn free(&mut self, pool: Pool, seg: Range) -> Result<FreeEffects, SlabError> {
        let l = self.layout;
        let Slab { unassigned, pools, kept, .. } = self;
        let p = &mut pools[pool as usize];
        if p.live.get(&seg.start) != Some(&seg.end) {
            return Err(SlabError::NotLive { pool, range: seg });
        }
        p.live.remove(&seg.start);
        p.live_bytes -= seg.len();
        let merged = p.free.insert(seg);
        let emptied = p.live.is_empty();

        // Whole chunks inside the merged range go back to the reservation, but for one chunk's
        // worth of free space kept in the pool so that alternating allocate/free does not commit
        // and decommit a chunk each time.
        let interior = Range::new(l.chunk.align_up(merged.start).unwrap_or(u64::MAX), l.chunk.align_down(merged.end));
        let give = if interior.is_empty() {
            interior
        } else {
            let keep = if p.free.total() - interior.len() < l.chunk.get() { l.chunk.get() } else { 0 };
            Range::new(interior.start + keep, interior.end)
        };

        let mut fx = FreeEffects::default();
        // Pages wholly inside the merged free range that hold a byte of `seg`: free for the first
        // time. They are kept resident (zeroed in place) while the pool's allowance lasts, unless
        // the pool has just been emptied or they leave with a chunk; otherwise they go back.
        let rel = l.newly_free_pages(seg, merged);
        let leaving = !give.is_empty() && rel.intersect(give).is_some();
        if rel.is_empty() {
            fx.zero[0] = Some(seg);
        } else if !emptied && !leaving && p.kept_bytes + rel.len() <= l.retain {
            p.kept_bytes += kept.update(rel, true);
            fx.zero[0] = Some(seg);
        } else {
            fx.release = Some(rel);
            fx.zero =
                [Range::new(seg.start, rel.start), Range::new(rel.end, seg.end)].map(|r| (!r.is_empty()).then_some(r));
        }

        if !give.is_empty() {
            p.free.remove(give);
            p.owned.remove(give);
            unassigned.insert(give);
            let was_kept = kept.update(give, false);
            if was_kept > 0 {
                p.kept_bytes -= was_kept;
                fx.release_kept.push(give);
            }
            fx.decommit = Some(give);
        }
        // An emptied pool keeps nothing: whatever it kept goes back with its remaining chunks.
        if emptied && p.kept_bytes > 0 {
            for run in p.owned.iter() {
                let was_kept = kept.update(run, false);
                if was_kept > 0 {
                    p.kept_bytes -= was_kept;
                    fx.release_kept.push(run);
                }
            }
        }
        self.debug_check();
        Ok(fx)
    }

    /// The largest free range, in a pool or unassigned.
    pub fn largest_free(&self) -> u64 {
        self.pools.iter().map(|p| p.free.largest()).fold(self.unassigned.largest(), u64::max)
    }

    pub fn unassigned_bytes(&self) -> u64 {
        self.unassigned.total()
    }

    pub fn pool_stats(&self, pool: Pool) -> PoolStats {
        let p = &self.pools[pool as usize];
        let page = self.layout.page;
        let wholly_free: u64 =
            p.free.iter().map(|r| l_sub(page.align_down(r.end), page.align_up(r.start).unwrap_or(u64::MAX))).sum();
        PoolStats {
            reserved: p.owned.total(),
            committed: p.owned.total() - wholly_free,
            live: p.live_bytes,
            live_segments: p.live.len() as u64,
            free_ranges: p.free.count() as u64,
            largest_free: p.free.largest(),
            kept: p.kept_bytes,
        }
    }

    /// Owner and live bytes of every chunk, in address order (for the heap map).
    pub fn chunk_map(&self) -> Vec<ChunkUse> {
        let c = self.layout.chunk.get();
        let mut map = vec![ChunkUse { owner: None, live: 0 }; self.layout.chunks() as usize];
        for pool in Pool::ALL {
            let p = &self.pools[pool as usize];
            for run in p.owned.iter() {
                for i in run.start / c..run.end / c {
                    map[i as usize].owner = Some(pool);
                }
            }
            for (&s, &e) in &p.live {
                let mut at = s;
                while at < e {
                    let next = ((at / c) + 1) * c;
                    map[(at / c) as usize].live += next.min(e) - at;
                    at = next;
                }
            }
        }
        map
    }

    /// Checks every invariant of the slab: the chunks are partitioned between the unassigned set
    /// and the pools; inside each pool, live segments and free ranges are granule-aligned,
    /// disjoint, inside the pool's chunks and cover them exactly; free ranges are coalesced; the
    /// byte accounting adds up.
    pub fn check(&self) -> Result<(), String> {
        let l = &self.layout;
        self.unassigned.check("unassigned chunks")?;
        let mut chunks: Vec<Range> = self.unassigned.iter().collect();
        for pool in Pool::ALL {
            let p = &self.pools[pool as usize];
            let name = pool.name();
            p.owned.check(&format!("{name} chunks"))?;
            p.free.check(&format!("{name} free ranges"))?;
            chunks.extend(p.owned.iter());

            let mut pieces: Vec<Range> = p.free.iter().collect();
            let mut live_sum = 0;
            for (&s, &e) in &p.live {
                if s >= e {
                    return Err(format!("{name}: empty live segment at {s:#x}"));
                }
                live_sum += e - s;
                pieces.push(Range::new(s, e));
            }
            if live_sum != p.live_bytes {
                return Err(format!(
                    "{name}: live segments add up to {live_sum:#x}, the count says {:#x}",
                    p.live_bytes
                ));
            }
            if live_sum + p.free.total() != p.owned.total() {
                return Err(format!(
                    "{name}: live {live_sum:#x} + free {:#x} != chunks {:#x}",
                    p.free.total(),
                    p.owned.total()
                ));
            }
            let kept: u64 = p.owned.iter().map(|run| self.kept.count(run)).sum();
            if kept != p.kept_bytes {
                return Err(format!(
                    "{name}: {kept:#x} bytes of pages are marked kept, the count says {:#x}",
                    p.kept_bytes
                ));
            }
            if p.live.is_empty() && kept != 0 {
                return Err(format!("{name}: keeps {kept:#x} bytes of pages with no live segment"));
            }
            for (&s, &e) in &p.live {
                let pages = Range::new(l.page.align_down(s), l.page.align_up(e).unwrap_or(u64::MAX));
                if self.kept.count(pages) != 0 {
                    return Err(format!("{name}: a page of live segment {} is marked kept", Range::new(s, e)));
                }
            }
            pieces.sort_unstable();
            for w in pieces.windows(2) {
                if w[0].end > w[1].start {
                    return Err(format!("{name}: {} and {} overlap", w[0], w[1]));
                }
            }
            for r in &pieces {
                if !l.granule.is_aligned(r.start) || !l.granule.is_aligned(r.end) {
                    return Err(format!("{name}: {r} is not aligned to the granule {:#x}", l.granule.get()));
                }
                match p.owned.containing(r.start) {
                    Some(run) if r.end <= run.end => {}
                    _ => return Err(format!("{name}: {r} lies outside the pool's chunks")),
                }
            }
        }
        chunks.sort_unstable();
        let mut at = 0;
        for r in &chunks {
            if r.start != at {
                return Err(format!("chunks: gap or overlap at {at:#x} (next run {r})"));
            }
            if !l.chunk.is_aligned(r.start) || !l.chunk.is_aligned(r.end) {
                return Err(format!("chunks: run {r} is not chunk-aligned"));
            }
            at = r.end;
        }
        if at != l.span {
            return Err(format!("chunks: cover up to {at:#x}, the span is {:#x}", l.span));
        }
        for r in self.unassigned.iter() {
            if self.kept.count(r) != 0 {
                return Err(format!("unassigned chunks {r} hold pages marked kept"));
            }
        }
        Ok(())
    }

    /// Runs [`Slab::check`] after each mutation in debug builds. `cfg!` rather than `#[cfg]`, so
    /// the checker is compiled (and type-checked) in every profile and optimized out of release.
    fn debug_check(&self) {
        if cfg!(debug_assertions) {
            if let Err(e) = self.check() {
                panic!("jitslab slab invariant broken: {e}");
            }
        }
    }
}

fn l_sub(a: u64, b: u64) -> u64 {
    a.saturating_sub(b)
}

#[cfg(test)]
mod tests;
