//! The executor side of jitslab's native protocol: a shared-memory service that runs in the
//! executor process, reached by the linker through ORC wrapper-function calls.
//!
//! ```text
//!   linker process                                    executor process (this module)
//!   ┌─────────────────────────────┐   setup (once)    ┌──────────────────────────────────┐
//!   │ working view: rw- over the  │ ────────────────► │ region: `span` bytes at `base`,  │
//!   │ whole file, mapped from the │   finalize: the   │ MAP_SHARED from the file, r--    │
//!   │ fd it took (pidfd_getfd or  │   chunks' access  │ until a finalize gives chunks    │
//!   │ /proc/PID/fd/FD)            │   (per chunk a    │ their pool's access: r-x, r--,   │
//!   │ slab bookkeeping, sub-page  │   pool takes or   │ rw-; finalize and dealloc        │
//!   │ packing, hole punching      │   frees), then a  │ actions, per allocation key      │
//!   │                             │   batch; dealloc- │                                  │
//!   │                             │   ate (batches)   │                                  │
//!   └─────────────────────────────┘ ────────────────► └──────────────────────────────────┘
//!                  │        the same pages (a memfd; no name in /dev/shm)       │
//!                  └─────────────────────────────────────────────────────────────┘
//! ```
//!
//! The calls, their bytes and the rules every request is checked against are the protocol's
//! contract, written once in [`crate::protocol::native`]; this module carries them out. Every
//! entry point runs behind `catch_unwind`, and a request that breaks a rule gets an error reply,
//! never a crash.
//!
//! Concurrency: LLVM's executor runs each call on a thread of its own. Regions live in a global
//! registry (a mutex held only to look a handle up); each region's bookkeeping has its own
//! mutex, held while checking and recording, never while actions run.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::prot::Prot;
use crate::protocol::native::{
    self as wire, Allocation, Extent, Op, SetupArgs, SetupReply, Sharing, MAX_SPAN, PROTOCOL_VERSION, UNASSIGNED,
};
use crate::protocol::wrapper::{self, WrapperCall};
use crate::sys::{self, Mapping};

/// Serves one call: decodes `args`, carries the call out, and returns the SPS reply. Never
/// panics: a panic inside becomes an error reply.
pub fn call(op: Op, args: &[u8]) -> Vec<u8> {
    let served = catch_unwind(AssertUnwindSafe(|| match op {
        Op::Setup => wire::setup_reply(&wire::decode_setup(args).and_then(|a| setup(&a))),
        Op::Finalize => wire::finalize_reply(
            &wire::decode_finalize(args).and_then(|f| service(f.handle)?.finalize(&f.protect, f.allocs)),
        ),
        Op::Deallocate => {
            wire::error_reply(&wire::decode_deallocate(args).and_then(|(h, k)| service(h)?.deallocate(&k)))
        }
        Op::Teardown => wire::error_reply(&wire::decode_teardown(args).and_then(teardown)),
    }));
    served.unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| panic.downcast_ref::<&str>().copied())
            .unwrap_or("unknown panic");
        op.failure(&format!("internal error in jitslab's executor service ({op:?}): {what}"))
    })
}

/// Tears down every region (what an executor does when its connection ends), running the
/// dealloc actions still pending; the errors come back joined.
pub fn shutdown() -> Result<(), String> {
    let handles: Vec<u64> = registry().keys().copied().collect();
    let errors: Vec<String> = handles.into_iter().filter_map(|h| teardown(h).err()).collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

fn registry() -> MutexGuard<'static, BTreeMap<u64, Arc<Service>>> {
    static REGIONS: Mutex<BTreeMap<u64, Arc<Service>>> = Mutex::new(BTreeMap::new());
    REGIONS.lock().unwrap_or_else(|p| p.into_inner())
}

static NEXT_HANDLE: AtomicU64 = AtomicU64::new(1);

fn service(handle: u64) -> Result<Arc<Service>, String> {
    registry().get(&handle).cloned().ok_or_else(|| {
        format!("unknown handle {handle:#x}: no region of this executor has it (never set up, or torn down)")
    })
}

