//! The service driven as an executor's server drives it: through the wrapper functions that
//! `jitslab_executor_bootstrap_symbols` lists, with SPS bytes, in this process. The linker's
//! side (taking the file, the working view) is played by the tests.

use std::os::fd::OwnedFd;

use crate::ffi::{jitslab_executor_bootstrap_symbols, JitslabBootstrapSymbol, JitslabStatus};
use crate::prot::Prot;
use crate::protocol::native::{self as wire, Allocation, Extent, SetupArgs, SetupReply, Sharing};
use crate::protocol::native::{Op, PROTOCOL_VERSION};
use crate::protocol::wrapper::{ActionPair, WrapperCall, WrapperFn};
use crate::sys;
use crate::testing::{self, recorded_pair, take_log};

fn listing() -> &'static [JitslabBootstrapSymbol] {
    let mut p: *const JitslabBootstrapSymbol = std::ptr::null();
    let mut n = 0usize;
    // SAFETY: both out-parameters are valid.
    let status = unsafe { jitslab_executor_bootstrap_symbols(&mut p, &mut n) };
    assert_eq!(status, JitslabStatus::JITSLAB_OK);
    // SAFETY: the listing is static, `n` entries at `p`.
    unsafe { std::slice::from_raw_parts(p, n) }
}

/// Calls `op`'s wrapper function, found by its bootstrap name, with `args`.
fn invoke(op: Op, args: &[u8]) -> Vec<u8> {
    let sym = listing()
        .iter()
        // SAFETY: the names are static C strings.
        .find(|s| unsafe { std::ffi::CStr::from_ptr(s.name) } == op.symbol())
        .expect("the listing has every call");
    // SAFETY: the listing's addresses are wrapper functions of this library.
    let f: WrapperFn = unsafe { std::mem::transmute::<usize, WrapperFn>(sym.addr as usize) };
    // SAFETY: a valid buffer; the result is consumed once.
    unsafe { f(args.as_ptr() as *const std::ffi::c_char, args.len()).take() }.expect("replies are in band")
}

fn setup_with(version: u32, span: u64, sharing: Sharing) -> Result<SetupReply, String> {
    let reply = invoke(Op::Setup, &wire::setup_args(&SetupArgs { version, span, sharing }));
    wire::decode_setup_reply(&reply).expect("a setup reply decodes")
}

const SPAN: u64 = 1 << 20;

fn setup(sharing: Sharing) -> SetupReply {
    setup_with(PROTOCOL_VERSION, SPAN, sharing).expect("setup succeeds")
}

fn status(op: Op, args: &[u8]) -> Result<(), String> {
    crate::protocol::sps::decode_error(&invoke(op, args)).expect("an Error reply decodes").map_or(Ok(()), Err)
}

/// A finalize with protect extents and an empty batch: how the linker gives chunks their
/// access when no allocation needs a call.
fn protect(h: u64, ranges: &[Extent]) -> Result<(), String> {
    finalize_with(h, ranges, &[]).map(|results| assert!(results.is_empty()))
}

fn finalize(h: u64, allocs: &[Allocation]) -> wire::FinalizeOutcome {
    finalize_with(h, &[], allocs)
}

fn finalize_with(h: u64, protect: &[Extent], allocs: &[Allocation]) -> wire::FinalizeOutcome {
    wire::decode_finalize_reply(&invoke(Op::Finalize, &wire::finalize_args(h, protect, allocs))).expect("decodes")
}

fn deallocate(h: u64, keys: &[u64]) -> Result<(), String> {
    status(Op::Deallocate, &wire::deallocate_args(h, keys))
}

fn teardown(h: u64) -> Result<(), String> {
    status(Op::Teardown, &wire::teardown_args(h))
}

fn page() -> u64 {
    sys::page_size()
}

fn ext(offset: u64, len: u64, access: Prot) -> Extent {
    Extent { offset, len, access }
}

fn alloc(key: u64, segments: Vec<Extent>, actions: Vec<ActionPair>) -> Allocation {
    Allocation { key, segments, actions }
}

/// The linker's working view of a region, from its file.
struct Working {
    addr: u64,
    _fd: OwnedFd,
}

impl Working {
    fn map(fd: OwnedFd) -> Working {
        // SAFETY: a fresh mapping at an address of the kernel's choice.
        let addr = unsafe { sys::map_shared(&fd, SPAN, Prot::RW, None) }.expect("the working view maps");
        Working { addr, _fd: fd }
    }
    fn write(&self, offset: u64, bytes: &[u8]) {
        // SAFETY: `offset + len` lies inside our RW view of SPAN bytes.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), (self.addr + offset) as *mut u8, bytes.len()) };
    }
}

