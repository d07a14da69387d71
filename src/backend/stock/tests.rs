//! Tests of the stock backend: a remote manager against the fake executor of [`super::fake`].

use super::fake::*;
use crate::manager::{AllocId, Done, Error, ErrorKind, Lifetime, Manager, SegmentRequest};
use crate::mapper::remote::BLOCKING_CALL_TIMEOUT;
use crate::mapper::MapperKind;
use crate::protocol::sps::{self};
use crate::protocol::stock::{self, GROUP_EXEC, GROUP_FINALIZE_LIFETIME, GROUP_READ, GROUP_WRITE};
use crate::testing::{kind, recorded_pair, take_log};
use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

// --- the tests ---

/// Reserve, allocate, write through the working view, finalize (the executor protects each
/// segment and runs the actions, seeing the bytes), deallocate a batch in one call (dealloc
/// actions once each, last first), statistics, and Release at drop; no object name survives.
#[test]
fn full_cycle_shares_memory_protects_in_the_executor_and_cleans_up() {
    let fake = Fake::new();
    let m = remote(&fake);
    assert!(m.is_remote());
    assert_eq!(m.mapper_kind(), MapperKind::RemoteStock);
    // Reserve, then one Initialize that makes the whole reservation readable (ORC reads
    // eh-frames in the executor before finalize).
    assert_eq!(fake.ops(), [Op::Reserve, Op::Initialize]);
    let (base, span) = m.reservation();
    assert_eq!(fake.reservations(), [(base, span)], "the manager's reservation is the executor's");
    assert_eq!(fake.names().len(), 1);
    assert!(fake.shm_entries().is_empty(), "the object's name must be unlinked at once: {:?}", fake.shm_entries());

    let req = [
        seg(RX, Lifetime::Standard, 100),
        seg(R, Lifetime::Standard, 50),
        seg(RW, Lifetime::Standard, 8),
        seg(RW, Lifetime::Finalize, 16),
    ];
    let readable = decode_initialize(&fake.calls_of(Op::Initialize)[0].args).unwrap().1;
    assert_eq!(readable.reservation, base);
    assert_eq!(readable.segs, [stock::SegFinalize { group: GROUP_READ, addr: base, size: span }]);
    assert!(readable.actions.is_empty());
    let (a, s) = m.allocate(&req).unwrap();
    for x in &s {
        assert!(x.addr >= base && x.addr < base + span);
        assert_eq!(perms_at(x.addr).as_deref(), Some("r--s"), "the executor view starts read-only");
    }
    let code = [0x55, 0x48, 0x89, 0xe5, 0x5d, 0xc3];
    write(&s[0], &code);
    write(&s[1], b"konst");
    write(&s[2], &41u64.to_le_bytes());
    write(&s[3], b"finalize-only");
    let actions = vec![recorded_pair("full:fin-a", "full:dealloc-a"), peek_at(s[0].addr, 6), peek_at(s[3].addr, 13)];
    finalize(&m, a, actions).unwrap();
    assert_eq!(take_log("full:fin"), ["full:fin-a"]);
    assert_eq!(peeked(s[0].addr).as_deref(), Some(&code[..]), "the executor saw the code at finalize");
    assert_eq!(peeked(s[3].addr).as_deref(), Some(&b"finalize-only"[..]));

    // The request: one segment per allocated segment, page-granular, with its group bits.
    let init = decode_initialize(&fake.calls_of(Op::Initialize)[1].args).unwrap().1;
    assert_eq!(init.reservation, base);
    let page = m.page_size();
    let groups: Vec<(u64, u8)> = init.segs.iter().map(|g| (g.addr, g.group)).collect();
    assert_eq!(
        groups,
        [
            (s[0].addr, GROUP_READ | GROUP_EXEC),
            (s[1].addr, GROUP_READ),
            (s[2].addr, GROUP_READ | GROUP_WRITE),
            (s[3].addr, GROUP_READ | GROUP_WRITE | GROUP_FINALIZE_LIFETIME)
        ]
    );
    assert!(init.segs.iter().all(|g| g.addr % page == 0 && g.size % page == 0 && g.size > 0), "{init:?}");

    // The executor view has each segment's protection, and the bytes written here.
    assert_eq!(perms_at(s[0].addr).as_deref(), Some("r-xs"));
    assert_eq!(perms_at(s[1].addr).as_deref(), Some("r--s"));
    assert_eq!(perms_at(s[2].addr).as_deref(), Some("rw-s"));
    assert_eq!(read_exec(s[0].addr, 6), code);
    assert_eq!(read_exec(s[1].addr, 5), b"konst");
    assert_eq!(read_exec(s[2].addr, 8), 41u64.to_le_bytes());
    // ... and the linker's view is the same memory, both ways.
    // SAFETY: a live read-write data segment, in both views.
    unsafe { *(s[2].addr as *mut u64) = 42 };
    // SAFETY: the working pointer of the same segment.
    assert_eq!(unsafe { *(s[2].working as *const u64) }, 42);

    // Two more allocations, the second with two actions, then one batch.
    let (b, _) = m.allocate(&[seg(RW, Lifetime::Standard, 10)]).unwrap();
    finalize(
        &m,
        b,
        vec![recorded_pair("full:fin-b1", "full:dealloc-b1"), recorded_pair("full:fin-b2", "full:dealloc-b2")],
    )
    .unwrap();
    let (c, _) = m.allocate(&[seg(R, Lifetime::Standard, 10)]).unwrap();
    finalize(&m, c, vec![recorded_pair("full:fin-c", "full:dealloc-c")]).unwrap();
    take_log("full:fin");
    assert!(take_log("full:dealloc").is_empty(), "no dealloc action runs before deallocate");
    assert_eq!(fake.live_keys(), 3);
    deallocate(&m, &[a, b, c]).unwrap();
    assert_eq!(take_log("full:dealloc"), ["full:dealloc-c", "full:dealloc-b2", "full:dealloc-b1", "full:dealloc-a"]);
    let deinits = fake.calls_of(Op::Deinitialize);
    assert_eq!(deinits.len(), 1, "one Deinitialize for the batch");
    assert_eq!(decode_addrs(&deinits[0].args).unwrap().1.len(), 3);
    assert_eq!(fake.live_keys(), 0);

    let st = m.stats();
    assert_eq!(st.live_bytes(), 0);
    assert_eq!(st.live_allocations, 0);
    assert_eq!(st.rpc.calls, 6, "Reserve, 1 + 3 Initialize, 1 Deinitialize");
    assert_eq!(st.rpc.bytes_sent, fake.bytes_in.load(SeqCst));
    assert_eq!(st.rpc.bytes_received, fake.bytes_out.load(SeqCst));
    assert!(st.rpc.bytes_sent > 0 && st.rpc.bytes_received > 0);
    assert_eq!(st.connection_lost, None);
    assert!(st.to_string().contains("executor calls: 6"), "{st}");

    drop_manager(m);
    let releases = fake.calls_of(Op::Release);
    assert_eq!(releases.len(), 1, "Release at drop");
    assert_eq!(decode_addrs(&releases[0].args).unwrap().1, [base]);
    assert_eq!(fake.ops().len(), 7);
    assert!(fake.reservations().is_empty());
    assert!(fake.shm_entries().is_empty(), "{:?}", fake.shm_entries());
    fake.assert_no_violation();
}

