//! Generates `include/jitslab.h` from `src/ffi.rs` with cbindgen (pinned in Cargo.toml). The
//! file is written only when its text changes, so builds stay incremental; CI checks that the
//! checked-in copy equals a fresh one.

use std::path::Path;

/// The shared library's SONAME; keep it equal to `JITSLAB_SONAME` in `cpp-shim/cmake/Install.cmake`.
const SONAME: &str = "libjitslab.so.0";

fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let dir = Path::new(&dir);
    // An installed shared library is found by its SONAME, which changes only when the ABI
    // breaks (`cpp-shim/cmake/Install.cmake` installs libjitslab.so.0 and the link). Release
    // builds only: `cargo test` links its debug copy by file name, with no .so.0 beside it.
    if std::env::var("PROFILE").as_deref() == Ok("release") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,{SONAME}");
    }
    println!("cargo:rerun-if-changed=src/ffi.rs");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    // Also when someone edits or commits a stale header: it is rewritten from the sources.
    println!("cargo:rerun-if-changed=include/jitslab.h");
    let config = cbindgen::Config::from_file(dir.join("cbindgen.toml")).expect("cbindgen.toml parses");
    let header = match cbindgen::Builder::new().with_config(config).with_src(dir.join("src/ffi.rs")).generate() {
        Ok(h) => h,
        Err(e) => panic!("cbindgen could not generate include/jitslab.h: {e}"),
    };
    let mut text = Vec::new();
    header.write(&mut text);
    let path = dir.join("include/jitslab.h");
    if std::fs::read(&path).ok().as_deref() != Some(&text[..]) {
        std::fs::write(&path, &text).expect("include/jitslab.h is writable");
    }
}
