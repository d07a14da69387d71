//! Helpers shared by the unit tests and the integration tests: a seeded random generator and a
//! runner that prints the seed when a randomized test fails. Not part of the supported API.
//!
//! Concurrency: each generator is owned by one thread.

/// splitmix64: small, fast and good enough to drive randomized tests reproducibly.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// The seed for a randomized test: `JITSLAB_SEED` when set (to replay a failure), else the clock.
pub fn seed() -> u64 {
    if let Some(s) = std::env::var("JITSLAB_SEED").ok().and_then(|s| s.parse().ok()) {
        return s;
    }
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64)
}

/// Runs `body` with a fresh seed; if it panics, says which seed replays the failure.
pub fn with_seed(test: &str, body: impl FnOnce(&mut Rng)) {
    let seed = seed();
    // The panic is re-raised below, so no broken state is observed after it.
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || body(&mut Rng::new(seed))));
    if let Err(panic) = result {
        eprintln!("{test} failed with seed {seed}; replay with JITSLAB_SEED={seed}");
        std::panic::resume_unwind(panic);
    }
}

/// The kind of a failed result, `None` on success: what tests assert about errors.
pub fn kind<T>(r: Result<T, crate::Error>) -> Option<crate::ErrorKind> {
    r.err().map(|e| e.kind())
}

use std::sync::Mutex;

use crate::protocol::sps;
use crate::protocol::wrapper::{ActionPair, CWrapperFunctionResult, WrapperCall};

static ACTION_LOG: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// A wrapper function for tests: appends its argument bytes (as text) to a global log, and fails
/// with the message `refused: <args>` when they start with `fail:`.
///
/// # Safety
/// `args` must point to `len` readable bytes.
pub unsafe extern "C" fn record_action(args: *const std::ffi::c_char, len: usize) -> CWrapperFunctionResult {
    // SAFETY: the caller passes a valid buffer.
    let text = String::from_utf8_lossy(unsafe { std::slice::from_raw_parts(args as *const u8, len) }).into_owned();
    let failed = text.starts_with("fail:").then(|| format!("refused: {text}"));
    ACTION_LOG.lock().unwrap_or_else(|p| p.into_inner()).push(text);
    CWrapperFunctionResult::from_bytes(&sps::encode_error(failed.as_deref()))
}

/// A call of [`record_action`] with `tag` as its arguments.
pub fn recorded(tag: &str) -> WrapperCall {
    WrapperCall {
        fn_addr: record_action as crate::protocol::wrapper::WrapperFn as usize as u64,
        args: tag.as_bytes().to_vec(),
    }
}

/// A pair of recorded calls.
pub fn recorded_pair(finalize: &str, dealloc: &str) -> ActionPair {
    ActionPair { finalize: recorded(finalize), dealloc: recorded(dealloc) }
}

/// The logged calls whose tag starts with `prefix`, in the order they ran (removed from the log,
/// so tests running in parallel with distinct prefixes do not see each other).
pub fn take_log(prefix: &str) -> Vec<String> {
    let mut log = ACTION_LOG.lock().unwrap_or_else(|p| p.into_inner());
    let (mine, rest): (Vec<String>, Vec<String>) =
        log.drain(..).partition(|t| t.starts_with(prefix) || t.starts_with(&format!("fail:{prefix}")));
    *log = rest;
    mine
}

/// Whether any mapping of this process is writable and executable at once, from
/// `/proc/self/maps`; returns the offending lines.
pub fn writable_and_executable_mappings() -> Vec<String> {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
    maps.lines()
        .filter(|l| {
            let perms = l.split_whitespace().nth(1).unwrap_or("");
            perms.as_bytes().get(1) == Some(&b'w') && perms.as_bytes().get(2) == Some(&b'x')
        })
        .map(str::to_string)
        .collect()
}

/// How many of the pages in `[addr, addr+len)` are resident; panics if `mincore` fails.
pub fn resident_pages(addr: u64, len: u64) -> u64 {
    crate::sys::resident_pages(addr, len).unwrap_or_else(|e| panic!("{e}"))
}

/// Internals that the integration tests, examples and benchmarks reach (they are separate
/// crates); not part of the supported API.
pub mod internals {
    pub use crate::executor::call as executor_call;
    pub use crate::prot::Prot;
    pub use crate::protocol::{native, sps, wrapper};
    pub use crate::sys::{mapped_ranges, page_size};
}

/// What the fuzz targets (`fuzz/`, a crate of its own) drive besides the C ABI and
/// [`internals`]: the decoders of the stock service's replies and of the authentication
/// handshake, the executor service's shutdown, and the slab's bookkeeping. Not part of the
/// supported API.
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::executor::shutdown as executor_shutdown;
    pub use crate::protocol::{auth, stock};
    pub use crate::slab::{Layout, Range, Slab, SlabError};
}