/// Allocating (and abandoning) is bookkeeping in this process: no call to the executor, however
/// many chunks the pools take.
#[test]
fn allocations_never_make_a_call() {
    let fake = Fake::new();
    let m = remote(&fake);
    let before = m.stats().rpc;
    let mut live = Vec::new();
    for i in 0..2000u64 {
        let (id, s) = m
            .allocate(&[seg(RX, Lifetime::Standard, 100 + i * 7), seg(RW, Lifetime::Standard, 4096 * (i % 5 + 1))])
            .unwrap();
        write(&s[1], &i.to_le_bytes());
        if i % 3 == 0 {
            live.push(id);
        } else {
            m.abandon(id).unwrap();
        }
    }
    let chunks = m.stats().pools.iter().map(|p| p.stats.reserved).sum::<u64>() / m.stats().chunk;
    assert!(chunks > 8, "the pools grew: {chunks} chunks");
    for id in live {
        m.abandon(id).unwrap();
    }
    assert_eq!(m.stats().rpc, before);
    assert_eq!(fake.ops(), [Op::Reserve, Op::Initialize], "only the calls made at creation");
    assert_eq!(m.stats().live_bytes(), 0);
}

/// Holds the executor's reply to `op` (Initialize for a finalize, Deinitialize for a deallocate)
/// and, while it is held, allocates, abandons and allocates again on another thread: none of it
/// may wait for the reply. Then lets the call through: the held operation completes correctly,
/// and so does the allocation made meanwhile.
fn allocate_while_a_reply_is_held(op: Op) {
    let tag = format!("held{op:?}");
    let (fin, dealloc) = (format!("{tag}:fa"), format!("{tag}:da"));
    // The action the held call runs in the executor.
    let (held_log, held_action) = match op {
        Op::Initialize => (format!("{tag}:f"), fin.clone()),
        _ => (format!("{tag}:d"), dealloc.clone()),
    };
    let fake = Fake::new();
    let m = remote(&fake);
    let (a, sa) = m.allocate(&[seg(RW, Lifetime::Standard, 64)]).unwrap();
    write(&sa[0], b"held");
    if op == Op::Deinitialize {
        finalize(&m, a, vec![recorded_pair(&fin, &dealloc)]).unwrap();
    }
    let gate = Gate::new();
    fake.fault(op, Fault::Held(Arc::clone(&gate)));
    // Started on a thread of its own, so that an operation that waited for its reply would fail
    // this test rather than hang it.
    let (tx, held) = mpsc::channel();
    let starter = {
        let (m, fin, dealloc) = (Arc::clone(&m), fin.clone(), dealloc.clone());
        std::thread::spawn(move || {
            let done: Done = Box::new(move |r| {
                let _ = tx.send(r);
            });
            // SAFETY: recorded actions, run by the fake executor in this process.
            unsafe {
                match op {
                    Op::Initialize => m.finalize_async(a, vec![recorded_pair(&fin, &dealloc)], done),
                    _ => m.deallocate_async(&[a], done),
                }
            }
        })
    };
    gate.wait_held();

    let (tx, rx) = mpsc::channel();
    let worker = {
        let m = Arc::clone(&m);
        std::thread::spawn(move || {
            let (b, _) = m.allocate(&[seg(RX, Lifetime::Standard, 64)]).unwrap();
            m.abandon(b).unwrap();
            let (c, sc) = m.allocate(&[seg(RW, Lifetime::Standard, 64)]).unwrap();
            write(&sc[0], b"meanwhile");
            let _ = tx.send((c, sc[0].addr));
        })
    };
    let (c, c_addr) =
        rx.recv_timeout(PROMPT).unwrap_or_else(|_| panic!("{tag}: allocate or abandon waited for the held reply"));
    worker.join().unwrap();
    assert!(matches!(held.try_recv(), Err(mpsc::TryRecvError::Empty)), "{tag}: the reply was still held");
    assert!(take_log(&held_log).is_empty(), "{tag}: nor carried out");
    assert_ne!(c_addr, sa[0].addr, "{tag}: the held allocation's memory is still its own");

    gate.open();
    let r = held.recv_timeout(PROMPT).unwrap_or_else(|_| panic!("{tag}: no completion once the reply was let through"));
    r.unwrap_or_else(|e| panic!("{tag}: {e}"));
    starter.join().unwrap();
    assert_eq!(take_log(&held_log), [held_action], "{tag}");
    if op == Op::Initialize {
        assert_eq!(read_exec(sa[0].addr, 4), b"held", "{tag}");
        deallocate(&m, &[a]).unwrap();
    }
    take_log(&format!("{tag}:"));
    finalize(&m, c, vec![]).unwrap();
    assert_eq!(read_exec(c_addr, 9), b"meanwhile", "{tag}");
    deallocate(&m, &[c]).unwrap();
    let st = m.stats();
    assert_eq!((st.live_bytes(), st.abandons, st.deallocations), (0, 1, 2), "{tag}");
    drop_manager(m);
    fake.assert_no_violation();
}

