//! jitslab's build, test and demo tasks, run through `./x` (which first installs the Debian
//! packages they need): `./x demo [--llvm=19]`, `./x test [--sanitize=address|thread
//! [--subset]]`, `./x bench [--llvm=19] [--quick] [--cycle]`, `./x package [--check-install]`,
//! `./x fuzz [--seconds N] [TARGET...]`, `./x soak`. The C++ side is built once per LLVM major
//! (`target/cmake-22`, `target/cmake-19`); the demo and the benchmark use the newest (22) unless
//! told otherwise (`--llvm=19`, or `JITSLAB_LLVM=19` in the environment); the tests and the
//! packages use both.

use std::path::PathBuf;
use std::process::{Command, ExitCode};

mod fuzz;
mod package;
mod sanitize;
mod soak;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("demo") => take_llvm_major(&args[1..]).and_then(|(major, rest)| match rest.as_slice() {
            [] => demo(major),
            _ => Err(format!("demo: unexpected arguments {rest:?}")),
        }),
        Some("test") => match &args[1..] {
            [] => test(),
            rest => sanitize::command_line(rest),
        },
        Some("bench") => take_llvm_major(&args[1..]).and_then(|(major, rest)| bench(major, &rest)),
        Some("package") => package_command(&args[1..]),
        Some("soak") => soak::soak(&args[1..]),
        Some("fuzz") => fuzz::command_line(&args[1..]),
        Some("header") => match &args[1..] {
            [] => write_header(),
            rest => Err(format!("header: unexpected arguments {rest:?}")),
        },
        Some("format") => match &args[1..] {
            [] => format_sources(),
            rest => Err(format!("format: unexpected arguments {rest:?}")),
        },
        _ => Err(
            "usage: ./x <demo [--llvm=N] | test [--sanitize=address|thread [--subset]] | bench [--llvm=N] [--quick] [--cycle] [jitslab-bench options] | package [--check-install] | soak [--llvm=N] [--ops N] [--trials N] [--seed S] [--protocol=native|stock] | fuzz [--seconds N] [TARGET...] | header | format>\n  \
                  demo   build everything, then link and run a program using libsqlite3.a with jitslab-run\n  \
                  test   every test, on LLVM 22 and 19: cargo's, ctest's (shim, jitslab-run, whole links,\n         \
                  jitslab-repl), llvm-sys, jitslab-bench --quick (correctness only), header freshness,\n         \
                  format, lints, every fuzz target for 15 s, a subset of ctest under ASan + UBSan (LLVM 22)\n         \
                  --sanitize=address: only ctest and cargo's tests under ASan + UBSan (LLVM 22;\n         \
                  --subset: the part plain ./x test runs); --sanitize=thread: the multi-threaded\n         \
                  tests under TSan (docs/sanitizers.md)\n  \
                  bench  jitslab-bench: jitslab against LLVM's memory managers; writes target/bench and\n         \
                  the results sections of README.md and docs/benchmarks.md (--quick: a smoke run,\n         \
                  nothing rewritten); --cycle: the Rust allocate+finalize+free cycle benchmark\n  \
                  package  Debian packages of both majors into target/package, then the consumers' test\n         \
                  against them unpacked; --check-install: also apt-get install and remove them (root)\n  \
                  soak   the long randomized runs: 10^6 slab operations per configuration against its model\n         \
                  and invariant checker (--ops), then 1000 kill trials of an out-of-process sqlite run\n         \
                  (--trials; jitslab-executor, --protocol=native by default); --seed replays one\n  \
                  fuzz   build the fuzz targets (stable cargo, no cargo-fuzz) and run each for N seconds\n         \
                  (default 60) on its seeds and working corpus; fails on a crash (docs/fuzzing.md);\n         \
                  targets: sps, native, executor, slab, c_abi (default all)\n  \
                  header  write the C header that build.rs generated into include/jitslab.h\n  \
                  format  format the Rust (cargo fmt) and the C and C++ (clang-format-19, .clang-format)\n  \
                  --llvm=N  the LLVM major of demo and bench: 22 (default) or 19; also JITSLAB_LLVM=N"
                .to_string(),
        ),
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

/// The LLVM majors the C++ side builds against (Debian's packages; the `llvm-config` on PATH
/// is another version), newest first: the first is the default of the demo and the benchmark,
/// and its build compiles the test workloads that the others' builds share.
const LLVM_MAJORS: [u32; 2] = [22, 19];
/// The benchmark harness, under a build directory.
const BENCH_TOOL: &str = "bench/jitslab-bench";

