//! Where the reservation goes: anywhere, near an address, or low.
//!
//! The choice of base is a pure function of the process's current mappings
//! ([`choose_base`]); the reservation itself is one `mmap` with `MAP_FIXED_NOREPLACE`, retried if
//! another thread mapped the chosen gap in the meantime.
//!
//! Concurrency: stateless; races with other threads' mappings are handled by the retry.

use crate::error::{Error, ErrorKind};
use crate::slab::MAX_SPAN;
use crate::sys;

use super::SysCounters;

/// Where a manager's reservation must lie.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Placement {
    /// Wherever the kernel puts it.
    #[default]
    Anywhere,
    /// Wholly within ±2 GiB of this address (e.g. the host binary or libc), so JIT'd code can
    /// reach it with PC-relative 32-bit fixups.
    Near(u64),
    /// Wholly below 2 GiB, for non-PIC code with absolute 32-bit relocations.
    Low,
}

/// The highest user-space address on x86-64 with 4-level paging.
const USER_TOP: u64 = 0x7fff_ffff_f000;
/// Bases are aligned to this, so the reservation starts on a huge-page boundary where it can.
const BASE_ALIGN: u64 = 2 << 20;

/// The window `[lo, hi)` that must contain the whole reservation, or `None` for anywhere.
pub fn window(placement: Placement, min_addr: u64) -> Option<(u64, u64)> {
    match placement {
        Placement::Anywhere => None,
        Placement::Low => Some((min_addr, MAX_SPAN)),
        // Every byte a of the span satisfies |a - x| < 2^31.
        Placement::Near(x) => {
            Some((x.saturating_sub(MAX_SPAN - 1).max(min_addr), x.saturating_add(MAX_SPAN).min(USER_TOP)))
        }
    }
}

/// Picks a base for `span` bytes inside `window`, in a gap between the `mapped` ranges (sorted,
/// `[start, end)`). Near an address, the gap position closest to it wins; low, the lowest.
/// Returns `None` when no gap inside the window holds the span.
pub fn choose_base(
    mapped: &[(u64, u64)],
    window: (u64, u64),
    span: u64,
    target: Option<u64>,
    page: u64,
) -> Option<u64> {
    let (lo, hi) = window;
    let mut gaps = Vec::new();
    let mut at = 0u64;
    for &(s, e) in mapped.iter().chain(std::iter::once(&(USER_TOP, USER_TOP))) {
        if s > at {
            gaps.push((at, s));
        }
        at = at.max(e);
    }
    let mut best: Option<(u64, u64)> = None; // (distance, base)
    for (gs, ge) in gaps {
        let (gs, ge) = (gs.max(lo), ge.min(hi));
        let Some(first) = align_up(gs, page) else { continue };
        let Some(last) = ge.checked_sub(span).map(|l| l & !(page - 1)) else { continue };
        if first > last {
            continue;
        }
        // Prefer a huge-page-aligned base when the gap allows one.
        let pick = |want: u64| {
            let b = want.clamp(first, last);
            let aligned = b & !(BASE_ALIGN - 1);
            if aligned >= first {
                aligned
            } else {
                align_up(b, BASE_ALIGN).filter(|&a| a <= last).unwrap_or(b)
            }
        };
        let (base, dist) = match target {
            Some(x) => {
                let b = pick(x.saturating_sub(span / 2));
                (b, x.abs_diff(b).max(x.abs_diff(b + span)))
            }
            None => {
                let b = pick(first);
                (b, b)
            }
        };
        if best.is_none_or(|(d, _)| dist < d) {
            best = Some((dist, base));
        }
    }
    best.map(|(_, b)| b)
}

fn align_up(v: u64, a: u64) -> Option<u64> {
    v.checked_add(a - 1).map(|x| x & !(a - 1))
}

