//! The manager over a mapper whose OS calls fail on demand: every failure is reported as an OS
//! error, rolls back or leaks exactly what it must, and leaves the manager usable.

use super::*;
use crate::{mapper, sys};

/// Which operations a [`Faulty`] mapper fails; shared with the test that flips them.
#[derive(Default)]
struct Faults {
    /// Fail the n-th commit from now (1 = the next one; 0 = none).
    commit: AtomicU32,
    /// Fail giving read-only segments their protection.
    protect: AtomicBool,
    /// Fail undoing a protection.
    unprotect: AtomicBool,
    /// Fail returning pages to the OS.
    release: AtomicBool,
}

/// A real mapper that fails the operations its [`Faults`] name.
struct Faulty {
    real: Box<dyn Mapper>,
    faults: Arc<Faults>,
}

fn injected(call: &str) -> sys::OsError {
    sys::OsError { call: format!("{call} (injected)"), errno: libc::ENOMEM }
}

impl Mapper for Faulty {
    fn kind(&self) -> MapperKind {
        self.real.kind()
    }
    fn packs_subpage(&self) -> bool {
        self.real.packs_subpage()
    }
    fn base(&self) -> u64 {
        self.real.base()
    }
    fn span(&self) -> u64 {
        self.real.span()
    }
    fn working(&self, offset: u64) -> *mut u8 {
        self.real.working(offset)
    }
    fn commit(&self, chunks: Range, pool: Pool) -> Result<(), sys::OsError> {
        let n = self.faults.commit.load(SeqCst);
        if n > 0 {
            self.faults.commit.store(n - 1, SeqCst);
            if n == 1 {
                return Err(injected("commit"));
            }
        }
        self.real.commit(chunks, pool)
    }
    fn decommit(&self, chunks: Range) -> Result<(), sys::OsError> {
        self.real.decommit(chunks)
    }
    fn protect(&self, seg: Range, pool: Pool) -> Result<(), sys::OsError> {
        if self.faults.protect.load(SeqCst) && pool == Pool::ReadOnly {
            return Err(injected("protect"));
        }
        self.real.protect(seg, pool)
    }
    fn unprotect(&self, seg: Range, pool: Pool) -> Result<(), sys::OsError> {
        // Only a real protection change can fail: read-write segments never had one.
        if self.faults.unprotect.load(SeqCst) && pool != Pool::ReadWrite {
            return Err(injected("unprotect"));
        }
        self.real.unprotect(seg, pool)
    }
    fn release(&self, pages: Range) -> Result<(), sys::OsError> {
        if self.faults.release.load(SeqCst) {
            return Err(injected("release"));
        }
        self.real.release(pages)
    }
    fn counters(&self) -> &crate::mapper::SysCounters {
        self.real.counters()
    }
}

fn faulty_manager(choice: MapperChoice) -> (Manager, Arc<Faults>) {
    let config = Config { span: 16 * MB, mapper: choice, log_fallback: false, ..Config::default() };
    let mcfg = MapperConfig { span: config.span, placement: Placement::Anywhere, choice, page: sys::page_size() };
    let (real, _) = mapper::create(&mcfg).unwrap();
    let faults = Arc::new(Faults::default());
    let m = Manager::with_mapper(&config, Box::new(Faulty { real, faults: Arc::clone(&faults) }), None).unwrap();
    (m, faults)
}

/// An OS failure while committing a chunk for the second segment: the request fails with the
/// OS error and gives back the first segment and the chunk it committed; nothing leaks.
#[test]
fn commit_failure_midway_through_a_request_rolls_it_back() {
    let (m, f) = faulty_manager(MapperChoice::DualView);
    f.commit.store(2, SeqCst);
    let e = m.allocate(&[seg(RX, Lifetime::Standard, 100), seg(RW, Lifetime::Standard, 100)]).unwrap_err();
    assert!(e.kind() == ErrorKind::Os && e.message().contains("commit (injected)"), "{e}");
    let st = m.stats();
    assert_eq!((st.live_bytes(), st.unassigned, st.live_allocations), (0, 16 * MB, 0));
    m.lock().unwrap().slab.check().unwrap();
    let (id, _) = m.allocate(&[seg(RX, Lifetime::Standard, 100), seg(RW, Lifetime::Standard, 100)]).unwrap();
    m.abandon(id).unwrap();
}