/// Where Debian installs LLVM `major`.
fn llvm_prefix(major: u32) -> String {
    format!("/usr/lib/llvm-{major}")
}

/// Where `cmake` builds the C++ side (cpp-shim) against LLVM `major`: the shim, the tools, the
/// workloads, ctest.
fn cmake_build_dir(major: u32) -> String {
    format!("target/cmake-{major}")
}

/// Takes `--llvm=N` out of `args` (else `JITSLAB_LLVM`, else the newest major).
fn take_llvm_major(args: &[String]) -> Result<(u32, Vec<String>), String> {
    let mut major = std::env::var("JITSLAB_LLVM").ok();
    let mut rest = Vec::new();
    for a in args {
        match a.strip_prefix("--llvm=") {
            Some(m) => major = Some(m.to_string()),
            None => rest.push(a.clone()),
        }
    }
    let major = match major {
        None => LLVM_MAJORS[0],
        Some(m) => m
            .parse::<u32>()
            .ok()
            .filter(|m| LLVM_MAJORS.contains(m))
            .ok_or_else(|| format!("--llvm={m} (or JITSLAB_LLVM): expected one of {LLVM_MAJORS:?}"))?,
    };
    Ok((major, rest))
}

fn demo(major: u32) -> Result<(), String> {
    cmake_build(major, None)?;
    eprintln!(
        "xtask: the demo on LLVM {major} (--llvm=N picks another): a C program using Debian's \
         libsqlite3.a, compiled with clang-{major}, linked and run in this process by jitslab-run on \
         a jitslab slab; statistics and heap map follow"
    );
    let dir = cmake_build_dir(major);
    let run_tool = format!("{dir}/jitslab-run");
    let object = format!("{dir}/tests/wl/sqlite_main.o");
    run(&run_tool, &["--stats", "--times", &object, "-lsqlite3", "-lm", "--", "1000"])
}

