//! ORC's wrapper-function ABI and allocation actions.
//!
//! An allocation action is a call `CWrapperFunctionResult f(const char *args, size_t len)` at an
//! executor address, whose result bytes decode as an SPS `Error`. Actions come in pairs (finalize,
//! dealloc); a call whose function address is 0 is skipped. The run order follows LLVM 19's
//! `runFinalizeActions` / `runDeallocActions` exactly (reference notes §1.7):
//! - finalize calls run in order; the dealloc call of each pair whose finalize ran is kept;
//! - if finalize call *i* fails, the kept dealloc calls of pairs 0..i run in reverse and the
//!   errors are joined;
//! - dealloc calls run last to first, all of them, and their errors are joined.
//!
//! Concurrency: the functions here hold no lock; they run on the caller's thread.

use std::ffi::{c_char, CStr};

use crate::protocol::sps;

/// The inline-or-heap byte buffer of a wrapper result (`CWrapperFunctionResultDataUnion`).
#[repr(C)]
#[derive(Clone, Copy)]
pub union CWrapperFunctionResultData {
    pub value_ptr: *mut c_char,
    pub value: [c_char; 8],
}

/// ORC's `CWrapperFunctionResult` (16 bytes on LP64): up to 8 bytes inline, more in a
/// `malloc`ed buffer the consumer frees; size 0 with a non-null pointer is an out-of-band error
/// whose `malloc`ed C string the consumer frees.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct CWrapperFunctionResult {
    pub data: CWrapperFunctionResultData,
    pub size: usize,
}

impl CWrapperFunctionResult {
    /// Builds a result holding `bytes`, allocating with `malloc` past 8 bytes as ORC expects.
    pub fn from_bytes(bytes: &[u8]) -> CWrapperFunctionResult {
        let mut data = CWrapperFunctionResultData { value: [0; 8] };
        if bytes.len() <= 8 {
            // SAFETY: writing the inline variant of a union we own.
            unsafe { data.value[..bytes.len()].copy_from_slice(&*(bytes as *const [u8] as *const [c_char])) };
        } else {
            // SAFETY: malloc of a non-zero size; checked for null before use.
            let p = unsafe { libc::malloc(bytes.len()) } as *mut c_char;
            if p.is_null() {
                return CWrapperFunctionResult::out_of_band(c"jitslab: out of memory for a wrapper result");
            }
            // SAFETY: `p` has room for `bytes.len()` bytes.
            unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), p as *mut u8, bytes.len()) };
            data.value_ptr = p;
        }
        CWrapperFunctionResult { data, size: bytes.len() }
    }

    /// An out-of-band error carrying `msg` (copied with `strdup`).
    pub fn out_of_band(msg: &CStr) -> CWrapperFunctionResult {
        // SAFETY: `msg` is a valid C string.
        let p = unsafe { libc::strdup(msg.as_ptr()) };
        CWrapperFunctionResult { data: CWrapperFunctionResultData { value_ptr: p }, size: 0 }
    }

    /// Takes the result's bytes, or its out-of-band error, and frees what ORC says the consumer
    /// frees.
    ///
    /// # Safety
    /// `self` must come from a wrapper function (or the constructors above) and be consumed once.
    pub unsafe fn take(self) -> Result<Vec<u8>, String> {
        if self.size == 0 {
            // SAFETY: for size 0 the pointer variant is the one ORC defines.
            let p = unsafe { self.data.value_ptr };
            if p.is_null() {
                return Ok(Vec::new());
            }
            // SAFETY: an out-of-band error is a malloc'ed NUL-terminated string that we own now.
            let msg = unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned();
            // SAFETY: as above; freed once.
            unsafe { libc::free(p as *mut libc::c_void) };
            return Err(msg);
        }
        if self.size <= 8 {
            // SAFETY: results of up to 8 bytes are inline.
            let v = unsafe { self.data.value };
            return Ok(v[..self.size].iter().map(|&c| c as u8).collect());
        }
        // SAFETY: results over 8 bytes live in a malloc'ed buffer of `size` bytes that we own now.
        let p = unsafe { self.data.value_ptr };
        // SAFETY: as above.
        let v = unsafe { std::slice::from_raw_parts(p as *const u8, self.size) }.to_vec();
        // SAFETY: as above; freed once.
        unsafe { libc::free(p as *mut libc::c_void) };
        Ok(v)
    }
}

/// The C signature of a wrapper function.
pub type WrapperFn = unsafe extern "C" fn(*const c_char, usize) -> CWrapperFunctionResult;

/// One wrapper-function call: a function address and its argument bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WrapperCall {
    pub fn_addr: u64,
    pub args: Vec<u8>,
}

impl WrapperCall {
    pub fn is_null(&self) -> bool {
        self.fn_addr == 0
    }

    /// Calls the function in this process and decodes its SPS `Error`. The error text says which
    /// function failed and why (its message, an out-of-band error, or bytes that do not decode).
    ///
    /// # Safety
    /// `fn_addr` must be the address of a function with the [`WrapperFn`] signature in this
    /// process.
    pub unsafe fn run(&self) -> Result<(), String> {
        // SAFETY: the caller vouches for the address and its signature.
        let f: WrapperFn = unsafe { std::mem::transmute::<usize, WrapperFn>(self.fn_addr as usize) };
        // SAFETY: the arguments are a valid buffer of the given length.
        let result = unsafe { f(self.args.as_ptr() as *const c_char, self.args.len()) };
        let at = self.fn_addr;
        // SAFETY: the result came from a wrapper function and is consumed once.
        let bytes = unsafe { result.take() }.map_err(|e| format!("action at {at:#x} failed: {e}"))?;
        if bytes.is_empty() {
            return Err(format!("action at {at:#x} returned no result bytes (expected an SPS Error)"));
        }
        match sps::decode_error(&bytes) {
            Ok(None) => Ok(()),
            Ok(Some(msg)) => Err(msg),
            Err(e) => Err(format!("action at {at:#x} returned a result that is not an SPS Error: {e}")),
        }
    }
}