#[test]
fn allocations_never_wait_for_a_held_finalize_reply() {
    allocate_while_a_reply_is_held(Op::Initialize);
}

#[test]
fn allocations_never_wait_for_a_held_deallocate_reply() {
    allocate_while_a_reply_is_held(Op::Deinitialize);
}

/// A finalize that fails, for any reason, rolls the allocation back; the memory comes back and
/// the manager keeps working: a new allocation reuses it, and bytes written through its working
/// view reach the executor.
fn assert_rolled_back_and_still_working(fake: &Fake, m: &Arc<Manager>, req: &[SegmentRequest], old: &[u64], tag: &str) {
    let st = m.stats();
    assert_eq!(st.live_bytes(), 0, "{tag}: the allocation was rolled back");
    assert_eq!(st.connection_lost, None, "{tag}: a bad reply is not a lost connection");
    let (id, s) = m.allocate(req).unwrap();
    assert_eq!(addrs(&s), old, "{tag}: the memory is reused");
    write(&s[0], tag.as_bytes());
    finalize(m, id, vec![]).unwrap();
    assert_eq!(
        read_exec(s[0].addr, tag.len()),
        tag.as_bytes(),
        "{tag}: the working view is still the executor's memory"
    );
    deallocate(m, &[id]).unwrap();
    assert_eq!(m.stats().live_bytes(), 0);
    fake.assert_no_violation();
}

