use super::*;
use crate::mapper::{Mapper, MapperConfig};
use crate::testing::{kind, recorded_pair, resident_pages, take_log, with_seed, writable_and_executable_mappings, Rng};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering::SeqCst};
use std::sync::Arc;

const MB: u64 = 1 << 20;

fn manager(choice: MapperChoice, span: u64) -> Manager {
    let m = Manager::new(&Config { span, mapper: choice, log_fallback: false, ..Config::default() }).unwrap();
    if choice == MapperChoice::DualView {
        assert_eq!(m.mapper_kind(), MapperKind::DualView);
    }
    m
}

fn both(span: u64) -> [Manager; 2] {
    [manager(MapperChoice::DualView, span), manager(MapperChoice::SingleView, span)]
}

fn seg(prot: u8, lifetime: Lifetime, size: u64) -> SegmentRequest {
    SegmentRequest { prot: Prot(prot), lifetime, size, align: 16 }
}

const RX: u8 = Prot::READ | Prot::EXEC;
const R: u8 = Prot::READ;
const RW: u8 = Prot::READ | Prot::WRITE;

fn write(s: &Segment, bytes: &[u8]) {
    // SAFETY: tests write only within the segment sizes they asked for.
    unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), s.working, bytes.len()) };
}

fn read_exec(addr: u64, len: usize) -> Vec<u8> {
    // SAFETY: tests read finalized segments, readable in the executing view.
    unsafe { std::slice::from_raw_parts(addr as *const u8, len) }.to_vec()
}

/// Real execution: x86-64 code written through the working view runs from the executing view,
/// reading a constant from the read-only pool and bumping a counter in the read-write pool
/// (RIP-relative, so it also proves the three pools lie within ±2 GiB of each other).
#[cfg(target_arch = "x86_64")]
#[test]
fn jit_code_runs_from_the_executing_view() {
    for m in both(64 * MB) {
        let req = [seg(RX, Lifetime::Standard, 64), seg(R, Lifetime::Standard, 8), seg(RW, Lifetime::Standard, 8)];
        let (id, s) = m.allocate(&req).unwrap();
        let (code, konst, counter) = (s[0], s[1], s[2]);
        // mov rax, [rip+k] ; add qword [rip+c], 1 ; add rax, [rip+c] ; ret
        let rel = |from_end: u64, to: u64| ((to as i64 - (code.addr + from_end) as i64) as i32).to_le_bytes();
        let mut bytes = vec![0x48, 0x8b, 0x05];
        bytes.extend(rel(7, konst.addr));
        bytes.extend([0x48, 0x83, 0x05]);
        bytes.extend(rel(15, counter.addr));
        bytes.push(0x01);
        bytes.extend([0x48, 0x03, 0x05]);
        bytes.extend(rel(22, counter.addr));
        bytes.push(0xc3);
        write(&code, &bytes);
        write(&konst, &40u64.to_le_bytes());
        // SAFETY: no actions.
        unsafe { m.finalize(id, &[]) }.unwrap();
        // SAFETY: the code above is a complete function of this signature.
        let f: extern "C" fn() -> u64 = unsafe { std::mem::transmute(code.addr as usize) };
        assert_eq!(f(), 41);
        assert_eq!(f(), 42);
        assert!(writable_and_executable_mappings().is_empty(), "{:?}", writable_and_executable_mappings());
        // SAFETY: no actions.
        unsafe { m.deallocate(&[id]) }.unwrap();
    }
}

/// W^X: no mapping of the process is ever writable and executable, sampled after every step of
/// a workload in the dual view.
#[test]
fn dual_view_never_maps_a_page_writable_and_executable() {
    let m = manager(MapperChoice::DualView, 64 * MB);
    let mut ids = Vec::new();
    for i in 0..50u64 {
        let (id, s) =
            m.allocate(&[seg(RX, Lifetime::Standard, 100 + i * 97), seg(RW, Lifetime::Standard, 64)]).unwrap();
        write(&s[0], &[0xc3; 100]);
        assert!(writable_and_executable_mappings().is_empty());
        // SAFETY: no actions.
        unsafe { m.finalize(id, &[]) }.unwrap();
        ids.push(id);
        assert!(writable_and_executable_mappings().is_empty());
    }
    // The working view is really separate from the executing view, and never executable.
    let (id, s) = m.allocate(&[seg(RX, Lifetime::Standard, 16)]).unwrap();
    assert_ne!(s[0].addr, s[0].working as u64);
    // SAFETY: ids are finalized allocations of this manager; no actions.
    unsafe { m.deallocate(&ids) }.unwrap();
    m.abandon(id).unwrap();
    assert!(writable_and_executable_mappings().is_empty());
}

