//! Creating and dropping a remote manager over the stock service: replies to Reserve and the
//! first Initialize that are bad, late or never come, and Releases that fail at drop. Creation
//! fails clearly and releases what the executor reserved; a drop neither panics nor hangs.

use super::*;

/// Replies to Reserve that do not decode, or report an error: creation fails with a clear
/// message, and nothing is mapped here.
#[test]
fn bad_reserve_replies_fail_creation_clearly() {
    let cases = [
        (Fault::Truncate(1), "bad reply from the executor to Reserve"),
        // `Expected<Addr>` where `Expected<(Addr, String)>` belongs.
        (
            Fault::Replace(expected_ok(|w| {
                w.u64(0x7f00_0000_0000);
            })),
            "bad reply from the executor to Reserve",
        ),
        (Fault::Trailing(vec![7]), "trailing bytes"),
        (Fault::Replace(expected_err("out of tmpfs")), "the executor failed Reserve: out of tmpfs"),
    ];
    for (fault, want) in cases {
        let fake = Fake::new();
        fake.fault(Op::Reserve, fault.clone());
        let e = Manager::new_remote(&config(), fake.transport()).unwrap_err();
        assert!(e.to_string().contains(want), "{fault:?}: {e}");
        assert_eq!(fake.ops(), [Op::Reserve], "{fault:?}");
        fake.assert_no_violation();
    }
}

/// A Reserve reply naming an object that does not exist: creation fails naming it, and the
/// reservation the executor made is released again.
#[test]
fn a_reserve_reply_naming_no_object_releases_the_reservation() {
    let fake = Fake::new();
    fake.fault(Op::Reserve, Fault::BogusName);
    let e = Manager::new_remote(&config(), fake.transport()).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("no_such_object") && msg.contains("shm_open"), "{msg}");
    assert!(msg.contains("cannot map it"), "{msg}");
    assert_eq!(fake.ops(), [Op::Reserve, Op::Release]);
    assert!(fake.reservations().is_empty(), "the executor's reservation was released");
    assert!(fake.shm_entries().is_empty());
    fake.assert_no_violation();
}

/// The Initialize that makes a new reservation readable fails (an error reported, or a reply
/// that does not decode): creation fails saying so, and the reservation is released.
#[test]
fn a_failing_first_initialize_fails_creation_and_releases() {
    for (fault, want) in [
        (Fault::Replace(expected_err("mprotect: EACCES")), "the executor failed Initialize: mprotect: EACCES"),
        (Fault::Truncate(1), "bad reply from the executor to Initialize"),
    ] {
        let fake = Fake::new();
        fake.fault(Op::Initialize, fault.clone());
        let e = Manager::new_remote(&config(), fake.transport()).unwrap_err();
        assert!(e.to_string().contains(want), "{fault:?}: {e}");
        assert_eq!(fake.ops(), [Op::Reserve, Op::Initialize, Op::Release], "{fault:?}");
        assert!(fake.reservations().is_empty(), "{fault:?}");
        assert!(fake.shm_entries().is_empty(), "{fault:?}");
        fake.assert_no_violation();
    }
}

/// An executor without the service: creation fails naming the missing symbol, before any call.
#[test]
fn missing_bootstrap_symbols_are_named() {
    for name in [stock::INSTANCE, stock::RESERVE, stock::INITIALIZE, stock::DEINITIALIZE, stock::RELEASE] {
        let fake = Fake::with_missing(Some(name));
        let e = Manager::new_remote(&config(), fake.transport()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Executor, "{e:?}");
        let msg = e.message();
        assert!(msg.contains(name), "{msg}");
        assert!(fake.ops().is_empty());
    }
}

/// A connection lost at Reserve (or a Reserve never answered) fails creation with the reason.
#[test]
fn connection_lost_at_reserve_fails_creation() {
    for fault in [Fault::Disconnect, Fault::DropCompletion] {
        let fake = Fake::new();
        fake.fault(Op::Reserve, fault.clone());
        let started = Instant::now();
        let e = Manager::new_remote(&config(), fake.transport()).unwrap_err();
        assert!(started.elapsed() < PROMPT);
        assert_eq!(e.kind(), ErrorKind::Executor, "{fault:?}: {e:?}");
        let msg = e.message();
        assert!(msg.contains("the connection to the executor was lost (Reserve"), "{fault:?}: {msg}");
        assert_eq!(fake.ops(), [Op::Reserve]);
    }
}

