//! The cost of one allocate + finalize + deallocate cycle, the unit of work ORC asks of a memory
//! manager per linked object. Run with `cargo bench --bench cycle` (or `./x bench`).
//!
//! Each case runs `BATCHES` batches of `PER_BATCH` cycles, cases interleaved batch by batch so
//! that machine noise hits them alike, and reports the median time per cycle and its spread.
//! A cycle allocates a graph of three segments (code, read-only, read-write) of mixed small
//! sizes, writes one byte per segment, finalizes with no actions and deallocates. Live
//! allocations are kept at a steady 64 so that the free lists are not trivially empty.
//!
//! Cases: jitslab through the C ABI with the dual view (the default) and the single view, the
//! dual view driven by two threads at once, and the Rust API with the dual view; and, for scale, what LLVM 19's `InProcessMemoryManager` (the
//! LLJIT default) does per graph at the OS level: one mmap, one mprotect per non-RW segment,
//! one munmap.

use std::collections::VecDeque;
use std::ptr::{null, null_mut};
use std::time::Instant;

use jitslab::ffi::JitslabStatus::JITSLAB_OK;
use jitslab::ffi::*;
use jitslab::MapperChoice;
use jitslab::{AllocId, Config, Lifetime, Manager, Prot, SegmentRequest};

const BATCHES: usize = 31;
const PER_BATCH: usize = 20_000;
const LIVE: usize = 64;

fn sizes(i: usize) -> [u64; 3] {
    let i = i as u64;
    [64 + (i * 37) % 2000, 16 + (i * 13) % 300, 8 + (i * 7) % 200]
}

trait Case {
    fn name(&self) -> String;
    /// Runs `n` cycles.
    fn run(&mut self, n: usize);
}

struct CAbi {
    m: *mut JitslabManager,
    live: VecDeque<u64>,
    label: &'static str,
    i: usize,
}

impl CAbi {
    fn new(mapper: u32, label: &'static str) -> CAbi {
        let mut cfg = jitslab_config_default();
        cfg.mapper = mapper;
        let mut m = null_mut();
        // SAFETY: valid pointers.
        assert_eq!(unsafe { jitslab_manager_new(&cfg, &mut m) }, JITSLAB_OK);
        CAbi { m, live: VecDeque::new(), label, i: 0 }
    }
}

impl Case for CAbi {
    fn name(&self) -> String {
        format!("jitslab C ABI, {}", self.label)
    }
    fn run(&mut self, n: usize) {
        let mut segs = [JitslabSegment { addr: 0, working: null_mut() }; 3];
        for _ in 0..n {
            self.i += 1;
            let [a, b, c] = sizes(self.i);
            let reqs = [
                JitslabSegmentRequest { prot: JITSLAB_PROT_READ | JITSLAB_PROT_EXEC, lifetime: 0, size: a, align: 16 },
                JitslabSegmentRequest { prot: JITSLAB_PROT_READ, lifetime: 0, size: b, align: 8 },
                JitslabSegmentRequest { prot: JITSLAB_PROT_READ | JITSLAB_PROT_WRITE, lifetime: 0, size: c, align: 8 },
            ];
            let mut id = 0;
            // SAFETY: arrays of 3, valid out pointers; no actions.
            unsafe {
                assert_eq!(jitslab_allocate(self.m, reqs.as_ptr(), 3, segs.as_mut_ptr(), &mut id), JITSLAB_OK);
                for s in &segs {
                    *s.working = 1;
                }
                assert_eq!(jitslab_finalize(self.m, id, null(), 0), JITSLAB_OK);
            }
            self.live.push_back(id);
            if self.live.len() > LIVE {
                let old = self.live.pop_front().unwrap();
                // SAFETY: one finalized id.
                assert_eq!(unsafe { jitslab_deallocate(self.m, &old, 1) }, JITSLAB_OK);
            }
        }
    }
}

/// The same cycle on two threads sharing one manager; time is wall time per cycle of both.
struct TwoThreads {
    halves: [CAbi; 2],
}

impl Case for TwoThreads {
    fn name(&self) -> String {
        "jitslab C ABI, dual view, 2 threads on one manager".into()
    }
    fn run(&mut self, n: usize) {
        std::thread::scope(|s| {
            for h in &mut self.halves {
                s.spawn(move || h.run(n / 2));
            }
        });
    }
}

// SAFETY: the handle is a number jitslab looks up in a thread-safe table; the C ABI is
// thread-safe.
unsafe impl Send for CAbi {}