/// The dual view applies protections per chunk, never per allocation.
#[test]
fn dual_view_makes_no_mprotect_per_allocation() {
    let m = manager(MapperChoice::DualView, 64 * MB);
    let before = m.stats().sys;
    let mut ids = Vec::new();
    for _ in 0..1000 {
        let (id, _) = m.allocate(&[seg(RX, Lifetime::Standard, 200), seg(R, Lifetime::Standard, 40)]).unwrap();
        // SAFETY: no actions.
        unsafe { m.finalize(id, &[]) }.unwrap();
        ids.push(id);
    }
    let after = m.stats().sys;
    assert!(
        after.mprotect - before.mprotect <= 4,
        "{} mprotects for 1000 allocations",
        after.mprotect - before.mprotect
    );
    // SAFETY: no actions.
    unsafe { m.deallocate(&ids) }.unwrap();
}

/// The code-model guarantee: thousands of allocations of all pools, every pair of addresses
/// within the span (so within 2 GiB).
#[test]
fn thousands_of_allocations_stay_within_one_span() {
    for m in both(256 * MB) {
        let (mut lo, mut hi) = (u64::MAX, 0);
        let mut ids = Vec::new();
        for i in 0..3000u64 {
            let req = [
                seg(RX, Lifetime::Standard, 1 + i % 700),
                seg(R, Lifetime::Standard, 33),
                seg(RW, Lifetime::Finalize, 8),
            ];
            let (id, s) = m.allocate(&req).unwrap();
            for (x, r) in s.iter().zip(&req) {
                lo = lo.min(x.addr);
                hi = hi.max(x.addr + r.size);
            }
            ids.push(id);
        }
        let (base, span) = m.reservation();
        assert!(lo >= base && hi <= base + span, "[{lo:#x}, {hi:#x}) outside the reservation");
        assert!(hi - lo <= span && span <= 1 << 31);
        for id in ids {
            m.abandon(id).unwrap();
        }
        assert_eq!(m.stats().live_bytes(), 0);
    }
}

/// Guards zeroing on reuse: bytes written by a freed allocation read as zero when handed out
/// again, in both views (partial pages are zeroed, whole pages released).
#[test]
fn reused_bytes_are_zeroed() {
    for m in both(64 * MB) {
        let size = 3 * m.page_size() + 100;
        let (a, s) = m.allocate(&[seg(RW, Lifetime::Standard, size), seg(RX, Lifetime::Standard, 40)]).unwrap();
        let (keep, _) = m.allocate(&[seg(RW, Lifetime::Standard, 40)]).unwrap();
        // SAFETY: within the segment.
        unsafe { std::ptr::write_bytes(s[0].working, 0xab, size as usize) };
        write(&s[1], &[0xcc; 40]);
        // SAFETY: no actions.
        unsafe { m.finalize(a, &[]) }.unwrap();
        // SAFETY: no actions.
        unsafe { m.deallocate(&[a]) }.unwrap();
        let (b, t) = m.allocate(&[seg(RW, Lifetime::Standard, size), seg(RX, Lifetime::Standard, 40)]).unwrap();
        assert_eq!(
            (t[0].addr, t[1].addr),
            (s[0].addr, s[1].addr),
            "{:?}: the test needs the same ranges back",
            m.mapper_kind()
        );
        // SAFETY: reading the segments just allocated.
        let (data, code) = unsafe {
            (std::slice::from_raw_parts(t[0].working, size as usize), std::slice::from_raw_parts(t[1].working, 40))
        };
        assert!(data.iter().all(|&b| b == 0), "{:?}: reused data not zeroed", m.mapper_kind());
        assert!(code.iter().all(|&b| b == 0), "{:?}: reused code not zeroed", m.mapper_kind());
        m.abandon(b).unwrap();
        m.abandon(keep).unwrap();
    }
}

