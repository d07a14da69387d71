//! A fake executor that plays LLVM 19's `ExecutorSharedMemoryMapperService` in this process
//! (reference notes §2.4), and the helpers of the tests that drive a remote manager against it
//! (the stock backend's tests beside it, the native backend's too):
//!
//! - Reserve: `shm_open(name, O_RDWR|O_CREAT|O_EXCL, 0700)`, `ftruncate`, `mmap(PROT_NONE,
//!   MAP_SHARED)`; replies `Expected<(addr, name)>`. The name is never unlinked by the service:
//!   the controller must do it.
//! - Initialize: `mprotect`s each segment to its group's protection, runs the finalize actions
//!   (real wrapper functions of this process), records the dealloc actions under the key
//!   (the lowest segment address, overwriting any entry with that key, as the service's map
//!   does) and replies `Expected<key>`.
//! - Deinitialize: runs the dealloc actions of the keys, last key first (an unknown key has
//!   none, as with the service's `operator[]`); replies `Error`.
//! - Release: deinitializes what is left in the reservation and unmaps it; replies `Error`.
//!
//! The requests are decoded with [`Reader`] and the replies encoded with [`Writer`], so the
//! tests check the manager's use of the protocol; the byte-level cross-check against LLVM's own
//! templates and service is the C++ test `cpp-shim/tests/unit/remote_service_test.cpp`.
//!
//! The fake answers every call on a thread of its own, as `llvm-jitlink-executor` does, and can
//! be told to misbehave ([`Fault`]). What the fake calls "the executor view" is its own mapping
//! of the object: the addresses the manager hands out as executor addresses.
//!
//! Concurrency: tests run in parallel; each fake has its own name prefix, and each test its own
//! action-log prefix.

use std::collections::{BTreeMap, HashMap};
use std::ffi::{c_char, CString};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::manager::{AllocId, Config, Done, Error, Lifetime, Manager, Prot, Segment, SegmentRequest};
use crate::mapper::remote::{Completion, Transport};
use crate::protocol::sps::{self, Reader, SpsError, Writer};
use crate::protocol::stock::{self, GROUP_EXEC, GROUP_READ, GROUP_WRITE};
use crate::protocol::wrapper::{self, ActionPair, CWrapperFunctionResult, WrapperCall, WrapperFn};
use crate::sys;

pub(crate) const MB: u64 = 1 << 20;
pub(crate) const RX: u8 = Prot::READ | Prot::EXEC;
pub(crate) const R: u8 = Prot::READ;
pub(crate) const RW: u8 = Prot::READ | Prot::WRITE;

/// How long a test waits for a completion before calling it lost.
pub(crate) const PROMPT: Duration = Duration::from_secs(5);

/// The fake's service addresses: tokens, not functions (the fake dispatches on them).
pub(crate) const INSTANCE: u64 = 0x1122_3344_5566_7788;
pub(crate) const RESERVE_FN: u64 = 0x5e00_0001;
pub(crate) const INITIALIZE_FN: u64 = 0x5e00_0002;
pub(crate) const DEINITIALIZE_FN: u64 = 0x5e00_0003;
pub(crate) const RELEASE_FN: u64 = 0x5e00_0004;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Reserve,
    Initialize,
    Deinitialize,
    Release,
}

impl Op {
    pub(crate) fn of(fn_addr: u64) -> Option<Op> {
        match fn_addr {
            RESERVE_FN => Some(Op::Reserve),
            INITIALIZE_FN => Some(Op::Initialize),
            DEINITIALIZE_FN => Some(Op::Deinitialize),
            RELEASE_FN => Some(Op::Release),
            _ => None,
        }
    }
}

