//! `jitslab_executor_shutdown`, as an executor calls it when its linker is gone: every region
//! ends, the dealloc actions still pending run, most recent first. A test binary of its own,
//! since shutdown ends every region of the process.

use jitslab::ffi::{jitslab_executor_shutdown, JitslabStatus};
use jitslab::testing::internals::executor_call as call;
use jitslab::testing::internals::native::{self as wire, Allocation, Extent, SetupArgs, Sharing};
use jitslab::testing::internals::native::{Op, PROTOCOL_VERSION};
use jitslab::testing::internals::{self as sys, Prot};
use jitslab::testing::{recorded_pair, take_log};

fn setup() -> wire::SetupReply {
    let args = wire::setup_args(&SetupArgs { version: PROTOCOL_VERSION, span: 1 << 20, sharing: Sharing::Memfd });
    wire::decode_setup_reply(&call(Op::Setup, &args)).unwrap().unwrap()
}

fn finalize_one(handle: u64, key: u64, tag: &str) {
    let page = sys::page_size();
    let protect = [Extent { offset: 0, len: page, access: Prot::R }];
    let a = Allocation {
        key,
        segments: vec![Extent { offset: key * 8, len: 8, access: Prot::R }],
        actions: vec![recorded_pair(&format!("{tag}:f"), &format!("{tag}:d"))],
    };
    let r = wire::decode_finalize_reply(&call(Op::Finalize, &wire::finalize_args(handle, &protect, &[a]))).unwrap();
    assert_eq!(r, Ok(vec![Ok(())]));
}

#[test]
fn shutdown_ends_every_region_and_runs_pending_dealloc_actions() {
    let (a, b) = (setup(), setup());
    finalize_one(a.handle, 1, "shutdown-a1");
    finalize_one(b.handle, 1, "shutdown-b1");
    finalize_one(a.handle, 2, "shutdown-a2");
    take_log("shutdown-");
    assert_eq!(jitslab_executor_shutdown(), JitslabStatus::JITSLAB_OK);
    // Per region, most recent first; regions in handle order.
    assert_eq!(take_log("shutdown-"), ["shutdown-a2:d", "shutdown-a1:d", "shutdown-b1:d"]);
    let mapped = sys::mapped_ranges().unwrap();
    for base in [a.base, b.base] {
        assert!(!mapped.iter().any(|&(s, e)| (s..e).contains(&base)), "{base:#x} still mapped");
    }
    let r = call(Op::Teardown, &wire::teardown_args(a.handle));
    assert!(jitslab::testing::internals::sps::decode_error(&r).unwrap().unwrap().contains("unknown handle"));
    assert_eq!(jitslab_executor_shutdown(), JitslabStatus::JITSLAB_OK, "nothing left is fine");
}