impl Drop for Working {
    fn drop(&mut self) {
        // SAFETY: our own mapping, no longer used.
        let _ = unsafe { sys::unmap(self.addr, SPAN) };
    }
}

fn mapped(addr: u64) -> bool {
    sys::mapped_ranges().unwrap().iter().any(|&(s, e)| (s..e).contains(&addr))
}

/// The permissions `/proc/self/maps` shows for the mapping holding `addr`.
fn perms_at(addr: u64) -> String {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    maps.lines()
        .find_map(|l| {
            let mut w = l.split_whitespace();
            let (a, b) = w.next()?.split_once('-')?;
            let (a, b) = (u64::from_str_radix(a, 16).ok()?, u64::from_str_radix(b, 16).ok()?);
            (a..b).contains(&addr).then(|| w.next().unwrap_or("").to_string())
        })
        .unwrap_or_default()
}

/// A data address, for an action address that is mapped but not executable.
static DATA: u64 = 0;

/// `mov eax, 42; ret`
const RETURN_42: [u8; 6] = [0xb8, 0x2a, 0x00, 0x00, 0x00, 0xc3];

#[test]
fn the_listing_names_every_call_once_and_matches_the_header_version() {
    let names: Vec<_> =
        // SAFETY: static C strings.
        listing().iter().map(|s| unsafe { std::ffi::CStr::from_ptr(s.name) }.to_owned()).collect();
    let want: Vec<_> = Op::ALL.iter().map(|op| op.symbol().to_owned()).collect();
    assert_eq!(names, want);
    assert!(listing().iter().all(|s| s.addr != 0));
    assert_eq!(crate::ffi::JITSLAB_EXECUTOR_PROTOCOL_VERSION, PROTOCOL_VERSION);
}

#[test]
fn a_whole_cycle_through_a_memfd_taken_with_pidfd_getfd() {
    let r = setup(Sharing::Memfd);
    assert_eq!((r.pid, r.name.as_str()), (std::process::id(), ""));
    assert!(r.fd >= 0 && r.base % page() == 0);
    assert_eq!(perms_at(r.base), "r--s", "the region starts readable");
    let work = Working::map(sys::pidfd_getfd(r.pid, r.fd).expect("pidfd_getfd is allowed on our own process"));
    // Pools: code in page 0, data in page 1.
    protect(r.handle, &[ext(0, page(), Prot::RX), ext(page(), page(), Prot::RW)]).unwrap();
    assert_eq!(perms_at(r.base), "r-xs");
    assert_eq!(perms_at(r.base + page()), "rw-s");
    assert!(
        testing::writable_and_executable_mappings().is_empty(),
        "{:?}",
        testing::writable_and_executable_mappings()
    );
    work.write(16, &RETURN_42);
    work.write(page() + 8, b"shared!!");
    let a = alloc(
        1,
        vec![ext(16, 6, Prot::RX), ext(page() + 8, 8, Prot::RW)],
        vec![recorded_pair("cycle:f1", "cycle:d1"), recorded_pair("cycle:f2", "cycle:d2")],
    );
    assert_eq!(finalize(r.handle, &[a]), Ok(vec![Ok(())]));
    assert_eq!(take_log("cycle:"), ["cycle:f1", "cycle:f2"]);
    // The executor runs what the linker wrote, from its own r-x view.
    // SAFETY: the bytes at base+16 are the function above, in an r-x page.
    let f: extern "C" fn() -> i32 =
        unsafe { std::mem::transmute::<usize, extern "C" fn() -> i32>(r.base as usize + 16) };
    assert_eq!(f(), 42);
    // SAFETY: base+page+8 is readable (rw-) and holds 8 bytes written above.
    assert_eq!(unsafe { std::slice::from_raw_parts((r.base + page() + 8) as *const u8, 8) }, b"shared!!");
    deallocate(r.handle, &[1]).unwrap();
    assert_eq!(take_log("cycle:"), ["cycle:d2", "cycle:d1"], "dealloc actions run last to first");
    // The key is forgotten and its bytes are free for another allocation.
    assert!(deallocate(r.handle, &[1]).unwrap_err().contains("unknown allocation key 0x1"));
    let b = alloc(2, vec![ext(16, 6, Prot::RX)], vec![recorded_pair("cycle:f3", "cycle:d3")]);
    let c = alloc(3, vec![ext(32, 6, Prot::RX)], vec![recorded_pair("cycle:f4", "cycle:d4")]);
    assert_eq!(finalize(r.handle, &[b, c]), Ok(vec![Ok(()), Ok(())]));
    assert_eq!(take_log("cycle:"), ["cycle:f3", "cycle:f4"]);
    // Teardown runs what is still live, most recent first, and unmaps the region.
    teardown(r.handle).unwrap();
    assert_eq!(take_log("cycle:"), ["cycle:d4", "cycle:d3"]);
    assert!(!mapped(r.base), "teardown unmaps the region");
    let gone = protect(r.handle, &[ext(0, page(), Prot::R)]).unwrap_err();
    assert!(gone.contains("unknown handle"), "{gone}");
}