fn setup(a: &SetupArgs) -> Result<SetupReply, String> {
    if a.version != PROTOCOL_VERSION {
        return Err(format!(
            "jitslab protocol version mismatch: the linker speaks version {}, this executor speaks version \
             {PROTOCOL_VERSION}; use a jitslab-executor built from the same jitslab as the linker",
            a.version
        ));
    }
    let page = sys::page_size();
    let span = a.span;
    if span == 0 || span % page != 0 || span > MAX_SPAN {
        return Err(format!(
            "setup: span {span:#x} must be a non-zero multiple of the page size ({page:#x}), at most 2 GiB \
             ({MAX_SPAN:#x})"
        ));
    }
    let pid = sys::pid();
    let (file, name) = match a.sharing {
        Sharing::Memfd => (sys::memfd(c"jitslab-executor", span).map_err(|e| format!("setup: {e}"))?, None),
        Sharing::Named => {
            let mut random = [0u8; 16];
            sys::random_bytes(&mut random).map_err(|e| format!("setup: {e}"))?;
            let hex: String = random.iter().map(|b| format!("{b:02x}")).collect();
            let name = CString::new(format!("/jitslab-{pid}-{hex}")).map_err(|e| e.to_string())?;
            (sys::shm_create_exclusive(&name, span).map_err(|e| format!("setup: {e}"))?, Some(name))
        }
    };
    // From here on, dropping `region` undoes everything made so far.
    let base = sys::reserve(span, None).map_err(|e| format!("setup: cannot reserve {span:#x} bytes: {e}"))?;
    let region = Region { mapping: Mapping { addr: base, len: span }, file, name, page };
    // SAFETY: `[base, base+span)` is the reservation just made, owned by `region`.
    unsafe { sys::map_shared(&region.file, span, UNASSIGNED, Some(base)) }.map_err(|e| format!("setup: {e}"))?;
    // SAFETY: the first page of our own region, which nothing uses yet.
    unsafe { sys::protect(base, page, Prot::RX).and_then(|()| sys::protect(base, page, UNASSIGNED)) }
        .map_err(|e| format!("setup: the region's file cannot be mapped executable here: {e}"))?;
    let fd = match region.name {
        None => region.file.as_raw_fd(),
        Some(_) => -1,
    };
    let name = region.name.as_ref().map_or(String::new(), |n| n.to_string_lossy().into_owned());
    let handle = NEXT_HANDLE.fetch_add(1, Ordering::Relaxed);
    let pages = usize::try_from(span / page).map_err(|e| e.to_string())?;
    let state = State {
        pages: vec![wire::access_byte(UNASSIGNED); pages],
        allocs: HashMap::new(),
        segments: BTreeMap::new(),
        next_seq: 0,
        closed: false,
    };
    registry().insert(handle, Arc::new(Service { region, state: Mutex::new(state) }));
    Ok(SetupReply { handle, base, pid, fd, name })
}

fn teardown(handle: u64) -> Result<(), String> {
    let svc = registry()
        .remove(&handle)
        .ok_or_else(|| format!("teardown: unknown handle {handle:#x} (never set up, or torn down already)"))?;
    let mut live: Vec<(u64, u64, Vec<WrapperCall>)> = {
        let mut st = svc.lock();
        st.closed = true;
        st.segments.clear();
        st.allocs.drain().filter_map(|(key, a)| Some((a.seq, key, a.deallocs?))).collect()
    };
    live.sort_unstable_by_key(|&(seq, _, _)| std::cmp::Reverse(seq));
    let errors: Vec<String> = live.iter().filter_map(|(_, key, d)| run_deallocs(*key, d).err()).collect();
    // The region is unmapped when the last call holding `svc` returns.
    drop(svc);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(format!("teardown of handle {handle:#x}: {}", errors.join("; ")))
    }
}

/// Runs one allocation's dealloc actions.
fn run_deallocs(key: u64, deallocs: &[WrapperCall]) -> Result<(), String> {
    // SAFETY: every address was checked to lie in executable memory of this process when the
    // allocation was finalized; like LLVM's own services, the executor trusts the linker that
    // they are wrapper functions (it can make the executor run any code it links anyway).
    unsafe { wrapper::run_dealloc_actions(deallocs) }.map_err(|e| format!("allocation {key:#x}: {e}"))
}

/// One region: the address space and the file behind it.
struct Region {
    mapping: Mapping,
    file: OwnedFd,
    name: Option<CString>,
    page: u64,
}

impl Drop for Region {
    fn drop(&mut self) {
        // The mapping and the file go with their own drops. A name the linker already removed
        // is not an error.
        if let Some(name) = &self.name {
            let _ = sys::shm_unlink(name);
        }
    }
}

/// One allocation the executor knows of.
struct Alloc {
    /// Finalize order, for teardown.
    seq: u64,
    /// `None` while its finalize actions run.
    deallocs: Option<Vec<WrapperCall>>,
    /// Its segments' byte ranges `(start, end)` in the region.
    ranges: Vec<(u64, u64)>,
}

struct State {
    /// The access byte of every page of the region, as last set by a finalize's protect extents.
    pages: Vec<u8>,
    allocs: HashMap<u64, Alloc>,
    /// The segments of every allocation being finalized or live: start → end.
    segments: BTreeMap<u64, u64>,
    next_seq: u64,
    /// Set by teardown; later calls on the handle fail.
    closed: bool,
}

