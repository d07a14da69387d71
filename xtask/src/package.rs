//! `./x package`: Debian packages of jitslab, cut from the install components of both LLVM
//! majors' build trees (`cpp-shim/cmake/Install.cmake`), and the test that installs them
//! (unpacked with `dpkg -x` into a temporary root) and builds and runs three consumers against
//! them: a CMake project, a C program built with pkg-config, a Rust program on llvm-sys.
//!
//! | package              | contents (prefix /usr)                                              |
//! |----------------------|---------------------------------------------------------------------|
//! | libjitslab0          | lib/x86_64-linux-gnu/libjitslab.so.0                                 |
//! | libjitslab-dev       | headers, libjitslab.so, libjitslab.a, CMake package, jitslab.pc, docs |
//! | libjitslab-orc-MAJOR | the shim for LLVM MAJOR, its CMake file and jitslab-orc-MAJOR.pc, the preload |
//! | jitslab-tools-MAJOR  | jitslab-run, jitslab-repl, jitslab-executor for LLVM MAJOR            |
//!
//! Dependencies on Debian's packages (libc6, libllvm22, libclang-cpp22...) come from
//! `dpkg-shlibdeps`; those between jitslab's own packages are exact versions.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{cmake_build_dir, command, root, run, LLVM_MAJORS};

/// Where the packages are written, under the workspace root.
pub const OUT_DIR: &str = "target/package";
/// The Debian revision of every package.
const DEBIAN_REVISION: &str = "1";
const MAINTAINER: &str = "jitslab developers <jitslab@localhost>";

/// One binary package: the install components it takes from a build tree.
struct Package {
    name: String,
    /// The build tree's major and the components installed from it.
    major: u32,
    components: &'static [&'static str],
    section: &'static str,
    summary: String,
    description: &'static str,
    /// jitslab's own packages this one needs, at exactly this version.
    needs: Vec<String>,
    /// Debian packages this one needs besides what dpkg-shlibdeps finds (it misses libllvm22,
    /// whose library dpkg also lists under llvm-22-dev).
    system: Vec<String>,
    recommends: Vec<String>,
    /// A shared library package's shlibs line without its version (library name, SONAME
    /// version, package): it also gets an ldconfig trigger.
    shlibs: Option<String>,
}

fn packages() -> Vec<Package> {
    let newest = LLVM_MAJORS[0];
    let mut list = vec![
        Package {
            name: "libjitslab0".into(),
            major: newest,
            components: &["runtime"],
            section: "libs",
            summary: "slab JIT memory manager for LLVM ORC JITLink (C library)".into(),
            description: "jitslab gives each JIT one reservation of address space, sub-allocated\n\
                          without round trips and shared with an executor process when the code\n\
                          runs in another process. This package holds the C library.",
            needs: vec![],
            system: vec![],
            recommends: vec![],
            shlibs: Some("libjitslab 0 libjitslab0".into()),
        },
        Package {
            name: "libjitslab-dev".into(),
            major: newest,
            components: &["dev", "doc"],
            section: "libdevel",
            summary: "slab JIT memory manager for LLVM ORC JITLink (development files)".into(),
            description: "Headers (jitslab.h and the C++ shim's jitslab/*.h), the static library,\n\
                          the CMake package (find_package(jitslab)), jitslab.pc and the\n\
                          documentation. The shim for an LLVM major is in libjitslab-orc-MAJOR.",
            needs: vec!["libjitslab0".into()],
            system: vec![],
            recommends: vec![],
            shlibs: None,
        },
    ];
    for major in LLVM_MAJORS {
        list.push(Package {
            name: format!("libjitslab-orc-{major}"),
            major,
            components: &["orc"],
            section: "libs",
            summary: format!("jitslab's JITLinkMemoryManager and LLJIT hook for LLVM {major}"),
            description: "The C++ shim that adapts jitslab to llvm::jitlink::JITLinkMemoryManager,\n\
                          with its C entry point and dlopen factory, and its CMake and\n\
                          pkg-config files (the headers are in libjitslab-dev); and\n\
                          libjitslab-preload-MAJOR.so, which puts Debian's own clang-repl and\n\
                          lli on jitslab through LD_PRELOAD.",
            needs: vec!["libjitslab0".into()],
            system: vec![format!("libllvm{major}")],
            recommends: vec!["libjitslab-dev".into(), format!("llvm-{major}-dev")],
            // libjitslab-orc-22.so: library libjitslab-orc, SONAME version 22, as dpkg reads it.
            shlibs: Some(format!("libjitslab-orc {major} libjitslab-orc-{major}")),
        });
        list.push(Package {
            name: format!("jitslab-tools-{major}"),
            major,
            components: &["tools"],
            section: "devel",
            summary: format!("jitslab-run, jitslab-repl and jitslab-executor for LLVM {major}"),
            description: "Link and run objects and archives on jitslab (jitslab-run), a C++ REPL\n\
                          on clang's Interpreter (jitslab-repl), and an executor process with\n\
                          jitslab's shared-memory service (jitslab-executor).",
            needs: vec!["libjitslab0".into(), format!("libjitslab-orc-{major}")],
            system: vec![format!("libllvm{major}")],
            // The ORC runtime (jitslab-run's default) and llvm-jitlink-executor.
            recommends: vec![format!("libclang-rt-{major}-dev"), format!("llvm-{major}")],
            shlibs: None,
        });
    }
    list
}