/// Replies to Initialize that do not decode (truncated, of the wrong type, with trailing bytes)
/// are clear `Executor` errors that roll the allocation back and lose nothing.
#[test]
fn bad_initialize_replies_are_clear_errors_that_lose_nothing() {
    let cases = [
        (Fault::Truncate(1), "needs 8 bytes"),
        // An `Error` (success) where `Expected<Addr>` belongs: a failure with no message.
        (Fault::Replace(vec![0]), "Initialize result"),
        (Fault::Replace(Vec::new()), "needs 1 bytes"),
        (Fault::Trailing(vec![0]), "1 trailing bytes"),
        (Fault::Replace(vec![2, 0, 0, 0, 0, 0, 0, 0, 0]), "neither 0 nor 1"),
    ];
    for (fault, detail) in cases {
        let fake = Fake::new();
        let m = remote(&fake);
        let req = [seg(RW, Lifetime::Standard, 64), seg(RX, Lifetime::Standard, 64)];
        let (id, s) = m.allocate(&req).unwrap();
        fake.fault(Op::Initialize, fault.clone());
        let e = finalize(&m, id, vec![]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Executor, "{fault:?}: {e:?}");
        let msg = e.message();
        assert!(msg.contains("bad reply from the executor to Initialize"), "{fault:?}: {msg}");
        assert!(msg.contains(detail), "{fault:?}: {msg}");
        assert!(msg.contains("rolled back"), "{fault:?}: {msg}");
        assert_eq!(m.stats().failed_finalizes, 1);
        assert_rolled_back_and_still_working(&fake, &m, &req, &addrs(&s), &format!("{fault:?}"));
    }
}

/// The executor reports an error (a finalize action fails there): `ActionFailed` with its
/// message, the allocation rolled back and its memory reusable.
#[test]
fn an_initialize_failing_in_the_executor_rolls_back() {
    let fake = Fake::new();
    let m = remote(&fake);
    let req = [seg(RX, Lifetime::Standard, 64)];
    let (id, s) = m.allocate(&req).unwrap();
    let e =
        finalize(&m, id, vec![recorded_pair("initfail:ok", "initfail:undo"), recorded_pair("fail:initfail:no", "x")])
            .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ActionFailed, "{e:?}");
    let msg = e.message();
    assert!(msg.contains("the executor failed Initialize: refused: fail:initfail:no"), "{msg}");
    assert!(msg.contains(&format!("allocation {} failed, allocation rolled back", id.0)), "{msg}");
    // The executor ran the first finalize action, then its dealloc when the second failed.
    assert_eq!(take_log("initfail:"), ["initfail:ok", "fail:initfail:no", "initfail:undo"]);
    assert_eq!(m.stats().failed_finalizes, 1);
    assert_eq!(kind(deallocate(&m, &[id])), Some(ErrorKind::UnknownAllocation), "the id is gone");
    assert_rolled_back_and_still_working(&fake, &m, &req, &addrs(&s), "initfail");
}