#[test]
fn the_memfd_can_be_taken_through_proc_pid_fd_and_has_no_name_in_dev_shm() {
    use std::os::unix::fs::MetadataExt;
    let r = setup(Sharing::Memfd);
    let fd_path = format!("/proc/self/fd/{}", r.fd);
    let link = std::fs::read_link(&fd_path).unwrap();
    assert!(link.to_string_lossy().starts_with("/memfd:jitslab-executor"), "{link:?}");
    // No name in /dev/shm leads to the file: no entry there is the same inode.
    let file = std::fs::metadata(&fd_path).unwrap();
    for e in std::fs::read_dir("/dev/shm").unwrap().flatten() {
        let m = e.metadata().unwrap();
        assert!((m.dev(), m.ino()) != (file.dev(), file.ino()), "{:?} is the region's file", e.path());
    }
    let work = Working::map(sys::open_proc_fd(r.pid, r.fd).expect("/proc/PID/fd/FD opens"));
    protect(r.handle, &[ext(0, page(), Prot::R)]).unwrap();
    work.write(100, b"via /proc");
    // SAFETY: the first page of the region is readable now.
    assert_eq!(unsafe { std::slice::from_raw_parts((r.base + 100) as *const u8, 9) }, b"via /proc");
    teardown(r.handle).unwrap();
    assert!(std::fs::read_link(&fd_path).is_err(), "teardown closes the memfd");
}

#[test]
fn a_named_region_is_random_private_and_gone_once_the_linker_unlinks_it() {
    let r = setup(Sharing::Named);
    assert_eq!(r.fd, -1);
    let prefix = format!("/jitslab-{}-", std::process::id());
    let random = r.name.strip_prefix(&prefix).unwrap_or_else(|| panic!("{}", r.name));
    assert!(random.len() == 32 && random.bytes().all(|b| b.is_ascii_hexdigit()), "{}", r.name);
    let path = format!("/dev/shm{}", r.name);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    let name = std::ffi::CString::new(r.name.clone()).unwrap();
    let (fd, size) = sys::shm_open_existing(&name).unwrap();
    assert_eq!(size, SPAN);
    sys::shm_unlink(&name).unwrap();
    assert!(!std::path::Path::new(&path).exists());
    let work = Working::map(fd);
    protect(r.handle, &[ext(page(), page(), Prot::R)]).unwrap();
    work.write(page(), b"named");
    // SAFETY: the second page of the region is readable now.
    assert_eq!(unsafe { std::slice::from_raw_parts((r.base + page()) as *const u8, 5) }, b"named");
    teardown(r.handle).unwrap();
    // A linker that never unlinked: teardown removes the name.
    let r = setup(Sharing::Named);
    let path = format!("/dev/shm{}", r.name);
    assert!(std::path::Path::new(&path).exists());
    teardown(r.handle).unwrap();
    assert!(!std::path::Path::new(&path).exists(), "teardown unlinks the name");
}

#[test]
fn a_linker_of_another_version_is_refused_with_both_versions_named() {
    let e = setup_with(PROTOCOL_VERSION + 1, SPAN, Sharing::Memfd).unwrap_err();
    assert!(e.contains(&format!("linker speaks version {}", PROTOCOL_VERSION + 1)), "{e}");
    assert!(e.contains(&format!("executor speaks version {PROTOCOL_VERSION}")), "{e}");
}

#[test]
fn setup_refuses_spans_that_are_empty_unaligned_or_over_2_gib_and_unknown_sharing() {
    for span in [0, page() + 1, (2 << 30) + page()] {
        let e = setup_with(PROTOCOL_VERSION, span, Sharing::Memfd).unwrap_err();
        assert!(e.contains("must be a non-zero multiple of the page size"), "{span:#x}: {e}");
    }
    let mut bad = wire::setup_args(&SetupArgs { version: PROTOCOL_VERSION, span: SPAN, sharing: Sharing::Memfd });
    *bad.last_mut().unwrap() = 2;
    let e = wire::decode_setup_reply(&invoke(Op::Setup, &bad)).unwrap().unwrap_err();
    assert!(e.contains("sharing byte 0x02"), "{e}");
}

