//! Tests of the native protocol's linker side against jitslab's own executor service
//! ([`crate::executor`]), served in this process: the fake transport hands each call's bytes to
//! [`crate::executor::call`] on a thread of its own, as `jitslab-executor` does, so both ends
//! are the real code and the executor's region is mapped in this process (its addresses are
//! the "executor addresses" the manager hands out).
//!
//! The fake counts the calls by operation, can hold the next call at a gate, and can lose the
//! connection.

use super::{SharingPath, FD_PATHS};
use crate::backend::stock::fake::*;
use crate::executor;
use crate::manager::Protocol;
use crate::manager::{AllocId, Config, Error, ErrorKind, Lifetime, Manager};
use crate::mapper::remote::{Completion, Transport};
use crate::mapper::MapperKind;
use crate::protocol::native as wire;
use crate::protocol::wrapper::ActionPair;
use crate::sys::{self};
use crate::testing::{recorded_pair, take_log};
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

const SETUP_FN: u64 = 0x7a00_0001;

fn op_of(fn_addr: u64) -> Option<wire::Op> {
    wire::Op::ALL.iter().copied().find(|&op| native_addr(op) == fn_addr)
}

fn native_addr(op: wire::Op) -> u64 {
    SETUP_FN + wire::Op::ALL.iter().position(|&o| o == op).unwrap_or(0) as u64
}

#[derive(Default)]
struct Exec {
    /// Every call made, by operation, with its argument bytes.
    calls: Mutex<Vec<(wire::Op, Vec<u8>)>>,
    /// The next call of this operation waits at the gate.
    hold: Mutex<Option<(wire::Op, Arc<Gate>)>>,
    lost: AtomicBool,
    /// Publish the native symbols (false: an executor without them).
    hide_native: bool,
}

struct ExecTransport(Arc<Exec>);

impl Transport for ExecTransport {
    fn call(&self, fn_addr: u64, args: Vec<u8>, done: Completion) {
        let exec = Arc::clone(&self.0);
        if exec.lost.load(SeqCst) {
            return done(Err("the connection is closed".into()));
        }
        let Some(op) = op_of(fn_addr) else { return done(Err(format!("no function at {fn_addr:#x}"))) };
        exec.calls.lock().unwrap().push((op, args.clone()));
        let gate = {
            let mut h = exec.hold.lock().unwrap();
            match h.take() {
                Some((o, g)) if o == op => Some(g),
                other => {
                    *h = other;
                    None
                }
            }
        };
        std::thread::spawn(move || {
            if let Some(g) = gate {
                g.pass();
            }
            if exec.lost.load(SeqCst) {
                return done(Err("the connection is closed".into()));
            }
            done(Ok(executor::call(op, &args)))
        });
    }
    fn lookup(&self, name: &str) -> Option<u64> {
        if self.0.hide_native {
            return None;
        }
        wire::Op::ALL.iter().copied().find(|op| op.symbol().to_str() == Ok(name)).map(native_addr)
    }
}

impl Exec {
    fn new() -> Arc<Exec> {
        Arc::default()
    }
    fn transport(self: &Arc<Self>) -> Box<dyn Transport> {
        Box::new(ExecTransport(Arc::clone(self)))
    }
    fn count(&self, op: wire::Op) -> usize {
        self.calls.lock().unwrap().iter().filter(|(o, _)| *o == op).count()
    }
    fn total(&self) -> usize {
        self.calls.lock().unwrap().len()
    }
    /// The allocations of every finalize call, one vector per call.
    fn finalize_batches(&self) -> Vec<Vec<u64>> {
        let calls = self.calls.lock().unwrap();
        calls
            .iter()
            .filter(|(o, _)| *o == wire::Op::Finalize)
            .map(|(_, a)| wire::decode_finalize(a).unwrap().allocs.iter().map(|x| x.key).collect())
            .collect()
    }
    fn hold_next(&self, op: wire::Op) -> Arc<Gate> {
        let g = Gate::new();
        *self.hold.lock().unwrap() = Some((op, Arc::clone(&g)));
        g
    }
}

fn native_config() -> Config {
    Config { span: 64 * MB, log_fallback: false, protocol: Protocol::Native, ..Config::default() }
}

fn native(exec: &Arc<Exec>, paths: &[SharingPath]) -> Arc<Manager> {
    Arc::new(Manager::new_remote_with(&native_config(), exec.transport(), paths).unwrap())
}