/// A reply to Deinitialize that does not decode, or an error the executor reports there: the
/// memory is returned anyway and the manager keeps working.
#[test]
fn bad_or_failing_deinitialize_replies_return_the_memory() {
    for (fault, want_executor) in [(Fault::Truncate(1), true), (Fault::Replace(sps::encode_error(Some("oops"))), false)]
    {
        let fake = Fake::new();
        let m = remote(&fake);
        let req = [seg(RW, Lifetime::Standard, 64)];
        let (id, s) = m.allocate(&req).unwrap();
        finalize(&m, id, vec![recorded_pair("deinitbad:f", "deinitbad:d")]).unwrap();
        fake.fault(Op::Deinitialize, fault.clone());
        let e = deallocate(&m, &[id]).unwrap_err();
        assert!(e.to_string().contains("memory was returned anyway"), "{e}");
        let msg = e.message();
        match (e.kind(), want_executor) {
            (ErrorKind::Executor, true) => {
                assert!(msg.contains("bad reply from the executor to Deinitialize"), "{msg}")
            }
            (ErrorKind::ActionFailed, false) => {
                assert!(msg.contains("the executor failed Deinitialize: oops"), "{msg}")
            }
            _ => panic!("{fault:?}: {e:?}"),
        }
        take_log("deinitbad:");
        assert_eq!(m.stats().deallocations, 1);
        assert_rolled_back_and_still_working(&fake, &m, &req, &addrs(&s), &format!("{fault:?}"));
    }
}

/// How the connection goes away in [`lose_connection`].
#[derive(Debug, Clone, Copy)]
enum Loss {
    Disconnect,
    DropCompletion,
}

/// Loses the connection during `op` (Initialize or Deinitialize) and checks everything after it:
/// the pending operation fails promptly with `Executor`, later operations fail with the same
/// reason, the statistics say why, the working view is detached from the executor's memory, and
/// dropping the manager neither hangs nor calls the executor.
fn lose_connection(op: Op, how: Loss) {
    let tag = format!("{op:?}/{how:?}");
    let fake = Fake::new();
    let m = remote(&fake);
    // Finalized data segments (readable in the executor view), and allocations in flight.
    let (a, _) = m.allocate(&[seg(RW, Lifetime::Standard, 64)]).unwrap();
    finalize(&m, a, vec![recorded_pair("lost:fa", "lost:da")]).unwrap();
    let (keep, sk) = m.allocate(&[seg(RW, Lifetime::Standard, 64)]).unwrap();
    write(&sk[0], b"before");
    finalize(&m, keep, vec![]).unwrap();
    let (b, _) = m.allocate(&[seg(RX, Lifetime::Standard, 64)]).unwrap();
    let (c, _) = m.allocate(&[seg(R, Lifetime::Standard, 64)]).unwrap();
    fake.fault(
        op,
        match how {
            Loss::Disconnect => Fault::Disconnect,
            Loss::DropCompletion => Fault::DropCompletion,
        },
    );
    let started = Instant::now();
    let e = match op {
        Op::Initialize => finalize(&m, b, vec![recorded_pair("lost:fb", "lost:db")]),
        Op::Deinitialize => deallocate(&m, &[a]),
        _ => unreachable!(),
    }
    .unwrap_err();
    assert!(started.elapsed() < PROMPT, "{tag}");
    assert_eq!(e.kind(), ErrorKind::Executor, "{tag}: {e:?}");
    let msg = e.message();
    let why = m.stats().connection_lost.unwrap_or_else(|| panic!("{tag}: stats must say the connection was lost"));
    assert!(why.contains("lost") && why.contains(&format!("{op:?}")), "{tag}: {why}");
    if let Loss::Disconnect = how {
        assert!(why.contains("disconnecting"), "{tag}: {why}");
    }
    assert!(msg.contains(&why), "{tag}: the failure says why: {msg}");
    assert!(take_log("lost:fb").is_empty(), "{tag}: the executor never ran the lost call");

    // Later operations fail at once, with the same reason, and make no call.
    let calls = fake.ops().len();
    let later = m.allocate(&[seg(RW, Lifetime::Standard, 8)]).unwrap_err();
    assert_eq!(later, Error::new(ErrorKind::Executor, why.clone()), "{tag}");
    let fin = finalize(&m, c, vec![]).unwrap_err();
    assert!(fin.kind() == ErrorKind::Executor && fin.message().contains(&why), "{tag}: {fin:?}");
    if let Op::Initialize = op {
        let de = deallocate(&m, &[a]).unwrap_err();
        assert!(de.kind() == ErrorKind::Executor && de.message().contains(&why), "{tag}: {de:?}");
    }
    assert_eq!(fake.ops().len(), calls, "{tag}: no call after the loss");
    // The failed operation's allocation is gone (rolled back, or returned anyway); a, when it
    // was not the one deallocated, was returned by the failed deallocate above.
    let live = match op {
        Op::Initialize => vec![keep, c],
        _ => vec![keep, b, c],
    };
    assert_eq!(m.stats().live_allocations, live.len() as u64, "{tag}");

    // The working view is let go of: still writable here, no longer the executor's memory.
    write(&sk[0], b"after!");
    assert_eq!(read_exec(sk[0].addr, 6), b"before", "{tag}: the executor view must not see writes after the loss");
    m.abandon(c).unwrap();

    let took = drop_manager(m);
    assert!(took < Duration::from_secs(1), "{tag}: dropping took {took:?}");
    assert!(!fake.ops().contains(&Op::Release), "{tag}: no Release after the loss");
    take_log("lost:");
    fake.assert_no_violation();
}