#[test]
fn protect_checks_every_range_before_applying_any() {
    let r = setup(Sharing::Memfd);
    let p = page();
    let cases: Vec<(Vec<Extent>, &str)> = vec![
        (vec![ext(0, 0, Prot::R)], "is empty"),
        (vec![ext(SPAN, p, Prot::R)], "lies outside the region"),
        (vec![ext(u64::MAX - p + 1, p, Prot::R)], "lies outside the region"),
        (vec![ext(1, p, Prot::R)], "not page-aligned"),
        (vec![ext(0, p + 1, Prot::R)], "not page-aligned"),
        (vec![ext(0, 2 * p, Prot::R), ext(p, p, Prot::RX)], "overlap"),
    ];
    for (ranges, want) in cases {
        // A valid range first: it must not be applied when a later one is refused.
        let mut all = vec![ext(4 * p, p, Prot::RX)];
        all.extend(ranges);
        let e = protect(r.handle, &all).unwrap_err();
        assert!(e.contains(want), "{all:?}: {e}");
        assert_eq!(perms_at(r.base + 4 * p), "r--s", "nothing applied after a refusal");
    }
    assert!(protect(u64::MAX, &[ext(0, p, Prot::R)]).unwrap_err().contains("unknown handle"));
    protect(r.handle, &[ext(0, p, Prot::R)]).unwrap();
    teardown(r.handle).unwrap();
}

/// One finalize call gives chunks their access and then checks and runs its batch against it:
/// a batch in pages that only this call's protect extents make right is accepted; a refused
/// batch leaves the extents applied (they are the pools' state); a refused extent refuses the
/// whole call, and nothing of the batch runs.
#[test]
fn finalize_applies_its_protect_extents_before_checking_its_batch() {
    let r = setup(Sharing::Memfd);
    let p = page();
    let code = || alloc(1, vec![ext(8, 8, Prot::RX)], vec![recorded_pair("fpx:f1", "fpx:d1")]);
    // Page 0 is still r--: without the extent the batch is refused.
    assert!(finalize(r.handle, &[code()]).unwrap_err().contains("is r-x but its page at 0x0 is r--"));
    let both = finalize_with(r.handle, &[ext(0, p, Prot::RX), ext(p, p, Prot::RW)], &[code()]);
    assert_eq!(both, Ok(vec![Ok(())]));
    assert_eq!(take_log("fpx:"), ["fpx:f1"]);
    assert_eq!((perms_at(r.base).as_str(), perms_at(r.base + p).as_str()), ("r-xs", "rw-s"));
    // A batch refused after its extents were applied: page 2 stays r-x.
    let reused = alloc(1, vec![ext(2 * p, 8, Prot::RX)], vec![recorded_pair("fpx:f2", "fpx:d2")]);
    let e = finalize_with(r.handle, &[ext(2 * p, p, Prot::RX)], &[reused]).unwrap_err();
    assert!(e.contains("already live"), "{e}");
    assert_eq!(perms_at(r.base + 2 * p), "r-xs");
    // A refused extent: nothing applied, nothing run.
    let fresh = alloc(2, vec![ext(3 * p, 8, Prot::RW)], vec![recorded_pair("fpx:f3", "fpx:d3")]);
    let e = finalize_with(r.handle, &[ext(3 * p, p, Prot::RW), ext(4 * p, 1, Prot::RW)], &[fresh]).unwrap_err();
    assert!(e.contains("finalize: protect extent 1") && e.contains("not page-aligned"), "{e}");
    assert_eq!(perms_at(r.base + 3 * p), "r--s");
    assert!(take_log("fpx:").is_empty());
    teardown(r.handle).unwrap();
    assert_eq!(take_log("fpx:"), ["fpx:d1"]);
}

#[test]
fn access_bytes_that_are_writable_and_executable_are_refused() {
    let r = setup(Sharing::Memfd);
    let mut args = wire::finalize_args(r.handle, &[ext(0, page(), Prot::RX)], &[]);
    // The extent's access byte, before the batch's count.
    let access = args.len() - 9;
    for (byte, want) in [
        (7u8, "writable and executable"),
        (6, "writable and executable"),
        (2, "none of"),
        (4, "none of"),
        (9, "none of"),
    ] {
        args[access] = byte;
        let e = wire::decode_finalize_reply(&invoke(Op::Finalize, &args)).unwrap().expect_err("refused");
        assert!(e.contains(want), "{byte}: {e}");
    }
    assert_eq!(perms_at(r.base), "r--s");
    assert!(testing::writable_and_executable_mappings().is_empty());
    teardown(r.handle).unwrap();
}