fn jitslab_shm_entries() -> Vec<String> {
    let pid = std::process::id();
    std::fs::read_dir("/dev/shm")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(&format!("jitslab-{pid}-")))
                .collect()
        })
        .unwrap_or_default()
}

/// Finalizes without waiting: the receiver gets the result.
fn finalize_later(m: &Arc<Manager>, id: AllocId, actions: Vec<ActionPair>) -> mpsc::Receiver<Result<(), Error>> {
    let (tx, rx) = mpsc::channel();
    // SAFETY: the actions are wrapper functions of this process, run by the executor service.
    unsafe {
        m.finalize_async(
            id,
            actions,
            Box::new(move |r| {
                let _ = tx.send(r);
            }),
        )
    };
    rx
}

/// Setup with each way of getting the region's file: the path is the one asked for, it is in
/// the statistics, bytes written here are the executor's, and no name is left in /dev/shm.
#[test]
fn setup_takes_the_memfd_by_each_path_and_falls_back_to_a_named_object() {
    for (paths, want) in [
        (&[SharingPath::PidfdGetfd, SharingPath::ProcFd][..], SharingPath::PidfdGetfd),
        (&[SharingPath::ProcFd][..], SharingPath::ProcFd),
        (&[][..], SharingPath::Named),
    ] {
        let exec = Exec::new();
        let m = native(&exec, paths);
        assert_eq!(m.mapper_kind(), MapperKind::RemoteNative);
        assert_eq!(m.sharing_path(), Some(want));
        let text = m.stats().to_string();
        assert!(text.contains(&format!("protocol: native (jitslab's executor service; {want})")), "{text}");
        // Named: the memfd region was torn down, and a named one set up. Setup alone makes the
        // region readable: no protect follows it.
        let expect = if want == SharingPath::Named {
            vec![wire::Op::Setup, wire::Op::Teardown, wire::Op::Setup]
        } else {
            vec![wire::Op::Setup]
        };
        assert_eq!(exec.calls.lock().unwrap().iter().map(|(o, _)| *o).collect::<Vec<_>>(), expect);
        assert!(jitslab_shm_entries().is_empty(), "{:?}", jitslab_shm_entries());
        let (id, s) = m.allocate(&[seg(RX, Lifetime::Standard, 64)]).unwrap();
        write(&s[0], b"\xc3shared");
        finalize(&m, id, vec![]).unwrap();
        assert_eq!(read_exec(s[0].addr, 7), b"\xc3shared");
        assert_eq!(perms_at(s[0].addr).as_deref(), Some("r-xs"));
        drop_manager(m);
        let teardowns = if want == SharingPath::Named { 2 } else { 1 };
        assert_eq!(exec.count(wire::Op::Teardown), teardowns);
        assert!(jitslab_shm_entries().is_empty());
    }
}

/// N finalizes with no actions cost O(1) calls (one finalize, carrying only protections, per
/// round that has new chunks), not N; allocations share pages (sub-page packing); nothing is ever writable and executable.
#[test]
fn action_less_finalizes_need_no_call() {
    let exec = Exec::new();
    let m = native(&exec, &FD_PATHS);
    let setup_calls = exec.total();
    let mut segs = Vec::new();
    for i in 0..200u32 {
        let (id, s) = m.allocate(&[seg(RX, Lifetime::Standard, 48), seg(RW, Lifetime::Standard, 24)]).unwrap();
        write(&s[0], &i.to_le_bytes());
        write(&s[1], &(i + 1000).to_le_bytes());
        finalize(&m, id, vec![]).unwrap();
        segs.push(s);
    }
    // The first finalize needed the two chunks protected (one finalize call, carrying both
    // protections and no allocation); every other one needed nothing.
    assert_eq!(exec.count(wire::Op::Finalize), 1);
    assert_eq!(exec.finalize_batches(), [Vec::<u64>::new()]);
    assert_eq!(exec.total() - setup_calls, 1, "200 action-less finalizes must not make a call each");
    let rounds = m.native_round_counts().unwrap();
    assert_eq!((rounds.rounds, rounds.finalize_calls), (1, 1));
    for (i, s) in segs.iter().enumerate() {
        assert_eq!(read_exec(s[0].addr, 4), (i as u32).to_le_bytes());
        assert_eq!(read_exec(s[1].addr, 4), (i as u32 + 1000).to_le_bytes());
    }
    let page = sys::page_size();
    assert_eq!(segs[0][0].addr / page, segs[1][0].addr / page, "code of two allocations must share a page");
    assert_eq!(perms_at(segs[0][0].addr).as_deref(), Some("r-xs"));
    assert_eq!(perms_at(segs[0][1].addr).as_deref(), Some("rw-s"));
    assert!(crate::testing::writable_and_executable_mappings().is_empty());
    assert_eq!(m.stats().rpc.calls as usize, exec.total());
    drop_manager(m);
}

