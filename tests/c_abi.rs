//! The header and the shared library as a C toolchain sees them: `include/jitslab.h` compiles on
//! its own as C and as C++ with every warning an error, and a C program linked against the
//! cdylib runs JIT'd code and checks the bad-input contract (`tests/c/smoke.c`).

use std::path::{Path, PathBuf};
use std::process::Command;

/// The crate root, from the environment cargo gives the test (so a moved checkout works).
fn root() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR").map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from)
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{cmd:?} failed:\n{text}");
    text
}

#[test]
fn header_compiles_alone_as_c_and_as_cpp() {
    let header = root().join("include/jitslab.h");
    for (compiler, lang, std) in [("cc", "c", "-std=c11"), ("c++", "c++", "-std=c++17")] {
        run(Command::new(compiler)
            .args([std, "-Wall", "-Wextra", "-Wpedantic", "-Werror", "-fsyntax-only", "-x", lang])
            .arg(&header));
    }
}

/// The directory holding the libjitslab.so that cargo built with this test: `cargo test` puts
/// it in `target/<profile>/deps` beside the test binary (`cargo build` also copies it one level
/// up, where a stale copy may linger, so `deps` comes first).
fn cdylib_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let deps = exe.parent().expect("target/<profile>/deps").to_path_buf();
    let candidates = [deps.clone(), deps.parent().map(Path::to_path_buf).unwrap_or_default()];
    candidates
        .into_iter()
        .find(|d| d.join("libjitslab.so").exists())
        .unwrap_or_else(|| panic!("no libjitslab.so in or above {}", deps.display()))
}

#[cfg(target_arch = "x86_64")]
#[test]
fn c_program_links_the_cdylib_and_runs_jit_code() {
    let dir = cdylib_dir();
    let out = std::env::temp_dir().join(format!("jitslab-smoke-{}", std::process::id()));
    run(Command::new("cc")
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-o"])
        .arg(&out)
        .arg(root().join("tests/c/smoke.c"))
        .arg(format!("-I{}", root().join("include").display()))
        .arg(format!("-L{}", dir.display()))
        .arg(format!("-Wl,-rpath,{}", dir.display()))
        .arg("-ljitslab"));
    let text = run(&mut Command::new(&out));
    let _ = std::fs::remove_file(&out);
    assert!(text.contains("smoke.c: ok") && text.contains("jitslab heap map"), "{text}");
}