/// A misbehaviour for the next call of one operation.
#[derive(Debug, Clone)]
pub(crate) enum Fault {
    /// Carry the call out, then reply with these bytes instead.
    Replace(Vec<u8>),
    /// Carry the call out, then reply with the last `n` bytes cut off.
    Truncate(usize),
    /// Carry the call out, then reply with these bytes appended.
    Trailing(Vec<u8>),
    /// Reserve for real, then reply with the name of an object that does not exist.
    BogusName,
    /// Fail the call with a transport error without carrying it out; the connection is gone, so
    /// every later call fails the same way.
    Disconnect,
    /// Drop the completion without calling it; the connection is gone from then on.
    DropCompletion,
    /// Wait this long, then carry the call out and reply.
    Late(Duration),
    /// Hold the call, not carried out and unanswered, until the test opens the gate.
    Held(Arc<Gate>),
}

/// Where [`Fault::Held`] keeps a call: the fake's thread waits at the gate until the test
/// opens it.
#[derive(Default)]
pub(crate) struct Gate {
    /// `(a call is waiting here, the gate is open)`.
    pub(crate) state: Mutex<(bool, bool)>,
    pub(crate) changed: Condvar,
}

impl std::fmt::Debug for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Gate")
    }
}

impl Gate {
    pub(crate) fn new() -> Arc<Gate> {
        Arc::default()
    }

    /// The fake's side: waits until the gate is open.
    pub(crate) fn pass(&self) {
        let mut st = self.state.lock().unwrap();
        st.0 = true;
        self.changed.notify_all();
        while !st.1 {
            st = self.changed.wait(st).unwrap();
        }
    }

    /// Waits (at most [`PROMPT`]) until a call is held at the gate.
    pub(crate) fn wait_held(&self) {
        let st = self.state.lock().unwrap();
        let (st, _) = self.changed.wait_timeout_while(st, PROMPT, |st| !st.0).unwrap();
        assert!(st.0, "no call reached the gate within {PROMPT:?}");
    }

    pub(crate) fn open(&self) {
        self.state.lock().unwrap().1 = true;
        self.changed.notify_all();
    }
}

/// One reservation in the fake executor.
#[derive(Debug)]
pub(crate) struct Reservation {
    pub(crate) size: u64,
    /// Keys of the allocations initialized in it.
    pub(crate) allocs: Vec<u64>,
}

#[derive(Debug, Default)]
pub(crate) struct ExecState {
    pub(crate) reservations: BTreeMap<u64, Reservation>,
    /// Dealloc actions by allocation key.
    pub(crate) allocations: HashMap<u64, Vec<WrapperCall>>,
    /// Every object name the executor created.
    pub(crate) names: Vec<String>,
}

/// A call as the fake received it.
#[derive(Debug, Clone)]
pub(crate) struct Call {
    pub(crate) op: Op,
    pub(crate) args: Vec<u8>,
}

/// The fake executor. See the module docs.
pub(crate) struct Fake {
    /// `/jitslab_test_<pid>_<fake>_`; object names are this and a counter.
    pub(crate) prefix: String,
    pub(crate) next_name: AtomicU64,
    /// A bootstrap symbol the fake does not publish.
    pub(crate) missing: Option<&'static str>,
    pub(crate) state: Mutex<ExecState>,
    pub(crate) faults: Mutex<Vec<(Op, Fault)>>,
    pub(crate) dead: AtomicBool,
    pub(crate) calls: Mutex<Vec<Call>>,
    pub(crate) bytes_in: AtomicU64,
    pub(crate) bytes_out: AtomicU64,
    /// Requests that do not decode or break the protocol's rules (must stay empty).
    pub(crate) violations: Mutex<Vec<String>>,
}

pub(crate) static NEXT_FAKE: AtomicU64 = AtomicU64::new(1);

/// The `Transport` the manager owns: the fake, shared with the test.
pub(crate) struct FakeTransport(Arc<Fake>);

impl Transport for FakeTransport {
    fn call(&self, fn_addr: u64, args: Vec<u8>, done: Completion) {
        let fake = Arc::clone(&self.0);
        // The executor serves every call on a new thread.
        std::thread::spawn(move || match fake.serve(fn_addr, args) {
            Some(reply) => done(reply),
            None => drop(done),
        });
    }

