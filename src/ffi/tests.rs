//! Unit tests of the C ABI's internals; the ABI driven as C would is tested in `tests/`.

use std::ffi::{c_char, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};

use super::manager::c_done;
use super::*;
use crate::manager::{Error, ErrorKind};
use crate::slab::Pool;

/// An `_async` operation that ends without completing (a panic unwinds through it) still
/// calls its C callback, once, with JITSLAB_ERR_PANIC; a completed one reports its status.
#[test]
fn async_callbacks_run_once_even_when_the_operation_is_dropped() {
    static SEEN: std::sync::Mutex<Vec<(usize, JitslabStatus)>> = std::sync::Mutex::new(Vec::new());
    unsafe extern "C" fn record(ctx: *mut c_void, status: JitslabStatus, _msg: *const c_char) {
        SEEN.lock().unwrap().push((ctx as usize, status));
    }
    let dropped = c_done(record, std::ptr::without_provenance_mut(1));
    drop(dropped);
    let completed = c_done(record, std::ptr::without_provenance_mut(2));
    completed(Err(Error::new(ErrorKind::BadState, "test")));
    let panicked = c_done(record, std::ptr::without_provenance_mut(3));
    let r = catch_unwind(AssertUnwindSafe(move || {
        let _owned = panicked;
        panic!("inside a completion");
    }));
    assert!(r.is_err());
    let seen = SEEN.lock().unwrap().clone();
    assert_eq!(seen, [(1, JITSLAB_ERR_PANIC), (2, JITSLAB_ERR_BAD_STATE), (3, JITSLAB_ERR_PANIC)]);
}

#[test]
fn the_header_names_the_executor_protocol_version_the_service_speaks() {
    assert_eq!(JITSLAB_EXECUTOR_PROTOCOL_VERSION, crate::protocol::native::PROTOCOL_VERSION);
}

#[test]
fn pool_indices_in_the_header_are_the_slab_pools() {
    assert_eq!(JITSLAB_POOL_CODE, Pool::Code as usize);
    assert_eq!(JITSLAB_POOL_READ_ONLY, Pool::ReadOnly as usize);
    assert_eq!(JITSLAB_POOL_READ_WRITE, Pool::ReadWrite as usize);
    assert_eq!(Pool::ALL.len(), JitslabStats::default().pools.len());
}
