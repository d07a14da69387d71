//! The one protection type of jitslab: read, write and execute bits, numbered as LLVM's
//! `orc::MemProt` (read 1, write 2, exec 4). Every layer speaks [`Prot`]; the other encodings
//! exist only at the edges, each converted in one place:
//! - the C ABI's `JITSLAB_PROT_*` constants (`ffi/types.rs`, checked against these bits);
//! - the stock protocol's group byte (`protocol/stock.rs`, `group`);
//! - the native protocol's access byte (`protocol/native.rs`, `access_byte`/`access_from_byte`);
//! - the kernel's `PROT_*` bits (`sys.rs`).
//!
//! Concurrency: plain data.

use std::fmt;

/// Memory protection: a set of LLVM `MemProt` bits. As a request it may hold any bits (the
/// manager refuses unknown bits and W^X violations); the constants name the protections memory
/// actually gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Prot(pub u8);

impl Prot {
    pub const READ: u8 = 1;
    pub const WRITE: u8 = 2;
    pub const EXEC: u8 = 4;

    /// No access.
    pub const NONE: Prot = Prot(0);
    /// `r--`
    pub const R: Prot = Prot(Prot::READ);
    /// `rw-`
    pub const RW: Prot = Prot(Prot::READ | Prot::WRITE);
    /// `r-x`
    pub const RX: Prot = Prot(Prot::READ | Prot::EXEC);

    pub fn readable(self) -> bool {
        self.0 & Prot::READ != 0
    }

    pub fn writable(self) -> bool {
        self.0 & Prot::WRITE != 0
    }

    pub fn executable(self) -> bool {
        self.0 & Prot::EXEC != 0
    }
}

/// As `ls` and `/proc/PID/maps` write it: `r-x`.
impl fmt::Display for Prot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = |on: bool, ch: char| if on { ch } else { '-' };
        write!(f, "{}{}{}", c(self.readable(), 'r'), c(self.writable(), 'w'), c(self.executable(), 'x'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protections_print_as_the_kernel_lists_them() {
        let shown: Vec<String> = [Prot::NONE, Prot::R, Prot::RW, Prot::RX].iter().map(Prot::to_string).collect();
        assert_eq!(shown, ["---", "r--", "rw-", "r-x"]);
        assert!(Prot::RX.executable() && !Prot::RX.writable() && Prot::RX.readable());
    }
}