/// A finalize never completes before the protection of its chunks is applied in the
/// executor: with the finalize call that carries it held, the finalize waits; then the page is
/// r-x.
#[test]
fn a_finalize_waits_for_its_chunks_protection() {
    let exec = Exec::new();
    let m = native(&exec, &FD_PATHS);
    let gate = exec.hold_next(wire::Op::Finalize);
    let (id, s) = m.allocate(&[seg(RX, Lifetime::Standard, 32)]).unwrap();
    let rx = finalize_later(&m, id, vec![]);
    gate.wait_held();
    assert!(rx.recv_timeout(Duration::from_millis(200)).is_err(), "completed before its chunk was protected");
    gate.open();
    rx.recv_timeout(PROMPT).unwrap().unwrap();
    assert_eq!(perms_at(s[0].addr).as_deref(), Some("r-xs"));
    drop_manager(m);
}

/// Finalizes with actions: the executor runs them (in one call per round) and the dealloc
/// actions at deallocate; finalizes that arrive while a round is in flight all go in the next
/// one, as one call.
#[test]
fn finalizes_queued_behind_a_held_call_go_out_as_one() {
    let exec = Exec::new();
    let m = native(&exec, &FD_PATHS);
    // Make the chunks protected first (one finalize call with no allocation), so the rounds
    // below carry allocations only.
    let (id0, _) = m.allocate(&[seg(RX, Lifetime::Standard, 16), seg(R, Lifetime::Standard, 16)]).unwrap();
    finalize(&m, id0, vec![]).unwrap();
    assert_eq!(exec.finalize_batches(), [Vec::<u64>::new()]);
    let gate = exec.hold_next(wire::Op::Finalize);
    let (first, _) = m.allocate(&[seg(R, Lifetime::Standard, 16)]).unwrap();
    let held = finalize_later(&m, first, vec![recorded_pair("ngc:f0", "ngc:d0")]);
    gate.wait_held();
    let mut waiting = Vec::new();
    let mut ids = Vec::new();
    for i in 1..=10 {
        let (id, _) = m.allocate(&[seg(R, Lifetime::Standard, 16)]).unwrap();
        ids.push(id);
        waiting.push(finalize_later(&m, id, vec![recorded_pair(&format!("ngc:f{i}"), &format!("ngc:d{i}"))]));
    }
    std::thread::sleep(Duration::from_millis(100));
    assert!(waiting.iter().all(|w| w.try_recv().is_err()), "queued finalizes completed before their round");
    assert_eq!(exec.count(wire::Op::Finalize), 2);
    gate.open();
    held.recv_timeout(PROMPT).unwrap().unwrap();
    for w in waiting {
        w.recv_timeout(PROMPT).unwrap().unwrap();
    }
    let batches = exec.finalize_batches();
    assert_eq!(batches.len(), 3, "{batches:?}");
    assert_eq!(batches[1], [first.0]);
    assert_eq!(batches[2], ids.iter().map(|i| i.0).collect::<Vec<_>>());
    let mut log = take_log("ngc:");
    assert_eq!(log.len(), 11);
    log.sort();
    // One batch of deallocations: one call; dealloc actions last first.
    let before = exec.count(wire::Op::Deallocate);
    deallocate(&m, &ids).unwrap();
    assert_eq!(exec.count(wire::Op::Deallocate), before + 1);
    let expect: Vec<String> = (1..=10).rev().map(|i| format!("ngc:d{i}")).collect();
    assert_eq!(take_log("ngc:"), expect);
    // An allocation without actions deallocates with no call.
    let calls = exec.total();
    deallocate(&m, &[id0]).unwrap();
    assert_eq!(exec.total(), calls);
    drop_manager(m);
    assert_eq!(take_log("ngc:"), ["ngc:d0"], "teardown runs what is left");
}

