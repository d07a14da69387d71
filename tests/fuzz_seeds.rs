//! The seed corpora of the fuzz targets (`fuzz/seeds/<target>/`, docs/fuzzing.md): real
//! messages from jitslab's own encoders, and short programs for the targets that read their
//! input as a sequence of operations. This test fails when a checked-in seed differs from what
//! the encoders produce now; `JITSLAB_WRITE_SEEDS=1 cargo test --test fuzz_seeds` rewrites
//! them. Seeds named `regress-*` are inputs that once crashed a target; they are kept as they
//! are and only checked to exist.

use std::path::PathBuf;

use jitslab::testing::internals::native::{self, Allocation, Extent, SetupArgs, SetupReply, Sharing};
use jitslab::testing::internals::sps::{self, Writer};
use jitslab::testing::internals::wrapper::{ActionPair, WrapperCall};
use jitslab::testing::internals::Prot;

fn call(fn_addr: u64, args: &str) -> WrapperCall {
    WrapperCall { fn_addr, args: args.as_bytes().to_vec() }
}

fn seeds() -> Vec<(&'static str, &'static str, Vec<u8>)> {
    let page = 4096;
    let extent = |offset, len, access| Extent { offset, len, access };
    let alloc = Allocation {
        key: 7,
        segments: vec![extent(0, 0x100, Prot::RX), extent(page, 0x40, Prot::R)],
        actions: vec![ActionPair { finalize: call(0x1000, "register"), dealloc: call(0x2000, "deregister") }],
    };
    let reply = SetupReply { handle: 1, base: 0x7f00_0000_0000, pid: 4242, fd: 5, name: String::new() };
    let named = SetupReply { name: "/jitslab-4242-0123456789abcdef0123456789abcdef".into(), fd: -1, ..reply.clone() };
    let mut hello = Vec::new();
    for field in [64u64, u64::from(u32::from_le_bytes(*b"jslb")), 0, 1] {
        hello.extend_from_slice(&field.to_le_bytes());
    }
    hello.extend_from_slice(&[0x5a; 32]);
    vec![
        // sps: every reply the linker decodes.
        ("sps", "error-ok", sps::encode_error(None)),
        ("sps", "error-message", sps::encode_error(Some("finalize action failed: boom"))),
        ("sps", "setup-reply-memfd", native::setup_reply(&Ok(reply))),
        ("sps", "setup-reply-named", native::setup_reply(&Ok(named))),
        ("sps", "setup-reply-error", native::setup_reply(&Err("version mismatch".into()))),
        ("sps", "finalize-reply", native::finalize_reply(&Ok(vec![Ok(()), Err("refused".into())]))),
        ("sps", "finalize-reply-refused", native::finalize_reply(&Err("overlap".into()))),
        ("sps", "stock-reserve", Writer::new().bool(true).u64(0x7f00_0000_0000).bytes(b"/jitslab-shm").finish()),
        ("sps", "stock-initialize", Writer::new().bool(true).u64(0x7f00_0000_1000).finish()),
        // native: the four requests (finalize with protect extents only, with allocations only,
        // and with both), and the executor's hello frame.
        ("native", "setup", native::setup_args(&SetupArgs { version: 1, span: 1 << 20, sharing: Sharing::Memfd })),
        (
            "native",
            "setup-named",
            native::setup_args(&SetupArgs { version: 1, span: 16 * page, sharing: Sharing::Named }),
        ),
        (
            "native",
            "finalize-protect",
            native::finalize_args(1, &[extent(0, page, Prot::RX), extent(page, 2 * page, Prot::RW)], &[]),
        ),
        ("native", "finalize", native::finalize_args(1, &[], &[alloc.clone(), Allocation { key: 8, ..alloc.clone() }])),
        (
            "native",
            "finalize-both",
            native::finalize_args(1, &[extent(0, page, Prot::RX)], &[Allocation { key: 9, ..alloc }]),
        ),
        ("native", "deallocate", native::deallocate_args(1, &[7, 8])),
        ("native", "teardown", native::teardown_args(1)),
        ("native", "auth-hello", hello),
        // executor: programs (see fuzz_targets/executor.rs): setup two pages; make the first
        // r-- (a finalize with one protect extent and no allocation); finalize key 1 (16 bytes r--, one recorded action pair); deallocate it;
        // tear down. The second also sets up a named region, fails an action, sends raw bytes.
        (
            "executor",
            "lifecycle",
            vec![
                0x00, 0x0c, 0x00, 0x01, 0x02, 0x01, 0x03, 0x0b, 0x01, 0x02, 0x02, 0x01, 0x01, 0x01, 0x00, 0x08, 0x01,
                0x01, 0x02, 0x02, 0x03, 0x02, 0x01, 0x01, 0x04, 0x02,
            ],
        ),
        (
            "executor",
            "named-failing-action",
            vec![
                0x80, 0x0c, 0x00, 0x01, 0x02, 0x01, 0x03, 0x0b, 0x01, 0x02, 0x02, 0x01, 0x01, 0x01, 0x00, 0x08, 0x01,
                0x01, 0x01, 0x02, 0x05, 0x03, 0x09, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0x04, 0x02,
            ],
        ),
        // slab: allocate in two pools, free, undo, a bad free, a huge request.
        (
            "slab",
            "mixed",
            vec![
                0x05, 0x01, 0x00, 0x08, 0x04, 0x08, 0x0c, 0x0c, 0x04, 0x00, 0x06, 0x10, 0x07, 0x00, 0x00, 0x10, 0x07,
                0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0x00,
            ],
        ),
        // c_abi: a manager; three segments; finalize with one action; stats; deallocate; free.
        (
            "c_abi",
            "lifecycle",
            vec![
                0x00, 0x02, 0x00, 0x00, 0x02, 0x03, 0x12, 0x02, 0x10, 0x04, 0x01, 0x20, 0x03, 0x00, 0x05, 0x00, 0x04,
                0x03, 0x02, 0x25, 0x07, 0x03, 0x00, 0x06, 0x03, 0x01, 0x02, 0x01, 0x03,
            ],
        ),
    ]
}

#[test]
fn seed_corpora_are_what_the_encoders_produce() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds");
    let write = std::env::var_os("JITSLAB_WRITE_SEEDS").is_some();
    let mut stale = Vec::new();
    for (target, name, bytes) in seeds() {
        let path = root.join(target).join(name);
        if write {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &bytes).unwrap();
        } else if std::fs::read(&path).ok().as_ref() != Some(&bytes) {
            stale.push(path.display().to_string());
        }
    }
    assert!(stale.is_empty(), "stale seeds (rewrite with JITSLAB_WRITE_SEEDS=1): {stale:?}");
    for target in ["sps", "native", "executor", "slab", "c_abi"] {
        assert!(root.join(target).read_dir().is_ok_and(|mut d| d.next().is_some()), "no seeds for {target}");
    }
}