/// Guards page return: the pages of a deallocated allocation are no longer resident.
#[test]
fn whole_free_pages_go_back_to_the_os() {
    for m in both(64 * MB) {
        let size = 64 * m.page_size();
        let (id, s) = m.allocate(&[seg(RW, Lifetime::Standard, size)]).unwrap();
        // SAFETY: within the segment.
        unsafe { std::ptr::write_bytes(s[0].working, 1, size as usize) };
        // SAFETY: no actions.
        unsafe { m.finalize(id, &[]) }.unwrap();
        assert_eq!(resident_pages(s[0].addr, size), 64);
        // SAFETY: no actions.
        unsafe { m.deallocate(&[id]) }.unwrap();
        assert_eq!(resident_pages(s[0].addr, size), 0, "{:?}: pages still resident", m.mapper_kind());
        if m.mapper_kind() == MapperKind::DualView {
            assert_eq!(resident_pages(s[0].working as u64, size), 0, "working view still resident");
        }
        assert_eq!(m.stats().committed_bytes(), 0);
    }
}

/// Guards the allowance of kept pages end to end: while another allocation keeps the pool in
/// use, a deallocated allocation's pages stay resident within the allowance (no system call,
/// no page fault on reuse) and read as zero when reused; with an allowance of 0 they go back
/// at once.
#[test]
fn free_pages_within_the_allowance_stay_resident_and_come_back_zeroed() {
    for (retain, stays) in [(DEFAULT_RETAIN_FREE, true), (0, false)] {
        for choice in [MapperChoice::DualView, MapperChoice::SingleView] {
            let cfg =
                Config { span: 64 * MB, mapper: choice, log_fallback: false, retain_free: retain, ..Config::default() };
            let m = Manager::new(&cfg).unwrap();
            let size = 16 * m.page_size();
            let (id, s) = m.allocate(&[seg(RW, Lifetime::Standard, size)]).unwrap();
            let (keeper, _) = m.allocate(&[seg(RW, Lifetime::Standard, 64)]).unwrap();
            // SAFETY: within the segment.
            unsafe { std::ptr::write_bytes(s[0].working, 0xa5, size as usize) };
            // SAFETY: no actions.
            unsafe { m.finalize(keeper, &[]) }.unwrap();
            // SAFETY: no actions.
            unsafe { m.finalize(id, &[]) }.unwrap();
            let calls = m.stats().sys;
            // SAFETY: no actions.
            unsafe { m.deallocate(&[id]) }.unwrap();
            let pages = resident_pages(s[0].addr, size);
            let what = format!("{:?}, allowance {retain:#x}", m.mapper_kind());
            let kept = m.stats().pools[Pool::ReadWrite as usize].stats.kept;
            if stays {
                assert_eq!(pages, 16, "{what}: kept pages went back");
                assert_eq!(kept, size, "{what}");
                assert_eq!(
                    (m.stats().sys.fallocate, m.stats().sys.madvise),
                    (calls.fallocate, calls.madvise),
                    "{what}"
                );
            } else {
                assert_eq!(pages, 0, "{what}: pages still resident");
                assert_eq!(kept, 0, "{what}");
            }
            let (again, s2) = m.allocate(&[seg(RW, Lifetime::Standard, size)]).unwrap();
            assert_eq!(s2[0].addr, s[0].addr, "{what}: best fit reuses the freed range");
            // SAFETY: within the segment, zeroed working memory.
            let bytes = unsafe { std::slice::from_raw_parts(s2[0].working, size as usize) };
            assert!(bytes.iter().all(|&b| b == 0), "{what}: reused bytes are not zero");
            assert_eq!(m.stats().pools[Pool::ReadWrite as usize].stats.kept, 0, "{what}: reused pages are not kept");
            m.abandon(again).unwrap();
        }
    }
}

/// Guards abandon isolation: abandoning the first allocation of a fresh slab returns exactly its
/// ranges; a later allocation's memory stays mapped, intact and finalizable (LLVM 19 unmaps the
/// whole slab here).
#[test]
fn abandon_returns_exactly_that_allocation() {
    for m in both(64 * MB) {
        let (a, sa) = m.allocate(&[seg(RW, Lifetime::Standard, 100)]).unwrap();
        let (b, sb) = m.allocate(&[seg(RW, Lifetime::Standard, 100)]).unwrap();
        write(&sb[0], b"still here");
        let live_before = m.stats().live_bytes();
        m.abandon(a).unwrap();
        assert!(m.stats().live_bytes() < live_before);
        // SAFETY: no actions.
        unsafe { m.finalize(b, &[]) }.unwrap();
        assert_eq!(read_exec(sb[0].addr, 10), b"still here");
        // a's range is free again: the next allocation of the same shape gets it back.
        let (c, sc) = m.allocate(&[seg(RW, Lifetime::Standard, 100)]).unwrap();
        assert_eq!(sc[0].addr, sa[0].addr);
        assert_eq!(kind(m.abandon(a)), Some(ErrorKind::UnknownAllocation), "a second abandon is refused");
        m.abandon(c).unwrap();
        // SAFETY: no actions.
        unsafe { m.deallocate(&[b]) }.unwrap();
    }
}