/// The crate's version (Cargo.toml), which is the packages' upstream version.
fn crate_version() -> Result<String, String> {
    let toml = std::fs::read_to_string(root().join("Cargo.toml")).map_err(|e| format!("Cargo.toml: {e}"))?;
    toml.lines()
        .find_map(|l| l.strip_prefix("version = \"").and_then(|v| v.strip_suffix('"')))
        .map(str::to_string)
        .ok_or_else(|| "no version in Cargo.toml".to_string())
}

/// Builds every package from the build trees (which must be built) into `target/package`;
/// returns the .deb files.
pub fn build() -> Result<Vec<PathBuf>, String> {
    let version = format!("{}-{DEBIAN_REVISION}", crate_version()?);
    let out = root().join(OUT_DIR);
    let stage = out.join("stage");
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&stage).map_err(|e| format!("{}: {e}", stage.display()))?;
    let mut debs = Vec::new();
    let list = packages();
    for p in &list {
        let dir = stage.join(&p.name);
        for component in p.components {
            let tree = root().join(cmake_build_dir(p.major));
            let status = command("cmake", &["--install", &tree.to_string_lossy(), "--component", component])
                .env("DESTDIR", &dir)
                .status()
                .map_err(|e| format!("cmake --install: {e}"))?;
            if !status.success() {
                return Err(format!("cmake --install of component {component} (LLVM {}) failed", p.major));
            }
        }
        strip_debug(&dir)?;
        write_copyright(&dir, &p.name)?;
        let debian = dir.join("DEBIAN");
        std::fs::create_dir_all(&debian).map_err(|e| format!("{}: {e}", debian.display()))?;
        // Each package once: jitslab's own at this exact version, then what dpkg-shlibdeps
        // found (its versions), then the rest.
        let mut depends = p.needs.iter().map(|n| format!("{n} (= {version})")).collect::<Vec<_>>();
        for d in shlib_depends(&dir, &stage)?.into_iter().chain(p.system.iter().cloned()) {
            let name = |d: &str| d.split_whitespace().next().unwrap_or("").to_string();
            if !depends.iter().any(|have| name(have) == name(&d)) {
                depends.push(d);
            }
        }
        let control = control_text(p, &version, &depends, installed_kib(&dir)?);
        write(&debian.join("control"), &control)?;
        if let Some(shlibs) = &p.shlibs {
            write(&debian.join("shlibs"), &format!("{shlibs} (>= {version})\n"))?;
            write(&debian.join("triggers"), "activate-noawait ldconfig\n")?;
        }
        let deb = out.join(format!("{}_{version}_amd64.deb", p.name));
        run("dpkg-deb", &["--root-owner-group", "-Zxz", "--build", &dir.to_string_lossy(), &deb.to_string_lossy()])?;
        debs.push(deb);
    }
    Ok(debs)
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Every regular file under `dir`, recursively.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            match entry.file_type() {
                Ok(t) if t.is_dir() => todo.push(path),
                Ok(t) if t.is_file() => found.push(path),
                _ => {}
            }
        }
    }
    found.sort();
    found
}

fn is_elf(path: &Path) -> bool {
    use std::io::Read;
    let mut magic = [0u8; 4];
    std::fs::File::open(path).and_then(|mut f| f.read_exact(&mut magic)).is_ok() && magic == *b"\x7fELF"
}