/// Links in flight together end in one round: finalizes with actions wait while other
/// allocations are neither finalized nor abandoned, and the last link to end (here an abandon)
/// sends them all in one finalize call.
#[test]
fn finalizes_wait_for_the_links_in_flight_and_the_last_one_sends_them() {
    let exec = Exec::new();
    let m = native(&exec, &FD_PATHS);
    let (id0, _) = m.allocate(&[seg(RX, Lifetime::Standard, 16), seg(R, Lifetime::Standard, 16)]).unwrap();
    finalize(&m, id0, vec![]).unwrap();
    let ids: Vec<AllocId> = (0..5).map(|_| m.allocate(&[seg(R, Lifetime::Standard, 16)]).unwrap().0).collect();
    let (last, _) = m.allocate(&[seg(R, Lifetime::Standard, 16)]).unwrap();
    let waiting: Vec<_> = ids
        .iter()
        .enumerate()
        .map(|(i, &id)| finalize_later(&m, id, vec![recorded_pair(&format!("hld:f{i}"), &format!("hld:d{i}"))]))
        .collect();
    assert!(waiting.iter().all(|w| w.try_recv().is_err()), "a finalize went out while a link was in flight");
    assert_eq!(exec.count(wire::Op::Finalize), 1, "the protections' finalize, before the links");
    m.abandon(last).unwrap();
    for w in waiting {
        w.recv_timeout(PROMPT).unwrap().unwrap();
    }
    assert_eq!(exec.finalize_batches(), [vec![], ids.iter().map(|i| i.0).collect::<Vec<_>>()]);
    assert_eq!(m.native_round_counts().unwrap().timed_out, 0, "the last link sent the round, not the timer");
    assert_eq!(take_log("hld:f").len(), 5);
    deallocate(&m, &ids).unwrap();
    drop_manager(m);
    take_log("hld:");
}

/// A held round cannot deadlock: a caller that keeps an allocation in flight and waits for
/// another's finalize gets it once no link has started or ended for a while (the hold timer).
#[test]
fn a_held_round_goes_once_no_link_moves() {
    let exec = Exec::new();
    let m = native(&exec, &FD_PATHS);
    let (kept, _) = m.allocate(&[seg(R, Lifetime::Standard, 16)]).unwrap();
    let (id, _) = m.allocate(&[seg(R, Lifetime::Standard, 16)]).unwrap();
    finalize_later(&m, id, vec![recorded_pair("hlt:f", "hlt:d")]).recv_timeout(PROMPT).unwrap().unwrap();
    assert_eq!(exec.finalize_batches(), [[id.0]]);
    assert_eq!(m.native_round_counts().unwrap().timed_out, 1);
    assert_eq!(take_log("hlt:f"), ["hlt:f"]);
    m.abandon(kept).unwrap();
    deallocate(&m, &[id]).unwrap();
    drop_manager(m);
    take_log("hlt:");
}

/// Letting go of the manager while a finalize is held (another link still in flight): the
/// finalize completes before the region is torn down, and its dealloc action runs at teardown.
#[test]
fn a_manager_let_go_with_a_finalize_held_completes_it_first() {
    let exec = Exec::new();
    let m = native(&exec, &FD_PATHS);
    let (_kept, _) = m.allocate(&[seg(R, Lifetime::Standard, 16)]).unwrap();
    let (id, _) = m.allocate(&[seg(R, Lifetime::Standard, 16)]).unwrap();
    let rx = finalize_later(&m, id, vec![recorded_pair("htd:f", "htd:d")]);
    drop_manager(m);
    rx.recv_timeout(PROMPT).unwrap().unwrap();
    let ops: Vec<wire::Op> = exec.calls.lock().unwrap().iter().map(|(o, _)| *o).collect();
    let fin = ops.iter().position(|&o| o == wire::Op::Finalize).expect("the held finalize was sent");
    assert!(ops[fin..].contains(&wire::Op::Teardown), "{ops:?}");
    assert_eq!(take_log("htd:"), ["htd:f", "htd:d"]);
}