/// Guards rollback on a failing finalize action: the dealloc actions of the actions that ran
/// run in reverse, the failing action's own dealloc does not, the memory comes back and the id is
/// gone.
#[test]
fn failing_finalize_action_rolls_back() {
    for (i, m) in both(64 * MB).into_iter().enumerate() {
        let p = format!("rollback{i}:");
        let (id, _) = m.allocate(&[seg(RX, Lifetime::Standard, 5000), seg(RW, Lifetime::Finalize, 100)]).unwrap();
        let live = m.stats().live_bytes();
        assert!(live > 0);
        let actions = [
            recorded_pair(&format!("{p}fin1"), &format!("{p}dealloc1")),
            recorded_pair(&format!("{p}fin2"), &format!("{p}dealloc2")),
            recorded_pair(&format!("fail:{p}fin3"), &format!("{p}dealloc3")),
            recorded_pair(&format!("{p}fin4"), &format!("{p}dealloc4")),
        ];
        // SAFETY: recorded actions are wrapper functions of this process.
        let e = unsafe { m.finalize(id, &actions) }.unwrap_err();
        assert!(e.kind() == ErrorKind::ActionFailed && e.message().contains(&format!("refused: fail:{p}fin3")), "{e}");
        let log = take_log(&p);
        let want: Vec<String> = ["fin1", "fin2"]
            .iter()
            .map(|s| format!("{p}{s}"))
            .chain([format!("fail:{p}fin3")])
            .chain(["dealloc2", "dealloc1"].iter().map(|s| format!("{p}{s}")))
            .collect();
        assert_eq!(log, want);
        let st = m.stats();
        assert_eq!((st.live_bytes(), st.live_allocations, st.failed_finalizes), (0, 0, 1));
        assert_eq!(kind(m.abandon(id)), Some(ErrorKind::UnknownAllocation));
    }
}

/// Finalize-lifetime segments are given back right after finalize; NoAlloc segments take no memory.
#[test]
fn lifetimes_finalize_and_noalloc() {
    for m in both(64 * MB) {
        let (id, s) = m
            .allocate(&[
                seg(RX, Lifetime::Standard, 100),
                seg(RW, Lifetime::Finalize, 5000),
                seg(R, Lifetime::NoAlloc, 1 << 40),
            ])
            .unwrap();
        assert_eq!((s[2].addr, s[2].working), (0, std::ptr::null_mut()), "NoAlloc gets neither address nor memory");
        let rw_live = |m: &Manager| m.stats().pools[Pool::ReadWrite as usize].stats.live;
        assert!(rw_live(&m) >= 5000);
        // SAFETY: no actions.
        unsafe { m.finalize(id, &[]) }.unwrap();
        assert_eq!(rw_live(&m), 0, "the finalize-lifetime segment is returned at finalize");
        assert!(m.stats().pools[Pool::Code as usize].stats.live > 0);
        // SAFETY: no actions.
        unsafe { m.deallocate(&[id]) }.unwrap();
        assert_eq!(m.stats().live_bytes(), 0);
    }
}

/// Dealloc actions run allocations last to first, each one's actions last to first.
#[test]
fn deallocate_runs_dealloc_actions_in_reverse_across_the_batch() {
    let m = manager(MapperChoice::Auto, 64 * MB);
    let mut ids = Vec::new();
    for a in 0..3 {
        let (id, _) = m.allocate(&[seg(RW, Lifetime::Standard, 10)]).unwrap();
        let acts: Vec<_> =
            (0..2).map(|k| recorded_pair(&format!("order:f{a}{k}"), &format!("order:d{a}{k}"))).collect();
        // SAFETY: recorded actions.
        unsafe { m.finalize(id, &acts) }.unwrap();
        ids.push(id);
    }
    take_log("order:f");
    // SAFETY: recorded actions.
    unsafe { m.deallocate(&ids) }.unwrap();
    assert_eq!(take_log("order:d"), ["order:d21", "order:d20", "order:d11", "order:d10", "order:d01", "order:d00"]);
}

