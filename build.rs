//! Generates the C header from `src/ffi/` with cbindgen (pinned in Cargo.toml) into
//! `$OUT_DIR/jitslab.h`; `./x header` copies it to `include/jitslab.h`, and `./x test` fails when
//! the checked-in copy differs. Release builds also get the shared library's SONAME.

use std::path::Path;

/// The shared library's SONAME; keep it equal to `JITSLAB_SONAME` in `cpp-shim/cmake/Install.cmake`.
const SONAME: &str = "libjitslab.so.0";

fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let dir = Path::new(&dir);
    let out_dir = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    // An installed shared library is found by its SONAME, which changes only when the ABI
    // breaks (`cpp-shim/cmake/Install.cmake` installs libjitslab.so.0 and the link). Release
    // builds only: `cargo test` links its debug copy by file name, with no .so.0 beside it.
    if std::env::var("PROFILE").as_deref() == Ok("release") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,{SONAME}");
    }
    println!("cargo:rerun-if-changed=cbindgen.toml");
    let config = cbindgen::Config::from_file(dir.join("cbindgen.toml")).expect("cbindgen.toml parses");
    // cbindgen follows the `mod` items of src/ffi/mod.rs to the other files of the directory.
    println!("cargo:rerun-if-changed=src/ffi");
    let header = match cbindgen::Builder::new().with_config(config).with_src(dir.join("src/ffi/mod.rs")).generate() {
        Ok(h) => h,
        Err(e) => panic!("cbindgen could not generate jitslab.h: {e}"),
    };
    let mut text = Vec::new();
    header.write(&mut text);
    let text = String::from_utf8(text).expect("cbindgen writes UTF-8");
    let path = Path::new(&out_dir).join("jitslab.h");
    if std::fs::read_to_string(&path).ok().as_deref() != Some(c_comments(&text).as_str()) {
        std::fs::write(&path, c_comments(&text)).expect("OUT_DIR is writable");
    }
}

/// The doc comments are written for rustdoc; in the header they read as plain C comments:
/// no code spans in backticks, and a `# Safety` heading becomes a "Safety:" line.
fn c_comments(header: &str) -> String {
    let mut out = String::with_capacity(header.len());
    for line in header.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("/*") || trimmed.starts_with('*') {
            out.push_str(&line.replace("# Safety", "Safety:").replace('`', ""));
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}
