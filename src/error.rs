//! The error of every fallible operation of jitslab's Rust API: a kind, decided where the
//! failure happens (a layer that knows an OS call failed says so; one that knows the executor
//! answered with an error says so), and a message that says what was asked and what was
//! available. Layers above pass an error on, adding context to its message, never changing its
//! kind. The C ABI maps each kind to one status code.
//!
//! Concurrency: plain data.

use std::fmt;

use crate::sys::OsError;

/// What kind of failure an [`Error`] is. Each kind is one status code of the C ABI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// A request that can never succeed (bad protection, alignment, empty request…).
    InvalidArgument,
    /// The reservation has no room for the request.
    Full,
    /// The reservation could not be placed as asked.
    Placement,
    /// An OS call failed.
    Os,
    /// The id names no live allocation (never issued, already freed or abandoned).
    UnknownAllocation,
    /// The allocation exists but is in the wrong state for the call.
    BadState,
    /// An allocation action failed; the allocation was rolled back (finalize) or freed anyway
    /// (deallocate).
    ActionFailed,
    /// An earlier call panicked inside the manager (a bug); it refuses further changes.
    Broken,
    /// The executor process is unreachable (it died or the connection dropped) or sent a reply
    /// that does not decode.
    Executor,
}

/// A failure: its kind, and a text that says what was asked and what was available.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error { kind, message: message.into() }
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The text alone (the same as `to_string()`).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The same error with `prefix` before its text.
    pub(crate) fn prefixed(mut self, prefix: &str) -> Error {
        self.message.insert_str(0, prefix);
        self
    }

    /// The same error with a second one's text appended (when cleaning up after a failure
    /// failed too).
    pub(crate) fn and(mut self, more: Result<(), Error>) -> Error {
        if let Err(more) = more {
            self.message.push_str("; then: ");
            self.message.push_str(&more.message);
        }
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// A failed OS call is an [`ErrorKind::Os`] error, whichever layer made it.
impl From<OsError> for Error {
    fn from(e: OsError) -> Error {
        Error::new(ErrorKind::Os, e.to_string())
    }
}