/// A finalize call and the dealloc call that undoes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActionPair {
    pub finalize: WrapperCall,
    pub dealloc: WrapperCall,
}

/// Runs the finalize calls in order and returns the dealloc calls to run later. On a failure,
/// runs the dealloc calls of the pairs that had run, in reverse, and returns every error joined.
///
/// # Safety
/// Every non-null function address must satisfy [`WrapperCall::run`].
pub unsafe fn run_finalize_actions(actions: &[ActionPair]) -> Result<Vec<WrapperCall>, String> {
    let mut deallocs = Vec::with_capacity(actions.len());
    for pair in actions {
        if !pair.finalize.is_null() {
            // SAFETY: forwarded from the caller.
            if let Err(e) = unsafe { pair.finalize.run() } {
                // SAFETY: forwarded from the caller.
                return Err(match unsafe { run_dealloc_actions(&deallocs) } {
                    Ok(()) => e,
                    Err(more) => format!("{e}; {more}"),
                });
            }
        }
        if !pair.dealloc.is_null() {
            deallocs.push(pair.dealloc.clone());
        }
    }
    Ok(deallocs)
}

/// Runs dealloc calls last to first, every one of them, and joins their errors.
///
/// # Safety
/// Every non-null function address must satisfy [`WrapperCall::run`].
pub unsafe fn run_dealloc_actions(deallocs: &[WrapperCall]) -> Result<(), String> {
    let errors: Vec<String> = deallocs
        .iter()
        .rev()
        // SAFETY: forwarded from the caller.
        .filter_map(|c| unsafe { c.run() }.err())
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    extern "C" fn ok(_: *const c_char, _: usize) -> CWrapperFunctionResult {
        CWrapperFunctionResult::from_bytes(&sps::encode_error(None))
    }
    extern "C" fn long_error(_: *const c_char, _: usize) -> CWrapperFunctionResult {
        CWrapperFunctionResult::from_bytes(&sps::encode_error(Some("a message longer than eight bytes")))
    }
    extern "C" fn oob(_: *const c_char, _: usize) -> CWrapperFunctionResult {
        CWrapperFunctionResult::out_of_band(c"transport lost")
    }
    extern "C" fn empty(_: *const c_char, _: usize) -> CWrapperFunctionResult {
        CWrapperFunctionResult::from_bytes(&[])
    }
    extern "C" fn garbage(_: *const c_char, _: usize) -> CWrapperFunctionResult {
        CWrapperFunctionResult::from_bytes(&[7, 7])
    }
    /// Fails unless its argument bytes are exactly "args".
    extern "C" fn check_args(p: *const c_char, n: usize) -> CWrapperFunctionResult {
        // SAFETY: the caller passes a valid buffer of `n` bytes.
        let got = unsafe { std::slice::from_raw_parts(p as *const u8, n) };
        CWrapperFunctionResult::from_bytes(&sps::encode_error((got != b"args").then_some("wrong args")))
    }

    fn call(f: extern "C" fn(*const c_char, usize) -> CWrapperFunctionResult, args: &[u8]) -> WrapperCall {
        WrapperCall { fn_addr: f as usize as u64, args: args.to_vec() }
    }

    #[test]
    fn results_decode_as_llvm_does() {
        // SAFETY: every address below is a wrapper function of this test.
        unsafe {
            assert_eq!(call(ok, b"").run(), Ok(()));
            assert_eq!(call(check_args, b"args").run(), Ok(()));
            assert_eq!(call(check_args, b"nope").run(), Err("wrong args".into()));
            assert_eq!(call(long_error, b"").run(), Err("a message longer than eight bytes".into()));
            assert!(call(oob, b"").run().unwrap_err().contains("transport lost"));
            assert!(call(empty, b"").run().unwrap_err().contains("no result bytes"));
            assert!(call(garbage, b"").run().unwrap_err().contains("not an SPS Error"));
        }
    }

    #[test]
    fn a_failing_finalize_runs_the_earlier_deallocs_in_reverse_and_joins_errors() {
        let pairs = [
            ActionPair { finalize: call(ok, b""), dealloc: call(long_error, b"") },
            ActionPair { finalize: WrapperCall::default(), dealloc: call(oob, b"") },
            ActionPair { finalize: call(check_args, b"bad"), dealloc: call(ok, b"") },
        ];
        // SAFETY: as above.
        let e = unsafe { run_finalize_actions(&pairs) }.unwrap_err();
        // The failure first, then the deallocs of pairs 1 and 0, in that order; not pair 2's.
        assert!(e.starts_with("wrong args; "), "{e}");
        assert!(!e.contains("wrong args; wrong args"), "pair 2's own dealloc must not run: {e}");
        let oob_at = e.find("transport lost").unwrap();
        let long_at = e.find("a message longer").unwrap();
        assert!(oob_at < long_at, "deallocs must run in reverse: {e}");
    }
}
