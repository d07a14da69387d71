//! The wire messages of LLVM 19's `ExecutorSharedMemoryMapperService`, the shared-memory service
//! that Debian's unmodified `llvm-jitlink-executor` registers (reference notes §2.4, §4.1).
//! Every call's first argument is the service instance's address:
//!
//! | call | arguments | result |
//! |---|---|---|
//! | Reserve | instance, size `u64` | `Expected<(Addr, String name)>` |
//! | Initialize | instance, reservation `Addr`, request | `Expected<Addr key>` |
//! | Deinitialize | instance, keys `[Addr]` | `Error` |
//! | Release | instance, reservations `[Addr]` | `Error` |
//!
//! A request is `([(group u8, Addr, size u64)], [((Addr, bytes), (Addr, bytes))])`: the segments
//! to protect (the group byte is read 1, write 2, exec 4, finalize-lifetime 8) and the
//! allocation actions (finalize call, dealloc call).
//!
//! Decoding returns `Ok(Err(message))` when the executor reported an error and `Err` when the
//! bytes are not a reply of the expected shape.
//!
//! Concurrency: pure functions.

use super::sps::{Reader, SpsError, Writer};
use super::wrapper::{ActionPair, WrapperCall};
use crate::prot::Prot;

/// Bootstrap symbol names, as the executor publishes them.
pub const INSTANCE: &str = "__llvm_orc_ExecutorSharedMemoryMapperService_Instance";
pub const RESERVE: &str = "__llvm_orc_ExecutorSharedMemoryMapperService_Reserve";
pub const INITIALIZE: &str = "__llvm_orc_ExecutorSharedMemoryMapperService_Initialize";
pub const DEINITIALIZE: &str = "__llvm_orc_ExecutorSharedMemoryMapperService_Deinitialize";
pub const RELEASE: &str = "__llvm_orc_ExecutorSharedMemoryMapperService_Release";

/// Bits of the group byte (`SPSRemoteAllocGroup`).
pub const GROUP_READ: u8 = 1;
pub const GROUP_WRITE: u8 = 2;
pub const GROUP_EXEC: u8 = 4;
pub const GROUP_FINALIZE_LIFETIME: u8 = 8;

/// The group byte of a segment with access `access` (the stock service's encoding of a
/// protection; a stock segment is always readable).
pub fn group(access: Prot, finalize_lifetime: bool) -> u8 {
    let mut g = GROUP_READ;
    if access.writable() {
        g |= GROUP_WRITE;
    }
    if access.executable() {
        g |= GROUP_EXEC;
    }
    if finalize_lifetime {
        g |= GROUP_FINALIZE_LIFETIME;
    }
    g
}

/// The service's addresses in one executor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceAddrs {
    pub instance: u64,
    pub reserve: u64,
    pub initialize: u64,
    pub deinitialize: u64,
    pub release: u64,
}

impl ServiceAddrs {
    /// Looks the five symbols up; the error names the first one missing.
    pub fn lookup(find: impl Fn(&str) -> Option<u64>) -> Result<ServiceAddrs, String> {
        let get = |name: &str| {
            find(name).ok_or_else(|| {
                format!(
                    "the executor does not offer LLVM's shared-memory mapper service (bootstrap \
                     symbol {name} is missing); use llvm-jitlink-executor from LLVM 19"
                )
            })
        };
        Ok(ServiceAddrs {
            instance: get(INSTANCE)?,
            reserve: get(RESERVE)?,
            initialize: get(INITIALIZE)?,
            deinitialize: get(DEINITIALIZE)?,
            release: get(RELEASE)?,
        })
    }
}

/// One segment of an `Initialize` request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegFinalize {
    pub group: u8,
    pub addr: u64,
    pub size: u64,
}

pub fn reserve_args(instance: u64, size: u64) -> Vec<u8> {
    Writer::new().u64(instance).u64(size).finish()
}

/// `(reservation address, shared-memory object name)`.
pub fn reserve_result(bytes: &[u8]) -> Result<Result<(u64, String), String>, SpsError> {
    let mut r = Reader::new(bytes);
    let v = r.expected("Reserve result", |r| Ok((r.u64("reservation address")?, r.string("shared memory name")?)))?;
    r.finish("Reserve result")?;
    Ok(v)
}

fn wrapper_call(w: &mut Writer, c: &WrapperCall) {
    w.u64(c.fn_addr).bytes(&c.args);
}

pub fn initialize_args(instance: u64, reservation: u64, segs: &[SegFinalize], actions: &[ActionPair]) -> Vec<u8> {
    let mut w = Writer::new();
    w.u64(instance).u64(reservation).count(segs.len());
    for s in segs {
        w.u8(s.group).u64(s.addr).u64(s.size);
    }
    w.count(actions.len());
    for a in actions {
        wrapper_call(&mut w, &a.finalize);
        wrapper_call(&mut w, &a.dealloc);
    }
    w.finish()
}