/// A failing dealloc action is reported, and the memory is returned anyway.
#[test]
fn failing_dealloc_action_is_reported_and_memory_still_returned() {
    let m = manager(MapperChoice::Auto, 64 * MB);
    let (id, _) = m.allocate(&[seg(RW, Lifetime::Standard, 10)]).unwrap();
    // SAFETY: recorded actions.
    unsafe { m.finalize(id, &[recorded_pair("dfail:f", "fail:dfail:d")]) }.unwrap();
    // SAFETY: recorded actions.
    let e = unsafe { m.deallocate(&[id]) }.unwrap_err();
    assert!(
        e.kind() == ErrorKind::ActionFailed
            && e.message().contains("refused: fail:dfail:d")
            && e.message().contains("returned anyway"),
        "{e}"
    );
    assert_eq!(m.stats().live_bytes(), 0);
    take_log("dfail:");
}

/// Wrong calls for an allocation's state are refused, and a bad batch touches nothing.
#[test]
fn lifecycle_misuse_is_refused_and_touches_nothing() {
    let m = manager(MapperChoice::Auto, 64 * MB);
    let (a, _) = m.allocate(&[seg(RW, Lifetime::Standard, 10)]).unwrap();
    let (b, _) = m.allocate(&[seg(RW, Lifetime::Standard, 10)]).unwrap();
    // SAFETY: no actions anywhere below.
    unsafe {
        assert_eq!(kind(m.deallocate(&[a])), Some(ErrorKind::BadState), "deallocate before finalize");
        m.finalize(a, &[]).unwrap();
        assert_eq!(kind(m.finalize(a, &[])), Some(ErrorKind::BadState), "finalize twice");
        assert_eq!(kind(m.abandon(a)), Some(ErrorKind::BadState), "abandon after finalize");
        assert_eq!(kind(m.deallocate(&[a, a])), Some(ErrorKind::InvalidArgument), "duplicate in batch");
        assert_eq!(kind(m.deallocate(&[a, b])), Some(ErrorKind::BadState), "batch with an in-flight id");
        assert_eq!(kind(m.deallocate(&[a, AllocId(999)])), Some(ErrorKind::UnknownAllocation));
        assert_eq!(m.stats().live_allocations, 2, "a refused batch frees nothing");
        m.deallocate(&[a]).unwrap();
        assert_eq!(kind(m.deallocate(&[a])), Some(ErrorKind::UnknownAllocation), "double free");
        assert_eq!(kind(m.finalize(AllocId(0), &[])), Some(ErrorKind::UnknownAllocation));
    }
    m.abandon(b).unwrap();
}

/// A large batch (checked with a set rather than pairwise) refuses a repeated id the same way.
#[test]
fn large_batch_with_a_repeated_id_is_refused_whole() {
    let m = manager(MapperChoice::Auto, 16 * MB);
    let mut ids: Vec<AllocId> = (0..20)
        .map(|_| {
            let (id, _) = m.allocate(&[seg(RW, Lifetime::Standard, 10)]).unwrap();
            // SAFETY: no actions.
            unsafe { m.finalize(id, &[]) }.unwrap();
            id
        })
        .collect();
    ids.push(ids[3]);
    // SAFETY: no actions.
    assert_eq!(kind(unsafe { m.deallocate(&ids) }), Some(ErrorKind::InvalidArgument));
    assert_eq!(m.stats().live_allocations, 20);
    ids.pop();
    // SAFETY: no actions.
    unsafe { m.deallocate(&ids) }.unwrap();
    assert_eq!(m.stats().live_allocations, 0);
}

