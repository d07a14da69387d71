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
pub fn with_seed(test: &str, body: impl FnOnce(&mut Rng) + std::panic::UnwindSafe) {
    let seed = seed();
    let result = std::panic::catch_unwind(move || body(&mut Rng::new(seed)));
    if let Err(panic) = result {
        eprintln!("{test} failed with seed {seed}; replay with JITSLAB_SEED={seed}");
        std::panic::resume_unwind(panic);
    }
}