/// A region with page 0 r-x, page 1 rw-, and allocation 1 live at [0, 64) of page 0.
fn region_with_a_live_allocation() -> SetupReply {
    let r = setup(Sharing::Memfd);
    protect(r.handle, &[ext(0, page(), Prot::RX), ext(page(), page(), Prot::RW)]).unwrap();
    assert_eq!(finalize(r.handle, &[alloc(1, vec![ext(0, 64, Prot::RX)], vec![])]), Ok(vec![Ok(())]));
    r
}

#[test]
fn finalize_refuses_a_bad_batch_whole_and_runs_nothing() {
    let r = region_with_a_live_allocation();
    let p = page();
    let ok = || alloc(10, vec![ext(p, 8, Prot::RW)], vec![recorded_pair("refused:f", "refused:d")]);
    let cases: Vec<(Vec<Allocation>, &str)> = vec![
        (
            vec![alloc(11, vec![ext(64, 8, Prot::RX)], vec![]), alloc(11, vec![ext(72, 8, Prot::RX)], vec![])],
            "appears twice",
        ),
        (vec![alloc(1, vec![ext(64, 8, Prot::RX)], vec![])], "already live"),
        (vec![alloc(11, vec![ext(SPAN - 4, 8, Prot::RW)], vec![])], "lies outside the region"),
        // An end past 2^64 must not wrap around into the region.
        (vec![alloc(11, vec![ext(u64::MAX - 4, 8, Prot::RW)], vec![])], "lies outside the region"),
        (vec![alloc(11, vec![ext(128, 0, Prot::RX)], vec![])], "is empty"),
        (vec![alloc(11, vec![ext(2 * p, 8, Prot::NONE)], vec![])], "has no access"),
        (vec![alloc(11, vec![ext(128, 8, Prot::RW)], vec![])], "is rw- but its page at 0x0 is r-x"),
        (vec![alloc(11, vec![ext(p - 8, 16, Prot::RX)], vec![])], "is r-x but its page at"),
        // Page 2 was never protected: it is r--, as setup mapped it.
        (vec![alloc(11, vec![ext(2 * p, 8, Prot::RW)], vec![])], "is rw- but its page"),
        (vec![alloc(11, vec![ext(128, 16, Prot::RX), ext(136, 8, Prot::RX)], vec![])], "overlap"),
        (
            vec![alloc(11, vec![ext(128, 16, Prot::RX)], vec![]), alloc(12, vec![ext(136, 8, Prot::RX)], vec![])],
            "another allocation of the batch",
        ),
        (vec![alloc(11, vec![ext(32, 8, Prot::RX)], vec![])], "of a live allocation"),
        (
            vec![alloc(
                11,
                vec![ext(128, 8, Prot::RX)],
                vec![ActionPair {
                    finalize: WrapperCall { fn_addr: 0x10, args: vec![] },
                    dealloc: WrapperCall::default(),
                }],
            )],
            "action address 0x10 is not in executable memory",
        ),
        (
            vec![alloc(
                11,
                vec![ext(128, 8, Prot::RX)],
                vec![ActionPair {
                    finalize: WrapperCall::default(),
                    dealloc: WrapperCall { fn_addr: &DATA as *const u64 as u64, args: vec![] },
                }],
            )],
            "is not in executable memory",
        ),
    ];
    for (bad, want) in cases {
        let mut batch = vec![ok()];
        batch.extend(bad);
        let e = finalize(r.handle, &batch).unwrap_err();
        assert!(e.contains(want), "{batch:?}: {e}");
        assert!(take_log("refused:").is_empty(), "a refused batch runs nothing");
    }
    // The good allocation alone goes through: the refusals were not about it.
    assert_eq!(finalize(r.handle, &[ok()]), Ok(vec![Ok(())]));
    assert_eq!(take_log("refused:"), ["refused:f"]);
    assert!(finalize(u64::MAX, &[]).unwrap_err().contains("unknown handle"));
    teardown(r.handle).unwrap();
    assert_eq!(take_log("refused:"), ["refused:d"]);
}

/// x86-64 code for an allocation action, `CWrapperFunctionResult f(const char *, size_t)`,
/// that adds one to `*runs` and returns SPS's success (one 0 byte, in place): `mov rax, runs;
/// lock inc qword [rax]; xor eax, eax; mov edx, 1; ret`.
#[cfg(target_arch = "x86_64")]
fn counting_action(runs: &'static std::sync::atomic::AtomicU64) -> Vec<u8> {
    let mut code = vec![0x48, 0xb8];
    code.extend((runs as *const std::sync::atomic::AtomicU64 as u64).to_le_bytes());
    code.extend([0xf0, 0x48, 0xff, 0x00, 0x31, 0xc0, 0xba, 0x01, 0x00, 0x00, 0x00, 0xc3]);
    code
}