    fn lookup(&self, name: &str) -> Option<u64> {
        if Some(name) == self.0.missing {
            return None;
        }
        match name {
            stock::INSTANCE => Some(INSTANCE),
            stock::RESERVE => Some(RESERVE_FN),
            stock::INITIALIZE => Some(INITIALIZE_FN),
            stock::DEINITIALIZE => Some(DEINITIALIZE_FN),
            stock::RELEASE => Some(RELEASE_FN),
            _ => None,
        }
    }
}

pub(crate) fn expected_ok(value: impl FnOnce(&mut Writer)) -> Vec<u8> {
    let mut w = Writer::new();
    w.bool(true);
    value(&mut w);
    w.finish()
}

pub(crate) fn expected_err(msg: &str) -> Vec<u8> {
    Writer::new().bool(false).bytes(msg.as_bytes()).finish()
}

pub(crate) fn access_of(group: u8) -> Prot {
    let bit = |group_bit: u8, prot_bit: u8| if group & group_bit != 0 { prot_bit } else { 0 };
    Prot(bit(GROUP_READ, Prot::READ) | bit(GROUP_WRITE, Prot::WRITE) | bit(GROUP_EXEC, Prot::EXEC))
}

/// A decoded `Initialize` request.
#[derive(Debug, Clone)]
pub(crate) struct InitRequest {
    pub(crate) reservation: u64,
    pub(crate) segs: Vec<stock::SegFinalize>,
    pub(crate) actions: Vec<ActionPair>,
}

pub(crate) fn wrapper_call(r: &mut Reader<'_>) -> Result<WrapperCall, SpsError> {
    let fn_addr = r.u64("action function")?;
    let n = r.u64("action argument length")?;
    Ok(WrapperCall { fn_addr, args: r.bytes(n, "action arguments")?.to_vec() })
}

pub(crate) fn decode_initialize(args: &[u8]) -> Result<(u64, InitRequest), SpsError> {
    let mut r = Reader::new(args);
    let instance = r.u64("instance")?;
    let reservation = r.u64("reservation")?;
    let nsegs = r.count(17, "segments")?;
    let mut segs = Vec::with_capacity(nsegs);
    for _ in 0..nsegs {
        segs.push(stock::SegFinalize { group: r.u8("group")?, addr: r.u64("address")?, size: r.u64("size")? });
    }
    let nacts = r.count(32, "actions")?;
    let mut actions = Vec::with_capacity(nacts);
    for _ in 0..nacts {
        actions.push(ActionPair { finalize: wrapper_call(&mut r)?, dealloc: wrapper_call(&mut r)? });
    }
    r.finish("Initialize arguments")?;
    Ok((instance, InitRequest { reservation, segs, actions }))
}

/// `(instance, size)`: the arguments of Reserve.
pub(crate) fn decode_reserve(args: &[u8]) -> Result<(u64, u64), SpsError> {
    let mut r = Reader::new(args);
    let v = (r.u64("instance")?, r.u64("size")?);
    r.finish("Reserve arguments")?;
    Ok(v)
}

/// `(instance, addresses)`: the arguments of Deinitialize and Release.
pub(crate) fn decode_addrs(args: &[u8]) -> Result<(u64, Vec<u64>), SpsError> {
    let mut r = Reader::new(args);
    let instance = r.u64("instance")?;
    let n = r.count(8, "addresses")?;
    let addrs = (0..n).map(|_| r.u64("address")).collect::<Result<Vec<u64>, SpsError>>()?;
    r.finish("address list")?;
    Ok((instance, addrs))
}

impl Fake {
    pub(crate) fn new() -> Arc<Fake> {
        Fake::with_missing(None)
    }

    pub(crate) fn with_missing(missing: Option<&'static str>) -> Arc<Fake> {
        Arc::new(Fake {
            prefix: format!("/jitslab_test_{}_{}_", std::process::id(), NEXT_FAKE.fetch_add(1, SeqCst)),
            next_name: AtomicU64::new(1),
            missing,
            state: Mutex::default(),
            faults: Mutex::default(),
            dead: AtomicBool::new(false),
            calls: Mutex::default(),
            bytes_in: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
            violations: Mutex::default(),
        })
    }

