//! The backend seam: what differs between a slab in this process and one in an executor
//! process, behind one trait, [`Backend`]. The manager owns one backend and one mapper, does
//! all the bookkeeping itself, and holds no protocol code.
//!
//! ```text
//!                 Manager (slab bookkeeping, allocation table, statistics)
//!                    │ finalize · deallocate · teardown · lost connection · chunk protections
//!        ┌───────────┼───────────────────────────┐
//!   in_process       stock                        native
//!   actions run      LLVM's shared-memory         jitslab's service in jitslab-executor:
//!   here             service: one Initialize per  protections per chunk, finalizes and
//!                    finalize, one Deinitialize   deallocations grouped into rounds
//!                    per deallocate batch
//! ```
//!
//! A backend answers each finalize and deallocate through a completion called exactly once:
//! at once, on the caller's thread (in process; or remote when nothing needs a call), or on the
//! thread that delivers the executor's reply. What a finalized allocation leaves behind to be
//! undone is a [`Kept`], which the manager stores and hands back at deallocate or teardown.
//!
//! Concurrency: backends are shared by every thread of a manager. `chunk_taken` and
//! `chunk_given_back` are called under the manager's lock (lock order: manager, then the
//! backend's own); nothing else is.

pub(crate) mod in_process;
pub(crate) mod native;
pub(crate) mod stock;

use std::fmt;

use crate::error::{Error, ErrorKind};
use crate::mapper::remote::{RemoteError, RpcCounts, Transport};
use crate::mapper::Mapper;
use crate::protocol::wrapper::ActionPair;
use crate::slab::{Pool, Range};
pub use native::{RoundCounts, SharingPath};

/// Which protocol a remote manager speaks with its executor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocol {
    /// Native when the executor publishes jitslab's native service, stock otherwise.
    #[default]
    Auto,
    /// LLVM 19's `ExecutorSharedMemoryMapperService` (any `llvm-jitlink-executor`).
    Stock,
    /// jitslab's own service (`jitslab-executor`), or an error.
    Native,
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Auto => "auto",
            Protocol::Stock => "stock",
            Protocol::Native => "native",
        })
    }
}

/// One segment of an allocation being finalized, by offset in the slab.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FinalizeSeg {
    pub range: Range,
    pub pool: Pool,
    /// Given back right after finalize (LLVM's `MemLifetime::Finalize`).
    pub finalize_lifetime: bool,
}

/// What a finalized allocation leaves for its backend to undo at deallocate.
#[derive(Debug)]
pub(crate) enum Kept {
    /// Nothing, anywhere: a remote allocation the executor never registered.
    Nothing,
    /// Dealloc calls to run in this process.
    Calls(Vec<crate::protocol::wrapper::WrapperCall>),
    /// The key under which the executor keeps the allocation's dealloc calls.
    Key(u64),
}

/// The completion of a finalize: what to keep, or why it failed (the allocation is then rolled
/// back by the manager).
pub(crate) type Finalized = Box<dyn FnOnce(Result<Kept, Error>) + Send>;
/// The completion of a deallocate.
pub(crate) type Completed = Box<dyn FnOnce(Result<(), Error>) + Send>;

/// Everything that differs between backends. See the module docs.
pub(crate) trait Backend: Send + Sync {
    /// Whether the slab lives in an executor process (finalize and deallocate then complete
    /// through their completion, possibly later, and run nothing in this process).
    fn is_remote(&self) -> bool;

    /// Finalizes allocation `id`, whose segments `segs` have their final protection in this
    /// process's views already: makes them live where the code runs and runs `actions` there.
    ///
    /// # Safety
    /// Every non-zero function address in `actions` is a wrapper function in the process that
    /// runs it (this one for an in-process backend, the executor for a remote one).
    unsafe fn finalize(&self, id: u64, segs: &[FinalizeSeg], actions: Vec<ActionPair>, done: Finalized);

    /// Undoes finalized allocations, given in batch order: runs their dealloc actions (last
    /// first). The manager returns the memory whatever the outcome.
    ///
    /// # Safety
    /// The dealloc actions were vouched for at finalize.
    unsafe fn deallocate(&self, kept: Vec<Kept>, done: Completed);