/// The executable-memory check finds an action's address by three routes: the region's own
/// r-x pages (the ORC runtime, JIT-linked there), the loaded objects' code (covered by every
/// test with recorded actions) and, for anything else, `/proc/self/maps`.
#[cfg(target_arch = "x86_64")]
#[test]
fn actions_in_the_region_s_code_or_in_another_executable_mapping_run() {
    use std::sync::atomic::{AtomicU64, Ordering};
    static RUNS: AtomicU64 = AtomicU64::new(0);
    let code = counting_action(&RUNS);
    let r = setup(Sharing::Memfd);
    let work = Working::map(sys::pidfd_getfd(r.pid, r.fd).expect("pidfd_getfd is allowed on our own process"));
    protect(r.handle, &[ext(0, page(), Prot::RX), ext(page(), page(), Prot::RW)]).unwrap();
    work.write(0, &code);
    work.write(page(), &code);
    let action =
        |fn_addr: u64| ActionPair { finalize: WrapperCall { fn_addr, args: vec![] }, dealloc: WrapperCall::default() };
    // In the region, on an r-x page: runs.
    let in_region = alloc(1, vec![ext(0, code.len() as u64, Prot::RX)], vec![action(r.base)]);
    assert_eq!(finalize(r.handle, &[in_region]), Ok(vec![Ok(())]));
    assert_eq!(RUNS.load(Ordering::SeqCst), 1);
    // In the region, on the rw- page: refused, whatever bytes are there.
    let on_data = alloc(2, vec![ext(page(), code.len() as u64, Prot::RW)], vec![action(r.base + page())]);
    let e = finalize(r.handle, &[on_data]).unwrap_err();
    assert!(e.contains("is not in executable memory"), "{e}");
    // In an executable mapping of no loaded object and outside the region (another JIT's): runs.
    let other = sys::reserve(page(), None).expect("a page maps");
    // SAFETY: our own fresh page, written while writable, then made r-x.
    unsafe { sys::protect(other, page(), Prot::RW) }.unwrap();
    // SAFETY: `other` is our own writable page, longer than the code.
    unsafe { std::ptr::copy_nonoverlapping(code.as_ptr(), other as *mut u8, code.len()) };
    // SAFETY: our own page, holding the code above.
    unsafe { sys::protect(other, page(), Prot::RX) }.unwrap();
    let elsewhere = alloc(3, vec![ext(64, 8, Prot::RX)], vec![action(other)]);
    assert_eq!(finalize(r.handle, &[elsewhere]), Ok(vec![Ok(())]));
    assert_eq!(RUNS.load(Ordering::SeqCst), 2);
    teardown(r.handle).unwrap();
    // SAFETY: our own mapping, no longer used.
    unsafe { sys::unmap(other, page()) }.unwrap();
}

#[test]
fn a_failed_finalize_action_rolls_its_allocation_back_and_leaves_the_others_live() {
    let r = region_with_a_live_allocation();
    let bad = alloc(
        20,
        vec![ext(64, 8, Prot::RX)],
        vec![recorded_pair("rollback:f1", "rollback:d1"), recorded_pair("fail:rollback:f2", "rollback:d2")],
    );
    let good = alloc(21, vec![ext(80, 8, Prot::RX)], vec![recorded_pair("rollback:f3", "rollback:d3")]);
    let results = finalize(r.handle, &[bad, good]).unwrap();
    assert!(results[0].as_ref().unwrap_err().contains("refused: fail:rollback:f2"), "{results:?}");
    assert_eq!(results[1], Ok(()));
    assert_eq!(take_log("rollback:"), ["rollback:f1", "fail:rollback:f2", "rollback:d1", "rollback:f3"]);
    // The failed allocation is not live; its bytes can be finalized again.
    assert!(deallocate(r.handle, &[20]).unwrap_err().contains("unknown allocation key 0x14"));
    assert_eq!(finalize(r.handle, &[alloc(22, vec![ext(64, 8, Prot::RX)], vec![])]), Ok(vec![Ok(())]));
    deallocate(r.handle, &[21, 22, 1]).unwrap();
    assert_eq!(take_log("rollback:"), ["rollback:d3"]);
    teardown(r.handle).unwrap();
}