/// A Reserve reply that comes after creation gave up waiting: creation fails saying the
/// executor did not answer in time (not that the connection was lost), and the late reply is
/// cleaned up: the object's name is removed and the reservation given back.
#[test]
fn a_late_reserve_reply_leaves_no_name_and_no_reservation() {
    let fake = Fake::new();
    fake.fault(Op::Reserve, Fault::Late(BLOCKING_CALL_TIMEOUT + Duration::from_millis(300)));
    let e = Manager::new_remote(&config(), fake.transport()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Executor, "{e:?}");
    assert!(e.to_string().contains("did not answer Reserve within"), "{e}");
    let started = Instant::now();
    while (!fake.ops().contains(&Op::Release) || !fake.reservations().is_empty()) && started.elapsed() < PROMPT {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(fake.ops().contains(&Op::Release), "the late reservation is released");
    assert!(fake.reservations().is_empty());
    assert!(fake.shm_entries().is_empty(), "{:?}", fake.shm_entries());
    fake.assert_no_violation();
}

/// Drops a remote manager (one finalized allocation still in it) whose Release meets `fault`:
/// the drop neither panics nor hangs, sends exactly one Release for the reservation, and leaves
/// the linker's view unmapped. Returns the fake and how long the drop took.
///
/// The failure itself is reported nowhere: `Drop for Manager` has no caller to tell, and the
/// statistics go with the manager.
fn drop_with_release_fault(fault: Fault) -> (Arc<Fake>, Duration) {
    let fake = Fake::new();
    let m = remote(&fake);
    let (base, _) = m.reservation();
    let (a, s) = m.allocate(&[seg(RW, Lifetime::Standard, 64)]).unwrap();
    finalize(&m, a, vec![]).unwrap();
    let working = s[0].working as u64;
    let maps_the_object = || maps_line(working).is_some_and(|l| l.contains(&fake.prefix));
    assert!(maps_the_object(), "test setup: the working view maps the object");
    fake.fault(Op::Release, fault.clone());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(drop_manager(m));
    });
    let took = match rx.recv_timeout(BLOCKING_CALL_TIMEOUT + PROMPT) {
        Ok(took) => took,
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("{fault:?}: dropping the manager hung"),
        Err(mpsc::RecvTimeoutError::Disconnected) => panic!("{fault:?}: dropping the manager panicked"),
    };
    assert!(took < BLOCKING_CALL_TIMEOUT + Duration::from_millis(500), "{fault:?}: dropping took {took:?}");
    let releases = fake.calls_of(Op::Release);
    assert_eq!(releases.len(), 1, "{fault:?}: one Release, not retried");
    assert_eq!(decode_addrs(&releases[0].args).unwrap().1, [base], "{fault:?}");
    assert!(!maps_the_object(), "{fault:?}: the linker's view is unmapped: {:?}", maps_line(working));
    (fake, took)
}

/// A Release answered with a reply that does not decode (truncated, of the wrong type, garbage,
/// trailing bytes), with an error from the executor, or whose completion is dropped (the
/// connection goes): dropping the manager returns at once, without waiting out the timeout.
#[test]
fn a_failed_release_at_drop_neither_panics_nor_waits_and_unmaps_the_view() {
    let cases = [
        Fault::Truncate(1),
        // `Expected<Addr>` where `Error` belongs.
        Fault::Replace(expected_ok(|w| {
            w.u64(0x7f00_0000_0000);
        })),
        Fault::Replace(vec![0xff; 3]),
        Fault::Trailing(vec![0]),
        Fault::Replace(sps::encode_error(Some("munmap: EINVAL"))),
        Fault::DropCompletion,
    ];
    for fault in cases {
        let (fake, took) = drop_with_release_fault(fault.clone());
        assert!(took < BLOCKING_CALL_TIMEOUT / 2, "{fault:?}: a reply that came is not waited out: {took:?}");
        if !matches!(fault, Fault::DropCompletion) {
            assert!(fake.reservations().is_empty(), "{fault:?}: the executor carried the Release out");
        }
        fake.assert_no_violation();
    }
}

/// A Release never answered: dropping the manager gives up after the blocking-call timeout, and
/// the reply that comes later is taken care of: the executor releases, and nothing of the
/// manager keeps the connection alive.
#[test]
fn an_unanswered_release_at_drop_times_out_and_unmaps_the_view() {
    let gate = Gate::new();
    let (fake, took) = drop_with_release_fault(Fault::Held(Arc::clone(&gate)));
    assert!(took >= BLOCKING_CALL_TIMEOUT, "the drop waited for the reply: {took:?}");
    assert_eq!(fake.reservations().len(), 1, "the Release was still held");
    gate.open();
    let started = Instant::now();
    while (!fake.reservations().is_empty() || Arc::strong_count(&fake) > 1) && started.elapsed() < PROMPT {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(fake.reservations().is_empty(), "the late Release was carried out");
    assert_eq!(Arc::strong_count(&fake), 1, "the late reply let go of the connection");
    assert!(fake.shm_entries().is_empty());
    fake.assert_no_violation();
}
