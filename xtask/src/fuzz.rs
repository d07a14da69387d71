//! `./x fuzz [--seconds N] [TARGET...]`: builds the fuzz targets of `fuzz/` (docs/fuzzing.md)
//! and runs each for a bounded time on its seed corpus, failing when libFuzzer finds a crash.
//!
//! No nightly toolchain and no cargo-fuzz are needed: the targets are built by stable cargo
//! with the instrumentation flags that cargo-fuzz would pass (sanitizer coverage with inline
//! 8-bit counters, the PC table and traced comparisons for libFuzzer's guidance, `--cfg
//! fuzzing`, debug assertions and overflow checks on an optimized build), but no sanitizer,
//! which stable rustc does not offer. `--target` is explicit so that the flags reach the
//! targets and their dependencies but not build scripts.
//!
//! ```text
//!   fuzz/seeds/<target>/       checked in: read, never written
//!   target/fuzz/corpus/<target>/   the working corpus: what libFuzzer adds, kept between runs
//!   target/fuzz/artifacts/<target>/  crash-*, timeout-*, oom-*: the inputs that failed
//!   target/fuzz/logs/<target>.log    libFuzzer's output of the last run
//! ```

use std::fs::{self, File};
use std::path::Path;
use std::process::Command;

use crate::{command, root};

/// Every fuzz target, as named by `fuzz/Cargo.toml`'s `[[bin]]` sections.
pub const TARGETS: [&str; 5] = ["sps", "native", "executor", "slab", "c_abi"];
/// Seconds per target in `./x test`: long enough for every seed and some mutation, short
/// enough that the step (build included) takes two to three minutes.
pub const TEST_SECONDS: u64 = 15;
/// Seconds per target of a plain `./x fuzz`.
const DEFAULT_SECONDS: u64 = 60;
/// The build directory of the instrumented targets, apart from the normal build's.
const TARGET_DIR: &str = "target/fuzz";

/// The flags cargo-fuzz gives rustc, less those that need nightly (`-Zsanitizer`).
const RUSTFLAGS: &[&str] = &[
    "--cfg",
    "fuzzing",
    "-Cpasses=sancov-module",
    "-Cllvm-args=-sanitizer-coverage-level=4",
    "-Cllvm-args=-sanitizer-coverage-inline-8bit-counters",
    "-Cllvm-args=-sanitizer-coverage-pc-table",
    "-Cllvm-args=-sanitizer-coverage-trace-compares",
    "-Cdebug-assertions",
    "-Coverflow-checks",
];

/// `./x fuzz`'s arguments.
pub fn command_line(args: &[String]) -> Result<(), String> {
    let mut seconds = DEFAULT_SECONDS;
    let mut targets = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let value = match a.strip_prefix("--seconds=") {
            Some(v) => Some(v.to_string()),
            None if a == "--seconds" => Some(it.next().cloned().ok_or("fuzz: --seconds needs a number")?),
            None => None,
        };
        match value {
            Some(v) => {
                seconds =
                    v.parse().ok().filter(|&s| s > 0).ok_or(format!("fuzz: --seconds {v}: not a positive number"))?
            }
            None if TARGETS.contains(&a.as_str()) => targets.push(a.as_str()),
            None => return Err(format!("fuzz: unknown argument or target `{a}` (targets: {})", TARGETS.join(", "))),
        }
    }
    if targets.is_empty() {
        targets = TARGETS.to_vec();
    }
    run(&targets, seconds)
}

/// What one target's run did, from libFuzzer's final statistics.
struct Report {
    runs: u64,
    exec_per_sec: u64,
    cov: u64,
    ft: u64,
    corpus: u64,
}

/// Builds every target, runs `targets` for `seconds` each, prints a line per target, and fails
/// naming each target that crashed and the input that did it.
pub fn run(targets: &[&str], seconds: u64) -> Result<(), String> {
    let host = host_triple()?;
    build(&host)?;
    let bins = root().join(TARGET_DIR).join(&host).join("release");
    let mut failures = Vec::new();
    for t in targets {
        match run_one(&bins, t, seconds) {
            Ok(r) => println!(
                "xtask: fuzz {t}: {} runs in {seconds} s ({}/s), cov {}, ft {}, corpus {}, no crash",
                r.runs, r.exec_per_sec, r.cov, r.ft, r.corpus
            ),
            Err(e) => {
                println!("xtask: fuzz {t}: FAILED");
                failures.push(e);
            }
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("\n"))
    }
}