#[test]
fn deallocate_refuses_unknown_or_repeated_keys_before_running_anything() {
    let r = setup(Sharing::Memfd);
    protect(r.handle, &[ext(0, page(), Prot::R)]).unwrap();
    let a = alloc(5, vec![ext(0, 8, Prot::R)], vec![recorded_pair("dealloc:f", "dealloc:d")]);
    finalize(r.handle, &[a]).unwrap();
    take_log("dealloc:");
    assert!(deallocate(r.handle, &[5, 6]).unwrap_err().contains("unknown allocation key 0x6"));
    assert!(deallocate(r.handle, &[5, 5]).unwrap_err().contains("appears twice"));
    assert!(deallocate(u64::MAX, &[5]).unwrap_err().contains("unknown handle"));
    assert!(take_log("dealloc:").is_empty(), "refused requests run nothing");
    // Failing dealloc actions: all run, errors joined, the key forgotten anyway.
    let b = alloc(7, vec![ext(8, 8, Prot::R)], vec![recorded_pair("dealloc:f2", "fail:dealloc:d2")]);
    finalize(r.handle, &[b]).unwrap();
    let e = deallocate(r.handle, &[5, 7]).unwrap_err();
    assert!(e.contains("allocation 0x7") && e.contains("refused: fail:dealloc:d2"), "{e}");
    assert_eq!(take_log("dealloc:"), ["dealloc:f2", "fail:dealloc:d2", "dealloc:d"]);
    assert!(deallocate(r.handle, &[5]).is_err());
    teardown(r.handle).unwrap();
    assert!(teardown(r.handle).unwrap_err().contains("unknown handle"));
}

