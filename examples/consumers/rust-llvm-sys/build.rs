//! Links the installed jitslab ORC shim for LLVM 19, found with pkg-config, and records its
//! directory as the program's run path (an installed prefix need not be on the loader's path).

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");
    let out = Command::new("pkg-config")
        .args(["--libs-only-L", "jitslab-orc-19"])
        .output()
        .expect("pkg-config runs (Debian package pkg-config)");
    if !out.status.success() {
        panic!(
            "pkg-config finds no jitslab-orc-19 (set PKG_CONFIG_PATH to the installed prefix's \
             lib/x86_64-linux-gnu/pkgconfig): {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    for dir in String::from_utf8_lossy(&out.stdout).split_whitespace().filter_map(|f| f.strip_prefix("-L")) {
        println!("cargo:rustc-link-search=native={dir}");
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
    println!("cargo:rustc-link-lib=dylib=jitslab-orc-19");
}
