//! `./x test --sanitize=address|thread [--subset]`: jitslab under ASan + UBSan or TSan, on
//! LLVM 22 only (docs/sanitizers.md says why and what is left out).
//!
//! | run                            | build tree              | Rust library          | tests                   |
//! |--------------------------------|-------------------------|-----------------------|-------------------------|
//! | `--sanitize=address`           | `target/cmake-22-asan`  | `target/san-address`  | all of ctest; cargo's   |
//! | `--sanitize=address --subset`  | `target/cmake-22-asan`  | `target/san-address`  | `ctest -L sanitize-subset` |
//! | `--sanitize=thread`            | `target/cmake-22-tsan`  | `target/release` (not instrumented) | `ctest -L threads`      |
//!
//! The C++ side is configured with `-DJITSLAB_SANITIZE=...` (`cpp-shim/cmake/Sanitize.cmake`:
//! the flags, and cargo building the instrumented libjitslab into its own target directory, so
//! the normal build is left alone); which tests are disabled and why, the labels, and the
//! sanitizers' options are in `cpp-shim/tests/Sanitizers.cmake`. Only the targets the chosen
//! tests need are built. Plain `./x test` runs the subset, with the test workloads of its own
//! `target/cmake-22`, so that CI covers ASan within its budget.
//!
//! The Rust tests (`--sanitize=address` only): cargo's unit and integration tests, built with
//! `-Zsanitizer=address` on the stable toolchain (`RUSTC_BOOTSTRAP=1`) for an explicit
//! `--target`, so that build scripts and proc-macros stay uninstrumented; rustc links its own
//! ASan runtime into the test executables. Not under TSan: the toolchain's std is not
//! instrumented (no `-Zbuild-std` without rust-src), so TSan does not see the synchronization
//! inside std's locks, channels and `Arc`, and reports races on data they protect.

use std::path::Path;
use std::time::Instant;

use crate::{command, ctest_in, run, LLVM_MAJORS};

/// The LLVM major of the sanitizer builds: clang's runtime and rustc's instrumentation must be
/// one LLVM (rustc 1.95 is on LLVM 22).
const MAJOR: u32 = 22;
/// The target of the Rust builds: explicit, so that host code (build scripts, proc-macros) is
/// built apart and not instrumented.
const RUST_TARGET: &str = "x86_64-unknown-linux-gnu";

/// A sanitizer configuration.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Sanitizer {
    /// ASan + UBSan.
    Address,
    /// TSan.
    Thread,
}

impl Sanitizer {
    /// `--sanitize=NAME`.
    pub fn parse(name: &str) -> Result<Self, String> {
        match name {
            "address" => Ok(Self::Address),
            "thread" => Ok(Self::Thread),
            _ => Err(format!("--sanitize={name}: expected address or thread")),
        }
    }

    /// The name CMake (`JITSLAB_SANITIZE`) and rustc (`-Zsanitizer`) use.
    fn name(self) -> &'static str {
        match self {
            Self::Address => "address",
            Self::Thread => "thread",
        }
    }

    /// The build tree.
    pub fn build_dir(self) -> String {
        match self {
            Self::Address => format!("target/cmake-{MAJOR}-asan"),
            Self::Thread => format!("target/cmake-{MAJOR}-tsan"),
        }
    }
}

/// The ctest label of the subset `./x test` runs under ASan (`Sanitizers.cmake`).
const SUBSET_LABEL: &str = "sanitize-subset";
/// The ctest label of the multi-threaded tests, which TSan runs.
const THREADS_LABEL: &str = "threads";

/// The build targets the labelled tests need (`None`: everything, for the full ctest run).
/// Kept beside the labels' lists in Sanitizers.cmake: a test whose executable is not built
/// here fails, so a name missing here shows at once.
fn targets(sanitizer: Sanitizer, subset: bool) -> Option<&'static [&'static str]> {
    match (sanitizer, subset) {
        (Sanitizer::Address, false) => None,
        (Sanitizer::Address, true) => Some(&[
            "jitslab-run",
            "jitslab-executor",
            "executor-bad-input",
            "jitslab_unit_payload",
            "shim_segment_alloc_test",
            "shim_resource_tracker_test",
            "shim_plugin_host_test",
            "shim_lljit_hook_test",
            "shim_remote_service_test",
            "shim_native_executor_test",
        ]),
        (Sanitizer::Thread, _) => Some(&[
            "jitslab-run",
            "jitslab-executor",
            "shim_warm_threads_test",
            "shim_segment_alloc_test",
            "shim_remote_service_test",
            "shim_native_executor_test",
        ]),
    }
}