    /// The manager is going away: undoes what is still finalized (`kept`, newest first), or
    /// lets the executor do it. Waits, so that no call outlives the manager.
    ///
    /// # Safety
    /// As for [`Backend::deallocate`].
    unsafe fn teardown(&self, kept: Vec<Kept>);

    /// Whether the executor keys an allocation by its lowest segment address, so that an
    /// allocation with actions but no memory needs a segment of its own (the stock service).
    fn needs_key_segment(&self) -> bool {
        false
    }

    /// The offset of the segment whose address keys `kept` in the executor: it stays live until
    /// deallocate, even if its lifetime is finalize, so that no later allocation starting there
    /// takes this one's key.
    fn pinned_offset(&self, _kept: &Kept) -> Option<u64> {
        None
    }

    /// Why the connection to the executor is lost, once it is.
    fn lost(&self) -> Option<String> {
        None
    }

    /// An allocation was made: a link is in flight until it is finalized or abandoned.
    fn link_started(&self) {}

    /// A link in flight ended: its allocation's finalize was handed to this backend (the call
    /// comes after [`Backend::finalize`]), failed before it, or it was abandoned. Never called
    /// with the manager's lock held.
    fn link_ended(&self) {}

    /// A pool took the chunks `chunks`: in the executor they get the pool's protection.
    fn chunk_taken(&self, _chunks: Range, _pool: Pool) {}

    /// The chunks `chunks` went back to no pool.
    fn chunk_given_back(&self, _chunks: Range) {}

    /// Calls made to the executor, and their bytes.
    fn rpc_counts(&self) -> RpcCounts {
        RpcCounts::default()
    }

    /// How a native remote backend shares its region with the executor.
    fn sharing(&self) -> Option<SharingPath> {
        None
    }

    /// The group-commit rounds of a native remote backend.
    fn round_counts(&self) -> Option<RoundCounts> {
        None
    }
}

/// A remote backend and the linker's view of its slab.
pub(crate) type Connected = (Box<dyn Backend>, Box<dyn Mapper>);

/// Connects to the executor behind `transport` with `protocol` (auto: native when the executor
/// publishes jitslab's service) and maps a slab of `span` bytes there; `fd_paths` are the ways
/// the native protocol may take the region's memfd. Returns the backend and the linker's view.
pub(crate) fn connect_remote(
    transport: Box<dyn Transport>,
    protocol: Protocol,
    span: u64,
    chunk: u64,
    fd_paths: &[SharingPath],
) -> Result<Connected, Error> {
    let native_addrs = native::NativeAddrs::lookup(|name| transport.lookup(name));
    match (protocol, native_addrs) {
        (Protocol::Native, Err(e)) => {
            Err(Error::new(ErrorKind::Executor, format!("the native protocol was asked for, but {e}")))
        }
        (Protocol::Auto | Protocol::Native, Ok(addrs)) => {
            let (backend, view) = native::NativeBackend::connect(transport, addrs, span, chunk, fd_paths)?;
            Ok((Box::new(backend), Box::new(view)))
        }
        (Protocol::Stock, _) | (Protocol::Auto, Err(_)) => {
            let (backend, view) = stock::Stock::connect(transport, span)?;
            Ok((Box::new(backend), Box::new(view)))
        }
    }
}

/// The error of a finalize or deallocate call: an error the executor reported comes from an
/// allocation action (the only thing there that can fail); an OS failure here is an OS error;
/// anything else is the connection's.
fn call_error(e: RemoteError) -> Error {
    match e {
        RemoteError::Lost(m) | RemoteError::TimedOut(m) | RemoteError::BadReply(m) => {
            Error::new(ErrorKind::Executor, m)
        }
        RemoteError::Executor(m) => Error::new(ErrorKind::ActionFailed, m),
        RemoteError::Os(m) => Error::new(ErrorKind::Os, m),
    }
}

/// A failure while setting a remote slab up is the executor's, unless an OS call here failed.
fn setup_error(e: RemoteError) -> Error {
    match e {
        RemoteError::Lost(m) | RemoteError::TimedOut(m) | RemoteError::BadReply(m) | RemoteError::Executor(m) => {
            Error::new(ErrorKind::Executor, m)
        }
        RemoteError::Os(m) => Error::new(ErrorKind::Os, m),
    }
}