#[test]
fn bad_requests_get_clear_errors() {
    let m = manager(MapperChoice::Auto, 4 * MB);
    let bad = |r: SegmentRequest| m.allocate(&[seg(R, Lifetime::Standard, 8), r]).unwrap_err();
    assert_eq!(kind(m.allocate(&[])), Some(ErrorKind::InvalidArgument));
    assert!(bad(seg(RW | Prot::EXEC, Lifetime::Standard, 8)).to_string().contains("W^X"));
    assert!(bad(seg(0, Lifetime::Standard, 8)).to_string().contains("no access"));
    assert!(bad(seg(0x10, Lifetime::Standard, 8)).to_string().contains("unknown bits"));
    let e = bad(SegmentRequest { align: 1 << 20, ..seg(R, Lifetime::Standard, 8) });
    assert!(e.kind() == ErrorKind::InvalidArgument && e.message().contains("alignment 0x100000"), "{e}");
    let e = bad(seg(RW, Lifetime::Standard, u64::MAX));
    assert!(
        e.kind() == ErrorKind::Full
            && e.message().contains("0xffffffffffffffff")
            && e.message().contains("bytes are free"),
        "{e}"
    );
    let e = bad(seg(RW, Lifetime::Standard, 5 * MB));
    assert!(e.kind() == ErrorKind::Full && e.message().contains("largest free range it can use is 0x"), "{e}");
    assert_eq!(m.stats().live_bytes(), 0, "a failed request keeps nothing of its earlier segments");
    assert_eq!(m.stats().unassigned, 4 * MB, "nor any chunk it committed");
    // The figures describe the reservation after the request's earlier segments went back.
    let e = m.allocate(&[seg(RX, Lifetime::Standard, 3 * MB), seg(RW, Lifetime::Standard, 2 * MB)]).unwrap_err();
    assert!(e.kind() == ErrorKind::Full && e.message().contains("0x400000 bytes are free"), "{e}");
}

/// Ids are unique across managers: one manager's id given to another is refused.
#[test]
fn an_id_from_another_manager_is_refused() {
    let (a, b) = (manager(MapperChoice::Auto, 4 * MB), manager(MapperChoice::Auto, 4 * MB));
    let (ia, _) = a.allocate(&[seg(RW, Lifetime::Standard, 10)]).unwrap();
    let (ib, _) = b.allocate(&[seg(RW, Lifetime::Standard, 10)]).unwrap();
    assert_ne!(ia, ib);
    assert_eq!(kind(a.abandon(ib)), Some(ErrorKind::UnknownAllocation));
    a.abandon(ia).unwrap();
    b.abandon(ib).unwrap();
}

#[test]
fn a_full_reservation_fails_cleanly_and_recovers() {
    let m = manager(MapperChoice::Auto, MB);
    let mut ids = Vec::new();
    let e = loop {
        match m.allocate(&[seg(RX, Lifetime::Standard, 3000), seg(RW, Lifetime::Standard, 3000)]) {
            Ok((id, _)) => ids.push(id),
            Err(e) => break e,
        }
    };
    assert_eq!(e.kind(), ErrorKind::Full, "{e}");
    assert!(ids.len() > 50);
    for id in ids.drain(..) {
        m.abandon(id).unwrap();
    }
    assert!(m.allocate(&[seg(RX, Lifetime::Standard, 3000)]).is_ok(), "room again after freeing");
}

#[test]
fn low_placement_puts_the_whole_span_below_2_gib() {
    let m =
        Manager::new(&Config { span: 64 * MB, placement: Placement::Low, log_fallback: false, ..Config::default() })
            .unwrap();
    let (base, span) = m.reservation();
    assert!(base + span <= 1 << 31, "[{base:#x}, +{span:#x})");
    let (_, s) = m.allocate(&[seg(RX, Lifetime::Standard, 100)]).unwrap();
    assert!(s[0].addr < 1 << 31);
}

/// The kind of an error is decided where the failure happens: a memfd that cannot be created is
/// an OS failure, whatever placement was asked for (the manager used to guess PLACEMENT from the
/// config). The open-file limit that makes `memfd_create` fail is process-wide, so the check runs
/// in a child: this test binary, re-run on this one test.
#[test]
fn memfd_failure_under_near_placement_is_an_os_error() {
    const CHILD: &str = "JITSLAB_TEST_NO_FILE_DESCRIPTORS";
    let name = "memfd_failure_under_near_placement_is_an_os_error";
    if std::env::var_os(CHILD).is_none() {
        let test = format!("{}::{name}", module_path!().split_once("::").map_or("", |(_, path)| path));
        let exe = std::env::current_exe().expect("the test binary");
        let out = std::process::Command::new(exe)
            .args([test.as_str(), "--exact", "--test-threads=1", "--nocapture"])
            .env(CHILD, "1")
            .output()
            .expect("run the test binary");
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success() && text.contains("1 passed"), "{text}");
        return;
    }
    let no_files = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: a plain system call on a valid struct; this child process opens no file from here on.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &no_files) }, 0);
    let near = (memfd_failure_under_near_placement_is_an_os_error as fn()) as usize as u64;
    for mapper in [MapperChoice::DualView, MapperChoice::Auto] {
        let config = Config { placement: Placement::Near(near), mapper, log_fallback: false, ..Config::default() };
        let e = Manager::new(&config).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Os, "{mapper:?}: {e}");
        assert!(e.message().contains("memfd_create"), "{mapper:?}: {e}");
    }
}