    pub(crate) fn transport(self: &Arc<Self>) -> Box<dyn Transport> {
        Box::new(FakeTransport(Arc::clone(self)))
    }

    /// Makes the next call of `op` misbehave.
    pub(crate) fn fault(&self, op: Op, fault: Fault) {
        self.faults.lock().unwrap().push((op, fault));
    }

    pub(crate) fn take_fault(&self, op: Op) -> Option<Fault> {
        let mut faults = self.faults.lock().unwrap();
        let at = faults.iter().position(|(o, _)| *o == op)?;
        Some(faults.remove(at).1)
    }

    pub(crate) fn violation(&self, what: String) -> Vec<u8> {
        self.violations.lock().unwrap().push(what);
        // What ORC delivers for a wrapper whose arguments do not decode: an out-of-band error,
        // which the transport carries as an empty result.
        Vec::new()
    }

    /// Serves one call; `None` drops the completion.
    pub(crate) fn serve(&self, fn_addr: u64, args: Vec<u8>) -> Option<Result<Vec<u8>, String>> {
        self.bytes_in.fetch_add(args.len() as u64, SeqCst);
        let Some(op) = Op::of(fn_addr) else {
            let what = format!("call of unknown function {fn_addr:#x}");
            return Some(Ok(self.violation(what)));
        };
        self.calls.lock().unwrap().push(Call { op, args: args.clone() });
        if self.dead.load(SeqCst) {
            return Some(Err("disconnecting".into()));
        }
        let fault = self.take_fault(op);
        match fault {
            Some(Fault::Disconnect) => {
                self.dead.store(true, SeqCst);
                return Some(Err("disconnecting".into()));
            }
            Some(Fault::DropCompletion) => {
                self.dead.store(true, SeqCst);
                return None;
            }
            _ => {}
        }
        match &fault {
            Some(Fault::Late(d)) => std::thread::sleep(*d),
            Some(Fault::Held(gate)) => gate.pass(),
            _ => {}
        }
        let mut reply = match op {
            Op::Reserve => self.reserve(&args, matches!(fault, Some(Fault::BogusName))),
            Op::Initialize => self.initialize(&args),
            Op::Deinitialize => self.deinitialize(&args),
            Op::Release => self.release(&args),
        };
        match fault {
            Some(Fault::Replace(bytes)) => reply = bytes,
            Some(Fault::Truncate(n)) => reply.truncate(reply.len().saturating_sub(n)),
            Some(Fault::Trailing(bytes)) => reply.extend(bytes),
            _ => {}
        }
        self.bytes_out.fetch_add(reply.len() as u64, SeqCst);
        Some(Ok(reply))
    }

    pub(crate) fn reserve(&self, args: &[u8], bogus_name: bool) -> Vec<u8> {
        let (instance, size) = match decode_reserve(args) {
            Ok(v) => v,
            Err(e) => return self.violation(format!("Reserve: {e}")),
        };
        if instance != INSTANCE {
            return self.violation(format!("Reserve: instance {instance:#x}"));
        }
        let name = format!("{}{}", self.prefix, self.next_name.fetch_add(1, SeqCst));
        let cname = CString::new(name.clone()).unwrap();
        // SAFETY: a valid C string; creates a fresh object.
        let fd = unsafe { libc::shm_open(cname.as_ptr(), libc::O_RDWR | libc::O_CREAT | libc::O_EXCL, 0o700) };
        if fd < 0 {
            return expected_err(&format!("shm_open({name}): {}", std::io::Error::last_os_error()));
        }
        self.state.lock().unwrap().names.push(name.clone());
        // SAFETY: ftruncate, then a fresh mapping of the kernel's choice, of a descriptor we own.
        let addr = unsafe {
            if libc::ftruncate(fd, size as libc::off_t) != 0 {
                libc::close(fd);
                return expected_err(&format!("ftruncate: {}", std::io::Error::last_os_error()));
            }
            let p = libc::mmap(std::ptr::null_mut(), size as usize, libc::PROT_NONE, libc::MAP_SHARED, fd, 0);
            libc::close(fd);
            if p == libc::MAP_FAILED {
                return expected_err(&format!("mmap: {}", std::io::Error::last_os_error()));
            }
            p as u64
        };
        self.state.lock().unwrap().reservations.insert(addr, Reservation { size, allocs: Vec::new() });
        let reply_name = if bogus_name {
            // The object exists under its real name no longer; the reply names another.
            // SAFETY: a valid C string.
            unsafe { libc::shm_unlink(cname.as_ptr()) };
            format!("{}no_such_object", self.prefix)
        } else {
            name
        };
        expected_ok(|w| {
            w.u64(addr).bytes(reply_name.as_bytes());
        })
    }

