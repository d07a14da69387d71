//! The wire formats both processes speak, belonging to neither side: LLVM's Simple Packed
//! Serialization ([`sps`]), the ORC wrapper-function ABI ([`wrapper`]), the messages of LLVM's
//! stock shared-memory service ([`stock`]) and of jitslab's native service ([`native`]).
//!
//! The linker side (the remote backends) encodes requests and decodes replies; the executor
//! side (`executor`) decodes requests and encodes replies. Both import this layer, and this
//! layer imports neither; below it are only `slab` (for the span limit) and `sys`.
//!
//! Concurrency: pure functions and plain data, except for running wrapper functions
//! ([`wrapper::run_finalize_actions`]), which calls into whatever the caller vouched for.

pub mod auth;
pub mod native;
pub mod sps;
pub mod stock;
pub mod wrapper;
