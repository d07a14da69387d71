//! The remote mapper: the slab lives in a separate executor process on the same machine, in a
//! shared-memory object that the executor's service creates and maps; the linker maps the same
//! object read-write and writes code and data straight into it.
//!
//! ```text
//!   linker process                                 executor process
//!   ┌────────────────────────────┐  Reserve (once)  ┌────────────────────────────┐
//!   │ working view, rw- (shared) │ ───────────────► │ executing view, --- at     │
//!   │ slab bookkeeping: allocate │  Initialize per  │ first; each segment is     │
//!   │ with no round trip         │  finalize        │ mprotected to its final    │
//!   │                            │ ───────────────► │ protection, actions run    │
//!   └────────────────────────────┘  Deinitialize per└────────────────────────────┘
//!                 │ same pages      deallocate batch              │
//!                 └────────── /dev/shm object (name unlinked at once) ┘
//! ```
//!
//! [`Remote`] owns the connection to LLVM 19's stock `ExecutorSharedMemoryMapperService`
//! (see [`stock`]): the service addresses, the RPC counters, and whether the connection was
//! lost. [`RemoteView`] is the [`Mapper`] over the linker's view. The stock service protects
//! page ranges, so segments stay page-granular (no sub-page packing) in this mode.
//!
//! When a call finds the connection gone, the manager detaches the view (replaces it with
//! private anonymous memory, so a thread still writing into it is unharmed while the shared
//! pages are let go) and every later operation fails with the reason.
//!
//! Concurrency: `Remote` is shared by every thread of a manager; no lock is held across a call.

pub mod transport;

use std::ffi::CString;
use std::os::fd::OwnedFd;
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

pub use transport::{Completion, Reply, RpcCounts, Transport};

use self::transport::RpcCounters;
use super::{Mapper, MapperKind, SysCounters};
use crate::error::{Error, ErrorKind};
use crate::prot::Prot;
use crate::protocol::sps::SpsError;
use crate::protocol::stock::ServiceAddrs;
use crate::slab::{Pool, Range};
use crate::sys::{self, Mapping, OsError};

/// How long each call made while creating or dropping a manager waits for its reply (short in
/// unit tests, which wait it out).
pub(crate) const BLOCKING_CALL_TIMEOUT: Duration = Duration::from_secs(if cfg!(test) { 1 } else { 10 });

/// Why a remote operation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RemoteError {
    /// The call did not complete: the connection is gone.
    Lost(String),
    /// A call waited for (creation, teardown) got no reply in time; the connection may be fine.
    TimedOut(String),
    /// The reply is not what the protocol says it should be.
    BadReply(String),
    /// The executor carried out the call and reported an error.
    Executor(String),
    /// An OS call in this process failed (mapping the executor's memory here).
    Os(String),
}

impl std::fmt::Display for RemoteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (RemoteError::Lost(m)
        | RemoteError::TimedOut(m)
        | RemoteError::BadReply(m)
        | RemoteError::Executor(m)
        | RemoteError::Os(m)) = self;
        f.write_str(m)
    }
}

/// Turns a reply's bytes into its value, or the executor's error message (`Ok(Err)`), or says
/// why they do not decode (`Err`).
type Decode<T> = fn(&[u8]) -> Result<Result<T, String>, SpsError>;

/// The connection to one executor's shared-memory service: LLVM's stock one
/// (`A` = [`ServiceAddrs`]) or jitslab's native one ([`native::NativeAddrs`]). See the module
/// docs.
pub(crate) struct Remote<A = ServiceAddrs> {
    transport: Box<dyn Transport>,
    addrs: A,
    rpc: RpcCounters,
    lost: Mutex<Option<String>>,
}

impl<A: std::fmt::Debug> std::fmt::Debug for Remote<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remote").field("addrs", &self.addrs).finish()
    }
}

impl Remote {
    /// Finds LLVM's stock service in the executor's bootstrap symbols; an executor without it
    /// is an executor error.
    pub fn connect(transport: Box<dyn Transport>) -> Result<Remote, Error> {
        let addrs =
            ServiceAddrs::lookup(|name| transport.lookup(name)).map_err(|m| Error::new(ErrorKind::Executor, m))?;
        Ok(Remote::with_addrs(transport, addrs))
    }
}