    pub(crate) fn initialize(&self, args: &[u8]) -> Vec<u8> {
        let (instance, req) = match decode_initialize(args) {
            Ok(v) => v,
            Err(e) => return self.violation(format!("Initialize: {e}")),
        };
        if instance != INSTANCE {
            return self.violation(format!("Initialize: instance {instance:#x}"));
        }
        // As LLVM 19's service: the key is the lowest segment address, ~0 when there is none.
        let key = req.segs.iter().map(|s| s.addr).min().unwrap_or(!0);
        {
            let st = self.state.lock().unwrap();
            let Some(res) = st.reservations.get(&req.reservation) else {
                drop(st);
                return self.violation(format!("Initialize in unknown reservation {:#x}", req.reservation));
            };
            let end = req.reservation + res.size;
            if let Some(s) = req.segs.iter().find(|s| s.addr < req.reservation || s.addr + s.size > end) {
                let what = format!("Initialize: segment {s:?} outside [{:#x}, {end:#x})", req.reservation);
                drop(st);
                return self.violation(what);
            }
        }
        for s in &req.segs {
            // SAFETY: the segment lies in this fake's own reservation (checked above).
            if let Err(e) = unsafe { sys::protect(s.addr, s.size, access_of(s.group)) } {
                return expected_err(&e.to_string());
            }
            sys::flush_icache(s.addr, s.size);
        }
        // SAFETY: the tests pass only wrapper functions of this process as actions.
        let deallocs = match unsafe { wrapper::run_finalize_actions(&req.actions) } {
            Ok(d) => d,
            Err(e) => return expected_err(&e),
        };
        let mut st = self.state.lock().unwrap();
        st.allocations.insert(key, deallocs);
        if let Some(res) = st.reservations.get_mut(&req.reservation) {
            res.allocs.push(key);
        }
        expected_ok(|w| {
            w.u64(key);
        })
    }

    /// Runs the dealloc actions of `keys`, last first; the joined errors.
    pub(crate) fn deinit_keys(&self, keys: &[u64]) -> Option<String> {
        let mut errors = Vec::new();
        for key in keys.iter().rev() {
            let deallocs = {
                let mut st = self.state.lock().unwrap();
                for res in st.reservations.values_mut() {
                    if let Some(at) = res.allocs.iter().position(|k| k == key) {
                        res.allocs.remove(at);
                        break;
                    }
                }
                st.allocations.remove(key).unwrap_or_default()
            };
            // SAFETY: the tests pass only wrapper functions of this process as actions.
            if let Err(e) = unsafe { wrapper::run_dealloc_actions(&deallocs) } {
                errors.push(e);
            }
        }
        (!errors.is_empty()).then(|| errors.join("; "))
    }

    pub(crate) fn deinitialize(&self, args: &[u8]) -> Vec<u8> {
        match decode_addrs(args) {
            Ok((INSTANCE, keys)) => sps::encode_error(self.deinit_keys(&keys).as_deref()),
            Ok((i, _)) => self.violation(format!("Deinitialize: instance {i:#x}")),
            Err(e) => self.violation(format!("Deinitialize: {e}")),
        }
    }