fn host_triple() -> Result<String, String> {
    let out = Command::new("rustc").arg("-vV").output().map_err(|e| format!("cannot run rustc -vV: {e}"))?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_string))
        .ok_or_else(|| "rustc -vV names no host triple".to_string())
}

fn build(host: &str) -> Result<(), String> {
    let args = [
        "build",
        "--release",
        "--locked",
        "--manifest-path",
        "fuzz/Cargo.toml",
        "--target",
        host,
        "--target-dir",
        TARGET_DIR,
        "--bins",
    ];
    let status = command("cargo", &args)
        .env("RUSTFLAGS", RUSTFLAGS.join(" "))
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("building the fuzz targets failed ({status})"))
    }
}

fn run_one(bins: &Path, target: &str, seconds: u64) -> Result<Report, String> {
    let dir = root().join(TARGET_DIR);
    let corpus = dir.join("corpus").join(target);
    let artifacts = dir.join("artifacts").join(target);
    let logs = dir.join("logs");
    for d in [&corpus, &artifacts, &logs] {
        fs::create_dir_all(d).map_err(|e| format!("cannot create {}: {e}", d.display()))?;
    }
    let seeds = root().join("fuzz/seeds").join(target);
    let log_path = logs.join(format!("{target}.log"));
    let log = File::create(&log_path).map_err(|e| format!("cannot create {}: {e}", log_path.display()))?;
    let bin = bins.join(target);
    let args = [
        format!("-max_total_time={seconds}"),
        // An input that runs this long is a hang, reported like a crash.
        "-timeout=20".to_string(),
        "-print_final_stats=1".to_string(),
        format!("-artifact_prefix={}/", artifacts.display()),
        path(&corpus),
        path(&seeds),
    ];
    let arg_refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let status = command(&path(&bin), &arg_refs)
        .stdout(log.try_clone().map_err(|e| e.to_string())?)
        .stderr(log)
        .status()
        .map_err(|e| format!("cannot run {}: {e} (did the build make it?)", bin.display()))?;
    let text = fs::read_to_string(&log_path).unwrap_or_default();
    if !status.success() {
        let input = text
            .lines()
            .find_map(|l| l.split_once("Test unit written to ").map(|(_, p)| p.trim().to_string()))
            .unwrap_or_else(|| "(no input saved)".to_string());
        // A panic's location and its message (the next line), else libFuzzer's own error.
        let mut lines = text.lines();
        let why = match lines.by_ref().find(|l| l.contains("panicked at")) {
            Some(at) => format!("{at} {}", lines.next().unwrap_or("").trim()),
            None => text.lines().find(|l| l.contains("ERROR:")).unwrap_or("(see the log)").to_string(),
        };
        return Err(format!(
            "fuzz target {target} failed ({status}): {why}\n  input: {input}\n  replay: {} {input}\n  log: {}",
            bin.display(),
            log_path.display()
        ));
    }
    Ok(report(&text))
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

/// libFuzzer's figures: the executions from `stat::number_of_executed_units`, the rest from
/// the last status line (`#N DONE cov: C ft: F corp: K/B ... exec/s: E`).
fn report(log: &str) -> Report {
    let field = |line: &str, key: &str| -> u64 {
        let mut words = line.split_whitespace();
        words
            .find(|w| *w == key)
            .and_then(|_| words.next())
            .and_then(|v| v.split('/').next()?.parse().ok())
            .unwrap_or(0)
    };
    let last = log.lines().rev().find(|l| l.starts_with('#') && l.contains(" cov: ")).unwrap_or("");
    let stat =
        |key: &str| log.lines().find_map(|l| l.strip_prefix(key)).and_then(|v| v.trim().parse().ok()).unwrap_or(0);
    Report {
        runs: stat("stat::number_of_executed_units:"),
        exec_per_sec: stat("stat::average_exec_per_sec:"),
        cov: field(last, "cov:"),
        ft: field(last, "ft:"),
        corpus: field(last, "corp:"),
    }
}