#[test]
fn connection_lost_during_finalize_fails_pending_and_later_calls_promptly() {
    lose_connection(Op::Initialize, Loss::Disconnect);
    lose_connection(Op::Initialize, Loss::DropCompletion);
}

#[test]
fn connection_lost_during_deallocate_fails_pending_and_later_calls_promptly() {
    lose_connection(Op::Deinitialize, Loss::Disconnect);
    lose_connection(Op::Deinitialize, Loss::DropCompletion);
}

/// The executor keys an allocation by its lowest segment address and overwrites an entry with
/// the same key. A finalize-lifetime segment given back right after finalize must therefore not
/// be the allocation's key, or a later allocation placed there takes over its dealloc actions.
#[test]
fn an_early_freed_finalize_segment_never_lends_its_key_to_another_allocation() {
    let fake = Fake::new();
    let m = remote(&fake);
    // The finalize-lifetime segment gets the lowest address: the executor's key.
    let (a, sa) = m.allocate(&[seg(RW, Lifetime::Finalize, 64), seg(RX, Lifetime::Standard, 64)]).unwrap();
    assert!(sa[0].addr < sa[1].addr, "test setup: the finalize segment must be the key");
    finalize(&m, a, vec![recorded_pair("key:fa", "key:da")]).unwrap();
    let (b, _) = m.allocate(&[seg(RW, Lifetime::Standard, 64)]).unwrap();
    finalize(&m, b, vec![recorded_pair("key:fb", "key:db")]).unwrap();
    let keys: Vec<u64> = fake
        .calls_of(Op::Initialize)
        .iter()
        .skip(1)
        .map(|c| decode_initialize(&c.args).unwrap().1.segs.iter().map(|s| s.addr).min().unwrap())
        .collect();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0], sa[0].addr);
    assert_ne!(keys[0], keys[1], "b must not get a's key");
    take_log("key:f");
    deallocate(&m, &[a]).unwrap();
    assert_eq!(take_log("key:d"), ["key:da"], "a's own dealloc action, and only it");
    deallocate(&m, &[b]).unwrap();
    assert_eq!(take_log("key:d"), ["key:db"]);
    assert_eq!(m.stats().live_bytes(), 0);
    fake.assert_no_violation();
}