/// An OS failure while applying protections at finalize rolls the allocation back, like a
/// failing action.
#[test]
fn protect_failure_at_finalize_rolls_back() {
    let (m, f) = faulty_manager(MapperChoice::SingleView);
    let (id, _) = m.allocate(&[seg(RX, Lifetime::Standard, 100), seg(R, Lifetime::Standard, 100)]).unwrap();
    f.protect.store(true, SeqCst);
    // SAFETY: no actions.
    let e = unsafe { m.finalize(id, &[recorded_pair("never:f", "never:d")]) }.unwrap_err();
    assert!(e.kind() == ErrorKind::Os && e.message().contains("protect (injected)"), "{e}");
    assert!(take_log("never:").is_empty(), "no action runs when protections fail");
    let st = m.stats();
    assert_eq!((st.live_bytes(), st.live_allocations, st.failed_finalizes), (0, 0, 1));
    // The code segment had been made r-x; it is writable again for its next owner.
    f.protect.store(false, SeqCst);
    let (id, s) = m.allocate(&[seg(RX, Lifetime::Standard, 100)]).unwrap();
    write(&s[0], &[0xc3]);
    m.abandon(id).unwrap();
}

/// Memory whose protection cannot be undone is never reused: it stays live (leaked) and the
/// call says so; everything else of the batch is returned.
#[test]
fn unprotect_failure_leaks_that_memory_and_reports_it() {
    let (m, f) = faulty_manager(MapperChoice::SingleView);
    let (a, _) = m.allocate(&[seg(RX, Lifetime::Standard, 100), seg(RW, Lifetime::Standard, 100)]).unwrap();
    // SAFETY: no actions.
    unsafe { m.finalize(a, &[]) }.unwrap();
    f.unprotect.store(true, SeqCst);
    // SAFETY: no actions.
    let e = unsafe { m.deallocate(&[a]) }.unwrap_err();
    assert!(
        e.kind() == ErrorKind::Os && e.message().contains("leaked") && e.message().contains("unprotect (injected)"),
        "{e}"
    );
    let st = m.stats();
    assert_eq!(st.pools[Pool::Code as usize].stats.live, m.page_size(), "the code page is kept out of circulation");
    assert_eq!(st.pools[Pool::ReadWrite as usize].stats.live, 0, "the rw segment (never protected) is returned");
    assert_eq!(st.live_allocations, 0);
    assert_eq!(st.leaked_bytes, m.page_size());
}

/// A finalize-lifetime segment whose protection cannot be undone after finalize is leaked and
/// counted, but the finalize itself succeeded: the allocation is usable and deallocates
/// normally (reporting a failed finalize would strand it, since JITLink forgets it then).
#[test]
fn unprotect_failure_after_a_successful_finalize_still_finalizes() {
    let (m, f) = faulty_manager(MapperChoice::SingleView);
    let (a, _) = m.allocate(&[seg(RX, Lifetime::Standard, 100), seg(R, Lifetime::Finalize, 100)]).unwrap();
    f.unprotect.store(true, SeqCst);
    // SAFETY: recorded actions.
    unsafe { m.finalize(a, &[recorded_pair("leakfin:f", "leakfin:d")]) }.unwrap();
    let st = m.stats();
    assert_eq!((st.finalizes, st.failed_finalizes, st.leaked_bytes), (1, 0, m.page_size()));
    f.unprotect.store(false, SeqCst);
    // SAFETY: recorded actions.
    unsafe { m.deallocate(&[a]) }.unwrap();
    assert_eq!(take_log("leakfin:"), ["leakfin:f", "leakfin:d"]);
}

/// When pages cannot be returned to the OS, their bytes are zeroed instead, so reuse still
/// reads zeros.
#[test]
fn release_failure_falls_back_to_zeroing() {
    for choice in [MapperChoice::DualView, MapperChoice::SingleView] {
        let (m, f) = faulty_manager(choice);
        let size = 4 * m.page_size();
        let (a, s) = m.allocate(&[seg(RW, Lifetime::Standard, size)]).unwrap();
        // SAFETY: within the segment.
        unsafe { std::ptr::write_bytes(s[0].working, 0x5a, size as usize) };
        f.release.store(true, SeqCst);
        m.abandon(a).unwrap();
        let (b, t) = m.allocate(&[seg(RW, Lifetime::Standard, size)]).unwrap();
        assert_eq!(t[0].addr, s[0].addr);
        // SAFETY: reading the segment just allocated.
        let bytes = unsafe { std::slice::from_raw_parts(t[0].working, size as usize) };
        assert!(bytes.iter().all(|&b| b == 0), "{choice:?}: reused bytes not zeroed");
        m.abandon(b).unwrap();
    }
}
