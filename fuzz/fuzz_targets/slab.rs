//! The slab's bookkeeping fed arbitrary sequences of allocate, free, undo (an allocation rolled
//! back, as when a finalize fails) and bad frees, checked against a model: the live segments,
//! every byte's content, and which chunks each pool owns (from the slab's chunk map).
//!
//! Checks (besides the slab's own invariant checker, which runs after every mutation because
//! the targets are built with debug assertions): a segment is as long and as aligned as asked,
//! inside the span and overlapping no live one; it reads as zero (freed bytes are zeroed or
//! released); an allocation fails only with a reason that holds: a bad alignment, or no free
//! range of its pool and no run of unassigned chunks that fits it (found by brute force); a
//! free of anything but a live segment is refused; an undone allocation leaves the pools as
//! they were; and once everything is freed, the pools hold nothing live, keep no pages, and
//! hold at most one chunk each.

#![no_main]

use jitslab::testing::fuzzing::{Layout, Range, Slab, SlabError};
use jitslab::Pool;
use jitslab_fuzz::Input;
use libfuzzer_sys::fuzz_target;

const PAGE: u64 = 4096;

struct Model {
    slab: Slab,
    bytes: Vec<u8>,
    live: Vec<(Pool, Range)>,
    /// Per pool, the page bytes of allocations rolled back since the pool was last emptied: a
    /// rollback may count its pages as kept beyond the allowance (the header says so).
    slack: [u64; 3],
}

impl Model {
    fn layout(&self) -> Layout {
        *self.slab.layout()
    }

    /// Whether a `len`-byte segment aligned to `align` has a place: in a free gap of `pool`'s
    /// chunks, or in a run of unassigned chunks.
    fn place_exists(&self, pool: Pool, len: u64, align: u64) -> bool {
        let l = self.layout();
        let c = l.chunk.get();
        let map = self.slab.chunk_map();
        let mut owned_runs: Vec<Range> = Vec::new();
        let mut unassigned_run = 0u64;
        let mut longest_unassigned = 0u64;
        for (i, chunk) in map.iter().enumerate() {
            let r = Range::new(i as u64 * c, (i as u64 + 1) * c);
            if chunk.owner == Some(pool) {
                match owned_runs.last_mut() {
                    Some(last) if last.end == r.start => last.end = r.end,
                    _ => owned_runs.push(r),
                }
            }
            unassigned_run = if chunk.owner.is_none() { unassigned_run + c } else { 0 };
            longest_unassigned = longest_unassigned.max(unassigned_run);
        }
        if l.chunk.align_up(len).is_some_and(|want| want <= longest_unassigned) {
            return true;
        }
        let mut segs: Vec<Range> = self.live.iter().filter(|(p, _)| *p == pool).map(|&(_, r)| r).collect();
        segs.sort_by_key(|r| r.start);
        owned_runs.iter().any(|run| {
            let mut at = run.start;
            let inside = segs.iter().filter(|s| s.start >= run.start && s.end <= run.end);
            for gap_end in inside.map(|s| s.start).chain([run.end]) {
                let start = at.next_multiple_of(align);
                if start.checked_add(len).is_some_and(|e| e <= gap_end) {
                    return true;
                }
                at = segs.iter().find(|s| s.start == gap_end).map_or(gap_end, |s| s.end);
            }
            false
        })
    }

    fn alloc(&mut self, pool: Pool, size: u64, align: u64) -> Option<(Range, Option<Range>)> {
        let l = self.layout();
        let granule = l.granule.get();
        let align_ok = align.max(1).is_power_of_two() && align <= l.page.get();
        let len = l.granule.align_up(size.max(1));
        let before = self.slab.chunk_map();
        match self.slab.allocate(pool, size, align) {
            Ok((seg, fx)) => {
                assert!(align_ok, "allocated with alignment {align:#x}");
                assert!(seg.len() >= size.max(1) && Some(seg.len()) == len, "{seg} for {size:#x}");
                assert_eq!(seg.start % align.max(granule), 0, "{seg} not aligned to {align:#x}");
                assert!(seg.end <= l.span, "{seg} beyond the span {:#x}", l.span);
                for &(_, other) in &self.live {
                    assert!(seg.intersect(other).is_none(), "{seg} overlaps live {other}");
                }
                if let Some(run) = fx.commit {
                    let c = l.chunk.get();
                    assert!(run.start % c == 0 && run.end % c == 0 && run.start <= seg.start && seg.end <= run.end);
                    for i in run.start / c..run.end / c {
                        assert!(before[i as usize].owner.is_none(), "committed chunk {i} had an owner");
                    }
                }
                let bytes = &mut self.bytes[seg.start as usize..seg.end as usize];
                assert!(bytes.iter().all(|&b| b == 0), "the bytes of {seg} are not zero");
                self.live.push((pool, seg));
                Some((seg, fx.commit))
            }
            Err(SlabError::BadAlignment { .. }) => {
                assert!(!align_ok, "alignment {align:#x} refused");
                None
            }
            Err(e @ SlabError::Full { .. }) => {
                let a = align.max(granule);
                let fits = len.is_some_and(|len| len <= l.span && self.place_exists(pool, len, a));
                assert!(!(align_ok && fits), "{e} although a place exists");
                None
            }
            Err(e) => panic!("allocate failed with {e}"),
        }
    }