impl<A: Send + Sync + 'static> Remote<A> {
    /// A connection to the service at `addrs`.
    pub fn with_addrs(transport: Box<dyn Transport>, addrs: A) -> Remote<A> {
        Remote { transport, addrs, rpc: RpcCounters::default(), lost: Mutex::new(None) }
    }

    pub fn addrs(&self) -> &A {
        &self.addrs
    }

    /// Why the connection was lost, once it was.
    pub fn lost(&self) -> Option<String> {
        self.lost.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn rpc_counts(&self) -> transport::RpcCounts {
        self.rpc.snapshot()
    }

    /// Sends one call; `decode` turns the reply bytes into the result `done` gets.
    pub(crate) fn call<T: 'static>(
        self: &Arc<Self>,
        op: &'static str,
        fn_addr: u64,
        args: Vec<u8>,
        decode: Decode<T>,
        done: impl FnOnce(Result<T, RemoteError>) + Send + 'static,
    ) {
        if let Some(why) = self.lost() {
            return done(Err(RemoteError::Lost(why)));
        }
        self.rpc.count_call(args.len());
        let me = Arc::clone(self);
        let mut once = ReplyOnce(Some(move |reply| {
            let result = me.interpret(op, reply, decode);
            // Released before `done` runs, which may drop the last owner of the connection.
            drop(me);
            done(result)
        }));
        self.transport.call(
            fn_addr,
            args,
            Box::new(move |reply| {
                if let Some(f) = once.0.take() {
                    f(reply);
                }
            }),
        );
    }

    /// The same as [`Remote::call`], waiting for the reply at most [`BLOCKING_CALL_TIMEOUT`]
    /// (creation and teardown only: the reply must come on another thread). A reply that
    /// arrives after the waiter gave up goes to `late`, which undoes what it would have done.
    pub(crate) fn call_blocking<T: Send + 'static>(
        self: &Arc<Self>,
        op: &'static str,
        fn_addr: u64,
        args: Vec<u8>,
        decode: Decode<T>,
        late: impl FnOnce(T) + Send + 'static,
    ) -> Result<T, RemoteError> {
        let (tx, rx) = mpsc::channel();
        self.call(op, fn_addr, args, decode, move |r| {
            if let Err(mpsc::SendError(Ok(v))) = tx.send(r) {
                late(v);
            }
        });
        match rx.recv_timeout(BLOCKING_CALL_TIMEOUT) {
            Ok(r) => r,
            Err(mpsc::RecvTimeoutError::Timeout) => Err(RemoteError::TimedOut(format!(
                "the executor did not answer {op} within {} s",
                BLOCKING_CALL_TIMEOUT.as_secs()
            ))),
            // `call` always completes; a completion dropped unanswered reports itself.
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                Err(RemoteError::Lost(format!("{op}: the call was dropped without a reply")))
            }
        }
    }

    fn interpret<T>(&self, op: &str, reply: Reply, decode: Decode<T>) -> Result<T, RemoteError> {
        self.rpc.count_reply(&reply);
        match reply {
            Err(why) => {
                let why = format!("the connection to the executor was lost ({op}: {why})");
                let mut lost = self.lost.lock().unwrap_or_else(|p| p.into_inner());
                Err(RemoteError::Lost(lost.get_or_insert(why).clone()))
            }
            Ok(bytes) => match decode(&bytes) {
                Err(e) => Err(RemoteError::BadReply(format!("bad reply from the executor to {op}: {e}"))),
                Ok(Err(msg)) => Err(RemoteError::Executor(format!("the executor failed {op}: {msg}"))),
                Ok(Ok(v)) => Ok(v),
            },
        }
    }
}

/// Calls its function once: with the reply, or, when a transport drops the completion
/// unanswered, with a lost connection, so that no operation waits for ever.
struct ReplyOnce<F: FnOnce(Reply)>(Option<F>);

impl<F: FnOnce(Reply)> Drop for ReplyOnce<F> {
    fn drop(&mut self) {
        if let Some(f) = self.0.take() {
            f(Err("the call was dropped without a reply".into()));
        }
    }
}