impl State {
    /// The segment of a live allocation that overlaps `[start, end)`, if any.
    fn overlapping(&self, start: u64, end: u64) -> Option<(u64, u64)> {
        self.segments.range(..end).next_back().map(|(&s, &e)| (s, e)).filter(|&(_, e)| e > start)
    }
}

struct Service {
    region: Region,
    state: Mutex<State>,
}

impl Service {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn open(&self) -> Result<MutexGuard<'_, State>, String> {
        let st = self.lock();
        if st.closed {
            return Err("the region was torn down while this call was on its way".into());
        }
        Ok(st)
    }

    fn span(&self) -> u64 {
        self.region.mapping.len
    }

    /// Gives page ranges their access: all checked, then applied in order.
    fn protect(&self, st: &mut State, ranges: &[Extent]) -> Result<(), String> {
        let page = self.region.page;
        wire::check_extents(ranges, self.span(), page, true, "finalize: protect extent")?;
        for (i, r) in ranges.iter().enumerate() {
            let at = self.region.mapping.addr + r.offset;
            // SAFETY: the range lies inside our region (checked above); what runs there is the
            // linker's to decide, as the protocol says.
            unsafe { sys::protect(at, r.len, r.access) }.map_err(|e| {
                format!(
                    "finalize: protect extent {i} [{:#x}, +{:#x}): {e} (the extents before it were applied; the \
                     batch did not run)",
                    r.offset, r.len
                )
            })?;
            let first = (r.offset / page) as usize;
            st.pages[first..first + (r.len / page) as usize].fill(wire::access_byte(r.access));
        }
        Ok(())
    }

    /// Checks a batch and claims its keys and segments; see the module docs for the rules.
    fn claim(&self, st: &mut State, allocs: &[Allocation]) -> Result<(), String> {
        let page = self.region.page;
        let mut keys = HashSet::new();
        let mut batch: BTreeMap<u64, u64> = BTreeMap::new();
        let mut exec_needed = false;
        for a in allocs {
            let key = a.key;
            if !keys.insert(key) {
                return Err(format!("finalize: key {key:#x} appears twice in the batch"));
            }
            if st.allocs.contains_key(&key) {
                return Err(format!("finalize: key {key:#x} names an allocation that is already live"));
            }
            let what = format!("finalize: allocation {key:#x}: segment");
            wire::check_extents(&a.segments, self.span(), page, false, &what)?;
            for (i, s) in a.segments.iter().enumerate() {
                let (start, end) = (s.offset, s.offset + s.len);
                if s.access == Prot::NONE {
                    return Err(format!("{what} {i} at {start:#x} has no access (---)"));
                }
                let want = wire::access_byte(s.access);
                let (p0, p1) = ((start / page) as usize, end.div_ceil(page) as usize);
                if let Some(p) = (p0..p1).find(|&p| st.pages[p] != want) {
                    let have = wire::access_from_byte(st.pages[p]).map_or("?".to_string(), |a| a.to_string());
                    return Err(format!(
                        "{what} {i} [{start:#x}, +{:#x}) is {} but its page at {:#x} is {have}: give the \
                         pool's chunk its access first (a protect extent)",
                        s.len,
                        s.access,
                        p as u64 * page
                    ));
                }
                if let Some((s0, e0)) = st.overlapping(start, end) {
                    return Err(format!(
                        "{what} {i} [{start:#x}, {end:#x}) overlaps [{s0:#x}, {e0:#x}) of a live allocation"
                    ));
                }
                let other = batch.range(..end).next_back().filter(|&(_, &e)| e > start);
                if let Some((&s0, &e0)) = other {
                    return Err(format!(
                        "{what} {i} [{start:#x}, {end:#x}) overlaps [{s0:#x}, {e0:#x}) of another allocation \
                         of the batch"
                    ));
                }
                batch.insert(start, end);
            }
            exec_needed |= a.actions.iter().any(|p| !p.finalize.is_null() || !p.dealloc.is_null());
        }
        if exec_needed {
            // Cheapest route first, each later one looked up only when an address needs it: the
            // region's own code pages (where the ORC runtime is linked), the loaded objects' code
            // (the executor's wrapper functions), and /proc/self/maps, whose reading cost about
            // 80 µs of every finalize when it was the only route.
            let base = self.region.mapping.addr;
            let rx = wire::access_byte(Prot::RX);
            let in_region_code = |addr: u64| {
                let at = addr.wrapping_sub(base);
                at < self.span() && st.pages[(at / page) as usize] == rx
            };
            let in_any = |ranges: &[(u64, u64)], addr: u64| ranges.iter().any(|&(s, e)| (s..e).contains(&addr));
            let mut loaded: Option<Vec<(u64, u64)>> = None;
            let mut mapped: Option<Vec<(u64, u64)>> = None;
            for a in allocs {
                for c in a.actions.iter().flat_map(|p| [&p.finalize, &p.dealloc]).filter(|c| !c.is_null()) {
                    let addr = c.fn_addr;
                    if in_region_code(addr) || in_any(loaded.get_or_insert_with(sys::loaded_code_ranges), addr) {
                        continue;
                    }
                    // Another JIT's memory, say.
                    if mapped.is_none() {
                        mapped = Some(sys::executable_ranges().map_err(|e| format!("finalize: {e}"))?);
                    }
                    if !in_any(mapped.as_deref().unwrap_or_default(), addr) {
                        return Err(format!(
                            "finalize: allocation {:#x}: action address {:#x} is not in executable memory of \
                             the executor",
                            a.key, c.fn_addr
                        ));
                    }
                }
            }
        }
        for a in allocs {
            let ranges: Vec<(u64, u64)> = a.segments.iter().map(|s| (s.offset, s.offset + s.len)).collect();
            st.segments.extend(ranges.iter().copied());
            st.allocs.insert(a.key, Alloc { seq: 0, deallocs: None, ranges });
        }
        Ok(())
    }

    fn finalize(&self, protect: &[Extent], allocs: Vec<Allocation>) -> wire::FinalizeOutcome {
        {
            let mut st = self.open()?;
            self.protect(&mut st, protect)?;
            self.claim(&mut st, &allocs)?;
        }
        let base = self.region.mapping.addr;
        let outcomes: Vec<Result<Vec<WrapperCall>, String>> = allocs
            .iter()
            .map(|a| {
                for s in a.segments.iter().filter(|s| s.access.executable()) {
                    sys::flush_icache(base + s.offset, s.len);
                }
                // SAFETY: claim checked that every address lies in executable memory; the
                // executor trusts the linker that they are wrapper functions (see run_deallocs).
                unsafe { wrapper::run_finalize_actions(&a.actions) }
                    .map_err(|e| format!("allocation {:#x}: finalize action failed: {e}", a.key))
            })
            .collect();
        let mut late = Vec::new();
        let mut results = Vec::with_capacity(allocs.len());
        {
            let mut st = self.lock();
            for (a, outcome) in allocs.iter().zip(outcomes) {
                match outcome {
                    Ok(deallocs) if !st.closed => {
                        let seq = st.next_seq;
                        st.next_seq += 1;
                        if let Some(entry) = st.allocs.get_mut(&a.key) {
                            entry.seq = seq;
                            entry.deallocs = Some(deallocs);
                        }
                        results.push(Ok(()));
                    }
                    Ok(deallocs) => {
                        late.push((a.key, deallocs));
                        results.push(Err(format!(
                            "allocation {:#x}: the region was torn down while it was being finalized; its dealloc \
                             actions ran",
                            a.key
                        )));
                    }
                    Err(e) => {
                        if let Some(entry) = st.allocs.remove(&a.key) {
                            for (s, _) in entry.ranges {
                                st.segments.remove(&s);
                            }
                        }
                        results.push(Err(e));
                    }
                }
            }
        }
        for (key, deallocs) in late {
            let _ = run_deallocs(key, &deallocs);
        }
        Ok(results)
    }

    fn deallocate(&self, keys: &[u64]) -> Result<(), String> {
        let taken: Vec<(u64, Vec<WrapperCall>)> = {
            let mut st = self.open()?;
            let mut seen = HashSet::new();
            for &key in keys {
                if !seen.insert(key) {
                    return Err(format!("deallocate: key {key:#x} appears twice in the request"));
                }
                match st.allocs.get(&key) {
                    None => {
                        return Err(format!("deallocate: unknown allocation key {key:#x} (never finalized, or freed)"))
                    }
                    Some(a) if a.deallocs.is_none() => {
                        return Err(format!("deallocate: allocation {key:#x} is still being finalized"))
                    }
                    Some(_) => {}
                }
            }
            keys.iter()
                .filter_map(|key| {
                    let a = st.allocs.remove(key)?;
                    for (s, _) in &a.ranges {
                        st.segments.remove(s);
                    }
                    Some((*key, a.deallocs?))
                })
                .collect()
        };
        let errors: Vec<String> = taken.iter().rev().filter_map(|(key, d)| run_deallocs(*key, d).err()).collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(format!("deallocate: {}", errors.join("; ")))
        }
    }
}

#[cfg(test)]
mod tests;