    fn dirty(&mut self, seg: Range) {
        self.bytes[seg.start as usize..seg.end as usize].fill(0xa5);
    }

    fn free(&mut self, i: usize) {
        let (pool, seg) = self.live.swap_remove(i);
        let fx = self.slab.free(pool, seg).unwrap_or_else(|e| panic!("free of live {seg}: {e}"));
        let page = self.layout().page.get();
        for r in
            fx.zero.iter().flatten().chain(fx.release.iter()).chain(fx.release_kept.iter()).chain(fx.decommit.iter())
        {
            for &(_, other) in &self.live {
                assert!(r.intersect(other).is_none(), "effect on {r} touches live {other}");
            }
        }
        for r in fx.zero.iter().flatten().chain(fx.release.iter()).chain(fx.release_kept.iter()) {
            self.bytes[r.start as usize..r.end as usize].fill(0);
        }
        if let Some(r) = fx.release {
            assert!(r.start % page == 0 && r.end % page == 0, "release {r} is not whole pages");
        }
        assert!(self.bytes[seg.start as usize..seg.end as usize].iter().all(|&b| b == 0), "{seg} not zeroed: {fx:?}");
        if !self.live.iter().any(|&(p, _)| p == pool) {
            self.slack[pool as usize] = 0;
        }
        let kept = self.slab.pool_stats(pool).kept;
        let allowed = self.layout().retain + self.slack[pool as usize];
        assert!(kept <= allowed, "{pool:?} keeps {kept:#x} bytes, more than {allowed:#x}");
        assert_eq!(self.slab.free(pool, seg).err().map(|e| matches!(e, SlabError::NotLive { .. })), Some(true));
    }
}

fn size(input: &mut Input<'_>, l: &Layout) -> u64 {
    let b = input.u8();
    let k = u64::from(b / 8);
    match b % 8 {
        0..=3 => k * 16 + u64::from(b % 3),
        4 => k * PAGE,
        5 => k * l.chunk.get(),
        6 => l.span.wrapping_sub(k * 16),
        _ => input.u64(),
    }
}

fn run(input: &mut Input<'_>) {
    let g = input.u8();
    let chunk = PAGE << (g % 4);
    let span = chunk * u64::from(g / 4 % 8 + 1);
    let packed = g & 0x80 == 0;
    let retain = [0, PAGE, 3 * PAGE, 64 * PAGE][usize::from(input.u8() % 4)];
    let layout = Layout::new(span, PAGE, chunk, packed).expect("a valid geometry").with_retain(retain);
    let mut m = Model { slab: Slab::new(layout), bytes: vec![0; span as usize], live: Vec::new(), slack: [0; 3] };
    for _ in 0..256 {
        if input.0.is_empty() {
            break;
        }
        let op = input.u8();
        let pool = Pool::ALL[usize::from(op / 8 % 3)];
        match op % 8 {
            0..=3 => {
                let size = size(input, &layout);
                let a = input.u8();
                let align = if a == 0xff { input.u64() } else { 1 << (a % 14) };
                if let Some((seg, _)) = m.alloc(pool, size, align) {
                    m.dirty(seg);
                }
            }
            4 | 5 if !m.live.is_empty() => {
                let i = usize::from(input.u8()) % m.live.len();
                m.free(i);
            }
            6 => {
                let size = size(input, &layout);
                let stats_before: Vec<_> = Pool::ALL.iter().map(|&p| m.slab.pool_stats(p)).collect();
                let unassigned = m.slab.unassigned_bytes();
                if let Some((seg, commit)) = m.alloc(pool, size, 16) {
                    m.live.pop();
                    m.slab.undo_allocate(pool, seg, commit);
                    let pages = layout.page.align_up(seg.end).unwrap_or(u64::MAX) - layout.page.align_down(seg.start);
                    m.slack[pool as usize] += pages;
                    assert_eq!(m.slab.unassigned_bytes(), unassigned, "undo of {seg} changed the unassigned bytes");
                    for (p, before) in Pool::ALL.iter().zip(&stats_before) {
                        let after = m.slab.pool_stats(*p);
                        assert_eq!(
                            (after.reserved, after.live, after.live_segments),
                            (before.reserved, before.live, before.live_segments),
                            "undo of {seg} in {p:?}"
                        );
                    }
                }
            }
            _ => {
                // A free of something that is not live: a made-up range, or a live one's
                // neighbour in another pool.
                let start = size(input, &layout) & !15;
                let end = start.saturating_add(size(input, &layout).max(1));
                let r = Range::new(start, end);
                if !m.live.iter().any(|&(p, s)| p == pool && s == r) {
                    let e = m.slab.free(pool, r).expect_err("a free of a range that is not live");
                    assert!(matches!(e, SlabError::NotLive { .. }), "{e}");
                }
            }
        }
    }
    while !m.live.is_empty() {
        m.free(m.live.len() - 1);
    }
    for p in Pool::ALL {
        let s = m.slab.pool_stats(p);
        assert_eq!((s.live, s.live_segments, s.kept), (0, 0, 0), "{p:?} after everything was freed: {s:?}");
        assert!(s.reserved <= layout.chunk.get(), "{p:?} holds {:#x} bytes with nothing live", s.reserved);
    }
    assert!(m.bytes.iter().all(|&b| b == 0), "bytes left dirty after everything was freed");
}

fuzz_target!(|data: &[u8]| run(&mut Input(data)));