/// The linker's read-write view of the executor's shared-memory slab.
#[derive(Debug)]
pub(crate) struct RemoteView {
    /// The executor address of the slab.
    base: u64,
    work: Mapping,
    /// The shared-memory object, kept open to punch holes in it; `None` once detached.
    fd: Mutex<Option<OwnedFd>>,
    counters: SysCounters,
    /// Whether the executor runs jitslab's native service: the executing view then has fixed
    /// per-chunk protections (sent by the native backend), so allocations pack sub-page.
    native: bool,
}

impl RemoteView {
    /// Opens the object the executor created, removes its name at once (nothing else can open
    /// it from then on, and it goes away with the last mapping), and maps it read-write.
    pub(crate) fn open(base: u64, span: u64, name: &str) -> Result<RemoteView, OsError> {
        let cname =
            CString::new(name).map_err(|_| OsError { call: format!("shm_open({name:?})"), errno: libc::EINVAL })?;
        let opened = sys::shm_open_existing(&cname);
        // Unlinked whether or not the open worked: the name must not outlive this call.
        let unlinked = sys::shm_unlink(&cname);
        let (fd, size) = opened?;
        unlinked?;
        if size < span {
            return Err(OsError {
                call: format!("the object {name:?} holds {size:#x} bytes, not {span:#x}"),
                errno: libc::EINVAL,
            });
        }
        RemoteView::map(base, span, fd, false)
    }

    /// Maps the `span` bytes of the file `fd` read-write here; `base` is their executor address.
    pub(crate) fn map(base: u64, span: u64, fd: OwnedFd, native: bool) -> Result<RemoteView, OsError> {
        let counters = SysCounters::default();
        counters.count_mmap();
        // SAFETY: a fresh mapping at an address of the kernel's choice.
        let addr = unsafe { sys::map_shared(&fd, span, Prot::RW, None) }?;
        Ok(RemoteView { base, work: Mapping { addr, len: span }, fd: Mutex::new(Some(fd)), counters, native })
    }
}

impl Mapper for RemoteView {
    fn kind(&self) -> MapperKind {
        match self.native {
            false => MapperKind::RemoteStock,
            true => MapperKind::RemoteNative,
        }
    }
    fn packs_subpage(&self) -> bool {
        self.native
    }
    fn base(&self) -> u64 {
        self.base
    }
    fn span(&self) -> u64 {
        self.work.len
    }
    fn working(&self, offset: u64) -> *mut u8 {
        (self.work.addr + offset) as *mut u8
    }
    // The executor's protections are its backend's business (stock: per segment at
    // Initialize; native: per chunk, see `Backend::chunk_taken`); the linker's view stays
    // read-write.
    fn commit(&self, _chunks: Range, _pool: Pool) -> Result<(), OsError> {
        Ok(())
    }
    fn decommit(&self, _chunks: Range) -> Result<(), OsError> {
        Ok(())
    }
    fn protect(&self, _seg: Range, _pool: Pool) -> Result<(), OsError> {
        Ok(())
    }
    fn unprotect(&self, _seg: Range, _pool: Pool) -> Result<(), OsError> {
        Ok(())
    }
    fn release(&self, pages: Range) -> Result<(), OsError> {
        let fd = self.fd.lock().unwrap_or_else(|p| p.into_inner());
        match &*fd {
            Some(fd) => {
                self.counters.count_fallocate();
                // SAFETY: the slab releases only pages with no live byte; nothing references them.
                unsafe { sys::punch_hole(fd, pages.start, pages.len()) }
            }
            None => {
                self.counters.count_madvise();
                // SAFETY: detached: the range is our private anonymous memory, and dead.
                unsafe { sys::discard(self.work.addr + pages.start, pages.len()) }
            }
        }
    }
    fn counters(&self) -> &SysCounters {
        &self.counters
    }
    fn detach(&self) {
        let mut fd = self.fd.lock().unwrap_or_else(|p| p.into_inner());
        if fd.take().is_some() {
            self.counters.count_mmap();
            // SAFETY: the view is ours; replacing it keeps its addresses valid for any thread
            // still writing into an allocation. If this fails the view simply stays mapped
            // until the manager is dropped.
            let _ = unsafe { sys::replace_with_anonymous(self.work.addr, self.work.len) };
        }
    }
}