    pub(crate) fn release(&self, args: &[u8]) -> Vec<u8> {
        let bases = match decode_addrs(args) {
            Ok((INSTANCE, bases)) => bases,
            Ok((i, _)) => return self.violation(format!("Release: instance {i:#x}")),
            Err(e) => return self.violation(format!("Release: {e}")),
        };
        let mut errors = Vec::new();
        for base in bases {
            let res = self.state.lock().unwrap().reservations.remove(&base);
            let Some(res) = res else {
                errors.push(format!("no reservation at {base:#x}"));
                continue;
            };
            errors.extend(self.deinit_keys(&res.allocs));
            // SAFETY: the fake's own mapping, forgotten above.
            if let Err(e) = unsafe { sys::unmap(base, res.size) } {
                errors.push(e.to_string());
            }
        }
        sps::encode_error((!errors.is_empty()).then(|| errors.join("; ")).as_deref())
    }

    // --- what the tests look at ---

    pub(crate) fn ops(&self) -> Vec<Op> {
        self.calls.lock().unwrap().iter().map(|c| c.op).collect()
    }

    pub(crate) fn calls_of(&self, op: Op) -> Vec<Call> {
        self.calls.lock().unwrap().iter().filter(|c| c.op == op).cloned().collect()
    }

    pub(crate) fn names(&self) -> Vec<String> {
        self.state.lock().unwrap().names.clone()
    }

    pub(crate) fn reservations(&self) -> Vec<(u64, u64)> {
        self.state.lock().unwrap().reservations.iter().map(|(&a, r)| (a, r.size)).collect()
    }

    pub(crate) fn live_keys(&self) -> usize {
        self.state.lock().unwrap().allocations.len()
    }

    /// Entries of `/dev/shm` made by this fake.
    pub(crate) fn shm_entries(&self) -> Vec<String> {
        let mine = self.prefix.trim_start_matches('/').to_string();
        std::fs::read_dir("/dev/shm")
            .map(|d| {
                d.filter_map(|e| e.ok()?.file_name().into_string().ok()).filter(|n| n.starts_with(&mine)).collect()
            })
            .unwrap_or_default()
    }

    pub(crate) fn assert_no_violation(&self) {
        let v = self.violations.lock().unwrap();
        assert!(v.is_empty(), "the manager broke the protocol: {v:?}");
    }
}

impl Drop for Fake {
    /// The executor process ends: its mappings go, and (for tidiness; the real service never
    /// unlinks) so does any name left behind.
    fn drop(&mut self) {
        let st = self.state.get_mut().unwrap_or_else(|p| p.into_inner());
        for (&base, res) in &st.reservations {
            // SAFETY: the fake's own mapping; nothing uses it once the fake is gone.
            let _ = unsafe { sys::unmap(base, res.size) };
        }
        for name in &st.names {
            let cname = CString::new(name.clone()).unwrap();
            // SAFETY: a valid C string.
            unsafe { libc::shm_unlink(cname.as_ptr()) };
        }
    }
}

// --- wrapper functions the fake executor runs as actions ---

pub(crate) static PEEKS: Mutex<Vec<(u64, Vec<u8>)>> = Mutex::new(Vec::new());

/// Records the bytes found at an executor address: arguments `(addr u64, len u64)`.
///
/// # Safety
/// `args` must point to `len` bytes; the address they name must be readable.
pub(crate) unsafe extern "C" fn peek(args: *const c_char, len: usize) -> CWrapperFunctionResult {
    // SAFETY: the caller passes a valid buffer.
    let args = unsafe { std::slice::from_raw_parts(args as *const u8, len) };
    let mut r = Reader::new(args);
    let (Ok(addr), Ok(n)) = (r.u64("addr"), r.u64("len")) else {
        return CWrapperFunctionResult::from_bytes(&sps::encode_error(Some("peek: bad arguments")));
    };
    // SAFETY: the tests peek only at segments the executor has just made readable.
    let bytes = unsafe { std::slice::from_raw_parts(addr as *const u8, n as usize) }.to_vec();
    PEEKS.lock().unwrap().push((addr, bytes));
    CWrapperFunctionResult::from_bytes(&sps::encode_error(None))
}

pub(crate) fn peek_at(addr: u64, len: u64) -> ActionPair {
    ActionPair {
        finalize: WrapperCall {
            fn_addr: peek as WrapperFn as usize as u64,
            args: Writer::new().u64(addr).u64(len).finish(),
        },
        dealloc: WrapperCall::default(),
    }
}

