//! The in-process backend: the slab is in this process, so allocation actions run here, on the
//! caller's thread, and every completion is called before the call returns.
//!
//! Concurrency: stateless; actions run with no lock held.

use super::{Backend, Completed, FinalizeSeg, Finalized, Kept};
use crate::error::{Error, ErrorKind};
use crate::protocol::wrapper::{self, ActionPair};

/// See the module docs.
#[derive(Debug, Default)]
pub(crate) struct InProcess;

impl Backend for InProcess {
    fn is_remote(&self) -> bool {
        false
    }

    unsafe fn finalize(&self, _id: u64, _segs: &[FinalizeSeg], actions: Vec<ActionPair>, done: Finalized) {
        // SAFETY: forwarded from the caller: the functions are wrapper functions of this process.
        let ran = unsafe { wrapper::run_finalize_actions(&actions) };
        done(ran.map(Kept::Calls).map_err(|e| Error::new(ErrorKind::ActionFailed, e)))
    }

    unsafe fn deallocate(&self, kept: Vec<Kept>, done: Completed) {
        let errors: Vec<String> = kept
            .iter()
            .rev()
            .filter_map(|k| match k {
                // SAFETY: forwarded from the caller.
                Kept::Calls(calls) => unsafe { wrapper::run_dealloc_actions(calls) }.err(),
                Kept::Nothing | Kept::Key(_) => None,
            })
            .collect();
        done(match errors.is_empty() {
            true => Ok(()),
            false => Err(Error::new(
                ErrorKind::ActionFailed,
                format!("dealloc actions failed (memory was returned anyway): {}", errors.join("; ")),
            )),
        })
    }

    /// Runs the dealloc actions of what is still finalized, newest first, as LLVM's mappers do
    /// when they are destroyed. Nobody is left to hear of a failure.
    unsafe fn teardown(&self, kept: Vec<Kept>) {
        for k in kept {
            if let Kept::Calls(calls) = k {
                // SAFETY: forwarded from the caller.
                let _ = unsafe { wrapper::run_dealloc_actions(&calls) };
            }
        }
    }
}
