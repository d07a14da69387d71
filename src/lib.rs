//! jitslab: a memory manager for LLVM's JIT linker (ORC JITLink).
//!
//! One contiguous reservation per manager, carved up on the linker side with no round trips, so
//! every JIT'd object lies within one span of at most 2 GiB (the small code model holds). See
//! `DESIGN.md` in the project's shared notes and the README for the guarantees.
//!
//! Layers, each calling only the one below: [`ffi`] (the C ABI) → [`manager`] → [`slab`] (pure
//! bookkeeping) and [`mapper`] (memory backends) → [`sys`] (raw OS calls). [`executor`] is the
//! executor-side service of the native out-of-process protocol.

#![deny(unsafe_op_in_unsafe_fn)]

pub mod backend;
pub mod error;
pub mod executor;
pub mod ffi;
pub mod manager;
pub mod mapper;
pub mod protocol;
pub mod slab;
pub mod sys;
#[doc(hidden)]
pub mod testing;