#[test]
fn dual_view_is_available_here_and_auto_picks_it() {
    let m = manager(MapperChoice::Auto, 4 * MB);
    assert_eq!((m.mapper_kind(), m.fallback_reason()), (MapperKind::DualView, None));
}

#[test]
fn stats_and_heap_map_describe_the_pools() {
    let m = manager(MapperChoice::DualView, 64 * MB);
    let (id, _) = m
        .allocate(&[
            seg(RX, Lifetime::Standard, 200 << 10),
            seg(R, Lifetime::Standard, 10),
            seg(RW, Lifetime::Standard, 10),
        ])
        .unwrap();
    let st = m.stats();
    assert_eq!(st.allocations, 1);
    assert_eq!(st.pools[Pool::Code as usize].stats.reserved, DEFAULT_CHUNK);
    assert_eq!(st.pools[Pool::Code as usize].stats.live, 200 << 10);
    assert_eq!(st.pools[Pool::ReadOnly as usize].stats.committed, st.page);
    let map = m.heap_map();
    assert!(map.contains("Xrw"), "code chunk over half full, data chunks nearly empty:\n{map}");
    assert!(map.contains("unassigned chunks"), "{map}");
    let text = st.to_string();
    assert!(text.contains("code (r-x)") && text.contains("mprotect"), "{text}");
    m.abandon(id).unwrap();
}

/// Several threads allocating, finalizing, abandoning and deallocating at once; the slab's
/// invariant checker runs after every mutation (debug builds), and every thread checks that its
/// bytes survive the others' work.
#[test]
fn concurrent_stress_keeps_invariants_and_data() {
    for choice in [MapperChoice::DualView, MapperChoice::SingleView] {
        let m = manager(choice, 128 * MB);
        with_seed("concurrent_stress_keeps_invariants_and_data", |rng: &mut Rng| {
            let seeds: Vec<u64> = (0..4).map(|_| rng.next_u64()).collect();
            std::thread::scope(|sc| {
                for (t, seed) in seeds.into_iter().enumerate() {
                    let m = &m;
                    sc.spawn(move || {
                        let mut rng = Rng::new(seed);
                        let mut live: Vec<(AllocId, Vec<Segment>, Vec<u64>, u8)> = Vec::new();
                        for step in 0..3000 {
                            if live.is_empty() || (live.len() < 40 && rng.chance(55)) {
                                let req: Vec<_> = (0..1 + rng.below(3))
                                    .map(|_| {
                                        seg([RX, R, RW][rng.below(3) as usize], Lifetime::Standard, rng.below(6000))
                                    })
                                    .collect();
                                let (id, s) = m.allocate(&req).unwrap();
                                let tag = (t * 50 + step % 50) as u8;
                                for (x, r) in s.iter().zip(&req) {
                                    // SAFETY: within the segment.
                                    unsafe { std::ptr::write_bytes(x.working, tag, r.size as usize) };
                                }
                                if rng.chance(70) {
                                    // SAFETY: no actions.
                                    unsafe { m.finalize(id, &[]) }.unwrap();
                                    live.push((id, s, req.iter().map(|r| r.size).collect(), tag));
                                } else {
                                    m.abandon(id).unwrap();
                                }
                            } else {
                                let i = rng.below(live.len() as u64) as usize;
                                let (id, s, sizes, tag) = live.swap_remove(i);
                                for (x, n) in s.iter().zip(sizes) {
                                    assert!(
                                        read_exec(x.addr, n as usize).iter().all(|&b| b == tag),
                                        "thread {t}: data of {} changed",
                                        id.0
                                    );
                                }
                                // SAFETY: no actions.
                                unsafe { m.deallocate(&[id]) }.unwrap();
                            }
                        }
                        let ids: Vec<_> = live.iter().map(|l| l.0).collect();
                        // SAFETY: no actions.
                        unsafe { m.deallocate(&ids) }.unwrap();
                    });
                }
            });
        });
        let st = m.stats();
        assert_eq!((st.live_allocations, st.live_bytes()), (0, 0));
        m.lock().unwrap().slab.check().unwrap();
    }
}

mod faults;
