//! The transport a remote mapper talks through: "call the wrapper function at executor address
//! A with these argument bytes, and tell me the result bytes", plus a lookup of the executor's
//! bootstrap symbols. The C++ shim implements it over ORC's `ExecutorProcessControl`; tests
//! implement it in Rust. The protocol itself (what the bytes mean) lives in [`crate::protocol::stock`].
//!
//! Concurrency: a transport is shared by every thread of a manager. A call's completion may run
//! on any thread, even before `call` returns, and runs exactly once.

use std::sync::atomic::{AtomicU64, Ordering};

/// The result of one call: the wrapper function's result bytes, or why the call did not
/// complete (the connection is gone, or the call was dropped unanswered).
pub type Reply = Result<Vec<u8>, String>;

/// Called once with a call's [`Reply`].
pub type Completion = Box<dyn FnOnce(Reply) + Send>;

/// See the module docs.
pub trait Transport: Send + Sync {
    /// Calls `CWrapperFunctionResult fn(const char*, size_t)` at `fn_addr` in the executor with
    /// `args`, then `done` once with the result.
    fn call(&self, fn_addr: u64, args: Vec<u8>, done: Completion);
    /// The address of a bootstrap symbol the executor published, if it did.
    fn lookup(&self, name: &str) -> Option<u64>;
}

/// Calls and bytes through a transport, counted where they are made.
#[derive(Debug, Default)]
pub(crate) struct RpcCounters {
    calls: AtomicU64,
    sent: AtomicU64,
    received: AtomicU64,
}

/// A snapshot of the calls a remote manager made to its executor, and their bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RpcCounts {
    pub calls: u64,
    /// Argument bytes sent (the wrapper-call payloads; the transport's framing is not counted).
    pub bytes_sent: u64,
    /// Result bytes received.
    pub bytes_received: u64,
}

impl RpcCounters {
    pub fn count_call(&self, args: usize) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.sent.fetch_add(args as u64, Ordering::Relaxed);
    }
    pub fn count_reply(&self, reply: &Reply) {
        if let Ok(bytes) = reply {
            self.received.fetch_add(bytes.len() as u64, Ordering::Relaxed);
        }
    }
    pub fn snapshot(&self) -> RpcCounts {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        RpcCounts { calls: get(&self.calls), bytes_sent: get(&self.sent), bytes_received: get(&self.received) }
    }
}
