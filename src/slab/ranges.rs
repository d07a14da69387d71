//! A set of disjoint, coalesced byte ranges `[start, end)`, indexed by address and by length.
//!
//! Every operation is O(log n) in the number of ranges. Two ranges that touch are always merged
//! into one, so the set never holds adjacent ranges (the invariant checker verifies it).
//!
//! Concurrency: plain data; the owner (the slab, under the manager's lock) serializes access.

use std::collections::{BTreeMap, BTreeSet};

use super::Range;

/// How many near-miss ranges [`RangeSet::find`] tries before a roomy one.
pub const FIT_TRIES: usize = 8;

/// Where a `len`-byte piece aligned to `align` goes in the range `(length, start)`, if it fits.
fn fits(&(len_here, start): &(u64, u64), len: u64, align: u64) -> Option<u64> {
    let at = start.checked_next_multiple_of(align)?;
    (at.checked_add(len)? <= start + len_here).then_some(at)
}

#[derive(Debug, Default, Clone)]
pub struct RangeSet {
    /// start → end.
    by_start: BTreeMap<u64, u64>,
    /// (length, start), for best fit.
    by_len: BTreeSet<(u64, u64)>,
    total: u64,
}

impl RangeSet {
    /// Adds `r`, merging it with the ranges it touches; returns the merged range.
    /// `r` must not overlap a range already in the set.
    pub fn insert(&mut self, r: Range) -> Range {
        debug_assert!(!r.is_empty());
        debug_assert!(self.overlapping(r).is_none(), "insert of {r:?} overlaps the set");
        let mut merged = r;
        if let Some((&s, &e)) = self.by_start.range(..r.start).next_back() {
            if e == r.start {
                self.unlink(s, e);
                merged.start = s;
            }
        }
        if let Some(&e) = self.by_start.get(&r.end) {
            self.unlink(r.end, e);
            merged.end = e;
        }
        self.link(merged);
        self.total += r.len();
        merged
    }

    /// Takes `r` out of the set; `r` must lie inside one range of the set.
    pub fn remove(&mut self, r: Range) {
        let outer = self.containing(r.start).filter(|o| o.end >= r.end);
        let Some(outer) = outer else {
            debug_assert!(false, "remove of {r:?}, which is not inside one range of the set");
            return;
        };
        self.unlink(outer.start, outer.end);
        if outer.start < r.start {
            self.link(Range::new(outer.start, r.start));
        }
        if r.end < outer.end {
            self.link(Range::new(r.end, outer.end));
        }
        self.total -= r.len();
    }

    /// The range that contains offset `at`, if any.
    pub fn containing(&self, at: u64) -> Option<Range> {
        let (&s, &e) = self.by_start.range(..=at).next_back()?;
        (at < e).then(|| Range::new(s, e))
    }

    /// Some range of the set that overlaps `r`, if any.
    pub fn overlapping(&self, r: Range) -> Option<Range> {
        let (&s, &e) = self.by_start.range(..r.end).next_back()?;
        (e > r.start).then(|| Range::new(s, e))
    }

    /// Best fit: the start of a `len`-byte piece aligned to `align` (a power of two), taken from
    /// the shortest range that holds it, lowest address first among equals. O(log n).
    ///
    /// Any range of at least `len + align - 1` bytes fits whatever its start, so only shorter
    /// ones can fail for alignment. There are none when `align` is no larger than the granule
    /// the ranges are aligned to (the common case); otherwise the first [`FIT_TRIES`] of them
    /// are tried before the shortest roomy range. So this can miss a fit among many misaligned
    /// near-misses; [`RangeSet::find_exhaustive`] cannot, at O(n).
    pub fn find(&self, len: u64, align: u64) -> Option<u64> {
        let roomy = len.checked_add(align - 1)?;
        let near = self.by_len.range((len, 0)..(roomy, 0)).take(FIT_TRIES);
        near.chain(self.by_len.range((roomy, 0)..).take(1)).find_map(|e| fits(e, len, align))
    }

    /// Like [`RangeSet::find`], but looks at every candidate: finds a place whenever one exists.
    pub fn find_exhaustive(&self, len: u64, align: u64) -> Option<u64> {
        self.by_len.range((len, 0)..).find_map(|e| fits(e, len, align))
    }

    pub fn total(&self) -> u64 {
        self.total
    }

    pub fn count(&self) -> usize {
        self.by_start.len()
    }

    pub fn largest(&self) -> u64 {
        self.by_len.last().map_or(0, |&(len, _)| len)
    }

    pub fn iter(&self) -> impl Iterator<Item = Range> + '_ {
        self.by_start.iter().map(|(&s, &e)| Range::new(s, e))
    }

    /// Checks the set's own invariants: ranges non-empty, disjoint, never touching, both indexes
    /// agreeing, and the total adding up.
    pub fn check(&self, what: &str) -> Result<(), String> {
        let mut sum = 0u64;
        let mut prev_end: Option<u64> = None;
        for (&s, &e) in &self.by_start {
            if s >= e {
                return Err(format!("{what}: empty or inverted range [{s:#x}, {e:#x})"));
            }
            if let Some(p) = prev_end {
                if s < p {
                    return Err(format!("{what}: range at {s:#x} overlaps the one ending at {p:#x}"));
                }
                if s == p {
                    return Err(format!("{what}: ranges touching at {s:#x} were not coalesced"));
                }
            }
            if !self.by_len.contains(&(e - s, s)) {
                return Err(format!("{what}: range [{s:#x}, {e:#x}) missing from the length index"));
            }
            prev_end = Some(e);
            sum += e - s;
        }
        if self.by_len.len() != self.by_start.len() {
            return Err(format!(
                "{what}: the length index has {} entries for {} ranges",
                self.by_len.len(),
                self.by_start.len()
            ));
        }
        if sum != self.total {
            return Err(format!("{what}: ranges add up to {sum:#x} but the total says {:#x}", self.total));
        }
        Ok(())
    }

    fn link(&mut self, r: Range) {
        self.by_start.insert(r.start, r.end);
        self.by_len.insert((r.len(), r.start));
    }

    fn unlink(&mut self, start: u64, end: u64) {
        self.by_start.remove(&start);
        self.by_len.remove(&(end - start, start));
    }
}