/// Configures and builds the sanitizer's tree (the targets its tests need), runs its tests and
/// returns (passed, failed). `workloads`: another tree's compiled test workloads (`tests/wl`),
/// which are not instrumented and so the same for every build.
pub fn test(sanitizer: Sanitizer, subset: bool, workloads: Option<&Path>) -> Result<(u64, u64), String> {
    if sanitizer == Sanitizer::Thread && subset {
        return Err("--subset goes with --sanitize=address (TSan runs the `threads` label only)".into());
    }
    debug_assert!(LLVM_MAJORS.contains(&MAJOR));
    let start = Instant::now();
    let dir = sanitizer.build_dir();
    let sanitize = format!("-DJITSLAB_SANITIZE={}", sanitizer.name());
    crate::cmake_configure(MAJOR, &dir, workloads, &[&sanitize])?;
    let mut build = vec!["--build", dir.as_str()];
    if let Some(targets) = targets(sanitizer, subset) {
        build.push("--target");
        build.extend(targets);
        if workloads.is_none() {
            build.push("workloads");
        }
    }
    run("cmake", &build)?;
    let built = start.elapsed();

    let label: &[&str] = match (sanitizer, subset) {
        (Sanitizer::Address, false) => &[],
        (Sanitizer::Address, true) => &["-L", SUBSET_LABEL],
        (Sanitizer::Thread, _) => &["-L", THREADS_LABEL],
    };
    let what = format!("ctest under {}{}", sanitizer.name(), if subset { " (subset)" } else { "" });
    // The sanitizers slow the programs down (ASan about 2x): twice the normal default timeout.
    let (mut passed, mut failed) = ctest_in(&dir, label, "600", &what)?;
    println!(
        "xtask: {what}: {passed} passed (built in {}s, ran in {}s)",
        built.as_secs(),
        (start.elapsed() - built).as_secs()
    );

    if sanitizer == Sanitizer::Address && !subset {
        let (p, f) = rust_tests(sanitizer)?;
        (passed, failed) = (passed + p, failed + f);
    }
    Ok((passed, failed))
}

/// cargo's unit and integration tests of the library, instrumented; returns (passed, failed).
fn rust_tests(sanitizer: Sanitizer) -> Result<(u64, u64), String> {
    let target_dir = format!("target/san-{}", sanitizer.name());
    let args = [
        "test",
        "--locked",
        "--package",
        "jitslab",
        "--lib",
        "--tests",
        "--target",
        RUST_TARGET,
        "--target-dir",
        &target_dir,
        "--",
        // It links the instrumented cdylib into a C program built by `cc`, without a sanitizer
        // runtime; the ctest programs load the cdylib under ASan instead.
        "--skip",
        "c_program_links_the_cdylib_and_runs_jit_code",
        // Its child process runs with RLIMIT_NOFILE at 0; LeakSanitizer's check at exit must
        // open /proc/PID/task and dies with a fatal error.
        "--skip",
        "memfd_failure_under_near_placement_is_an_os_error",
    ];
    let rustflags =
        format!("-Zsanitizer={} -Cunsafe-allow-abi-mismatch=sanitizer -Cforce-frame-pointers=yes", sanitizer.name());
    let mut cmd = command("cargo", &args);
    cmd.env("RUSTC_BOOTSTRAP", "1").env("RUSTFLAGS", rustflags);
    crate::cargo_test_with(cmd, &args)
}

/// `./x test --sanitize=NAME [--subset]`.
pub fn command_line(args: &[String]) -> Result<(), String> {
    let mut sanitizer = None;
    let mut subset = false;
    for a in args {
        match a.strip_prefix("--sanitize=") {
            Some(name) => sanitizer = Some(Sanitizer::parse(name)?),
            None if a == "--subset" => subset = true,
            None => return Err(format!("test: unexpected argument {a:?}")),
        }
    }
    let sanitizer = sanitizer.ok_or("test: --subset needs --sanitize=address")?;
    let start = Instant::now();
    let (passed, failed) = test(sanitizer, subset, None)?;
    println!("xtask: {passed} passed, {failed} failed under {} in {}s", sanitizer.name(), start.elapsed().as_secs());
    Ok(())
}
