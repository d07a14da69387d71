//! jitslab's build, test and demo entry points: `cargo xtask demo`, `cargo xtask test`,
//! `cargo xtask bench`.
//!
//! Each first installs the Debian packages it needs when they are missing (`apt-get update`,
//! then `apt-get install`; root needed only then), so both README commands work on a fresh
//! Debian 12 machine with only the Rust toolchain. The package list lives in one place,
//! [`PACKAGES`].

use std::process::{Command, ExitCode};

/// Debian packages the project needs, with the command or file that shows each is there.
const PACKAGES: &[(&str, &str)] =
    &[("gcc", "/usr/bin/gcc"), ("g++", "/usr/bin/g++"), ("libc6-dev", "/usr/include/stdio.h"), ("git", "/usr/bin/git")];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("demo") => demo(),
        Some("test") => test(),
        Some("bench") => bench(&args[1..]),
        _ => Err("usage: cargo xtask <demo|test|bench [--quick]>\n  \
                  demo   build jitslab and run the demo (JIT-written code in the dual-mapped slab)\n  \
                  test   every test: cargo's (unit, C ABI, C program), header freshness, format, lints\n  \
                  bench  the allocate+finalize+free cycle benchmark"
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

fn root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives in the workspace").to_path_buf()
}

/// Runs a command in the workspace root; fails with its command line if it fails.
fn run(program: &str, args: &[&str]) -> Result<(), String> {
    eprintln!("xtask: $ {program} {}", args.join(" "));
    let status = Command::new(program)
        .args(args)
        .current_dir(root())
        .status()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{program} {}` failed ({status})", args.join(" ")))
    }
}

/// Installs the missing packages of [`PACKAGES`] with apt-get.
fn ensure_packages() -> Result<(), String> {
    let missing: Vec<&str> =
        PACKAGES.iter().filter(|(_, probe)| !std::path::Path::new(probe).exists()).map(|(p, _)| *p).collect();
    if missing.is_empty() {
        return Ok(());
    }
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { geteuid() } == 0;
    if !root {
        return Err(format!(
            "missing Debian packages: {} (run as root, or `sudo apt-get install` them)",
            missing.join(" ")
        ));
    }
    eprintln!("xtask: installing missing Debian packages: {}", missing.join(" "));
    run("apt-get", &["update"])?;
    let mut args = vec!["install", "-y", "--no-install-recommends"];
    args.extend(&missing);
    run("apt-get", &args)
}

extern "C" {
    fn geteuid() -> u32;
}

fn demo() -> Result<(), String> {
    ensure_packages()?;
    run("cargo", &["run", "--release", "--locked", "--example", "demo"])
}

fn test() -> Result<(), String> {
    ensure_packages()?;
    // Debug build: the slab's invariant checker runs after every mutation.
    let (passed, failed) =
        cargo_test(&["test", "--workspace", "--locked", "--lib", "--bins", "--tests", "--examples"])?;
    run("cargo", &["build", "--locked", "--benches"])?;
    check_header()?;
    run("cargo", &["fmt", "--all", "--check"])?;
    run("cargo", &["clippy", "--workspace", "--locked", "--all-targets", "--", "-D", "warnings"])?;
    // One closing line for every test run above.
    println!("xtask: {passed} passed, {failed} failed");
    Ok(())
}

/// Runs `cargo test …`, echoing its output, and adds up its "test result" lines.
fn cargo_test(args: &[&str]) -> Result<(u64, u64), String> {
    use std::io::{BufRead, BufReader};
    eprintln!("xtask: $ cargo {}", args.join(" "));
    let mut child = Command::new("cargo")
        .args(args)
        .current_dir(root())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    let (mut passed, mut failed) = (0, 0);
    let stdout = child.stdout.take().expect("piped stdout");
    for line in BufReader::new(stdout).lines() {
        let line = line.map_err(|e| format!("reading cargo's output: {e}"))?;
        println!("{line}");
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
    }
    let status = child.wait().map_err(|e| format!("waiting for cargo: {e}"))?;
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

fn bench(args: &[String]) -> Result<(), String> {
    ensure_packages()?;
    let mut a = vec!["bench", "--locked", "--bench", "cycle", "--"];
    a.extend(args.iter().map(String::as_str));
    run("cargo", &a)
}