/// Reserves `span` bytes of inaccessible address space placed as asked. The error says what was
/// asked, where, and why it could not be had: a placement error when no gap in the window holds
/// the span (or the gaps kept being taken), an OS error when an OS call failed.
pub(crate) fn reserve(span: u64, placement: Placement, page: u64, counters: &SysCounters) -> Result<u64, Error> {
    let Some(win) = window(placement, sys::mmap_min_addr().max(page)) else {
        counters.count_mmap();
        return sys::reserve(span, None)
            .map_err(|e| Error::from(e).prefixed(&format!("cannot reserve {span:#x} bytes: ")));
    };
    let what = match placement {
        Placement::Near(x) => format!("within ±2 GiB of {x:#x}"),
        _ => "below 2 GiB".to_string(),
    };
    let target = match placement {
        Placement::Near(x) => Some(x),
        _ => None,
    };
    let cannot_place = format!("cannot place a {span:#x}-byte reservation {what}: ");
    let mut last_err = None;
    for _ in 0..8 {
        let mapped = sys::mapped_ranges()
            .map_err(|e| Error::from(e).prefixed(&format!("cannot place the reservation {what}: ")))?;
        let Some(base) = choose_base(&mapped, win, span, target, page) else {
            return Err(Error::new(
                ErrorKind::Placement,
                format!(
                    "{cannot_place}no free gap that large in [{:#x}, {:#x}); use a smaller span or another placement",
                    win.0, win.1
                ),
            ));
        };
        counters.count_mmap();
        match sys::reserve(span, Some(base)) {
            Ok(b) => return Ok(b),
            // Another thread mapped into the gap since we read the map: look again.
            Err(e) if e.errno == libc::EEXIST => last_err = Some(e),
            Err(e) => return Err(Error::from(e).prefixed(&cannot_place)),
        }
    }
    Err(Error::new(
        ErrorKind::Placement,
        format!(
            "{cannot_place}the address space kept changing ({})",
            last_err.map_or(String::new(), |e| e.to_string())
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const G: u64 = 1 << 30;

    #[test]
    fn low_window_takes_the_lowest_gap_that_fits() {
        let mapped = [(0x40_0000, 0x50_0000), (0x1000_0000, 0x1100_0000)];
        let w = window(Placement::Low, 0x1_0000).unwrap();
        assert_eq!(choose_base(&mapped, w, 0x100_0000, None, 4096), Some(0x60_0000));
        // Too big for any gap below 2 GiB.
        assert_eq!(choose_base(&[(0x4000_0000, 0x4000_1000)], w, 0x7000_0000, None, 4096), None);
    }

    #[test]
    fn near_window_keeps_the_whole_span_within_2_gib_of_the_target() {
        let x = 0x5555_0000_0000u64;
        let mapped = [(x - 0x10_0000, x + 0x10_0000)];
        let w = window(Placement::Near(x), 0x1_0000).unwrap();
        for span in [0x10_0000, G, 2 * G - 0x20_0000] {
            let b = choose_base(&mapped, w, span, Some(x), 4096).unwrap_or_else(|| panic!("span {span:#x}"));
            assert!(b + span <= mapped[0].0 || b >= mapped[0].1, "overlaps the mapping");
            assert!(x.abs_diff(b) < MAX_SPAN && x.abs_diff(b + span - 1) < MAX_SPAN, "base {b:#x} span {span:#x}");
        }
        // A 2 GiB span cannot sit on either side of a mapping that contains the target.
        assert_eq!(choose_base(&mapped, w, 2 * G, Some(x), 4096), None);
    }

    #[test]
    fn real_low_and_near_reservations_honour_their_windows() {
        let counters = SysCounters::default();
        let page = sys::page_size();
        let low = reserve(16 << 20, Placement::Low, page, &counters).unwrap();
        assert!(low + (16 << 20) <= MAX_SPAN);
        let x = (real_low_and_near_reservations_honour_their_windows as fn()) as usize as u64;
        let near = reserve(G, Placement::Near(x), page, &counters).unwrap();
        assert!(x.abs_diff(near) < MAX_SPAN && x.abs_diff(near + G - 1) < MAX_SPAN);
        // SAFETY: both ranges were reserved above and nothing uses them.
        unsafe {
            sys::unmap(low, 16 << 20).unwrap();
            sys::unmap(near, G).unwrap();
        }
    }
}