fn test() -> Result<(), String> {
    // Format and lints first, so that they fail in a minute rather than after the suite. They
    // need rustup components that a minimal toolchain lacks; say so loudly rather than fail a
    // machine that cannot fetch them.
    if has_cargo_tool("fmt") {
        run("cargo", &["fmt", "--all", "--check"])?;
        // The fuzz targets are a crate outside the workspace.
        run("cargo", &["fmt", "--manifest-path", "fuzz/Cargo.toml", "--check"])?;
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
    // Debug build: the slab's invariant checker runs after every mutation.
    let (mut passed, mut failed) =
        cargo_test(&["test", "--workspace", "--locked", "--lib", "--bins", "--tests", "--examples"])?;
    // Every fuzz target for a short, bounded time on its checked-in seeds (and the working
    // corpus a developer's earlier runs left): a seed that crashes, or a crash found in these
    // seconds, fails the run.
    fuzz::run(&fuzz::TARGETS, fuzz::TEST_SECONDS)?;
    passed += fuzz::TARGETS.len() as u64;
    // Before the C++ side is built against it: the checked-in header is the generated one.
    check_header()?;
    // The C and C++ sources are formatted as .clang-format says (./x format fixes them).
    check_cpp_format()?;
    // The Rust documentation builds without a warning (broken links, private items named).
    let status = command("cargo", &["doc", "--locked", "--no-deps", "--lib"])
        .env("RUSTDOCFLAGS", "-D warnings")
        .status()
        .map_err(|e| format!("cannot run cargo doc: {e}"))?;
    if !status.success() {
        return Err(format!("`cargo doc` has warnings ({status})"));
    }
    // The C++ side against each of Debian's LLVM majors: shim, tools, whole links, gtest
    // suites. The newest builds the test workloads; the others take them from it.
    let shared = root().join(cmake_build_dir(LLVM_MAJORS[0])).join("tests/wl");
    let mut per_major = Vec::new();
    for (i, major) in LLVM_MAJORS.into_iter().enumerate() {
        cmake_build(major, (i > 0).then_some(shared.as_path()))?;
        let (p, f) = ctest(major)?;
        println!("xtask: ctest on LLVM {major}: {p} passed");
        per_major.push(format!("ctest on LLVM {major}: {p}"));
        (passed, failed) = (passed + p, failed + f);
        // Smoke check of the benchmark harness: every workload with every manager, once, small;
        // it fails when any run's output differs from the native build's (it times nothing).
        run(&format!("{}/{BENCH_TOOL}", cmake_build_dir(major)), &["--quick"])?;
        passed += 1;
    }
    // ASan + UBSan on a subset (gtest suites, whole links in and out of process) that keeps CI
    // within its budget; `./x test --sanitize=address` runs all (sanitize.rs).
    let (p, f) = sanitize::test(sanitize::Sanitizer::Address, true, Some(&shared))?;
    per_major.push(format!("ctest under ASan (subset): {p}"));
    (passed, failed) = (passed + p, failed + f);
    // The Debian packages of both majors, unpacked into a fresh root, and programs built against
    // them: a CMake project, a C program through pkg-config, a Rust program on llvm-sys.
    let debs = package::build()?;
    passed += package::test_consumers(&debs)?;
    // LLVM's C API (llvm-sys, bound to LLVM 19: see .cargo/config.toml) driving the shim's C
    // entry point.
    let shim = root().join(cmake_build_dir(19)).join("libjitslab-orc-19.so");
    std::env::set_var("JITSLAB_ORC_LIB", &shim);
    let (p, f) = cargo_test(&["test", "--locked", "--features", "llvm", "--test", "llvm_sys"])?;
    (passed, failed) = (passed + p, failed + f);
    run("cargo", &["build", "--locked", "--benches"])?;
    // One closing line for every test run above.
    println!("xtask: {passed} passed, {failed} failed ({})", per_major.join(", "));
    Ok(())
}

/// Configures (with Debian's LLVM `major` and its clang) and builds the C++ side; the build
/// runs `cargo build --release` for libjitslab.so itself. `workloads`: another build's
/// compiled test workloads to use instead of compiling them again.
fn cmake_build(major: u32, workloads: Option<&std::path::Path>) -> Result<(), String> {
    let dir = cmake_build_dir(major);
    cmake_configure(major, &dir, workloads, &[])?;
    run("cmake", &["--build", &dir])
}

/// Configures build tree `dir` of the C++ side with Debian's LLVM `major` and its clang;
/// `workloads` as for [`cmake_build`], `extra`: more `-D` settings (a sanitizer).
fn cmake_configure(major: u32, dir: &str, workloads: Option<&std::path::Path>, extra: &[&str]) -> Result<(), String> {
    let prefix = llvm_prefix(major);
    if !std::path::Path::new(&format!("{prefix}/lib/cmake/llvm/LLVMConfig.cmake")).exists() {
        return Err(format!(
            "LLVM {major} is not installed ({prefix}/lib/cmake/llvm/LLVMConfig.cmake is missing): \
             install llvm-{major}-dev, clang-{major}, libclang-{major}-dev and \
             libclang-rt-{major}-dev (./x installs them when run as root)"
        ));
    }
    let llvm_dir = format!("-DLLVM_DIR={prefix}/lib/cmake/llvm");
    let cc = format!("-DCMAKE_C_COMPILER={prefix}/bin/clang");
    let cxx = format!("-DCMAKE_CXX_COMPILER={prefix}/bin/clang++");
    let shared =
        format!("-DJITSLAB_SHARED_WORKLOADS={}", workloads.map(|p| p.display().to_string()).unwrap_or_default());
    // Installs (and the packages) go under /usr, into lib/x86_64-linux-gnu, as Debian's own;
    // `cmake --install DIR --prefix P` still puts them elsewhere.
    let mut args =
        vec!["-S", "cpp-shim", "-B", dir, "-G", "Ninja", &llvm_dir, &cc, &cxx, &shared, "-DCMAKE_INSTALL_PREFIX=/usr"];
    args.extend(extra);
    run("cmake", &args)
}

/// `./x package [--check-install]`: builds both majors' trees, the Debian packages and the
/// consumers' test against them; `--check-install` then installs them with apt-get, checks the
/// installed tools and CMake package, and removes them.
fn package_command(args: &[String]) -> Result<(), String> {
    let check_install = match args {
        [] => false,
        [a] if a == "--check-install" => true,
        _ => return Err(format!("package: unexpected arguments {args:?} (only --check-install)")),
    };
    let shared = root().join(cmake_build_dir(LLVM_MAJORS[0])).join("tests/wl");
    for (i, major) in LLVM_MAJORS.into_iter().enumerate() {
        cmake_build(major, (i > 0).then_some(shared.as_path()))?;
    }
    let debs = package::build()?;
    let checks = package::test_consumers(&debs)?;
    println!("xtask: {} packages in {}; the consumers' test: {checks} checks passed", debs.len(), package::OUT_DIR);
    for deb in &debs {
        println!("  {}", deb.display());
    }
    if check_install {
        package::check_install(&debs)?;
    }
    Ok(())
}

/// Runs a command in the workspace root, echoing its stdout line by line as it comes and
/// handing each line to `on_line`; returns its exit status.
fn run_echoing(program: &str, args: &[&str], on_line: impl FnMut(&str)) -> Result<std::process::ExitStatus, String> {
    run_echoing_command(command(program, args), program, on_line)
}

/// [`run_echoing`] of a command already made (`program`: its name, for messages).
fn run_echoing_command(
    mut cmd: Command,
    program: &str,
    mut on_line: impl FnMut(&str),
) -> Result<std::process::ExitStatus, String> {
    use std::io::{BufRead, BufReader};
    let mut child =
        cmd.stdout(std::process::Stdio::piped()).spawn().map_err(|e| format!("cannot run {program}: {e}"))?;
    let stdout = child.stdout.take().expect("piped stdout");
    for line in BufReader::new(stdout).lines() {
        let line = line.map_err(|e| format!("reading {program}'s output: {e}"))?;
        println!("{line}");
        on_line(&line);
    }
    child.wait().map_err(|e| format!("waiting for {program}: {e}"))
}

/// Runs ctest in LLVM `major`'s build and reads its "N% tests passed, F tests failed out of T"
/// line.
fn ctest(major: u32) -> Result<(u64, u64), String> {
    ctest_in(&cmake_build_dir(major), &[], "300", &format!("ctest on LLVM {major}"))
}

/// Runs ctest in build tree `dir` (`extra`: more arguments, such as a label; `timeout`: the
/// default per test, in seconds) and reads its summary line; `what` names the run in messages.
fn ctest_in(dir: &str, extra: &[&str], timeout: &str, what: &str) -> Result<(u64, u64), String> {
    let mut summary = None;
    let mut args = vec!["--test-dir", dir, "-j2", "--output-on-failure", "--timeout", timeout];
    args.extend(extra);
    let status = run_echoing("ctest", &args, |line| {
        let counts = line.split_once("tests passed, ").and_then(|(_, rest)| rest.split_once(" tests failed out of "));
        if let Some((failed, total)) = counts {
            summary = failed.trim().parse::<u64>().ok().zip(total.trim().parse::<u64>().ok());
        }
    })?;
    match summary {
        Some((failed, total)) if status.success() && failed == 0 => Ok((total, 0)),
        Some((failed, total)) => {
            println!("xtask: {what}: {} passed, {failed} failed", total - failed);
            Err(format!("{what} failed ({failed} of {total} tests)"))
        }
        None => Err(format!("{what} ran no tests or printed no summary ({status})")),
    }
}

/// Runs `cargo test …` and adds up its "test result" lines.
fn cargo_test(args: &[&str]) -> Result<(u64, u64), String> {
    cargo_test_with(command("cargo", args), args)
}

/// Runs `cmd`, a `cargo test` made with [`command`] from `args`, and adds up its "test result"
/// lines.
fn cargo_test_with(cmd: Command, args: &[&str]) -> Result<(u64, u64), String> {
    let (mut passed, mut failed) = (0, 0);
    let status = run_echoing_command(cmd, "cargo", |line| {
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

/// The header build.rs generates from the current sources (into its `OUT_DIR`, which only
/// cargo knows: it says so in the build's JSON messages).
fn generated_header() -> Result<String, String> {
    let args = ["build", "--locked", "--lib", "--message-format=json"];
    let output = command("cargo", &args).output().map_err(|e| format!("cannot run cargo: {e}"))?;
    if !output.status.success() {
        return Err(format!("`cargo {}` failed: {}", args.join(" "), String::from_utf8_lossy(&output.stderr)));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let out_dir = stdout
        .lines()
        .filter(|l| l.contains(r#""reason":"build-script-executed""#) && l.contains("#jitslab@"))
        .find_map(|l| l.split(r#""out_dir":""#).nth(1)?.split('"').next())
        .ok_or("cargo did not report the jitslab build script's OUT_DIR")?;
    let path = PathBuf::from(out_dir).join("jitslab.h");
    std::fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

/// `./x header`: copies the generated header into `include/jitslab.h`, where the C++ side, the
/// packages and users find it.
fn write_header() -> Result<(), String> {
    let header = generated_header()?;
    let path = root().join("include/jitslab.h");
    if std::fs::read_to_string(&path).ok().as_deref() == Some(header.as_str()) {
        eprintln!("xtask: include/jitslab.h is current");
        return Ok(());
    }
    std::fs::write(&path, header).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    eprintln!("xtask: wrote include/jitslab.h");
    Ok(())
}

/// The checked-in header must be what build.rs generates from the current sources.
fn check_header() -> Result<(), String> {
    let tracked =
        Command::new("git").args(["ls-files", "--error-unmatch", "include/jitslab.h"]).current_dir(root()).output();
    match tracked {
        Ok(o) if o.status.success() => {}
        Ok(_) => return Err("include/jitslab.h is not checked in".into()),
        Err(e) => return Err(format!("cannot run git: {e}")),
    }
    let checked_in = std::fs::read_to_string(root().join("include/jitslab.h"))
        .map_err(|e| format!("cannot read include/jitslab.h: {e}"))?;
    if checked_in != generated_header()? {
        return Err("include/jitslab.h differs from the header generated from src/ffi/: run ./x header and \
                    commit the result"
            .into());
    }
    run("git", &["diff", "--exit-code", "--", "include/jitslab.h"])
        .map_err(|_| "include/jitslab.h has uncommitted changes: commit them".to_string())
}

/// The project's own C and C++ sources that clang-format keeps in shape (not the generated
/// header, nor clang's test inputs copied under tests/repl).
const CPP_SOURCES: [&str; 4] = ["cpp-shim", "examples", "tests/c", "tests/workloads"];
/// The clang-format of the project's style (Debian's clang-format-19; see ./x PACKAGES).
const CLANG_FORMAT: &str = "clang-format-19";

/// The tracked files under [`CPP_SOURCES`] that are C or C++.
fn cpp_sources() -> Result<Vec<String>, String> {
    let out = Command::new("git")
        .arg("ls-files")
        .arg("--")
        .args(CPP_SOURCES)
        .current_dir(root())
        .output()
        .map_err(|e| format!("cannot run git: {e}"))?;
    if !out.status.success() {
        return Err("git ls-files failed".into());
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|f| [".c", ".cpp", ".h"].iter().any(|ext| f.ends_with(ext)))
        .map(String::from)
        .collect())
}

/// Fails when a C or C++ source differs from what clang-format makes of it.
fn check_cpp_format() -> Result<(), String> {
    let files = cpp_sources()?;
    let mut args = vec!["--dry-run", "--Werror"];
    args.extend(files.iter().map(String::as_str));
    run(CLANG_FORMAT, &args).map_err(|_| "C or C++ sources are not formatted (above): run ./x format".to_string())
}

/// `./x format`: formats the Rust and the C and C++ sources in place.
fn format_sources() -> Result<(), String> {
    run("cargo", &["fmt", "--all"])?;
    let files = cpp_sources()?;
    let mut args = vec!["-i"];
    args.extend(files.iter().map(String::as_str));
    run(CLANG_FORMAT, &args)
}

/// `./x bench [--llvm=N] [--cycle] [options]`: jitslab-bench on LLVM `major` (the full
/// comparison rewrites the results regions of README.md and docs/benchmarks.md; --quick or
/// --only rewrite nothing), or with `--cycle` the Rust cycle benchmark (`benches/cycle.rs`,
/// which takes `--quick` too).
fn bench(major: u32, args: &[String]) -> Result<(), String> {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    if args.contains(&"--cycle") {
        let mut a = vec!["bench", "--locked", "--bench", "cycle", "--"];
        a.extend(args.iter().filter(|a| **a != "--cycle"));
        return run("cargo", &a);
    }
    // (Every command started here runs without cargo's LD_LIBRARY_PATH: see `command`.)
    cmake_build(major, None)?;
    let command = format!("--command=./x bench --llvm={major} {}", args.join(" "));
    let mut a = vec![command.trim_end()];
    if !args.iter().any(|a| *a == "--quick" || a.starts_with("--only=")) {
        a.extend(["--readme=README.md", "--doc=docs/benchmarks.md"]);
    }
    a.extend(args.iter());
    run(&format!("{}/{BENCH_TOOL}", cmake_build_dir(major)), &a)
}