pub(crate) fn peeked(addr: u64) -> Option<Vec<u8>> {
    PEEKS.lock().unwrap().iter().rev().find(|(a, _)| *a == addr).map(|(_, b)| b.clone())
}

// --- helpers ---

pub(crate) fn config() -> Config {
    Config { span: 64 * MB, log_fallback: false, ..Config::default() }
}

pub(crate) fn remote(fake: &Arc<Fake>) -> Arc<Manager> {
    Arc::new(Manager::new_remote(&config(), fake.transport()).unwrap())
}

pub(crate) fn seg(prot: u8, lifetime: Lifetime, size: u64) -> SegmentRequest {
    SegmentRequest { prot: Prot(prot), lifetime, size, align: 16 }
}

pub(crate) fn write(s: &Segment, bytes: &[u8]) {
    // SAFETY: tests write only within the segment sizes they asked for.
    unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), s.working, bytes.len()) };
}

/// Reads the executor view (only where the fake has made it readable).
pub(crate) fn read_exec(addr: u64, len: usize) -> Vec<u8> {
    // SAFETY: tests read only finalized segments, which the executor made readable.
    unsafe { std::slice::from_raw_parts(addr as *const u8, len) }.to_vec()
}

/// The line of `/proc/self/maps` for the page at `addr`, if it is mapped.
pub(crate) fn maps_line(addr: u64) -> Option<String> {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    let holds = |l: &str| -> Option<bool> {
        let (a, b) = l.split_whitespace().next()?.split_once('-')?;
        Some(u64::from_str_radix(a, 16).ok()? <= addr && addr < u64::from_str_radix(b, 16).ok()?)
    };
    maps.lines().find(|l| holds(l) == Some(true)).map(str::to_string)
}

/// The permissions `/proc/self/maps` shows for the page at `addr`, e.g. `r-xs`.
pub(crate) fn perms_at(addr: u64) -> Option<String> {
    Some(maps_line(addr)?.split_whitespace().nth(1).unwrap_or("").to_string())
}

/// Starts an asynchronous operation and waits for its completion (at most [`PROMPT`]); fails
/// the test if the completion is dropped uncalled or late.
pub(crate) fn wait(start: impl FnOnce(Done)) -> Result<(), Error> {
    let (tx, rx) = mpsc::channel();
    start(Box::new(move |r| {
        // The test may have given up waiting already.
        let _ = tx.send(r);
    }));
    match rx.recv_timeout(PROMPT) {
        Ok(r) => r,
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("no completion within {PROMPT:?}"),
        Err(mpsc::RecvTimeoutError::Disconnected) => panic!("the completion was dropped without being called"),
    }
}

pub(crate) fn finalize(m: &Arc<Manager>, id: AllocId, actions: Vec<ActionPair>) -> Result<(), Error> {
    // SAFETY: remote: the actions are run by the fake executor, and are wrapper functions.
    wait(|done| unsafe { m.finalize_async(id, actions, done) })
}

pub(crate) fn deallocate(m: &Arc<Manager>, ids: &[AllocId]) -> Result<(), Error> {
    // SAFETY: as for `finalize`.
    wait(|done| unsafe { m.deallocate_async(ids, done) })
}

/// Drops the manager once the completions still holding it have let go, and says how long the
/// drop itself took.
pub(crate) fn drop_manager(m: Arc<Manager>) -> Duration {
    let started = Instant::now();
    let mut m = m;
    let m = loop {
        match Arc::try_unwrap(m) {
            Ok(m) => break m,
            Err(again) => {
                assert!(started.elapsed() < PROMPT, "a completion kept the manager alive");
                std::thread::sleep(Duration::from_millis(1));
                m = again;
            }
        }
    };
    let dropping = Instant::now();
    drop(m);
    dropping.elapsed()
}

/// The executor addresses of an allocation's segments.
pub(crate) fn addrs(s: &[Segment]) -> Vec<u64> {
    s.iter().map(|s| s.addr).collect()
}