struct RustApi {
    m: Manager,
    live: VecDeque<AllocId>,
    i: usize,
}

impl Case for RustApi {
    fn name(&self) -> String {
        "jitslab Rust API, dual view".into()
    }
    fn run(&mut self, n: usize) {
        for _ in 0..n {
            self.i += 1;
            let [a, b, c] = sizes(self.i);
            let req = |p: u8, size| SegmentRequest { prot: Prot(p), lifetime: Lifetime::Standard, size, align: 16 };
            let (id, segs) = self.m.allocate(&[req(5, a), req(1, b), req(3, c)]).unwrap();
            for s in &segs {
                // SAFETY: each segment has at least one byte.
                unsafe { *s.working = 1 };
            }
            // SAFETY: no actions.
            unsafe { self.m.finalize(id, &[]) }.unwrap();
            self.live.push_back(id);
            if self.live.len() > LIVE {
                let old = self.live.pop_front().unwrap();
                // SAFETY: no actions.
                unsafe { self.m.deallocate(&[old]) }.unwrap();
            }
        }
    }
}

/// The OS work of LLVM 19's InProcessMemoryManager per graph (not LLVM itself: that comes with
/// the C++ shim and jitslab-bench): one mmap of the page-rounded total, one mprotect for each
/// non-RW segment, one munmap at deallocate.
struct MmapPerGraph {
    live: VecDeque<(*mut libc::c_void, usize)>,
    page: usize,
    i: usize,
}

impl Case for MmapPerGraph {
    fn name(&self) -> String {
        "OS calls of one mmap per graph (InProcessMemoryManager's scheme)".into()
    }
    fn run(&mut self, n: usize) {
        for _ in 0..n {
            self.i += 1;
            let [a, b, c] = sizes(self.i).map(|s| (s as usize).next_multiple_of(self.page));
            // SAFETY: a fresh anonymous mapping, protected and unmapped only here.
            unsafe {
                let p = libc::mmap(
                    null_mut(),
                    a + b + c,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                    -1,
                    0,
                );
                assert_ne!(p, libc::MAP_FAILED);
                let p8 = p as *mut u8;
                *p8 = 1;
                *p8.add(a) = 1;
                *p8.add(a + b) = 1;
                libc::mprotect(p, a, libc::PROT_READ | libc::PROT_EXEC);
                libc::mprotect(p8.add(a) as *mut libc::c_void, b, libc::PROT_READ);
                self.live.push_back((p, a + b + c));
                if self.live.len() > LIVE {
                    let (q, len) = self.live.pop_front().unwrap();
                    libc::munmap(q, len);
                }
            }
        }
    }
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let (batches, per) = if quick { (5, 2_000) } else { (BATCHES, PER_BATCH) };
    let mut cases: Vec<Box<dyn Case>> = vec![
        Box::new(CAbi::new(JITSLAB_MAPPER_DUAL_VIEW, "dual view")),
        Box::new(CAbi::new(JITSLAB_MAPPER_SINGLE_VIEW, "single view")),
        Box::new(RustApi {
            m: Manager::new(&Config { mapper: MapperChoice::DualView, ..Config::default() }).unwrap(),
            live: VecDeque::new(),
            i: 0,
        }),
        Box::new({
            let first = CAbi::new(JITSLAB_MAPPER_DUAL_VIEW, "dual view");
            let second = CAbi { m: first.m, live: VecDeque::new(), label: "dual view", i: 7 };
            TwoThreads { halves: [first, second] }
        }),
        Box::new(MmapPerGraph { live: VecDeque::new(), page: jitslab::testing::internals::page_size() as usize, i: 0 }),
    ];
    for c in &mut cases {
        c.run(per); // warm up: fill the live set, grow the pools
    }
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); cases.len()];
    for _ in 0..batches {
        for (c, t) in cases.iter_mut().zip(&mut times) {
            let start = Instant::now();
            c.run(per);
            t.push(start.elapsed().as_nanos() as f64 / per as f64);
        }
    }
    println!("allocate + finalize + deallocate of a 3-segment graph: {batches} batches of {per} cycles, interleaved");
    println!("| case | median ns/cycle | min–max over batches | ratio to jitslab dual view |");
    println!("|---|---:|---:|---:|");
    let med = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let base = med(&mut times[0].clone());
    for (c, t) in cases.iter().zip(&mut times) {
        let m = med(t);
        println!("| {} | {:.0} | {:.0}–{:.0} | {:.2}× |", c.name(), m, t[0], t[t.len() - 1], m / base);
    }
}