#[test]
fn malformed_messages_get_error_replies() {
    let r = setup(Sharing::Memfd);
    let h = r.handle;
    let expected_error = |op: Op, b: &[u8]| -> String {
        let reply = invoke(op, b);
        match op {
            Op::Setup | Op::Finalize => {
                let mut rd = crate::protocol::sps::Reader::new(&reply);
                assert!(!rd.bool("flag").unwrap(), "{op:?} {b:x?} must fail");
                rd.string("msg").unwrap()
            }
            _ => crate::protocol::sps::decode_error(&reply).unwrap().expect("must fail"),
        }
    };
    let valid_protect = wire::finalize_args(h, &[ext(0, page(), Prot::R)], &[]);
    let mut trailing = valid_protect.clone();
    trailing.push(0);
    assert!(expected_error(Op::Finalize, &trailing).contains("trailing"));
    // Without the batch's count and the extent's access byte, one extent cannot fit.
    assert!(expected_error(Op::Finalize, &valid_protect[..valid_protect.len() - 9]).contains("cannot fit"));
    let mut huge = wire::deallocate_args(h, &[]);
    huge[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(expected_error(Op::Deallocate, &huge).contains("cannot fit"));
    let mut huge = wire::finalize_args(h, &[], &[alloc(1, vec![], vec![])]);
    huge[32..40].copy_from_slice(&(1u64 << 40).to_le_bytes()); // the segment count
    assert!(expected_error(Op::Finalize, &huge).contains("cannot fit"));
    for op in Op::ALL {
        assert!(expected_error(op, &[]).contains("malformed SPS data"), "{op:?}");
    }
    assert!(expected_error(Op::Teardown, &[1, 2, 3]).contains("needs 8 bytes"));
    teardown(h).unwrap();
}

#[test]
fn a_null_argument_pointer_with_a_length_is_an_error_reply() {
    let setup = listing()[0];
    // SAFETY: the listing's first entry is the setup wrapper function.
    let f: WrapperFn = unsafe { std::mem::transmute::<usize, WrapperFn>(setup.addr as usize) };
    // SAFETY: null with a length is what is being tested; the function must not read it.
    let reply = unsafe { f(std::ptr::null(), 13).take() }.unwrap();
    assert!(wire::decode_setup_reply(&reply).unwrap().unwrap_err().contains("malformed"));
}

/// Valid messages of every call, for the fuzzer to mutate. `h` is the handle they name.
fn templates(h: u64) -> Vec<(Op, Vec<u8>)> {
    let p = page();
    let no_call =
        ActionPair { finalize: WrapperCall { fn_addr: 0, args: b"abc".to_vec() }, dealloc: WrapperCall::default() };
    vec![
        (Op::Setup, wire::setup_args(&SetupArgs { version: 0xdead_beef, span: SPAN, sharing: Sharing::Memfd })),
        (Op::Finalize, wire::finalize_args(h, &[ext(0, p, Prot::RX), ext(p, 2 * p, Prot::RW)], &[])),
        (
            Op::Finalize,
            wire::finalize_args(
                h,
                &[ext(3 * p, p, Prot::RX)],
                &[alloc(0x77, vec![ext(8, 8, Prot::RX), ext(p, 4, Prot::RW)], vec![no_call.clone(), no_call])],
            ),
        ),
        (Op::Deallocate, wire::deallocate_args(h, &[0x77, 0x78])),
        (Op::Teardown, wire::teardown_args(h)),
    ]
}

fn mutate(rng: &mut testing::Rng, msg: &mut Vec<u8>, keep_prefix: usize) {
    for _ in 0..=rng.below(4) {
        let n = msg.len();
        let at = keep_prefix + rng.below((n - keep_prefix).max(1) as u64) as usize;
        match rng.below(6) {
            0 if at < n => msg[at] ^= 1 << rng.below(8),
            1 if at < n => msg[at] = rng.next_u64() as u8,
            2 => msg.truncate(at.min(n)),
            3 => msg.insert(at.min(n), rng.next_u64() as u8),
            4 if at + 8 <= n => msg[at..at + 8].copy_from_slice(&rng.next_u64().to_le_bytes()),
            _ => msg.extend((0..rng.below(12)).map(|_| rng.next_u64() as u8)),
        }
    }
}

/// The reply decodes as the call's reply type; `Some(message)` when it is an error.
fn reply_error(op: Op, reply: &[u8]) -> Option<String> {
    match op {
        Op::Setup => wire::decode_setup_reply(reply).expect("a setup reply").err(),
        Op::Finalize => wire::decode_finalize_reply(reply).expect("a finalize reply").err(),
        _ => crate::protocol::sps::decode_error(reply).expect("an Error reply"),
    }
}

#[test]
fn the_decoders_survive_seeded_random_and_mutated_messages() {
    testing::with_seed("the_decoders_survive_seeded_random_and_mutated_messages", |rng| {
        // Messages naming no live handle (the top bytes 0xdead keep a mutated handle unknown):
        // every reply must be an error, none a caught panic.
        let unknown = 0xdead_0000_0000_0000 | rng.below(1 << 32);
        for round in 0..4000 {
            for (op, template) in templates(unknown) {
                let mut msg = template;
                if round % 4 == 0 {
                    msg = (0..rng.below(96)).map(|_| rng.next_u64() as u8).collect();
                } else {
                    mutate(rng, &mut msg, 0);
                }
                let reply = invoke(op, &msg);
                let e = reply_error(op, &reply).unwrap_or_else(|| panic!("{op:?} {msg:x?} succeeded"));
                assert!(!e.contains("internal error"), "{op:?} {msg:x?}: {e}");
            }
        }
        // Mutations after the handle of a live region (finalize with protect extents, with null
        // actions; deallocate): they may succeed, but never panic.
        let r = setup(Sharing::Memfd);
        let (mut accepted, mut refused) = (0, 0);
        for _ in 0..3000 {
            for (op, template) in templates(r.handle) {
                if matches!(op, Op::Setup | Op::Teardown) {
                    continue;
                }
                let mut msg = template;
                mutate(rng, &mut msg, 8);
                match reply_error(op, &invoke(op, &msg)) {
                    Some(e) => {
                        assert!(!e.contains("internal error"), "{op:?} {msg:x?}: {e}");
                        refused += 1;
                    }
                    None => accepted += 1,
                }
            }
        }
        // The mutations reach past the decoder: some requests are carried out, most refused.
        assert!(accepted > 0 && refused > accepted, "{accepted} accepted, {refused} refused");
        teardown(r.handle).unwrap();
    });
}

#[test]
fn extents_are_checked_by_a_pure_function() {
    let p = 0x1000;
    let ok = [ext(0, p, Prot::R), ext(p, p, Prot::RX)];
    assert_eq!(wire::check_extents(&ok, 2 * p, p, true, "r"), Ok(()));
    assert!(wire::check_extents(&ok, 2 * p - 1, p, true, "r")
        .unwrap_err()
        .contains("r 1 [0x1000, +0x1000) lies outside"));
    let unaligned = [ext(8, 8, Prot::R), ext(16, 8, Prot::R)];
    assert_eq!(wire::check_extents(&unaligned, p, p, false, "s"), Ok(()));
    assert!(wire::check_extents(&unaligned, p, p, true, "s").is_err());
    let e = wire::check_extents(&[ext(16, 8, Prot::R), ext(8, 9, Prot::R)], p, p, false, "s").unwrap_err();
    assert!(e.contains("ss 1 [0x8, +0x9) and 0 [0x10, +0x8) overlap"), "{e}");
}