/// Four threads allocate, write, finalize and deallocate through one remote manager, with every
/// reply delivered on another thread: each completion runs exactly once, the executor sees each
/// allocation's bytes, every dealloc action runs once, and nothing is left live.
#[test]
fn concurrent_remote_operations_complete_once_each_and_leave_nothing_live() {
    const THREADS: u64 = 4;
    const ROUNDS: u64 = 60;
    let fake = Fake::new();
    let m = remote(&fake);
    let completions = Arc::new(AtomicU32::new(0));
    let started = Arc::new(AtomicU32::new(0));
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let (m, completions, started) = (Arc::clone(&m), Arc::clone(&completions), Arc::clone(&started));
            std::thread::spawn(move || {
                let mut pending: Vec<AllocId> = Vec::new();
                for i in 0..ROUNDS {
                    let size = 16 + (t * 131 + i * 977) % 9000;
                    let (id, s) =
                        m.allocate(&[seg(RX, Lifetime::Standard, size), seg(RW, Lifetime::Standard, 32)]).unwrap();
                    let stamp = (t << 32 | i).to_le_bytes();
                    write(&s[0], &stamp);
                    write(&s[1], &stamp);
                    let (tx, rx) = mpsc::channel();
                    let c = Arc::clone(&completions);
                    started.fetch_add(1, SeqCst);
                    let act = recorded_pair(&format!("conc:f{t}-{i}"), &format!("conc:d{t}-{i}"));
                    // SAFETY: recorded actions, run by the fake executor in this process.
                    unsafe {
                        m.finalize_async(
                            id,
                            vec![act, peek_at(s[0].addr, 8)],
                            Box::new(move |r| {
                                c.fetch_add(1, SeqCst);
                                tx.send(r).unwrap();
                            }),
                        )
                    };
                    rx.recv_timeout(PROMPT).expect("finalize completion").unwrap();
                    assert_eq!(read_exec(s[0].addr, 8), stamp);
                    assert_eq!(read_exec(s[1].addr, 8), stamp);
                    assert_eq!(peeked(s[0].addr).as_deref(), Some(&stamp[..]));
                    pending.push(id);
                    if pending.len() == 3 || i + 1 == ROUNDS {
                        let (tx, rx) = mpsc::channel();
                        let c = Arc::clone(&completions);
                        started.fetch_add(1, SeqCst);
                        // SAFETY: as above.
                        unsafe {
                            m.deallocate_async(
                                &pending,
                                Box::new(move |r| {
                                    c.fetch_add(1, SeqCst);
                                    tx.send(r).unwrap();
                                }),
                            )
                        };
                        rx.recv_timeout(PROMPT).expect("deallocate completion").unwrap();
                        pending.clear();
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    // Give a completion that would (wrongly) run twice the time to do so.
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(completions.load(SeqCst), started.load(SeqCst));
    let st = m.stats();
    assert_eq!(st.live_bytes(), 0);
    assert_eq!(st.live_allocations, 0);
    assert_eq!(st.finalizes, THREADS * ROUNDS);
    assert_eq!(fake.live_keys(), 0);
    let deallocs = take_log("conc:d");
    assert_eq!(deallocs.len() as u64, THREADS * ROUNDS);
    let mut unique = deallocs.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), deallocs.len(), "every dealloc action ran once");
    assert_eq!(take_log("conc:f").len() as u64, THREADS * ROUNDS);
    assert_eq!(
        st.rpc.calls,
        1 + fake.calls_of(Op::Initialize).len() as u64 + fake.calls_of(Op::Deinitialize).len() as u64
    );
    drop_manager(m);
    assert!(fake.shm_entries().is_empty());
    fake.assert_no_violation();
}

/// An allocation with no memory (every segment NoAlloc) and no actions costs no call; one with
/// actions gets an executor key of its own (LLVM's service keys an allocation by its lowest
/// segment address, ~0 for none, so two such allocations would share a key and the first
/// one's dealloc actions would be lost), held until it is deallocated.
#[test]
fn allocations_without_memory_get_executor_keys_of_their_own() {
    let fake = Fake::new();
    let m = remote(&fake);
    let none = [seg(R, Lifetime::NoAlloc, 0)];
    let calls = fake.ops().len();
    let (quiet, _) = m.allocate(&none).unwrap();
    finalize(&m, quiet, Vec::new()).unwrap();
    deallocate(&m, &[quiet]).unwrap();
    assert_eq!(fake.ops().len(), calls, "no memory and no action: no call");

    let (a, _) = m.allocate(&none).unwrap();
    finalize(&m, a, vec![recorded_pair("empty:fa", "empty:da")]).unwrap();
    let (b, _) = m.allocate(&none).unwrap();
    finalize(&m, b, vec![recorded_pair("empty:fb", "empty:db")]).unwrap();
    assert_eq!(take_log("empty:f"), ["empty:fa", "empty:fb"]);
    let keys: Vec<u64> = fake
        .calls_of(Op::Initialize)
        .iter()
        .skip(1)
        .map(|c| decode_initialize(&c.args).unwrap().1.segs.iter().map(|s| s.addr).min().unwrap_or(!0))
        .collect();
    assert_eq!(keys.len(), 2);
    assert!(keys.iter().all(|&k| k != !0), "each has a segment, so a key of its own: {keys:x?}");
    assert_ne!(keys[0], keys[1]);
    assert_eq!(m.stats().live_allocations, 2);
    deallocate(&m, &[a]).unwrap();
    assert_eq!(take_log("empty:d"), ["empty:da"], "a's own dealloc action, and only it");
    deallocate(&m, &[b]).unwrap();
    assert_eq!(take_log("empty:d"), ["empty:db"]);
    assert_eq!(m.stats().live_bytes(), 0, "the key pages are given back");
    fake.assert_no_violation();
}

mod lifecycle;