/// Debug information out of the packaged binaries and archives (the release builds keep it
/// for profiling; a -dbgsym package is not made).
fn strip_debug(dir: &Path) -> Result<(), String> {
    for f in files(dir) {
        let name = f.to_string_lossy();
        if is_elf(&f) || name.ends_with(".a") {
            run("strip", &["--strip-debug", &name])?;
        }
    }
    Ok(())
}

fn write_copyright(dir: &Path, package: &str) -> Result<(), String> {
    let doc = dir.join("usr/share/doc").join(package);
    std::fs::create_dir_all(&doc).map_err(|e| format!("{}: {e}", doc.display()))?;
    write(
        &doc.join("copyright"),
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\
         Upstream-Name: jitslab\n\n\
         Files: *\n\
         Copyright: the jitslab developers\n\
         License: Apache-2.0 WITH LLVM-exception\n \
         The full text of the Apache License 2.0 is in /usr/share/common-licenses/Apache-2.0;\n \
         the LLVM exception is stated in the LICENSE file of jitslab's sources.\n",
    )
}

/// Dependencies on Debian's packages of the ELF files under `dir`, from dpkg-shlibdeps (which
/// reads Debian's symbols files). jitslab's own libraries, found in the other staged packages,
/// have no such information; their packages are named in `Package::needs`.
fn shlib_depends(dir: &Path, stage: &Path) -> Result<Vec<String>, String> {
    let elves: Vec<String> = files(dir).into_iter().filter(|f| is_elf(f)).map(|f| f.display().to_string()).collect();
    if elves.is_empty() {
        return Ok(Vec::new());
    }
    // dpkg-shlibdeps wants a source tree: debian/control in its working directory.
    let work = stage.join(".shlibdeps");
    std::fs::create_dir_all(work.join("debian")).map_err(|e| format!("{}: {e}", work.display()))?;
    write(&work.join("debian/control"), "Source: jitslab\n\nPackage: jitslab\nArchitecture: amd64\n")?;
    let mut args = vec!["-O".to_string(), "--ignore-missing-info".to_string()];
    for other in files(stage).into_iter().filter(|f| f.to_string_lossy().contains(".so")) {
        if let Some(parent) = other.parent() {
            args.push(format!("-l{}", parent.display()));
        }
    }
    args.dedup();
    args.extend(elves);
    let out = Command::new("dpkg-shlibdeps")
        .args(&args)
        .current_dir(&work)
        .output()
        .map_err(|e| format!("dpkg-shlibdeps (Debian package dpkg-dev): {e}"))?;
    if !out.status.success() {
        return Err(format!("dpkg-shlibdeps failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find_map(|l| l.strip_prefix("shlibs:Depends=")).unwrap_or("");
    Ok(line.split(", ").filter(|d| !d.is_empty()).map(str::to_string).collect())
}

fn installed_kib(dir: &Path) -> Result<u64, String> {
    let mut bytes = 0;
    for f in files(dir) {
        bytes += std::fs::metadata(&f).map_err(|e| format!("{}: {e}", f.display()))?.len();
    }
    Ok(bytes.div_ceil(1024))
}

fn control_text(p: &Package, version: &str, depends: &[String], kib: u64) -> String {
    let mut text = format!(
        "Package: {}\nVersion: {version}\nArchitecture: amd64\nMaintainer: {MAINTAINER}\n\
         Installed-Size: {kib}\nSection: {}\nPriority: optional\n",
        p.name, p.section
    );
    if !depends.is_empty() {
        text.push_str(&format!("Depends: {}\n", depends.join(", ")));
    }
    if !p.recommends.is_empty() {
        text.push_str(&format!("Recommends: {}\n", p.recommends.join(", ")));
    }
    text.push_str(&format!("Description: {}\n", p.summary));
    for line in p.description.lines() {
        text.push_str(&format!(" {}\n", line.trim()));
    }
    text
}

/// Unpacks `debs` into a fresh root (`target/package/root`, as `dpkg -x` would on a machine
/// without them) and builds and runs the consumers against it. Returns the number of checks
/// passed; the first failure is the error.
pub fn test_consumers(debs: &[PathBuf]) -> Result<u64, String> {
    let out = root().join(OUT_DIR);
    let unpacked = out.join("root");
    let _ = std::fs::remove_dir_all(&unpacked);
    for deb in debs {
        run("dpkg", &["-x", &deb.to_string_lossy(), &unpacked.to_string_lossy()])?;
    }
    let prefix = unpacked.join("usr");
    let prefix_s = prefix.display().to_string();
    let mut passed = 0;

    // Nothing installed may name the build tree (run paths, CMake and pkg-config files).
    let target = root().join("target").display().to_string();
    for f in files(&unpacked) {
        let bytes = std::fs::read(&f).map_err(|e| format!("{}: {e}", f.display()))?;
        if bytes.windows(target.len()).any(|w| w == target.as_bytes()) {
            return Err(format!("{} refers to the build tree ({target})", f.display()));
        }
    }
    passed += 1;

    // The tools, from their installed place.
    let workload = root().join(cmake_build_dir(LLVM_MAJORS[0])).join("tests/wl/sqlite_main.o");
    for major in LLVM_MAJORS {
        let tool = prefix.join(format!("bin/jitslab-run-{major}"));
        expect_output(
            command(&tool.to_string_lossy(), &["--stats", &workload.to_string_lossy(), "-lsqlite3", "-lm", "--", "10"]),
            "jitslab heap map",
        )?;
        passed += 1;
    }

    // A CMake project per major (find_package(jitslab) picks that major's shim), then a major
    // with no shim installed, which must fail at configure time naming the installed ones.
    for major in LLVM_MAJORS {
        let build = out.join(format!("consumers/cmake-{major}"));
        let llvm_dir = format!("-DLLVM_DIR={}/lib/cmake/llvm", crate::llvm_prefix(major));
        let cxx = format!("-DCMAKE_CXX_COMPILER={}/bin/clang++", crate::llvm_prefix(major));
        let source = root().join("examples/consumers/cmake-lljit");
        run(
            "cmake",
            &[
                "-S",
                &source.to_string_lossy(),
                "-B",
                &build.to_string_lossy(),
                "-G",
                "Ninja",
                &llvm_dir,
                &cxx,
                &format!("-DCMAKE_PREFIX_PATH={prefix_s}"),
            ],
        )?;
        run("cmake", &["--build", &build.to_string_lossy()])?;
        for exe in ["lljit-on-jitslab", "plugin-host"] {
            expect_output(command(&build.join(exe).to_string_lossy(), &[]), "in jitslab's memory: yes")?;
            passed += 1;
        }
    }
    let missing = out.join("consumers/cmake-missing");
    let configure = command(
        "cmake",
        &[
            "-S",
            &root().join("examples/consumers/cmake-lljit").to_string_lossy(),
            "-B",
            &missing.to_string_lossy(),
            &format!("-DLLVM_DIR={}/lib/cmake/llvm", crate::llvm_prefix(LLVM_MAJORS[0])),
            &format!("-DCMAKE_PREFIX_PATH={prefix_s}"),
            "-DJITSLAB_LLVM_MAJOR=18",
        ],
    )
    .output()
    .map_err(|e| format!("cmake: {e}"))?;
    let said = String::from_utf8_lossy(&configure.stderr).split_whitespace().collect::<Vec<_>>().join(" ");
    let installed = LLVM_MAJORS.map(|m| m.to_string()).join(", ");
    if configure.status.success() || !said.contains(&format!("shims installed for LLVM: {installed}")) {
        return Err(format!("find_package(jitslab) for LLVM 18 should fail naming {installed}; cmake said: {said}"));
    }
    passed += 1;

    // A C program built with pkg-config, against the shared and the static library.
    let pc_path = format!("{prefix_s}/lib/x86_64-linux-gnu/pkgconfig");
    let pkg = |args: &[&str]| -> Result<Vec<String>, String> {
        let o = Command::new("pkg-config")
            .args(args)
            .env("PKG_CONFIG_PATH", &pc_path)
            .output()
            .map_err(|e| format!("pkg-config: {e}"))?;
        if !o.status.success() {
            return Err(format!("pkg-config {args:?}: {}", String::from_utf8_lossy(&o.stderr)));
        }
        Ok(String::from_utf8_lossy(&o.stdout).split_whitespace().map(str::to_string).collect())
    };
    let smoke = root().join("tests/c/smoke.c").display().to_string();
    let libdir = pkg(&["--variable=libdir", "jitslab"])?.join("");
    for linkage in ["shared", "static"] {
        let exe = out.join(format!("consumers/smoke-{linkage}")).display().to_string();
        let mut args =
            vec!["-std=c11".to_string(), "-Wall".into(), "-Werror".into(), "-o".into(), exe.clone(), smoke.clone()];
        args.extend(pkg(&["--cflags", "jitslab"])?);
        if linkage == "shared" {
            args.extend(pkg(&["--libs", "jitslab"])?);
            args.push(format!("-Wl,-rpath,{libdir}"));
        } else {
            args.extend(pkg(&["--libs-only-L", "jitslab"])?);
            args.extend(["-Wl,-Bstatic".into(), "-ljitslab".into(), "-Wl,-Bdynamic".into()]);
            args.extend(pkg(&["--static", "--libs-only-l", "jitslab"])?.into_iter().filter(|l| l != "-ljitslab"));
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run("cc", &args)?;
        expect_output(command(&exe, &[]), "smoke.c: ok")?;
        passed += 1;
    }

    // A Rust program on llvm-sys (LLVM 19's C API) linking the installed shim for 19.
    let manifest = root().join("examples/consumers/rust-llvm-sys/Cargo.toml");
    let mut cargo = command("cargo", &["run", "--quiet", "--locked", "--manifest-path", &manifest.to_string_lossy()]);
    cargo.env("PKG_CONFIG_PATH", &pc_path).env("CARGO_TARGET_DIR", root().join("target/consumers"));
    expect_output(cargo, "in jitslab's memory: yes")?;
    passed += 1;
    Ok(passed)
}

/// Runs `c` and checks that it succeeds and that its stdout or stderr contains `text`.
fn expect_output(mut c: Command, text: &str) -> Result<(), String> {
    let o = c.output().map_err(|e| format!("{c:?}: {e}"))?;
    let all = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    if o.status.success() && all.contains(text) {
        println!("xtask: ok: {}", all.lines().find(|l| l.contains(text)).unwrap_or(text).trim());
        Ok(())
    } else {
        Err(format!("{c:?} ({}) did not print {text:?}:\n{all}", o.status))
    }
}

/// Installs the packages on this machine with apt-get (as a user would: `apt-get install
/// ./jitslab_*.deb`), checks that the tools run from PATH and that a CMake consumer finds the
/// package with no hint, then removes them and checks that none of their files is left.
pub fn check_install(debs: &[PathBuf]) -> Result<(), String> {
    let mut install = vec!["install", "-y"];
    let paths: Vec<String> = debs.iter().map(|d| d.display().to_string()).collect();
    install.extend(paths.iter().map(String::as_str));
    run("apt-get", &install)?;
    let names: Vec<String> =
        debs.iter().filter_map(|d| d.file_name()?.to_str()?.split('_').next().map(str::to_string)).collect();
    let mut listed = Vec::new();
    for n in &names {
        let o = Command::new("dpkg").args(["-L", n]).output().map_err(|e| format!("dpkg -L: {e}"))?;
        listed.extend(String::from_utf8_lossy(&o.stdout).lines().map(PathBuf::from).filter(|p| p.is_file()));
    }
    let result = (|| {
        expect_output(command("jitslab-run", &["--help"]), "jitslab-run")?;
        let build = root().join(OUT_DIR).join("consumers/cmake-system");
        run(
            "cmake",
            &[
                "-S",
                &root().join("examples/consumers/cmake-lljit").to_string_lossy(),
                "-B",
                &build.to_string_lossy(),
                "-G",
                "Ninja",
                &format!("-DLLVM_DIR={}/lib/cmake/llvm", crate::llvm_prefix(LLVM_MAJORS[0])),
            ],
        )?;
        run("cmake", &["--build", &build.to_string_lossy()])?;
        expect_output(command(&build.join("lljit-on-jitslab").to_string_lossy(), &[]), "in jitslab's memory: yes")
    })();
    let mut remove = vec!["remove", "--purge", "-y"];
    remove.extend(names.iter().map(String::as_str));
    run("apt-get", &remove)?;
    result?;
    let left: Vec<_> = listed.iter().filter(|p| p.exists()).collect();
    if !left.is_empty() {
        return Err(format!("files left after apt-get remove --purge: {left:?}"));
    }
    println!("xtask: ok: {} packages installed, used and removed; {} files, none left", names.len(), listed.len());
    Ok(())
}