/// Deallocating returns whole free pages by punching holes in the shared file: they read as
/// zero in both processes and are no longer resident; chunks given back are `r--` again.
#[test]
fn deallocate_punches_holes_and_gives_chunks_back() {
    let exec = Exec::new();
    let cfg = Config { retain_free: 0, ..native_config() };
    let m = Arc::new(Manager::new_remote_with(&cfg, exec.transport(), &FD_PATHS).unwrap());
    let size = 16 * sys::page_size();
    let mut ids = Vec::new();
    let mut segs = Vec::new();
    // A code chunk, for the finalize at the end to land in.
    let (code, _) = m.allocate(&[seg(RX, Lifetime::Standard, 16)]).unwrap();
    finalize(&m, code, vec![]).unwrap();
    // Eight allocations of 16 pages: two chunks of 256 KiB.
    for _ in 0..8 {
        let (id, s) = m.allocate(&[seg(RW, Lifetime::Standard, size)]).unwrap();
        // SAFETY: within the segment.
        unsafe { std::ptr::write_bytes(s[0].working, 0xab, size as usize) };
        finalize(&m, id, vec![]).unwrap();
        ids.push(id);
        segs.push(s[0]);
    }
    let first = segs[0].addr;
    let resident = crate::testing::resident_pages(first, 8 * size);
    assert_eq!(resident, 8 * size / sys::page_size());
    let second_chunk = segs[4].addr;
    assert_eq!(second_chunk - first, m.stats().chunk);
    assert_eq!(perms_at(second_chunk).as_deref(), Some("rw-s"));
    let calls = exec.total();
    deallocate(&m, &ids[1..]).unwrap();
    assert_eq!(exec.total(), calls, "no actions: deallocate needs no call");
    assert!(m.stats().sys.fallocate > 0, "pages go back by punching holes");
    for s in &segs[1..] {
        // Resident first: reading a hole of shared memory fills it.
        assert_eq!(crate::testing::resident_pages(s.addr, size), 0);
        assert!(read_exec(s.addr, size as usize).iter().all(|&b| b == 0));
    }
    assert_eq!(read_exec(first, 4), [0xab; 4]);
    // Give the last allocation back: the pool keeps its lowest chunk, the second returns to
    // the reservation and becomes r-- at the next round (which a finalize elsewhere triggers).
    deallocate(&m, &ids[..1]).unwrap();
    let (id, _) = m.allocate(&[seg(RX, Lifetime::Standard, 16)]).unwrap();
    finalize(&m, id, vec![recorded_pair("nph:f", "nph:d")]).unwrap();
    assert_eq!(perms_at(second_chunk).as_deref(), Some("r--s"));
    assert_eq!(perms_at(first).as_deref(), Some("rw-s"));
    take_log("nph:");
    drop_manager(m);
    take_log("nph:");
}

/// A lost connection: the finalize in flight and every later call fail with an executor error
/// promptly, the working view is let go of, and dropping the manager does not wait.
#[test]
fn a_lost_connection_fails_pending_and_later_calls() {
    let exec = Exec::new();
    let m = native(&exec, &FD_PATHS);
    let gate = exec.hold_next(wire::Op::Finalize);
    let (id, s) = m.allocate(&[seg(RX, Lifetime::Standard, 16)]).unwrap();
    let rx = finalize_later(&m, id, vec![recorded_pair("nlc:f", "nlc:d")]);
    gate.wait_held();
    exec.lost.store(true, SeqCst);
    gate.open();
    let e = rx.recv_timeout(PROMPT).unwrap().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Executor, "{e:?}");
    assert!(e.to_string().contains("connection to the executor was lost"), "{e}");
    let e = m.allocate(&[seg(R, Lifetime::Standard, 16)]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Executor, "{e:?}");
    // Detached: the working view is private memory now, no longer the executor's.
    write(&s[0], b"after");
    assert_ne!(perms_at(s[0].addr), None);
    assert!(m.stats().connection_lost.is_some());
    assert!(drop_manager(m) < Duration::from_millis(500));
    assert!(take_log("nlc:").is_empty());
}

/// Choosing the protocol: forcing native against an executor without the native symbols is a
/// clear error; auto then speaks stock (here: fails for want of LLVM's service, by name).
#[test]
fn the_protocol_is_chosen_by_the_published_symbols() {
    let exec = Arc::new(Exec { hide_native: true, ..Exec::default() });
    let e = Manager::new_remote(&native_config(), exec.transport()).unwrap_err();
    assert!(e.to_string().contains("native protocol was asked for"), "{e}");
    assert!(e.to_string().contains("__jitslab_executor_setup"), "{e}");
    let auto = Config { protocol: Protocol::Auto, ..native_config() };
    let e = Manager::new_remote(&auto, exec.transport()).unwrap_err();
    assert!(e.to_string().contains("LLVM's shared-memory mapper service"), "{e}");
    // With the symbols, auto picks native.
    let exec = Exec::new();
    let m = Arc::new(Manager::new_remote(&auto, exec.transport()).unwrap());
    assert_eq!(m.mapper_kind(), MapperKind::RemoteNative);
    drop_manager(m);
}