/// The allocation's key, for `Deinitialize`.
pub fn initialize_result(bytes: &[u8]) -> Result<Result<u64, String>, SpsError> {
    let mut r = Reader::new(bytes);
    let v = r.expected("Initialize result", |r| r.u64("allocation key"))?;
    r.finish("Initialize result")?;
    Ok(v)
}

/// Arguments of `Deinitialize` (keys) and `Release` (reservations).
pub fn addrs_args(instance: u64, addrs: &[u64]) -> Vec<u8> {
    let mut w = Writer::new();
    w.u64(instance).count(addrs.len());
    for &a in addrs {
        w.u64(a);
    }
    w.finish()
}

/// The result of `Deinitialize` and `Release`: `Ok(Ok(()))` or the executor's message.
pub fn error_result(bytes: &[u8]) -> Result<Result<(), String>, SpsError> {
    Ok(crate::protocol::sps::decode_error(bytes)?.map_or(Ok(()), Err))
}

#[cfg(test)]
mod tests {
    use super::*;

    const INST: u64 = 0x1122_3344_5566_7788;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    #[test]
    fn group_bytes_encode_the_pools_protections() {
        assert_eq!(group(Prot::RX, false), GROUP_READ | GROUP_EXEC);
        assert_eq!(group(Prot::R, false), GROUP_READ);
        assert_eq!(group(Prot::RW, true), GROUP_READ | GROUP_WRITE | GROUP_FINALIZE_LIFETIME);
    }

    // Golden bytes: dumps made by LLVM 19's own serializers (reference notes §5.3).

    #[test]
    fn reserve_matches_llvm_golden_bytes() {
        assert_eq!(reserve_args(INST, 0x10000), hex("8877665544332211 0000010000000000"));
        let ok = hex("01 00000000007f0000 0d00000000000000 2f6a69746c696e6b5f34325f31");
        assert_eq!(reserve_result(&ok), Ok(Ok((0x7f00_0000_0000, "/jitlink_42_1".to_string()))));
        let err = hex("00 0300000000000000 626164");
        assert_eq!(reserve_result(&err), Ok(Err("bad".to_string())));
    }

    #[test]
    fn initialize_matches_llvm_golden_bytes() {
        let segs = [
            SegFinalize { group: GROUP_READ | GROUP_EXEC, addr: 0x7f00_0000_0000, size: 0x1000 },
            SegFinalize {
                group: GROUP_READ | GROUP_WRITE | GROUP_FINALIZE_LIFETIME,
                addr: 0x7f00_0000_1000,
                size: 0x1000,
            },
        ];
        let actions = [ActionPair {
            finalize: WrapperCall { fn_addr: 0xaaaa, args: b"xy".to_vec() },
            dealloc: WrapperCall { fn_addr: 0, args: Vec::new() },
        }];
        let golden = hex("8877665544332211 00000000007f0000 0200000000000000 05 00000000007f0000 0010000000000000
             0b 00100000007f0000 0010000000000000 0100000000000000 aaaa000000000000 0200000000000000 7879
             0000000000000000 0000000000000000");
        assert_eq!(golden.len(), 100);
        assert_eq!(initialize_args(INST, 0x7f00_0000_0000, &segs, &actions), golden);
        // The reference notes print this reply with one 00 too many (10 bytes for a 9-byte
        // value); 0x7f0000001000 is the 8 bytes 00100000007f0000, as in the request above.
        assert_eq!(initialize_result(&hex("01 00100000007f0000")), Ok(Ok(0x7f00_0000_1000)));
        assert_eq!(initialize_result(&hex("00 0300000000000000 626164")), Ok(Err("bad".into())));
    }

    #[test]
    fn deinitialize_and_release_match_llvm_golden_bytes() {
        let golden = hex("8877665544332211 0100000000000000 00000000007f0000");
        assert_eq!(addrs_args(INST, &[0x7f00_0000_0000]), golden);
        assert_eq!(error_result(&[0]), Ok(Ok(())));
        assert_eq!(error_result(&hex("01 0400000000000000 6f6f7073")), Ok(Err("oops".into())));
    }

    #[test]
    fn bad_replies_are_errors_not_panics() {
        // Empty (what ORC delivers for an out-of-band error), truncated, trailing bytes, a bad
        // flag byte, and a name length beyond the buffer.
        for bad in [hex(""), hex("01 0010"), hex("01 00100000007f0000 00"), hex("02 00100000007f0000")] {
            assert!(initialize_result(&bad).is_err(), "{bad:x?}");
        }
        assert!(reserve_result(&hex("01 00000000007f0000 ffffffffffffffff 2f")).is_err());
        assert!(reserve_result(&hex("01 00000000007f0000")).is_err());
        assert!(error_result(&[]).is_err());
        assert!(error_result(&[0, 0]).is_err());
    }

    #[test]
    fn lookup_names_the_missing_symbol() {
        let e = ServiceAddrs::lookup(|n| (n != RELEASE).then_some(1)).unwrap_err();
        assert!(e.contains(RELEASE), "{e}");
        let a = ServiceAddrs::lookup(|n| Some(n.len() as u64)).unwrap();
        assert_eq!(a.instance, INSTANCE.len() as u64);
    }
}
