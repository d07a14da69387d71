//! The error of every fallible operation of jitslab's Rust API: a kind, decided where the
//! failure happens (a layer that knows an OS call failed says so; one that knows the executor
//! answered with an error says so), and a message that says what was asked and what was
//! available. The C ABI maps each kind to one status code.
//!
//! Concurrency: plain data.

use std::fmt;

/// What went wrong, by kind; the text says what was asked and what was available.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// A request that can never succeed (bad protection, alignment, empty request…).
    InvalidArgument(String),
    /// The reservation has no room for the request.
    Full(String),
    /// The reservation could not be placed as asked.
    Placement(String),
    /// An OS call failed.
    Os(String),
    /// The id names no live allocation (never issued, already freed or abandoned).
    UnknownAllocation(String),
    /// The allocation exists but is in the wrong state for the call.
    BadState(String),
    /// An allocation action failed; the allocation was rolled back (finalize) or freed anyway
    /// (deallocate).
    ActionFailed(String),
    /// An earlier call panicked inside the manager (a bug); it refuses further changes.
    Broken(String),
    /// The executor process is unreachable (it died or the connection dropped) or sent a reply
    /// that does not decode.
    Executor(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (Error::InvalidArgument(m)
        | Error::Full(m)
        | Error::Placement(m)
        | Error::Os(m)
        | Error::UnknownAllocation(m)
        | Error::BadState(m)
        | Error::ActionFailed(m)
        | Error::Broken(m)
        | Error::Executor(m)) = self;
        f.write_str(m)
    }
}

impl std::error::Error for Error {}

impl Error {
    /// The error's text, to edit in place.
    fn message_mut(&mut self) -> &mut String {
        let (Error::InvalidArgument(m)
        | Error::Full(m)
        | Error::Placement(m)
        | Error::Os(m)
        | Error::UnknownAllocation(m)
        | Error::BadState(m)
        | Error::ActionFailed(m)
        | Error::Broken(m)
        | Error::Executor(m)) = self;
        m
    }

    /// The same error with `prefix` before its text.
    pub(crate) fn prefixed(mut self, prefix: &str) -> Error {
        self.message_mut().insert_str(0, prefix);
        self
    }

    /// The same error with a second one's text appended (when cleaning up after a failure
    /// failed too).
    pub(crate) fn and(mut self, more: Result<(), Error>) -> Error {
        if let Err(more) = more {
            let m = self.message_mut();
            m.push_str("; then: ");
            m.push_str(&more.to_string());
        }
        self
    }
}
