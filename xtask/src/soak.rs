//! `./x soak [--llvm=N] [--ops N] [--trials N] [--seed S] [--protocol=native|stock]`: the long
//! randomized runs that the test suite only samples.
//!
//! 1. The slab against its byte model, `--ops` random allocations and frees (10^6 by default)
//!    for each granule and allowance of kept pages, the invariant checker after every mutation
//!    (the debug build's `slab::tests::soak_randomized_operations`).
//! 2. Either side of an out-of-process link and run of sqlite killed at `--trials` random
//!    moments (1000 by default), jitslab-run with jitslab-executor and the native protocol
//!    (`--protocol=stock`: jitslab's stock protocol): no hang, a clear error, nothing left in
//!    /dev/shm (`cpp-shim/tests/kill_trials.sh`, which ctest runs 50 times).
//!
//! Both take their moments from one seed (`--seed`, else the clock), printed so that a failure
//! replays.

use crate::{cargo_test, cmake_build, cmake_build_dir, run_echoing, take_llvm_major};

struct Options {
    major: u32,
    ops: u64,
    trials: u64,
    seed: u64,
    protocol: String,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let (major, rest) = take_llvm_major(args)?;
    let clock = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_secs());
    let mut o = Options { major, ops: 1_000_000, trials: 1000, seed: clock, protocol: "native".to_string() };
    let mut it = rest.iter();
    while let Some(a) = it.next() {
        let (name, inline) = match a.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (a.as_str(), None),
        };
        let mut value = || inline.clone().or_else(|| it.next().cloned()).ok_or(format!("soak: {name} needs a value"));
        let number = |v: String| v.parse::<u64>().map_err(|_| format!("soak: {name}={v}: expected a number"));
        match name {
            "--ops" => o.ops = number(value()?)?,
            "--trials" => o.trials = number(value()?)?,
            "--seed" => o.seed = number(value()?)?,
            "--protocol" => {
                o.protocol = value()?;
                if o.protocol != "native" && o.protocol != "stock" {
                    return Err(format!("soak: --protocol={}: expected native or stock", o.protocol));
                }
            }
            _ => return Err(format!("soak: unexpected argument {a}")),
        }
    }
    Ok(o)
}

pub fn soak(args: &[String]) -> Result<(), String> {
    let o = parse(args)?;
    eprintln!(
        "xtask: soak with seed {} (replay with --seed {}): {} slab operations per configuration, {} kill trials",
        o.seed, o.seed, o.ops, o.trials
    );
    if o.ops > 0 {
        let ops = o.ops.to_string();
        let seed = o.seed.to_string();
        std::env::set_var("JITSLAB_SOAK_OPS", &ops);
        std::env::set_var("JITSLAB_SEED", &seed);
        cargo_test(&[
            "test",
            "--locked",
            "--lib",
            "slab::tests::soak_randomized_operations",
            "--",
            "--ignored",
            "--exact",
            "--nocapture",
        ])?;
    }
    if o.trials > 0 {
        cmake_build(o.major, None)?;
        let dir = crate::root().join(cmake_build_dir(o.major));
        let path = |p: &str| dir.join(p).display().to_string();
        let script = crate::root().join("cpp-shim/tests/kill_trials.sh").display().to_string();
        let (seed, trials) = (o.seed.to_string(), o.trials.to_string());
        let (native, run_tool, executor) =
            (path("tests/wl/sqlite_native"), path("jitslab-run"), format!("--executor={}", path("jitslab-executor")));
        let (protocol, object) = (format!("--protocol={}", o.protocol), path("tests/wl/sqlite_main.o"));
        let mut a: Vec<&str> = Vec::new();
        if o.protocol == "stock" {
            a.push("--stock-names");
        }
        a.extend([&seed, &trials, &native, &run_tool, &executor, &protocol, &object, "-lsqlite3", "-lm"]);
        let began = std::time::Instant::now();
        let status = run_echoing(&script, &a, |_| {})?;
        if !status.success() {
            return Err(format!("the kill trials failed ({status}); replay with --seed {}", o.seed));
        }
        println!("xtask: {} kill trials in {:.0} s", o.trials, began.elapsed().as_secs_f64());
    }
    Ok(())
}
