//! jitslab's build, test and demo tasks, run through `./x` (which first installs the Debian
//! packages they need): `./x demo`, `./x test`, `./x bench [--quick] [--cycle]`.

use std::path::PathBuf;
use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("demo") => demo(),
        Some("test") => test(),
        Some("bench") => bench(&args[1..]),
        _ => Err("usage: ./x <demo|test|bench [--quick] [--cycle] [jitslab-bench options]>\n  \
                  demo   build everything, then link and run a program using libsqlite3.a with jitslab-run\n  \
                  test   every test: cargo's, ctest's (shim, jitslab-run, whole links), llvm-sys,\n         \
                  jitslab-bench --quick (correctness only), header freshness, format, lints\n  \
                  bench  jitslab-bench: jitslab against LLVM's memory managers; writes target/bench and\n         \
                  the results sections of README.md and docs/benchmarks.md (--quick: a smoke run,\n         \
                  nothing rewritten); --cycle: the Rust allocate+finalize+free cycle benchmark"
            .to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root, from the environment cargo gives the running task (so a moved checkout
/// works), else from where this task was built.
fn root() -> PathBuf {
    let manifest =
        std::env::var_os("CARGO_MANIFEST_DIR").map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
    manifest.parent().expect("xtask lives in the workspace").to_path_buf()
}

/// A command run from the workspace root. `cargo xtask` puts cargo's own `target/debug` on
/// `LD_LIBRARY_PATH`; it is removed, so that the C++ tools and tests load the libjitslab.so
/// their RPATH names (the release build), not a stale debug one.
fn command(program: &str, args: &[&str]) -> Command {
    eprintln!("xtask: $ {program} {}", args.join(" "));
    let mut c = Command::new(program);
    c.args(args).current_dir(root()).env_remove("LD_LIBRARY_PATH");
    c
}

/// Runs a command in the workspace root; fails with its command line if it fails.
fn run(program: &str, args: &[&str]) -> Result<(), String> {
    let status = command(program, args).status().map_err(|e| format!("cannot run {program}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{program} {}` failed ({status})", args.join(" ")))
    }
}

/// Whether a cargo subcommand (a rustup component such as rustfmt or clippy) is installed.
fn has_cargo_tool(tool: &str) -> bool {
    Command::new("cargo").args([tool, "--version"]).current_dir(root()).output().is_ok_and(|o| o.status.success())
}

/// Debian's LLVM 19; the `llvm-config` on PATH may be another version.
const LLVM_PREFIX: &str = "/usr/lib/llvm-19";
/// Where `cmake` builds the C++ side (cpp-shim): the shim, jitslab-run, workloads, ctest.
const CMAKE_BUILD_DIR: &str = "target/cmake";
/// The benchmark harness, under CMAKE_BUILD_DIR.
const BENCH_TOOL: &str = "bench/jitslab-bench";

fn demo() -> Result<(), String> {
    cmake_build()?;
    eprintln!(
        "xtask: the demo: a C program using Debian's libsqlite3.a, compiled with clang-19, linked \
         and run in this process by jitslab-run on a jitslab slab; statistics and heap map follow"
    );
    let run_tool = format!("{CMAKE_BUILD_DIR}/jitslab-run");
    let object = format!("{CMAKE_BUILD_DIR}/tests/wl/sqlite_main.o");
    run(&run_tool, &["--stats", "--times", &object, "-lsqlite3", "-lm", "--", "1000"])
}

fn test() -> Result<(), String> {
    // Debug build: the slab's invariant checker runs after every mutation.
    let (mut passed, mut failed) =
        cargo_test(&["test", "--workspace", "--locked", "--lib", "--bins", "--tests", "--examples"])?;
    // The C++ side against Debian's LLVM 19: shim, jitslab-run, whole links, gtest suites.
    cmake_build()?;
    let (p, f) = ctest()?;
    (passed, failed) = (passed + p, failed + f);
    // Smoke check of the benchmark harness: every workload with every manager, once, small;
    // it fails when any run's output differs from the native build's (it times nothing).
    run(&format!("{CMAKE_BUILD_DIR}/{BENCH_TOOL}"), &["--quick"])?;
    passed += 1;
    // LLVM's C API (llvm-sys) driving the shim's C entry point.
    let shim = root().join(CMAKE_BUILD_DIR).join("libjitslab-orc.so");
    std::env::set_var("JITSLAB_ORC_LIB", &shim);
    let (p, f) = cargo_test(&["test", "--locked", "--features", "llvm", "--test", "llvm_sys"])?;
    (passed, failed) = (passed + p, failed + f);
    run("cargo", &["build", "--locked", "--benches"])?;
    check_header()?;
    // Format and lints need rustup components that a minimal toolchain lacks; say so loudly
    // rather than fail a machine that cannot fetch them.
    if has_cargo_tool("fmt") {
        run("cargo", &["fmt", "--all", "--check"])?;
    } else {
        eprintln!("xtask: WARNING: rustfmt is not installed; the format check was skipped");
    }
    if has_cargo_tool("clippy") {
        run(
            "cargo",
            &["clippy", "--workspace", "--locked", "--all-targets", "--features", "llvm", "--", "-D", "warnings"],
        )?;
    } else {
        eprintln!("xtask: WARNING: clippy is not installed; the lint check was skipped");
    }
    // One closing line for every test run above.
    println!("xtask: {passed} passed, {failed} failed");
    Ok(())
}

/// Configures (with Debian's LLVM 19 and clang-19) and builds the C++ side; the build runs
/// `cargo build --release` for libjitslab.so itself.
fn cmake_build() -> Result<(), String> {
    let llvm_dir = format!("-DLLVM_DIR={LLVM_PREFIX}/lib/cmake/llvm");
    let cc = format!("-DCMAKE_C_COMPILER={LLVM_PREFIX}/bin/clang");
    let cxx = format!("-DCMAKE_CXX_COMPILER={LLVM_PREFIX}/bin/clang++");
    run("cmake", &["-S", "cpp-shim", "-B", CMAKE_BUILD_DIR, "-G", "Ninja", &llvm_dir, &cc, &cxx])?;
    run("cmake", &["--build", CMAKE_BUILD_DIR])
}

/// Runs a command in the workspace root, echoing its stdout line by line as it comes and
/// handing each line to `on_line`; returns its exit status.
fn run_echoing(
    program: &str,
    args: &[&str],
    mut on_line: impl FnMut(&str),
) -> Result<std::process::ExitStatus, String> {
    use std::io::{BufRead, BufReader};
    let mut child = command(program, args)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    let stdout = child.stdout.take().expect("piped stdout");
    for line in BufReader::new(stdout).lines() {
        let line = line.map_err(|e| format!("reading {program}'s output: {e}"))?;
        println!("{line}");
        on_line(&line);
    }
    child.wait().map_err(|e| format!("waiting for {program}: {e}"))
}

/// Runs ctest and reads its "N% tests passed, F tests failed out of T" line.
fn ctest() -> Result<(u64, u64), String> {
    let mut summary = None;
    let status = run_echoing(
        "ctest",
        &["--test-dir", CMAKE_BUILD_DIR, "-j2", "--output-on-failure", "--timeout", "300"],
        |line| {
            let counts =
                line.split_once("tests passed, ").and_then(|(_, rest)| rest.split_once(" tests failed out of "));
            if let Some((failed, total)) = counts {
                summary = failed.trim().parse::<u64>().ok().zip(total.trim().parse::<u64>().ok());
            }
        },
    )?;
    match summary {
        Some((failed, total)) if status.success() && failed == 0 => Ok((total, 0)),
        Some((failed, total)) => {
            println!("xtask: ctest: {} passed, {failed} failed", total - failed);
            Err(format!("ctest failed ({failed} of {total} tests)"))
        }
        None => Err(format!("ctest ran no tests or printed no summary ({status})")),
    }
}

/// Runs `cargo test …` and adds up its "test result" lines.
fn cargo_test(args: &[&str]) -> Result<(u64, u64), String> {
    let (mut passed, mut failed) = (0, 0);
    let status = run_echoing("cargo", args, |line| {
        if let Some(rest) = line.strip_prefix("test result: ") {
            let count = |word: &str| {
                rest.split(';')
                    .find_map(|part| {
                        part.trim().trim_start_matches("ok. ").trim_start_matches("FAILED. ").strip_suffix(word)
                    })
                    .and_then(|n| n.trim().parse::<u64>().ok())
                    .unwrap_or(0)
            };
            passed += count(" passed");
            failed += count(" failed");
        }
    })?;
    if !status.success() || failed > 0 {
        println!("xtask: {passed} passed, {failed} failed");
        return Err(format!("`cargo {}` failed ({status})", args.join(" ")));
    }
    Ok((passed, failed))
}

/// The checked-in header must be what build.rs generates from the current sources (the builds
/// above regenerated it in place).
fn check_header() -> Result<(), String> {
    let tracked =
        Command::new("git").args(["ls-files", "--error-unmatch", "include/jitslab.h"]).current_dir(root()).output();
    match tracked {
        Ok(o) if o.status.success() => {}
        Ok(_) => return Err("include/jitslab.h is not checked in".into()),
        Err(e) => return Err(format!("cannot run git: {e}")),
    }
    run("git", &["diff", "--exit-code", "--", "include/jitslab.h"]).map_err(|_| {
        "include/jitslab.h differs from the freshly generated header: commit the regenerated file".to_string()
    })
}

/// `./x bench [--cycle] [options]`: jitslab-bench (the full comparison rewrites the results
/// regions of README.md and docs/benchmarks.md; --quick or --only rewrite nothing), or with `--cycle`
/// the Rust cycle benchmark (`benches/cycle.rs`, which takes `--quick` too).
fn bench(args: &[String]) -> Result<(), String> {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    if args.contains(&"--cycle") {
        let mut a = vec!["bench", "--locked", "--bench", "cycle", "--"];
        a.extend(args.iter().filter(|a| **a != "--cycle"));
        return run("cargo", &a);
    }
    // (Every command started here runs without cargo's LD_LIBRARY_PATH: see `command`.)
    cmake_build()?;
    let command = format!("--command=./x bench {}", args.join(" "));
    let mut a = vec![command.trim_end()];
    if !args.iter().any(|a| *a == "--quick" || a.starts_with("--only=")) {
        a.extend(["--readme=README.md", "--doc=docs/benchmarks.md"]);
    }
    a.extend(args.iter());
    run(&format!("{CMAKE_BUILD_DIR}/{BENCH_TOOL}"), &a)
}
