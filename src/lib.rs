//! jitslab: a memory manager for LLVM's JIT linker (ORC JITLink).
//!
//! One contiguous reservation per manager, carved up on the linker side with no round trips, so
//! every JIT'd object lies within one span of at most 2 GiB (the small code model holds). See
//! the README and `docs/design.md` for the guarantees.
//!
//! The Rust API is small: a [`Manager`] built from a [`Config`] (in process, or
//! [`Manager::new_remote`] over a [`Transport`] to an executor process) allocates the segments
//! of a link graph, finalizes them with their allocation actions ([`ActionPair`]), and gives
//! them back; [`Stats`] describe it; every failure is an [`Error`] with a kind and a message.
//! The C API is [`ffi`] (and `include/jitslab.h`, generated from it).
//!
//! Layers, each importing only those below it (`docs/design.md` names the file of each
//! concept):
//! ```text
//!   ffi ─► manager ─► backend ─► mapper, protocol ─► slab, sys
//!   ffi ─► executor ─► protocol, sys          (the executor side of the native protocol)
//! ```

#![deny(unsafe_op_in_unsafe_fn)]

pub(crate) mod backend;
pub(crate) mod error;
pub(crate) mod executor;
pub mod ffi;
pub(crate) mod manager;
pub(crate) mod mapper;
pub(crate) mod prot;
pub(crate) mod protocol;
pub(crate) mod slab;
pub(crate) mod sys;
#[doc(hidden)]
pub mod testing;

pub use backend::{Protocol, RoundCounts, SharingPath};
pub use error::{Error, ErrorKind};
pub use manager::{
    AllocId, Config, Done, Lifetime, Manager, MapperChoice, MapperKind, Placement, PoolStatsEntry, Prot, Segment,
    SegmentRequest, Stats, DEFAULT_CHUNK, DEFAULT_RETAIN_FREE, DEFAULT_SPAN,
};
pub use mapper::remote::{Completion, Reply, RpcCounts, Transport};
pub use mapper::SysCounts;
pub use protocol::wrapper::{ActionPair, WrapperCall};
pub use slab::{Pool, PoolStats};
